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
//! Each provider is one file behind [`Publisher`], registered in [`build`]; its payloads are built by pure
//! functions, tested against the providers' published schemas by the stand-ins in `tests/`.

pub mod statusio;
pub mod statuspage;

use crate::metrics::AggregatorMetrics;
use backon::BackoffBuilder;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use watchpost_core::config::{Config, PublishedComponent, PublisherConfig, PublisherKind};
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

/// The one place publishers are registered.
pub fn build(cfg: &PublisherConfig) -> Arc<dyn Publisher> {
    match &cfg.kind {
        PublisherKind::Statuspage { page_id, api_key } => Arc::new(statuspage::Statuspage::new(cfg, page_id, api_key)),
        PublisherKind::StatusIo { statuspage_id, api_id, api_key } => {
            Arc::new(statusio::StatusIo::new(cfg, statuspage_id, api_id, api_key))
        }
    }
}

/// What every component's status is now, and how the regions report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Board {
    pub at: Nanos,
    pub components: BTreeMap<String, ComponentStatus>,
    pub regions: Vec<RegionReport>,
}

/// The board from what was read: the same rules as the status page (`watchpost_core::health`).
pub fn board(cfg: &Config, voting: &Voting, states: &[EndpointState], windows: &[Window], incidents: &[Incident], now: Nanos) -> Board {
    let mut by_endpoint: HashMap<&str, Vec<&EndpointState>> = HashMap::new();
    for s in states {
        by_endpoint.entry(s.endpoint.as_str()).or_default().push(s);
    }
    let component_of: HashMap<&str, &str> =
        cfg.endpoints.iter().filter_map(|e| e.component.as_deref().map(|c| (e.id.as_str(), c))).collect();
    let active: Vec<&Window> = windows.iter().filter(|w| w.contains(now)).collect();
    let mut components = BTreeMap::new();
    for c in &cfg.statuspage.components {
        let health: Vec<_> = c
            .endpoints
            .iter()
            .map(|e| {
                let component = component_of.get(e.as_str()).copied().unwrap_or("");
                let maint = active.iter().any(|w| w.scope.covers(e, component));
                (voting.health(e, by_endpoint.get(e.as_str()).into_iter().flatten().copied(), now), maint)
            })
            .collect();
        let declared = incidents
            .iter()
            .filter(|i| !i.is_resolved())
            .flat_map(|i| i.components.iter())
            .filter(|(id, _)| *id == c.id)
            .map(|(_, s)| *s)
            .max();
        components.insert(c.id.clone(), component_status(&health, declared));
    }
    Board { at: now, components, regions: voting.regions(states, now) }
}

/// Spaces a publisher's requests `1 / requests_per_second` apart, and holds them all back after a 429 or
/// an outage.
pub struct Pacer {
    gap: Duration,
    next: Instant,
    backoff: Option<backon::ExponentialBackoff>,
}

impl Pacer {
    pub fn new(requests_per_second: f64) -> Pacer {
        Pacer { gap: Duration::from_secs_f64(1.0 / requests_per_second), next: Instant::now(), backoff: None }
    }

    /// When the next request may go.
    pub fn ready_at(&self) -> Instant {
        self.next
    }

    /// Takes the next slot.
    pub fn take(&mut self) {
        self.next = self.next.max(Instant::now()) + self.gap;
    }

    pub fn succeeded(&mut self) {
        self.backoff = None;
    }

    /// A failure: nothing goes before `retry_after` (when the provider said) or the next backoff step.
    pub fn failed(&mut self, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff.get_or_insert_with(|| {
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_secs(1))
                .with_max_delay(MAX_BACKOFF)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times()
                .build()
        });
        // Capped after backon's jitter, which it adds on top of its own cap.
        let step = backoff.next().unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF);
        let wait = retry_after.map_or(step, |r| r.max(self.gap));
        self.next = Instant::now() + wait;
        wait
    }
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
pub async fn run(cfg: Arc<Config>, store: Arc<dyn Store>, metrics: Arc<AggregatorMetrics>, stop: watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(Arc::new(Board::default()));
    let mut tasks = tokio::task::JoinSet::new();
    let state = if cfg.publishers.is_empty() {
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
    for p in &cfg.publishers {
        let worker = Worker::new(p, build(p), store.clone(), metrics.clone(), state.clone());
        tasks.spawn(worker.run(rx.clone(), stop.clone()));
    }
    keep_board(&cfg, &*store, state.as_ref(), &metrics, &tx, stop).await;
    while tasks.join_next().await.is_some() {}
}

async fn keep_board(
    cfg: &Config,
    store: &dyn Store,
    state: Option<&StateDb>,
    metrics: &AggregatorMetrics,
    tx: &watch::Sender<Arc<Board>>,
    mut stop: watch::Receiver<bool>,
) {
    let voting = Voting::new(cfg);
    let sources: Vec<Arc<dyn MaintenanceSource>> = maintenance::sources(cfg);
    let mut failing = false;
    loop {
        let now = now_nanos();
        let read = async {
            let states = store.latest_states().await?;
            let windows = maintenance::windows(&sources, TimeRange::new(now - 1, now + 1)).await;
            let incidents = match state {
                Some(s) => s.incidents(now).await.unwrap_or_default(),
                None => vec![],
            };
            Ok::<_, StoreError>(board(cfg, &voting, &states, &windows, &incidents, now))
        };
        match read.await {
            Ok(b) => {
                if failing {
                    tracing::info!("component statuses are read again");
                    failing = false;
                }
                metrics.set_regions(&b.regions, now);
                tx.send_if_modified(|old| {
                    let changed = old.components != b.components || old.regions != b.regions;
                    *old = Arc::new(b);
                    changed
                });
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e, "cannot read the latest states; publishers keep the last statuses");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(BOARD_INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One publisher's loop.
struct Worker {
    cfg: PublisherConfig,
    publisher: Arc<dyn Publisher>,
    client: Option<reqwest::Client>,
    store: Arc<dyn Store>,
    metrics: Arc<AggregatorMetrics>,
    state: Option<StateDb>,
    pacer: Pacer,
    /// What the provider last accepted (or refused for good), per Watchpost component.
    accepted: HashMap<String, ComponentStatus>,
    /// Metric requests waiting for a slot; rebuilt each minute, so at most one round.
    pending: Vec<Outgoing>,
    next_metrics: Instant,
    next_import: Instant,
}

impl Worker {
    fn new(
        cfg: &PublisherConfig,
        publisher: Arc<dyn Publisher>,
        store: Arc<dyn Store>,
        metrics: Arc<AggregatorMetrics>,
        state: Option<StateDb>,
    ) -> Self {
        Worker {
            pacer: Pacer::new(cfg.requests_per_second),
            cfg: cfg.clone(),
            publisher,
            client: watchpost_core::http::client(TIMEOUT).build().ok(),
            store,
            metrics,
            state,
            accepted: HashMap::new(),
            pending: Vec::new(),
            next_metrics: Instant::now(),
            next_import: Instant::now(),
        }
    }

    /// The next status change to send: the worst status first (an outage matters more than a recovery).
    fn next_change(&self, board: &Board) -> Option<(PublishedComponent, ComponentStatus)> {
        self.cfg
            .components
            .iter()
            .filter_map(|c| board.components.get(&c.component).map(|s| (c, *s)))
            .filter(|(c, s)| self.accepted.get(&c.component) != Some(s))
            .max_by_key(|(_, s)| *s)
            .map(|(c, s)| (c.clone(), s))
    }

    async fn run(mut self, mut board: watch::Receiver<Arc<Board>>, mut stop: watch::Receiver<bool>) {
        let name = self.publisher.describe();
        tracing::info!(publisher = %name, components = self.cfg.components.len(), metrics = self.cfg.metrics.len(), "publishing");
        loop {
            let now = Instant::now();
            if now >= self.next_metrics && !self.cfg.metrics.is_empty() {
                self.next_metrics = now + METRICS_INTERVAL;
                match self.publisher.metric_requests(&*self.store, now_nanos()).await {
                    // Latest state wins: a round not yet sent is replaced by the new one.
                    Ok(reqs) => self.pending = reqs,
                    Err(e) => tracing::warn!(publisher = %name, error = %e, "cannot read the rollups for the metrics"),
                }
            }
            if now >= self.next_import && self.cfg.import_maintenance {
                self.next_import = now + IMPORT_INTERVAL;
                self.import(&name).await;
            }
            let current = board.borrow_and_update().clone();
            let work = self.next_change(&current).map(|(c, s)| (self.publisher.status_request(&c, s), Some((c.component, s))));
            let work = work.or_else(|| (!self.pending.is_empty()).then(|| (self.pending.remove(0), None)));
            let Some((request, status)) = work else {
                // Nothing to send: sleep until the board changes or a round of metrics or imports is due.
                let mut wake = Instant::now() + IMPORT_INTERVAL;
                if !self.cfg.metrics.is_empty() {
                    wake = wake.min(self.next_metrics);
                }
                if self.cfg.import_maintenance {
                    wake = wake.min(self.next_import);
                }
                tokio::select! {
                    _ = board.changed() => {}
                    _ = tokio::time::sleep_until(wake) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                continue;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(self.pacer.ready_at()) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            // Statuses may have changed while waiting for the slot: send the worst change there is now.
            let (request, status) = match status {
                Some(_) => {
                    let current = board.borrow().clone();
                    match self.next_change(&current) {
                        Some((c, s)) => (self.publisher.status_request(&c, s), Some((c.component, s))),
                        None => continue,
                    }
                }
                None => (request, None),
            };
            self.pacer.take();
            self.deliver(&name, request, status).await;
        }
    }

    async fn deliver(&mut self, name: &str, request: Outgoing, status: Option<(String, ComponentStatus)>) {
        let Some(client) = &self.client else {
            tracing::error!(publisher = %name, "cannot build an HTTP client");
            return;
        };
        let result = send(client, &self.cfg.url, &*self.publisher, &request).await;
        self.metrics.publish_requests.inc();
        match result {
            Ok(_) => {
                self.pacer.succeeded();
                match status {
                    Some((component, s)) => {
                        tracing::info!(publisher = %name, component = %component, status = %s, "component status published");
                        self.accepted.insert(component, s);
                    }
                    None => self.publisher.sent(&request),
                }
            }
            Err(PublishError::Rejected { status: code, body }) => {
                self.metrics.publish_failures.inc();
                tracing::warn!(publisher = %name, request = %request.what, status = code, answer = %body, "the provider refused a request; it is not repeated");
                if let Some((component, s)) = status {
                    self.accepted.insert(component, s);
                }
            }
            Err(e) => {
                self.metrics.publish_failures.inc();
                let retry_after = match &e {
                    PublishError::Throttled { retry_after } => *retry_after,
                    _ => None,
                };
                let wait = self.pacer.failed(retry_after);
                tracing::warn!(publisher = %name, request = %request.what, error = %e, retry_in_ms = wait.as_millis() as u64, "publishing failed; the current state is sent when the provider answers");
                if status.is_none() {
                    // Put it back at the front: the next round replaces it anyway.
                    self.pending.insert(0, request);
                }
            }
        }
    }

    async fn import(&mut self, name: &str) {
        let Some(client) = self.client.clone() else { return };
        let mut answers = Vec::new();
        for request in self.publisher.maintenance_requests() {
            tokio::time::sleep_until(self.pacer.ready_at()).await;
            self.pacer.take();
            self.metrics.publish_requests.inc();
            match send(&client, &self.cfg.url, &*self.publisher, &request).await {
                Ok(v) => answers.push(v),
                Err(e) => {
                    self.metrics.publish_failures.inc();
                    let retry_after = match &e {
                        PublishError::Throttled { retry_after } => *retry_after,
                        _ => None,
                    };
                    self.pacer.failed(retry_after);
                    // Until the provider answers, the windows imported last stay.
                    tracing::warn!(publisher = %name, error = %e, "cannot import scheduled maintenances; the last imported stay");
                    self.next_import = Instant::now() + Duration::from_secs(30);
                    return;
                }
            }
        }
        self.pacer.succeeded();
        let windows = match self.publisher.parse_maintenances(&answers) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(publisher = %name, error = %e, "the provider's maintenance list is not understood");
                return;
            }
        };
        let Some(state) = &self.state else { return };
        let n = windows.len();
        match state.sync_imported_maintenance(self.cfg.kind(), windows, now_nanos()).await {
            Ok(changed) => tracing::debug!(publisher = %name, windows = n, changed, "scheduled maintenances imported"),
            Err(e) => tracing::warn!(publisher = %name, error = %e, "cannot store the imported maintenances"),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_requests_and_waits_out_a_429() {
        let mut p = Pacer::new(1.0);
        let t0 = Instant::now();
        p.take();
        p.take();
        assert_eq!(p.ready_at() - t0, Duration::from_secs(2), "two requests, the third waits two seconds");
        let wait = p.failed(Some(Duration::from_secs(30)));
        assert_eq!(wait, Duration::from_secs(30), "Retry-After is honoured");
        let first = p.failed(None);
        let second = p.failed(None);
        assert!(first >= Duration::from_secs(1) && second >= Duration::from_secs(2), "{first:?} then {second:?}: it backs off");
        p.succeeded();
        assert!(p.failed(None) <= Duration::from_secs(2), "a success resets the backoff");
    }
}
