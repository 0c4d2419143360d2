//! The writer: one transaction per batch, series and their latest state kept in memory between batches.

use super::*;

/// What the writer remembers of a series between batches.
#[derive(Debug, Clone, Copy)]
pub(super) struct SeriesEntry {
    pub(super) id: i64,
    /// Confirmed state of the newest point written, `None` before the first.
    pub(super) down: Option<bool>,
    pub(super) since: Nanos,
    pub(super) last_ts: Nanos,
}

/// The writer's connection and its memory of every series it has seen.
pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) series: HashMap<SeriesKey, SeriesEntry>,
}

/// The series entry for `key`: from `overlay` or `known`, else from the database (creating the series if new).
/// Entries read or created here go to `overlay`, which is merged into `known` only after the commit, so a
/// rolled-back batch leaves no memory of series or states the database does not have.
pub(super) fn series_entry(
    tx: &rusqlite::Transaction<'_>,
    known: &HashMap<SeriesKey, SeriesEntry>,
    overlay: &mut HashMap<SeriesKey, SeriesEntry>,
    key: &SeriesKey,
) -> rusqlite::Result<SeriesEntry> {
    {
        if let Some(e) = overlay.get(key).or_else(|| known.get(key)) {
            return Ok(*e);
        }
        tx.prepare_cached("INSERT OR IGNORE INTO series (endpoint, region, component, environment) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![key.endpoint, key.region, key.component, key.environment])?;
        let id: i64 = tx
            .prepare_cached("SELECT id FROM series WHERE endpoint = ?1 AND region = ?2 AND component = ?3 AND environment = ?4")?
            .query_row(params![key.endpoint, key.region, key.component, key.environment], |r| r.get(0))?;
        let state: Option<(bool, Nanos, Nanos)> = tx
            .prepare_cached("SELECT confirmed_down, since, last_ts FROM series_state WHERE series = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let e = match state {
            Some((down, since, last_ts)) => SeriesEntry { id, down: Some(down), since, last_ts },
            None => SeriesEntry { id, down: None, since: 0, last_ts: Nanos::MIN },
        };
        overlay.insert(key.clone(), e);
        Ok(e)
    }
}

impl Writer {
    pub(super) fn write_batch(&mut self, batch: &[Point]) -> rusqlite::Result<()> {
        let mut overlay: HashMap<SeriesKey, SeriesEntry> = HashMap::new();
        // The newest point of each series in this batch that is newer than what is stored, with its state.
        let mut newest: HashMap<i64, (SeriesEntry, &ProbePoint)> = HashMap::new();
        let Writer { conn, series: known } = self;
        let tx = crate::sqlite::write_transaction(conn)?;
        {
            let mut probe = tx.prepare_cached(
                "INSERT OR IGNORE INTO probe (series, ts, availability, ok, latency_ms, dns_ms, connect_ms, tls_ms, ttfb_ms,
                 status_code, cert_days_left, error, confirmed_down, failed_step)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            let mut rollup = tx.prepare_cached(
                "INSERT OR REPLACE INTO rollup (resolution, ts, series, up_s, down_s, maintenance_s, samples, failures,
                 under_threshold, latency_mean_ms, latency_p50_ms, latency_p90_ms, latency_p95_ms, latency_p99_ms, latency_max_ms, hist,
                 down_from_s, down_until_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?;
            let mut step = tx.prepare_cached(
                "INSERT OR IGNORE INTO check_step (series, ts, idx, step, ran, finally, ok, status_code, latency_ms, error, detail, assertions)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            let mut maint =
                tx.prepare_cached("INSERT OR IGNORE INTO maintenance (endpoint, region, ts, active) VALUES (?1, ?2, ?3, ?4)")?;
            let mut feed = tx.prepare_cached("INSERT INTO feed (seq, series, ts) VALUES (?1, ?2, ?3)")?;
            // The write log's next number: the time of this write, or one past the last row if that is later
            // (another process writing, a clock stepped back), so it only grows. Read once a row is needed.
            let mut seq: Option<i64> = None;
            for point in batch {
                match point {
                    Point::Probe(p) => {
                        let mut e = series_entry(&tx, known, &mut overlay, &p.series)?;
                        let inserted = probe.execute(params![
                            e.id,
                            p.ts,
                            p.availability,
                            p.ok,
                            p.latency_ms,
                            p.dns_ms,
                            p.connect_ms,
                            p.tls_ms,
                            p.ttfb_ms,
                            p.status_code,
                            p.cert_days_left,
                            p.error.map(ErrorClass::as_str),
                            p.confirmed_down,
                            p.failed_step,
                        ])?;
                        // A point already stored (a replayed batch) was in the log when it was first written.
                        if inserted == 1 {
                            let n = match seq {
                                Some(n) => n,
                                None => {
                                    let last: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM feed", [], |r| r.get(0))?;
                                    crate::time::now_nanos().max(last + 1)
                                }
                            };
                            feed.execute(params![n, e.id, p.ts])?;
                            seq = Some(n + 1);
                        }
                        // Only newer points move the state: a replayed older batch leaves it alone.
                        if p.ts > e.last_ts {
                            if e.down != Some(p.confirmed_down) {
                                e.down = Some(p.confirmed_down);
                                e.since = p.ts;
                            }
                            e.last_ts = p.ts;
                            overlay.insert((*p.series).clone(), e);
                            newest.insert(e.id, (e, p));
                        }
                    }
                    Point::Maintenance(m) => {
                        maint.execute(params![m.endpoint, m.region, m.ts, m.active])?;
                    }
                    Point::Rollup(r) => {
                        let e = series_entry(&tx, known, &mut overlay, &r.series)?;
                        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                        rollup.execute(params![
                            r.resolution.measurement(),
                            r.ts,
                            e.id,
                            r.up_s,
                            r.down_s,
                            r.maintenance_s,
                            int(r.samples),
                            int(r.failures),
                            int(r.under_threshold),
                            r.latency_mean_ms,
                            r.latency_p50_ms,
                            r.latency_p90_ms,
                            r.latency_p95_ms,
                            r.latency_p99_ms,
                            r.latency_max_ms,
                            r.hist,
                            r.down_from_s,
                            r.down_until_s,
                        ])?;
                    }
                    Point::Step(st) => {
                        let e = series_entry(&tx, known, &mut overlay, &st.series)?;
                        step.execute(params![
                            e.id,
                            st.ts,
                            st.index,
                            st.step,
                            st.ran,
                            st.finally,
                            st.ok,
                            st.status_code,
                            st.latency_ms,
                            st.error.map(ErrorClass::as_str),
                            st.detail,
                            st.assertions,
                        ])?;
                    }
                }
            }
            let mut state = tx.prepare_cached(
                "INSERT OR REPLACE INTO series_state (series, confirmed_down, since, last_ts, last_ok, last_latency_ms, last_error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (id, (e, p)) in newest {
                state.execute(params![id, p.confirmed_down, e.since, p.ts, p.ok, p.latency_ms, p.error.map(ErrorClass::as_str)])?;
            }
        }
        tx.commit()?;
        known.extend(overlay);
        Ok(())
    }
}
