//! The page's history: uptime per day and response times, read from the aggregator's rollups (the `all`
//! regions merge) and kept in memory, refreshed incrementally so that a refresh reads only the windows
//! that may have changed since the last one, never the whole 90 days again.
//!
//! Component uptime (DESIGN.md §5.7): in each window, the share of the window a component spent in
//! `major_outage` is the smallest down share among its endpoints (all of them were down at least that
//! long), and in `partial_outage` the rest up to the largest. Exact for a one-endpoint component and for
//! outages that overlap; for a component whose endpoints fail at different times in one window it
//! counts partial time as major at most for the overlap it cannot see — hour windows for closed hours,
//! minute windows for the current hour keep that error small. The day's uptime is
//! `(observed − major − weight × partial) / observed`; maintenance counts as up and is shown apart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use watchpost_core::config::Shard;
use watchpost_core::model::{Resolution, ALL_REGIONS};
use watchpost_core::store::{closed, RollupSums, Select, Store, StoreError};
use watchpost_core::time::{Nanos, TimeRange};

pub const MINUTE: Nanos = 60_000_000_000;
pub const HOUR: Nanos = 60 * MINUTE;
pub const DAY: Nanos = 24 * HOUR;

/// One endpoint's figures in one rollup window (all regions merged).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cell {
    pub up_s: f64,
    pub down_s: f64,
    pub maintenance_s: f64,
    /// Ok attempts, and the sum of their latencies (mean × count), for means over longer buckets.
    pub ok: u64,
    pub latency_sum_ms: f64,
}

type Windows = BTreeMap<Nanos, HashMap<Arc<str>, Cell>>;

/// Rollup windows in memory: hours for the uptime history and the 30-day chart, minutes for the last day.
#[derive(Debug, Default)]
pub struct History {
    pub hours: Windows,
    pub minutes: Windows,
    hours_until: Option<Nanos>,
    minutes_until: Option<Nanos>,
    /// Whether the `*_until` are the aggregator's watermarks (every window before read, and final) rather
    /// than the times of the last reads (re-read back from there).
    by_marks: bool,
    /// When the aggregator last backfilled, as of the last refresh.
    backfilled: Option<Nanos>,
    /// Counts refreshes that changed something, so a page knows when its charts may have changed.
    pub version: u64,
    /// How far back a refresh re-reads minute windows (see [`REREAD`]); `None`: as far as hours.
    pub minute_reread: Option<Nanos>,
    /// How the aggregator is sharded: whose closed minutes to read (`store::closed`).
    pub shard: Option<Shard>,
}

/// The aggregator's watermarks, the lowest over its shards: every window that starts before them is written,
/// and rollups are written once (DESIGN.md §3), so a window read below them is final.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marks {
    pub minute: Nanos,
    pub hour: Nanos,
    /// When a backfill last wrote rollups beneath the watermarks (`store::BACKFILLED`): everything is read
    /// again when it changes.
    pub backfilled: Option<Nanos>,
}

/// Without the aggregator's watermarks, how far back a refresh re-reads what it read before: an hour is
/// written only once it has closed, minutes `aggregator.lateness` after they end, so the page re-reads only
/// that much of them (with 20,000 series, re-reading two hours of minutes every 30 s cost influxd more than
/// every other read together).
const REREAD: Nanos = 2 * HOUR;

/// The all-regions rollups of `resolution` in `range`. Only the all-regions merges (the page shows endpoints,
/// not their regions), only the six fields a cell needs (`rollup_sums`: on influxd a read costs per series
/// and field it opens; `SELECT *` of a minute of 10,000 series cost 0.9 CPU-s against 0.66), and a first
/// read of a day of minutes an hour per request: in one it outlasts the store timeout at 10,000 endpoints on
/// influxd, and a first refresh that always times out never shows anything.
async fn read_rollups(store: &dyn Store, resolution: Resolution, range: TimeRange) -> Result<Vec<RollupSums>, StoreError> {
    let step = if resolution == Resolution::Minute { HOUR } else { 7 * DAY };
    let mut rows = Vec::new();
    let mut a = range.from;
    while a < range.to {
        let b = (a + step).min(range.to);
        rows.extend(store.rollup_sums(resolution, TimeRange::new(a, b), Select::Region(ALL_REGIONS)).await?);
        a = b;
    }
    Ok(rows)
}

impl History {
    /// An empty history whose refreshes re-read minute windows `minute_reread` back, of an aggregator
    /// sharded as `shard` says.
    pub fn new(minute_reread: Nanos, shard: Option<Shard>) -> History {
        History { minute_reread: Some(minute_reread), shard, ..History::default() }
    }

    /// Reads the windows that may have changed since the last refresh and forgets those older than the page
    /// shows. Returns how many rollup rows were read.
    ///
    /// With the aggregator's watermarks (`marks`), each window is read once: those between the last
    /// refresh's watermarks and these. Why: re-reading the last few minute windows and two hours every 30 s
    /// cost influxd about a sixth of what every consumer together added at 20,000 series (1.7 CPU-s per
    /// refresh, `bench/fullstack.py`, issue 19). Without them (no aggregator has run yet) windows are
    /// re-read back from the last refresh, as far as they may still be written.
    pub async fn refresh(&mut self, store: &dyn Store, now: Nanos, history_days: u32, marks: Option<Marks>) -> Result<usize, StoreError> {
        let oldest_hour = now - i64::from(history_days + 1) * DAY;
        let oldest_minute = now - DAY - HOUR;
        let mut read = 0;
        let mut changed = false;
        let minute_reread = self.minute_reread.unwrap_or(REREAD);
        let (by_marks, shard) = (self.by_marks, self.shard);
        if let Some(m) = marks.filter(|m| m.backfilled != self.backfilled) {
            (self.hours_until, self.minutes_until, self.backfilled) = (None, None, m.backfilled);
        }
        for (resolution, windows, until, oldest, reread, mark) in [
            (Resolution::Hour, &mut self.hours, &mut self.hours_until, oldest_hour, REREAD, marks.map(|m| m.hour)),
            (Resolution::Minute, &mut self.minutes, &mut self.minutes_until, oldest_minute, minute_reread, marks.map(|m| m.minute)),
        ] {
            let before = windows.len();
            windows.retain(|ts, _| *ts >= oldest);
            changed |= windows.len() != before;
            let (from, next) = match *until {
                Some(u) if by_marks && mark.is_some() => (u.max(oldest), true),
                Some(u) => ((u - reread).max(oldest), false),
                None => (oldest, false),
            };
            let to = mark.map_or(now + MINUTE, |m| m.min(now + MINUTE));
            if from >= to {
                continue; // nothing written since the last refresh
            }
            // The minutes the aggregator just closed, from the document it saves of them when that covers
            // them (`store::closed`: one series to read, not every endpoint's).
            let saved = match resolution == Resolution::Minute && next {
                true => closed::read(store, shard, TimeRange::new(from, to)).await.unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "cannot read the closed minutes; reading the rollups");
                    None
                }),
                false => None,
            };
            let rows = match saved {
                Some(rows) => rows,
                None => read_rollups(store, resolution, TimeRange::new(from, to)).await?,
            };
            read += rows.len();
            windows.retain(|ts, _| *ts < from);
            changed = true;
            let mut names: HashMap<String, Arc<str>> = HashMap::new();
            for r in rows.iter().filter(|r| r.series.region == ALL_REGIONS) {
                let name = names.entry(r.series.endpoint.clone()).or_insert_with(|| Arc::from(r.series.endpoint.as_str())).clone();
                let ok = r.sums.samples.saturating_sub(r.sums.failures);
                let cell = windows.entry(r.ts).or_default().entry(name).or_default();
                // One endpoint may run in several environments (a check): their windows add up.
                cell.up_s += r.sums.up_s;
                cell.down_s += r.sums.down_s;
                cell.maintenance_s += r.maintenance_s;
                if let Some(mean) = r.latency_mean_ms {
                    cell.ok += ok;
                    cell.latency_sum_ms += mean * ok as f64;
                }
            }
            *until = Some(if mark.is_some() { to } else { now });
        }
        self.by_marks = marks.is_some();
        if changed {
            self.version += 1;
        }
        Ok(read)
    }

    /// The windows that cover `[from, to)` for uptime: closed hours, then the minutes after the last hour.
    fn uptime_windows(&self, from: Nanos, to: Nanos) -> impl Iterator<Item = (Nanos, Nanos, &HashMap<Arc<str>, Cell>)> {
        let last_hour_end = self.hours.range(..to).next_back().map_or(from, |(ts, _)| ts + HOUR);
        let hours = self.hours.range(from..to).map(|(ts, c)| (*ts, HOUR, c));
        let minutes = self.minutes.range(last_hour_end.max(from)..to).map(|(ts, c)| (*ts, MINUTE, c));
        hours.chain(minutes)
    }

    /// Uptime of a component made of `endpoints` per day, for the days starting at `day_starts` (each day
    /// ends where the next begins; the last at `end`).
    pub fn component_days(&self, endpoints: &[String], day_starts: &[Nanos], end: Nanos, weight: f64) -> Vec<DayUptime> {
        let mut out = Vec::with_capacity(day_starts.len());
        for (i, start) in day_starts.iter().enumerate() {
            let stop = day_starts.get(i + 1).copied().unwrap_or(end);
            let mut day = DayUptime::default();
            for (_, len, cells) in self.uptime_windows(*start, stop) {
                let len_s = len as f64 / 1e9;
                let (mut min_down, mut max_down, mut observed, mut maintenance, mut any) = (f64::MAX, 0.0f64, 0.0f64, 0.0f64, false);
                for e in endpoints {
                    let Some(c) = cells.get(e.as_str()) else { continue };
                    let probed = c.up_s + c.down_s;
                    let total = probed + c.maintenance_s;
                    if total <= 0.0 {
                        continue;
                    }
                    if probed > 0.0 {
                        any = true;
                        let share = c.down_s / probed;
                        min_down = min_down.min(share);
                        max_down = max_down.max(share);
                        observed = observed.max(probed / total);
                    }
                    maintenance = maintenance.max(c.maintenance_s / total);
                }
                // Endpoints without data in a window are left out of it (the others decide); a window where
                // none has data is not invented as uptime.
                if !any {
                    day.maintenance_s += maintenance * len_s;
                    continue;
                }
                let obs = observed * len_s;
                day.observed_s += obs;
                day.major_s += min_down * obs;
                day.partial_s += (max_down - min_down) * obs;
                day.maintenance_s += maintenance.min(1.0 - observed).max(0.0) * len_s;
            }
            day.percent = day.uptime(weight);
            out.push(day);
        }
        out
    }

    /// Mean latency of `endpoints` in buckets of `bucket` over `[from, to)`, from hours or minutes.
    pub fn latency(&self, endpoints: &[String], from: Nanos, to: Nanos, bucket: Nanos, minutes: bool) -> Vec<(Nanos, f64)> {
        let windows = if minutes { &self.minutes } else { &self.hours };
        let mut buckets: BTreeMap<Nanos, (f64, u64)> = BTreeMap::new();
        for (ts, cells) in windows.range(from..to) {
            let b = from + (ts - from) / bucket * bucket;
            for e in endpoints {
                if let Some(c) = cells.get(e.as_str()) {
                    let entry = buckets.entry(b).or_default();
                    entry.0 += c.latency_sum_ms;
                    entry.1 += c.ok;
                }
            }
        }
        buckets.into_iter().filter(|(_, (_, n))| *n > 0).map(|(ts, (sum, n))| (ts, sum / n as f64)).collect()
    }
}

/// One day of a component's uptime bar. Seconds are the raw time in each state; `percent` weighs them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayUptime {
    /// Time with probe data (maintenance excluded).
    pub observed_s: f64,
    pub major_s: f64,
    pub partial_s: f64,
    pub maintenance_s: f64,
    pub percent: Option<f64>,
}

impl DayUptime {
    fn uptime(&self, weight: f64) -> Option<f64> {
        (self.observed_s > 0.0)
            .then(|| (100.0 * (self.observed_s - self.major_s - weight * self.partial_s) / self.observed_s).clamp(0.0, 100.0))
    }

    /// Sums days (for uptime over a period) and weighs the total.
    pub fn total(days: &[DayUptime], weight: f64) -> DayUptime {
        let mut t = DayUptime::default();
        for d in days {
            t.observed_s += d.observed_s;
            t.major_s += d.major_s;
            t.partial_s += d.partial_s;
            t.maintenance_s += d.maintenance_s;
        }
        t.percent = t.uptime(weight);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(up: f64, down: f64, maint: f64) -> Cell {
        Cell { up_s: up, down_s: down, maintenance_s: maint, ok: 10, latency_sum_ms: 10.0 * 42.0 }
    }

    fn history(hours: &[(Nanos, &[(&str, Cell)])]) -> History {
        let mut h = History::default();
        for (ts, cells) in hours {
            h.hours.insert(*ts, cells.iter().map(|(e, c)| (Arc::from(*e), *c)).collect());
        }
        h
    }

    const W: f64 = 0.3;

    #[test]
    fn one_endpoint_counts_its_down_time_as_major_outage() {
        let h = history(&[(0, &[("a", cell(3000.0, 600.0, 0.0))]), (HOUR, &[("a", cell(3600.0, 0.0, 0.0))])]);
        let d = h.component_days(&["a".into()], &[0], DAY, W)[0];
        assert_eq!((d.observed_s, d.major_s, d.partial_s), (7200.0, 600.0, 0.0));
        assert!((d.percent.unwrap() - 100.0 * 6600.0 / 7200.0).abs() < 1e-9);
    }

    #[test]
    fn one_of_two_endpoints_down_is_a_weighted_partial_outage() {
        let h = history(&[(0, &[("a", cell(3600.0, 0.0, 0.0)), ("b", cell(1800.0, 1800.0, 0.0))])]);
        let d = h.component_days(&["a".into(), "b".into()], &[0], DAY, W)[0];
        assert_eq!((d.major_s, d.partial_s), (0.0, 1800.0));
        assert!((d.percent.unwrap() - 100.0 * (3600.0 - 0.3 * 1800.0) / 3600.0).abs() < 1e-9);
        let both = history(&[(0, &[("a", cell(2400.0, 1200.0, 0.0)), ("b", cell(1800.0, 1800.0, 0.0))])]);
        let d = both.component_days(&["a".into(), "b".into()], &[0], DAY, W)[0];
        assert_eq!((d.major_s.round(), d.partial_s.round()), (1200.0, 600.0), "both down for at least 20 minutes");
    }

    #[test]
    fn maintenance_counts_as_up_and_no_data_is_not_invented() {
        let h = history(&[(0, &[("a", cell(1800.0, 0.0, 1800.0))]), (2 * HOUR, &[("a", cell(0.0, 0.0, 3600.0))])]);
        let d = h.component_days(&["a".into()], &[0, DAY], 2 * DAY, W);
        assert_eq!((d[0].observed_s, d[0].maintenance_s, d[0].percent), (1800.0, 5400.0, Some(100.0)));
        assert_eq!(d[1], DayUptime::default(), "a day without data has no uptime");
    }

    #[test]
    fn the_current_hour_comes_from_minutes() {
        let mut h = history(&[(0, &[("a", cell(3600.0, 0.0, 0.0))])]);
        h.minutes.insert(HOUR, [(Arc::from("a"), cell(0.0, 60.0, 0.0))].into());
        h.minutes.insert(30 * MINUTE, [(Arc::from("a"), cell(0.0, 60.0, 0.0))].into()); // inside a closed hour: ignored
        let d = h.component_days(&["a".into()], &[0], DAY, W)[0];
        assert_eq!((d.observed_s, d.major_s), (3660.0, 60.0));
    }

    /// An empty SQLite store in `dir`, and a minute ten minutes ago (window starts `base + i` minutes).
    async fn store_and_base(dir: &tempfile::TempDir) -> (watchpost_core::store::sqlite::SqliteStore, Nanos, Nanos) {
        let store = watchpost_core::store::sqlite::SqliteStore::open(&watchpost_core::config::SqliteConfig {
            path: dir.path().join("h.db"),
            retention: std::time::Duration::from_secs(400 * 86_400),
            check_history: std::time::Duration::from_secs(86_400),
        })
        .await
        .unwrap();
        let now = watchpost_core::time::now_nanos();
        (store, now, now - now.rem_euclid(MINUTE) - 10 * MINUTE)
    }

    /// Endpoint `a`'s all-regions rollup of the minute at `ts`, down `down_s` of it.
    fn minute_rollup(ts: Nanos, down_s: f64) -> watchpost_core::model::RollupPoint {
        use watchpost_core::model::SeriesKey;
        let series = SeriesKey { endpoint: "a".into(), region: ALL_REGIONS.into(), component: "c".into(), environment: String::new() };
        let counts = watchpost_core::model::Availability { up_s: 60.0 - down_s, down_s, samples: 12, failures: 0 };
        watchpost_core::model::RollupPoint {
            under_threshold: 12,
            latency_mean_ms: Some(10.0),
            ..watchpost_core::model::RollupPoint::counts(Resolution::Minute, Arc::new(series), ts, counts)
        }
    }

    /// Issue 19: with the aggregator's watermarks a refresh reads each minute window once (a page used to
    /// re-read the last minutes and two hours every 30 s), reads nothing when the watermarks have not moved,
    /// reads everything again after a backfill wrote beneath them, and without watermarks re-reads as before.
    #[tokio::test]
    async fn with_watermarks_each_window_is_read_once_and_a_backfill_reads_again() {
        use watchpost_core::model::Point;
        let dir = tempfile::tempdir().unwrap();
        let (store, now, base) = store_and_base(&dir).await;
        let minute = |i: i64| Point::Rollup(minute_rollup(base + i * MINUTE, i as f64));
        store.write(&(0..6).map(minute).collect::<Vec<_>>()).await.unwrap();
        let hour = base - base.rem_euclid(HOUR) - HOUR;
        let marks = |m: i64, backfilled: Option<Nanos>| Some(Marks { minute: base + m * MINUTE, hour, backfilled });
        let mut h = History::new(3 * MINUTE, None);
        assert_eq!(h.refresh(&store, now, 90, marks(3, None)).await.unwrap(), 3, "the windows before the watermark");
        assert_eq!(h.minutes.len(), 3);
        let version = h.version;
        assert_eq!(h.refresh(&store, now, 90, marks(3, None)).await.unwrap(), 0, "the watermark has not moved: nothing read");
        assert_eq!((h.minutes.len(), h.version), (3, version), "nothing forgotten, nothing to render again");
        assert_eq!(h.refresh(&store, now, 90, marks(6, None)).await.unwrap(), 3, "only the new windows");
        assert_eq!(h.minutes.len(), 6);
        assert_eq!(h.minutes[&(base + 5 * MINUTE)][&Arc::from("a")].down_s, 5.0);
        assert_eq!(h.refresh(&store, now, 90, marks(6, Some(now))).await.unwrap(), 6, "a backfill: everything again");
        assert_eq!(h.refresh(&store, now, 90, marks(6, Some(now))).await.unwrap(), 0);
        assert_eq!(h.minutes.len(), 6, "windows re-read are replaced, not added to");
        assert_eq!(h.minutes[&(base + 5 * MINUTE)][&Arc::from("a")].down_s, 5.0);
        // No watermark (the aggregator's state gone): back to re-reading the last minutes.
        assert_eq!(h.refresh(&store, now, 90, None).await.unwrap(), 3, "windows within the re-read span of the last watermark");
        assert_eq!(h.minutes.len(), 6);
    }

    /// Issue 19: the minutes the aggregator just closed come from its closed-minutes document when that
    /// covers them (its rows here differ from the rollups, to tell which was read); from the rollups when it
    /// does not, or is damaged.
    #[tokio::test]
    async fn new_minutes_come_from_the_closed_minutes_document_when_it_covers_them() {
        use watchpost_core::model::Point;
        let dir = tempfile::tempdir().unwrap();
        let (store, now, base) = store_and_base(&dir).await;
        let minute = |i: i64, down_s: f64| minute_rollup(base + i * MINUTE, down_s);
        store.write(&(0..8).map(|i| Point::Rollup(minute(i, 1.0))).collect::<Vec<_>>()).await.unwrap();
        let hour = base - base.rem_euclid(HOUR) - HOUR;
        let marks = |m: i64| Some(Marks { minute: base + m * MINUTE, hour, backfilled: None });
        let down = |h: &History, i: i64| h.minutes[&(base + i * MINUTE)][&Arc::from("a")].down_s;
        let saved = closed::rows(&[minute(3, 30.0), minute(4, 40.0)]);
        closed::save(&store, None, TimeRange::new(base + 3 * MINUTE, base + 5 * MINUTE), &saved).await.unwrap();

        let mut h = History::new(3 * MINUTE, None);
        h.refresh(&store, now, 90, marks(3)).await.unwrap();
        assert_eq!(down(&h, 2), 1.0, "a first read reads the rollups");
        assert_eq!(h.refresh(&store, now, 90, marks(5)).await.unwrap(), 2);
        assert_eq!((down(&h, 3), down(&h, 4)), (30.0, 40.0), "covered: from the document");
        closed::save(&store, None, TimeRange::new(base + 6 * MINUTE, base + 7 * MINUTE), &[]).await.unwrap();
        h.refresh(&store, now, 90, marks(7)).await.unwrap();
        assert_eq!((down(&h, 5), down(&h, 6)), (1.0, 1.0), "a minute missed by the document: from the rollups");
        store.save_document(closed::DOCUMENT, "{damaged").await.unwrap();
        h.refresh(&store, now, 90, marks(8)).await.unwrap();
        assert_eq!(down(&h, 7), 1.0, "a damaged document: from the rollups");
    }

    #[test]
    fn latency_is_the_mean_of_ok_attempts_per_bucket() {
        let mut h = History::default();
        h.minutes.insert(0, [(Arc::from("a"), Cell { ok: 2, latency_sum_ms: 20.0, ..Default::default() })].into());
        h.minutes.insert(MINUTE, [(Arc::from("a"), Cell { ok: 2, latency_sum_ms: 60.0, ..Default::default() })].into());
        h.minutes.insert(10 * MINUTE, [(Arc::from("b"), Cell { ok: 1, latency_sum_ms: 5.0, ..Default::default() })].into());
        assert_eq!(h.latency(&["a".into()], 0, HOUR, 10 * MINUTE, true), vec![(0, 20.0)]);
    }
}
