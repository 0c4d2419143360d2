//! The `Notifier` seam: one file per notifier type, registered in exactly one place, [`NotifierConfig`]:
//! a variant naming the file's `Config` and an arm of [`NotifierConfig::check`].
//!
//! Each file holds, for its type: the configuration keys (`Config`, serde, `deny_unknown_fields`) and their
//! checks, the validated settings (a [`Channel`]: which events it carries, whom it reaches by which
//! `[oncall.people]` key, and how to build it), a pure payload builder (tested against the provider's
//! published schema) and a `send` that posts it. [`post`] classifies the answer the same way for all of them:
//! 2xx is delivered, 429, 5xx and network errors are retried (honouring `Retry-After`), any other answer
//! cannot succeed by sending the same request again.
//!
//! Adding a notifier type: a new file here with those four things, `pub mod` for it, one variant, one arm.

pub mod alertmanager;
pub mod discord;
pub mod email;
pub mod googlechat;
pub mod gotify;
pub mod matrix;
pub mod mattermost;
pub mod message;
pub mod ntfy;
pub mod opsgenie;
pub mod pagerduty;
pub mod pushover;
pub mod slack;
pub mod splunk_oncall;
pub mod teams;
pub mod telegram;
pub mod template;
pub mod twilio;
pub mod webhook;

use crate::event::{Action, AlertEvent};
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `[alerting.notifiers.NAME]`, read by its `type` (`check::tagged`): one variant per notifier type, each the
/// configuration struct of its own file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifierConfig {
    PagerDuty(pagerduty::Config),
    OpsGenie(opsgenie::Config),
    Slack(slack::Config),
    Email(email::Config),
    Webhook(webhook::Config),
    Discord(discord::Config),
    Telegram(telegram::Config),
    GoogleChat(googlechat::Config),
    Ntfy(ntfy::Config),
    Mattermost(mattermost::Config),
    Teams(teams::Config),
    Gotify(gotify::Config),
    Pushover(pushover::Config),
    Matrix(matrix::Config),
    Alertmanager(alertmanager::Config),
    #[serde(rename = "splunk_oncall")]
    SplunkOnCall(splunk_oncall::Config),
    Twilio(twilio::Config),
    Template(template::Config),
}

impl NotifierConfig {
    /// The one place notifier types are registered: checks the keys of the table at `t` and returns the
    /// validated channel (`None` when its errors are in `t`).
    pub fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        match self {
            NotifierConfig::PagerDuty(c) => c.check(t),
            NotifierConfig::OpsGenie(c) => c.check(t),
            NotifierConfig::Slack(c) => c.check(t),
            NotifierConfig::Email(c) => c.check(t),
            NotifierConfig::Webhook(c) => c.check(t),
            NotifierConfig::Discord(c) => c.check(t),
            NotifierConfig::Telegram(c) => c.check(t),
            NotifierConfig::GoogleChat(c) => c.check(t),
            NotifierConfig::Ntfy(c) => c.check(t),
            NotifierConfig::Mattermost(c) => c.check(t),
            NotifierConfig::Teams(c) => c.check(t),
            NotifierConfig::Gotify(c) => c.check(t),
            NotifierConfig::Pushover(c) => c.check(t),
            NotifierConfig::Matrix(c) => c.check(t),
            NotifierConfig::Alertmanager(c) => c.check(t),
            NotifierConfig::SplunkOnCall(c) => c.check(t),
            NotifierConfig::Twilio(c) => c.check(t),
            NotifierConfig::Template(c) => c.check(t),
        }
    }
}

/// Why a notifier could not be built at start-up (an SMTP relay address that does not resolve…).
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// A notifier's validated configuration: what the rest of alerting knows of a notifier type.
pub trait Channel: fmt::Debug + Send + Sync {
    /// The `type` it was configured with, for summaries and logs.
    fn kind(&self) -> &'static str;

    /// Whether it carries events of `action` (PagerDuty escalates inside its own service once paged; an
    /// email has no use for an acknowledgement).
    fn carries(&self, action: Action) -> bool {
        let _ = action;
        true
    }

    /// The `[oncall.people.NAME]` key it reaches people by (`email`, a chat member id…), if it does.
    fn contact(&self) -> Option<&'static str> {
        None
    }

    /// Whether a page through it reaches nobody who lacks that contact, so that everyone a policy using it
    /// can page must have one (checked at start-up: better said then than at 2 am).
    fn needs_contact(&self) -> bool {
        false
    }

    /// The secret its provider's callbacks (acknowledged or closed in its app) are verified with, if it
    /// takes them: `("pagerduty", webhook_secret)`, `("opsgenie", callback_token)`.
    fn inbound(&self) -> Option<(&'static str, Secret)> {
        None
    }

    /// Whether its messages carry an acknowledge link of their own (`AlertEvent::ack_link(kind)`).
    fn shows_links(&self) -> bool {
        false
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError>;
}

/// Time limit of one request to a provider.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How one attempt went, with the provider's answer (kept in the outbox).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent(String),
    Retry { answer: String, after: Option<Duration> },
    Failed(String),
}

#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, event: &AlertEvent) -> Outcome;
}

/// Sends `req` and classifies the answer.
pub async fn post(req: reqwest::RequestBuilder) -> Outcome {
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Retry { answer: watchpost_core::http::error_text(&e), after: None },
    };
    let status = resp.status();
    let after = watchpost_core::http::retry_after(resp.headers());
    let body = resp.text().await.unwrap_or_default();
    let answer = format!("HTTP {}: {}", status.as_u16(), body.trim().chars().take(300).collect::<String>());
    if status.is_success() {
        Outcome::Sent(answer)
    } else if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        Outcome::Retry { answer, after }
    } else {
        Outcome::Failed(answer)
    }
}

/// A URL that is itself the credential (a webhook with its token): required, valid, and never shown,
/// also not in the error that says it is not valid.
pub(crate) fn secret_url(t: &mut Table<'_>, key: &str, inline: Option<Secret>, file: Option<String>) -> Option<Secret> {
    let url = t.required_secret(key, inline, file)?;
    if let Err(e) = watchpost_core::http::parse_http_url(url.expose()) {
        let why = e.rsplit_once(": ").map_or("invalid URL", |(_, why)| why);
        t.error(key, format!("is not a valid URL: {why}"));
    }
    Some(url)
}

/// RFC 3339 in UTC with milliseconds, as the providers print times.
pub fn rfc3339(ts: watchpost_core::time::Nanos) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ts)).map(|t| format!("{t:.3}")).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::event::{Action, AlertEvent, GroupedAlert, Paged};
    use serde_json::Value;

    /// One event of every action, as a firing alert goes through them: people, links, a note.
    pub(crate) fn events() -> Vec<AlertEvent> {
        let person = |name: &str| Paged { name: name.into(), contacts: [("phone".to_string(), "+4915112345678".to_string())].into() };
        let base = AlertEvent {
            action: Action::Trigger,
            key: "down/api/production".into(),
            episode: 3,
            rule: "down".into(),
            endpoint: "api".into(),
            endpoint_name: "Public API <v2> & *stars*_".into(),
            environment: "production".into(),
            component: "checkout".into(),
            severity: "critical".into(),
            summary: "api is down (availability 0 % < 100 %) in eu, us".into(),
            condition: "availability < 100 %".into(),
            value: 0.0,
            at: 1_764_800_000_000_000_000,
            fired_at: 1_764_799_900_000_000_000,
            level: 0,
            people: vec![person("alice"), person("bob")],
            acked_by: None,
            note: String::new(),
            page_url: Some("https://status.example.com".into()),
            ack_links: [
                "email",
                "slack",
                "discord",
                "telegram",
                "googlechat",
                "ntfy",
                "mattermost",
                "teams",
                "gotify",
                "pushover",
                "matrix",
                "alertmanager",
            ]
            .iter()
            .map(|c| (c.to_string(), format!("https://status.example.com/ack?alert=down%2Fapi&episode=3&by={c}&sig=abc")))
            .collect(),
            labels: [("component".to_string(), "checkout".to_string())].into(),
            alerts: vec![],
            message: None,
        };
        let mut out = vec![base.clone()];
        out.push(AlertEvent { action: Action::Escalate, level: 1, people: vec![person("carol")], ..base.clone() });
        out.push(AlertEvent { action: Action::Acknowledge, acked_by: Some("alice".into()), ..base.clone() });
        out.push(AlertEvent { action: Action::Resolve, ..base.clone() });
        out.push(AlertEvent { action: Action::Resolve, note: "a maintenance window began".into(), page_url: None, ..base.clone() });
        // The longest summary a rule can produce, and then some: the builders cut to the providers' limits.
        out.push(AlertEvent { summary: "x".repeat(10_000), ..base.clone() });
        // A group's page and its update: thirty alerts listed (twenty shown), some new, some resolved.
        let alerts: Vec<GroupedAlert> = (0..30)
            .map(|i| GroupedAlert {
                key: format!("down/api-{i}/production"),
                summary: format!("API {i} <eu> [production]: availability 0 % (< 100 %)"),
                state: ["firing", "new", "resolved"][i % 3].into(),
            })
            .collect();
        let group = AlertEvent {
            key: "group:route/component=checkout".into(),
            rule: "route".into(),
            endpoint: String::new(),
            endpoint_name: "component=checkout".into(),
            environment: String::new(),
            summary: "component=checkout: 30 alerts firing: API 0 …".into(),
            condition: "30 alert(s) firing".into(),
            alerts,
            ..base.clone()
        };
        out.push(group.clone());
        out.push(AlertEvent { action: Action::Update, note: "10 new, 10 resolved".into(), people: vec![], ..group });
        out
    }

    /// Every violation of `payload` against `schemas/NAME.schema.json`.
    pub(crate) fn schema_errors(name: &str, payload: &Value) -> Vec<String> {
        let path = format!("{}/schemas/{name}.schema.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap_or_else(|e| panic!("{path}: {e}"));
        validator.iter_errors(payload).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }
}

#[cfg(test)]
mod contract {
    use super::*;

    const SECRET: &str = "s3cr3t-token-7f2e9a";

    /// Every chat and push notifier, its credential `SECRET`, aimed at `base` (a closed port, or a server
    /// that answers 400 with the request line).
    fn channels(base: &str) -> Vec<Arc<dyn Channel>> {
        vec![
            Arc::new(discord::Settings { webhook_url: Secret::new(format!("{base}/api/webhooks/1/{SECRET}")), username: "W".into() }),
            Arc::new(telegram::Settings {
                bot_token: Secret::new(format!("123:{SECRET}")),
                chat_id: serde_json::json!(-1),
                thread: None,
                api_url: base.into(),
            }),
            Arc::new(googlechat::Settings { webhook_url: Secret::new(format!("{base}/v1/spaces/A/messages?key=k&token={SECRET}")) }),
            Arc::new(ntfy::Settings { url: base.into(), topic: "t".into(), token: Some(Secret::new(SECRET)) }),
            Arc::new(slack::Settings { webhook_url: Secret::new(format!("{base}/services/T/B/{SECRET}")) }),
            Arc::new(mattermost::Settings {
                webhook_url: Secret::new(format!("{base}/hooks/{SECRET}")),
                channel: None,
                username: "W".into(),
            }),
            Arc::new(teams::Settings { webhook_url: Secret::new(format!("{base}/workflows/1/triggers/manual/paths/invoke?sig={SECRET}")) }),
            Arc::new(gotify::Settings { url: base.into(), token: Secret::new(SECRET) }),
            Arc::new(pushover::Settings { url: base.into(), token: Secret::new(SECRET), user_key: Secret::new(SECRET), device: None }),
            Arc::new(matrix::Settings { homeserver: base.into(), room_id: "!r:example.org".into(), access_token: Secret::new(SECRET) }),
            Arc::new(alertmanager::Settings { url: base.into(), token: Some(Secret::new(SECRET)) }),
            Arc::new(template::Settings {
                url: Secret::new(format!("{base}/hook?token={SECRET}")),
                method: reqwest::Method::POST,
                headers: vec![],
                body: template::Text::parse("{{text}}").unwrap(),
            }),
            Arc::new(splunk_oncall::Settings { url: base.into(), api_key: Secret::new(SECRET), routing_key: "ops".into() }),
            Arc::new(twilio::Settings {
                url: base.into(),
                account_sid: "AC0123456789abcdef0123456789abcdef".into(),
                auth_token: Secret::new(SECRET),
                from: "+14155550100".into(),
                call: false,
            }),
        ]
    }

    /// No credential in a notifier's `Debug`, nor in what an attempt records when the provider cannot be
    /// reached or refuses the request: the outbox keeps those answers, and logs print them.
    #[tokio::test]
    async fn no_notifier_shows_its_credential_in_debug_or_in_a_failed_attempt() {
        let http = watchpost_core::http::client(Duration::from_secs(5)).build().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // A provider that refuses everything with 400 and a body that does not repeat the request.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let refusing = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut c, _)) = listener.accept().await {
                let mut buf = vec![0u8; 65536];
                let _ = c.read(&mut buf).await;
                let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nbad request").await;
            }
        });
        let event = tests::events().remove(0);
        for port in [closed, refusing] {
            for ch in channels(&format!("http://127.0.0.1:{port}")) {
                let shown = format!("{ch:?}");
                assert!(!shown.contains(SECRET), "{} Debug: {shown}", ch.kind());
                let outcome = ch.build(&http).unwrap().send(&event).await;
                let text = format!("{outcome:?}");
                assert!(!matches!(outcome, Outcome::Sent(_)), "{}: {text}", ch.kind());
                assert!(!text.contains(SECRET), "{} outcome: {text}", ch.kind());
                if port == refusing {
                    assert!(matches!(outcome, Outcome::Failed(_)), "a 400 is not retried: {}: {text}", ch.kind());
                }
            }
        }
    }
}
