//! Atlassian Statuspage (`https://api.statuspage.io/v1`, `Authorization: OAuth KEY`).
//!
//! - Component status: `PATCH /pages/{page}/components/{id}` with `{"component": {"status": …}}`; Watchpost's
//!   statuses are Statuspage's own enum.
//! - Metrics: one bulk `POST /pages/{page}/metrics/data` a minute, `{"data": {"<metric id>": [{timestamp,
//!   value}]}}`, carrying every minute rollup closed since the last accepted request (at most
//!   [`CATCH_UP`] back: after a long outage the hosted chart gets the last hour, not a flood).
//! - Maintenance: `GET /pages/{page}/incidents/active_maintenance` and `/incidents/upcoming` (incidents with
//!   `scheduled_for` / `scheduled_until` and the components they affect).

use super::spec::{Provided, Provider, PublishedComponent, PublishedMetric, PublisherConfig};
use super::{components_by_provider_id, imported, Outgoing, Publisher};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;
use watchpost_core::model::{ComponentStatus, Resolution};
use watchpost_core::state::ImportedMaintenance;
use watchpost_core::store::{Select, Store, StoreError};
use watchpost_core::time::{Nanos, TimeRange};

/// How far back the first request (or the first after an outage) reaches.
pub const CATCH_UP: Nanos = 3_600_000_000_000;

const DEFAULT_URL: &str = "https://api.statuspage.io";

/// `type = "statuspage"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The page id.
    page_id: Option<String>,
    /// The API key. Use `${ENV_VAR}` or `api_key_file`.
    api_key: Option<Secret>,
    api_key_file: Option<String>,
    /// Watchpost component id → the Statuspage component id.
    components: Option<BTreeMap<String, String>>,
}

impl Config {
    pub(crate) fn check(self, t: &mut Table<'_>) -> Provided {
        let api_key = t.required_secret("api_key", self.api_key, self.api_key_file);
        let page_id = t.required("page_id", self.page_id.filter(|s| !s.trim().is_empty()));
        let mut components = Vec::new();
        for (component, id) in self.components.unwrap_or_default() {
            if id.trim().is_empty() {
                t.error(&format!("components.{component}"), "expected the Statuspage component id, a string");
                continue;
            }
            components.push(PublishedComponent { component, provider_id: id, container: None });
        }
        let provider = match (page_id, api_key) {
            (Some(page_id), Some(api_key)) => Some(Arc::new(Settings { page_id, api_key }) as Arc<dyn Provider>),
            _ => None,
        };
        Provided { provider, components, default_url: DEFAULT_URL }
    }
}

#[derive(Debug)]
pub struct Settings {
    pub page_id: String,
    pub api_key: Secret,
}

impl Provider for Settings {
    fn kind(&self) -> &'static str {
        "statuspage"
    }

    fn build(&self, cfg: &PublisherConfig) -> Arc<dyn Publisher> {
        Arc::new(Statuspage::new(cfg, &self.page_id, &self.api_key))
    }
}

pub struct Statuspage {
    name: String,
    page_id: String,
    api_key: Secret,
    metrics: Vec<PublishedMetric>,
    by_provider_id: std::collections::HashMap<String, String>,
    /// The newest minute the provider has accepted.
    sent_until: AtomicI64,
}

impl Statuspage {
    pub fn new(cfg: &PublisherConfig, page_id: &str, api_key: &Secret) -> Self {
        Statuspage {
            name: cfg.name.clone(),
            page_id: page_id.to_string(),
            api_key: api_key.clone(),
            metrics: cfg.metrics.clone(),
            by_provider_id: components_by_provider_id(cfg).into_iter().map(|(p, c)| (p.to_string(), c.to_string())).collect(),
            sent_until: AtomicI64::new(0),
        }
    }
}

/// The PATCH body.
pub fn status_body(status: ComponentStatus) -> Value {
    json!({ "component": { "status": status.as_str() } })
}

/// The bulk metrics body: `points` are (metric id, minute start, value).
pub fn metrics_body(points: &[(String, Nanos, f64)]) -> Value {
    let mut data = serde_json::Map::new();
    for (id, ts, value) in points {
        let list = data.entry(id.clone()).or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = list {
            a.push(json!({ "timestamp": ts / 1_000_000_000, "value": value }));
        }
    }
    json!({ "data": data })
}

/// Windows from the answers of `active_maintenance` and `upcoming`: those that name at least one mapped
/// component (a window on components Watchpost does not publish says nothing about its endpoints).
pub fn parse_incidents(
    answers: &[Value],
    by_provider_id: &std::collections::HashMap<String, String>,
) -> Result<Vec<ImportedMaintenance>, String> {
    let mut out: Vec<ImportedMaintenance> = Vec::new();
    for answer in answers {
        let list = answer.as_array().ok_or("expected a list of incidents")?;
        for i in list {
            let Some(id) = i.get("id").and_then(Value::as_str) else { continue };
            let provider =
                i.get("components").and_then(Value::as_array).into_iter().flatten().filter_map(|c| c.get("id").and_then(Value::as_str));
            let keys = ["/name", "/incident_updates/0/body", "scheduled_for", "scheduled_until"];
            if let Some(w) = imported(id, i, keys, provider, by_provider_id).filter(|_| !out.iter().any(|w| w.id == id)) {
                out.push(w);
            }
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Publisher for Statuspage {
    fn describe(&self) -> String {
        format!("statuspage {}", self.name)
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header(reqwest::header::AUTHORIZATION, format!("OAuth {}", self.api_key.expose()))
    }

    fn status_request(&self, component: &PublishedComponent, status: ComponentStatus) -> Outgoing {
        Outgoing {
            method: Method::PATCH,
            path: format!("/v1/pages/{}/components/{}", self.page_id, component.provider_id),
            body: Some(status_body(status)),
            what: format!("component {}", component.component),
            until: None,
        }
    }

    async fn metric_requests(&self, store: &dyn Store, now: Nanos) -> Result<Vec<Outgoing>, StoreError> {
        let from = self.sent_until.load(Ordering::Relaxed).max(now - CATCH_UP);
        let mut points = Vec::new();
        for m in &self.metrics {
            for r in store.rollups(Resolution::Minute, TimeRange::new(from + 1, now), Select::Endpoint(&m.endpoint)).await? {
                if r.series.region == m.region {
                    if let Some(v) = m.value.of(&r) {
                        points.push((m.id.clone(), r.ts, v));
                    }
                }
            }
        }
        let Some(until) = points.iter().map(|p| p.1).max() else { return Ok(vec![]) };
        Ok(vec![Outgoing {
            method: Method::POST,
            path: format!("/v1/pages/{}/metrics/data", self.page_id),
            what: format!("metrics ({} points)", points.len()),
            body: Some(metrics_body(&points)),
            until: Some(until),
        }])
    }

    fn sent(&self, request: &Outgoing) {
        if let Some(until) = request.until {
            self.sent_until.fetch_max(until, Ordering::Relaxed);
        }
    }

    fn maintenance_requests(&self) -> Vec<Outgoing> {
        ["active_maintenance", "upcoming"]
            .into_iter()
            .map(|list| Outgoing {
                method: Method::GET,
                path: format!("/v1/pages/{}/incidents/{list}", self.page_id),
                body: None,
                what: format!("maintenance ({list})"),
                until: None,
            })
            .collect()
    }

    fn parse_maintenances(&self, answers: &[Value]) -> Result<Vec<ImportedMaintenance>, String> {
        parse_incidents(answers, &self.by_provider_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchpost_core::maintenance::Scope;

    #[test]
    fn bodies_have_statuspages_shape() {
        assert_eq!(status_body(ComponentStatus::PartialOutage), json!({"component": {"status": "partial_outage"}}));
        let b = metrics_body(&[
            ("m1".into(), 60_000_000_000, 99.5),
            ("m1".into(), 120_000_000_000, 100.0),
            ("m2".into(), 60_000_000_000, 41.0),
        ]);
        assert_eq!(
            b,
            json!({"data": {"m1": [{"timestamp": 60, "value": 99.5}, {"timestamp": 120, "value": 100.0}], "m2": [{"timestamp": 60, "value": 41.0}]}})
        );
    }

    #[test]
    fn maintenances_on_published_components_are_imported() {
        let map = [("sp-pay".to_string(), "payments".to_string())].into_iter().collect();
        let answers = [
            json!([{"id": "a1", "name": "DB upgrade", "scheduled_for": "2026-11-24T01:00:00Z", "scheduled_until": "2026-11-24T02:00:00Z",
                    "components": [{"id": "sp-pay"}, {"id": "other"}], "incident_updates": [{"body": "We upgrade the database."}]}]),
            json!([{"id": "a1", "name": "dup", "scheduled_for": "2026-11-24T01:00:00Z", "scheduled_until": "2026-11-24T02:00:00Z", "components": [{"id": "sp-pay"}]},
                   {"id": "b2", "name": "elsewhere", "scheduled_for": "2026-11-24T01:00:00Z", "scheduled_until": "2026-11-24T02:00:00Z", "components": [{"id": "other"}]},
                   {"id": "c3", "name": "no times", "components": [{"id": "sp-pay"}]}]),
        ];
        let w = parse_incidents(&answers, &map).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        let m = &w[0].window;
        assert_eq!((w[0].id.as_str(), m.title.as_str(), m.body.as_str()), ("a1", "DB upgrade", "We upgrade the database."));
        assert_eq!(m.scope, Scope::Components(["payments".to_string()].into_iter().collect()));
        assert_eq!(m.ends_at - m.starts_at, 3_600_000_000_000);
        assert!(parse_incidents(&[json!({"error": "x"})], &map).is_err());
    }
}
