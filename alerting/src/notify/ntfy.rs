//! ntfy: a push to a topic, published as JSON to the server's root (`POST {url}/`), with the title, the
//! message, a priority from the severity (5 for critical, down to 2 for info; 3 for a resolve), a tag ntfy
//! shows as an emoji, the status page as the click target and an Acknowledge button. Access tokens go in
//! `Authorization: Bearer`. ntfy answers 200 with the message it stored.

use super::message::Message;
use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::{Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "ntfy"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server (default `https://ntfy.sh`).
    url: Option<String>,
    /// The topic (letters, digits, `-`, `_`; at most 64). On the public server anyone who knows it can read
    /// it: choose one nobody guesses, or use an access token on a server of your own.
    topic: Option<String>,
    /// An access token (`tk_…`). Use `${ENV_VAR}` or `token_file`.
    token: Option<Secret>,
    token_file: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = t.url("url", self.url, Some("https://ntfy.sh"));
        let token = t.optional_secret("token", self.token, self.token_file);
        let topic = t.required("topic", self.topic)?;
        if topic.is_empty() || topic.len() > 64 || !topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            t.error("topic", format!("{topic:?} is not a topic name: use 1 to 64 letters, digits, `-` and `_`"));
        }
        Some(Arc::new(Settings { url: url?, topic, token }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub topic: String,
    pub token: Option<Secret>,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "ntfy"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Ntfy { http: http.clone(), url: self.url.clone(), topic: self.topic.clone(), token: self.token.clone() }))
    }
}

pub struct Ntfy {
    http: reqwest::Client,
    url: String,
    topic: String,
    token: Option<Secret>,
}

fn priority(e: &AlertEvent) -> u8 {
    match (e.action, e.severity.as_str()) {
        (Action::Resolve | Action::Acknowledge, _) => 3,
        (_, "critical") => 5,
        (_, "error") => 4,
        (_, "warning") => 3,
        _ => 2,
    }
}

pub fn body(e: &AlertEvent, topic: &str) -> Value {
    let m = Message::of(e, "ntfy");
    let tag = match e.action {
        Action::Trigger | Action::Escalate | Action::Update => "rotating_light",
        Action::Acknowledge => "eyes",
        Action::Resolve => "white_check_mark",
    };
    let mut b = json!({
        "topic": topic,
        "title": m.title,
        "message": m.lines.join("\n"),
        "priority": priority(e),
        "tags": [tag],
    });
    if let Some(p) = &m.page_url {
        b["click"] = json!(p);
    }
    if let Some(a) = &m.ack_url {
        b["actions"] = json!([{ "action": "view", "label": "Acknowledge", "url": a, "clear": true }]);
    }
    b
}

#[async_trait::async_trait]
impl Notifier for Ntfy {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        let mut req = self.http.post(format!("{}/", self.url.trim_end_matches('/'))).json(&body(e, &self.topic));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        post(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_documented_schema_and_priorities_follow_severity() {
        for e in events() {
            let b = body(&e, "watchpost-alerts");
            assert_eq!(schema_errors("ntfy", &b), Vec::<String>::new(), "{b}");
        }
        let mut e = events().remove(0);
        e.severity = "critical".into();
        assert_eq!(body(&e, "t")["priority"], 5);
        e.severity = "info".into();
        assert_eq!(body(&e, "t")["priority"], 2);
    }
}
