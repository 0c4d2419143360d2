//! OpsGenie Alert API v2 (also the base URL of the EU instance, `https://api.eu.opsgenie.com`, and of Jira
//! Service Management's successor API, which takes the same bodies): create with our alert key as `alias`
//! (OpsGenie deduplicates open alerts by it) and the paged people as user `responders`; further escalation
//! levels add responders; acknowledge and close by alias. `Authorization: GenieKey …`; 202 with a requestId.

use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;
use watchpost_oncall::links::encode;

/// The `[oncall.people.NAME]` key holding a person's OpsGenie username.
const CONTACT: &str = "opsgenie";

/// `type = "opsgenie"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// API key of an API integration. Use `${ENV_VAR}` or `api_key_file`.
    api_key: Option<Secret>,
    api_key_file: Option<String>,
    /// Where requests go (default `https://api.opsgenie.com`; EU: `https://api.eu.opsgenie.com`).
    url: Option<String>,
    /// The token an outgoing webhook integration sends (custom header `Authorization: Bearer …`) to the
    /// status page's `/api/v1/inbound/opsgenie`: acknowledgements made in OpsGenie come back.
    callback_token: Option<Secret>,
    callback_token_file: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = t.url("url", self.url, Some("https://api.opsgenie.com"));
        let api_key = t.required_secret("api_key", self.api_key, self.api_key_file);
        let callback_token = t.optional_secret("callback_token", self.callback_token, self.callback_token_file);
        Some(Arc::new(Settings { url: url?, api_key: api_key?, callback_token }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub api_key: Secret,
    pub callback_token: Option<Secret>,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "opsgenie"
    }

    fn inbound(&self) -> Option<(&'static str, Secret)> {
        self.callback_token.clone().map(|s| ("opsgenie", s))
    }

    /// A group's update would only raise the alert's count: OpsGenie keeps one alert per alias.
    fn carries(&self, action: Action) -> bool {
        action != Action::Update
    }

    /// The OpsGenie username (usually an email address) each person is named by in `responders`.
    fn contact(&self) -> Option<&'static str> {
        Some(CONTACT)
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(OpsGenie::new(http.clone(), &self.url, self.api_key.clone())))
    }
}

pub struct OpsGenie {
    http: reqwest::Client,
    base: String,
    api_key: Secret,
}

impl OpsGenie {
    pub fn new(http: reqwest::Client, base: &str, api_key: Secret) -> Self {
        OpsGenie { http, base: base.to_string(), api_key }
    }
}

pub fn priority(severity: &str) -> &'static str {
    match severity {
        "critical" => "P1",
        "error" => "P2",
        "warning" => "P3",
        _ => "P5",
    }
}

/// The requests for `e`: (path and query, body). Pure, for the contract tests.
pub fn requests(e: &AlertEvent) -> Vec<(String, Value)> {
    let alias = encode(&e.key);
    let responders: Vec<Value> =
        e.people.iter().filter_map(|p| p.contact(CONTACT)).map(|u| json!({ "type": "user", "username": u })).collect();
    match e.action {
        Action::Trigger | Action::Update => {
            let mut description = format!("{}\n\nCondition: {}\nRule: {}", e.summary, e.condition, e.rule);
            if let Some(link) = e.ack_link("email") {
                description.push_str(&format!("\nAcknowledge: {link}"));
            }
            if let Some(page) = &e.page_url {
                description.push_str(&format!("\nStatus page: {page}"));
            }
            let mut details = serde_json::Map::new();
            details.insert("rule".into(), json!(e.rule));
            details.insert("environment".into(), json!(e.environment));
            details.insert("value".into(), json!(e.value.to_string()));
            if !e.component.is_empty() {
                details.insert("component".into(), json!(e.component));
            }
            let tags: Vec<String> = ["watchpost", &e.rule, &e.environment].iter().map(|t| truncate(t, 50)).collect();
            vec![(
                "/v2/alerts".into(),
                json!({
                    "message": truncate(&e.summary, 130),
                    "alias": e.key,
                    "description": truncate(&description, 15_000),
                    "responders": responders,
                    "tags": tags,
                    "details": details,
                    "entity": truncate(&e.endpoint, 512),
                    "source": "Watchpost",
                    "priority": priority(&e.severity),
                }),
            )]
        }
        Action::Escalate => responders
            .into_iter()
            .map(|r| {
                let note = format!("Escalated to level {}: nobody acknowledged", e.level + 1);
                (
                    format!("/v2/alerts/{alias}/responders?identifierType=alias"),
                    json!({ "responder": r, "source": "Watchpost", "note": note }),
                )
            })
            .collect(),
        Action::Acknowledge => {
            let user = e.acked_by.clone().unwrap_or_else(|| "Watchpost".into());
            vec![(
                format!("/v2/alerts/{alias}/acknowledge?identifierType=alias"),
                json!({ "source": "Watchpost", "user": truncate(&user, 100), "note": format!("Acknowledged by {user}") }),
            )]
        }
        Action::Resolve => {
            let note = if e.note.is_empty() { "Checks pass again".to_string() } else { e.note.clone() };
            vec![(format!("/v2/alerts/{alias}/close?identifierType=alias"), json!({ "source": "Watchpost", "note": note }))]
        }
    }
}

#[async_trait::async_trait]
impl Notifier for OpsGenie {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        let mut last = Outcome::Sent("nothing to send: nobody paged has an OpsGenie username".into());
        for (path, body) in requests(e) {
            let req = self
                .http
                .post(format!("{}{path}", self.base))
                .header("Authorization", format!("GenieKey {}", self.api_key.expose()))
                .json(&body);
            last = post(req).await;
            // Adding a responder twice does nothing, so a retry may resend the ones that went through.
            if !matches!(last, Outcome::Sent(_)) {
                return last;
            }
        }
        last
    }
}
