//! status.io (`https://api.status.io/v2`, headers `x-api-id` and `x-api-key`).
//!
//! - Component status: `POST /component/status/update` with the component and its container and a status
//!   code (DESIGN.md §5.7: 100 operational, 200 planned maintenance, 300 degraded performance, 400 partial
//!   service disruption, 500 service disruption).
//! - Metrics: `POST /metric/update` replaces a metric's whole series: the last 24 closed hours, 7 and 30 closed
//!   UTC days, each with its average, the ISO 8601 dates of its buckets and the UNIX start of the first.
//!   Built from the hour and day rollups. A bucket without a rollup (a new endpoint, a gap) repeats the value
//!   before it (the first known one at the start) so the chart has no false drop; the averages are over the
//!   buckets that have data. A metric with no rollup at all is not sent.
//! - Maintenance: `GET /maintenance/list/{statuspage_id}` (`active_maintenances` and
//!   `upcoming_maintenances`, each with `datetime_planned_start` / `_end` and its components).

use super::spec::{Provided, Provider, PublishedComponent, PublishedMetric, PublisherConfig};
use super::{components_by_provider_id, imported, Outgoing, Publisher};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;
use watchpost_core::model::{ComponentStatus, Resolution};
use watchpost_core::state::ImportedMaintenance;
use watchpost_core::store::{Select, Store, StoreError};
use watchpost_core::time::{format_rfc3339, Nanos, TimeRange};

const HOUR: Nanos = 3_600_000_000_000;
const DAY: Nanos = 24 * HOUR;

const DEFAULT_URL: &str = "https://api.status.io";

/// `type = "statusio"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The status page id.
    statuspage_id: Option<String>,
    /// The API id (`x-api-id`). Use `${ENV_VAR}` or `api_id_file`.
    api_id: Option<Secret>,
    api_id_file: Option<String>,
    /// The API key. Use `${ENV_VAR}` or `api_key_file`.
    api_key: Option<Secret>,
    api_key_file: Option<String>,
    /// Watchpost component id → `{ component = "…", container = "…" }` with status.io's ids.
    components: Option<BTreeMap<String, Place>>,
}

/// Where status.io keeps a component: its id and its container (location).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    component: String,
    container: String,
}

impl Config {
    pub(crate) fn check(self, t: &mut Table<'_>) -> Provided {
        let api_key = t.required_secret("api_key", self.api_key, self.api_key_file);
        let api_id = t.required_secret("api_id", self.api_id, self.api_id_file);
        let statuspage_id = t.required("statuspage_id", self.statuspage_id.filter(|s| !s.trim().is_empty()));
        let mut components = Vec::new();
        for (component, place) in self.components.unwrap_or_default() {
            if place.component.trim().is_empty() || place.container.trim().is_empty() {
                t.error(&format!("components.{component}"), "expected { component = \"…\", container = \"…\" } with status.io's ids");
                continue;
            }
            components.push(PublishedComponent { component, provider_id: place.component, container: Some(place.container) });
        }
        let provider = match (statuspage_id, api_id, api_key) {
            (Some(statuspage_id), Some(api_id), Some(api_key)) => {
                Some(Arc::new(Settings { statuspage_id, api_id, api_key }) as Arc<dyn Provider>)
            }
            _ => None,
        };
        Provided { provider, components, default_url: DEFAULT_URL }
    }
}

#[derive(Debug)]
pub struct Settings {
    pub statuspage_id: String,
    pub api_id: Secret,
    pub api_key: Secret,
}

impl Provider for Settings {
    fn kind(&self) -> &'static str {
        "statusio"
    }

    fn build(&self, cfg: &PublisherConfig) -> Arc<dyn Publisher> {
        Arc::new(StatusIo::new(cfg, &self.statuspage_id, &self.api_id, &self.api_key))
    }
}

pub struct StatusIo {
    name: String,
    statuspage_id: String,
    api_id: Secret,
    api_key: Secret,
    metrics: Vec<PublishedMetric>,
    by_provider_id: HashMap<String, String>,
}

impl StatusIo {
    pub fn new(cfg: &PublisherConfig, statuspage_id: &str, api_id: &Secret, api_key: &Secret) -> Self {
        StatusIo {
            name: cfg.name.clone(),
            statuspage_id: statuspage_id.to_string(),
            api_id: api_id.clone(),
            api_key: api_key.clone(),
            metrics: cfg.metrics.clone(),
            by_provider_id: components_by_provider_id(cfg).into_iter().map(|(p, c)| (p.to_string(), c.to_string())).collect(),
        }
    }
}

/// status.io's code for a status.
pub fn status_code(status: ComponentStatus) -> u16 {
    match status {
        ComponentStatus::Operational => 100,
        ComponentStatus::UnderMaintenance => 200,
        ComponentStatus::DegradedPerformance => 300,
        ComponentStatus::PartialOutage => 400,
        ComponentStatus::MajorOutage => 500,
    }
}

pub fn status_body(statuspage_id: &str, component: &PublishedComponent, status: ComponentStatus) -> Value {
    json!({
        "statuspage_id": statuspage_id,
        "component": component.provider_id,
        "container": component.container.as_deref().unwrap_or_default(),
        "details": format!("{} (Watchpost)", status.label()),
        "current_status": status_code(status),
    })
}

/// The values of buckets starting at `starts`, from `known` (bucket start -> value), and the average of the
/// known ones; `None` when none is known.
pub fn series(starts: &[Nanos], known: &BTreeMap<Nanos, f64>) -> Option<(Vec<f64>, f64)> {
    let present: Vec<f64> = starts.iter().filter_map(|s| known.get(s).copied()).collect();
    let first = *present.first()?;
    let avg = present.iter().sum::<f64>() / present.len() as f64;
    let mut last = first;
    let values = starts
        .iter()
        .map(|s| {
            if let Some(v) = known.get(s) {
                last = *v;
            }
            last
        })
        .collect();
    Some((values, avg))
}

/// The whole-series body of one metric at `now` from its hour and day values (bucket start -> value).
pub fn metric_body(
    statuspage_id: &str,
    metric_id: &str,
    hours: &BTreeMap<Nanos, f64>,
    days: &BTreeMap<Nanos, f64>,
    now: Nanos,
) -> Option<Value> {
    let buckets = |n: i64, size: Nanos| -> Vec<Nanos> {
        let end = now - now.rem_euclid(size);
        (0..n).rev().map(|i| end - (i + 1) * size).collect()
    };
    let (day_starts, week_starts, month_starts) = (buckets(24, HOUR), buckets(7, DAY), buckets(30, DAY));
    // A metric is sent when it has any data; periods without any repeat the nearest value of a longer one.
    let month = series(&month_starts, days).or_else(|| hours.values().last().map(|v| (vec![*v; 30], *v)))?;
    let week = series(&week_starts, days).unwrap_or_else(|| (vec![month.1; 7], month.1));
    let day = series(&day_starts, hours).unwrap_or_else(|| (vec![week.1; 24], week.1));
    let dates = |s: &[Nanos]| s.iter().map(|t| format_rfc3339(*t)).collect::<Vec<_>>();
    let secs = |s: &[Nanos]| s[0] / 1_000_000_000;
    Some(json!({
        "statuspage_id": statuspage_id,
        "metric_id": metric_id,
        "day_avg": day.1,
        "day_start": secs(&day_starts),
        "day_dates": dates(&day_starts),
        "day_values": day.0,
        "week_avg": week.1,
        "week_start": secs(&week_starts),
        "week_dates": dates(&week_starts),
        "week_values": week.0,
        "month_avg": month.1,
        "month_start": secs(&month_starts),
        "month_dates": dates(&month_starts),
        "month_values": month.0,
    }))
}

/// Windows from the answer of `/maintenance/list`.
pub fn parse_list(answer: &Value, by_provider_id: &HashMap<String, String>) -> Result<Vec<ImportedMaintenance>, String> {
    let result = answer.get("result").ok_or("no `result` in the answer")?;
    let mut out: Vec<ImportedMaintenance> = Vec::new();
    for key in ["active_maintenances", "upcoming_maintenances"] {
        for m in result.get(key).and_then(Value::as_array).into_iter().flatten() {
            let Some(id) = m.get("_id").and_then(Value::as_str) else { continue };
            let provider =
                m.get("components").and_then(Value::as_array).into_iter().flatten().filter_map(|c| c.get("_id").and_then(Value::as_str));
            let keys = ["/name", "/details", "datetime_planned_start", "datetime_planned_end"];
            if let Some(w) = imported(id, m, keys, provider, by_provider_id).filter(|_| !out.iter().any(|w| w.id == id)) {
                out.push(w);
            }
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Publisher for StatusIo {
    fn describe(&self) -> String {
        format!("statusio {}", self.name)
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header("x-api-id", self.api_id.expose()).header("x-api-key", self.api_key.expose())
    }

    fn status_request(&self, component: &PublishedComponent, status: ComponentStatus) -> Outgoing {
        Outgoing {
            method: Method::POST,
            path: "/v2/component/status/update".into(),
            body: Some(status_body(&self.statuspage_id, component, status)),
            what: format!("component {}", component.component),
            until: None,
        }
    }

    async fn metric_requests(&self, store: &dyn Store, now: Nanos) -> Result<Vec<Outgoing>, StoreError> {
        let mut out = Vec::new();
        // One read per resolution and endpoint, shared by the metrics of that endpoint.
        let mut cache: HashMap<(&str, Resolution), Vec<watchpost_core::model::RollupPoint>> = HashMap::new();
        for m in &self.metrics {
            for (res, back) in [(Resolution::Hour, 25 * HOUR), (Resolution::Day, 31 * DAY)] {
                if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry((m.endpoint.as_str(), res)) {
                    slot.insert(store.rollups(res, TimeRange::new(now - back, now), Select::Endpoint(&m.endpoint)).await?);
                }
            }
            let values = |res: Resolution| -> BTreeMap<Nanos, f64> {
                cache
                    .get(&(m.endpoint.as_str(), res))
                    .into_iter()
                    .flatten()
                    .filter(|r| r.series.region == m.region)
                    .filter_map(|r| m.value.of(r).map(|v| (r.ts, v)))
                    .collect()
            };
            let (hours, days) = (values(Resolution::Hour), values(Resolution::Day));
            if let Some(body) = metric_body(&self.statuspage_id, &m.id, &hours, &days, now) {
                out.push(Outgoing {
                    method: Method::POST,
                    path: "/v2/metric/update".into(),
                    body: Some(body),
                    what: format!("metric {}", m.id),
                    until: None,
                });
            }
        }
        Ok(out)
    }

    fn maintenance_requests(&self) -> Vec<Outgoing> {
        vec![Outgoing {
            method: Method::GET,
            path: format!("/v2/maintenance/list/{}", self.statuspage_id),
            body: None,
            what: "maintenance list".into(),
            until: None,
        }]
    }

    fn parse_maintenances(&self, answers: &[Value]) -> Result<Vec<ImportedMaintenance>, String> {
        let mut out = Vec::new();
        for a in answers {
            out.extend(parse_list(a, &self.by_provider_id)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_follow_the_design() {
        let codes: Vec<u16> = ComponentStatus::ALL.iter().map(|s| status_code(*s)).collect();
        assert_eq!(codes, vec![100, 200, 300, 400, 500]);
        let c = PublishedComponent { component: "payments".into(), provider_id: "c1".into(), container: Some("k1".into()) };
        let b = status_body("page", &c, ComponentStatus::PartialOutage);
        assert_eq!((b["component"].as_str(), b["container"].as_str(), b["current_status"].as_u64()), (Some("c1"), Some("k1"), Some(400)));
    }

    #[test]
    fn a_series_repeats_the_last_value_over_gaps_and_averages_the_known() {
        let known: BTreeMap<Nanos, f64> = [(2, 50.0), (4, 100.0)].into_iter().collect();
        assert_eq!(series(&[1, 2, 3, 4], &known), Some((vec![50.0, 50.0, 50.0, 100.0], 75.0)));
        assert_eq!(series(&[7, 8], &known), None);
    }

    #[test]
    fn a_metric_body_has_every_documented_field_with_the_right_lengths() {
        let now = 100 * DAY + 5 * HOUR + 17;
        let hours: BTreeMap<Nanos, f64> = (1..=24).map(|i| (100 * DAY + 5 * HOUR - i * HOUR, 99.0)).collect();
        let days: BTreeMap<Nanos, f64> = (1..=30).map(|i| (100 * DAY - i * DAY, 99.5)).collect();
        let b = metric_body("page", "m1", &hours, &days, now).unwrap();
        for (k, n) in [("day", 24), ("week", 7), ("month", 30)] {
            assert_eq!(b[format!("{k}_dates")].as_array().map(Vec::len), Some(n), "{k}");
            assert_eq!(b[format!("{k}_values")].as_array().map(Vec::len), Some(n), "{k}");
            assert!(b[format!("{k}_avg")].is_f64() && b[format!("{k}_start")].is_i64(), "{k}");
        }
        assert_eq!(b["day_start"].as_i64(), Some((100 * DAY + 5 * HOUR - 24 * HOUR) / 1_000_000_000));
        assert_eq!(b["month_avg"].as_f64(), Some(99.5));
        assert!(metric_body("page", "m1", &BTreeMap::new(), &BTreeMap::new(), now).is_none(), "no data, no update");
    }

    #[test]
    fn maintenances_on_published_components_are_imported() {
        let map = [("io-pay".to_string(), "payments".to_string())].into_iter().collect();
        let answer = json!({"status": {"error": "no"}, "result": {
            "active_maintenances": [{"_id": "m1", "name": "Network", "details": "Switch swap", "datetime_planned_start": "2026-11-24T01:00:00.000Z",
                                     "datetime_planned_end": "2026-11-24T03:00:00.000Z", "components": [{"_id": "io-pay", "name": "Payments"}]}],
            "upcoming_maintenances": [{"_id": "m2", "name": "Other", "datetime_planned_start": "2026-11-25T01:00:00.000Z",
                                       "datetime_planned_end": "2026-11-25T03:00:00.000Z", "components": [{"_id": "x"}]}]}});
        let w = parse_list(&answer, &map).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].id.as_str(), w[0].window.body.as_str()), ("m1", "Switch swap"));
        assert!(parse_list(&json!({"status": {"error": "yes"}}), &map).is_err());
    }
}
