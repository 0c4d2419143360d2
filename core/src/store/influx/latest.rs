//! `latest_states` on InfluxDB: at start restored from the states the aggregator saves every 20 s (or
//! derived from the last 24 h when none are recent), derived afresh once an hour, and kept current in between
//! from the write log (`feed`), each new point read once.

use super::*;
use feed::FEED_OVERLAP;

/// Every series' latest state, as of the cursor's place in the write log.
pub(super) struct StateCache {
    pub(super) full_at: Nanos,
    pub(super) cursor: FeedCursor,
    pub(super) states: HashMap<SeriesKey, EndpointState>,
}

/// The cache, and when a failed derivation may be tried again.
#[derive(Default)]
pub(super) struct StateSlot {
    cache: Option<StateCache>,
    retry_at: Option<Nanos>,
    backoff: Nanos,
    last_error: String,
}

/// How often `latest_states` derives every state afresh from the whole window: a commit the write log's
/// overlap missed (see `feed`) reaches the states then.
pub(super) const STATE_FULL_REFRESH: Nanos = 3600 * 1_000_000_000;
/// After a failed derivation, the next waits this long, doubling up to [`DERIVE_BACKOFF_MAX`]. Why: with
/// 20,000 series the derivation costs influxd seconds of CPU; a status page asking twice a second would
/// otherwise start it again and again while influxd is still busy with the last, and never finish (seen in
/// `bench/fullstack.py`, issue 19).
const DERIVE_BACKOFF_MIN: Nanos = 5 * 1_000_000_000;
const DERIVE_BACKOFF_MAX: Nanos = 60 * 1_000_000_000;
/// Saved states are a first call's start only while younger than this (the aggregator saves them once a
/// minute); older, the aggregator has stopped, and they are derived from the raw points.
const SNAPSHOT_MAX_AGE: Nanos = 5 * 60 * 1_000_000_000;
/// Commits this much older than the place saved states are current to are taken as included in them.
const SNAPSHOT_SLACK: Nanos = 5 * 1_000_000_000;
/// The document the latest states are saved as.
const STATES_DOCUMENT: &str = "latest_states";

/// Saved latest states: the write-log place they are current to, and per series its state (endpoint, region,
/// component, environment, confirmed down, since, last point's time, ok, latency and error class). A document
/// rather than a point per series: one series of a few dozen points for 20,000 states is cheaper for influxd
/// to write and to read (`bench/status.py`, issue 19).
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedStates {
    as_of: Nanos,
    states: Vec<SavedState>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedState(String, String, String, String, bool, Nanos, Nanos, bool, Option<f64>, String);

impl InfluxStore {
    /// The body of [`Store::latest_states`] (its doc says how it stays cheap).
    pub(super) async fn latest_states_cached(&self) -> Result<Vec<EndpointState>, StoreError> {
        let now = now_nanos();
        let mut slot = self.states.lock().await;
        let due = slot.cache.as_ref().is_none_or(|c| now - c.full_at >= STATE_FULL_REFRESH);
        if due && slot.retry_at.is_none_or(|t| now >= t) {
            // A first call starts from the states another process saved, when there are recent ones; the
            // hourly refresh derives them from the raw points (and so repairs what the write log missed).
            let restored = match slot.cache.is_none() {
                true => self.saved_states(now).await.unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "cannot read saved latest states; deriving them");
                    None
                }),
                false => None,
            };
            let fresh = match restored {
                Some(cache) => Ok(cache),
                None => self.derive_cache(now).await,
            };
            match fresh {
                Ok(cache) => {
                    *slot = StateSlot { cache: Some(cache), ..StateSlot::default() };
                }
                Err(e) => {
                    slot.backoff = (slot.backoff * 2).clamp(DERIVE_BACKOFF_MIN, DERIVE_BACKOFF_MAX);
                    slot.retry_at = Some(now + slot.backoff);
                    slot.last_error = e.to_string();
                    if slot.cache.is_none() {
                        return Err(e);
                    }
                    // An hourly re-derivation failed: keep the states, which the write log keeps current.
                    tracing::warn!(error = %e, "re-deriving the latest states failed; following the write log meanwhile");
                }
            }
        }
        let retry_in = slot.retry_at.map_or(0, |t| (t - now).max(0) / 1_000_000_000);
        let reason = format!("{} (tried again in {retry_in} s)", slot.last_error);
        let Some(cache) = slot.cache.as_mut() else {
            return Err(StoreError::Io { op: "derive the latest states", reason, retryable: true });
        };
        // The cursor moves only when the read succeeds: on failure the next call reads the same.
        let points = self.feed_shared(&mut cache.cursor).await?;
        fold_states(&mut cache.states, &points);
        cache.states.retain(|_, s| s.last_ts >= now - STATE_WINDOW);
        Ok(newest_per_endpoint(cache.states.values().cloned().collect()))
    }

    /// Saves the states this store keeps as one document (`Store::save_document`, name [`STATES_DOCUMENT`]),
    /// with the write-log place they are current to.
    pub(super) async fn save_states_now(&self) -> Result<(), StoreError> {
        let body = {
            let slot = self.states.lock().await;
            let Some(cache) = slot.cache.as_ref().filter(|c| !c.states.is_empty()) else { return Ok(()) };
            let states = cache
                .states
                .values()
                .map(|s| {
                    SavedState(
                        s.endpoint.clone(),
                        s.region.clone(),
                        s.component.clone(),
                        s.environment.clone(),
                        s.confirmed_down,
                        s.since,
                        s.last_ts,
                        s.last_ok,
                        // JSON has no NaN: an unknown latency is saved as null.
                        s.last_latency_ms.is_finite().then_some(s.last_latency_ms),
                        s.last_error.map_or("", ErrorClass::as_str).to_string(),
                    )
                })
                .collect();
            serde_json::to_string(&SavedStates { as_of: cache.cursor.position, states }).map_err(|e| StoreError::Io {
                op: "save the latest states",
                reason: e.to_string(),
                retryable: false,
            })?
        };
        self.save_document_now(STATES_DOCUMENT, &body).await
    }

    /// The newest states saved by any process in the last [`SNAPSHOT_MAX_AGE`], with a write-log cursor at
    /// the place they are current to; `None` without any (or with an unreadable one).
    async fn saved_states(&self, now: Nanos) -> Result<Option<StateCache>, StoreError> {
        let Some((saved_at, body)) = self.read_document(STATES_DOCUMENT).await? else { return Ok(None) };
        if saved_at < now - SNAPSHOT_MAX_AGE {
            return Ok(None);
        }
        let Ok(saved) = serde_json::from_str::<SavedStates>(&body) else {
            tracing::warn!("the saved latest states are unreadable; deriving them");
            return Ok(None);
        };
        let states = saved
            .states
            .into_iter()
            .map(|SavedState(endpoint, region, component, environment, confirmed_down, since, last_ts, last_ok, last_latency_ms, error)| {
                let key = SeriesKey { endpoint, region, component, environment };
                let state = EndpointState {
                    endpoint: key.endpoint.clone(),
                    region: key.region.clone(),
                    component: key.component.clone(),
                    environment: key.environment.clone(),
                    confirmed_down,
                    since,
                    last_ts,
                    last_ok,
                    last_latency_ms: last_latency_ms.unwrap_or(f64::NAN),
                    last_error: ErrorClass::parse(&error),
                };
                (key, state)
            })
            .collect();
        let as_of = saved.as_of;
        // The commits the saved states already include: all but the last few seconds' before their place
        // (one that became readable later than that is not in them, and is read again: harmless).
        let included = self.commits(as_of - FEED_OVERLAP).await?.into_iter().filter(|c| c.time <= as_of - SNAPSHOT_SLACK);
        self.restored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Some(StateCache { full_at: now, cursor: feed::cursor_after(as_of, included), states }))
    }

    /// Every state derived afresh, with a write-log cursor placed before the derivation: what is written
    /// meanwhile is read next time (a point folded twice changes nothing, `fold_states` keeps the newest).
    async fn derive_cache(&self, now: Nanos) -> Result<StateCache, StoreError> {
        let cursor = self.feed_start_at().await?;
        self.derived.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let states = self
            .derive_states(now)
            .await?
            .into_iter()
            .map(|s| {
                let key = SeriesKey {
                    endpoint: s.endpoint.clone(),
                    region: s.region.clone(),
                    component: s.component.clone(),
                    environment: s.environment.clone(),
                };
                (key, s)
            })
            .collect();
        Ok(StateCache { full_at: now, cursor, states })
    }

    /// Every series' latest state derived from the last 24 h (see `latest_states`).
    pub(super) async fn derive_states(&self, now: Nanos) -> Result<Vec<EndpointState>, StoreError> {
        let window = format!("time >= {}", now - STATE_WINDOW);
        // One selector per statement, so each returns the time of the point it selected.
        let statements = [
            format!("SELECT last(\"latency_ms\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"ok\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"error\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"confirmed_down\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"latency_ms\") FROM \"probe\" WHERE {window} AND \"confirmed_down\" = true GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"latency_ms\") FROM \"probe\" WHERE {window} AND \"confirmed_down\" = false GROUP BY {PROBE_TAGS}"),
            format!("SELECT first(\"latency_ms\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
        ];
        // One request per statement, each within the store's timeout: together they take seconds at 20,000
        // series, and one request for all would time out where each alone does not. Not cut by endpoint:
        // influxd 1.6 evaluates an `"endpoint" = … OR …` condition against every series, so 20 groups of 500
        // cost it six times one statement over all 10,000 (measured 2.6 against 0.43 CPU-s).
        let mut maps: [HashMap<SeriesKey, (Nanos, serde_json::Value)>; 7] = Default::default();
        for (i, statement) in statements.iter().enumerate() {
            for r in self.query(statement).await? {
                for s in r.series.iter().flatten() {
                    if let Some((t, v)) = s.first_row() {
                        maps[i].insert(s.key(), (t, v.clone()));
                    }
                }
            }
        }
        let [latency, ok, error, down, last_down, last_up, first] = maps;
        let mut states = Vec::new();
        // Series whose current state began after a change inside the window: the first point after the last
        // point in the other state, found with one statement per such series.
        let mut since_queries: Vec<(usize, String)> = Vec::new();
        for (key, (ts, lat)) in &latency {
            let is_down = down.get(key).and_then(|(_, v)| v.as_bool()).unwrap_or(false);
            let other = if is_down { last_up.get(key) } else { last_down.get(key) };
            let since = first.get(key).map_or(*ts, |(t, _)| *t);
            if let Some((t_other, _)) = other {
                let filter = format!(
                    "\"endpoint\" = {} AND \"region\" = {} AND \"component\" = {} AND \"environment\" = {}",
                    lit(&key.endpoint),
                    lit(&key.region),
                    lit(&key.component),
                    lit(&key.environment)
                );
                since_queries
                    .push((states.len(), format!("SELECT first(\"latency_ms\") FROM \"probe\" WHERE {filter} AND time > {t_other}")));
            }
            states.push(EndpointState {
                endpoint: key.endpoint.clone(),
                region: key.region.clone(),
                component: key.component.clone(),
                environment: key.environment.clone(),
                confirmed_down: is_down,
                since,
                last_ts: *ts,
                last_ok: ok.get(key).and_then(|(_, v)| v.as_bool()).unwrap_or(false),
                last_latency_ms: lat.as_f64().unwrap_or(0.0),
                last_error: error.get(key).and_then(|(_, v)| v.as_str()).and_then(ErrorClass::parse),
            });
        }
        // In requests of a bounded number of statements, however many series changed state.
        for chunk in since_queries.chunks(SINCE_STATEMENTS) {
            let q: Vec<&str> = chunk.iter().map(|(_, q)| q.as_str()).collect();
            let results = self.query(&q.join("; ")).await?;
            for ((i, _), r) in chunk.iter().zip(results) {
                if let Some((t, _)) = r.series.as_ref().and_then(|ss| ss.first()).and_then(SeriesResult::first_row) {
                    states[*i].since = t;
                }
            }
        }
        Ok(states)
    }
}

/// Folds probe points (of any series, in any order) into the states they update: the newest point of a
/// series sets its state; a state that changed starts at the first point of its newest run.
pub(super) fn fold_states(states: &mut HashMap<SeriesKey, EndpointState>, points: &[ProbePoint]) {
    let mut by_series: HashMap<&SeriesKey, Vec<&ProbePoint>> = HashMap::new();
    for p in points {
        by_series.entry(&*p.series).or_default().push(p);
    }
    for (key, mut pts) in by_series {
        pts.sort_by_key(|p| p.ts);
        let Some(last) = pts.last() else { continue };
        // The first point of the newest run of equal states within these points.
        let run_start = pts.iter().rev().take_while(|p| p.confirmed_down == last.confirmed_down).last().map_or(last.ts, |p| p.ts);
        let whole_run = pts.iter().all(|p| p.confirmed_down == last.confirmed_down);
        let old = states.get(key);
        if old.is_some_and(|o| o.last_ts > last.ts) {
            continue; // these points are older than what is known
        }
        let since = match old {
            // No change among these points and none since the known state: it began when it began.
            Some(o) if whole_run && o.confirmed_down == last.confirmed_down => o.since,
            _ => run_start,
        };
        states.insert(
            key.clone(),
            EndpointState {
                endpoint: key.endpoint.clone(),
                region: key.region.clone(),
                component: key.component.clone(),
                environment: key.environment.clone(),
                confirmed_down: last.confirmed_down,
                since,
                last_ts: last.ts,
                last_ok: last.ok,
                last_latency_ms: last.latency_ms,
                last_error: last.error,
            },
        );
    }
}

/// An endpoint whose component changed has an older series too: keep the newest per endpoint, region and
/// environment.
pub(super) fn newest_per_endpoint(mut states: Vec<EndpointState>) -> Vec<EndpointState> {
    states.sort_by(|a, b| (&a.endpoint, &a.region, &a.environment, a.last_ts).cmp(&(&b.endpoint, &b.region, &b.environment, b.last_ts)));
    let mut out: Vec<EndpointState> = Vec::with_capacity(states.len());
    for s in states {
        match out.last_mut() {
            Some(prev) if prev.endpoint == s.endpoint && prev.region == s.region && prev.environment == s.environment => *prev = s,
            _ => out.push(s),
        }
    }
    out
}
