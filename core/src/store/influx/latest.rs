//! `latest_states` on InfluxDB: at start restored from the states the aggregator saves each minute (or
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
        let points = self.feed_since(&mut cache.cursor).await?;
        fold_states(&mut cache.states, &points);
        cache.states.retain(|_, s| s.last_ts >= now - STATE_WINDOW);
        Ok(newest_per_endpoint(cache.states.values().cloned().collect()))
    }

    /// Writes the states this store keeps into the write log (`feed_state`, one series per writer, in one
    /// block of times), then a `state_commit` naming the block and the write-log place they are current to.
    pub(super) async fn save_states_now(&self) -> Result<(), StoreError> {
        let (states, as_of) = {
            let slot = self.states.lock().await;
            let Some(cache) = slot.cache.as_ref() else { return Ok(()) };
            (cache.states.values().cloned().collect::<Vec<_>>(), cache.cursor.position)
        };
        let Some(n) = i64::try_from(states.len()).ok().filter(|n| *n > 0) else { return Ok(()) };
        use crate::lineproto::{write_line, Field};
        let first = self.feed_clock.take(n);
        let mut bodies = Vec::new();
        let mut buf = Vec::new();
        let mut lines = 0u64;
        for (s, ts) in states.iter().zip(first..) {
            let fields = [
                ("endpoint", Some(Field::Str(&s.endpoint))),
                ("region", Some(Field::Str(&s.region))),
                ("component", Some(Field::Str(&s.component))),
                ("environment", Some(Field::Str(&s.environment))),
                ("confirmed_down", Some(Field::Bool(s.confirmed_down))),
                ("since", Some(Field::Int(s.since))),
                ("last_ts", Some(Field::Int(s.last_ts))),
                ("last_ok", Some(Field::Bool(s.last_ok))),
                ("last_latency_ms", Some(Field::Float(s.last_latency_ms))),
                ("last_error", Some(Field::Str(s.last_error.map_or("", ErrorClass::as_str)))),
            ];
            lines += u64::from(write_line(&mut buf, "feed_state", &[("writer", self.writer.as_str())], &fields, ts));
            if lines as usize >= MAX_LINES {
                bodies.push((gzip(&buf), lines));
                buf.clear();
                lines = 0;
            }
        }
        if lines > 0 {
            bodies.push((gzip(&buf), lines));
        }
        self.send(bodies, "save the latest states").await?;
        let fields = [("from", Some(Field::Int(first))), ("to", Some(Field::Int(first + n - 1))), ("as_of", Some(Field::Int(as_of)))];
        self.send_commit("state_commit", &fields, "save the latest states").await
    }

    /// The newest states saved by any process in the last [`SNAPSHOT_MAX_AGE`], with a write-log cursor at
    /// the place they are current to; `None` without any (or with an incomplete one).
    async fn saved_states(&self, now: Nanos) -> Result<Option<StateCache>, StoreError> {
        // A few rows a writer (one a minute): the newest is picked here, in the InfluxQL every version answers.
        let q =
            format!("SELECT \"from\", \"to\", \"as_of\" FROM \"state_commit\" WHERE time > {} GROUP BY \"writer\"", now - SNAPSHOT_MAX_AGE);
        let mut newest: Option<(Nanos, String, Nanos, Nanos, Nanos)> = None;
        for r in self.query(&q).await? {
            for s in r.series.unwrap_or_default() {
                let cols = ["time", "from", "to", "as_of"].map(|c| s.col(c));
                for row in &s.values {
                    let v = |i: usize| cols[i].and_then(|c| row.get(c)).and_then(serde_json::Value::as_i64);
                    if let (Some(t), Some(from), Some(to), Some(as_of)) = (v(0), v(1), v(2), v(3)) {
                        if newest.as_ref().is_none_or(|n| t > n.0) {
                            newest = Some((t, s.tag("writer"), from, to, as_of));
                        }
                    }
                }
            }
        }
        let Some((_, writer, from, to, as_of)) = newest else { return Ok(None) };
        let q = format!("SELECT * FROM \"feed_state\" WHERE \"writer\" = {} AND time >= {from} AND time <= {to}", lit(&writer));
        let mut states = HashMap::new();
        for r in self.query(&q).await? {
            for s in r.series.unwrap_or_default() {
                let cols = [
                    "endpoint",
                    "region",
                    "component",
                    "environment",
                    "confirmed_down",
                    "since",
                    "last_ts",
                    "last_ok",
                    "last_latency_ms",
                    "last_error",
                ]
                .map(|c| s.col(c));
                for row in &s.values {
                    let get = |i: usize| cols[i].and_then(|c| row.get(c)).filter(|v| !v.is_null());
                    let text = |i: usize| get(i).and_then(serde_json::Value::as_str).map(str::to_string);
                    let (Some(endpoint), Some(region), Some(component), Some(environment)) = (text(0), text(1), text(2), text(3)) else {
                        continue;
                    };
                    let (Some(confirmed_down), Some(since), Some(last_ts), Some(last_ok), Some(last_latency_ms)) = (
                        get(4).and_then(serde_json::Value::as_bool),
                        get(5).and_then(serde_json::Value::as_i64),
                        get(6).and_then(serde_json::Value::as_i64),
                        get(7).and_then(serde_json::Value::as_bool),
                        get(8).and_then(serde_json::Value::as_f64),
                    ) else {
                        continue;
                    };
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
                        last_latency_ms,
                        last_error: text(9).as_deref().and_then(ErrorClass::parse),
                    };
                    states.insert(key, state);
                }
            }
        }
        if i64::try_from(states.len()).ok() != Some(to - from + 1) {
            return Ok(None); // part of the block is missing or damaged: derive instead
        }
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
