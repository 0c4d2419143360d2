//! Google Chat: an incoming webhook of a space (`POST` the webhook URL, whose `key` and `token` are the
//! credential) with the message as `text`, links written out (Chat makes them clickable). Answers 200.

use super::message::Message;
use super::{post, secret_url, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "googlechat"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The space's webhook URL (`https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…`; it is the
    /// credential). Use `${ENV_VAR}` or `webhook_url_file`.
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
        "googlechat"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(GoogleChat { http: http.clone(), url: self.webhook_url.clone() }))
    }
}

pub struct GoogleChat {
    http: reqwest::Client,
    url: Secret,
}

pub fn body(e: &AlertEvent) -> Value {
    let m = Message::of(e, "googlechat");
    // Chat's own markup: `*bold*` for the title.
    let text = format!("*{}*\n{}", m.title, m.body());
    json!({ "text": truncate(&text, 4096) })
}

#[async_trait::async_trait]
impl Notifier for GoogleChat {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(self.url.expose()).header("Content-Type", "application/json; charset=UTF-8").body(body(e).to_string())).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_documented_schema_and_limits() {
        for e in events() {
            let b = body(&e);
            assert_eq!(schema_errors("googlechat", &b), Vec::<String>::new(), "{b}");
            assert!(b["text"].as_str().unwrap().starts_with(&format!("*{}*", Message::of(&e, "googlechat").title)));
        }
    }
}
