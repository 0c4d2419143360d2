//! Pushover: `POST {url}/1/messages.json` with the application token and the user (or group) key, the
//! title, the message, a link (the acknowledge link while firing, else the status page) and a priority:
//! 1 (high, bypassing quiet hours) for critical and error, 0 otherwise. Emergency priority (2) is not
//! used: it repeats until acknowledged in Pushover, which Watchpost's escalation already does. Pushover
//! answers 200 `{"status":1,…}`, 4xx with `errors` for a bad request.

use super::message::Message;
use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "pushover"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The application's API token. Use `${ENV_VAR}` or `token_file`.
    token: Option<Secret>,
    token_file: Option<String>,
    /// The user or group key to notify. Use `${ENV_VAR}` or `user_key_file`.
    user_key: Option<Secret>,
    user_key_file: Option<String>,
    /// Only this device of the user (optional).
    device: Option<String>,
    /// The API (default `https://api.pushover.net`; tests).
    url: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = t.url("url", self.url, Some("https://api.pushover.net"));
        let token = t.required_secret("token", self.token, self.token_file);
        let user = t.required_secret("user_key", self.user_key, self.user_key_file);
        for (key, v) in [("token", &token), ("user_key", &user)] {
            if v.as_ref().is_some_and(|s| s.expose().len() != 30 || !s.expose().bytes().all(|b| b.is_ascii_alphanumeric())) {
                t.error(key, "is not a Pushover key (30 letters and digits)");
            }
        }
        Some(Arc::new(Settings { url: url?, token: token?, user_key: user?, device: self.device }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub token: Secret,
    pub user_key: Secret,
    pub device: Option<String>,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "pushover"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Pushover {
            http: http.clone(),
            url: format!("{}/1/messages.json", self.url.trim_end_matches('/')),
            token: self.token.clone(),
            user_key: self.user_key.clone(),
            device: self.device.clone(),
        }))
    }
}

pub struct Pushover {
    http: reqwest::Client,
    url: String,
    token: Secret,
    user_key: Secret,
    device: Option<String>,
}

/// The payload; the two keys go in it as Pushover wants (the caller passes them, the tests fakes).
pub fn body(e: &AlertEvent, token: &str, user: &str, device: Option<&str>) -> Value {
    let m = Message::of(e, "pushover");
    let priority = match (e.action, e.severity.as_str()) {
        (Action::Trigger | Action::Escalate, "critical" | "error") => 1,
        _ => 0,
    };
    let mut b = json!({
        "token": token,
        "user": user,
        "title": truncate(&m.title, 250),
        "message": truncate(&m.lines.join("\n"), 1024),
        "priority": priority,
        "timestamp": e.at / 1_000_000_000,
    });
    let link = m.ack_url.as_ref().map(|u| (u, "Acknowledge")).or(m.page_url.as_ref().map(|u| (u, "Status page")));
    if let Some((url, title)) = link.filter(|(u, _)| u.len() <= 512) {
        b["url"] = json!(url);
        b["url_title"] = json!(title);
    }
    if let Some(d) = device {
        b["device"] = json!(d);
    }
    b
}

#[async_trait::async_trait]
impl Notifier for Pushover {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(&self.url).json(&body(e, self.token.expose(), self.user_key.expose(), self.device.as_deref()))).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_documented_schema_and_limits() {
        let (token, user) = ("azGDORePK8gMaC0QOYAMyEEuzJnyUi", "uQiRzpo4DXghDmr9QzzfQu27cmVRsG");
        for e in events() {
            let b = body(&e, token, user, Some("phone"));
            assert_eq!(schema_errors("pushover", &b), Vec::<String>::new(), "{b}");
        }
    }
}
