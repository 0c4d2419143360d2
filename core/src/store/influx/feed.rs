//! The write log on InfluxDB (`Store::feed`): how a long-running consumer reads each point once.
//!
//! Why not read `probe` from a cursor by time: a read of the newest points still opens every series it
//! covers, and on influxd 1.6 that, not the points, is the cost. Measured with 20,000 series written at 5 s
//! (`bench/influx_reads.py`): reading the last 0.5 s of `probe` (2,000 points) costs influxd 584 CPU-ms;
//! reading the same 2,000 points from one series costs it 14. And points carry the time they were probed, not
//! the time they were written: a batch held for confirmation or replayed from a spool lands behind any cursor
//! by time, which is why consumers used to re-read an overlap of 5-10 s every time.
//!
//! So every write of probe points also writes them to `feed`, packed (see [`pack`]): one series per writer
//! (`writer` tag) and segment of its times (`seg` tag, see [`crate::lineproto::FEED_SEGMENTS`]),
//! timestamped in the order of writing. Once the points are in, the writer adds a
//! `feed_commit` point naming the range of `feed` times it wrote. A consumer reads the commits of the last
//! [`FEED_OVERLAP`] (a few rows per second per writer), skips those it has followed, and reads exactly the
//! ranges they name: each point once, however late it was written for its time, and never a half-written
//! batch (a commit follows the write's success).
//!
//! Limits, stated in ARCHITECTURE.md: a commit that becomes readable more than [`FEED_OVERLAP`] after its
//! time, by the reader's clock (a writer's clock that far behind, or a write that slow), is not followed; the
//! feed adds a few rows per write (its retention is the database's).
//!
//! Why packed: influxd 1.6 spends its CPU per value, in writes (WAL, cache, compactions), in reads (a
//! cursor per field and series, the cache entries it copies) and in the garbage both leave. A `feed` line
//! per probe point with its 17 fields as values was the largest part of what the consumers cost it
//! (`bench/fullstack.py --profile`, issue 19): about 70,000 values a second written and read three times
//! at 20,000 endpoints. Packed, a write of 2,000 points is one or two strings of about 50 KB, which influxd
//! stores, compacts and answers as a few values.

use super::*;
use crate::store::FeedCursor;
use base64::Engine as _;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};

/// How far back each read of the commits reaches: how late, by the reader's clock, a commit may become
/// readable and still be followed. Commits are a few rows per second per writer, so this costs little.
pub(super) const FEED_OVERLAP: Nanos = 60 * 1_000_000_000;
/// Ranges per request when many commits are new at once (after a pause).
const RANGES_PER_REQUEST: usize = 50;
/// A cursor read this recently reads the writers' tails with the commits (see `read_writes`); the consumers
/// poll every 0.5-5 s.
const TAIL_WITHIN: Nanos = 10 * 1_000_000_000;
/// A tail reads the log's segments up to this far past the reader's clock: a writer whose clock runs
/// further ahead has its writes read by range (the tail then lacks some of their points, see `read_writes`).
const TAIL_AHEAD: Nanos = 5 * 1_000_000_000;

/// One writer's `feed` clock: times in the order of writing, distinct within the writer.
#[derive(Debug, Default)]
pub(super) struct FeedClock(AtomicI64);

impl FeedClock {
    /// Takes `n` consecutive times, the first no earlier than now; returns the first.
    pub(super) fn take(&self, n: i64) -> Nanos {
        let now = now_nanos();
        let prev = self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(now.max(last + 1) + n - 1)).unwrap_or_else(|v| v);
        now.max(prev + 1)
    }
}

/// A name for this store's writes in `feed`, distinct between processes: one series per running writer.
pub(super) fn writer_id() -> String {
    use std::hash::BuildHasher;
    let h = std::collections::hash_map::RandomState::new().hash_one((std::process::id(), now_nanos()));
    format!("{h:016x}")
}

/// One followed write: `feed` times `from..=to` of `writer`, committed at `time`, holding `points` probe
/// points; `segmented` when its rows carry the `seg` tag (see [`crate::lineproto::FEED_SEGMENTS`]; a writer
/// of an older version wrote none); packed when it names an `encoding` (see [`pack`]; an older
/// version wrote a row per point, with the fields of [`crate::lineproto::FEED_FIELDS`]).
pub(super) struct Commit {
    pub(super) writer: String,
    pub(super) time: Nanos,
    from: Nanos,
    to: Nanos,
    points: i64,
    segmented: bool,
    /// The commit's `encoding`: [`PACKED`], another (a newer version's), or none (a row per point).
    encoding: Option<Box<str>>,
}

/// The commit's `encoding` of a packed write: a JSON array of [`PackedPoint`]s, gzipped, then in base64.
pub const PACKED: &str = "points+gzip+base64";

/// Characters of a packed write per `feed` row: base64 needs no escaping, so this stays under the 64 KB a
/// string field holds.
const PART_CHARS: usize = 60 * 1024;

/// A write's probe points, packed for the log: the log time of the first part, each part with its share of
/// the points (they add up to `points`).
pub(super) struct PackedWrite {
    pub(super) first: Nanos,
    pub(super) parts: Vec<(String, i64)>,
    points: i64,
}

/// One probe point in a packed write: an array rather than an object, so no name is repeated per point.
/// The layout is the [`PACKED`] encoding's: a change needs a new encoding name.
#[derive(serde::Serialize, serde::Deserialize)]
struct PackedPoint<'a>(
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    Nanos,
    // A float that is not finite is written as `null` and read as absent, as line protocol leaves it out.
    Option<f64>,
    bool,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    Option<f64>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    bool,
    #[serde(borrow)] Option<Cow<'a, str>>,
);

impl<'a> PackedPoint<'a> {
    fn of(p: &'a ProbePoint) -> Self {
        let s = &p.series;
        let finite = |v: f64| Some(v).filter(|v| v.is_finite());
        PackedPoint(
            Cow::Borrowed(&s.endpoint),
            Cow::Borrowed(&s.region),
            Cow::Borrowed(&s.component),
            Cow::Borrowed(&s.environment),
            p.ts,
            finite(p.availability),
            p.ok,
            finite(p.latency_ms),
            p.dns_ms.and_then(finite),
            p.connect_ms.and_then(finite),
            p.tls_ms.and_then(finite),
            p.ttfb_ms.and_then(finite),
            p.status_code,
            p.cert_days_left.and_then(finite),
            p.error.map(|e| Cow::Borrowed(e.as_str())),
            p.confirmed_down,
            p.failed_step.as_deref().map(Cow::Borrowed),
        )
    }

    /// The point, its series shared through `keys`; `None` without what every point has (the confirmed
    /// state and the latency), or without an endpoint.
    fn point(self, keys: &mut SeriesKeys) -> Option<ProbePoint> {
        let PackedPoint(endpoint, region, component, environment, ts, availability, ok, latency_ms, ..) = &self;
        let (Some(availability), Some(latency_ms)) = (*availability, *latency_ms) else { return None };
        if endpoint.is_empty() {
            return None;
        }
        let (ts, ok) = (*ts, *ok);
        let series = series_key(keys, [endpoint, region, component, environment].map(|c| c.to_string()));
        let PackedPoint(.., dns_ms, connect_ms, tls_ms, ttfb_ms, status_code, cert_days_left, error, confirmed_down, failed_step) = self;
        Some(ProbePoint {
            series,
            ts,
            availability,
            ok,
            latency_ms,
            dns_ms,
            connect_ms,
            tls_ms,
            ttfb_ms,
            status_code,
            cert_days_left,
            error: error.as_deref().and_then(ErrorClass::parse),
            confirmed_down,
            failed_step: failed_step.map(Cow::into_owned),
        })
    }
}

/// The `feed` rows of a write of these points, as [`PACKED`] stores them: each part's text with its share of
/// the points (tests and tools that write the log by hand; a store writes its own).
pub fn feed_parts(points: &[ProbePoint]) -> Vec<(String, i64)> {
    parts_of(&points.iter().map(PackedPoint::of).collect::<Vec<_>>())
}

fn parts_of(packed: &[PackedPoint<'_>]) -> Vec<(String, i64)> {
    let points = packed.len() as i64;
    let stored = pack(packed);
    let texts = super::document::split(&stored, PART_CHARS);
    let k = texts.len() as i64;
    // Each part's share, so that the shares of any parts read add up to about the points they hold.
    texts.iter().zip(0..).map(|(t, i)| (t.to_string(), points * (i + 1) / k - points * i / k)).collect()
}

/// A write's probe points as the text a [`PACKED`] write stores.
fn pack(points: &[PackedPoint<'_>]) -> String {
    // Serialized whole, then compressed in one call: the serializer writes token by token, and each small
    // write into a gzip stream costs a deflate call (18 µs a point in `bench/influx.py`, against about 1).
    // Serializing these types into a Vec does not fail.
    let json = serde_json::to_vec(points).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(super::write::gzip(&json))
}

/// The points of a [`PACKED`] write from its text, and how many of them lacked what a point needs.
fn unpack(stored: String, keys: &mut SeriesKeys) -> Result<(Vec<ProbePoint>, u64), String> {
    let json = super::document::decode(stored, Some(super::document::GZIP_BASE64))?;
    let packed: Vec<PackedPoint<'_>> = serde_json::from_str(&json).map_err(|e| format!("bad points: {e}"))?;
    let n = packed.len();
    let points: Vec<ProbePoint> = packed.into_iter().filter_map(|p| p.point(keys)).collect();
    let skipped = (n - points.len()) as u64;
    Ok((points, skipped))
}

/// A row of `feed`: a part of a packed write, with its share of the points, or (written by an older version)
/// one probe point.
enum LogRow {
    Part { data: String },
    Point(ProbePoint),
}

impl InfluxStore {
    /// Packs a batch's probe points for the write log and reserves the log times of its parts; `None` without
    /// any.
    pub(super) fn pack_feed(&self, batch: &[Point]) -> Option<PackedWrite> {
        let packed: Vec<PackedPoint<'_>> = batch
            .iter()
            .filter_map(|p| match p {
                Point::Probe(p) => Some(PackedPoint::of(p)),
                _ => None,
            })
            .collect();
        let points = i64::try_from(packed.len()).ok().filter(|n| *n > 0)?;
        let parts = parts_of(&packed);
        Some(PackedWrite { first: self.feed_clock.take(parts.len() as i64), parts, points })
    }

    /// Writes the commit of a packed write, once its parts are all written: one point of this writer, timed
    /// by the log's clock so it follows what it names.
    pub(super) async fn commit_feed(&self, write: &PackedWrite) -> Result<(), StoreError> {
        let int = crate::lineproto::Field::Int;
        let (from, to) = (write.first, write.first + write.parts.len() as i64 - 1);
        let fields = [
            ("from", Some(int(from))),
            ("to", Some(int(to))),
            ("points", Some(int(write.points))),
            ("segments", Some(int(crate::lineproto::FEED_SEGMENTS))),
            ("encoding", Some(crate::lineproto::Field::Str(PACKED))),
        ];
        let mut line = Vec::new();
        crate::lineproto::write_line(&mut line, "feed_commit", &[("writer", self.writer.as_str())], &fields, self.feed_clock.take(1));
        self.send(vec![(gzip(&line), 1)], "write the feed commit").await.map(|_| ())
    }

    /// The body of [`Store::feed_start`].
    pub(super) async fn feed_start_at(&self) -> Result<FeedCursor, StoreError> {
        let now = now_nanos();
        Ok(cursor_after(now, self.commits(now - FEED_OVERLAP).await?))
    }

    /// The body of [`Store::feed`]: the writes committed since `cursor` last read, through this store's
    /// shared reader (see [`SharedFeed`]).
    pub(super) async fn feed_shared(&self, cursor: &mut FeedCursor) -> Result<Vec<ProbePoint>, StoreError> {
        let now = now_nanos();
        let mut shared = self.shared_feed.lock().await;
        while shared.batches.front().is_some_and(|b| b.read_at < now - SHARED_KEEP) {
            shared.batches.pop_front();
        }
        let oldest = shared.batches.front().map_or(shared.next, |b| b.seq);
        let joined = cursor.shared.filter(|s| shared.reader.is_some() && (oldest..=shared.next).contains(s));
        let Some(from) = joined else {
            // New, or not read for longer than the batches are kept: read from its own place, then follow the
            // shared reader from its next batch. The lock is held, so no batch is read meanwhile: every commit
            // of the batches before is one this read found too.
            let points = self.feed_since(cursor).await?;
            if shared.reader.is_none() {
                shared.reader = Some(FeedCursor { shared: None, ..cursor.clone() });
            }
            cursor.shared = Some(shared.next);
            return Ok(points);
        };
        let SharedFeed { reader, next, batches } = &mut *shared;
        let Some(reader) = reader.as_mut() else {
            return Ok(Vec::new()); // not reached: `joined` requires a reader
        };
        let writes = self.read_writes(reader).await?;
        batches.push_back(Batch { seq: *next, read_at: reader.position, writes });
        *next += 1;
        let mut points = Vec::new();
        let mut fed = 0;
        for batch in batches.iter().filter(|b| b.seq >= from) {
            for (c, pts) in &batch.writes {
                // A write this cursor read on its own before it followed the shared reader is not taken again.
                if cursor.seen.insert((c.writer.clone(), c.time)) {
                    cursor.followed_to(c);
                    points.extend(pts.iter().cloned());
                    fed += pts.len();
                }
            }
            cursor.position = batch.read_at;
        }
        cursor.forget_before(now);
        cursor.shared = Some(*next);
        crate::store::reads::fed(fed);
        sort_points(&mut points);
        Ok(points)
    }

    /// The writes committed since `cursor` last read, read on its own (not through the shared reader).
    pub(super) async fn feed_since(&self, cursor: &mut FeedCursor) -> Result<Vec<ProbePoint>, StoreError> {
        let writes = self.read_writes(cursor).await?;
        let mut points: Vec<ProbePoint> = writes.iter().flat_map(|(_, pts)| pts.iter().cloned()).collect();
        crate::store::reads::fed(points.len());
        sort_points(&mut points);
        Ok(points)
    }

    /// The writes committed since `cursor` last read, each with its points, and the cursor moved past them.
    ///
    /// One request in the common case. Why: every request has a cost in influxd whatever it returns (10-20
    /// ms of CPU on an idle server, more under write load), and consumers poll every 0.5-5 s, so the second
    /// request per poll was a large share of the read side's cost (`bench/fullstack.py`, issue 19). Beside the
    /// commits, the request reads each known writer's log past the newest range followed (only the segments
    /// from there to a little past now): a writer reserves its times in order, so a new commit's range lies
    /// there. Statements run in order and a commit is written after its points, so a commit the first
    /// statement returns has its points in the tails. Tail points no returned commit names (a write still in
    /// flight) are dropped and read again next time; a commit whose points are not all in a tail (a new
    /// writer, one that committed two writes out of order, one whose clock runs ahead of the reader's) is read
    /// by range in a second request. Only a cursor read within [`TAIL_WITHIN`] reads tails: after a pause (a
    /// cursor restored from saved states, reads that failed) a tail would be the whole log since, in one
    /// answer too large to finish (found by `bench/fullstack.py`), while ranges go a bounded number per
    /// request.
    async fn read_writes(&self, cursor: &mut FeedCursor) -> Result<Vec<(Commit, Arc<[ProbePoint]>)>, StoreError> {
        let now = now_nanos();
        let writers: Vec<(String, Nanos)> = match now - cursor.position <= TAIL_WITHIN {
            true => cursor.upto.iter().map(|(w, t)| (w.clone(), *t)).collect(),
            false => Vec::new(),
        };
        let mut statements = vec![commits_statement(cursor.position - FEED_OVERLAP)];
        statements.extend(writers.iter().map(|(w, upto)| {
            let segments = segments_condition(*upto + 1, now + TAIL_AHEAD);
            format!("SELECT {PART_FIELDS} FROM \"feed\" WHERE \"writer\" = {} AND {segments}time > {upto}", lit(w))
        }));
        let mut results = self.query(&statements.join("; ")).await?.into_iter();
        let new: Vec<Commit> = parse_commits(results.next().unwrap_or_default())
            .into_iter()
            .filter(|c| !cursor.seen.contains(&(c.writer.clone(), c.time)))
            .collect();
        let mut keys = HashMap::new();
        let mut tails: HashMap<&str, Vec<(Nanos, LogRow)>> = HashMap::new();
        for ((w, _), r) in writers.iter().zip(results) {
            let mut tail = self.feed_rows(r, &mut keys);
            tail.sort_unstable_by_key(|(t, _)| *t);
            tails.insert(w.as_str(), tail);
        }
        // Each new write's points: from its writer's tail when the tail holds them all, else read by range.
        let mut points: Vec<Option<Arc<[ProbePoint]>>> = vec![None; new.len()];
        for (slot, c) in points.iter_mut().zip(&new) {
            if let (Some(tail), Some(upto)) = (tails.get(c.writer.as_str()), cursor.upto.get(&c.writer)) {
                let found = within(tail, c);
                if c.from > *upto && c.whole(found.len()) {
                    *slot = Some(self.points_of(c, found, &mut keys));
                }
            }
        }
        let by_range: Vec<&Commit> = new.iter().zip(&points).filter(|(_, p)| p.is_none()).map(|(c, _)| c).collect();
        let mut ranged = self.feed_ranges(&by_range, &mut keys).await?;
        for found in ranged.values_mut() {
            found.sort_unstable_by_key(|(t, _)| *t);
        }
        for c in &new {
            cursor.followed_to(c);
        }
        cursor.seen.extend(new.iter().map(|c| (c.writer.clone(), c.time)));
        cursor.forget_before(now);
        cursor.position = now;
        let mut writes = Vec::with_capacity(new.len());
        for (c, p) in new.into_iter().zip(points) {
            let p = match p {
                Some(p) => p,
                None => self.points_of(&c, ranged.get(&c.writer).map_or(&[][..], |found| within(found, &c)), &mut keys),
            };
            writes.push((c, p));
        }
        Ok(writes)
    }

    /// The points of write `c` from its rows. A packed write missing a part (one influxd refused, or deleted
    /// by hand) or damaged cannot be decoded: its points are counted as incomplete, with a warning.
    ///
    /// Why the rows, not only the commit, say whether a write is packed: influxd applies a point's fields one
    /// at a time, so a read can catch a commit with `from` and `to` but not yet its `encoding`. Read as an
    /// older version's commit, its points were lost (its parts are not rows of points), and the commit was
    /// followed, never to be read again: one write in a few thousand under CPU pressure
    /// (`store_conformance::influxdb_write_log_with_many_writers_and_writes_in_flight_gives_every_point_once`).
    /// A write whose rows are parts is packed, and [`PACKED`] is the one packing a commit without an
    /// `encoding` can have had.
    fn points_of(&self, c: &Commit, rows: &[(Nanos, LogRow)], keys: &mut SeriesKeys) -> Arc<[ProbePoint]> {
        let parts = rows.iter().any(|(_, r)| matches!(r, LogRow::Part { .. }));
        let Some(encoding) = c.encoding.as_deref().or(parts.then_some(PACKED)) else {
            return rows.iter().filter_map(|(_, r)| if let LogRow::Point(p) = r { Some(p.clone()) } else { None }).collect();
        };
        let mut stored = String::new();
        for (_, r) in rows {
            if let LogRow::Part { data } = r {
                stored.push_str(data);
            }
        }
        let decoded = match (encoding, c.whole(rows.len())) {
            (PACKED, true) => unpack(stored, keys),
            (PACKED, false) => Err(format!("{} of its {} parts found", rows.len(), c.to - c.from + 1)),
            (other, _) => Err(format!("encoding {other:?} is not one this version reads (upgrade Watchpost)")),
        };
        match decoded {
            Ok((points, skipped)) => {
                self.count_incomplete(skipped);
                points.into()
            }
            Err(reason) => {
                tracing::warn!(writer = %c.writer, points = c.points, %reason, "a write in the write log is unreadable; its points are skipped");
                self.count_incomplete(u64::try_from(c.points).unwrap_or(0));
                Arc::new([])
            }
        }
    }

    /// The commits since `since`, of every writer.
    pub(super) async fn commits(&self, since: Nanos) -> Result<Vec<Commit>, StoreError> {
        Ok(self.query(&commits_statement(since)).await?.into_iter().flat_map(parse_commits).collect())
    }

    /// The `feed` points of `commits`, per writer with their log times: their ranges merged per writer, a
    /// bounded number per request.
    async fn feed_ranges(&self, commits: &[&Commit], keys: &mut SeriesKeys) -> Result<HashMap<String, Vec<(Nanos, LogRow)>>, StoreError> {
        let mut ranges: Vec<(&str, Nanos, Nanos, bool, bool)> =
            commits.iter().map(|c| (c.writer.as_str(), c.from, c.to, c.segmented, c.packed())).collect();
        ranges.sort_unstable_by_key(|r| (r.0, r.1, r.2));
        let mut merged: Vec<(&str, Nanos, Nanos, bool, bool)> = Vec::with_capacity(ranges.len());
        for (w, from, to, segmented, packed) in ranges {
            match merged.last_mut() {
                // Consecutive writes of one writer are one range (a commit's own time sits between them), and one
                // writer writes one way.
                Some((lw, _, lto, lseg, lpacked)) if *lw == w && from <= *lto + 2 && *lpacked == packed => {
                    *lto = (*lto).max(to);
                    *lseg &= segmented;
                }
                _ => merged.push((w, from, to, segmented, packed)),
            }
        }
        let statements: Vec<String> = merged
            .iter()
            .map(|(w, from, to, segmented, packed)| {
                let segments = if *segmented { segments_condition(*from, *to) } else { String::new() };
                // Without an encoding, the rows say what the write is (see `points_of`): both kinds of field.
                let fields = if *packed { PART_FIELDS.to_string() } else { format!("{}, {PART_FIELDS}", point_fields()) };
                format!("SELECT {fields} FROM \"feed\" WHERE \"writer\" = {} AND {segments}time >= {from} AND time <= {to}", lit(w))
            })
            .collect();
        let mut out: HashMap<String, Vec<(Nanos, LogRow)>> = HashMap::new();
        for (chunk, writers) in statements.chunks(RANGES_PER_REQUEST).zip(merged.chunks(RANGES_PER_REQUEST)) {
            for (r, (w, ..)) in self.query(&chunk.join("; ")).await?.into_iter().zip(writers) {
                out.entry(w.to_string()).or_default().extend(self.feed_rows(r, keys));
            }
        }
        Ok(out)
    }

    /// The rows of one statement over `feed`, each with its log time: parts of packed writes, or points of
    /// an older version's (rows without the fields a point needs are counted as incomplete). The points read
    /// are counted: a part's share, a point one.
    fn feed_rows(&self, r: StatementResult, keys: &mut SeriesKeys) -> Vec<(Nanos, LogRow)> {
        let mut out = Vec::new();
        for s in r.series.unwrap_or_default() {
            let cols = ProbeColumns::of(&s, "probed_at");
            let [time, data, share] = ["time", "data", "points"].map(|c| s.col(c));
            let names = ["endpoint", "region", "component", "environment"].map(|c| s.col(c));
            let (mut read, mut skipped) = (0u64, 0);
            for row in &s.values {
                let Some(at) = time.and_then(|i| row.get(i)).and_then(serde_json::Value::as_i64) else { continue };
                if let Some(d) = data.and_then(|i| row.get(i)).and_then(serde_json::Value::as_str) {
                    let points = share.and_then(|i| row.get(i)).and_then(serde_json::Value::as_i64).unwrap_or(0);
                    read += u64::try_from(points).unwrap_or(0);
                    out.push((at, LogRow::Part { data: d.to_string() }));
                    continue;
                }
                read += 1;
                let name = names.map(|i| i.and_then(|i| row.get(i)).and_then(serde_json::Value::as_str).unwrap_or_default().to_string());
                let key = series_key(keys, name);
                match cols.point(row, &key) {
                    Some(Some(p)) if !key.endpoint.is_empty() => out.push((at, LogRow::Point(p))),
                    Some(_) => skipped += 1,
                    None => {}
                }
            }
            super::super::reads::count(read as usize);
            self.feed_points_read.fetch_add(read, Ordering::Relaxed);
            self.count_incomplete(skipped);
        }
        out
    }
}

/// Series keys shared by the points of one read.
type SeriesKeys = HashMap<[String; 4], Arc<SeriesKey>>;

/// The shared key of the series named `[endpoint, region, component, environment]`.
fn series_key(keys: &mut SeriesKeys, name: [String; 4]) -> Arc<SeriesKey> {
    keys.entry(name)
        .or_insert_with_key(|[endpoint, region, component, environment]| {
            Arc::new(SeriesKey {
                endpoint: endpoint.clone(),
                region: region.clone(),
                component: component.clone(),
                environment: environment.clone(),
            })
        })
        .clone()
}

fn commits_statement(since: Nanos) -> String {
    format!("SELECT \"from\", \"to\", \"points\", \"segments\", \"encoding\" FROM \"feed_commit\" WHERE time > {since} GROUP BY \"writer\"")
}

/// The `feed` fields a read of packed writes selects (not `*`: the tags would come back as columns of every
/// row).
const PART_FIELDS: &str = "\"data\", \"points\"";

/// The `feed` fields a read of an older version's writes selects: a row per point.
fn point_fields() -> String {
    crate::lineproto::FEED_FIELDS.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ")
}

/// The condition (with its trailing `AND`) that reads only the segments log times `from..=to` lie in: empty
/// when they span them all.
fn segments_condition(from: Nanos, to: Nanos) -> String {
    use crate::lineproto::{feed_segment, FEED_SEGMENTS, FEED_SEGMENT_NANOS};
    let first = from.div_euclid(FEED_SEGMENT_NANOS);
    let last = to.div_euclid(FEED_SEGMENT_NANOS);
    if to < from || last - first + 1 >= FEED_SEGMENTS {
        return String::new();
    }
    let segments: Vec<String> = (first..=last).map(|s| format!("\"seg\" = '{}'", feed_segment(s * FEED_SEGMENT_NANOS))).collect();
    format!("({}) AND ", segments.join(" OR "))
}

fn parse_commits(r: StatementResult) -> Vec<Commit> {
    let mut out = Vec::new();
    for s in r.series.unwrap_or_default() {
        let writer = s.tag("writer");
        let cols = ["time", "from", "to", "points", "segments", "encoding"].map(|c| s.col(c));
        for row in &s.values {
            let v = |i: usize| cols[i].and_then(|c| row.get(c)).and_then(serde_json::Value::as_i64);
            // Only the segmenting this version reads counts: another count would name other segments.
            let segmented = v(4) == Some(crate::lineproto::FEED_SEGMENTS);
            let encoding = cols[5].and_then(|c| row.get(c)).and_then(serde_json::Value::as_str);
            if let (Some(time), Some(from), Some(to)) = (v(0), v(1), v(2)) {
                let (points, encoding) = (v(3).unwrap_or(to - from + 1), encoding.map(Box::from));
                out.push(Commit { writer: writer.clone(), time, from, to, points, segmented, encoding });
            }
        }
    }
    out
}

/// A cursor at `position` that has followed `commits`.
pub(super) fn cursor_after(position: Nanos, commits: impl IntoIterator<Item = Commit>) -> FeedCursor {
    let mut cursor = FeedCursor { position, ..FeedCursor::default() };
    for c in commits {
        cursor.followed_to(&c);
        cursor.seen.insert((c.writer, c.time));
    }
    cursor
}

impl FeedCursor {
    /// Notes that `c` was followed: its writer's log is read past the newest range followed. Only a writer
    /// that packs its writes: tails read only parts, so an older version's writes are read by range.
    fn followed_to(&mut self, c: &Commit) {
        if !c.packed() {
            return;
        }
        let upto = self.upto.entry(c.writer.clone()).or_insert(c.to);
        *upto = (*upto).max(c.to);
    }

    /// Forgets what the next read cannot return again: commits older than its overlap; a writer with no
    /// commit in it has stopped (a new one is read by range first).
    fn forget_before(&mut self, now: Nanos) {
        self.seen.retain(|(_, t)| *t > now - FEED_OVERLAP);
        let live: HashSet<&str> = self.seen.iter().map(|(w, _)| w.as_str()).collect();
        self.upto.retain(|w, _| live.contains(w.as_str()));
    }
}

impl Commit {
    /// Whether its rows are parts of packed points rather than a point each.
    fn packed(&self) -> bool {
        self.encoding.is_some()
    }

    /// Whether `n` rows are all the write's: its points, or its packed parts.
    fn whole(&self, n: usize) -> bool {
        i64::try_from(n).is_ok_and(|n| n == self.to - self.from + 1)
    }
}

/// The rows of `sorted` (by log time) that `c` wrote.
fn within<'a, T>(sorted: &'a [(Nanos, T)], c: &Commit) -> &'a [(Nanos, T)] {
    let start = sorted.partition_point(|(t, _)| *t < c.from);
    let end = sorted.partition_point(|(t, _)| *t <= c.to);
    &sorted[start..end.max(start)]
}

/// Points in the order every read answers: by time, then region and environment.
fn sort_points(points: &mut [ProbePoint]) {
    points.sort_by(|a, b| (a.ts, &a.series.region, &a.series.environment).cmp(&(b.ts, &b.series.region, &b.series.environment)));
}

/// How long the shared reader keeps what it read for the other cursors of this store: longer than any
/// consumer's poll (0.5-5 s); a cursor not read for longer reads on its own once, then follows again.
const SHARED_KEEP: Nanos = 30 * 1_000_000_000;

/// One reader of the write log for every cursor of one store, and so of one process: the aggregator's
/// minutes and the latest states its publishers read (or, in `watchpost run`, the page's and alerting's too)
/// each took every point from influxd once per cursor, so a process with two cursors read the log twice
/// (`bench/fullstack.py`, issue 19). Now a cursor's poll reads what is new once, for every cursor, keeps it
/// for [`SHARED_KEEP`], and each cursor takes the writes it has not taken yet.
#[derive(Default)]
pub(super) struct SharedFeed {
    /// The place of the shared reads; set when the first cursor follows.
    reader: Option<FeedCursor>,
    /// The number the next batch gets.
    next: u64,
    /// What the reads returned, oldest first.
    batches: std::collections::VecDeque<Batch>,
}

/// The writes one shared read returned.
struct Batch {
    seq: u64,
    /// The reader's clock at the read: a cursor that took this batch has read as far as this.
    read_at: Nanos,
    writes: Vec<(Commit, Arc<[ProbePoint]>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_clock_hands_out_distinct_times_in_order_even_when_the_clock_stands_still() {
        let c = FeedClock::default();
        let a = c.take(3);
        let b = c.take(1);
        assert!(b >= a + 3, "the second write starts after the first's three times: {a} {b}");
        // A clock far ahead (a previous write's times) is continued, not repeated.
        let far = FeedClock(AtomicI64::new(now_nanos() + 1_000_000_000_000));
        let x = far.take(2);
        assert_eq!(far.take(1), x + 2);
    }

    fn probe(endpoint: &str, ts: Nanos) -> ProbePoint {
        ProbePoint {
            series: Arc::new(SeriesKey {
                endpoint: endpoint.into(),
                region: "eu".into(),
                component: "c".into(),
                environment: "prod".into(),
            }),
            ts,
            availability: 100.0,
            ok: true,
            latency_ms: 1.5,
            dns_ms: Some(0.1),
            connect_ms: None,
            tls_ms: Some(0.3),
            ttfb_ms: None,
            status_code: Some(200),
            cert_days_left: Some(-2.0),
            error: Some(ErrorClass::Status),
            confirmed_down: true,
            failed_step: Some("log \"in\"".into()),
        }
    }

    #[test]
    fn packed_writes_read_back_as_written_sharing_series_and_split_into_parts() {
        // Values as varied as real probes' (latencies with many digits, times a few milliseconds apart).
        let mut points: Vec<ProbePoint> = (0..20_000i64)
            .map(|i| ProbePoint { latency_ms: (i * 7919 % 100_003) as f64 / 997.0, ..probe(&format!("api-{}", i % 700), i * 2_500_017) })
            .collect();
        points[1].series = Arc::new(SeriesKey { endpoint: "é, \\ \"€\"".into(), ..(*points[1].series).clone() });
        (points[2].dns_ms, points[2].error, points[2].failed_step) = (None, None, None);
        let parts = feed_parts(&points);
        assert!(parts.len() > 1, "20,000 points do not fit one part: {}", parts.len());
        assert!(parts.iter().all(|(p, _)| p.len() <= PART_CHARS));
        assert_eq!(parts.iter().map(|(_, n)| n).sum::<i64>(), 20_000, "the shares add up to the points");
        let mut keys = SeriesKeys::new();
        let (read, skipped) = unpack(parts.iter().map(|(p, _)| p.as_str()).collect(), &mut keys).unwrap();
        assert_eq!((read.len(), skipped), (20_000, 0));
        assert_eq!(read, points);
        assert_eq!(keys.len(), 701, "one series key per series, shared by its points");
        assert!(Arc::ptr_eq(&read[0].series, &read[700].series));
    }

    #[test]
    fn a_packed_point_without_what_every_point_has_is_skipped_and_damage_is_an_error() {
        let mut bad = vec![probe("a", 1), probe("b", 2), probe("", 3)];
        bad[0].availability = f64::NAN; // not writable in line protocol either
        bad[1].latency_ms = 12.0;
        bad[1].tls_ms = Some(f64::INFINITY);
        let stored: String = feed_parts(&bad).into_iter().map(|(p, _)| p).collect();
        let (read, skipped) = unpack(stored.clone(), &mut SeriesKeys::new()).unwrap();
        assert_eq!(skipped, 2, "no availability, no endpoint");
        assert_eq!((read.len(), read[0].latency_ms, read[0].tls_ms), (1, 12.0, None));
        assert!(unpack(stored[..stored.len() / 2].into(), &mut SeriesKeys::new()).is_err(), "a part missing");
        assert!(unpack("not base64!".into(), &mut SeriesKeys::new()).is_err());
        let not_points = base64::engine::general_purpose::STANDARD.encode(super::super::write::gzip(b"[{\"a\": 1}]"));
        assert!(unpack(not_points, &mut SeriesKeys::new()).unwrap_err().contains("points"));
    }

    #[test]
    fn a_read_names_the_segments_its_log_times_lie_in_and_none_when_they_span_all() {
        let s = crate::lineproto::FEED_SEGMENT_NANOS;
        assert_eq!(segments_condition(59 * s + 3, 60 * s + 1), "(\"seg\" = '59' OR \"seg\" = '0') AND ");
        assert_eq!(segments_condition(5 * s, 5 * s + 10), "(\"seg\" = '5') AND ");
        assert_eq!(
            segments_condition(0, 58 * s),
            "(".to_string() + &(0..59).map(|i| format!("\"seg\" = '{i}'")).collect::<Vec<_>>().join(" OR ") + ") AND "
        );
        assert_eq!(segments_condition(0, 59 * s), "", "sixty segments: all of them");
        assert_eq!(segments_condition(10, 5), "");
    }
}
