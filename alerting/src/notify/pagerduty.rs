//! PagerDuty Events API v2: `POST {url}/v2/enqueue` with the routing key in the body, `event_action`
//! trigger / acknowledge / resolve and our alert key as `dedup_key`, so that PagerDuty folds repeats of a
//! page (two alerting instances, a resend after a crash) into one incident. 202 is success.

use super::{post, rfc3339, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "pagerduty"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Events API v2 integration key. Use `${ENV_VAR}` or `routing_key_file`.
    routing_key: Option<Secret>,
    routing_key_file: Option<String>,
    /// Where events go (default `https://events.pagerduty.com`).
    url: Option<String>,
    /// The signing secret of a v3 webhook subscription posting to the status page's
    /// `/api/v1/inbound/pagerduty`: acknowledgements made in PagerDuty come back.
    webhook_secret: Option<Secret>,
    webhook_secret_file: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = t.url("url", self.url, Some("https://events.pagerduty.com"));
        let routing_key = t.required_secret("routing_key", self.routing_key, self.routing_key_file);
        let webhook_secret = t.optional_secret("webhook_secret", self.webhook_secret, self.webhook_secret_file);
        Some(Arc::new(Settings { url: url?, routing_key: routing_key?, webhook_secret }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub routing_key: Secret,
    pub webhook_secret: Option<Secret>,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    fn inbound(&self) -> Option<(&'static str, Secret)> {
        self.webhook_secret.clone().map(|s| ("pagerduty", s))
    }

    /// PagerDuty escalates inside its own service once paged, and keeps its incident (one per group) up to
    /// date itself.
    fn carries(&self, action: Action) -> bool {
        !matches!(action, Action::Escalate | Action::Update)
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(PagerDuty::new(http.clone(), &self.url, self.routing_key.clone())))
    }
}

pub struct PagerDuty {
    http: reqwest::Client,
    url: String,
    routing_key: Secret,
}

impl PagerDuty {
    pub fn new(http: reqwest::Client, base: &str, routing_key: Secret) -> Self {
        PagerDuty { http, url: format!("{base}/v2/enqueue"), routing_key }
    }
}

/// The request body for `e` (pure: the contract tests validate it against PagerDuty's schema).
pub fn body(routing_key: &str, e: &AlertEvent) -> Value {
    let action = match e.action {
        Action::Trigger | Action::Escalate | Action::Update => "trigger",
        Action::Acknowledge => "acknowledge",
        Action::Resolve => "resolve",
    };
    if action != "trigger" {
        return json!({ "routing_key": routing_key, "event_action": action, "dedup_key": e.key });
    }
    let on_call: Vec<&str> = e.people.iter().map(|p| p.name.as_str()).collect();
    let mut details = json!({
        "rule": e.rule,
        "condition": e.condition,
        "value": e.value,
        "environment": e.environment,
        "on_call": on_call,
    });
    if let Some(link) = e.ack_link("email") {
        details["acknowledge"] = json!(link);
    }
    if !e.note.is_empty() {
        details["note"] = json!(e.note);
    }
    if !e.labels.is_empty() {
        details["labels"] = json!(e.labels);
    }
    if !e.alerts.is_empty() {
        details["alerts"] = json!(crate::group::listed(&e.alerts));
    }
    // A group has no endpoint of its own: its group labels name it.
    let source = match (e.endpoint.is_empty(), e.environment.is_empty()) {
        (true, _) => e.endpoint_name.clone(),
        (false, true) => e.endpoint.clone(),
        (false, false) => format!("{} [{}]", e.endpoint, e.environment),
    };
    let mut payload = json!({
        "summary": truncate(&e.summary, 1024),
        "source": truncate(&source, 255),
        "severity": e.severity,
        "timestamp": rfc3339(e.fired_at),
        "group": e.environment,
        "class": e.rule,
        "custom_details": details,
    });
    if !e.component.is_empty() {
        payload["component"] = json!(e.component);
    }
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": e.key,
        "client": "Watchpost",
        "payload": payload,
    });
    if let Some(page) = &e.page_url {
        body["client_url"] = json!(page);
        body["links"] = json!([{ "href": page, "text": "Status page" }]);
    }
    body
}

#[async_trait::async_trait]
impl Notifier for PagerDuty {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(&self.url).json(&body(self.routing_key.expose(), e))).await
    }
}
