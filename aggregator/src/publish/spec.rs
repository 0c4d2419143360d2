//! What every publisher type shares: the keys every `[publishers.NAME]` has ([`Common`]), what a type's
//! file makes of its own ([`Provided`], [`Provider`]), and the validated [`PublisherConfig`]. A leaf: the
//! type files and the registry in `mod.rs` build on it; it knows none of them.

use super::Publisher;
use serde::Deserialize;
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::{defaults as d, Config};

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
    pub(super) fn check(self, t: &mut Table<'_>, name: String, shared: &Config, provided: Provided) -> Option<PublisherConfig> {
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
