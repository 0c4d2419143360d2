//! Publishers (DESIGN.md §5.9): hosted status pages (Atlassian Statuspage, status.io) kept in step with what
//! Watchpost sees: component status on change, metrics from the rollups at most once a minute, and, where
//! asked, the provider's scheduled maintenances imported as maintenance windows.
//!
//! One task computes every component's status every [`BOARD_INTERVAL`] from the latest states (by region
//! vote, `watchpost_core::health`), the maintenance windows and the open incidents, and offers it on a
//! `watch` channel: it holds only the newest board, so a slow or unreachable provider never builds a queue,
//! and what it receives once it answers again is the present, not a replay (latest state wins).
//!
//! One task per publisher then works through what differs between the board and what the provider last
//! accepted, worst status first, and between those sends one metric request at a time: at most
//! `requests_per_second` (1 by default, the providers' published limit) through one [`Pacer`]. A 429 waits
//! its `Retry-After` (or a backoff) before any further request with that key; 5xx and network errors back off
//! and are retried with whatever is current then; other refusals (a wrong component id) are logged once per
//! status and not repeated. Keys go only into request headers: never into logs or errors.
//!
//! Each provider is one file behind [`Publisher`], registered in [`PublisherSpec`]; its payloads are built by pure
//! functions, tested against the providers' published schemas by the stand-ins in `tests/`.

mod board;
mod pacer;
pub mod spec;
pub mod statusio;
pub mod statuspage;
mod worker;

use board::*;
pub use board::{board, Board};
pub use pacer::Pacer;
use worker::*;

use crate::metrics::AggregatorMetrics;
use backon::BackoffBuilder;
use serde::Deserialize;
use serde_json::Value;
use spec::Common;
pub use spec::{MetricValue, PublishedComponent, PublishedMetric, PublisherConfig};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use watchpost_core::config::check::{check_name, other_keys, section, struct_keys, tagged, Table};
use watchpost_core::config::Config;
use watchpost_core::config::{ConfigErrors, Document};
use watchpost_core::health::{component_status, RegionReport, Voting};
use watchpost_core::maintenance::{self, MaintenanceSource, Window};
use watchpost_core::model::{ComponentStatus, EndpointState};
use watchpost_core::state::{ImportedMaintenance, Incident, NewMaintenance, StateDb};
use watchpost_core::store::{Store, StoreError};
use watchpost_core::time::{now_nanos, Nanos, TimeRange};

/// How often component statuses are recomputed.
pub const BOARD_INTERVAL: Duration = Duration::from_secs(5);
/// Metrics are sent at most this often (status.io's whole-series update is meant for once a minute).
pub const METRICS_INTERVAL: Duration = Duration::from_secs(60);
/// Scheduled maintenances are imported this often.
pub const IMPORT_INTERVAL: Duration = Duration::from_secs(300);
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// 429: wait (at least `Retry-After`) before the next request with this key.
    #[error("rate limited by the provider")]
    Throttled { retry_after: Option<Duration> },
    /// 5xx, 408, timeouts, refused connections: try again later with whatever is current then.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// Any other answer: this request will not succeed by repeating it.
    #[error("the provider refused the request: {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One request to a provider, built by a pure function.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub method: reqwest::Method,
    /// Appended to the publisher's base URL.
    pub path: String,
    pub body: Option<serde_json::Value>,
    /// For logs: `component payments`, `metrics (3)`.
    pub what: String,
    /// What the request brings the provider up to (metrics sent until this instant), acknowledged by
    /// [`Publisher::sent`] when it succeeds.
    pub until: Option<Nanos>,
}

/// A hosted status page.
#[async_trait::async_trait]
pub trait Publisher: Send + Sync {
    /// `statuspage hosted` (type and name; never a key).
    fn describe(&self) -> String;
    /// Adds the provider's credentials to a request.
    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder;
    /// The request that sets one component's status.
    fn status_request(&self, component: &PublishedComponent, status: ComponentStatus) -> Outgoing;
    /// The requests that bring the provider's metrics up to what the store holds at `now`.
    async fn metric_requests(&self, store: &dyn Store, now: Nanos) -> Result<Vec<Outgoing>, StoreError>;
    /// A metric request succeeded.
    fn sent(&self, _request: &Outgoing) {}
    /// The requests that list the provider's active and upcoming maintenances.
    fn maintenance_requests(&self) -> Vec<Outgoing>;
    /// The windows in the answers to [`Publisher::maintenance_requests`], in the same order.
    fn parse_maintenances(&self, answers: &[serde_json::Value]) -> Result<Vec<ImportedMaintenance>, String>;
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
    fn check(self, t: &mut Table<'_>) -> spec::Provided {
        match self {
            PublisherSpec::Statuspage(c) => c.check(t),
            PublisherSpec::StatusIo(c) => c.check(t),
        }
    }
}

pub(crate) fn publishers(doc: &Document, value: Option<&Value>, shared: &Config, errors: &mut ConfigErrors) -> Vec<PublisherConfig> {
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

/// A publisher as configured (its type's `Provider` builds it; types are registered in
/// [`PublisherSpec`]).
pub fn build(cfg: &PublisherConfig) -> Arc<dyn Publisher> {
    cfg.provider.build(cfg)
}

/// Sends one request; classifies the answer.
pub async fn send(client: &reqwest::Client, base: &str, p: &dyn Publisher, o: &Outgoing) -> Result<serde_json::Value, PublishError> {
    let mut rb = p.authorize(client.request(o.method.clone(), format!("{base}{}", o.path)));
    if let Some(body) = &o.body {
        rb = rb.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string());
    }
    let resp = rb.send().await.map_err(|e| PublishError::Unavailable(watchpost_core::http::error_text(&e)))?;
    let status = resp.status();
    let retry_after = watchpost_core::http::retry_after(resp.headers());
    let text = resp.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null));
    }
    let mut body: String = text.chars().take(200).collect();
    body.retain(|c| !c.is_control());
    Err(match status.as_u16() {
        429 => PublishError::Throttled { retry_after },
        408 | 500..=599 => PublishError::Unavailable(format!("{status}: {body}")),
        code => PublishError::Rejected { status: code, body },
    })
}

/// Starts the board and one task per configured publisher; returns when `stop` turns true. Also keeps the
/// region gauges of `/metrics` current (a region that went silent is reported there, not read as an outage).
pub async fn run(
    cfg: Arc<Config>,
    publishers: Vec<PublisherConfig>,
    store: Arc<dyn Store>,
    metrics: Arc<AggregatorMetrics>,
    stop: watch::Receiver<bool>,
) {
    let (tx, rx) = watch::channel(Arc::new(Board::default()));
    let mut tasks = tokio::task::JoinSet::new();
    let state = if publishers.is_empty() {
        None
    } else {
        match StateDb::open(&cfg.state.path).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the state database: incidents do not reach the publishers, maintenances are not imported");
                None
            }
        }
    };
    for p in &publishers {
        let worker = Worker::new(p, build(p), store.clone(), metrics.clone(), state.clone());
        tasks.spawn(worker.run(rx.clone(), stop.clone()));
    }
    keep_board(&cfg, &*store, state.as_ref(), &metrics, &tx, stop).await;
    while tasks.join_next().await.is_some() {}
}

/// Watchpost components by the provider's id, for imported windows.
pub fn components_by_provider_id(cfg: &PublisherConfig) -> HashMap<&str, &str> {
    cfg.components.iter().map(|c| (c.provider_id.as_str(), c.component.as_str())).collect()
}

/// A provider's maintenance as a window on the Watchpost components it names, if it names any we publish (a
/// window on other components says nothing about our endpoints) and has a positive length.
pub fn imported<'a>(
    id: &str,
    m: &serde_json::Value,
    keys: [&str; 4],
    provider_components: impl Iterator<Item = &'a str>,
    by_provider_id: &HashMap<String, String>,
) -> Option<ImportedMaintenance> {
    let [title, body, start, end] = keys;
    let (start, end) = (parse_time(m.get(start))?, parse_time(m.get(end))?);
    let components: std::collections::BTreeSet<String> = provider_components.filter_map(|p| by_provider_id.get(p).cloned()).collect();
    let text = |k: &str| m.pointer(k).and_then(serde_json::Value::as_str).map(str::to_string);
    (!components.is_empty() && end > start).then(|| ImportedMaintenance {
        id: id.to_string(),
        window: NewMaintenance {
            title: text(title).unwrap_or_else(|| "Scheduled maintenance".into()),
            body: text(body).unwrap_or_default(),
            scope: watchpost_core::maintenance::Scope::Components(components),
            starts_at: start,
            ends_at: end,
        },
    })
}

/// An RFC 3339 timestamp from a provider, in nanoseconds.
pub fn parse_time(v: Option<&serde_json::Value>) -> Option<Nanos> {
    v?.as_str()?.parse::<jiff::Timestamp>().ok().and_then(|t| i64::try_from(t.as_nanosecond()).ok())
}
