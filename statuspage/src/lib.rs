//! Watchpost's public status page (DESIGN.md §5.7, §5.9, §7): server-rendered HTML, a JSON API in
//! Atlassian Statuspage's shapes, badges, feeds, the admin API for incidents and maintenance, and a static
//! export.
//!
//! How it stays fast and fresh: a background task rebuilds a [`snapshot::Snapshot`] from the store and the
//! state database every [`LIVE_REFRESH`] (and at once after an admin change), renders every public
//! document from it, and swaps them in behind one `Arc`. A request copies out a reference-counted body; it
//! never queries the store. The page can therefore lag the store by at most one refresh period, well
//! inside the one probe interval DESIGN.md allows.
//!
//! Architecture invariant: this crate depends on `core` only; what it knows of probes comes from the store.

pub mod admin;
pub mod alerts;
pub mod config;
pub mod deliver;
pub mod export;
pub mod history;
pub mod inbound;
pub mod render;
mod respond;
pub mod server;
pub mod snapshot;
pub mod status;
pub mod subscribe;
pub mod subscribers;

use crate::config::StatusPageConfig;
use bytes::Bytes;
use history::History;
use render::json::Doc;
use snapshot::Snapshot;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use watchpost_core::config::{Config, ProbeConfig};
use watchpost_core::maintenance::{self, MaintenanceSource};
use watchpost_core::model::Resolution;
use watchpost_core::state::StateDb;
use watchpost_core::store::Store;
use watchpost_core::time::{duration_nanos, now_nanos, TimeRange};

/// How often the live part (statuses, incidents, maintenance) is rebuilt.
pub const LIVE_REFRESH: Duration = Duration::from_millis(500);
/// How long the page keeps showing the last states it read while reads fail, before it says the data is
/// unavailable: long enough to ride out a restart of the store, short next to an outage.
pub const UNAVAILABLE_AFTER: Duration = Duration::from_secs(10);
/// How often the rollup history (uptime bars, charts) is refreshed (each window is read once, see
/// [`History::refresh`]); rollups change once a minute.
pub const HISTORY_REFRESH: Duration = Duration::from_secs(30);
/// How far ahead scheduled maintenance is listed.
const UPCOMING: i64 = 30 * history::DAY;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    State(#[from] watchpost_core::state::StateError),
    #[error(transparent)]
    Store(#[from] watchpost_core::store::StoreError),
}

/// A rendered document and its gzip encoding, made once per render: a page of 50 components is hundreds
/// of kilobytes of repetitive markup that compresses twentyfold, and phones read it.
#[derive(Clone)]
pub struct Body {
    pub plain: Bytes,
    pub gzip: Bytes,
}

impl Body {
    pub fn new(plain: String) -> Self {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(plain.len() / 8), flate2::Compression::default());
        // Writing to a Vec cannot fail; an error would only leave the compressed copy empty, served never.
        let gzip = enc.write_all(plain.as_bytes()).and_then(|_| enc.finish()).map(Bytes::from).unwrap_or_default();
        Body { plain: Bytes::from(plain), gzip }
    }
}

/// Everything the public routes serve, rendered from one snapshot.
pub struct Published {
    pub snapshot: Arc<Snapshot>,
    pub page: Body,
    pub docs: HashMap<&'static str, Body>,
    pub atom: Body,
    pub rss: Body,
}

impl Published {
    pub fn render(cfg: &StatusPageConfig, snapshot: Snapshot, has_logo: bool) -> Self {
        let docs = Doc::ALL.iter().map(|d| (d.path(), Body::new(render::json::render(*d, cfg, &snapshot).to_string()))).collect();
        Published {
            page: Body::new(render::html::page(cfg, &snapshot, has_logo)),
            atom: Body::new(render::feed::atom(cfg, &snapshot)),
            rss: Body::new(render::feed::rss(cfg, &snapshot)),
            docs,
            snapshot: Arc::new(snapshot),
        }
    }
}

/// The status page: its configuration, where it reads, and what it serves now.
pub struct StatusPage {
    pub cfg: StatusPageConfig,
    pub objective_ms: f64,
    voting: watchpost_core::health::Voting,
    pub store: Arc<dyn Store>,
    pub state: StateDb,
    /// Subscribers and their outbox (this part's tables in the state database).
    pub subscribers: subscribers::Subscribers,
    sources: Vec<Arc<dyn MaintenanceSource>>,
    endpoint_components: HashMap<String, String>,
    endpoints: std::collections::HashSet<String>,
    targets: HashMap<String, String>,
    logo: Option<(Bytes, &'static str)>,
    history: tokio::sync::Mutex<(History, Option<tokio::time::Instant>)>,
    /// How the aggregator is sharded, to find its watermarks (see [`History::refresh`]).
    shard: Option<watchpost_core::config::Shard>,
    published: RwLock<Arc<Published>>,
    /// The fingerprint of what is published, to skip rendering an unchanged page.
    fingerprint: std::sync::Mutex<Option<u64>>,
    refreshing: tokio::sync::Mutex<()>,
    /// Whether a refresh has ever read the store, and since when refreshes fail (see [`refresh_loop`]).
    health: std::sync::Mutex<(bool, Option<watchpost_core::time::Nanos>)>,
    wake: tokio::sync::Notify,
    /// Wakes the subscriber delivery loop when a message is queued.
    pub(crate) deliver_wake: tokio::sync::Notify,
    /// What alerting lends the alert endpoints: the link secret and the providers' callback secrets.
    pub(crate) doors: AlertDoors,
    /// The on-call rotas, for the calendar feed.
    pub(crate) oncall: std::collections::BTreeMap<String, watchpost_core::config::oncall::ScheduleConfig>,
}

/// What the binary passes from `[alerting]` to the page's alert endpoints (the page serves what alerting
/// signs and what its providers call back, without depending on alerting).
#[derive(Debug, Clone, Default)]
pub struct AlertDoors {
    /// Verifies acknowledge links (`alerting.secret`).
    pub ack_secret: Option<watchpost_core::config::Secret>,
    /// Signing secrets of PagerDuty v3 webhook subscriptions (pagerduty notifiers' `webhook_secret`).
    pub pagerduty: Vec<watchpost_core::config::Secret>,
    /// Tokens OpsGenie's outgoing webhooks present (opsgenie notifiers' `callback_token`).
    pub opsgenie: Vec<watchpost_core::config::Secret>,
}

impl StatusPage {
    /// Opens the state database and reads the logo; the first snapshot is built before this returns, so
    /// the server never answers with an empty page.
    ///
    /// `doors`: what alerting lends the alert endpoints (see [`AlertDoors`]).
    pub async fn new(config: &Config, page: &StatusPageConfig, doors: AlertDoors, store: Arc<dyn Store>) -> Result<Arc<Self>, Error> {
        let state = StateDb::open(&config.state.path).await?;
        let cfg = page.clone();
        let logo = cfg.logo.as_ref().and_then(|p| {
            let kind = if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")) { "image/svg+xml" } else { "image/png" };
            match std::fs::read(p) {
                Ok(b) => Some((Bytes::from(b), kind)),
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "cannot read the logo; the page is shown without it");
                    None
                }
            }
        });
        let endpoint_components = config.endpoints.iter().filter_map(|e| e.component.clone().map(|c| (e.id.clone(), c))).collect();
        // Only what a component that opts in may show; the map holds nothing else.
        let targets = config
            .endpoints
            .iter()
            .filter(|e| cfg.components.iter().any(|c| c.show_targets && c.endpoints.contains(&e.id)))
            .filter_map(|e| match &e.probe {
                // Scheme, host, port and path only: credentials and query strings (tokens) stay private.
                ProbeConfig::Http(h) => Some((
                    e.id.clone(),
                    format!(
                        "{}://{}{}{}",
                        h.url.scheme_str().unwrap_or("http"),
                        h.url.host().unwrap_or(""),
                        h.url.port_u16().map(|p| format!(":{p}")).unwrap_or_default(),
                        h.url.path()
                    ),
                )),
                ProbeConfig::Tcp(t) => Some((e.id.clone(), format!("{}:{}", t.host, t.port))),
                _ => None,
            })
            .collect();
        let page = StatusPage {
            objective_ms: config.aggregator.latency_objective.as_secs_f64() * 1000.0,
            sources: maintenance::sources(config),
            voting: watchpost_core::health::Voting::new(config),
            cfg,
            store,
            subscribers: subscribers::Subscribers::new(state.clone()),
            state,
            endpoint_components,
            endpoints: config.endpoints.iter().map(|e| e.id.clone()).collect(),
            doors,
            oncall: config.oncall.clone(),
            targets,
            logo,
            history: tokio::sync::Mutex::new((
                History::new(duration_nanos(config.aggregator.lateness) + 2 * history::MINUTE, config.aggregator.shard),
                None,
            )),
            shard: config.aggregator.shard,
            published: RwLock::new(Arc::new(Published::render(page, empty_snapshot(config, page), false))),
            fingerprint: std::sync::Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            health: std::sync::Mutex::new((false, None)),
            wake: tokio::sync::Notify::new(),
            deliver_wake: tokio::sync::Notify::new(),
        };
        let page = Arc::new(page);
        if let Err(e) = page.refresh().await {
            tracing::warn!(error = %e, "status page: first refresh failed; retrying in the background");
            page.refresh_failed();
        }
        Ok(page)
    }

    /// Whether the page currently says that its data is unavailable.
    pub fn data_unavailable(&self) -> bool {
        self.published().snapshot.unavailable_since.is_some()
    }

    /// Notes a failed refresh. The page keeps the last good states through a short failure, but once reads
    /// have failed for [`UNAVAILABLE_AFTER`] (at once, if the store was never read) it says that the data is
    /// unavailable: stale or empty states must not read as "All Systems Operational".
    fn refresh_failed(&self) {
        let now = now_nanos();
        let since = {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            let since = *h.1.get_or_insert(now);
            if h.0 && now - since < watchpost_core::time::duration_nanos(UNAVAILABLE_AFTER) {
                return;
            }
            since
        };
        let current = self.published();
        if current.snapshot.unavailable_since.is_some() {
            return;
        }
        let shown = current.snapshot.unavailable(since);
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Published::render(&self.cfg, shown, self.logo.is_some()));
        // The next good read must publish, even if what it reads is what was shown before.
        *self.fingerprint.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// What the routes serve now.
    pub fn published(&self) -> Arc<Published> {
        self.published.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn logo(&self) -> Option<&(Bytes, &'static str)> {
        self.logo.as_ref()
    }

    /// Whether an endpoint or check has this id.
    pub fn endpoint_known(&self, id: &str) -> bool {
        self.endpoints.contains(id)
    }

    /// Asks the delivery loop to look at the outbox now.
    pub fn deliver_soon(&self) {
        self.deliver_wake.notify_one();
    }

    /// Asks the refresh loop to rebuild now (after an admin change).
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// The aggregator's watermarks, the lowest over its shards; `None` until every shard has written them.
    async fn watermarks(&self) -> Result<Option<history::Marks>, Error> {
        let names = [Resolution::Minute.measurement(), Resolution::Hour.measurement()];
        let Some(shards) = watchpost_core::store::shard_watermarks(self.store.as_ref(), self.shard, names).await? else {
            return Ok(None);
        };
        let lowest = |i: usize| shards.iter().map(|m| m[i]).min();
        let backfilled = self.store.watermark(watchpost_core::store::BACKFILLED).await?;
        Ok(lowest(0).zip(lowest(1)).map(|(minute, hour)| history::Marks { minute, hour, backfilled }))
    }

    /// Rebuilds the snapshot and every document from the store and the state database.
    pub async fn refresh(&self) -> Result<(), Error> {
        // One refresh at a time (the loop and an admin change may race): otherwise an older snapshot could
        // be published after a newer one and, its fingerprint being current, stay until the next change.
        let _one = self.refreshing.lock().await;
        let now = now_nanos();
        let history_from = now - i64::from(self.cfg.history_days + 1) * history::DAY;
        let states = self.store.latest_states().await?;
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = (true, None);
        let windows = maintenance::windows(&self.sources, TimeRange::new(history_from, now + UPCOMING)).await;
        let incidents = self.state.incidents(history_from).await?;
        let mut guard = self.history.lock().await;
        let (history, last) = &mut *guard;
        if last.is_none_or(|t| t.elapsed() >= HISTORY_REFRESH) {
            let started = std::time::Instant::now();
            let marks = self.watermarks().await?;
            let rows = history.refresh(self.store.as_ref(), now, self.cfg.history_days, marks).await?;
            tracing::debug!(rows, elapsed_ms = started.elapsed().as_millis() as u64, "status page history refreshed");
            *last = Some(tokio::time::Instant::now());
        }
        let snapshot = snapshot::build(&snapshot::Inputs {
            cfg: &self.cfg,
            now,
            voting: &self.voting,
            states: &states,
            windows: &windows,
            endpoint_components: &self.endpoint_components,
            targets: &self.targets,
            incidents: &incidents,
            history,
        });
        let fingerprint = snapshot.fingerprint(history.version);
        drop(guard);
        // Rendering 50 components' bars and charts costs milliseconds; twice a second for an unchanged page
        // would be waste. "Updated" then says when the page last changed, as on Statuspage.
        {
            let mut last = self.fingerprint.lock().unwrap_or_else(|p| p.into_inner());
            if *last == Some(fingerprint) {
                return Ok(());
            }
            *last = Some(fingerprint);
        }
        let published = Arc::new(Published::render(&self.cfg, snapshot, self.logo.is_some()));
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = published;
        Ok(())
    }
}

fn empty_snapshot(config: &Config, page: &StatusPageConfig) -> Snapshot {
    let history = History::default();
    snapshot::build(&snapshot::Inputs {
        cfg: page,
        now: now_nanos(),
        voting: &watchpost_core::health::Voting::new(config),
        states: &[],
        windows: &[],
        endpoint_components: &HashMap::new(),
        targets: &HashMap::new(),
        incidents: &[],
        history: &history,
    })
}

/// Rebuilds every [`LIVE_REFRESH`] (or when poked) until `stop`.
pub async fn refresh_loop(page: Arc<StatusPage>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(LIVE_REFRESH) => {}
            _ = page.wake.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match page.refresh().await {
            Ok(()) if failing => {
                tracing::info!("status page refresh works again");
                failing = false;
            }
            Ok(()) => {}
            // Keep serving the last good snapshot for a moment, then say the data is unavailable; log once,
            // not twice a second.
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "status page refresh failed; the page says its data is unavailable until it works");
                    failing = true;
                }
                page.refresh_failed();
            }
        }
    }
}
