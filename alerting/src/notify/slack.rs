//! Slack incoming webhook: `text` (the notification and fallback) and `blocks`, mentioning the paged
//! people by member id and carrying the acknowledge link as a button. Slack answers 200 `ok`.

use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::{Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// The `[oncall.people.NAME]` key holding a person's Slack member id (`U024BE7LH`), mentioned in messages.
const CONTACT: &str = "slack";

/// `type = "slack"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The incoming webhook URL (it is the credential). Use `${ENV_VAR}` or `webhook_url_file`.
    webhook_url: Option<Secret>,
    webhook_url_file: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        // The whole URL is the secret (its path is the token).
        let hook = super::secret_url(t, "webhook_url", self.webhook_url, self.webhook_url_file)?;
        Some(Arc::new(Settings { webhook_url: hook }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub webhook_url: Secret,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn contact(&self) -> Option<&'static str> {
        Some(CONTACT)
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Slack::new(http.clone(), self.webhook_url.clone())))
    }
}

pub struct Slack {
    http: reqwest::Client,
    url: Secret,
}

impl Slack {
    pub fn new(http: reqwest::Client, url: Secret) -> Self {
        Slack { http, url }
    }
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; nothing else.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn body(e: &AlertEvent) -> Value {
    let mentions: Vec<String> =
        e.people.iter().map(|p| p.contact(CONTACT).map_or_else(|| esc(&p.name), |id| format!("<@{}>", esc(id)))).collect();
    let line = match e.action {
        Action::Trigger => format!("Paging {}", mentions.join(", ")),
        Action::Escalate => format!("Nobody acknowledged: escalating to {}", mentions.join(", ")),
        Action::Acknowledge => format!("Acknowledged by {}", esc(e.acked_by.as_deref().unwrap_or("someone"))),
        Action::Resolve if e.note.is_empty() => "Resolved: the checks pass again".into(),
        Action::Resolve => format!("Resolved: {}", esc(&e.note)),
        Action::Update => format!("Update: {}", esc(&e.note)),
    };
    let text = format!("{}\n{line}", esc(&e.headline()));
    let mut blocks = vec![
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("*{}*\n{line}", esc(&e.headline())) } }),
        json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("rule `{}` · {} · severity {}", esc(&e.rule), esc(&e.condition), esc(&e.severity)) }] }),
    ];
    if !e.alerts.is_empty() {
        let list = crate::event::truncate(&esc(&crate::group::listed(&e.alerts).join("\n")), 2900);
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": list } }));
    }
    let mut buttons = Vec::new();
    if let Some(link) = e.ack_link("slack") {
        buttons.push(json!({ "type": "button", "text": { "type": "plain_text", "text": "Acknowledge" }, "url": link, "style": "danger" }));
    }
    if let Some(page) = &e.page_url {
        buttons.push(json!({ "type": "button", "text": { "type": "plain_text", "text": "Status page" }, "url": page }));
    }
    if !buttons.is_empty() && matches!(e.action, Action::Trigger | Action::Escalate | Action::Update) {
        blocks.push(json!({ "type": "actions", "elements": buttons }));
    }
    json!({ "text": text, "blocks": blocks })
}

#[async_trait::async_trait]
impl Notifier for Slack {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(self.url.expose()).json(&body(e))).await
    }
}
