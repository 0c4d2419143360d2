//! Microsoft Teams: a Workflows (Power Automate) webhook, the successor of the retired Office 365
//! connectors, posting one Adaptive Card to a channel: the title coloured by what happened, the details,
//! and Acknowledge and Status page buttons. The flow answers 202.

use super::message::Message;
use super::{post, secret_url, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "teams"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The workflow's HTTP trigger URL (its `sig` parameter is the credential). Use `${ENV_VAR}` or
    /// `webhook_url_file`.
    webhook_url: Option<Secret>,
    webhook_url_file: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let hook = secret_url(t, "webhook_url", self.webhook_url, self.webhook_url_file)?;
        Some(Arc::new(Settings { webhook_url: hook }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub webhook_url: Secret,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "teams"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Teams { http: http.clone(), url: self.webhook_url.clone() }))
    }
}

pub struct Teams {
    http: reqwest::Client,
    url: Secret,
}

pub fn body(e: &AlertEvent) -> Value {
    let m = Message::of(e, "teams");
    let colour = match e.action {
        Action::Trigger | Action::Escalate | Action::Update => "Attention",
        Action::Acknowledge => "Warning",
        Action::Resolve => "Good",
    };
    let mut blocks =
        vec![json!({ "type": "TextBlock", "text": m.title, "weight": "Bolder", "size": "Medium", "color": colour, "wrap": true })];
    // An Adaptive Card's TextBlock reads Markdown; one block per line keeps the lines apart.
    blocks.extend(m.lines.iter().map(|l| json!({ "type": "TextBlock", "text": truncate(l, 2000), "wrap": true, "isSubtle": true })));
    let actions: Vec<Value> = [("Acknowledge", &m.ack_url), ("Status page", &m.page_url)]
        .into_iter()
        .filter_map(|(title, url)| url.as_ref().map(|u| json!({ "type": "Action.OpenUrl", "title": title, "url": u })))
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": { "width": "Full" },
        "body": blocks,
    });
    if !actions.is_empty() {
        card["actions"] = json!(actions);
    }
    json!({
        "type": "message",
        "attachments": [{ "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card }],
    })
}

#[async_trait::async_trait]
impl Notifier for Teams {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(self.url.expose()).json(&body(e))).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_is_one_adaptive_card_matching_the_schema() {
        for e in events() {
            let b = body(&e);
            assert_eq!(schema_errors("teams", &b), Vec::<String>::new(), "{b}");
        }
    }
}
