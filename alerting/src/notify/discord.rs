//! Discord: Execute Webhook (`POST` the webhook URL, which is the credential) with the message as plain
//! `content` (what notifications and previews show) and an embed coloured by what happened, its title
//! linking to the acknowledge link or the status page. Mentions are turned off: an alert text cannot ping
//! `@everyone`. Discord answers 204.

use super::message::Message;
use super::{post, secret_url, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "discord"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The webhook URL (`https://discord.com/api/webhooks/ID/TOKEN`; it is the credential). Use
    /// `${ENV_VAR}` or `webhook_url_file`.
    webhook_url: Option<Secret>,
    webhook_url_file: Option<String>,
    /// The name the messages are posted under (default `Watchpost`).
    username: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let hook = secret_url(t, "webhook_url", self.webhook_url, self.webhook_url_file)?;
        let username = self.username.unwrap_or_else(|| "Watchpost".into());
        if username.is_empty() || username.chars().count() > 80 {
            t.error("username", "must be 1 to 80 characters (Discord's limit)");
        }
        Some(Arc::new(Settings { webhook_url: hook, username }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub webhook_url: Secret,
    pub username: String,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "discord"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Discord { http: http.clone(), url: self.webhook_url.clone(), username: self.username.clone() }))
    }
}

pub struct Discord {
    http: reqwest::Client,
    url: Secret,
    username: String,
}

/// Red firing, orange escalated or updated, yellow acknowledged, green resolved.
fn colour(action: Action) -> u32 {
    match action {
        Action::Trigger => 0xD9_2D_20,
        Action::Escalate | Action::Update => 0xE8_7B_1E,
        Action::Acknowledge => 0xE8_C5_1E,
        Action::Resolve => 0x2E_A0_43,
    }
}

pub fn body(e: &AlertEvent, username: &str) -> Value {
    let m = Message::of(e, "discord");
    let mut embed = json!({
        "title": truncate(&m.title, 256),
        "description": truncate(&m.lines.join("\n"), 4096),
        "color": colour(e.action),
        "timestamp": super::rfc3339(e.at),
    });
    if let Some(url) = m.ack_url.as_ref().or(m.page_url.as_ref()) {
        embed["url"] = json!(url);
    }
    json!({
        "content": truncate(&m.text(), 2000),
        "username": username,
        "allowed_mentions": { "parse": [] },
        "embeds": [embed],
    })
}

#[async_trait::async_trait]
impl Notifier for Discord {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(self.url.expose()).json(&body(e, &self.username))).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_documented_schema_and_limits() {
        for e in events() {
            let b = body(&e, "Watchpost");
            assert_eq!(schema_errors("discord", &b), Vec::<String>::new(), "{b}");
            assert!(b["content"].as_str().unwrap().starts_with(&e.headline().chars().take(20).collect::<String>()));
            assert_eq!(b["allowed_mentions"]["parse"], json!([]), "an alert never pings @everyone");
        }
    }
}
