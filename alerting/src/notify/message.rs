//! The text the chat and push notifiers send, one default for all of them: what fired, where, how bad,
//! since when, and the links to acknowledge and to the status page. Pure.

use super::rfc3339;
use crate::event::{truncate, Action, AlertEvent};

/// The longest title: what every channel shows whole (Discord's embed title takes 256).
const TITLE_MAX: usize = 250;

/// One alert event as a message: a title line and the lines under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `[FIRING] api is down (availability 0 % < 100 %) in eu`.
    pub title: String,
    /// What happened now (who is paged, who acknowledged, why it resolved), then the details.
    pub lines: Vec<String>,
    /// The signed acknowledge link for this channel (trigger and escalate only).
    pub ack_url: Option<String>,
    pub page_url: Option<String>,
}

impl Message {
    /// The message for `e` as channel `kind` shows it (its own acknowledge link).
    pub fn of(e: &AlertEvent, kind: &str) -> Message {
        let people: Vec<&str> = e.people.iter().map(|p| p.name.as_str()).collect();
        let now = match e.action {
            Action::Trigger if people.is_empty() => "Firing".to_string(),
            Action::Trigger => format!("Paging {}", people.join(", ")),
            Action::Escalate => format!("Nobody acknowledged: escalating to {}", people.join(", ")),
            Action::Acknowledge => format!("Acknowledged by {}", e.acked_by.as_deref().unwrap_or("someone")),
            Action::Resolve if e.note.is_empty() => "Resolved: the checks pass again".into(),
            Action::Resolve => format!("Resolved: {}", e.note),
            Action::Update => format!("Update: {}", e.note),
        };
        let mut lines = vec![now];
        if matches!(e.action, Action::Trigger | Action::Escalate) && !e.note.is_empty() {
            lines.push(format!("({})", e.note));
        }
        let mut place = if e.environment.is_empty() { e.endpoint_name.clone() } else { format!("{} ({})", e.endpoint_name, e.environment) };
        if !e.component.is_empty() {
            place.push_str(&format!(", component {}", e.component));
        }
        lines.push(place);
        lines.push(format!("rule {}: {} · severity {}", e.rule, e.condition, e.severity));
        lines.push(format!("since {}", rfc3339(e.fired_at)));
        lines.extend(crate::group::listed(&e.alerts));
        if let Some(own) = &e.message {
            lines = own.lines().map(str::to_string).collect();
        }
        let firing = matches!(e.action, Action::Trigger | Action::Escalate | Action::Update);
        Message {
            title: truncate(&e.headline(), TITLE_MAX),
            lines,
            ack_url: e.ack_link(kind).filter(|_| firing).map(str::to_string),
            page_url: e.page_url.clone(),
        }
    }

    /// Plain text: the title, the lines, then the links written out.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.title, self.body())
    }

    /// The text without its title (for channels that show the title apart).
    pub fn body(&self) -> String {
        let mut out = self.lines.clone();
        if let Some(a) = &self.ack_url {
            out.push(format!("Acknowledge: {a}"));
        }
        if let Some(p) = &self.page_url {
            out.push(format!("Status page: {p}"));
        }
        out.join("\n")
    }
}
