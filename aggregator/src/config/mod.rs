//! The aggregator's own sections: `[publishers.NAME]` (hosted status pages that get Watchpost's component
//! statuses and metrics, DESIGN.md §5.9) and `[sla.NAME]` (partners' SLA reports, §5.6), checked against the
//! shared names (components, endpoints) of the core configuration.
//!
//! ```toml
//! [publishers.hosted]
//! type = "statuspage"
//! page_id = "kctbh9vrtdwd"
//! api_key = "${STATUSPAGE_API_KEY}"
//! components = { payments = "8kbf7d35c070" }
//! metrics = [{ id = "ltw9kmrfyglk", endpoint = "payments-api", value = "latency_p95" }]
//! import_maintenance = true
//! ```
//!
//! Each publisher type's keys are its own file's `Config` (under `publish/`), registered in
//! [`PublisherSpec`]; the keys every type has are checked once, in [`Common::check`].

mod sla;

pub use sla::SlaConfig;

use crate::publish::{statusio, statuspage, Publisher};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use watchpost_core::config::check::{check_name, other_keys, section, struct_keys, tagged, Table};
use watchpost_core::config::{defaults as d, Config, ConfigErrors, Document};

/// The aggregator's sections, validated.
#[derive(Debug, Clone, Default)]
pub struct AggregatorParts {
    /// `[publishers.NAME]`, by name.
    pub publishers: Vec<PublisherConfig>,
    /// `[sla.NAME]`: SLA report definitions by name.
    pub sla: BTreeMap<String, SlaConfig>,
}

impl AggregatorParts {
    /// The `sla:` lines of `watchpost check-config`'s summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for sla in self.sla.values() {
            out.push_str(&format!(
                "sla:       {} ({}): {} % for {}, latency objective {}, periods in {}\n",
                sla.name,
                sla.title,
                sla.target,
                sla.components.join(", "),
                watchpost_core::config::format_duration(sla.latency_objective),
                sla.tz_name
            ));
        }
        out
    }

    /// Parses configuration text, shared sections and the aggregator's, with every error of both (tools and
    /// tests; the binary assembles all parts the same way).
    pub fn parse(
        file: &str,
        format: watchpost_core::config::Format,
        text: &str,
        env: &std::collections::HashMap<String, String>,
    ) -> Result<(Config, AggregatorParts), ConfigErrors> {
        let doc = Document::parse(file, format, text, env)?;
        let (shared, mut errors) = Config::from_document(&doc)?;
        let parts = AggregatorParts::from_document(&doc, &shared, &mut errors);
        errors.into_result((shared, parts))
    }

    /// Phase two of `[publishers]` and `[sla]`: every error goes to `errors`, with its key path and line.
    pub fn from_document(doc: &Document, shared: &Config, errors: &mut ConfigErrors) -> AggregatorParts {
        let root = match &doc.tree {
            Value::Object(root) => Some(root),
            _ => None,
        };
        let get = |key: &str| root.and_then(|r| r.get(key));
        AggregatorParts {
            publishers: publishers(doc, get("publishers"), shared, errors),
            sla: sla::reports(doc, get("sla"), shared, errors),
        }
    }
}

/// The provider keys of `[publishers.NAME]`, read by its `type` (`check::tagged`): one variant per publisher
/// type, each the configuration struct of its own file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublisherSpec {
    Statuspage(statuspage::Config),
    StatusIo(statusio::Config),
}

impl PublisherSpec {
    /// The one place publisher types are registered.
    fn check(self, t: &mut Table<'_>) -> Provided {
        match self {
            PublisherSpec::Statuspage(c) => c.check(t),
            PublisherSpec::StatusIo(c) => c.check(t),
        }
    }
}

/// What a publisher type's file makes of its keys: its settings (`None` when they have errors), where the
/// provider keeps each component, and the API's default base URL.
pub struct Provided {
    pub provider: Option<Arc<dyn Provider>>,
    pub components: Vec<PublishedComponent>,
    pub default_url: &'static str,
}

/// A publisher type's validated settings (its ids and keys): what the rest of the aggregator knows of it.
pub trait Provider: std::fmt::Debug + Send + Sync {
    /// The `type` it was configured with: `source` of the windows it imports, and logs.
    fn kind(&self) -> &'static str;
    fn build(&self, cfg: &PublisherConfig) -> Arc<dyn Publisher>;
}

#[derive(Debug, Clone)]
pub struct PublisherConfig {
    pub name: String,
    pub provider: Arc<dyn Provider>,
    /// Without a trailing slash.
    pub url: String,
    pub components: Vec<PublishedComponent>,
    pub metrics: Vec<PublishedMetric>,
    pub import_maintenance: bool,
    pub requests_per_second: f64,
}

impl PublisherConfig {
    pub fn kind(&self) -> &'static str {
        self.provider.kind()
    }
}

/// `[publishers.NAME]`: the keys every publisher has; `type` and the rest of the table belong to the type's
/// own file. Read from the whole table, so without `deny_unknown_fields`: the type's struct refuses the keys
/// neither knows.
#[derive(Debug, Deserialize)]
pub struct Common {
    /// API base URL (default: the provider's).
    pub url: Option<String>,
    /// Provider metrics fed from an endpoint's rollups.
    pub metrics: Option<Vec<RawMetric>>,
    /// Import the provider's scheduled maintenances as maintenance windows (default false).
    pub import_maintenance: Option<bool>,
    /// Requests per second to the provider at most (default 1, the providers' published limit).
    pub requests_per_second: Option<f64>,
}

impl Common {
    /// Checks the common keys and the component mapping (Watchpost component → where the provider keeps
    /// it), and assembles the publisher.
    fn check(self, t: &mut Table<'_>, name: String, shared: &Config, provided: Provided) -> Option<PublisherConfig> {
        let Provided { provider, components, default_url } = provided;
        let url = t.url("url", self.url, Some(default_url));
        for c in &components {
            if !shared.components.iter().any(|x| x.id == c.component) {
                t.error(&format!("components.{}", c.component), format!("no component `{}` in [[statuspage.components]]", c.component));
            }
        }
        // Whether anything is asked for (a wrong entry, dropped with its error, is not also "publishes nothing").
        let wrong_entry = t.errors.iter().any(|e| e.key.starts_with(&format!("{}.", t.path)));
        let asks = !components.is_empty()
            || self.metrics.as_ref().is_some_and(|m| !m.is_empty())
            || self.import_maintenance.unwrap_or(false)
            || wrong_entry;
        let (doc, path, errors) = (t.doc, t.path, &mut *t.errors);
        let k = |s: &str| format!("{path}.{s}");
        let endpoints = &shared.endpoints;
        let mut metrics = Vec::new();
        for (i, m) in self.metrics.unwrap_or_default().into_iter().enumerate() {
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
                    errors.push(
                        doc.error(&mk("value"), format!("`{other}` is not one of availability, latency_mean, latency_p95, latency_p99")),
                    );
                    continue;
                }
            };
            let region = m.region.unwrap_or_else(|| watchpost_core::model::ALL_REGIONS.to_string());
            metrics.push(PublishedMetric { id: m.id, endpoint: m.endpoint, value, region });
        }
        if !asks {
            t.error("", "publishes nothing: give `components`, `metrics` or `import_maintenance = true`");
        }
        let requests_per_second = self.requests_per_second.unwrap_or(d::PUBLISH_REQUESTS_PER_SECOND);
        if !(requests_per_second > 0.0 && requests_per_second <= 100.0) {
            t.error("requests_per_second", "must be more than 0 and at most 100");
        }
        Some(PublisherConfig {
            name,
            provider: provider?,
            url: url?,
            components,
            metrics,
            import_maintenance: self.import_maintenance.unwrap_or(false),
            requests_per_second,
        })
    }
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
    pub fn of(self, r: &watchpost_core::model::RollupPoint) -> Option<f64> {
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

fn publishers(doc: &Document, value: Option<&Value>, shared: &Config, errors: &mut ConfigErrors) -> Vec<PublisherConfig> {
    let raw: BTreeMap<String, Value> = value.and_then(|v| section(doc, "publishers", v, errors)).unwrap_or_default();
    let mut out = Vec::new();
    let common = struct_keys::<Common>();
    for (name, v) in raw {
        let path = format!("publishers.{name}");
        check_name(doc, &path, &name, errors);
        let provider_keys = other_keys(&v, common);
        let common = section::<Common>(doc, &path, &v, errors);
        let spec = tagged::<PublisherSpec>(doc, &path, provider_keys, None, Some("publisher"), errors);
        let mut t = Table { doc, path: &path, errors };
        let (Some(common), Some((_, spec))) = (common, spec) else { continue };
        let provided = spec.check(&mut t);
        out.extend(common.check(&mut t, name, shared, provided));
    }
    out
}
