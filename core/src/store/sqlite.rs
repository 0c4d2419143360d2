//! The embedded store: SQLite through rusqlite (bundled), for one machine and for trying Watchpost out.
//!
//! - WAL mode, `synchronous = NORMAL`: a batch is one transaction; a crash loses at most the last batches
//!   not yet checkpointed, never corrupts the file.
//! - One table per measurement, keyed `(endpoint, region, ts)` as a `WITHOUT ROWID` table, so a range read of
//!   one series is one B-tree walk and a replayed point is ignored rather than duplicated.
//! - `endpoint_state` holds the latest point of each series, updated in the same transaction as the points,
//!   so "the latest state of every endpoint" reads one row per series instead of scanning history.
//! - Two connections, a writer and a reader, each behind a `std::sync::Mutex`: SQLite calls block, so they run
//!   on tokio's blocking pool and the lock is never held across an `.await`.

use super::{Store, StoreError};
use crate::config::SqliteConfig;
use crate::model::{EndpointState, ErrorClass, MaintenancePoint, Point, ProbePoint, SeriesKey};
use crate::time::{Nanos, TimeRange};
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: raw points and the latest state per series.
    "CREATE TABLE probe (
        endpoint TEXT NOT NULL, region TEXT NOT NULL, ts INTEGER NOT NULL,
        component TEXT NOT NULL, environment TEXT NOT NULL,
        availability REAL NOT NULL, ok INTEGER NOT NULL, latency_ms REAL NOT NULL,
        dns_ms REAL, connect_ms REAL, tls_ms REAL, ttfb_ms REAL,
        status_code INTEGER, cert_days_left REAL, error TEXT, confirmed_down INTEGER NOT NULL,
        PRIMARY KEY (endpoint, region, ts)
    ) WITHOUT ROWID;
    CREATE TABLE maintenance (
        endpoint TEXT NOT NULL, region TEXT NOT NULL, ts INTEGER NOT NULL, active INTEGER NOT NULL,
        PRIMARY KEY (endpoint, region, ts)
    ) WITHOUT ROWID;
    CREATE TABLE endpoint_state (
        endpoint TEXT NOT NULL, region TEXT NOT NULL, component TEXT NOT NULL, environment TEXT NOT NULL,
        confirmed_down INTEGER NOT NULL, since INTEGER NOT NULL, last_ts INTEGER NOT NULL,
        last_ok INTEGER NOT NULL, last_latency_ms REAL NOT NULL, last_error TEXT,
        PRIMARY KEY (endpoint, region)
    ) WITHOUT ROWID;",
];

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

fn io_err(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| {
        // Busy, locked, full and I/O errors may clear; anything else (schema, constraint) will not.
        let retryable = matches!(
            e.sqlite_error_code(),
            Some(
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
            )
        );
        StoreError::Io { op, reason: e.to_string(), retryable }
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<usize> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database has schema version {current}, newer than this Watchpost knows ({}); upgrade Watchpost",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(MIGRATIONS.len())
}

impl SqliteStore {
    /// Opens (creating if needed) the database, migrating its schema to the current version.
    pub async fn open(config: &SqliteConfig) -> Result<Self, StoreError> {
        let path = config.path.clone();
        let p = path.clone();
        let opened = tokio::task::spawn_blocking(move || -> Result<(Connection, Connection), String> {
            if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| format!("cannot create directory {}: {e}", parent.display()))?;
            }
            let mut writer = open_connection(&p).map_err(|e| e.to_string())?;
            migrate(&mut writer).map_err(|e| e.to_string())?;
            let reader = open_connection(&p).map_err(|e| e.to_string())?;
            Ok((writer, reader))
        })
        .await
        .map_err(|e| StoreError::Open { path: path.display().to_string(), reason: e.to_string() })?;
        let (writer, reader) = opened.map_err(|reason| StoreError::Open { path: path.display().to_string(), reason })?;
        Ok(SqliteStore { path, writer: Arc::new(Mutex::new(writer)), reader: Arc::new(Mutex::new(reader)) })
    }

    async fn run<T: Send + 'static>(
        conn: &Arc<Mutex<Connection>>,
        op: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            // A poisoned lock means a panic mid-call; the connection itself is still consistent (SQLite rolls
            // back the open transaction), so keep using it.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard).map_err(io_err(op))
        })
        .await
        .map_err(|e| StoreError::Io { op, reason: format!("blocking task failed: {e}"), retryable: true })?
    }
}

/// The state-table update of one series in one batch.
struct StateUpdate<'a> {
    last: &'a ProbePoint,
    /// First timestamp of the trailing run of points with the same confirmed state.
    run_start: Nanos,
    /// The whole batch (for this series) is one run: the stored `since` stays if the state did not change.
    whole_batch: bool,
}

fn state_updates<'a>(points: &[&'a ProbePoint]) -> Vec<StateUpdate<'a>> {
    let mut by_series: HashMap<(&str, &str), Vec<&ProbePoint>> = HashMap::new();
    for p in points {
        by_series.entry((&p.series.endpoint, &p.series.region)).or_default().push(p);
    }
    by_series
        .into_values()
        .map(|mut pts| {
            pts.sort_by_key(|p| p.ts);
            let last = pts[pts.len() - 1];
            let run = pts.iter().rev().take_while(|p| p.confirmed_down == last.confirmed_down).count();
            StateUpdate { last, run_start: pts[pts.len() - run].ts, whole_batch: run == pts.len() }
        })
        .collect()
}

fn write_batch(conn: &mut Connection, batch: &[Point]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut probe = tx.prepare_cached(
            "INSERT OR IGNORE INTO probe (endpoint, region, ts, component, environment, availability, ok, latency_ms,
             dns_ms, connect_ms, tls_ms, ttfb_ms, status_code, cert_days_left, error, confirmed_down)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?;
        let mut maint = tx.prepare_cached("INSERT OR IGNORE INTO maintenance (endpoint, region, ts, active) VALUES (?1, ?2, ?3, ?4)")?;
        let mut probes = Vec::with_capacity(batch.len());
        for point in batch {
            match point {
                Point::Probe(p) => {
                    probe.execute(params![
                        p.series.endpoint,
                        p.series.region,
                        p.ts,
                        p.series.component,
                        p.series.environment,
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
                    ])?;
                    probes.push(p);
                }
                Point::Maintenance(m) => {
                    maint.execute(params![m.endpoint, m.region, m.ts, m.active])?;
                }
            }
        }
        let mut state = tx.prepare_cached(
            "INSERT INTO endpoint_state (endpoint, region, component, environment, confirmed_down, since, last_ts,
                 last_ok, last_latency_ms, last_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (endpoint, region) DO UPDATE SET
                 since = CASE WHEN ?11 AND endpoint_state.confirmed_down = excluded.confirmed_down
                              THEN endpoint_state.since ELSE excluded.since END,
                 component = excluded.component, environment = excluded.environment,
                 confirmed_down = excluded.confirmed_down, last_ts = excluded.last_ts, last_ok = excluded.last_ok,
                 last_latency_ms = excluded.last_latency_ms, last_error = excluded.last_error
             WHERE excluded.last_ts > endpoint_state.last_ts",
        )?;
        for u in state_updates(&probes) {
            let p = u.last;
            state.execute(params![
                p.series.endpoint,
                p.series.region,
                p.series.component,
                p.series.environment,
                p.confirmed_down,
                u.run_start,
                p.ts,
                p.ok,
                p.latency_ms,
                p.error.map(ErrorClass::as_str),
                u.whole_batch,
            ])?;
        }
    }
    tx.commit()
}

const PROBE_COLUMNS: &str = "endpoint, region, component, environment, ts, availability, ok, latency_ms, dns_ms, \
                             connect_ms, tls_ms, ttfb_ms, status_code, cert_days_left, error, confirmed_down";

/// Reads probe rows, sharing one `Arc<SeriesKey>` per series.
fn read_probes(stmt: &mut rusqlite::Statement<'_>, params: impl rusqlite::Params) -> rusqlite::Result<Vec<ProbePoint>> {
    let mut series: HashMap<(String, String, String, String), Arc<SeriesKey>> = HashMap::new();
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let key: (String, String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let s = series
            .entry(key)
            .or_insert_with_key(|k| {
                Arc::new(SeriesKey { endpoint: k.0.clone(), region: k.1.clone(), component: k.2.clone(), environment: k.3.clone() })
            })
            .clone();
        let error: Option<String> = r.get(14)?;
        out.push(ProbePoint {
            series: s,
            ts: r.get(4)?,
            availability: r.get(5)?,
            ok: r.get(6)?,
            latency_ms: r.get(7)?,
            dns_ms: r.get(8)?,
            connect_ms: r.get(9)?,
            tls_ms: r.get(10)?,
            ttfb_ms: r.get(11)?,
            status_code: r.get(12)?,
            cert_days_left: r.get(13)?,
            error: error.as_deref().and_then(ErrorClass::parse),
            confirmed_down: r.get(15)?,
        });
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn write(&self, batch: &[Point]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch = batch.to_vec();
        Self::run(&self.writer, "write", move |c| write_batch(c, &batch)).await
    }

    async fn probe_points(&self, endpoint: &str, region: Option<&str>, range: TimeRange) -> Result<Vec<ProbePoint>, StoreError> {
        let (endpoint, region) = (endpoint.to_string(), region.map(str::to_string));
        Self::run(&self.reader, "read probe points", move |c| {
            let sql = format!(
                "SELECT {PROBE_COLUMNS} FROM probe WHERE endpoint = ?1 AND (?2 IS NULL OR region = ?2) AND ts >= ?3 AND ts < ?4 ORDER BY ts"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            read_probes(&mut stmt, params![endpoint, region, range.from, range.to])
        })
        .await
    }

    async fn probe_points_all(&self, range: TimeRange) -> Result<Vec<ProbePoint>, StoreError> {
        Self::run(&self.reader, "read probe points", move |c| {
            let sql = format!("SELECT {PROBE_COLUMNS} FROM probe WHERE ts >= ?1 AND ts < ?2 ORDER BY ts");
            let mut stmt = c.prepare_cached(&sql)?;
            read_probes(&mut stmt, params![range.from, range.to])
        })
        .await
    }

    async fn maintenance_points(&self, endpoint: &str, range: TimeRange) -> Result<Vec<MaintenancePoint>, StoreError> {
        let endpoint = endpoint.to_string();
        Self::run(&self.reader, "read maintenance points", move |c| {
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
        Self::run(&self.reader, "read endpoint states", |c| {
            let mut stmt = c.prepare_cached(
                "SELECT endpoint, region, component, environment, confirmed_down, since, last_ts, last_ok,
                        last_latency_ms, last_error
                 FROM endpoint_state ORDER BY endpoint, region",
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
            rows.collect()
        })
        .await
    }

    async fn apply_retention(&self, before: Nanos) -> Result<u64, StoreError> {
        Self::run(&self.writer, "apply retention", move |c| {
            // Delete per series so that each DELETE is a primary-key range, not a scan of the table.
            let series: Vec<(String, String)> = {
                let mut stmt = c.prepare("SELECT endpoint, region FROM endpoint_state")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut deleted = 0u64;
            for (endpoint, region) in series {
                let tx = c.transaction()?;
                for table in ["probe", "maintenance"] {
                    let sql = format!("DELETE FROM {table} WHERE endpoint = ?1 AND region = ?2 AND ts < ?3");
                    deleted += u64::try_from(tx.execute(&sql, params![endpoint, region, before])?).unwrap_or(0);
                }
                tx.commit()?;
            }
            Ok(deleted)
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
        let v: i64 = Self::run(&self.reader, "read schema version", |c| c.pragma_query_value(None, "user_version", |r| r.get(0))).await?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    /// How many probe points the database holds (tests and benchmarks).
    pub async fn count_probe_points(&self) -> Result<u64, StoreError> {
        let n: i64 = Self::run(&self.reader, "count", |c| c.query_row("SELECT count(*) FROM probe", [], |r| r.get(0))).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        })
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SqliteConfig { path: dir.path().join("sub/dir/w.db"), retention: Duration::from_secs(86400) };
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
        let cfg = SqliteConfig { path: PathBuf::from("/proc/watchpost/x.db"), retention: Duration::from_secs(3600) };
        let err = SqliteStore::open(&cfg).await.err().expect("must fail");
        assert!(err.to_string().contains("/proc/watchpost"), "{err}");
    }
}
