//! The raw points of the minutes an aggregator closes next, followed from the write log ([`Store::feed`])
//! instead of read back by time.
//!
//! Why: a read of one minute of `probe` opens every series, and on influxd 1.6 that, not the points, is the
//! cost. With 20,000 series (`bench/influx_reads.py`) one minute read by time costs influxd about 3.9
//! CPU-seconds (3.5 with only the three fields rollups use), the same points from the write log about 0.9:
//! the difference between consumers costing influxd more than the writes and less (figure 1 of issue 19).
//!
//! The log gives each point as it is written, so the aggregator keeps the samples of the minutes still open
//! (lateness plus a minute and a slot: some 40 bytes a point) and takes each closing window from them. What
//! the log cannot give is what was written before the aggregator started following it: minutes that begin
//! before [`Live::covered_from`] are read by time, as a backlog is. Only an unsharded aggregator follows the
//! log: a shard reads its own series by time (N shards read 1/N each), while every shard would read all of
//! the log.

use std::sync::Arc;
use watchpost_core::model::{ProbePoint, SeriesKey};
use watchpost_core::store::{FeedCursor, Store, StoreError};
use watchpost_core::time::{now_nanos, Nanos, TimeRange};

/// How far after the start of following the first minute served from the log may begin: points written
/// before the cursor are stamped before this unless an agent's clock runs this far ahead of the aggregator's
/// (and those are found at the start, see [`Live::start`]).
const CLOCK_MARGIN: Nanos = 10 * 1_000_000_000;
/// Samples kept at most (about 80 MB): past it (an aggregator far behind while the log runs on) the log is
/// dropped and followed again from a later start, and the minutes between are read by time.
const MAX_SAMPLES: usize = 2_000_000;

/// What a rollup reads of a probe point.
struct Sample {
    series: Arc<SeriesKey>,
    ts: Nanos,
    availability: f64,
    ok: bool,
    latency_ms: f64,
}

pub(crate) struct Live {
    cursor: FeedCursor,
    /// Every probe point stamped at or after this was written after the cursor was taken.
    covered_from: Nanos,
    /// Samples at or after `keep_from`, in the order they were written.
    samples: Vec<Sample>,
    keep_from: Nanos,
}

impl Live {
    /// Starts following the log now; `None` when points stamped after [`CLOCK_MARGIN`] from now are in the
    /// store already (written before the cursor: a clock far ahead), so the log cannot be trusted to hold
    /// every point of those minutes yet (the caller tries again later).
    pub(crate) async fn start(store: &dyn Store) -> Result<Option<Live>, StoreError> {
        let cursor = store.feed_start().await?;
        let covered_from = now_nanos() + CLOCK_MARGIN;
        if store.first_probe_time(covered_from).await?.is_some() {
            return Ok(None);
        }
        Ok(Some(Live { cursor, covered_from, samples: Vec::new(), keep_from: covered_from }))
    }

    /// Whether every point of `range` comes through the log.
    pub(crate) fn covers(&self, range: TimeRange) -> bool {
        range.from >= self.covered_from
    }

    /// Reads what was written since the last follow. `Ok(false)`: too much is held (see [`MAX_SAMPLES`]), and
    /// the caller should drop this and start again.
    pub(crate) async fn follow(&mut self, store: &dyn Store) -> Result<bool, StoreError> {
        let keep_from = self.keep_from;
        let new = store.feed(&mut self.cursor).await?;
        self.samples.extend(new.into_iter().filter(|p| p.ts >= keep_from).map(|p| Sample {
            series: p.series,
            ts: p.ts,
            availability: p.availability,
            ok: p.ok,
            latency_ms: p.latency_ms,
        }));
        Ok(self.samples.len() <= MAX_SAMPLES)
    }

    /// The points of `range` (only the fields rollups read, see [`Store::probe_samples`]), sorted as a store
    /// answers and without the duplicates a retried write leaves in the log. Samples before `range.from` are
    /// forgotten: the next window starts at or after it (the watermark only moves forward), while a failed
    /// cycle reads this same range again.
    pub(crate) fn take(&mut self, range: TimeRange) -> Vec<ProbePoint> {
        self.keep_from = self.keep_from.max(range.from);
        let keep_from = self.keep_from;
        self.samples.retain(|s| s.ts >= keep_from);
        let mut out: Vec<ProbePoint> = self
            .samples
            .iter()
            .filter(|s| s.ts >= range.from && s.ts < range.to)
            .map(|s| ProbePoint::sample(s.series.clone(), s.ts, s.availability, s.ok, s.latency_ms))
            .collect();
        out.sort_by(|a, b| {
            (a.ts, &a.series.region, &a.series.environment, &a.series).cmp(&(b.ts, &b.series.region, &b.series.environment, &b.series))
        });
        out.dedup_by(|a, b| a.ts == b.ts && a.series == b.series);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(endpoint: &str, ts: Nanos) -> Sample {
        let series =
            Arc::new(SeriesKey { endpoint: endpoint.into(), region: "eu".into(), component: "c".into(), environment: "production".into() });
        Sample { series, ts, availability: 100.0, ok: true, latency_ms: 1.0 }
    }

    #[test]
    fn a_window_is_sorted_deduplicated_and_what_is_before_it_is_forgotten() {
        let mut live = Live { cursor: FeedCursor::default(), covered_from: 0, samples: Vec::new(), keep_from: 0 };
        // As written: out of order, one point twice (a retried write), one in the window after.
        live.samples = vec![sample("b", 20), sample("a", 20), sample("a", 10), sample("a", 20), sample("a", 5), sample("a", 35)];
        let got: Vec<(String, Nanos)> = live.take(TimeRange::new(10, 30)).iter().map(|p| (p.series.endpoint.clone(), p.ts)).collect();
        assert_eq!(got, [("a".to_string(), 10), ("a".to_string(), 20), ("b".to_string(), 20)]);
        // The same window again (a cycle that failed to write) gives the same points.
        assert_eq!(live.take(TimeRange::new(10, 30)).len(), 3);
        assert_eq!(live.samples.len(), 5, "the sample before the window is forgotten");
        live.take(TimeRange::new(25, 45));
        assert_eq!(live.samples.iter().map(|s| s.ts).collect::<Vec<_>>(), [35]);
    }
}
