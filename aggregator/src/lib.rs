//! The aggregator (DESIGN.md §5.5): rolls raw points up into minute, hour and day rollups.
//!
//! Every minute a cycle closes each minute window older than `lateness`, builds its rollups from the raw
//! points of that window (and the slot's worth around it, see [`rollup::minutes`]), and writes `rollup_1m`
//! per series and for the `all`-regions merge; then every hour (UTC day) whose minutes (hours) are all closed
//! is merged into `rollup_1h` (`rollup_1d`). A watermark per resolution in the store says how far each has
//! got, so a cycle's work follows the new points, never the retained history, and a restart resumes where the
//! last cycle stopped. Minutes in which a configured series has no point at all are gaps: logged and counted,
//! never filled in.

pub mod config;
mod live;
pub mod metrics;
pub mod publish;
pub mod recent;
pub mod report;
pub mod rollup;
pub mod windows;

use metrics::AggregatorMetrics;
use rollup::Params;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchpost_core::config::{Config, Shard};
use watchpost_core::model::{Availability, Point, ProbePoint, Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use watchpost_core::store::{closed, Select, Store, StoreError};
use watchpost_core::time::{duration_nanos, format_rfc3339, now_nanos, Nanos, TimeRange};

/// Minutes read from the store at once while catching up: at most an hour, and about [`CHUNK_POINTS`].
const CHUNK_MINUTES: i64 = 60;
/// Raw points a catching-up read aims at (some 100 MB in memory).
const CHUNK_POINTS: i64 = 500_000;
/// Between cycles, the write log is read this often (see [`live`]).
const FOLLOW_EVERY: Duration = Duration::from_secs(5);
/// How often the latest states are saved (see [`run`]).
const SAVE_STATES_EVERY: Duration = Duration::from_secs(20);
/// While catching up, progress is logged this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// The watermark that says from when on rollups exist: where the first cycle started, moved back by a
/// backfill. A report of a period that begins before it is not complete.
pub const ROLLUP_START: &str = "rollup_start";

#[derive(Debug, thiserror::Error)]
pub enum AggregatorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the aggregator has not run on this store yet: start it first (its first cycle rolls up `aggregator.backfill` of history by itself); a backfill fills in history before its watermarks")]
    NotStarted,
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleStats {
    pub minutes: u64,
    pub hours: u64,
    pub days: u64,
    pub points_read: u64,
    /// Of `points_read`, the probe points taken from the write log rather than read by time (see [`live`]).
    pub points_followed: u64,
    pub rollups_written: u64,
    /// Series-minutes of configured series with no point at all.
    pub gap_minutes: u64,
}

pub struct Aggregator {
    store: Arc<dyn Store>,
    params: Params,
    lateness: Nanos,
    backfill: Nanos,
    /// Configured endpoints: only their missing minutes are gaps (a removed endpoint is not an outage).
    configured: Vec<String>,
    /// The series seen for each endpoint and region, so maintenance-only minutes have their series.
    known: HashMap<(String, String), Vec<Arc<SeriesKey>>>,
    /// Series whose points this aggregator has seen: a minute without points is a gap only after the first.
    seen: std::collections::HashSet<Arc<SeriesKey>>,
    metrics: Arc<AggregatorMetrics>,
    /// `aggregator.shard`: only these endpoints' rollups, under watermarks of their own.
    shard: Option<Shard>,
    /// Minutes the next read of a backlog covers (see `CHUNK_POINTS`).
    chunk_minutes: i64,
    /// The write log as followed so far, for the minutes it covers (unsharded only, see [`live`]).
    live: Option<live::Live>,
    /// Points taken from `live` since the last cycle's stats.
    followed: u64,
    /// Each series' availability over the last hour and day, saved for `watchpost status`.
    windows: windows::Windows,
}

impl Aggregator {
    pub fn new(config: &Config, store: Arc<dyn Store>, metrics: Arc<AggregatorMetrics>) -> Aggregator {
        let a = &config.aggregator;
        let configured: Vec<String> =
            config.endpoints.iter().filter(|e| a.shard.is_none_or(|s| s.owns(&e.id))).map(|e| e.id.clone()).collect();
        let windows = windows::Windows::new(&*store, a.shard, configured.len());
        Aggregator {
            store,
            params: Params {
                slots: config.endpoints.iter().map(|e| (e.id.clone(), e.interval)).collect(),
                default_slot: watchpost_core::config::defaults::INTERVAL,
                objective_ms: a.latency_objective.as_secs_f64() * 1e3,
            },
            lateness: duration_nanos(a.lateness),
            backfill: duration_nanos(a.backfill),
            configured,
            known: HashMap::new(),
            seen: Default::default(),
            metrics,
            shard: a.shard,
            chunk_minutes: 1,
            live: None,
            followed: 0,
            windows,
        }
    }

    /// Learns the series the store already has (for maintenance-only minutes after a restart).
    async fn learn_series(&mut self) -> Result<(), StoreError> {
        if self.known.is_empty() {
            let shard = self.shard;
            for s in self.store.latest_states().await?.into_iter().filter(|s| shard.is_none_or(|k| k.owns(&s.endpoint))) {
                let key =
                    Arc::new(SeriesKey { endpoint: s.endpoint, region: s.region, component: s.component, environment: s.environment });
                self.remember(&key);
            }
        }
        Ok(())
    }

    fn owns(&self, endpoint: &str) -> bool {
        self.shard.is_none_or(|s| s.owns(endpoint))
    }

    fn watermark(&self, r: Resolution) -> String {
        Shard::watermark(self.shard, r.measurement())
    }

    fn remember(&mut self, s: &Arc<SeriesKey>) {
        let list = self.known.entry((s.endpoint.clone(), s.region.clone())).or_default();
        if !list.iter().any(|k| k == s) {
            list.push(s.clone());
        }
    }

    /// Where a resolution starts when the store has no watermark yet: `backfill` before the first closable
    /// minute, on a UTC day boundary, so the first hours and days are whole.
    fn initial(&self, now: Nanos) -> Nanos {
        Resolution::Day.floor(now - self.lateness - self.backfill)
    }

    /// One cycle at wall-clock time `now`: closes the minutes that can be closed, then merges the hours and
    /// days that are complete. [`run`] does the two apart, so a long merge never delays a minute.
    pub async fn cycle(&mut self, now: Nanos) -> Result<CycleStats, AggregatorError> {
        let mut stats = self.close_minutes(now).await?;
        let coarse = merge_closed(&*self.store, self.shard, self.configured.len()).await?;
        stats.hours = coarse.hours;
        stats.days = coarse.days;
        stats.rollups_written += coarse.rollups_written;
        Ok(stats)
    }

    /// Closes every minute older than `lateness` from the minute watermark on, writes its rollups and moves
    /// the watermark. On the very first cycle all three watermarks are set to the same start.
    pub async fn close_minutes(&mut self, now: Nanos) -> Result<CycleStats, AggregatorError> {
        let started = Instant::now();
        self.learn_series().await?;
        if self.live.is_none() && self.shard.is_none() {
            self.live = live::Live::start(&*self.store).await?;
        }
        let mut stats = CycleStats::default();
        let closable = Resolution::Minute.floor(now - self.lateness);
        let mut wm = match self.store.watermark(&self.watermark(Resolution::Minute)).await? {
            Some(wm) => wm,
            None => {
                // Hours and days start where minutes start: a later cycle must not pick a different day. Where
                // the history is younger than the backfill, from the day of its first point: every empty hour
                // would otherwise cost a read of every series (minutes each at 20,000 series on influxd).
                let start = self.initial(now);
                let first = self.store.first_probe_time(start).await?.unwrap_or(now);
                let start = start.max(Resolution::Day.floor(first).min(Resolution::Minute.floor(now - self.lateness)));
                self.store.set_watermark(&Shard::watermark(self.shard, ROLLUP_START), start).await?;
                for r in [Resolution::Day, Resolution::Hour, Resolution::Minute] {
                    self.store.set_watermark(&self.watermark(r), start).await?;
                }
                start
            }
        };
        let max_slot = self.params.max_slot();
        let moved_windows_from = self.windows.upto();
        // The all-regions minutes this cycle closes, for the status page (`store::closed`); none in a catch-up.
        let (cycle_from, mut closed_all) = (wm, Vec::new());
        let keep_closed = closable - cycle_from <= closed::MAX_MINUTES * Resolution::Minute.nanos();
        let (behind, mut said) = (closable - wm, Instant::now());
        while wm < closable {
            // A first start (or one after a long stop) may have hours to catch up: say how far it is.
            if said.elapsed() >= PROGRESS_EVERY {
                let done = (wm - (closable - behind)) as f64 / behind.max(1) as f64;
                tracing::info!(
                    percent = (done * 100.0).round(),
                    minutes_left = (closable - wm) / Resolution::Minute.nanos(),
                    "aggregator catching up"
                );
                said = Instant::now();
            }
            let to = closable.min(wm + self.chunk_minutes * Resolution::Minute.nanos());
            let (probes, maintenance) = self.read_raw(TimeRange::new(wm - max_slot, to + max_slot)).await?;
            // The next read covers about CHUNK_POINTS points: a backlog of an hour of 20,000 series read at
            // once would be 14 M points (gigabytes, and a read no store timeout allows).
            let minutes = (to - wm) / Resolution::Minute.nanos();
            self.chunk_minutes = match i64::try_from(probes.len()).unwrap_or(i64::MAX) {
                0 => (self.chunk_minutes * 4).min(CHUNK_MINUTES),
                n => (minutes.saturating_mul(CHUNK_POINTS) / n).clamp(1, CHUNK_MINUTES),
            };
            let rollups = rollup::minutes(&probes, &maintenance, wm, to, &self.params, &self.known);
            stats.gap_minutes += self.gaps(&rollups, &probes, wm, to);
            stats.points_read += (probes.len() + maintenance.len()) as u64;
            stats.minutes += ((to - wm) / Resolution::Minute.nanos()) as u64;
            stats.rollups_written += rollups.len() as u64;
            let closed = windows::minute_sums(&rollups);
            if keep_closed {
                closed_all.extend(closed::rows(&rollups));
            }
            self.store.write(&rollups.into_iter().map(Point::Rollup).collect::<Vec<_>>()).await?;
            // Before this aggregator's first point, empty history is skipped to the next point at once (there
            // is no series yet whose missing minutes would be gaps).
            let next = match probes.is_empty() && maintenance.is_empty() && self.seen.is_empty() {
                true => self.store.first_probe_time(to).await?.map_or(closable, |t| Resolution::Minute.floor(t).clamp(to, closable)),
                false => to,
            };
            stats.minutes += ((next - to) / Resolution::Minute.nanos()) as u64; // closed, empty
                                                                                // Saved before the watermark moves, so a page that sees it moved finds them; a page without them
                                                                                // reads the rollups.
            if keep_closed {
                if let Err(e) = closed::save(&*self.store, self.shard, TimeRange::new(cycle_from, next), &closed_all).await {
                    tracing::debug!(error = %e, "cannot save the closed minutes; the status page reads the rollups");
                }
            }
            self.store.set_watermark(&self.watermark(Resolution::Minute), next).await?;
            self.move_windows(closed, wm, next, closable).await;
            wm = next;
        }
        if moved_windows_from != self.windows.upto() {
            if let Err(e) = self.windows.save(&*self.store).await {
                tracing::warn!(error = %e, "cannot save the availability windows; `watchpost status` sums the rollups meanwhile");
            }
        }
        stats.points_followed = std::mem::take(&mut self.followed);
        self.metrics.record(&stats, started.elapsed(), now - wm);
        Ok(stats)
    }

    /// Moves the availability windows over minutes `[from, to)`, just closed; while far behind `closable`,
    /// drops them instead (see [`windows`]). A failure is logged: the windows are rebuilt next time.
    async fn move_windows(&mut self, closed: Vec<(Nanos, Arc<SeriesKey>, Availability)>, from: Nanos, to: Nanos, closable: Nanos) {
        if closable - to > windows::CURRENT {
            self.windows.reset();
        } else if let Err(e) = self.windows.advance(&*self.store, closed, from, to).await {
            tracing::warn!(error = %e, "cannot update the availability windows; rebuilt at the next minute");
        }
    }

    /// Rolls up history that sits in the store before the aggregator's watermarks, or that its cycles missed:
    /// `[from, to)` from the start of `from`'s UTC day, each resolution only up to its own watermark (past it,
    /// the normal cycle writes it). Only rollups that do not exist yet are written, per series and window, so
    /// a backfill can be run again, and it never rewrites a point (InfluxDB 3 does not reliably overwrite). An
    /// hour or day rollup that exists already is kept as it is, even if minutes were filled in beneath it.
    /// `progress(day, done, days, stats)` is called after each day. Refused before the aggregator has run
    /// (its first cycle rolls up `aggregator.backfill` of history itself, and the two would overlap).
    pub async fn backfill(
        &mut self,
        from: Nanos,
        to: Nanos,
        progress: &mut dyn FnMut(Nanos, usize, usize, &CycleStats),
    ) -> Result<CycleStats, AggregatorError> {
        self.learn_series().await?;
        let mut limits = HashMap::new();
        for r in Resolution::ALL {
            let Some(wm) = self.store.watermark(&self.watermark(r)).await? else { return Err(AggregatorError::NotStarted) };
            limits.insert(r, wm);
        }
        let (from, to) = (Resolution::Day.floor(from), to.min(limits[&Resolution::Minute]));
        let mut total = CycleStats::default();
        let days = usize::try_from((to - from + Resolution::Day.nanos() - 1).max(0) / Resolution::Day.nanos()).unwrap_or(0);
        let max_slot = self.params.max_slot();
        for (i, day) in (0..days).map(|d| from + d as i64 * Resolution::Day.nanos()).enumerate() {
            let day_end = (day + Resolution::Day.nanos()).min(to);
            let mut stats = CycleStats::default();
            let mut hour = day;
            while hour < day_end {
                let hour_end = (hour + Resolution::Hour.nanos()).min(day_end);
                let (probes, maintenance) = self.read_raw(TimeRange::new(hour - max_slot, hour_end + max_slot)).await?;
                stats.points_read += (probes.len() + maintenance.len()) as u64;
                let mut built = rollup::minutes(&probes, &maintenance, hour, hour_end, &self.params, &self.known);
                built.retain(|r| r.ts < to);
                stats.minutes += self.write_missing(Resolution::Minute, TimeRange::new(hour, hour_end), built).await?;
                if hour_end - hour == Resolution::Hour.nanos() && hour_end <= limits[&Resolution::Hour] {
                    stats.hours += self.merge_missing(Resolution::Hour, TimeRange::new(hour, hour_end)).await?;
                }
                hour = hour_end;
            }
            if day_end - day == Resolution::Day.nanos() && day_end <= limits[&Resolution::Day] {
                stats.days += self.merge_missing(Resolution::Day, TimeRange::new(day, day_end)).await?;
            }
            stats.rollups_written = stats.minutes + stats.hours + stats.days;
            total.points_read += stats.points_read;
            total.minutes += stats.minutes;
            total.hours += stats.hours;
            total.days += stats.days;
            total.rollups_written += stats.rollups_written;
            progress(day, i + 1, days, &stats);
        }
        // History from `from` on is rolled up now: reports of periods starting there are complete.
        let start_name = Shard::watermark(self.shard, ROLLUP_START);
        if self.store.watermark(&start_name).await?.is_none_or(|s| from < s) {
            self.store.set_watermark(&start_name, from).await?;
        }
        // Rollups written beneath the watermarks: readers that read each window once (the status page) read
        // again.
        if total.rollups_written > 0 {
            self.store.set_watermark(watchpost_core::store::BACKFILLED, watchpost_core::time::now_nanos()).await?;
        }
        Ok(total)
    }

    /// The raw probe and maintenance points of `range` that this aggregator's shard owns; remembers their series.
    async fn read_raw(
        &mut self,
        range: TimeRange,
    ) -> Result<(Vec<ProbePoint>, Vec<watchpost_core::model::MaintenancePoint>), AggregatorError> {
        let select = Select::shard(self.shard);
        let mut followed = None;
        if self.live.as_ref().is_some_and(|live| live.covers(range)) {
            self.follow().await?;
            followed = self.live.as_mut().map(|live| live.take(range));
        }
        let mut probes = match followed {
            Some(probes) => {
                self.followed += probes.len() as u64;
                probes
            }
            None => self.read_by_time(range).await?,
        };
        let mut maintenance = self.store.maintenance_points_all(range, select).await?;
        if self.shard.is_some() {
            probes.retain(|p| self.owns(&p.series.endpoint));
            maintenance.retain(|m| self.owns(&m.endpoint));
        }
        // Stores share one `Arc` per series in an answer: look at each series once, not at every point.
        let mut distinct: HashSet<usize> = HashSet::new();
        for p in &probes {
            if distinct.insert(Arc::as_ptr(&p.series) as usize) {
                self.remember(&p.series);
            }
        }
        Ok((probes, maintenance))
    }

    /// The raw points of `range` read back by time, in the parts the store asks for
    /// ([`watchpost_core::store::probe_points_in_parts`]).
    async fn read_by_time(&self, range: TimeRange) -> Result<Vec<ProbePoint>, StoreError> {
        watchpost_core::store::probe_points_in_parts(&*self.store, range, self.shard, self.configured.len(), true).await
    }

    /// Reads what the write log has gained, when this aggregator follows it ([`run`] does between cycles, so
    /// each read is a few seconds of writes rather than a minute's).
    pub async fn follow(&mut self) -> Result<(), StoreError> {
        if let Some(live) = &mut self.live {
            if !live.follow(&*self.store).await? {
                tracing::info!("the aggregator is too far behind to hold the write log; it reads by time until it catches up");
                self.live = None;
            }
        }
        Ok(())
    }

    /// Merges the finer rollups of `range` into `coarse` ones and writes those not in the store yet.
    async fn merge_missing(&self, coarse: Resolution, range: TimeRange) -> Result<u64, AggregatorError> {
        let fine = if coarse == Resolution::Day { Resolution::Hour } else { Resolution::Minute };
        let mut children = self.store.rollups(fine, range, Select::shard(self.shard)).await?;
        if let Some(s) = self.shard {
            children.retain(|r| s.owns(&r.series.endpoint));
        }
        self.write_missing(coarse, range, rollup::merge(&children, coarse)).await
    }

    /// Writes those of `built` whose series has no rollup of `resolution` at their time in the store yet
    /// (rollups are never rewritten); returns how many.
    async fn write_missing(&self, resolution: Resolution, range: TimeRange, built: Vec<RollupPoint>) -> Result<u64, AggregatorError> {
        if built.is_empty() {
            return Ok(0);
        }
        let existing = self.store.rollups(resolution, range, Select::shard(self.shard)).await?;
        let have: HashSet<(Nanos, &SeriesKey)> = existing.iter().map(|r| (r.ts, &*r.series)).collect();
        let missing: Vec<Point> = built.into_iter().filter(|r| !have.contains(&(r.ts, &*r.series))).map(Point::Rollup).collect();
        self.store.write(&missing).await?;
        Ok(missing.len() as u64)
    }

    /// Counts (and logs) the series-minutes in `[from, to)` that no point covers, for configured series after
    /// their first point (before it, a series did not exist yet).
    fn gaps(&mut self, rollups: &[RollupPoint], probes: &[ProbePoint], from: Nanos, to: Nanos) -> u64 {
        let covered: HashSet<(Nanos, &SeriesKey)> = rollups
            .iter()
            .filter(|r| r.series.region != ALL_REGIONS && r.up_s + r.down_s + r.maintenance_s > 0.0)
            .map(|r| (r.ts, &*r.series))
            .collect();
        let mut first: HashMap<&SeriesKey, Nanos> = HashMap::new();
        for p in probes {
            first.entry(&p.series).or_insert(p.ts);
        }
        let mut missing: HashMap<Arc<SeriesKey>, u64> = HashMap::new();
        for series in self.known.values().flatten().filter(|s| self.configured.contains(&s.endpoint)) {
            let since = if self.seen.contains(series) { Some(from) } else { first.get(&**series).map(|t| Resolution::Minute.floor(*t)) };
            let Some(mut m) = since.map(|t| t.max(from)) else { continue };
            while m < to {
                if !covered.contains(&(m, &**series)) {
                    *missing.entry(series.clone()).or_default() += 1;
                }
                m += Resolution::Minute.nanos();
            }
        }
        for s in first.keys() {
            if let Some(k) = self.known.get(&(s.endpoint.clone(), s.region.clone())).and_then(|l| l.iter().find(|k| ***k == **s)) {
                self.seen.insert(k.clone());
            }
        }
        for (s, n) in &missing {
            tracing::warn!(endpoint = %s.endpoint, region = %s.region, environment = %s.environment, minutes = n,
                from = %format_rfc3339(from), to = %format_rfc3339(to),
                "no data: minutes without any point for this series (an agent stopped or fell behind); counted as neither up nor down");
        }
        missing.values().sum()
    }
}

/// Merges every hour whose minutes are all closed into `rollup_1h`, then every UTC day whose hours are into
/// `rollup_1d`, moving their watermarks. An hour of 10,000 endpoints is 1.2 M minute rollups to read and
/// merge (seconds of work), which is why [`run`] does this beside the minute cycles rather than in them. The
/// `endpoints` of the shard are merged in the parts the store asks for ([`Store::read_parts`]): at 20,000
/// series one read of the hour took influxd longer than the store timeout, failed, and was retried every
/// minute, never done.
pub async fn merge_closed(store: &dyn Store, shard: Option<Shard>, endpoints: usize) -> Result<CycleStats, AggregatorError> {
    let mut stats = CycleStats::default();
    let parts = store.read_parts(endpoints);
    for (coarse, fine) in [(Resolution::Hour, Resolution::Minute), (Resolution::Day, Resolution::Hour)] {
        let (fine_name, coarse_name) = (Shard::watermark(shard, fine.measurement()), Shard::watermark(shard, coarse.measurement()));
        let (Some(fine_wm), Some(mut cwm)) = (store.watermark(&fine_name).await?, store.watermark(&coarse_name).await?) else {
            continue;
        };
        while cwm + coarse.nanos() <= fine_wm {
            let range = TimeRange::new(cwm, cwm + coarse.nanos());
            // A part written again after a failure writes the same points (the merge is exact).
            for part in Shard::split(shard, parts) {
                let select = if parts == 1 { Select::shard(shard) } else { Select::Shard(part) };
                let mut children = store.rollups(fine, range, select).await?;
                if select != Select::All {
                    children.retain(|c| part.owns(&c.series.endpoint));
                }
                let merged = rollup::merge(&children, coarse);
                stats.rollups_written += merged.len() as u64;
                store.write(&merged.into_iter().map(Point::Rollup).collect::<Vec<_>>()).await?;
            }
            match coarse {
                Resolution::Hour => stats.hours += 1,
                _ => stats.days += 1,
            }
            cwm += coarse.nanos();
            store.set_watermark(&coarse_name, cwm).await?;
        }
    }
    Ok(stats)
}

/// Runs a cycle now and then at the start of every minute (plus a few seconds, so the minute that just
/// passed the lateness is complete) until `stop`.
pub async fn run(mut aggregator: Aggregator, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut merging: Option<tokio::task::JoinHandle<()>> = None;
    let mut states_saved = tokio::time::Instant::now();
    loop {
        match aggregator.close_minutes(now_nanos()).await {
            Ok(s) if s.minutes > 1 => tracing::info!(minutes = s.minutes, rollups = s.rollups_written, "aggregator caught up"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "aggregator cycle failed; the next cycle resumes from the watermark"),
        }
        // Hours and days merge in their own task (on the other core), one merge at a time.
        if merging.as_ref().is_none_or(|m| m.is_finished()) {
            let (store, shard, endpoints) = (aggregator.store.clone(), aggregator.shard, aggregator.configured.len());
            merging = Some(tokio::spawn(async move {
                match merge_closed(&*store, shard, endpoints).await {
                    Ok(s) if s.hours + s.days > 0 => tracing::debug!(hours = s.hours, days = s.days, "hour and day rollups merged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "merging hour and day rollups failed; the next cycle retries"),
                }
            }));
        }
        let to_next_minute = Resolution::Minute.nanos() - now_nanos().rem_euclid(Resolution::Minute.nanos()) + 2_000_000_000;
        let next_cycle = tokio::time::Instant::now() + Duration::from_nanos(to_next_minute as u64);
        // Until then, the write log is followed a few seconds at a time.
        let mut stopped = false;
        loop {
            let follow_at = (tokio::time::Instant::now() + FOLLOW_EVERY).min(next_cycle);
            tokio::select! {
                _ = tokio::time::sleep_until(follow_at) => {}
                _ = stop.wait_for(|s| *s) => {
                    stopped = true;
                    break;
                }
            }
            if follow_at == next_cycle {
                break;
            }
            if let Err(e) = aggregator.follow().await {
                tracing::debug!(error = %e, "cannot read the write log now; the next cycle reads it again");
            }
            // The latest states this process keeps (the publishers follow them), saved for other processes'
            // first read (`Store::save_states`); by one aggregator, the first shard, when sharded. Often, because
            // such a read then follows the write log from there: `watchpost status` reads at most this much
            // of it (about 0.1 s of influxd's time per 20 s of 10,000 endpoints at 5 s).
            if aggregator.shard.is_none_or(|s| s.index == 1) && states_saved.elapsed() >= SAVE_STATES_EVERY {
                states_saved = tokio::time::Instant::now();
                if let Err(e) = aggregator.store.save_states().await {
                    tracing::debug!(error = %e, "cannot save the latest states; other processes derive them");
                }
            }
        }
        if stopped {
            break;
        }
    }
    if let Some(m) = merging {
        let _ = m.await;
    }
}
