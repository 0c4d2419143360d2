//! `[regions]` (how several regions vote, DESIGN.md §5.4) and `[publishers.NAME]` (hosted status pages that
//! get Watchpost's component statuses and metrics, §5.9).
//!
//! ```toml
//! [regions]
//! down_quorum = 2            # default: a majority of the regions reporting
//! stale_after = "1m"         # a region silent for longer does not vote (at least 3 probe intervals)
//! expected = ["eu-west", "us-east"]
//!
//! [publishers.hosted]
//! type = "statuspage"
//! page_id = "kctbh9vrtdwd"
//! api_key = "${STATUSPAGE_API_KEY}"
//! components = { payments = "8kbf7d35c070" }
//! metrics = [{ id = "ltw9kmrfyglk", endpoint = "payments-api", value = "latency_p95" }]
//! import_maintenance = true
//! ```

use super::check::{check_name, section};
use super::{defaults as d, Document};
use super::{ConfigErrors, EndpointConfig, HumanDuration, Secret, StatusPageConfig};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegions {
    /// Regions that must see an endpoint confirmed down for it to be down (default: a majority of those
    /// reporting); down in fewer is `degraded`.
    pub down_quorum: Option<u32>,
    /// A region whose newest point is older than this (and than three probe intervals) is silent: it is
    /// reported, and does not vote (default 1m).
    pub stale_after: Option<HumanDuration>,
    /// Regions that should report; one never heard from is reported silent too.
    pub expected: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegionsConfig {
    pub down_quorum: Option<u32>,
    pub stale_after: Duration,
    pub expected: Vec<String>,
}

impl Default for RegionsConfig {
    fn default() -> Self {
        RegionsConfig { down_quorum: None, stale_after: d::REGION_STALE_AFTER, expected: vec![] }
    }
}

impl RegionsConfig {
    /// How old an endpoint's latest state in a region may be and still count: `stale_after`, and never less
    /// than three of its probe intervals (an endpoint probed every 5 minutes is not silent after one).
    pub fn stale_for(&self, interval: Duration) -> Duration {
        self.stale_after.max(interval * 3)
    }
}

pub(super) fn regions(doc: &Document, value: Option<&Value>, errors: &mut ConfigErrors) -> RegionsConfig {
    let raw: RawRegions = value.and_then(|v| section(doc, "regions", v, errors)).unwrap_or_default();
    let expected = raw.expected.unwrap_or_default();
    for (i, r) in expected.iter().enumerate() {
        check_name(doc, &format!("regions.expected[{i}]"), r, errors);
    }
    if raw.down_quorum == Some(0) {
        errors.push(doc.error("regions.down_quorum", "must be at least 1 (leave it out for a majority)"));
    }
    let stale_after = raw.stale_after.map_or(d::REGION_STALE_AFTER, HumanDuration::as_duration);
    if stale_after < Duration::from_secs(1) {
        errors.push(doc.error("regions.stale_after", "is below 1s"));
    }
    RegionsConfig { down_quorum: raw.down_quorum.filter(|q| *q > 0), stale_after, expected }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPublisher {
    /// `statuspage` (Atlassian Statuspage) or `statusio`.
    #[serde(rename = "type")]
    pub kind: String,
    /// API base URL (default `https://api.statuspage.io` / `https://api.status.io`).
    pub url: Option<String>,
    /// statuspage: the page id.
    pub page_id: Option<String>,
    /// statusio: the status page id.
    pub statuspage_id: Option<String>,
    /// statusio: the API id (`x-api-id`). Use `${ENV_VAR}` or `api_id_file`.
    pub api_id: Option<Secret>,
    pub api_id_file: Option<String>,
    /// The API key. Use `${ENV_VAR}` or `api_key_file`.
    pub api_key: Option<Secret>,
    pub api_key_file: Option<String>,
    /// Watchpost component id -> the provider's component: its id (statuspage), or
    /// `{ component = "…", container = "…" }` (statusio).
    pub components: Option<BTreeMap<String, Value>>,
    /// Provider metrics fed from an endpoint's rollups.
    pub metrics: Option<Vec<RawMetric>>,
    /// Import the provider's scheduled maintenances as maintenance windows (default false).
    pub import_maintenance: Option<bool>,
    /// Requests per second to the provider at most (default 1, the providers' published limit).
    pub requests_per_second: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    /// The provider's metric id.
    pub id: String,
    /// The endpoint or check whose rollups feed it.
    pub endpoint: String,
    /// `availability` (percent), `latency_mean`, `latency_p95` or `latency_p99` (milliseconds).
    pub value: Option<String>,
    /// The region, or `all` for the merge of every region (default).
    pub region: Option<String>,
}

/// One hosted status page; one variant per `Publisher` implementation, matched in the aggregator's
/// `publish::build`.
#[derive(Debug, Clone)]
pub enum PublisherKind {
    Statuspage { page_id: String, api_key: Secret },
    StatusIo { statuspage_id: String, api_id: Secret, api_key: Secret },
}

#[derive(Debug, Clone)]
pub struct PublisherConfig {
    pub name: String,
    pub kind: PublisherKind,
    /// Without a trailing slash.
    pub url: String,
    pub components: Vec<PublishedComponent>,
    pub metrics: Vec<PublishedMetric>,
    pub import_maintenance: bool,
    pub requests_per_second: f64,
}

impl PublisherConfig {
    pub fn kind(&self) -> &'static str {
        match self.kind {
            PublisherKind::Statuspage { .. } => "statuspage",
            PublisherKind::StatusIo { .. } => "statusio",
        }
    }
}

/// A Watchpost component and where the provider keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedComponent {
    pub component: String,
    pub provider_id: String,
    /// status.io: the container (location) of the component.
    pub container: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricValue {
    Availability,
    LatencyMean,
    LatencyP95,
    LatencyP99,
}

impl MetricValue {
    /// The figure from one rollup, if it has it.
    pub fn of(self, r: &crate::model::RollupPoint) -> Option<f64> {
        match self {
            MetricValue::Availability => r.availability(),
            MetricValue::LatencyMean => r.latency_mean_ms,
            MetricValue::LatencyP95 => r.latency_p95_ms,
            MetricValue::LatencyP99 => r.latency_p99_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PublishedMetric {
    pub id: String,
    pub endpoint: String,
    pub value: MetricValue,
    pub region: String,
}

pub(super) fn publishers(
    doc: &Document,
    value: Option<&Value>,
    endpoints: &[EndpointConfig],
    statuspage: &StatusPageConfig,
    errors: &mut ConfigErrors,
) -> Vec<PublisherConfig> {
    let raw: BTreeMap<String, Value> = value.and_then(|v| section(doc, "publishers", v, errors)).unwrap_or_default();
    let mut out = Vec::new();
    for (name, v) in raw {
        let path = format!("publishers.{name}");
        check_name(doc, &path, &name, errors);
        if let Some(p) =
            section::<RawPublisher>(doc, &path, &v, errors).and_then(|r| publisher(doc, &path, name, r, endpoints, statuspage, errors))
        {
            out.push(p);
        }
    }
    out
}

fn publisher(
    doc: &Document,
    path: &str,
    name: String,
    r: RawPublisher,
    endpoints: &[EndpointConfig],
    statuspage: &StatusPageConfig,
    errors: &mut ConfigErrors,
) -> Option<PublisherConfig> {
    let k = |s: &str| format!("{path}.{s}");
    let (default_url, wrong): (&str, &[(&str, bool)]) = match r.kind.as_str() {
        "statuspage" => (
            "https://api.statuspage.io",
            &[("statuspage_id", r.statuspage_id.is_some()), ("api_id", r.api_id.is_some() || r.api_id_file.is_some())],
        ),
        "statusio" => ("https://api.status.io", &[("page_id", r.page_id.is_some())]),
        other => {
            errors.push(doc.error(&k("type"), format!("`{other}` is not one of statuspage, statusio")));
            return None;
        }
    };
    for (key, set) in wrong {
        if *set {
            errors.push(doc.error(&k(key), format!("is not a key of a {} publisher", r.kind)));
        }
    }
    let url = r.url.clone().unwrap_or_else(|| default_url.to_string());
    if let Err(e) = crate::http::parse_http_url(&url) {
        errors.push(doc.error(&k("url"), e));
    }
    let mut required_secret = |key: &str, inline: Option<Secret>, file: Option<String>| {
        let s = super::check::secret_or_file(doc, &k(key), inline, file, errors);
        if s.is_none() {
            errors.push(doc.error(path, format!("missing key `{key}` (or `{key}_file`)")));
        }
        s
    };
    let api_key = required_secret("api_key", r.api_key, r.api_key_file);
    let api_id = if r.kind == "statusio" { required_secret("api_id", r.api_id, r.api_id_file) } else { None };
    let id = |key: &str, v: Option<String>, errors: &mut ConfigErrors| match v.filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(s),
        None => {
            errors.push(doc.error(path, format!("missing key `{key}`")));
            None
        }
    };
    let kind = match r.kind.as_str() {
        "statuspage" => {
            let page_id = id("page_id", r.page_id, errors);
            PublisherKind::Statuspage { page_id: page_id?, api_key: api_key? }
        }
        _ => {
            let statuspage_id = id("statuspage_id", r.statuspage_id, errors);
            PublisherKind::StatusIo { statuspage_id: statuspage_id?, api_id: api_id?, api_key: api_key? }
        }
    };

    // Whether anything is asked for (a wrong entry is its own error, not also "publishes nothing").
    let asks = r.components.as_ref().is_some_and(|c| !c.is_empty())
        || r.metrics.as_ref().is_some_and(|m| !m.is_empty())
        || r.import_maintenance.unwrap_or(false);
    let mut components = Vec::new();
    for (component, v) in r.components.unwrap_or_default() {
        let key = k(&format!("components.{component}"));
        if !statuspage.components.iter().any(|c| c.id == component) {
            errors.push(doc.error(&key, format!("no component `{component}` in [[statuspage.components]]")));
        }
        let parsed = match (&kind, &v) {
            (PublisherKind::Statuspage { .. }, Value::String(s)) if !s.is_empty() => Some((s.clone(), None)),
            (PublisherKind::StatusIo { .. }, Value::Object(m)) => {
                let field = |f: &str| m.get(f).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
                match (field("component"), field("container")) {
                    (Some(c), Some(k)) if m.len() == 2 => Some((c, Some(k))),
                    _ => None,
                }
            }
            _ => None,
        };
        match parsed {
            Some((provider_id, container)) => components.push(PublishedComponent { component, provider_id, container }),
            None => errors.push(doc.error(
                &key,
                match kind {
                    PublisherKind::Statuspage { .. } => "expected the Statuspage component id, a string",
                    PublisherKind::StatusIo { .. } => "expected { component = \"…\", container = \"…\" } with status.io's ids",
                },
            )),
        }
    }

    let mut metrics = Vec::new();
    for (i, m) in r.metrics.unwrap_or_default().into_iter().enumerate() {
        let mk = |s: &str| k(&format!("metrics[{i}].{s}"));
        if !endpoints.iter().any(|e| e.id == m.endpoint) {
            errors.push(doc.error(&mk("endpoint"), format!("no endpoint or check `{}`", m.endpoint)));
        }
        if m.id.trim().is_empty() {
            errors.push(doc.error(&mk("id"), "is empty"));
        }
        let value = match m.value.as_deref().unwrap_or("availability") {
            "availability" => MetricValue::Availability,
            "latency_mean" => MetricValue::LatencyMean,
            "latency_p95" => MetricValue::LatencyP95,
            "latency_p99" => MetricValue::LatencyP99,
            other => {
                errors
                    .push(doc.error(&mk("value"), format!("`{other}` is not one of availability, latency_mean, latency_p95, latency_p99")));
                continue;
            }
        };
        let region = m.region.unwrap_or_else(|| crate::model::ALL_REGIONS.to_string());
        metrics.push(PublishedMetric { id: m.id, endpoint: m.endpoint, value, region });
    }
    if !asks {
        errors.push(doc.error(path, "publishes nothing: give `components`, `metrics` or `import_maintenance = true`"));
    }
    let requests_per_second = r.requests_per_second.unwrap_or(d::PUBLISH_REQUESTS_PER_SECOND);
    if !(requests_per_second > 0.0 && requests_per_second <= 100.0) {
        errors.push(doc.error(&k("requests_per_second"), "must be more than 0 and at most 100"));
    }
    Some(PublisherConfig {
        name,
        kind,
        url: url.trim_end_matches('/').to_string(),
        components,
        metrics,
        import_maintenance: r.import_maintenance.unwrap_or(false),
        requests_per_second,
    })
}
