//! Each series' availability over the last hour and the last day, kept current by the aggregator as it
//! closes minutes and saved once a minute for `watchpost status` (a named document, `Store::save_document`).
//!
//! Why: summed from the rollups at read time (`recent`), the two periods cost a read of every series for
//! each of their parts (the minutes at the open edges, the hours between, the raw tail). On influxd 1.6 a
//! statement over 10,000 series costs 0.4-2.7 s whatever it returns, so `watchpost status` took 8-10 s
//! (`bench/status.py`). The aggregator has each closed minute in hand as it writes it: keeping the sums costs
//! it an addition per series a minute, and a subtraction of the minute leaving each period. The last hour's
//! minutes it keeps (what leaves the hour); the minutes leaving the day it reads back from the store an hour
//! ahead, one read an hour. `status` then reads one document, a few milliseconds.
//!
//! The periods are `[upto - 1 h, upto)` and `[upto - 24 h, upto)`, `upto` being the aggregator's minute
//! watermark: closed minutes only, to the minute. The sums are rebuilt from the store when the aggregator
//! starts, after a failed read, and after catching up a backlog (while more than [`CURRENT`] behind it keeps
//! none: a catch-up would otherwise read a day-old hour for every hour it closes).

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use watchpost_core::config::Shard;
use watchpost_core::model::{Availability, Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use watchpost_core::store::{RollupSums, Select, Store, StoreError};
use watchpost_core::time::{Nanos, TimeRange};

/// The document's name (one per shard, see `Shard::watermark`).
pub const DOCUMENT: &str = "availability_windows";
/// The two periods, in the order of [`Windows`]' sums.
pub const PERIODS: [Nanos; 2] = [HOUR, DAY];
/// The aggregator keeps windows only when its minutes are closed to within this of the closable minute.
pub const CURRENT: Nanos = 5 * MINUTE;
const MINUTE: Nanos = 60_000_000_000;
const HOUR: Nanos = 60 * MINUTE;
const DAY: Nanos = 24 * HOUR;
/// The saved format; a reader ignores any other.
const VERSION: u32 = 1;

type Minute = (Nanos, Vec<(Arc<SeriesKey>, Availability)>);

/// One minute's availability per series, from the minute rollups closed (the all-regions merges left out:
/// status shows each region's).
pub fn minute_sums(rollups: &[RollupPoint]) -> Vec<(Nanos, Arc<SeriesKey>, Availability)> {
    rollups
        .iter()
        .filter(|r| r.resolution == Resolution::Minute && r.series.region != ALL_REGIONS)
        .map(|r| (r.ts, r.series.clone(), Availability { up_s: r.up_s, down_s: r.down_s, samples: r.samples, failures: r.failures }))
        .collect()
}

#[derive(Default)]
pub struct Windows {
    shard: Option<Shard>,
    /// How many reads a read of the shard's series is cut into (`Store::read_parts`).
    parts: u32,
    /// Where the sums end; `None` until built (or after a failure).
    upto: Option<Nanos>,
    /// Per series, the sums over the hour and over the day before `upto`.
    sums: HashMap<Arc<SeriesKey>, [Availability; 2]>,
    /// The minutes of the last hour, oldest first: each leaves the hour an hour after `upto` passed it.
    hour: VecDeque<Minute>,
    /// Minutes of a day ago, read ahead from the store, oldest first; read up to `day_read_to`.
    day: VecDeque<Minute>,
    day_read_to: Nanos,
    /// Nothing before this has rollups (`ROLLUP_START`): never read.
    start: Nanos,
}

impl Windows {
    pub fn new(store: &dyn Store, shard: Option<Shard>, endpoints: usize) -> Windows {
        Windows { shard, parts: store.read_parts(endpoints), ..Windows::default() }
    }

    pub fn upto(&self) -> Option<Nanos> {
        self.upto
    }

    /// Forgets the sums (the aggregator fell behind); the next [`Windows::advance`] rebuilds them.
    pub fn reset(&mut self) {
        *self = Windows { shard: self.shard, parts: self.parts, ..Windows::default() };
    }

    /// Moves the windows over minutes `[from, to)`, just closed with `closed` (see [`minute_sums`]). When the
    /// windows do not end at `from` (not built yet), they are built from the store, which already holds
    /// those minutes. On error the sums are dropped, to be rebuilt next time.
    pub async fn advance(
        &mut self,
        store: &dyn Store,
        closed: Vec<(Nanos, Arc<SeriesKey>, Availability)>,
        from: Nanos,
        to: Nanos,
    ) -> Result<(), StoreError> {
        let result = match self.upto == Some(from) {
            true => self.add(store, closed, from, to).await,
            false => self.rebuild(store, to).await,
        };
        if result.is_err() {
            self.reset();
        }
        result
    }

    async fn add(
        &mut self,
        store: &dyn Store,
        closed: Vec<(Nanos, Arc<SeriesKey>, Availability)>,
        from: Nanos,
        to: Nanos,
    ) -> Result<(), StoreError> {
        self.read_day_ahead(store, to).await?;
        let mut minutes: Vec<Minute> = (0..(to - from) / MINUTE).map(|i| (from + i * MINUTE, Vec::new())).collect();
        // A shard's rollups are its own; the filter only makes sure.
        for (ts, series, a) in closed.into_iter().filter(|c| self.shard.is_none_or(|s| s.owns(&c.1.endpoint))) {
            if let Some(m) = usize::try_from((ts - from) / MINUTE).ok().and_then(|i| minutes.get_mut(i)) {
                m.1.push((series, a));
            }
        }
        for minute in minutes {
            for (series, a) in &minute.1 {
                let sums = self.sums.entry(series.clone()).or_default();
                sums.iter_mut().for_each(|s| add(s, a, 1.0));
            }
            let upto = minute.0 + MINUTE;
            self.hour.push_back(minute);
            self.upto = Some(upto);
            self.drop_older(upto);
        }
        // A series gone for a day (an endpoint removed) has nothing left in either window.
        self.sums.retain(|_, [_, day]| day.samples > 0 || day.up_s > 0.0 || day.down_s > 0.0);
        Ok(())
    }

    /// Takes the minutes that left each window out of its sums.
    fn drop_older(&mut self, upto: Nanos) {
        for (i, (queue, period)) in [(&mut self.hour, HOUR), (&mut self.day, DAY)].into_iter().enumerate() {
            while queue.front().is_some_and(|m| m.0 < upto - period) {
                let Some((_, rows)) = queue.pop_front() else { break };
                for (series, a) in rows {
                    if let Some(sums) = self.sums.get_mut(&series) {
                        add(&mut sums[i], &a, -1.0);
                    }
                }
            }
        }
    }

    /// Reads the minutes that leave the day before `to`, and the rest of their hour, when not read yet.
    async fn read_day_ahead(&mut self, store: &dyn Store, to: Nanos) -> Result<(), StoreError> {
        if self.day_read_to >= to - DAY {
            return Ok(());
        }
        let ahead = Resolution::Hour.floor(to - DAY) + HOUR;
        let rows = self.read_minutes(store, TimeRange::new(self.day_read_to, ahead)).await?;
        self.day.extend(by_minute(rows, self.day_read_to, ahead));
        self.day_read_to = ahead;
        Ok(())
    }

    /// Sums over both periods ending at `to`, from the rollups in the store.
    async fn rebuild(&mut self, store: &dyn Store, to: Nanos) -> Result<(), StoreError> {
        self.reset();
        self.start = store.watermark(&Shard::watermark(self.shard, crate::ROLLUP_START)).await?.unwrap_or(Nanos::MIN);
        let hour_wm = store.watermark(&Shard::watermark(self.shard, Resolution::Hour.measurement())).await?.unwrap_or(Nanos::MIN);
        // The last hour, minute by minute (kept: each leaves the hour later).
        let hour_from = to - HOUR;
        self.hour = by_minute(self.read_minutes(store, TimeRange::new(hour_from, to)).await?, hour_from, to).into();
        // The day: its first minutes up to the next whole hour (kept: each leaves the day later), whole hours
        // up to the hour watermark, minutes after them.
        let day_from = to - DAY;
        let ahead = Resolution::Hour.floor(day_from) + HOUR;
        self.day = by_minute(self.read_minutes(store, TimeRange::new(day_from, ahead)).await?, day_from, ahead).into();
        self.day_read_to = ahead;
        let hours_to = Resolution::Hour.floor(to).min(hour_wm).max(ahead);
        let mut sums: HashMap<Arc<SeriesKey>, [Availability; 2]> = HashMap::new();
        let mut put = |series: &Arc<SeriesKey>, a: &Availability, periods: &[usize]| {
            let s = sums.entry(series.clone()).or_default();
            periods.iter().for_each(|i| add(&mut s[*i], a, 1.0));
        };
        for (_, rows) in self.day.iter().filter(|m| m.0 >= day_from) {
            rows.iter().for_each(|(s, a)| put(s, a, &[1]));
        }
        for (resolution, range) in
            [(Resolution::Hour, TimeRange::new(ahead, hours_to)), (Resolution::Minute, TimeRange::new(hours_to, hour_from))]
        {
            if range.from < range.to {
                for (key, a) in store.rollup_availability(resolution, range).await? {
                    if key.region != ALL_REGIONS && self.shard.is_none_or(|s| s.owns(&key.endpoint)) {
                        put(&Arc::new(key), &a, &[1]);
                    }
                }
            }
        }
        for (_, rows) in &self.hour {
            rows.iter().for_each(|(s, a)| put(s, a, &[0, 1]));
        }
        // The hour's minutes before the minutes after the whole hours were counted twice above when the hour
        // watermark is within the last hour: take those out again.
        for (_, rows) in self.hour.iter().filter(|m| m.0 < hours_to) {
            rows.iter().for_each(|(s, a)| {
                if let Some(x) = sums.get_mut(s) {
                    add(&mut x[1], a, -1.0);
                }
            });
        }
        self.sums = sums;
        self.upto = Some(to);
        Ok(())
    }

    /// Minute sums of the shard's series in `range`, read in the store's parts; nothing before `start`.
    async fn read_minutes(&self, store: &dyn Store, range: TimeRange) -> Result<Vec<RollupSums>, StoreError> {
        let range = TimeRange::new(range.from.max(self.start), range.to);
        let mut out = Vec::new();
        if range.from >= range.to {
            return Ok(out);
        }
        for part in Shard::split(self.shard, self.parts) {
            let select = if self.parts == 1 { Select::shard(self.shard) } else { Select::Shard(part) };
            let mut rows = store.rollup_sums(Resolution::Minute, range, select).await?;
            rows.retain(|r| r.series.region != ALL_REGIONS && (select == Select::All || part.owns(&r.series.endpoint)));
            out.extend(rows);
        }
        Ok(out)
    }

    /// Saves the windows for `watchpost status`.
    pub async fn save(&self, store: &dyn Store) -> Result<(), StoreError> {
        let Some(upto) = self.upto else { return Ok(()) };
        let series = self
            .sums
            .iter()
            .map(|(k, [h, d])| {
                (k.endpoint.clone(), k.region.clone(), k.component.clone(), k.environment.clone(), Counts::from(h), Counts::from(d))
            })
            .collect();
        let body = serde_json::to_string(&Saved { version: VERSION, upto, series }).map_err(|e| StoreError::Io {
            op: "save availability windows",
            reason: e.to_string(),
            retryable: false,
        })?;
        store.save_document(&Shard::watermark(self.shard, DOCUMENT), &body).await
    }
}

/// `rows` as one entry per minute of `[from, to)`, oldest first (minutes without rows too).
fn by_minute(rows: Vec<RollupSums>, from: Nanos, to: Nanos) -> Vec<Minute> {
    let from = Resolution::Minute.floor(from);
    let mut minutes: Vec<Minute> = (0..((to - from).max(0) + MINUTE - 1) / MINUTE).map(|i| (from + i * MINUTE, Vec::new())).collect();
    for r in rows {
        if let Some(m) = usize::try_from((r.ts - from) / MINUTE).ok().and_then(|i| minutes.get_mut(i)) {
            m.1.push((r.series, r.sums));
        }
    }
    minutes
}

/// `a` added to `s` (`sign` 1) or taken from it (-1). Counts never go below zero; seconds are clamped at
/// zero, so rounding in a long run of additions and subtractions never shows as a negative time.
fn add(s: &mut Availability, a: &Availability, sign: f64) {
    s.up_s = (s.up_s + sign * a.up_s).max(0.0);
    s.down_s = (s.down_s + sign * a.down_s).max(0.0);
    if sign > 0.0 {
        s.samples += a.samples;
        s.failures += a.failures;
    } else {
        s.samples = s.samples.saturating_sub(a.samples);
        s.failures = s.failures.saturating_sub(a.failures);
    }
}

/// Up seconds, down seconds, samples, failures.
#[derive(Serialize, Deserialize)]
struct Counts(f64, f64, u64, u64);

impl From<&Availability> for Counts {
    fn from(a: &Availability) -> Counts {
        Counts(a.up_s, a.down_s, a.samples, a.failures)
    }
}

impl From<Counts> for Availability {
    fn from(c: Counts) -> Availability {
        Availability { up_s: c.0, down_s: c.1, samples: c.2, failures: c.3 }
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    upto: Nanos,
    /// Endpoint, region, component, environment, the hour's sums, the day's.
    series: Vec<(String, String, String, String, Counts, Counts)>,
}

/// What the aggregator's shards saved: the periods' end (the lowest over the shards) and per series (endpoint,
/// region, environment) its sums over the hour and the day.
pub struct SavedWindows {
    pub upto: Nanos,
    pub periods: [HashMap<crate::recent::SeriesId, Availability>; 2],
}

/// The windows saved by every shard (the configured shard count, or one), each saved after `saved_after` and
/// ending after `upto_after`; `None` when any is missing, stale, or unreadable (the caller then sums the
/// rollups itself).
pub async fn saved(
    store: &dyn Store,
    shard: Option<Shard>,
    saved_after: Nanos,
    upto_after: Nanos,
) -> Result<Option<SavedWindows>, StoreError> {
    let mut out = SavedWindows { upto: Nanos::MAX, periods: Default::default() };
    for s in Shard::every(shard) {
        let Some((saved_at, body)) = store.document(&Shard::watermark(s, DOCUMENT)).await? else { return Ok(None) };
        let Ok(saved) = serde_json::from_str::<Saved>(&body) else {
            tracing::warn!(shard = ?s, "the saved availability windows are unreadable; summing the rollups instead");
            return Ok(None);
        };
        if saved.version != VERSION || saved_at < saved_after || saved.upto < upto_after {
            return Ok(None);
        }
        out.upto = out.upto.min(saved.upto);
        for (endpoint, region, _component, environment, hour, day) in saved.series {
            let id = (endpoint, region, environment);
            // An endpoint whose component changed has two series: their sums add up.
            for (period, counts) in out.periods.iter_mut().zip([hour, day]) {
                add(period.entry(id.clone()).or_default(), &counts.into(), 1.0);
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchpost_core::config::SqliteConfig;
    use watchpost_core::model::Point;
    use watchpost_core::store::sqlite::SqliteStore;

    const T0: Nanos = 1_800_000_000 * 1_000_000_000 - 1_800_000_000 * 1_000_000_000 % HOUR + 7 * MINUTE;

    fn rollup(resolution: Resolution, series: &Arc<SeriesKey>, ts: Nanos, a: &Availability) -> RollupPoint {
        RollupPoint::counts(resolution, series.clone(), ts, *a)
    }

    fn key(endpoint: &str, region: &str) -> Arc<SeriesKey> {
        Arc::new(SeriesKey { endpoint: endpoint.into(), region: region.into(), component: String::new(), environment: "production".into() })
    }

    /// Whole numbers of seconds, so sums compare exactly; `b` stops a day before the end, `c` starts
    /// late, `all` is the all-regions merge (never counted).
    fn minute(e: usize, ts: Nanos) -> Option<Availability> {
        let m = (ts - T0) / MINUTE;
        let (up, samples) = ((e as i64 * 7 + m).rem_euclid(61) as f64, 12);
        match e {
            1 if ts >= T0 + 2 * HOUR => None,
            2 if ts < T0 - 3 * HOUR => None,
            _ => Some(Availability { up_s: up, down_s: 60.0 - up, samples, failures: u64::from(up < 30.0) * 3 }),
        }
    }

    fn brute(
        all: &[(Arc<SeriesKey>, Nanos, Availability)],
        shard: Option<Shard>,
        from: Nanos,
        to: Nanos,
    ) -> HashMap<Arc<SeriesKey>, Availability> {
        let mut out: HashMap<Arc<SeriesKey>, Availability> = HashMap::new();
        for (k, _, a) in all.iter().filter(|(k, ts, _)| (from..to).contains(ts) && k.region != ALL_REGIONS) {
            if shard.is_none_or(|s| s.owns(&k.endpoint)) {
                add(out.entry(k.clone()).or_default(), a, 1.0);
            }
        }
        out
    }

    /// Built from the store and moved minute by minute across hours (with the hour rollups lagging as the
    /// merge does), the sums equal the minute rollups summed over each period, for every shard; a rebuild at
    /// any minute equals the moved sums; what `saved` reads back is what was saved.
    #[tokio::test]
    async fn windows_moved_minute_by_minute_equal_the_rollups_summed() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SqliteConfig {
            path: dir.path().join("w.db"),
            retention: std::time::Duration::from_secs(86_400 * 30),
            check_history: std::time::Duration::from_secs(3600),
        };
        let store = SqliteStore::open(&cfg).await.unwrap();
        let series = [key("a", "eu"), key("b", "eu"), key("c", "us"), key("a", ALL_REGIONS), key("d", "us")];
        let (start, end) = (T0 - 26 * HOUR, T0 + 3 * HOUR);
        let mut all = Vec::new();
        let mut points = Vec::new();
        let mut ts = start;
        while ts < end {
            for (e, k) in series.iter().enumerate() {
                if let Some(a) = minute(e, ts) {
                    points.push(Point::Rollup(rollup(Resolution::Minute, k, ts, &a)));
                    all.push((k.clone(), ts, a));
                }
            }
            ts += MINUTE;
        }
        let mut h = Resolution::Hour.floor(start);
        while h < end {
            for (k, a) in brute(&all, None, h, h + HOUR) {
                points.push(Point::Rollup(rollup(Resolution::Hour, &k, h, &a)));
            }
            h += HOUR;
        }
        store.write(&points).await.unwrap();
        for shard in [None, Shard::parse("1/2"), Shard::parse("2/2")] {
            store.set_watermark(&Shard::watermark(shard, crate::ROLLUP_START), start).await.unwrap();
            let set_hour_wm = |upto: Nanos| {
                // The merge lags: an hour is merged ten minutes after it ends.
                let wm = Resolution::Hour.floor(upto - 10 * MINUTE);
                let store = &store;
                async move { store.set_watermark(&Shard::watermark(shard, Resolution::Hour.measurement()), wm).await.unwrap() }
            };
            let mut w = Windows::new(&store, shard, 4);
            set_hour_wm(T0).await;
            w.advance(&store, Vec::new(), T0 - MINUTE, T0).await.unwrap();
            let mut upto = T0;
            for (i, period) in PERIODS.iter().enumerate() {
                let want = brute(&all, shard, upto - period, upto);
                let got: HashMap<_, _> = w.sums.iter().map(|(k, s)| (k.clone(), s[i])).filter(|(_, a)| a.samples > 0).collect();
                assert_eq!(got, want, "built: period {i} to {upto} (shard {shard:?})");
            }
            while upto < end {
                // One to three minutes a cycle, as the aggregator closes them.
                let to = (upto + (1 + (upto / MINUTE) % 3) * MINUTE).min(end);
                let rollups: Vec<_> = all
                    .iter()
                    .filter(|(_, ts, _)| (upto..to).contains(ts))
                    .map(|(k, ts, a)| rollup(Resolution::Minute, k, *ts, a))
                    .collect();
                let closed = minute_sums(&rollups);
                set_hour_wm(to).await;
                w.advance(&store, closed, upto, to).await.unwrap();
                upto = to;
                assert_eq!(w.upto(), Some(upto));
                for (i, period) in PERIODS.iter().enumerate() {
                    let want = brute(&all, shard, upto - period, upto);
                    let got: HashMap<_, _> = w.sums.iter().map(|(k, s)| (k.clone(), s[i])).filter(|(_, a)| a.samples > 0).collect();
                    assert_eq!(got, want, "period {i} to {upto} (shard {shard:?})");
                }
                let mut rebuilt = Windows::new(&store, shard, 4);
                rebuilt.advance(&store, Vec::new(), 0, upto).await.unwrap();
                let strip = |m: &HashMap<Arc<SeriesKey>, [Availability; 2]>| -> HashMap<Arc<SeriesKey>, [Availability; 2]> {
                    m.iter().filter(|(_, s)| s[1].samples > 0).map(|(k, s)| (k.clone(), *s)).collect()
                };
                assert_eq!(strip(&rebuilt.sums), strip(&w.sums), "rebuilt at {upto} (shard {shard:?})");
            }
            w.save(&store).await.unwrap();
        }
        // Unsharded, and both shards of two (each saved its own series): the same sums, read back.
        let want = brute(&all, None, end - DAY, end);
        for shard in [None, Shard::parse("1/2")] {
            let saved = saved(&store, shard, 0, end - MINUTE).await.unwrap().expect("saved windows");
            assert_eq!(saved.upto, end);
            for k in series.iter().filter(|k| k.region != ALL_REGIONS) {
                let id = (k.endpoint.clone(), k.region.clone(), k.environment.clone());
                assert_eq!(saved.periods[1].get(&id), want.get(k), "{id:?} (shard {shard:?})");
            }
            // Stale by either clock: not used.
            assert!(saved_none(&store, shard, Nanos::MAX, 0).await);
            assert!(saved_none(&store, shard, 0, end + MINUTE).await);
        }
        // Three shards: none of theirs saved.
        assert!(saved_none(&store, Shard::parse("1/3"), 0, 0).await);
        // A damaged document is read as none, never as sums.
        store.save_document(DOCUMENT, "{\"version\": 1, \"upto\": ").await.unwrap();
        assert!(saved_none(&store, None, 0, 0).await);
    }

    async fn saved_none(store: &dyn Store, shard: Option<Shard>, saved_after: Nanos, upto_after: Nanos) -> bool {
        saved(store, shard, saved_after, upto_after).await.unwrap().is_none()
    }
}
