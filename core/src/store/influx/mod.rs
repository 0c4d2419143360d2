//! The InfluxDB store: line protocol over HTTP for writes, InfluxQL over `GET /query` for reads.
//!
//! - Writes (DESIGN.md §4 "InfluxDB rules"): `POST /write?db=&rp=&precision=n` (api v1, every version) or
//!   `POST /api/v2/write?org=&bucket=&precision=ns` (api v2: 1.8+, 2.x, 3.x, Cloud); gzip bodies of at most
//!   5,000 lines and 10 MB. 204 is success. 400 and 422 reject the batch (or, in 1.x, part of it): the
//!   server's message is returned and the batch is never retried. 429 and 5xx are retried a few times with
//!   exponential backoff and jitter, honouring `Retry-After`, then returned as retryable; network errors
//!   (refused, reset, timed out) are returned as retryable at once. Either way the agent spools the batch:
//!   retrying in place against a server that does not answer would only hold up the writer.
//! - Reads use only the InfluxQL that 1.x, 2.x and 3.x all answer: `SELECT` with `WHERE time`, `GROUP BY`
//!   tags, and the selectors `first()` and `last()`. Ranges are absolute nanosecond times, never `now()`.
//! - Retention belongs to the database (its retention policy or bucket), so `apply_retention` does nothing.

use super::{FeedCursor, RollupSums, Select, Store, StoreError};
use crate::config::{InfluxApi, InfluxAuth, InfluxConfig};
use crate::model::{
    Availability, EndpointState, ErrorClass, MaintenancePoint, Point, ProbePoint, Resolution, RollupPoint, SeriesKey, SlotAccumulator,
    StepPoint,
};
use crate::template::percent_encode;
use crate::time::{now_nanos, Nanos, TimeRange};
use backon::{ExponentialBuilder, Retryable};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

mod document;
mod feed;
mod latest;
mod query;
mod write;

pub use feed::{feed_parts, PACKED as FEED_ENCODING};
use latest::*;
use query::*;
use write::*;
pub use write::{encode_batches, FeedParts};

/// InfluxDB's advice for one write: at most 5,000 lines and 10 MB.
pub const MAX_LINES: usize = 5_000;
pub const MAX_BYTES: usize = 10_000_000;
/// Attempts of one write before the error goes back to the caller (which spools the batch).
const WRITE_ATTEMPTS: usize = 3;
/// Endpoints per statement when a read is limited to a shard's (`filters`).
const SELECT_CHUNK: usize = 500;
/// Endpoints per read where a read of every series is cut into parts ([`Store::read_parts`]): at 20,000
/// series one read of an hour's minute rollups, or of a minute's raw points, outlasted the store timeout on a
/// loaded influxd, and a read that always times out is retried without end. An hour merged from about
/// 180,000 minute rollups with two regions; a minute read back by time, some 24,000 raw points.
const PART_ENDPOINTS: usize = 1000;
/// Reads of long ranges are split into windows of this length, bounding the size of one answer.
const READ_WINDOW: Nanos = 10 * 60 * 1_000_000_000;
/// How far back `latest_states` looks; a state older than this shows the window's start as its `since`.
const STATE_WINDOW: Nanos = 24 * 3600 * 1_000_000_000;
/// Statements per request when `latest_states` asks, per series, when its current state began.
const SINCE_STATEMENTS: usize = 500;
/// A `Retry-After` longer than this is not waited for inside one write: the batch goes back to the caller.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

pub struct InfluxStore {
    client: reqwest::Client,
    cfg: InfluxConfig,
    write_url: String,
    /// v1 with `rollup_retention_policy`: where rollups are written (see [`Self::rollup_source`]).
    rollup_write_url: Option<String>,
    /// Where reads go: the database, and on v1 the retention policy written into (statements that name no
    /// policy read it; without `rp` influxd reads the database's default, and a store writing elsewhere read
    /// nothing back).
    query_url: String,
    /// The last answer of `latest_states`, kept current from the points written since (see there).
    states: tokio::sync::Mutex<StateSlot>,
    /// Rows read back without a field every writer sets (see [`probe_rows`]), skipped.
    incomplete: std::sync::atomic::AtomicU64,
    /// This store's name in the write log, and the log's clock (see `feed`).
    writer: String,
    feed_clock: feed::FeedClock,
    /// The one reader of the write log that every cursor of this store follows (see `feed`), and the points
    /// it has read from `feed` (tests and benchmarks).
    shared_feed: tokio::sync::Mutex<feed::SharedFeed>,
    feed_points_read: std::sync::atomic::AtomicU64,
    /// The server refused MessagePack answers (406): reads ask for JSON (see `query`); and how many answers
    /// came in MessagePack (tests and benchmarks).
    msgpack_refused: std::sync::atomic::AtomicBool,
    msgpack_answers: std::sync::atomic::AtomicU64,
    /// How many times the latest states were derived from raw points, and restored from a saved snapshot.
    derived: std::sync::atomic::AtomicU64,
    restored: std::sync::atomic::AtomicU64,
}

impl InfluxStore {
    pub fn new(cfg: &InfluxConfig) -> Result<Self, StoreError> {
        let client =
            crate::http::client(cfg.timeout).build().map_err(|e| StoreError::Open { path: cfg.url.clone(), reason: e.to_string() })?;
        let enc = |s: &str| percent_encode(s);
        let rp = |rp: Option<&str>| rp.map(|rp| format!("&rp={}", enc(rp))).unwrap_or_default();
        // The 1.x API documents `n` for nanoseconds (v2 documents `ns`).
        let v1_write = |policy: Option<&str>| format!("{}/write?db={}{}&precision=n", cfg.url, enc(&cfg.database), rp(policy));
        let (query_rp, rollup_write_url) = match cfg.api {
            InfluxApi::V1 => (rp(cfg.retention_policy.as_deref()), cfg.rollup_retention_policy.as_deref().map(|p| v1_write(Some(p)))),
            InfluxApi::V2 => (String::new(), None),
        };
        let query_url = format!("{}/query?db={}{query_rp}&epoch=ns", cfg.url, enc(&cfg.database));
        let write_url = match cfg.api {
            InfluxApi::V1 => v1_write(cfg.retention_policy.as_deref()),
            InfluxApi::V2 => format!(
                "{}/api/v2/write?org={}&bucket={}&precision=ns",
                cfg.url,
                enc(cfg.org.as_deref().unwrap_or_default()),
                enc(cfg.bucket.as_deref().unwrap_or_default())
            ),
        };
        Ok(InfluxStore {
            client,
            cfg: cfg.clone(),
            write_url,
            rollup_write_url,
            query_url,
            states: tokio::sync::Mutex::new(StateSlot::default()),
            incomplete: std::sync::atomic::AtomicU64::new(0),
            writer: feed::writer_id(),
            feed_clock: feed::FeedClock::default(),
            shared_feed: tokio::sync::Mutex::new(feed::SharedFeed::default()),
            feed_points_read: std::sync::atomic::AtomicU64::new(0),
            msgpack_refused: std::sync::atomic::AtomicBool::new(false),
            msgpack_answers: std::sync::atomic::AtomicU64::new(0),
            derived: std::sync::atomic::AtomicU64::new(0),
            restored: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Writes points where the store writes (rollups too, unless they have a place of their own).
    async fn write_points(&self, batch: &[Point]) -> Result<(), StoreError> {
        // The write log (see `feed`) travels with the points; its commit follows once all of them are in, so
        // a consumer following the log never reads a half-written batch.
        let feed = self.pack_feed(batch);
        let parts = feed.as_ref().map(|f| (self.writer.as_str(), f.first, &f.parts[..]));
        let rejected = self.send(encode_batches(batch, parts), "write").await?;
        if let Some(f) = &feed {
            self.commit_feed(f).await?;
        }
        refused(rejected)
    }

    /// [`Self::send_to`] where the store writes.
    async fn send(&self, bodies: Bodies, op: &'static str) -> Result<Option<(u64, String)>, StoreError> {
        self.send_to(&self.write_url, bodies, op).await
    }

    /// Posts bodies in order to `url`, each retried a few times on 429/5xx; returns the lines refused as
    /// invalid (the bodies after a refused one are still sent: one bad line must not hold back the rest).
    async fn send_to(&self, url: &str, bodies: Bodies, op: &'static str) -> Result<Option<(u64, String)>, StoreError> {
        let mut rejected: Option<(u64, String)> = None;
        for (body, lines) in bodies {
            let attempt = || self.post(url, body.clone(), lines);
            let result = attempt
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(200))
                        .with_max_times(WRITE_ATTEMPTS - 1)
                        .with_jitter(),
                )
                .when(|f| matches!(f, Failure::Retry { after, .. } if after.is_none_or(|a| a <= MAX_RETRY_AFTER)))
                .adjust(|f, backoff| match f {
                    Failure::Retry { after: Some(a), .. } => Some(*a),
                    _ => backoff,
                })
                .await;
            match result {
                Ok(()) => {}
                Err(Failure::Rejected { lines, message }) => {
                    let total = rejected.as_ref().map_or(0, |r| r.0) + lines;
                    rejected = Some((total, message));
                }
                Err(Failure::Retry { reason, .. } | Failure::Unreachable { reason }) => {
                    return Err(StoreError::Io { op, reason, retryable: true })
                }
                Err(Failure::Final { reason }) => return Err(StoreError::Io { op, reason, retryable: false }),
            }
        }
        Ok(rejected)
    }

    /// How many query answers came in MessagePack rather than JSON (tests and benchmarks).
    pub fn msgpack_answers(&self) -> u64 {
        self.msgpack_answers.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Points this store has read from the write log (`feed`) since it was made, counting a packed part as
    /// its share of its write's points (tests and benchmarks).
    pub fn feed_points_read(&self) -> u64 {
        self.feed_points_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many times this store derived the latest states from raw points, and restored them from states
    /// another process saved (tests and benchmarks).
    pub fn state_sources(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.derived.load(Relaxed), self.restored.load(Relaxed))
    }

    /// What a `FROM` names to read `resolution`'s rollups: in their own retention policy when the store has
    /// one for them (`rollup_retention_policy`).
    ///
    /// Why rollups may live apart: influxd keeps an in-memory cache per shard and snapshots it to disk at a
    /// size (`cache-snapshot-memory-size`, 25 MB by default), and it counts every series × field key in the
    /// cache. A minute of rollups at 10,000 endpoints and two regions is 30,000 series × 14 fields, about
    /// 38 MB of keys on its own, so beside the raw points it tripled the snapshots (each encodes every key in
    /// the cache) and the compactions after them (`bench/fullstack.py --compactions`, issue 19). A retention
    /// policy has shards, and so caches, of its own: the raw points' snapshots are again as few as with the
    /// agents alone, though the rollups' own shard still snapshots every minute (about a quarter less
    /// snapshot time in all, `bench/README.md` session 7). Users want it anyway, to keep rollups longer than
    /// raw points.
    fn rollup_source(&self, resolution: Resolution) -> String {
        let m = ident(resolution.measurement());
        match (&self.rollup_write_url, &self.cfg.rollup_retention_policy) {
            (Some(_), Some(rp)) => format!("{}.{m}", ident(rp)),
            _ => m,
        }
    }

    /// The statements that read `fields` of the selected series' rollups of `resolution` in `range`, one per
    /// condition of [`Self::filters`], joined; empty when the selection covers no series.
    async fn rollup_statements(
        &self,
        resolution: Resolution,
        range: TimeRange,
        select: Select<'_>,
        fields: &str,
    ) -> Result<String, StoreError> {
        let m = self.rollup_source(resolution);
        let statements: Vec<String> = self
            .filters(&m, select)
            .await?
            .iter()
            .map(|filter| {
                format!("SELECT {fields} FROM {m} WHERE {filter}time >= {} AND time < {} GROUP BY {PROBE_TAGS}", range.from, range.to)
            })
            .collect();
        Ok(statements.join("; "))
    }

    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cfg.auth {
            InfluxAuth::None => req,
            InfluxAuth::Basic { username, password } => req.basic_auth(username, Some(password.expose())),
            InfluxAuth::Token(t) => req.header(reqwest::header::AUTHORIZATION, format!("Token {}", t.expose())),
        }
    }
}

#[async_trait::async_trait]
impl Store for InfluxStore {
    async fn write(&self, batch: &[Point]) -> Result<(), StoreError> {
        let rollup = |p: &Point| matches!(p, Point::Rollup(_));
        let Some(url) = self.rollup_write_url.as_deref().filter(|_| batch.iter().any(rollup)) else {
            return self.write_points(batch).await;
        };
        // Rollups in a retention policy of their own (see `rollup_source`) go in requests of their own. The
        // aggregator writes them alone; a mixed batch is split.
        let rollups: Cow<'_, [Point]> = if batch.iter().all(rollup) {
            Cow::Borrowed(batch)
        } else {
            let (rollups, rest): (Vec<Point>, Vec<Point>) = batch.iter().cloned().partition(rollup);
            self.write_points(&rest).await?;
            Cow::Owned(rollups)
        };
        refused(self.send_to(url, encode_batches(&rollups, None), "write rollups").await?)
    }

    async fn first_probe_time(&self, since: Nanos) -> Result<Option<Nanos>, StoreError> {
        // One statement over every series (influxd opens each, but returns one row).
        self.first_time(&format!("SELECT first(\"latency_ms\") FROM \"probe\" WHERE time >= {since}")).await
    }

    async fn save_states(&self) -> Result<(), StoreError> {
        self.save_states_now().await
    }

    async fn feed_start(&self) -> Result<FeedCursor, StoreError> {
        self.feed_start_at().await
    }

    async fn feed(&self, cursor: &mut FeedCursor) -> Result<Vec<ProbePoint>, StoreError> {
        self.feed_shared(cursor).await
    }

    async fn probe_points(&self, endpoint: &str, region: Option<&str>, range: TimeRange) -> Result<Vec<ProbePoint>, StoreError> {
        let mut filter = format!("\"endpoint\" = {} AND ", lit(endpoint));
        if let Some(r) = region {
            filter.push_str(&format!("\"region\" = {} AND ", lit(r)));
        }
        self.probe_points_where(&filter, range, "*").await
    }

    async fn probe_points_all(&self, range: TimeRange, select: Select<'_>) -> Result<Vec<ProbePoint>, StoreError> {
        self.probe_points_selected(range, select, "*").await
    }

    fn read_parts(&self, endpoints: usize) -> u32 {
        u32::try_from(endpoints.div_ceil(PART_ENDPOINTS)).unwrap_or(u32::MAX).max(1)
    }

    async fn probe_samples(&self, range: TimeRange, select: Select<'_>) -> Result<Vec<ProbePoint>, StoreError> {
        self.probe_points_selected(range, select, SAMPLE_FIELDS).await
    }

    async fn availability(
        &self,
        range: TimeRange,
        slots: &HashMap<String, Duration>,
        default_slot: Duration,
    ) -> Result<Vec<(SeriesKey, Availability)>, StoreError> {
        let mut acc: HashMap<SeriesKey, SlotAccumulator> = HashMap::new();
        // From the first point on: each window below is a statement that opens every series whatever it holds
        // (about 0.3 s at 20,000 series), so a day with an hour of points cost `watchpost status` 144 of them
        // (47 s, `bench/status.py`, issue 19). A point stands for the time after it, so the points read, and
        // the sums, are the same.
        let q = format!("SELECT first(\"availability\") FROM \"probe\" WHERE time >= {} AND time < {}", range.from, range.to);
        let Some(first) = self.first_time(&q).await? else { return Ok(Vec::new()) };
        for (from, to) in windows(TimeRange::new(first.max(range.from), range.to)) {
            let q = format!("SELECT \"availability\", \"ok\" FROM \"probe\" WHERE time >= {from} AND time < {to} GROUP BY {PROBE_TAGS}");
            for r in self.query(&q).await? {
                for s in r.series.unwrap_or_default() {
                    let key = s.key();
                    let slot = slots.get(&key.endpoint).copied().unwrap_or(default_slot);
                    let a = acc.entry(key).or_insert_with(|| SlotAccumulator::new(slot));
                    super::reads::count(s.values.len());
                    let (ti, ai, oi) = (s.col("time"), s.col("availability"), s.col("ok"));
                    for row in &s.values {
                        let v = |i: Option<usize>| i.and_then(|i| row.get(i));
                        if let (Some(ts), Some(av)) = (v(ti).and_then(|x| x.as_i64()), v(ai).and_then(|x| x.as_f64())) {
                            a.push(ts, av, v(oi).and_then(|x| x.as_bool()).unwrap_or(false));
                        }
                    }
                }
            }
        }
        let mut out: Vec<(SeriesKey, Availability)> = acc.into_iter().map(|(k, a)| (k, a.finish(range.to))).collect();
        out.sort_by(|a, b| (&a.0.endpoint, &a.0.region, &a.0.environment).cmp(&(&b.0.endpoint, &b.0.region, &b.0.environment)));
        Ok(out)
    }

    async fn maintenance_points(&self, endpoint: &str, range: TimeRange) -> Result<Vec<MaintenancePoint>, StoreError> {
        self.maintenance_where(&format!("\"endpoint\" = {} AND ", lit(endpoint)), range).await
    }

    async fn maintenance_points_all(&self, range: TimeRange, select: Select<'_>) -> Result<Vec<MaintenancePoint>, StoreError> {
        let mut out = Vec::new();
        for filter in self.filters("\"maintenance\"", select).await? {
            out.extend(self.maintenance_where(&filter, range).await?);
        }
        out.sort_by(|a, b| (a.ts, &a.endpoint, &a.region).cmp(&(b.ts, &b.endpoint, &b.region)));
        Ok(out)
    }

    async fn rollups(&self, resolution: Resolution, range: TimeRange, select: Select<'_>) -> Result<Vec<RollupPoint>, StoreError> {
        // Rollups are few per series and window, so whole days per statement are small answers.
        let mut out = Vec::new();
        let q = self.rollup_statements(resolution, range, select, "*").await?;
        if q.is_empty() {
            return Ok(out);
        }
        for r in self.query(&q).await? {
            for s in r.series.unwrap_or_default() {
                let series = Arc::new(s.key());
                let cols: Vec<Option<usize>> = [
                    "time",
                    "up_s",
                    "down_s",
                    "maintenance_s",
                    "samples",
                    "failures",
                    "under_threshold",
                    "latency_mean_ms",
                    "latency_p50_ms",
                    "latency_p90_ms",
                    "latency_p95_ms",
                    "latency_p99_ms",
                    "latency_max_ms",
                    "hist",
                    "down_from_s",
                    "down_until_s",
                ]
                .iter()
                .map(|c| s.col(c))
                .collect();
                for row in &s.values {
                    let get = |i: usize| cols[i].and_then(|c| row.get(c)).filter(|v| !v.is_null());
                    let f = |i: usize| get(i).and_then(serde_json::Value::as_f64);
                    let n = |i: usize| get(i).and_then(serde_json::Value::as_u64).unwrap_or(0);
                    let Some(ts) = get(0).and_then(serde_json::Value::as_i64) else { continue };
                    // As for probe rows: a rollup read while influxd applies it may lack fields; read as 0 it
                    // would be downtime or missing seconds in a report. Its counts are what every reader needs.
                    let (Some(up_s), Some(down_s), Some(maintenance_s), Some(samples)) =
                        (f(1), f(2), f(3), get(4).and_then(serde_json::Value::as_u64))
                    else {
                        self.count_incomplete(1);
                        continue;
                    };
                    out.push(RollupPoint {
                        resolution,
                        series: series.clone(),
                        ts,
                        up_s,
                        down_s,
                        maintenance_s,
                        down_from_s: f(14),
                        down_until_s: f(15),
                        samples,
                        failures: n(5),
                        under_threshold: n(6),
                        latency_mean_ms: f(7),
                        latency_p50_ms: f(8),
                        latency_p90_ms: f(9),
                        latency_p95_ms: f(10),
                        latency_p99_ms: f(11),
                        latency_max_ms: f(12),
                        hist: get(13).and_then(serde_json::Value::as_str).unwrap_or_default().to_string(),
                    });
                }
            }
        }
        out.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
        Ok(out)
    }

    async fn rollup_sums(&self, resolution: Resolution, range: TimeRange, select: Select<'_>) -> Result<Vec<RollupSums>, StoreError> {
        const FIELDS: [&str; 7] = ["time", "up_s", "down_s", "samples", "failures", "maintenance_s", "latency_mean_ms"];
        let fields = FIELDS[1..].iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ");
        let q = self.rollup_statements(resolution, range, select, &fields).await?;
        let mut out = Vec::new();
        if q.is_empty() {
            return Ok(out);
        }
        for r in self.query(&q).await? {
            for s in r.series.unwrap_or_default() {
                let series = Arc::new(s.key());
                let cols = FIELDS.map(|c| s.col(c));
                for row in &s.values {
                    let get = |i: usize| cols[i].and_then(|c| row.get(c)).filter(|v| !v.is_null());
                    let f = |i: usize| get(i).and_then(serde_json::Value::as_f64);
                    // A row read while influxd applies it may lack fields: skipped, as in `rollups`.
                    let (Some(ts), Some(up_s), Some(down_s), Some(samples), Some(maintenance_s)) =
                        (get(0).and_then(serde_json::Value::as_i64), f(1), f(2), get(3).and_then(serde_json::Value::as_u64), f(5))
                    else {
                        self.count_incomplete(1);
                        continue;
                    };
                    let failures = get(4).and_then(serde_json::Value::as_u64).unwrap_or(0);
                    out.push(RollupSums {
                        series: series.clone(),
                        ts,
                        sums: Availability { up_s, down_s, samples, failures },
                        maintenance_s,
                        latency_mean_ms: f(6),
                    });
                }
            }
        }
        Ok(out)
    }

    async fn save_document(&self, name: &str, body: &str) -> Result<(), StoreError> {
        self.save_document_now(name, body).await
    }

    async fn document(&self, name: &str) -> Result<Option<(Nanos, String)>, StoreError> {
        self.read_document(name).await
    }

    async fn rollup_availability(&self, resolution: Resolution, range: TimeRange) -> Result<Vec<(SeriesKey, Availability)>, StoreError> {
        // Summed by influxd: one row per series comes back, whatever the range holds.
        let q = format!(
            "SELECT SUM(\"up_s\") AS \"up\", SUM(\"down_s\") AS \"down\", SUM(\"samples\") AS \"samples\", SUM(\"failures\") AS \"failures\" \
             FROM {} WHERE time >= {} AND time < {} GROUP BY {PROBE_TAGS}",
            self.rollup_source(resolution),
            range.from,
            range.to
        );
        let mut out = Vec::new();
        for r in self.query(&q).await? {
            for s in r.series.unwrap_or_default() {
                let cols = ["up", "down", "samples", "failures"].map(|c| s.col(c));
                for row in &s.values {
                    let f = |i: usize| cols[i].and_then(|c| row.get(c)).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
                    // Sums of counts are whole numbers; influxd may answer them as floats.
                    let n = |i: usize| f(i).max(0.0) as u64;
                    out.push((s.key(), Availability { up_s: f(0), down_s: f(1), samples: n(2), failures: n(3) }));
                }
            }
        }
        Ok(out)
    }

    async fn watermark(&self, name: &str) -> Result<Option<Nanos>, StoreError> {
        let q = format!("SELECT last(\"upto\") FROM \"watermark\" WHERE \"name\" = {}", lit(name));
        for r in self.query(&q).await? {
            for s in r.series.unwrap_or_default() {
                if let Some((_, v)) = s.first_row() {
                    return Ok(v.as_i64());
                }
            }
        }
        Ok(None)
    }

    async fn set_watermark(&self, name: &str, ts: Nanos) -> Result<(), StoreError> {
        // A new point each time (InfluxDB 3 does not overwrite reliably); `last()` reads the newest.
        let mut line = Vec::new();
        crate::lineproto::write_line(
            &mut line,
            "watermark",
            &[("name", name)],
            &[("upto", Some(crate::lineproto::Field::Int(ts)))],
            now_nanos(),
        );
        let body = gzip(&line);
        match self.post(&self.write_url, body, 1).await {
            Ok(()) => Ok(()),
            Err(Failure::Retry { reason, .. } | Failure::Unreachable { reason }) => {
                Err(StoreError::Io { op: "write watermark", reason, retryable: true })
            }
            Err(Failure::Final { reason }) => Err(StoreError::Io { op: "write watermark", reason, retryable: false }),
            Err(Failure::Rejected { message, .. }) => Err(StoreError::Rejected { points: 1, message }),
        }
    }

    async fn check_runs(&self, endpoint: &str, environment: Option<&str>, range: TimeRange) -> Result<Vec<StepPoint>, StoreError> {
        let env = environment.map(|e| format!("\"environment\" = {} AND ", lit(e))).unwrap_or_default();
        let mut out = Vec::new();
        for (from, to) in windows(range) {
            let q = format!(
                "SELECT * FROM \"check_step\" WHERE \"endpoint\" = {} AND {env}time >= {from} AND time < {to} GROUP BY {PROBE_TAGS}, \"step\"",
                lit(endpoint)
            );
            for r in self.query(&q).await? {
                for s in r.series.unwrap_or_default() {
                    let series = Arc::new(s.key());
                    let step = s.tag("step");
                    let idx: Vec<Option<usize>> =
                        ["time", "index", "ran", "finally", "ok", "status_code", "latency_ms", "error", "detail", "assertions"]
                            .iter()
                            .map(|c| s.col(c))
                            .collect();
                    for row in &s.values {
                        let get = |i: usize| idx[i].and_then(|c| row.get(c)).filter(|v| !v.is_null());
                        let b = |i: usize| get(i).and_then(serde_json::Value::as_bool);
                        let text = |i: usize| get(i).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
                        let Some(ts) = get(0).and_then(serde_json::Value::as_i64) else { continue };
                        // Every writer sets these; a row without one is being applied (see `probe_rows`).
                        let index = get(1).and_then(serde_json::Value::as_u64).and_then(|i| u32::try_from(i).ok());
                        let latency_ms = get(6).and_then(serde_json::Value::as_f64);
                        let (Some(index), Some(ran), Some(finally), Some(ok), Some(latency_ms)) = (index, b(2), b(3), b(4), latency_ms)
                        else {
                            self.count_incomplete(1);
                            continue;
                        };
                        out.push(StepPoint {
                            series: series.clone(),
                            ts,
                            step: step.clone(),
                            index,
                            ran,
                            finally,
                            ok,
                            status_code: get(5).and_then(serde_json::Value::as_i64),
                            latency_ms,
                            error: get(7).and_then(serde_json::Value::as_str).and_then(ErrorClass::parse),
                            detail: text(8),
                            assertions: text(9),
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            (a.ts, &a.series.region, &a.series.environment, a.index).cmp(&(b.ts, &b.series.region, &b.series.environment, b.index))
        });
        Ok(out)
    }

    /// Every series' latest state. The first call (and one an hour) derives them from the last 24 h with
    /// `last()`/`first()` aggregations and, for series whose state changed in that window, one statement each
    /// for when the current state began: seconds at 10,000 series. Every other call reads the points written
    /// since the previous call from the write log (`feed`), each once, and folds them into the states it
    /// keeps: its cost follows the points written, not the history, the series count or how often it is
    /// asked, so a status page and the publishers can ask every half second.
    async fn latest_states(&self) -> Result<Vec<EndpointState>, StoreError> {
        self.latest_states_cached().await
    }

    async fn apply_retention(&self, _before: Nanos) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn describe(&self) -> String {
        let api = match self.cfg.api {
            InfluxApi::V1 => "v1",
            InfluxApi::V2 => "v2",
        };
        format!("influxdb {api} {} database {}", self.cfg.url, self.cfg.database)
    }

    fn incomplete_rows(&self) -> u64 {
        self.incomplete.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl InfluxStore {
    fn count_incomplete(&self, n: u64) {
        if n > 0 {
            self.incomplete.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(rows = n, "incomplete rows read back (a write still being applied); skipped until the next read");
        }
    }
}

/// A write's outcome from the lines refused as invalid, if any.
fn refused(rejected: Option<(u64, String)>) -> Result<(), StoreError> {
    match rejected {
        Some((points, message)) => Err(StoreError::Rejected { points, message }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_respect_the_line_limit_and_gzip() {
        let points: Vec<Point> = (0..12_001).map(|i| Point::Probe(crate::model::tests::point(i, 100.0, true))).collect();
        let bodies = encode_batches(&points, None);
        assert_eq!(bodies.iter().map(|b| b.1).collect::<Vec<_>>(), vec![5000, 5000, 2001]);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bodies[2].0[..]), &mut text).unwrap();
        assert_eq!(text.lines().count(), 2001);
    }

    #[test]
    fn the_write_logs_parts_follow_the_points_in_the_same_body_when_they_fit() {
        let points: Vec<Point> = (0..7_000).map(|i| Point::Probe(crate::model::tests::point(i, 100.0, true))).collect();
        let parts = vec![("AAAA".to_string(), 3), ("BBBB".to_string(), 4)];
        let bodies = encode_batches(&points, Some(("w1", 1_000, &parts)));
        assert_eq!(bodies.iter().map(|b| b.1).collect::<Vec<_>>(), vec![5000, 2002]);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bodies[1].0[..]), &mut text).unwrap();
        let tail: Vec<&str> = text.lines().rev().take(2).collect();
        assert!(tail[1].starts_with("feed,seg=0,writer=w1 data=\"AAAA\",points=3i 1000"), "{tail:?}");
        assert!(tail[0].starts_with("feed,seg=0,writer=w1 data=\"BBBB\",points=4i 1001"), "{tail:?}");
        assert!(encode_batches(&[], Some(("w1", 1, &[]))).is_empty());
    }

    /// Issue 17, defect 18: a row answered while a write was being applied lacked `availability`, which was
    /// read as 0 and paged endpoints that were up.
    #[test]
    fn regression_a_row_with_a_missing_field_is_incomplete_not_a_miss() {
        let s: SeriesResult = serde_json::from_value(serde_json::json!({
            "tags": {"endpoint": "api", "region": "eu", "component": "", "environment": "production"},
            "columns": ["time", "availability", "ok", "latency_ms", "confirmed_down"],
            "values": [
                [1, 100.0, true, 12.0, false],
                [2, null, true, 12.0, false],
                [3, 100.0, null, 12.0, false],
                [4, 100.0, true, null, null],
                [5, 0.0, false, 30.0, true]
            ]
        }))
        .unwrap();
        let mut out = Vec::new();
        assert_eq!(probe_rows(&s, &mut out), 3, "three incomplete rows skipped");
        let got: Vec<(Nanos, f64)> = out.iter().map(|p| (p.ts, p.availability)).collect();
        assert_eq!(got, vec![(1, 100.0), (5, 0.0)], "only whole rows, with the values they carry");
    }

    #[test]
    fn windows_cover_the_range_exactly() {
        let w: Vec<_> = windows(TimeRange::new(0, 2 * READ_WINDOW + 5)).collect();
        assert_eq!(w, vec![(0, READ_WINDOW), (READ_WINDOW, 2 * READ_WINDOW), (2 * READ_WINDOW, 2 * READ_WINDOW + 5)]);
        assert_eq!(windows(TimeRange::new(5, 5)).count(), 0);
    }

    #[test]
    fn literals_queries_and_messages() {
        assert_eq!(lit("it's"), "'it\\'s'");
        assert_eq!(lit("a\\b"), "'a\\\\b'");
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
        assert_eq!(dropped_lines("partial write: field type conflict: input field \"ok\" ... dropped=3"), Some(3));
        assert_eq!(dropped_lines("unable to parse"), None);
    }
}
