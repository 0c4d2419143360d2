//! Splunk On-Call (VictorOps): the REST endpoint integration, `POST {url}/{api_key}/{routing_key}`, one
//! incident per alert episode by `entity_id`: CRITICAL/WARNING/INFO opens it, ACKNOWLEDGEMENT and RECOVERY
//! act on it. The API key is in the path, so errors show the answer, never the URL. Answers 200
//! `{"result":"success",…}`.

use super::message::Message;
use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;
use watchpost_core::template::percent_encode;

/// `type = "splunk_oncall"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The REST endpoint integration's API key. Use `${ENV_VAR}` or `api_key_file`.
    api_key: Option<Secret>,
    api_key_file: Option<String>,
    /// The routing key that picks the escalation policy (required).
    routing_key: Option<String>,
    /// The integration's base (default `https://alert.victorops.com/integrations/generic/20131114/alert`).
    url: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = t.url("url", self.url, Some("https://alert.victorops.com/integrations/generic/20131114/alert"));
        let key = t.required_secret("api_key", self.api_key, self.api_key_file);
        let routing = t.required("routing_key", self.routing_key)?;
        if routing.is_empty() || routing.contains('/') {
            t.error("routing_key", "must be a routing key as Splunk On-Call shows it (no `/`)");
        }
        Some(Arc::new(Settings { url: url?, api_key: key?, routing_key: routing }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub api_key: Secret,
    pub routing_key: String,
}

impl Channel for Settings {
    /// Splunk On-Call keeps one incident per entity; an update would page it again as CRITICAL.
    fn carries(&self, action: Action) -> bool {
        action != Action::Update
    }

    fn kind(&self) -> &'static str {
        "splunk_oncall"
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        let url =
            format!("{}/{}/{}", self.url.trim_end_matches('/'), percent_encode(self.api_key.expose()), percent_encode(&self.routing_key));
        Ok(Arc::new(SplunkOnCall { http: http.clone(), url: Secret::new(url) }))
    }
}

pub struct SplunkOnCall {
    http: reqwest::Client,
    /// With the API key in it.
    url: Secret,
}

pub fn body(e: &AlertEvent) -> Value {
    let m = Message::of(e, "splunk_oncall");
    let message_type = match (e.action, e.severity.as_str()) {
        (Action::Acknowledge, _) => "ACKNOWLEDGEMENT",
        (Action::Resolve, _) => "RECOVERY",
        (_, "critical" | "error") => "CRITICAL",
        (_, "warning") => "WARNING",
        _ => "INFO",
    };
    let mut b = json!({
        "message_type": message_type,
        // One incident per episode: a new firing of the same alert is a new incident.
        "entity_id": truncate(&format!("{}/{}", e.key, e.episode), 512),
        "entity_display_name": m.title,
        "state_message": m.text(),
        "state_start_time": e.fired_at / 1_000_000_000,
        "monitoring_tool": "Watchpost",
    });
    if e.action == Action::Acknowledge {
        b["ack_author"] = json!(e.acked_by.as_deref().unwrap_or("someone"));
        b["ack_msg"] = json!("acknowledged in Watchpost");
    }
    if let Some(p) = &m.page_url {
        b["alert_url"] = json!(p);
    }
    b
}

#[async_trait::async_trait]
impl Notifier for SplunkOnCall {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(self.url.expose()).json(&body(e))).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_documented_schema_and_ties_into_one_incident() {
        for e in events() {
            let b = body(&e);
            assert_eq!(schema_errors("splunk_oncall", &b), Vec::<String>::new(), "{b}");
            assert_eq!(b["entity_id"], format!("{}/3", e.key), "one incident per alert (or group) episode");
        }
        let types: Vec<Value> = events().iter().take(4).map(|e| body(e)["message_type"].clone()).collect();
        assert_eq!(types, vec![json!("CRITICAL"), json!("CRITICAL"), json!("ACKNOWLEDGEMENT"), json!("RECOVERY")]);
    }
}
