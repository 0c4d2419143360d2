//! The embedded store: SQLite through rusqlite (bundled), for one machine and for trying Watchpost out.
//!
//! - WAL mode, `synchronous = NORMAL`: a batch is one transaction; a crash loses at most the last batches
//!   not yet checkpointed, never corrupts the file.
//! - One table per measurement. The tag set of a point (endpoint, region, component, environment) is stored
//!   once in `series` and referenced by an integer id, so rows stay small.
//! - `probe` is keyed `(ts, series)` as a `WITHOUT ROWID` table: points arrive in time order, so a batch is an
//!   append to the end of the B-tree. Keying by series first was measured at a tenth of the speed (a batch
//!   spread over 10,000 series dirties 10,000 leaf pages; see bench/README.md). The time key also makes
//!   the reads that matter contiguous: the aggregator's and alerting's windows over every series. Reads of
//!   one series scan its time range across all series, so they are for short ranges (DESIGN.md §4: raw
//!   queries stay within hours; longer periods read rollups). A replayed point is ignored, not duplicated.
//! - `series_state` holds each series' confirmed state, since when, and its newest point, upserted once per
//!   series per batch: "the latest state of every endpoint" reads one row per series.
//! - Two connections, a writer and a reader, each behind a `std::sync::Mutex`: SQLite calls block, so they run
//!   on tokio's blocking pool and the lock is never held across an `.await`.

use super::{FeedCursor, RollupSums, Select, Store, StoreError};
use crate::config::SqliteConfig;
use crate::model::{
    Availability, EndpointState, ErrorClass, MaintenancePoint, Point, ProbePoint, Resolution, RollupPoint, SeriesKey, SlotAccumulator,
    StepPoint,
};
use crate::time::{Nanos, TimeRange};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod read;
mod schema;
mod write;

use read::*;
use schema::*;
use write::*;

/// The reader's page cache, in KiB: the rollup and report reads walk many pages.
const READER_CACHE_KIB: i64 = 64 * 1024;
/// The writer's page cache, in KiB. Why smaller than the reader's: every table it writes is keyed so that
/// inserts append (`probe` and `rollup` by time first, `feed` by sequence), so what it rereads is the tables'
/// right edges plus `series` and `series_state` (about 120 bytes a series: 6 MiB at 50,000). At 64 MiB the
/// cache filled with appended pages it never read again and held about 50 MiB more of the agent's memory at
/// 50,000 endpoints, for the same CPU per point (bench/README.md, figure 4).
const WRITER_CACHE_KIB: i64 = 16 * 1024;
/// Retention deletes this much time per transaction, so the writer is never held for long.
const RETENTION_SLICE: Nanos = 3_600_000_000_000;
/// How long rows of the write log (`Store::feed`) are kept.
const FEED_KEEP: Nanos = 24 * 3_600_000_000_000;

pub struct SqliteStore {
    path: PathBuf,
    check_history: std::time::Duration,
    writer: Arc<Mutex<Writer>>,
    reader: Arc<Mutex<Connection>>,
}

fn io_err<'a>(path: &'a std::path::Path, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |e| {
        if crate::sqlite::is_damage(&e) {
            // A damaged page met by a reader that skipped the start-up check: the same sentence as at start.
            return StoreError::Open { path: path.display().to_string(), reason: crate::sqlite::damaged(&e.to_string()) };
        }
        StoreError::Io { op, retryable: crate::sqlite::is_transient(&e), reason: e.to_string() }
    }
}

/// The store's connections: no foreign keys (the tables reference nothing), and their page caches.
const WRITER_OPTIONS: crate::sqlite::Options = crate::sqlite::Options { foreign_keys: false, cache_kib: Some(WRITER_CACHE_KIB) };
const READER_OPTIONS: crate::sqlite::Options = crate::sqlite::Options { foreign_keys: false, cache_kib: Some(READER_CACHE_KIB) };

impl SqliteStore {
    /// Opens (creating if needed) the database, migrating its schema to the current version, and refuses a
    /// damaged or read-only file.
    pub async fn open(config: &SqliteConfig) -> Result<Self, StoreError> {
        Self::open_with(config, crate::sqlite::open).await
    }

    /// Opens the database for a command that only reads: without the start-up check of every page
    /// (`core::sqlite::open_to_read`).
    pub async fn open_to_read(config: &SqliteConfig) -> Result<Self, StoreError> {
        Self::open_with(config, crate::sqlite::open_to_read).await
    }

    async fn open_with(
        config: &SqliteConfig,
        open: fn(&std::path::Path, &[&str], crate::sqlite::Options) -> Result<Connection, String>,
    ) -> Result<Self, StoreError> {
        let path = config.path.clone();
        let p = path.clone();
        let opened = tokio::task::spawn_blocking(move || -> Result<(Connection, Connection), String> {
            let writer = open(&p, MIGRATIONS, WRITER_OPTIONS)?;
            let reader = crate::sqlite::connect(&p, READER_OPTIONS).map_err(|e| crate::sqlite::explain_open_error(&e))?;
            Ok((writer, reader))
        })
        .await
        .map_err(|e| StoreError::Open { path: path.display().to_string(), reason: e.to_string() })?;
        let (writer, reader) = opened.map_err(|reason| StoreError::Open { path: path.display().to_string(), reason })?;
        let writer = Writer { conn: writer, series: HashMap::new() };
        Ok(SqliteStore {
            path,
            check_history: config.check_history,
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    async fn run<C: Send + 'static, T: Send + 'static>(
        &self,
        conn: &Arc<Mutex<C>>,
        op: &'static str,
        f: impl FnOnce(&mut C) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // A poisoned lock means a panic mid-call; the connection itself is still consistent (SQLite rolls
            // back the open transaction), so keep using it.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard).map_err(io_err(&path, op))
        })
        .await
        .map_err(|e| StoreError::Io { op, reason: format!("blocking task failed: {e}"), retryable: true })?
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn write(&self, batch: &[Point]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch = batch.to_vec();
        self.run(&self.writer, "write", move |w| w.write_batch(&batch)).await
    }

    async fn probe_points(&self, endpoint: &str, region: Option<&str>, range: TimeRange) -> Result<Vec<ProbePoint>, StoreError> {
        let (endpoint, region) = (endpoint.to_string(), region.map(str::to_string));
        let points = self
            .run(&self.reader, "read probe points", move |c| {
                let sql = format!(
                    "SELECT {PROBE_COLUMNS} FROM probe p JOIN series s ON s.id = p.series
                 WHERE p.ts >= ?3 AND p.ts < ?4
                   AND p.series IN (SELECT id FROM series WHERE endpoint = ?1 AND (?2 IS NULL OR region = ?2))
                 ORDER BY p.ts, s.region, s.environment"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                read_probes(&mut stmt, params![endpoint, region, range.from, range.to])
            })
            .await?;
        super::reads::count(points.len());
        Ok(points)
    }

    async fn probe_points_all(&self, range: TimeRange, select: Select<'_>) -> Result<Vec<ProbePoint>, StoreError> {
        let mut points = self
            .run(&self.reader, "read probe points", move |c| {
                // One primary-key range per series rather than a scan of the table.
                let sql = format!(
                    "SELECT {PROBE_COLUMNS} FROM series s JOIN probe p ON p.series = s.id AND p.ts >= ?1 AND p.ts < ?2 ORDER BY p.ts, s.region, s.environment"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                read_probes(&mut stmt, params![range.from, range.to])
            })
            .await?;
        super::reads::count(points.len());
        // One file has one machine reading it: a selection saves no reads here, so it is applied in memory.
        if select != Select::All {
            points.retain(|p| select.admits(&p.series.endpoint, &p.series.region));
        }
        Ok(points)
    }

    async fn first_probe_time(&self, since: Nanos) -> Result<Option<Nanos>, StoreError> {
        self.run(&self.reader, "read the oldest point", move |c| {
            c.query_row("SELECT min(ts) FROM probe WHERE ts >= ?1", [since], |r| r.get(0))
        })
        .await
    }

    async fn feed_start(&self) -> Result<FeedCursor, StoreError> {
        let last: i64 = self
            .run(&self.reader, "read the write log", |c| c.query_row("SELECT coalesce(max(seq), 0) FROM feed", [], |r| r.get(0)))
            .await?;
        Ok(FeedCursor { position: last, ..FeedCursor::default() })
    }

    async fn feed(&self, cursor: &mut FeedCursor) -> Result<Vec<ProbePoint>, StoreError> {
        let from = cursor.position;
        let (mut points, last) = self
            .run(&self.reader, "read the write log", move |c| {
                // One snapshot for both statements: a batch committed between them is read next time.
                let tx = crate::sqlite::write_transaction(c)?;
                let last: i64 = tx.query_row("SELECT coalesce(max(seq), ?1) FROM feed WHERE seq > ?1", [from], |r| r.get(0))?;
                let sql = format!(
                    "SELECT {PROBE_COLUMNS} FROM feed f JOIN probe p ON p.series = f.series AND p.ts = f.ts JOIN series s ON s.id = f.series
                     WHERE f.seq > ?1 AND f.seq <= ?2"
                );
                let mut stmt = tx.prepare_cached(&sql)?;
                let points = read_probes(&mut stmt, params![from, last])?;
                Ok((points, last))
            })
            .await?;
        super::reads::count(points.len());
        super::reads::fed(points.len());
        points.sort_by(|a, b| (a.ts, &a.series.region, &a.series.environment).cmp(&(b.ts, &b.series.region, &b.series.environment)));
        cursor.position = last;
        Ok(points)
    }

    async fn availability(
        &self,
        range: TimeRange,
        slots: &HashMap<String, std::time::Duration>,
        default_slot: std::time::Duration,
    ) -> Result<Vec<(SeriesKey, Availability)>, StoreError> {
        let slots = slots.clone();
        let out = self
            .run(&self.reader, "compute availability", move |c| {
                let mut series: HashMap<i64, SeriesKey> = HashMap::new();
                {
                    let mut stmt = c.prepare_cached("SELECT id, endpoint, region, component, environment FROM series")?;
                    let mut rows = stmt.query([])?;
                    while let Some(r) = rows.next()? {
                        series.insert(
                            r.get(0)?,
                            SeriesKey { endpoint: r.get(1)?, region: r.get(2)?, component: r.get(3)?, environment: r.get(4)? },
                        );
                    }
                }
                // One pass in time order over the range; per series only its accumulator is kept.
                let mut acc: HashMap<i64, SlotAccumulator> = HashMap::new();
                let mut stmt = c.prepare_cached("SELECT series, ts, availability, ok FROM probe WHERE ts >= ?1 AND ts < ?2 ORDER BY ts")?;
                let mut rows = stmt.query(params![range.from, range.to])?;
                while let Some(r) = rows.next()? {
                    // The slot is looked up by name once per series, not once per point.
                    let a = match acc.entry(r.get(0)?) {
                        Entry::Occupied(o) => o.into_mut(),
                        Entry::Vacant(v) => {
                            let slot = series.get(v.key()).and_then(|k| slots.get(&k.endpoint)).copied().unwrap_or(default_slot);
                            v.insert(SlotAccumulator::new(slot))
                        }
                    };
                    a.push(r.get(1)?, r.get(2)?, r.get(3)?);
                }
                let mut out: Vec<(SeriesKey, Availability)> =
                    acc.into_iter().filter_map(|(id, a)| Some((series.remove(&id)?, a.finish(range.to)))).collect();
                out.sort_by(|a, b| (&a.0.endpoint, &a.0.region, &a.0.environment).cmp(&(&b.0.endpoint, &b.0.region, &b.0.environment)));
                Ok(out)
            })
            .await?;
        // Every row read is one sample of its series.
        super::reads::count(out.iter().map(|(_, a)| a.samples as usize).sum());
        Ok(out)
    }

    async fn maintenance_points(&self, endpoint: &str, range: TimeRange) -> Result<Vec<MaintenancePoint>, StoreError> {
        let endpoint = endpoint.to_string();
        self.run(&self.reader, "read maintenance points", move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT endpoint, region, ts, active FROM maintenance WHERE endpoint = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts",
            )?;
            let rows = stmt.query_map(params![endpoint, range.from, range.to], |r| {
                Ok(MaintenancePoint { endpoint: r.get(0)?, region: r.get(1)?, ts: r.get(2)?, active: r.get(3)? })
            })?;
            rows.collect()
        })
        .await
    }

    async fn latest_states(&self) -> Result<Vec<EndpointState>, StoreError> {
        self.run(&self.reader, "read endpoint states", |c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.endpoint, s.region, s.component, s.environment, st.confirmed_down, st.since,
                        st.last_ts, st.last_ok, st.last_latency_ms, st.last_error
                 FROM series s JOIN series_state st ON st.series = s.id
                 ORDER BY s.endpoint, s.region, s.environment, st.last_ts",
            )?;
            let rows = stmt.query_map([], |r| {
                let error: Option<String> = r.get(9)?;
                Ok(EndpointState {
                    endpoint: r.get(0)?,
                    region: r.get(1)?,
                    component: r.get(2)?,
                    environment: r.get(3)?,
                    confirmed_down: r.get(4)?,
                    since: r.get(5)?,
                    last_ts: r.get(6)?,
                    last_ok: r.get(7)?,
                    last_latency_ms: r.get(8)?,
                    last_error: error.as_deref().and_then(ErrorClass::parse),
                })
            })?;
            // An endpoint whose component changed has an older series too: keep the newest.
            let mut out: Vec<EndpointState> = Vec::new();
            for row in rows {
                let row = row?;
                match out.last_mut() {
                    Some(prev) if prev.endpoint == row.endpoint && prev.region == row.region && prev.environment == row.environment => {
                        *prev = row
                    }
                    _ => out.push(row),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn apply_retention(&self, before: Nanos) -> Result<u64, StoreError> {
        // Points are keyed by time first, so old points are a prefix of the table: delete it an hour at a time,
        // each slice its own transaction and its own turn at the writer lock, so live batches interleave even
        // when a shortened retention leaves weeks to delete.
        let oldest: Option<Nanos> =
            self.run(&self.reader, "apply retention", |c| c.query_row("SELECT min(ts) FROM probe", [], |r| r.get(0))).await?;
        let mut deleted = 0u64;
        let mut upto = oldest.unwrap_or(before);
        loop {
            upto = upto.saturating_add(RETENTION_SLICE).min(before);
            deleted += self
                .run(&self.writer, "apply retention", move |w| {
                    let tx = crate::sqlite::write_transaction(&mut w.conn)?;
                    let n = tx.execute("DELETE FROM probe WHERE ts < ?1", [upto])?
                        + tx.execute("DELETE FROM maintenance WHERE ts < ?1", [upto])?;
                    // The write log is read within moments of a write; a day covers any consumer's restart.
                    tx.execute("DELETE FROM feed WHERE seq < ?1", [crate::time::now_nanos() - FEED_KEEP])?;
                    tx.commit()?;
                    Ok(u64::try_from(n).unwrap_or(0))
                })
                .await?;
            if upto >= before {
                break;
            }
        }
        // Check history has its own retention (`store.check_history`); it is small, so one statement.
        let history_before = crate::time::now_nanos().saturating_sub(crate::time::duration_nanos(self.check_history));
        deleted += self
            .run(&self.writer, "apply retention", move |w| {
                w.conn.execute("DELETE FROM check_step WHERE ts < ?1", [history_before]).map(|n| n as u64)
            })
            .await?;
        Ok(deleted)
    }

    async fn maintenance_points_all(&self, range: TimeRange, select: Select<'_>) -> Result<Vec<MaintenancePoint>, StoreError> {
        let mut points: Vec<MaintenancePoint> = self
            .run(&self.reader, "read maintenance points", move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT endpoint, region, ts, active FROM maintenance WHERE ts >= ?1 AND ts < ?2 ORDER BY ts, endpoint, region",
                )?;
                let rows = stmt.query_map(params![range.from, range.to], |r| {
                    Ok(MaintenancePoint { endpoint: r.get(0)?, region: r.get(1)?, ts: r.get(2)?, active: r.get(3)? })
                })?;
                rows.collect()
            })
            .await?;
        if select != Select::All {
            points.retain(|m| select.admits(&m.endpoint, &m.region));
        }
        Ok(points)
    }

    async fn rollups(&self, resolution: Resolution, range: TimeRange, select: Select<'_>) -> Result<Vec<RollupPoint>, StoreError> {
        let select = OwnedSelect::new(select);
        self.run(&self.reader, "read rollups", move |c| {
            let series = select.series(c)?;
            let mut stmt = c.prepare_cached(
                "SELECT series, ts, up_s, down_s, maintenance_s, samples, failures, under_threshold, latency_mean_ms,
                        latency_p50_ms, latency_p90_ms, latency_p95_ms, latency_p99_ms, latency_max_ms, hist, down_from_s, down_until_s
                 FROM rollup WHERE resolution = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts, series",
            )?;
            let mut rows = stmt.query(params![resolution.measurement(), range.from, range.to])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let Some(s) = series.get(&r.get::<_, i64>(0)?) else { continue };
                let count = |i: usize| -> rusqlite::Result<u64> { Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0)) };
                out.push(RollupPoint {
                    resolution,
                    series: s.clone(),
                    ts: r.get(1)?,
                    up_s: r.get(2)?,
                    down_s: r.get(3)?,
                    maintenance_s: r.get(4)?,
                    down_from_s: r.get(15)?,
                    down_until_s: r.get(16)?,
                    samples: count(5)?,
                    failures: count(6)?,
                    under_threshold: count(7)?,
                    latency_mean_ms: r.get(8)?,
                    latency_p50_ms: r.get(9)?,
                    latency_p90_ms: r.get(10)?,
                    latency_p95_ms: r.get(11)?,
                    latency_p99_ms: r.get(12)?,
                    latency_max_ms: r.get(13)?,
                    hist: r.get(14)?,
                });
            }
            // In key order (time, then series id): no sort of a million rows by their tags.
            Ok(out)
        })
        .await
    }

    async fn rollup_availability(&self, resolution: Resolution, range: TimeRange) -> Result<Vec<(SeriesKey, Availability)>, StoreError> {
        self.run(&self.reader, "sum rollups", move |c| {
            // Summed here rather than with SQL's GROUP BY: rows come in key order (time, then series), so
            // grouping by series would sort them first, four times the cost of this one pass over the range.
            let mut sums: HashMap<i64, Availability> = HashMap::new();
            let mut stmt = c.prepare_cached(
                "SELECT series, up_s, down_s, samples, failures FROM rollup WHERE resolution = ?1 AND ts >= ?2 AND ts < ?3",
            )?;
            let mut rows = stmt.query(params![resolution.measurement(), range.from, range.to])?;
            while let Some(r) = rows.next()? {
                let a = sums.entry(r.get(0)?).or_default();
                a.up_s += r.get::<_, f64>(1)?;
                a.down_s += r.get::<_, f64>(2)?;
                a.samples += u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0);
                a.failures += u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0);
            }
            let mut out = Vec::with_capacity(sums.len());
            let mut stmt = c.prepare_cached("SELECT id, endpoint, region, component, environment FROM series")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                if let Some(a) = sums.remove(&r.get::<_, i64>(0)?) {
                    out.push((SeriesKey { endpoint: r.get(1)?, region: r.get(2)?, component: r.get(3)?, environment: r.get(4)? }, a));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn rollup_sums(&self, resolution: Resolution, range: TimeRange, select: Select<'_>) -> Result<Vec<RollupSums>, StoreError> {
        let select = OwnedSelect::new(select);
        self.run(&self.reader, "read rollup sums", move |c| {
            let series = select.series(c)?;
            let mut stmt = c.prepare_cached(
                "SELECT series, ts, up_s, down_s, samples, failures, maintenance_s, latency_mean_ms FROM rollup \
                 WHERE resolution = ?1 AND ts >= ?2 AND ts < ?3",
            )?;
            let mut rows = stmt.query(params![resolution.measurement(), range.from, range.to])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let Some(s) = series.get(&r.get::<_, i64>(0)?) else { continue };
                let count = |i: usize| -> rusqlite::Result<u64> { Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0)) };
                let sums = Availability { up_s: r.get(2)?, down_s: r.get(3)?, samples: count(4)?, failures: count(5)? };
                out.push(RollupSums { series: s.clone(), ts: r.get(1)?, sums, maintenance_s: r.get(6)?, latency_mean_ms: r.get(7)? });
            }
            Ok(out)
        })
        .await
    }

    async fn save_document(&self, name: &str, body: &str) -> Result<(), StoreError> {
        let (name, body, ts) = (name.to_string(), body.to_string(), crate::time::now_nanos());
        self.run(&self.writer, "save document", move |w| {
            w.conn
                .prepare_cached("INSERT OR REPLACE INTO document (name, ts, body) VALUES (?1, ?2, ?3)")?
                .execute(params![name, ts, body])
                .map(|_| ())
        })
        .await
    }

    async fn document(&self, name: &str) -> Result<Option<(Nanos, String)>, StoreError> {
        let name = name.to_string();
        self.run(&self.reader, "read document", move |c| {
            c.prepare_cached("SELECT ts, body FROM document WHERE name = ?1")?.query_row([name], |r| Ok((r.get(0)?, r.get(1)?))).optional()
        })
        .await
    }

    async fn watermark(&self, name: &str) -> Result<Option<Nanos>, StoreError> {
        let name = name.to_string();
        self.run(&self.reader, "read watermark", move |c| {
            c.prepare_cached("SELECT ts FROM watermark WHERE name = ?1")?.query_row([name], |r| r.get(0)).optional()
        })
        .await
    }

    async fn set_watermark(&self, name: &str, ts: Nanos) -> Result<(), StoreError> {
        let name = name.to_string();
        self.run(&self.writer, "write watermark", move |w| {
            w.conn.prepare_cached("INSERT OR REPLACE INTO watermark (name, ts) VALUES (?1, ?2)")?.execute(params![name, ts]).map(|_| ())
        })
        .await
    }

    async fn check_runs(&self, endpoint: &str, environment: Option<&str>, range: TimeRange) -> Result<Vec<StepPoint>, StoreError> {
        let (endpoint, environment) = (endpoint.to_string(), environment.map(str::to_string));
        self.run(&self.reader, "read check history", move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.endpoint, s.region, s.component, s.environment, c.ts, c.idx, c.step, c.ran, c.finally, c.ok,
                        c.status_code, c.latency_ms, c.error, c.detail, c.assertions
                 FROM series s JOIN check_step c ON c.series = s.id AND c.ts >= ?3 AND c.ts < ?4
                 WHERE s.endpoint = ?1 AND (?2 IS NULL OR s.environment = ?2)
                 ORDER BY c.ts, s.region, s.environment, c.idx",
            )?;
            let mut rows = stmt.query(params![endpoint, environment, range.from, range.to])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let error: Option<String> = r.get(12)?;
                out.push(StepPoint {
                    series: Arc::new(SeriesKey { endpoint: r.get(0)?, region: r.get(1)?, component: r.get(2)?, environment: r.get(3)? }),
                    ts: r.get(4)?,
                    index: r.get(5)?,
                    step: r.get(6)?,
                    ran: r.get(7)?,
                    finally: r.get(8)?,
                    ok: r.get(9)?,
                    status_code: r.get(10)?,
                    latency_ms: r.get(11)?,
                    error: error.as_deref().and_then(ErrorClass::parse),
                    detail: r.get(13)?,
                    assertions: r.get(14)?,
                });
            }
            Ok(out)
        })
        .await
    }

    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }
}

impl SqliteStore {
    /// The schema version of the open database (for tests and `check-config`).
    pub async fn schema_version(&self) -> Result<usize, StoreError> {
        let v: i64 = self.run(&self.reader, "read schema version", |c| c.pragma_query_value(None, "user_version", |r| r.get(0))).await?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    /// How many probe points the database holds (tests and benchmarks).
    pub async fn count_probe_points(&self) -> Result<u64, StoreError> {
        let n: i64 = self.run(&self.reader, "count", |c| c.query_row("SELECT count(*) FROM probe", [], |r| r.get(0))).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// A [`Select`] that can move into a blocking task.
enum OwnedSelect {
    All,
    Endpoint(String),
    Shard(crate::config::Shard),
    Region(String),
}

impl OwnedSelect {
    fn new(select: Select<'_>) -> OwnedSelect {
        match select {
            Select::All => OwnedSelect::All,
            Select::Endpoint(e) => OwnedSelect::Endpoint(e.to_string()),
            Select::Shard(s) => OwnedSelect::Shard(s),
            Select::Region(r) => OwnedSelect::Region(r.to_string()),
        }
    }

    /// The selected series by id. Why first: an hour merge reads a million rows of twenty thousand series,
    /// and building each row's tags from a join would allocate four strings per row; a shard's rows are then
    /// skipped by id before a row is decoded.
    fn series(&self, c: &Connection) -> rusqlite::Result<HashMap<i64, Arc<SeriesKey>>> {
        let endpoint = match self {
            OwnedSelect::Endpoint(e) => Some(e.as_str()),
            _ => None,
        };
        let mut series = HashMap::new();
        let mut stmt =
            c.prepare_cached("SELECT id, endpoint, region, component, environment FROM series WHERE ?1 IS NULL OR endpoint = ?1")?;
        let mut rows = stmt.query(params![endpoint])?;
        while let Some(r) = rows.next()? {
            let (endpoint, region): (String, String) = (r.get(1)?, r.get(2)?);
            let admitted = match self {
                OwnedSelect::Shard(s) => s.owns(&endpoint),
                OwnedSelect::Region(want) => *want == region,
                OwnedSelect::All | OwnedSelect::Endpoint(_) => true,
            };
            if admitted {
                series.insert(r.get(0)?, Arc::new(SeriesKey { endpoint, region, component: r.get(3)?, environment: r.get(4)? }));
            }
        }
        Ok(series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Processes started together (an agent and alerting) open a new file at once: every open succeeds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_opens_of_a_new_file_at_once_all_succeed() {
        for round in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let cfg = SqliteConfig {
                path: dir.path().join("w.db"),
                retention: Duration::from_secs(86_400),
                check_history: Duration::from_secs(86_400),
            };
            let opens: Vec<_> = (0..8)
                .map(|_| {
                    tokio::spawn({
                        let cfg = cfg.clone();
                        async move { SqliteStore::open(&cfg).await.map(|_| ()) }
                    })
                })
                .collect();
            for o in opens {
                o.await.unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
            }
        }
    }

    fn series(endpoint: &str, region: &str) -> Arc<SeriesKey> {
        Arc::new(SeriesKey { endpoint: endpoint.into(), region: region.into(), component: "api".into(), environment: "prod".into() })
    }

    fn probe(s: &Arc<SeriesKey>, ts: Nanos, down: bool) -> Point {
        Point::Probe(ProbePoint {
            series: s.clone(),
            ts,
            availability: if down { 0.0 } else { 100.0 },
            ok: !down,
            latency_ms: 12.5,
            dns_ms: None,
            connect_ms: Some(0.2),
            tls_ms: None,
            ttfb_ms: Some(1.0),
            status_code: Some(if down { 503 } else { 200 }),
            cert_days_left: None,
            error: down.then_some(ErrorClass::Status),
            confirmed_down: down,
            failed_step: None,
        })
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SqliteConfig {
            path: dir.path().join("sub/dir/w.db"),
            retention: Duration::from_secs(86400),
            check_history: Duration::from_secs(86400),
        };
        let s = SqliteStore::open(&cfg).await.unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn round_trips_points_and_ignores_replays() {
        let (_d, s) = store().await;
        let a = series("a", "eu");
        let batch = vec![probe(&a, 10, false), probe(&a, 20, true)];
        s.write(&batch).await.unwrap();
        s.write(&batch).await.unwrap(); // a replay writes nothing new
        let got = s.probe_points("a", None, TimeRange::new(0, 100)).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(Point::Probe(got[1].clone()), batch[1]);
        assert_eq!(s.probe_points("a", Some("us"), TimeRange::new(0, 100)).await.unwrap().len(), 0);
        assert_eq!(s.probe_points("a", None, TimeRange::new(0, 20)).await.unwrap().len(), 1, "ranges are half-open");
        assert_eq!(s.schema_version().await.unwrap(), MIGRATIONS.len());
    }

    #[tokio::test]
    async fn latest_state_tracks_since_across_batches() {
        let (_d, s) = store().await;
        let a = series("a", "eu");
        s.write(&[probe(&a, 10, false), probe(&a, 20, false)]).await.unwrap();
        s.write(&[probe(&a, 30, false)]).await.unwrap();
        let st = &s.latest_states().await.unwrap()[0];
        assert_eq!((st.confirmed_down, st.since, st.last_ts), (false, 10, 30));
        s.write(&[probe(&a, 40, true), probe(&a, 50, true)]).await.unwrap();
        s.write(&[probe(&a, 60, true)]).await.unwrap();
        let st = &s.latest_states().await.unwrap()[0];
        assert_eq!((st.confirmed_down, st.since, st.last_ts), (true, 40, 60));
        assert_eq!(st.last_error, Some(ErrorClass::Status));
        // Recovery inside a batch: since is the first point of the trailing run.
        s.write(&[probe(&a, 70, true), probe(&a, 80, false), probe(&a, 90, false)]).await.unwrap();
        let st = &s.latest_states().await.unwrap()[0];
        assert_eq!((st.confirmed_down, st.since, st.last_ts), (false, 80, 90));
        // An older replayed batch does not move the state back.
        s.write(&[probe(&a, 40, true)]).await.unwrap();
        assert_eq!(s.latest_states().await.unwrap()[0].last_ts, 90);
    }

    #[tokio::test]
    async fn availability_streams_every_series_by_slot() {
        let (_d, s) = store().await;
        let (a, b) = (series("a", "eu"), series("b", "eu"));
        let sec = 1_000_000_000;
        s.write(&[probe(&a, 0, false), probe(&b, 0, true), probe(&a, 5 * sec, true), probe(&b, 5 * sec, false)]).await.unwrap();
        let slots: HashMap<String, Duration> = [("a".to_string(), Duration::from_secs(5))].into_iter().collect();
        let got = s.availability(TimeRange::new(0, 10 * sec), &slots, Duration::from_secs(2)).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.endpoint.as_str(), got[0].1.up_s, got[0].1.down_s), ("a", 5.0, 5.0));
        // b's slot is the default (2 s): each point covers at most 2 s.
        assert_eq!((got[1].0.endpoint.as_str(), got[1].1.up_s, got[1].1.down_s), ("b", 2.0, 2.0));
    }

    #[tokio::test]
    async fn retention_deletes_only_old_points() {
        let (_d, s) = store().await;
        let a = series("a", "eu");
        let b = series("b", "eu");
        s.write(&[probe(&a, 10, false), probe(&a, 20, false), probe(&b, 5, false), probe(&b, 25, false)]).await.unwrap();
        assert_eq!(s.apply_retention(15).await.unwrap(), 2);
        assert_eq!(s.count_probe_points().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn unreachable_path_is_a_clear_error() {
        let cfg = SqliteConfig {
            path: PathBuf::from("/proc/watchpost/x.db"),
            retention: Duration::from_secs(3600),
            check_history: Duration::from_secs(3600),
        };
        let err = SqliteStore::open(&cfg).await.err().expect("must fail");
        assert!(err.to_string().contains("/proc/watchpost"), "{err}");
    }
}
