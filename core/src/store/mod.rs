//! The `Store` seam: where points are written and every part reads them back.
//!
//! One implementation per backend, one file each (`sqlite.rs`, `influx.rs`), built in exactly one
//! place: [`open`], a `match` on [`StoreConfig`]. Callers hold an `Arc<dyn Store>` and never know which.
//!
//! Architecture invariant: only this module knows the store's schema.

pub mod closed;
pub mod influx;
pub mod reads;
pub mod sqlite;

use crate::config::{Shard, StoreConfig};
use crate::model::{Availability, EndpointState, MaintenancePoint, Point, ProbePoint, Resolution, RollupPoint, SeriesKey, StepPoint};
use crate::time::{Nanos, TimeRange};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be opened or created at `path`.
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: String, reason: String },
    /// A read or write failed; `retryable` says whether the same call may succeed later.
    #[error("store {op} failed: {reason}")]
    Io { op: &'static str, reason: String, retryable: bool },
    /// The store refused `points` points of a batch as invalid (for example a field type conflict); sending
    /// them again cannot succeed. The rest of the batch was written.
    #[error("the store rejected {points} point(s): {message}")]
    Rejected { points: u64, message: String },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Io { retryable: true, .. })
    }
}

/// Which series a read of many series covers. An aggregator shard names itself and the backend applies it
/// where the rows are (InfluxDB: a condition on the `endpoint` tag), so N shards read 1/N of the points each
/// instead of every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select<'a> {
    All,
    Endpoint(&'a str),
    Shard(Shard),
    /// One region's series; for rollups, [`crate::model::ALL_REGIONS`] selects the all-regions merges (a
    /// third of the series with two regions, which is all the status page's history reads).
    Region(&'a str),
}

impl Select<'_> {
    /// Whether the series of `endpoint` in `region` is selected.
    pub fn admits(&self, endpoint: &str, region: &str) -> bool {
        match self {
            Select::All => true,
            Select::Endpoint(e) => *e == endpoint,
            Select::Shard(s) => s.owns(endpoint),
            Select::Region(r) => *r == region,
        }
    }

    /// Every series, or a shard's.
    pub fn shard(shard: Option<Shard>) -> Select<'static> {
        shard.map_or(Select::All, Select::Shard)
    }
}

/// The probe points of `shard`'s series (every series when `None`) in `range`, read in the parts the store
/// asks for ([`Store::read_parts`] of `endpoints`): at 20,000 series one read of every series outlasted the
/// store timeout on a loaded influxd, and a read that always times out is retried at full size for ever (the
/// aggregator's backlog; alerting's history at start, found by `bench/fullstack.py`). With `samples`, only
/// the fields rollups read ([`Store::probe_samples`]).
pub async fn probe_points_in_parts(
    store: &dyn Store,
    range: TimeRange,
    shard: Option<Shard>,
    endpoints: usize,
    samples: bool,
) -> Result<Vec<ProbePoint>, StoreError> {
    let read = |select: Select<'static>| async move {
        match samples {
            true => store.probe_samples(range, select).await,
            false => store.probe_points_all(range, select).await,
        }
    };
    let parts = store.read_parts(endpoints);
    if parts <= 1 {
        return read(Select::shard(shard)).await;
    }
    let mut out = Vec::new();
    for part in Shard::split(shard, parts) {
        let mut probes = read(Select::Shard(part)).await?;
        probes.retain(|p| part.owns(&p.series.endpoint));
        out.append(&mut probes);
    }
    out.sort_by(|a, b| (a.ts, &a.series.region, &a.series.environment).cmp(&(b.ts, &b.series.region, &b.series.environment)));
    Ok(out)
}

/// A long-running consumer's place in the probe points as they were written, not as they were probed (see
/// [`Store::feed`]). Opaque: each backend keeps its own kind of place in it.
#[derive(Debug, Clone, Default)]
pub struct FeedCursor {
    /// SQLite: the last row of the write log read. InfluxDB: when (by the reader's clock) commits were last read.
    position: i64,
    /// InfluxDB: the commits already followed that the overlap of the next read returns again, by writer and
    /// time.
    seen: HashSet<(String, Nanos)>,
    /// InfluxDB: per writer, the end of the newest range followed: the next read takes the log past it in the
    /// same request as the commits (see `influx::feed`).
    upto: HashMap<String, Nanos>,
    /// InfluxDB: the next batch of the store's shared reader this cursor takes (see `influx::feed`); `None`
    /// until its first read.
    shared: Option<u64>,
}

/// The contract every backend keeps:
///
/// - `write` is atomic per batch (all points or none) and idempotent for identical points (a replayed batch
///   does not duplicate: a point is identified by its measurement, tags and timestamp);
/// - reads see every batch whose `write` returned `Ok`;
/// - ranges are half-open `[from, to)` and results are sorted by time (points with equal timestamps by region,
///   then environment);
/// - methods may block on I/O for the backend's timeout, never forever.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes one batch of points.
    async fn write(&self, batch: &[Point]) -> Result<(), StoreError>;

    /// Probe points of one endpoint (all regions when `region` is `None`) in `range`, by time.
    async fn probe_points(&self, endpoint: &str, region: Option<&str>, range: TimeRange) -> Result<Vec<ProbePoint>, StoreError>;

    /// The time of the oldest probe point at or after `since`, of any series; `None` when there is none.
    async fn first_probe_time(&self, since: Nanos) -> Result<Option<Nanos>, StoreError>;

    /// Probe points of the selected series in `range` (the aggregator's minute window), by time.
    async fn probe_points_all(&self, range: TimeRange, select: Select<'_>) -> Result<Vec<ProbePoint>, StoreError>;

    /// As [`Store::probe_points_all`], but only `availability`, `ok` and `latency_ms` are sure to be read (the
    /// other fields may be unset): what rollups use. On InfluxDB that saves about a tenth of a read's cost
    /// (`bench/influx_reads.py`: the series opened, not the fields decoded, are most of it).
    async fn probe_samples(&self, range: TimeRange, select: Select<'_>) -> Result<Vec<ProbePoint>, StoreError> {
        self.probe_points_all(range, select).await
    }

    /// Into how many reads a read of every series of `endpoints` endpoints is best cut (each by
    /// [`Select::Shard`], see `Shard::split`). SQLite: one, since a read costs by the rows of its time range
    /// whatever it selects. InfluxDB: one per thousand endpoints, since a read costs by the series it opens and
    /// must finish within the store timeout.
    fn read_parts(&self, endpoints: usize) -> u32 {
        let _ = endpoints;
        1
    }

    /// Availability of every series with points in `range`, attributed by slot (DESIGN.md §5.6, see
    /// [`crate::model::SlotAccumulator`]); `slots` maps an endpoint id to its interval, `default_slot` covers
    /// endpoints it does not name. Memory is proportional to the number of series, not of points.
    async fn availability(
        &self,
        range: TimeRange,
        slots: &HashMap<String, std::time::Duration>,
        default_slot: std::time::Duration,
    ) -> Result<Vec<(SeriesKey, Availability)>, StoreError>;

    /// A cursor at the end of what has been written so far: [`Store::feed`] from it returns later writes.
    async fn feed_start(&self) -> Result<FeedCursor, StoreError>;

    /// The probe points written since `cursor`, by time, and the cursor moved past them. Each point written
    /// comes once, however late it was written for its time (a batch held for confirmation, a spool replayed
    /// after an outage); a point written twice (a write retried after a lost answer) may come twice. This is
    /// how a long-running consumer reads each point once: ARCHITECTURE.md, "The read path".
    async fn feed(&self, cursor: &mut FeedCursor) -> Result<Vec<ProbePoint>, StoreError>;

    /// Saves the latest states this store keeps, so that another process's first [`Store::latest_states`]
    /// reads them rather than deriving them from a day of raw points (InfluxDB: as one document, `Store::save_document`; the
    /// aggregator calls it every 20 s). SQLite keeps its states in the file as it writes: nothing to do.
    async fn save_states(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Maintenance points of one endpoint in `range`, by time.
    async fn maintenance_points(&self, endpoint: &str, range: TimeRange) -> Result<Vec<MaintenancePoint>, StoreError>;

    /// The latest state of every endpoint × region × environment that has written a point, sorted by endpoint,
    /// region, environment (a check runs once per environment).
    async fn latest_states(&self) -> Result<Vec<EndpointState>, StoreError>;

    /// Maintenance points of the selected endpoints in `range`, by time (the aggregator's minute window).
    async fn maintenance_points_all(&self, range: TimeRange, select: Select<'_>) -> Result<Vec<MaintenancePoint>, StoreError>;

    /// Rollups of the selected series of one resolution whose window starts in `range`, by time (the order
    /// of one window's series is the backend's). Rollups of one series share one `Arc<SeriesKey>`.
    async fn rollups(&self, resolution: Resolution, range: TimeRange, select: Select<'_>) -> Result<Vec<RollupPoint>, StoreError>;

    /// Up and down seconds, samples and failures of every series summed over the rollups of one resolution
    /// whose window starts in `range`: what availability over a period needs, summed where the rows are.
    async fn rollup_availability(&self, resolution: Resolution, range: TimeRange) -> Result<Vec<(SeriesKey, Availability)>, StoreError>;

    /// Up, down and maintenance seconds, samples, failures and mean latency of each rollup of one resolution
    /// whose window starts in `range`, for the selected series: what the aggregator's availability windows
    /// (`aggregator::windows`) and the status page's history load. Lighter than [`Store::rollups`]: six of
    /// the fourteen fields, no histogram (on influxd a read costs per series and field it opens). Rows of one
    /// series share one `Arc<SeriesKey>`; the order is the backend's.
    async fn rollup_sums(&self, resolution: Resolution, range: TimeRange, select: Select<'_>) -> Result<Vec<RollupSums>, StoreError>;

    /// Saves a small named document (a few MB at most), replacing what was saved under `name` before. A reader
    /// sees the old document or the new one whole, never part of one.
    async fn save_document(&self, name: &str, body: &str) -> Result<(), StoreError>;

    /// The document saved last under `name`, with when it was saved (by the saver's clock); `None` when there
    /// is none, or when the newest is incomplete (a save cut short).
    async fn document(&self, name: &str) -> Result<Option<(Nanos, String)>, StoreError>;

    /// The aggregator's watermark `name`: everything before it is rolled up. `None` before the first cycle.
    async fn watermark(&self, name: &str) -> Result<Option<Nanos>, StoreError>;

    /// Moves watermark `name` to `ts`.
    async fn set_watermark(&self, name: &str, ts: Nanos) -> Result<(), StoreError>;

    /// Step results of check `endpoint` (every environment unless one is given, every region) in `range`, by
    /// time, then region, environment and step position: the steps of one run share its timestamp.
    async fn check_runs(&self, endpoint: &str, environment: Option<&str>, range: TimeRange) -> Result<Vec<StepPoint>, StoreError>;

    /// Deletes raw points older than `before` (and check history older than its own retention, where the
    /// backend keeps one); returns how many were deleted.
    async fn apply_retention(&self, before: Nanos) -> Result<u64, StoreError>;

    /// A one-line description for logs (`sqlite data/watchpost.db`). Never contains a secret.
    fn describe(&self) -> String;

    /// Rows read back incomplete (a field every writer sets was missing) and skipped, since start. Only a
    /// store that can answer while a write is half applied (InfluxDB) has any.
    fn incomplete_rows(&self) -> u64 {
        0
    }
}

/// One rollup's availability counts, maintenance and mean latency (see [`Store::rollup_sums`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSums {
    pub series: Arc<SeriesKey>,
    pub ts: Nanos,
    pub sums: Availability,
    pub maintenance_s: f64,
    /// Mean latency of the ok attempts; `None` when there were none.
    pub latency_mean_ms: Option<f64>,
}

/// A watermark the aggregator's backfill sets (to when it ran) after writing rollups beneath its watermarks:
/// a reader that reads each window once, below the watermarks, reads them again when it changes.
pub const BACKFILLED: &str = "rollup_backfilled";

/// The watermarks `names` (measurements: `rollup_1m`, `rollup_1h`, …) of every shard of an aggregator
/// sharded as `shard` says (all of them; one when unsharded), or `None` while any is missing (no aggregator
/// has run, or a shard has not yet).
pub async fn shard_watermarks<const N: usize>(
    store: &dyn Store,
    shard: Option<Shard>,
    names: [&str; N],
) -> Result<Option<Vec<[Nanos; N]>>, StoreError> {
    let mut out = Vec::new();
    for s in Shard::every(shard) {
        let mut marks = [0; N];
        for (mark, name) in marks.iter_mut().zip(names) {
            match store.watermark(&Shard::watermark(s, name)).await? {
                Some(t) => *mark = t,
                None => return Ok(None),
            }
        }
        out.push(marks);
    }
    Ok(Some(out))
}

/// Opens the store the configuration names. The one place where backends are registered.
pub async fn open(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    match config {
        StoreConfig::Sqlite(c) => Ok(Arc::new(sqlite::SqliteStore::open(c).await?)),
        StoreConfig::Influxdb(c) => Ok(Arc::new(influx::InfluxStore::new(c)?)),
    }
}

/// Opens the store for a command that only reads (`status`, `report`, `checks history`, an export): an
/// embedded store that does not exist is an error saying so, never a new empty database (which would
/// answer "no data" for a mistyped path, and leave a stray file behind).
pub async fn open_existing(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    if let StoreConfig::Sqlite(c) = config {
        if !c.path.exists() {
            return Err(StoreError::Open {
                path: c.path.display().to_string(),
                reason: "no such file: nothing has been recorded there yet (is `store.path` right? `watchpost run` or \
                         `watchpost agent` creates it)"
                    .into(),
            });
        }
        return Ok(Arc::new(sqlite::SqliteStore::open_to_read(c).await?));
    }
    open(config).await
}

/// Deletes points older than `retention` once at start and then every `every`, until `stop` turns true.
pub async fn retention_loop(
    store: Arc<dyn Store>,
    retention: std::time::Duration,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let before = crate::time::now_nanos() - crate::time::duration_nanos(retention);
        match store.apply_retention(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, store = %store.describe(), "retention removed old points"),
            Err(e) => tracing::warn!(error = %e, store = %store.describe(), "retention failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
