//! `latest_states` on InfluxDB: derived from the last 24 h once an hour, kept current in between from the
//! write log (`feed`), each new point read once.

use super::*;

/// Every series' latest state, as of the cursor's place in the write log.
pub(super) struct StateCache {
    pub(super) full_at: Nanos,
    pub(super) cursor: FeedCursor,
    pub(super) states: HashMap<SeriesKey, EndpointState>,
}

/// How often `latest_states` derives every state afresh from the whole window: a commit the write log's
/// overlap missed (see `feed`) reaches the states then.
pub(super) const STATE_FULL_REFRESH: Nanos = 3600 * 1_000_000_000;

impl InfluxStore {
    /// The body of [`Store::latest_states`] (its doc says how it stays cheap).
    pub(super) async fn latest_states_cached(&self) -> Result<Vec<EndpointState>, StoreError> {
        let now = now_nanos();
        let mut guard = self.states.lock().await;
        let cache = match guard.take() {
            Some(mut c) if now - c.full_at < STATE_FULL_REFRESH => {
                // On failure the cache is put back (the cursor has not moved): the next call reads the same.
                let points = match self.feed_since(&mut c.cursor).await {
                    Ok(p) => p,
                    Err(e) => {
                        *guard = Some(c);
                        return Err(e);
                    }
                };
                fold_states(&mut c.states, &points);
                c.states.retain(|_, s| s.last_ts >= now - STATE_WINDOW);
                c
            }
            _ => {
                // The cursor first: what is written while the states are derived is read next time (a point
                // folded twice changes nothing, `fold_states` keeps the newest).
                let cursor = self.feed_start_at().await?;
                let states = self.derive_states(now).await?;
                let states = states
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
                StateCache { full_at: now, cursor, states }
            }
        };
        let out = newest_per_endpoint(cache.states.values().cloned().collect());
        *guard = Some(cache);
        Ok(out)
    }

    /// Every series' latest state derived from the last 24 h (see `latest_states`).
    pub(super) async fn derive_states(&self, now: Nanos) -> Result<Vec<EndpointState>, StoreError> {
        let window = format!("time >= {}", now - STATE_WINDOW);
        // One selector per statement, so each returns the time of the point it selected.
        let q = [
            format!("SELECT last(\"latency_ms\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"ok\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"error\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"confirmed_down\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"latency_ms\") FROM \"probe\" WHERE {window} AND \"confirmed_down\" = true GROUP BY {PROBE_TAGS}"),
            format!("SELECT last(\"latency_ms\") FROM \"probe\" WHERE {window} AND \"confirmed_down\" = false GROUP BY {PROBE_TAGS}"),
            format!("SELECT first(\"latency_ms\") FROM \"probe\" WHERE {window} GROUP BY {PROBE_TAGS}"),
        ]
        .join("; ");
        let results = self.query(&q).await?;
        let by_key = |i: usize| -> HashMap<SeriesKey, (Nanos, serde_json::Value)> {
            results
                .get(i)
                .and_then(|r| r.series.as_ref())
                .map(|ss| ss.iter().filter_map(|s| s.first_row().map(|(t, v)| (s.key(), (t, v.clone())))).collect())
                .unwrap_or_default()
        };
        let (latency, ok, error, down, last_down, last_up, first) =
            (by_key(0), by_key(1), by_key(2), by_key(3), by_key(4), by_key(5), by_key(6));
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
