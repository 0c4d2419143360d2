//! What the outbox carries: one alert event per notifier and action, stored as JSON before any delivery.
//! Provider payloads are built from it when it is sent (pure functions in each notifier's file), so a
//! retry or a resend after a crash sends the same content, and no credential is ever stored with it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use watchpost_core::time::Nanos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The alert fired: the first escalation level is paged.
    Trigger,
    /// Nobody acknowledged in time: a further level is paged.
    Escalate,
    Acknowledge,
    Resolve,
    /// A group's alerts changed (some added, some resolved), or it is still firing unacknowledged after its
    /// route's `repeat_interval`: the channels that show messages are told again.
    Update,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Escalate => "escalate",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Update => "update",
        }
    }
}

/// Someone paged, with the contacts the notifiers use (`[oncall.people.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paged {
    pub name: String,
    /// Contact key → address, flattened so that the stored event reads `{"name": …, "email": …, "slack": …}`
    /// (the shape events queued by earlier versions have).
    #[serde(flatten)]
    pub contacts: BTreeMap<String, String>,
}

impl Paged {
    /// The address a notifier reaches this person by, if given.
    pub fn contact(&self, key: &str) -> Option<&str> {
        self.contacts.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub action: Action,
    /// `rule/endpoint/environment`: PagerDuty's `dedup_key`, OpsGenie's `alias`.
    pub key: String,
    /// Which firing of the alert this belongs to.
    pub episode: i64,
    pub rule: String,
    pub endpoint: String,
    pub endpoint_name: String,
    pub environment: String,
    /// Empty when the endpoint belongs to no component.
    pub component: String,
    /// `critical`, `error`, `warning`, `info`.
    pub severity: String,
    /// `api is down (availability 0 % < 100 %) in eu, us`.
    pub summary: String,
    /// `availability < 100 %`.
    pub condition: String,
    pub value: f64,
    /// When this event happened, and when the alert fired.
    pub at: Nanos,
    pub fired_at: Nanos,
    /// The escalation level paged by this event (0 is the first); resolve and acknowledge carry the last.
    pub level: i64,
    /// Trigger and escalate: the people this level pages. Resolve: everyone paged in the episode.
    pub people: Vec<Paged>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_by: Option<String>,
    /// Why it resolved, when not because the checks pass again.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The status page, for links back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    /// Signed acknowledge links by channel (`email`, `slack`), when `alerting.secret` is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ack_links: Vec<(String, String)>,
    /// The alert's labels (a group's: its group labels).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// A group's notification: its alerts, firing ones first, then those resolved since the last one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<GroupedAlert>,
    /// The notifier's own `message` template, rendered when the delivery was enqueued: the text under the
    /// title instead of the default lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One alert of a group's notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupedAlert {
    pub key: String,
    pub summary: String,
    /// `firing`, `new` (firing, not in the last notification) or `resolved` (since the last one).
    pub state: String,
}

impl AlertEvent {
    pub fn ack_link(&self, channel: &str) -> Option<&str> {
        self.ack_links.iter().find(|(c, _)| c == channel).map(|(_, l)| l.as_str())
    }

    /// One line, for chat messages and subjects: `[FIRING] api is down …`.
    pub fn headline(&self) -> String {
        let tag = match self.action {
            Action::Trigger => "FIRING",
            Action::Escalate => "ESCALATED",
            Action::Acknowledge => "ACKNOWLEDGED",
            Action::Resolve => "RESOLVED",
            Action::Update => "UPDATED",
        };
        format!("[{tag}] {}", self.summary)
    }
}

/// Cuts `s` to at most `max` characters (not bytes), marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
