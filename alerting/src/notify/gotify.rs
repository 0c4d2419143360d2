//! Gotify: `POST {url}/message` with an application token (`X-Gotify-Key`), the title, the message as
//! plain text, a priority from the severity (Gotify's apps make 8 and above loud), and the status page as
//! the notification's click target. Answers 200 with the stored message.

use super::message::Message;
use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::{Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "gotify"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The server (required), e.g. `https://gotify.example.com`.
    url: Option<String>,
    /// An application token. Use `${ENV_VAR}` or `token_file`.
    token: Option<Secret>,
    token_file: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = t.url("url", self.url, None);
        let token = t.required_secret("token", self.token, self.token_file);
        Some(Arc::new(Settings { url: url?, token: token? }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub token: Secret,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "gotify"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Gotify { http: http.clone(), url: format!("{}/message", self.url.trim_end_matches('/')), token: self.token.clone() }))
    }
}

pub struct Gotify {
    http: reqwest::Client,
    url: String,
    token: Secret,
}

fn priority(e: &AlertEvent) -> u8 {
    match (e.action, e.severity.as_str()) {
        (Action::Resolve | Action::Acknowledge, _) => 4,
        (_, "critical") => 10,
        (_, "error") => 8,
        (_, "warning") => 5,
        _ => 2,
    }
}

pub fn body(e: &AlertEvent) -> Value {
    let m = Message::of(e, "gotify");
    let mut text = m.lines.clone();
    if let Some(a) = &m.ack_url {
        text.push(format!("Acknowledge: {a}"));
    }
    let mut b = json!({
        "title": m.title,
        "message": text.join("\n"),
        "priority": priority(e),
        "extras": { "client::display": { "contentType": "text/plain" } },
    });
    if let Some(p) = &m.page_url {
        b["extras"]["client::notification"] = json!({ "click": { "url": p } });
    }
    b
}

#[async_trait::async_trait]
impl Notifier for Gotify {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(&self.url).header("X-Gotify-Key", self.token.expose()).json(&body(e))).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_documented_schema() {
        for e in events() {
            let b = body(&e);
            assert_eq!(schema_errors("gotify", &b), Vec::<String>::new(), "{b}");
        }
        assert_eq!(body(&events()[0])["priority"], 10);
    }
}
