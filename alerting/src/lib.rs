//! Watchpost's alerting (DESIGN.md §5.8): rules over the stored points, on-call rotas, escalation policies,
//! and notifiers fed by a durable outbox.
//!
//! Data flow: points (read from the store every `evaluation_interval`, and in `watchpost run` straight from
//! the agent as they are produced) → [`evaluate`] (per-region buffers, each rule's metric, the regions'
//! quorum) → [`lifecycle`] (a pure function: the alert's next state, the escalation levels due, the
//! deliveries they cause) → the state database (row and deliveries in one transaction) → [`outbox`] →
//! [`notify`] → the provider.
//!
//! Architecture invariant: this crate depends on `core` only; nothing here knows whether the points came
//! from the agent in the same process or from the store.

pub mod config;
pub mod evaluate;
pub mod event;
pub mod group;
pub mod hold;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod outbox;

use evaluate::{stale_after, verdict, Windows};
use metrics::AlertingMetrics;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch, Notify};
use watchpost_core::config::{Config, ConfigErrors, Document, Format};
use watchpost_core::labels::Labels;
use watchpost_core::model::Point;
use watchpost_core::state::{AlertRow, AlertState, NewDelivery, Silence, StateDb, EXTERNAL_RULE};
use watchpost_core::store::reads::{self, Consumer};
use watchpost_core::store::{FeedCursor, Select, Store, StoreError};
use watchpost_core::time::{duration_nanos, now_nanos, Nanos, TimeRange};

/// What alerting runs on: the shared configuration and its own section.
#[derive(Debug, Clone)]
pub struct Settings {
    pub shared: Arc<Config>,
    pub alerting: config::AlertingConfig,
}

impl Settings {
    /// Parses configuration text, shared sections and `[alerting]`, with every error of both (tools and
    /// tests; the binary assembles all parts the same way).
    pub fn parse(
        file: &str,
        format: Format,
        text: &str,
        env: &HashMap<String, String>,
        page: &config::Page,
    ) -> Result<Settings, ConfigErrors> {
        let doc = Document::parse(file, format, text, env)?;
        let (shared, mut errors) = Config::from_document(&doc)?;
        let alerting = config::AlertingConfig::from_document(&doc, &shared, page, &mut errors);
        errors.into_result(Settings { shared: Arc::new(shared), alerting })
    }
}

/// Points as the agent produces them (before they reach the store), for `watchpost run`.
pub type Tap = broadcast::Receiver<Arc<[Point]>>;

#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error("alerting.notifiers.{name}: {reason}")]
    Notifier { name: String, reason: String },
    #[error("{0}")]
    State(#[from] watchpost_core::state::StateError),
}

/// The rules, their buffers and the alerts they decide. Driven by [`run`]; tests call [`Evaluator::cycle`]
/// with their own clock.
pub struct Evaluator {
    cfg: Arc<Settings>,
    state: Arc<StateDb>,
    pub windows: Windows,
    /// Per endpoint index: (rule index, alert key, stale-after) for every rule that selects it.
    rules_for: Vec<Vec<(usize, String, Nanos)>>,
    alerts: HashMap<String, AlertRow>,
    /// Silences not yet over, as of the last `sync`.
    silences: Vec<Silence>,
    /// `depends_on` by endpoint id (see `hold::dependencies`).
    depends: HashMap<String, Vec<String>>,
    throttle: watchpost_core::throttle::Throttle,
    metrics: Arc<AlertingMetrics>,
    /// Set when a cycle enqueued deliveries.
    pub wake: Arc<Notify>,
}

impl Evaluator {
    /// Loads the open alerts from the state database.
    pub async fn new(cfg: Arc<Settings>, state: Arc<StateDb>, metrics: Arc<AlertingMetrics>) -> Result<Evaluator, AlertingError> {
        let a = &cfg.alerting;
        let longest = a.rules.iter().filter_map(|r| r.window).max().unwrap_or_default();
        let mut keep = longest;
        let rules_for: Vec<Vec<(usize, String, Nanos)>> = cfg
            .shared
            .endpoints
            .iter()
            .map(|e| {
                a.rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.selector.matches(e))
                    .map(|(j, r)| {
                        let stale = stale_after(e, r, a.lookback);
                        keep = keep.max(Duration::from_nanos(stale as u64));
                        (j, lifecycle::key(&r.name, &e.id, &e.environment), stale)
                    })
                    .collect()
            })
            .collect();
        let alerts: HashMap<String, AlertRow> = state.open_alerts().await?.into_iter().map(|r| (r.key.clone(), r)).collect();
        // An alert whose rule or endpoint left the configuration has nobody to decide on it any more: say so
        // once, so that its incident at the provider is closed by hand (or the rule restored).
        let known: std::collections::HashSet<&str> = rules_for.iter().flatten().map(|(_, k, _)| k.as_str()).collect();
        for a in alerts.values().filter(|a| !known.contains(a.key.as_str()) && !is_group(&a.key) && a.rule != EXTERNAL_RULE) {
            tracing::warn!(alert = %a.key, state = a.state.as_str(), since = %watchpost_core::time::format_rfc3339(a.since),
                "an open alert whose rule or endpoint is no longer configured: it will not resolve by itself");
        }
        let silences = state.silences(now_nanos()).await?;
        Ok(Evaluator {
            windows: Windows::new(&cfg.shared.endpoints, keep),
            depends: hold::dependencies(&cfg),
            throttle: Default::default(),
            cfg,
            state,
            rules_for,
            alerts,
            silences,
            metrics,
            wake: Arc::new(Notify::new()),
        })
    }

    /// The longest history any rule reads, for the first store read.
    pub fn history(&self) -> Duration {
        let longest = self.rules_for.iter().flatten().map(|(_, _, s)| *s).max().unwrap_or(0);
        Duration::from_nanos(longest.max(0) as u64)
    }

    /// Takes points; returns the endpoint indexes they changed.
    pub fn ingest(&mut self, points: &[Point]) -> Vec<usize> {
        let mut changed: Vec<usize> = points.iter().filter_map(|p| self.windows.ingest(p)).collect();
        changed.sort_unstable();
        changed.dedup();
        changed
    }

    /// Brings the open alerts up to date with the state database: acknowledgements made through the admin
    /// API, the CLI or a link, and transitions of another alerting instance.
    /// Reads the silences not over at `now` too.
    pub async fn sync(&mut self, now: Nanos) -> Result<(), AlertingError> {
        self.silences = self.state.silences(now).await?;
        let open = self.state.open_alerts().await?;
        // Rows open here but no longer there were closed by someone else: an alert from another system
        // resolved through the status page, or another instance's transition.
        let still: std::collections::HashSet<&str> = open.iter().map(|o| o.key.as_str()).collect();
        let closed: Vec<String> = self
            .alerts
            .values()
            .filter(|a| a.state != AlertState::Resolved && !still.contains(a.key.as_str()))
            .map(|a| a.key.clone())
            .collect();
        let mut fresh = open;
        for key in closed {
            fresh.extend(self.state.alert(&key).await?);
        }
        for row in fresh {
            match self.alerts.get(&row.key) {
                Some(mine) if mine.version >= row.version => {}
                _ => {
                    self.alerts.insert(row.key.clone(), row);
                }
            }
        }
        Ok(())
    }

    /// Evaluates every rule on `endpoints` (all when `None`) at `now` and stores what changed. Returns the
    /// number of transitions written.
    pub async fn cycle(&mut self, endpoints: Option<&[usize]>, now: Nanos) -> Result<usize, AlertingError> {
        let started = Instant::now();
        let cfg = self.cfg.clone();
        let all: Vec<usize>;
        let which = match endpoints {
            Some(e) => e,
            None => {
                all = (0..cfg.shared.endpoints.len()).collect();
                &all
            }
        };
        // Holds see the alerts firing before this cycle; alerts that start firing in it are added below, and
        // the ones they would hold back are decided again, so a dependency and its dependants failing
        // together page once, for the dependency.
        let firing = self.alerts.values().filter(|a| a.state == AlertState::Firing && !is_group(&a.key));
        let mut holds = hold::Holds::new(&cfg, &self.silences, &self.depends, firing.map(|a| (a.key.as_str(), &a.labels)), now);
        let mut changes: Vec<(AlertRow, Vec<NewDelivery>)> = Vec::new();
        let mut decided: Vec<(usize, usize)> = Vec::new();
        for &i in which {
            let e = &cfg.shared.endpoints[i];
            for (j, key, stale) in &self.rules_for[i] {
                let rule = &cfg.alerting.rules[*j];
                let v = verdict(&self.windows, i, rule, *stale, cfg.shared.regions.down_quorum, now);
                if let Some(change) = lifecycle::decide(&cfg, rule, e, self.alerts.get(key), v.as_ref(), &|l| holds.reason(l), now) {
                    changes.push(change);
                    decided.push((i, *j));
                }
            }
        }
        let newly: Vec<(&str, &Labels)> = changes
            .iter()
            .filter(|(r, _)| r.state == AlertState::Firing && self.alerts.get(&r.key).is_none_or(|p| p.state != AlertState::Firing))
            .map(|(r, _)| (r.key.as_str(), &r.labels))
            .collect();
        let again = holds.between_alerts() && !newly.is_empty();
        holds.add_firing(newly);
        if again {
            for (c, (i, j)) in changes.iter_mut().zip(&decided) {
                if c.0.state == AlertState::Firing && c.0.held.is_empty() {
                    let (rule, e) = (&cfg.alerting.rules[*j], &cfg.shared.endpoints[*i]);
                    let v = verdict(
                        &self.windows,
                        *i,
                        rule,
                        self.rules_for[*i].iter().find(|x| x.0 == *j).map_or(0, |x| x.2),
                        cfg.shared.regions.down_quorum,
                        now,
                    );
                    if let Some(again) = lifecycle::decide(&cfg, rule, e, self.alerts.get(&c.0.key), v.as_ref(), &|l| holds.reason(l), now)
                    {
                        *c = again;
                    }
                }
            }
        }
        // Alerts raised elsewhere (`StateDb::external_alert`) are held back like the others.
        for a in self.alerts.values().filter(|a| a.rule == EXTERNAL_RULE && a.state == AlertState::Firing) {
            let held = holds.reason(&a.labels);
            if held != a.held && !changes.iter().any(|(c, _)| c.key == a.key) {
                changes.push((AlertRow { held, version: a.version + 1, ..a.clone() }, vec![]));
            }
        }
        match &cfg.alerting.route {
            Some(root) => changes.extend(self.groups(root, &changes, now)),
            None => {
                if let Some(a) = self.alerts.values().find(|a| a.rule == EXTERNAL_RULE && a.state == AlertState::Firing) {
                    if self.throttle.note("external-without-routes").is_some() {
                        tracing::warn!(alert = %a.key, "an alert from another system fires, but without [alerting.route] it pages nobody");
                    }
                }
            }
        }
        let written = self.apply(changes, now).await?;
        self.metrics.evaluations.inc();
        self.metrics.evaluation_seconds.observe(started.elapsed());
        Ok(written)
    }

    /// The groups of the routed alerts, as of this cycle's `changes`: each one's active alerts (firing, not
    /// held back), and what that does to it (`group::decide`), open groups without alerts included.
    fn groups(&self, root: &config::Route, changes: &[(AlertRow, Vec<NewDelivery>)], now: Nanos) -> Vec<(AlertRow, Vec<NewDelivery>)> {
        let cfg = &self.cfg;
        let mut view: HashMap<&str, &AlertRow> = HashMap::new();
        let changed: HashMap<&str, &AlertRow> = changes.iter().map(|(r, _)| (r.key.as_str(), r)).collect();
        let mut members: std::collections::BTreeMap<String, (&config::Route, Labels, Vec<String>)> = Default::default();
        let mut routed: std::collections::HashSet<&str> =
            cfg.alerting.rules.iter().filter(|r| r.policy.is_none()).map(|r| r.name.as_str()).collect();
        routed.insert(EXTERNAL_RULE);
        let rows = self.alerts.values().filter(|a| !changed.contains_key(a.key.as_str())).chain(changed.values().copied());
        for a in rows.filter(|a| !is_group(&a.key)) {
            if a.state != AlertState::Firing || !a.held.is_empty() || !routed.contains(a.rule.as_str()) {
                continue;
            }
            view.insert(&a.key, a);
            let mut routes = Vec::new();
            root.resolve(&a.labels, &mut routes);
            for r in routes {
                let (key, labels) = group::key(r, &a.key, &a.labels);
                members.entry(key).or_insert_with(|| (r, labels, Vec::new())).2.push(a.key.clone());
            }
        }
        // Open groups whose alerts all left, and the rows of alerts they listed (for the resolved ones).
        let by_name: HashMap<&str, &config::Route> = root.walk().into_iter().map(|r| (r.name.as_str(), r)).collect();
        for g in self.alerts.values().filter(|g| is_group(&g.key) && g.state != AlertState::Resolved) {
            for k in &g.members {
                if let Some(a) = self.alerts.get(k).filter(|_| !view.contains_key(k.as_str())) {
                    view.insert(k, changed.get(k.as_str()).copied().unwrap_or(a));
                }
            }
            if !members.contains_key(&g.key) {
                match by_name.get(g.rule.as_str()) {
                    Some(r) => {
                        members.insert(g.key.clone(), (r, g.labels.clone(), Vec::new()));
                    }
                    None if self.throttle.note(&g.key).is_some() => {
                        tracing::warn!(group = %g.key, route = %g.rule, "an open group whose route is no longer configured: it will not resolve by itself")
                    }
                    None => {}
                }
            }
        }
        let mut out = Vec::new();
        for (key, (route, labels, mut active)) in members {
            active.sort();
            if let Some(change) = group::decide(cfg, route, (&key, &labels), self.alerts.get(&key), &active, &view, now) {
                out.push(change);
            }
        }
        out
    }

    /// Stores the changes. Resolved rows stay in memory (one per alert that ever fired): the next firing then
    /// starts from the stored version instead of losing a compare-and-set and a cycle.
    async fn apply(&mut self, changes: Vec<(AlertRow, Vec<NewDelivery>)>, now: Nanos) -> Result<usize, AlertingError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let keys: Vec<String> = changes.iter().map(|(r, _)| r.key.clone()).collect();
        let any_delivery = changes.iter().any(|(_, d)| !d.is_empty());
        let results = self.state.apply_alerts(changes, now).await?;
        let mut written = 0;
        for (key, result) in keys.into_iter().zip(results) {
            match result {
                Some(row) => {
                    written += 1;
                    self.log(&row);
                    self.alerts.insert(key, row);
                }
                None => {
                    // Another instance (or an acknowledgement) changed it first: take its row; the next cycle
                    // decides from there.
                    match self.state.alert(&key).await? {
                        Some(row) => self.alerts.insert(key, row),
                        None => self.alerts.remove(&key),
                    };
                }
            }
        }
        self.metrics.transitions.add(written as u64);
        self.metrics.firing.set(self.alerts.values().filter(|r| r.state == AlertState::Firing).count() as i64);
        if any_delivery {
            self.wake.notify_one();
        }
        Ok(written)
    }

    fn log(&self, row: &AlertRow) {
        match row.state {
            AlertState::Firing => tracing::warn!(alert = %row.key, episode = row.episode, level = row.level, paged = ?row.paged,
                acked_by = row.acked_by.as_deref().unwrap_or(""), detail = %row.detail, "alert firing"),
            AlertState::Pending => tracing::info!(alert = %row.key, detail = %row.detail, "alert pending"),
            AlertState::Resolved if row.resolved_at == Some(row.since) => {
                tracing::info!(alert = %row.key, episode = row.episode, note = %row.note, "alert resolved")
            }
            AlertState::Resolved => tracing::debug!(alert = %row.key, "alert back to ok before it fired"),
        }
    }
}

/// Group rows share the alert table; their keys start with `group:` (alert keys start with a rule name,
/// which cannot contain `:`).
pub fn is_group(key: &str) -> bool {
    key.starts_with("group:")
}

/// A running alerting part: the evaluator and the outbox worker.
pub struct Alerting {
    pub metrics: Arc<AlertingMetrics>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Alerting {
    /// Builds the notifiers, opens the alerts, and starts evaluating and delivering until `stop`.
    pub async fn start(
        cfg: Arc<Settings>,
        store: Arc<dyn Store>,
        state: Arc<StateDb>,
        tap: Option<Tap>,
        stop: watch::Receiver<bool>,
    ) -> Result<Alerting, AlertingError> {
        let http = watchpost_core::http::client(notify::TIMEOUT)
            .build()
            .map_err(|e| AlertingError::Notifier { name: "*".into(), reason: watchpost_core::http::error_text(&e) })?;
        let mut notifiers = HashMap::new();
        for (name, n) in &cfg.alerting.notifiers {
            let built = n.build(&http).map_err(|e| AlertingError::Notifier { name: name.clone(), reason: e.to_string() })?;
            notifiers.insert(name.clone(), built);
        }
        let metrics = Arc::new(AlertingMetrics::default());
        let evaluator = Evaluator::new(cfg.clone(), state.clone(), metrics.clone()).await?;
        let outbox = Arc::new(outbox::Outbox {
            state,
            notifiers,
            wake: evaluator.wake.clone(),
            metrics: metrics.clone(),
            max_delay: cfg.alerting.retry_max_delay,
        });
        tracing::info!(
            rules = cfg.alerting.rules.len(),
            notifiers = cfg.alerting.notifiers.len(),
            open = evaluator.alerts.len(),
            from_agent = tap.is_some(),
            "alerting started"
        );
        let tasks = vec![
            tokio::spawn(outbox.run(stop.clone())),
            tokio::spawn(reads::scope(Consumer::Alerting, evaluate_loop(evaluator, store, tap, stop))),
        ];
        Ok(Alerting { metrics, tasks })
    }

    /// Waits for both tasks to end (after `stop`).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn evaluate_loop(mut ev: Evaluator, store: Arc<dyn Store>, mut tap: Option<Tap>, mut stop: watch::Receiver<bool>) {
    let cfg = ev.cfg.clone();
    let lookback = duration_nanos(cfg.alerting.lookback);
    // Probe points: the history the rules need, by time, once; then the write log from where that read
    // began, each new point once however late it was written (see `Store::feed`). Maintenance points are few
    // series: read by time with an overlap for late ones, every `MAINTENANCE_EVERY`. A point seen twice (from
    // the tap, or a retried write) is recognised as such (see `evaluate`).
    let mut feed: Option<FeedCursor> = None;
    let mut maintenance_from = now_nanos() - duration_nanos(ev.history());
    let mut tick = tokio::time::interval(cfg.alerting.evaluation_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut store_failing = false;
    let mut last_failure: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = now_nanos();
                let range = TimeRange::new(maintenance_from - lookback, now + 1);
                let maintenance_due = feed.is_none() || now - maintenance_from >= MAINTENANCE_EVERY;
                match read(&*store, &mut feed, range, maintenance_due, cfg.shared.endpoints.len()).await {
                    Ok(points) => {
                        if store_failing {
                            tracing::info!(store = %store.describe(), "alerting reads the store again");
                            store_failing = false;
                        }
                        ev.ingest(&points);
                        if maintenance_due {
                            maintenance_from = now;
                        }
                    }
                    Err(e) if !store_failing => {
                        tracing::warn!(error = %e, store = %store.describe(), "alerting cannot read the store; alerts keep their state until it is back");
                        store_failing = true;
                    }
                    Err(_) => {}
                }
                if let Err(e) = ev.sync(now).await {
                    tracing::warn!(error = %e, "cannot read acknowledgements from the state database");
                }
                ev.windows.prune(now);
                if let Err(e) = ev.cycle(None, now).await {
                    failed(&mut last_failure, &e);
                }
            }
            batch = recv(&mut tap) => match batch {
                Ok(points) => {
                    let changed = ev.ingest(&points);
                    if !changed.is_empty() {
                        if let Err(e) = ev.cycle(Some(&changed), now_nanos()).await {
                            failed(&mut last_failure, &e);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(batches = n, "alerting fell behind the agent; the store read catches up");
                }
                Err(broadcast::error::RecvError::Closed) => tap = None,
            },
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Logs a failed evaluation at most once a minute: it is retried every cycle, and the same error each
/// second would bury everything else.
fn failed(last: &mut Option<Instant>, e: &AlertingError) {
    if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
        tracing::warn!(error = %e, "alert evaluation failed; retrying every cycle (logged once a minute)");
        *last = Some(Instant::now());
    }
}

/// Resolves when `stop` turns true (the guard `wait_for` returns is not `Send`: drop it at once).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn recv(tap: &mut Option<Tap>) -> Result<Arc<[Point]>, broadcast::error::RecvError> {
    match tap {
        Some(t) => t.recv().await,
        None => std::future::pending().await,
    }
}

/// How often alerting reads maintenance points from the store. Why not every evaluation: each read is a
/// request, and on InfluxDB a request costs influxd 10 ms of CPU or more whatever it returns (issue 19); an agent writes
/// a maintenance point every slot of a window, so a window's start reaches a separate alerting process at
/// most this much later (in `watchpost run` the agent's points come straight from the tap).
const MAINTENANCE_EVERY: i64 = 5 * 1_000_000_000;

/// The probe points new since `feed` (the first time, those of `range`, read in the parts the store asks for
/// `endpoints`, and the cursor placed where that read began) and, when `maintenance`, the maintenance points
/// of `range`. The cursor moves only when the whole read succeeds.
async fn read(
    store: &dyn Store,
    feed: &mut Option<FeedCursor>,
    range: TimeRange,
    maintenance: bool,
    endpoints: usize,
) -> Result<Vec<Point>, StoreError> {
    let (probes, cursor) = match feed {
        Some(cursor) => {
            let mut next = cursor.clone();
            (store.feed(&mut next).await?, next)
        }
        None => {
            let start = store.feed_start().await?;
            (watchpost_core::store::probe_points_in_parts(store, range, None, endpoints, false).await?, start)
        }
    };
    let maintenance = match maintenance {
        true => store.maintenance_points_all(range, Select::All).await?,
        false => Vec::new(),
    };
    *feed = Some(cursor);
    Ok(probes.into_iter().map(Point::Probe).chain(maintenance.into_iter().map(Point::Maintenance)).collect())
}

/// Configuration text as the tests of this crate write it, with no status page served.
#[cfg(test)]
pub(crate) fn test_settings(text: &str) -> Settings {
    let page = config::Page { url: "http://status.test".into(), served: false };
    Settings::parse("t.toml", Format::Toml, text, &HashMap::new(), &page).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchpost_core::model::{ProbePoint, SeriesKey};

    const CONFIG: &str = r#"
[[endpoints]]
id = "api"
url = "http://127.0.0.1:1/"

[oncall.schedules.primary]
members = ["alice", "bob", "carol"]

[alerting.notifiers.pd]
type = "pagerduty"
routing_key = "R0123456789"

[alerting.notifiers.hook]
type = "webhook"
url = "http://127.0.0.1:1/hook"

[alerting.policies.default]
notifiers = ["pd", "hook"]
levels = [{ targets = ["oncall:primary"] }, { after = "15m", targets = ["next:primary"] }, { after = "30m", targets = ["team:primary"] }]

[[alerting.rules]]
name = "down"
when = "availability < 100"
"#;

    fn down(ts: Nanos) -> Point {
        let series =
            Arc::new(SeriesKey { endpoint: "api".into(), region: "eu".into(), component: String::new(), environment: "production".into() });
        Point::Probe(ProbePoint {
            series,
            ts,
            availability: 0.0,
            ok: false,
            latency_ms: 1.0,
            dns_ms: None,
            connect_ms: None,
            tls_ms: None,
            ttfb_ms: None,
            status_code: Some(503),
            cert_days_left: None,
            error: None,
            confirmed_down: true,
            failed_step: None,
        })
    }

    /// `action:notifier` of every delivery due, each recorded as sent.
    async fn actions(state: &StateDb) -> Vec<String> {
        sent(state).await.into_iter().map(|(action, notifier, _)| format!("{action}:{notifier}")).collect()
    }

    /// Escalation on tokio's paused clock: level 2 only after `after`, then the whole team; an
    /// acknowledgement in between stops it. The evaluator's time is the paused clock's.
    #[tokio::test(start_paused = true)]
    async fn escalation_follows_the_clock_and_stops_at_an_acknowledgement() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Arc::new(test_settings(CONFIG));
        let state = Arc::new(StateDb::open(&dir.path().join("state.db")).await.unwrap());
        let started = tokio::time::Instant::now();
        let t0: Nanos = 1_763_294_400_000_000_000;
        let now = || t0 + started.elapsed().as_nanos() as Nanos;

        // One endpoint, kept down by a probe each minute.
        let mut ev = Evaluator::new(cfg.clone(), state.clone(), Arc::new(AlertingMetrics::default())).await.unwrap();
        let tick = |ev: &mut Evaluator| {
            let t = now();
            ev.ingest(&[down(t)]);
        };
        tick(&mut ev);
        ev.cycle(None, now()).await.unwrap();
        assert_eq!(actions(&state).await, vec!["trigger:pd", "trigger:hook"]);
        for _ in 0..14 {
            tokio::time::advance(Duration::from_secs(60)).await;
            tick(&mut ev);
            ev.cycle(None, now()).await.unwrap();
        }
        assert!(actions(&state).await.is_empty(), "nothing before 15 minutes");
        tokio::time::advance(Duration::from_secs(60)).await;
        tick(&mut ev);
        ev.cycle(None, now()).await.unwrap();
        assert_eq!(actions(&state).await, vec!["escalate:hook"], "level 2 at 15 minutes (PagerDuty escalates on its own side)");
        let row = state.alert("down/api/production").await.unwrap().unwrap();
        assert_eq!(row.paged.len(), 2, "the on-call person and the next one: {:?}", row.paged);

        // Acknowledged at 20 minutes: passed on once, and the whole team is never paged.
        tokio::time::advance(Duration::from_secs(300)).await;
        state.acknowledge_alert("down/api/production", "bob", now()).await.unwrap();
        ev.sync(now()).await.unwrap();
        tick(&mut ev);
        ev.cycle(None, now()).await.unwrap();
        assert_eq!(actions(&state).await, vec!["acknowledge:pd", "acknowledge:hook"]);
        for _ in 0..30 {
            tokio::time::advance(Duration::from_secs(60)).await;
            tick(&mut ev);
            ev.cycle(None, now()).await.unwrap();
        }
        assert!(actions(&state).await.is_empty(), "no level 3 after the acknowledgement");
        assert_eq!(state.alert("down/api/production").await.unwrap().unwrap().level, 2);
    }

    const NOISE: &str = r#"
[[endpoints]]
id = "db"
component = "db"
url = "http://127.0.0.1:1/"

[[endpoints]]
id = "c1"
component = "checkout"
url = "http://127.0.0.1:1/"

[[endpoints]]
id = "c2"
component = "checkout"
url = "http://127.0.0.1:1/"

[[endpoints]]
id = "c3"
component = "checkout"
url = "http://127.0.0.1:1/"

[[endpoints]]
id = "w1"
component = "web"
labels = { team = "web" }
url = "http://127.0.0.1:1/"

[[statuspage.components]]
id = "db"
[[statuspage.components]]
id = "checkout"
depends_on = ["db"]
[[statuspage.components]]
id = "web"

[oncall.schedules.primary]
members = ["alice", "bob"]

[alerting.notifiers.pd]
type = "pagerduty"
routing_key = "R0123456789"

[alerting.notifiers.hook]
type = "webhook"
url = "http://127.0.0.1:1/hook"

[alerting.policies.default]
notifiers = ["pd", "hook"]
levels = [{ targets = ["oncall:primary"] }]

[alerting.route]
policy = "default"
group_by = ["component"]
group_wait = "30s"
group_interval = "2m"

[[alerting.routes]]
name = "web"
match = ["team=web"]
group_by = ["..."]

[[alerting.rules]]
name = "down"
when = "availability < 100"
"#;

    fn probe(endpoint: &str, ts: Nanos, up: bool) -> Point {
        let series = Arc::new(SeriesKey {
            endpoint: endpoint.into(),
            region: "eu".into(),
            component: String::new(),
            environment: "production".into(),
        });
        let p = ProbePoint::sample(series, ts, if up { 100.0 } else { 0.0 }, up, 1.0);
        Point::Probe(ProbePoint { confirmed_down: !up, ..p })
    }

    /// (action, notifier, alert) of every delivery due, each recorded as sent.
    async fn sent(state: &StateDb) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for d in state.claim_deliveries(i64::MAX / 2, 1, 1000).await.unwrap() {
            out.push((d.action.clone(), d.notifier.clone(), d.alert.clone()));
            state.record_alert_delivery(d.id, Ok("202".into()), 0).await.unwrap();
        }
        out
    }

    /// Issue 21, noise control end to end through the evaluator and a real state database on tokio's
    /// paused clock: a dependency failing with its dependants pages once (for the dependency); the
    /// dependants page once, as one group, when they are still down after it recovered; a silence holds an
    /// alert back and it pages when the silence ends; a new evaluator on the same database (a restart) pages
    /// nothing again; a group's change is one update.
    #[tokio::test(start_paused = true)]
    async fn dependencies_groups_and_silences_page_once_per_group_episode_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Arc::new(test_settings(NOISE));
        let state = Arc::new(StateDb::open(&dir.path().join("state.db")).await.unwrap());
        let started = tokio::time::Instant::now();
        let t0: Nanos = 1_763_294_400_000_000_000;
        let now = || t0 + started.elapsed().as_nanos() as Nanos;
        let mut ev = Evaluator::new(cfg.clone(), state.clone(), Arc::new(AlertingMetrics::default())).await.unwrap();
        let mut up: HashMap<&str, bool> = [("db", true), ("c1", true), ("c2", true), ("c3", true), ("w1", true)].into();
        // Drives `seconds` of probes every 5 s and a cycle after each.
        macro_rules! run {
            ($seconds:expr) => {
                for _ in 0..($seconds / 5) {
                    tokio::time::advance(Duration::from_secs(5)).await;
                    let t = now();
                    let points: Vec<Point> = up.iter().map(|(e, u)| probe(e, t, *u)).collect();
                    ev.ingest(&points);
                    ev.sync(now()).await.unwrap();
                    ev.cycle(None, t).await.unwrap();
                }
            };
        }
        run!(10);
        assert!(sent(&state).await.is_empty());

        // The database and checkout fail together: checkout waits on db, db's group waits 30 s.
        for e in ["db", "c1", "c2", "c3"] {
            up.insert(e, false);
        }
        run!(5);
        assert!(sent(&state).await.is_empty(), "group_wait");
        let c1 = state.alert("down/c1/production").await.unwrap().unwrap();
        assert_eq!(c1.state, AlertState::Firing);
        assert!(c1.held.starts_with("waits on db"), "{}", c1.held);
        run!(30);
        let pages = sent(&state).await;
        assert_eq!(
            pages,
            vec![
                ("trigger".into(), "pd".into(), "group:route/component=db".into()),
                ("trigger".into(), "hook".into(), "group:route/component=db".into())
            ],
            "one page, for the dependency"
        );

        // db recovers, checkout is still down: its three alerts page once, together, after group_wait.
        up.insert("db", true);
        run!(10);
        let resolved = sent(&state).await;
        assert!(resolved.iter().all(|(a, _, g)| a == "resolve" && g == "group:route/component=db"), "{resolved:?}");
        assert_eq!(resolved.len(), 2);
        run!(30);
        let pages = sent(&state).await;
        assert_eq!(pages.len(), 2, "{pages:?}");
        assert!(pages.iter().all(|(a, _, g)| a == "trigger" && g == "group:route/component=checkout"), "{pages:?}");
        let group = state.alert("group:route/component=checkout").await.unwrap().unwrap();
        assert_eq!(group.members, vec!["down/c1/production", "down/c2/production", "down/c3/production"]);

        // A silence on web: w1 fails and pages nobody until the silence is expired.
        let silence = state
            .create_silence(
                watchpost_core::state::NewSilence {
                    matchers: vec![watchpost_core::labels::Matcher::parse("component=web").unwrap()],
                    starts_at: now(),
                    ends_at: now() + 3_600_000_000_000,
                    created_by: "alice".into(),
                    comment: "deploy".into(),
                },
                now(),
            )
            .await
            .unwrap();
        up.insert("w1", false);
        run!(20);
        assert!(sent(&state).await.is_empty(), "silenced");
        assert!(state.alert("down/w1/production").await.unwrap().unwrap().held.starts_with("silenced by"));

        // A restart: the new evaluator takes the rows and pages nothing again.
        ev = Evaluator::new(cfg.clone(), state.clone(), Arc::new(AlertingMetrics::default())).await.unwrap();
        run!(20);
        assert!(sent(&state).await.is_empty(), "nothing again after a restart");

        // The silence ends with w1 still down: it pages then, alone (its route does not group; it inherits
        // the default route's group_wait).
        state.expire_silence(&silence.id, now()).await.unwrap();
        run!(35);
        let pages = sent(&state).await;
        assert_eq!(pages.len(), 2, "{pages:?}");
        assert!(pages.iter().all(|(a, _, g)| a == "trigger" && g == "group:web/down/w1/production"), "{pages:?}");

        // c1 recovers: one update to the channels that show messages (PagerDuty keeps its incident),
        // after group_interval.
        up.insert("c1", true);
        run!(150);
        let updates = sent(&state).await;
        assert_eq!(updates, vec![("update".into(), "hook".into(), "group:route/component=checkout".into())]);
        let group = state.alert("group:route/component=checkout").await.unwrap().unwrap();
        assert_eq!(group.members, vec!["down/c2/production", "down/c3/production"]);
        assert_eq!(group.episode, 1, "the same incident");
    }
}
