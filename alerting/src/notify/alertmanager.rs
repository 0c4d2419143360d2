//! Alertmanager: the alert posted to `POST {url}/api/v2/alerts` as a Prometheus server would, so every
//! receiver an Alertmanager has (and its routing, grouping and silences) can carry Watchpost's pages.
//! Labels: `alertname` (the rule), `endpoint`, `environment`, `component`, `severity`; annotations:
//! `summary`, `description`, and the acknowledge link. A resolve sends the alert again with `endsAt`, as
//! Prometheus does. Alertmanager answers 200.

use super::message::Message;
use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::{Action, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "alertmanager"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Alertmanager (required), e.g. `http://alertmanager:9093`.
    url: Option<String>,
    /// A bearer token, for an Alertmanager behind an authenticating proxy. Use `${ENV_VAR}` or `token_file`.
    token: Option<Secret>,
    token_file: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = t.url("url", self.url, None);
        let token = t.optional_secret("token", self.token, self.token_file);
        Some(Arc::new(Settings { url: url?, token }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub token: Option<Secret>,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "alertmanager"
    }

    /// Alertmanager has its own acknowledgement (silences); an acknowledge changes no label it groups on.
    fn carries(&self, action: Action) -> bool {
        action != Action::Acknowledge
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        let url = format!("{}/api/v2/alerts", self.url.trim_end_matches('/'));
        Ok(Arc::new(Alertmanager { http: http.clone(), url, token: self.token.clone() }))
    }
}

pub struct Alertmanager {
    http: reqwest::Client,
    url: String,
    token: Option<Secret>,
}

pub fn body(e: &AlertEvent) -> Value {
    let m = Message::of(e, "alertmanager");
    let mut labels = Map::new();
    for (k, v) in [
        ("alertname", &e.rule),
        ("endpoint", &e.endpoint),
        ("environment", &e.environment),
        ("component", &e.component),
        ("severity", &e.severity),
    ] {
        if !v.is_empty() {
            labels.insert(k.into(), json!(v));
        }
    }
    // The alert's own labels (a group's: its group labels), so Alertmanager routes on the same ones.
    for (k, v) in &e.labels {
        if !labels.contains_key(k) && !v.is_empty() {
            labels.insert(k.clone(), json!(v));
        }
    }
    labels.insert("source".into(), json!("watchpost"));
    let mut annotations = Map::new();
    annotations.insert("summary".into(), json!(e.summary));
    annotations.insert("description".into(), json!(m.lines.join("\n")));
    if let Some(a) = &m.ack_url {
        annotations.insert("acknowledge_url".into(), json!(a));
    }
    let mut alert = json!({ "labels": labels, "annotations": annotations, "startsAt": super::rfc3339(e.fired_at) });
    if e.action == Action::Resolve {
        alert["endsAt"] = json!(super::rfc3339(e.at));
    }
    if let Some(p) = &e.page_url {
        alert["generatorURL"] = json!(p);
    }
    json!([alert])
}

#[async_trait::async_trait]
impl Notifier for Alertmanager {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        let mut req = self.http.post(&self.url).json(&body(e));
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
    fn every_event_is_a_postable_alert_and_a_resolve_ends_it() {
        for e in events() {
            let b = body(&e);
            assert_eq!(schema_errors("alertmanager", &b), Vec::<String>::new(), "{b}");
            assert_eq!(b[0]["endsAt"].is_string(), e.action == Action::Resolve);
            assert_eq!(b[0]["labels"]["alertname"], e.rule.as_str());
            assert_eq!(b[0]["labels"]["component"], "checkout");
        }
    }
}
