//! The aggregator's own metrics, rendered on `/metrics`.

use crate::CycleStats;
use std::time::Duration;
use watchpost_core::metrics::{self as m, Counter, Gauge, Histogram};
use watchpost_core::time::Nanos;

pub struct AggregatorMetrics {
    pub cycles: Counter,
    pub minutes: Counter,
    pub points_read: Counter,
    pub points_followed: Counter,
    pub rollups_written: Counter,
    pub gap_minutes: Counter,
    pub cycle_duration: Histogram,
    /// Seconds between now and the minute watermark (lateness plus any backlog).
    pub lag_seconds: Gauge,
    pub publish_requests: Counter,
    pub publish_failures: Counter,
    /// Each region's newest point and whether it went silent, as of the last status board.
    regions: std::sync::Mutex<(Nanos, Vec<watchpost_core::health::RegionReport>)>,
}

/// Cycle durations: a cycle is a few milliseconds when current, seconds while catching up.
const CYCLE_BOUNDS: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];

impl Default for AggregatorMetrics {
    fn default() -> Self {
        AggregatorMetrics {
            cycles: Counter::default(),
            minutes: Counter::default(),
            points_read: Counter::default(),
            points_followed: Counter::default(),
            rollups_written: Counter::default(),
            gap_minutes: Counter::default(),
            cycle_duration: Histogram::new(&CYCLE_BOUNDS),
            lag_seconds: Gauge::default(),
            publish_requests: Counter::default(),
            publish_failures: Counter::default(),
            regions: Default::default(),
        }
    }
}

impl AggregatorMetrics {
    pub fn record(&self, s: &CycleStats, took: Duration, lag: Nanos) {
        self.cycles.inc();
        self.minutes.add(s.minutes);
        self.points_read.add(s.points_read);
        self.points_followed.add(s.points_followed);
        self.rollups_written.add(s.rollups_written);
        self.gap_minutes.add(s.gap_minutes);
        self.cycle_duration.observe(took);
        self.lag_seconds.set(lag / 1_000_000_000);
    }

    pub fn set_regions(&self, regions: &[watchpost_core::health::RegionReport], now: Nanos) {
        *self.regions.lock().unwrap_or_else(|p| p.into_inner()) = (now, regions.to_vec());
    }

    pub fn render(&self, out: &mut String) {
        m::counter(out, "watchpost_aggregator_cycles_total", "Aggregator cycles run.", self.cycles.get());
        m::counter(out, "watchpost_aggregator_windows_closed_total", "Minute windows closed.", self.minutes.get());
        m::counter(out, "watchpost_aggregator_points_read_total", "Raw points read to build minute rollups.", self.points_read.get());
        m::counter(
            out,
            "watchpost_aggregator_points_followed_total",
            "Of the raw points read, those taken from the write log rather than read back by time.",
            self.points_followed.get(),
        );
        m::counter(
            out,
            "watchpost_aggregator_rollups_written_total",
            "Rollup points written (all resolutions).",
            self.rollups_written.get(),
        );
        m::counter(
            out,
            "watchpost_aggregator_gap_series_windows_total",
            "Minutes in which a configured series had no point at all (counted as neither up nor down).",
            self.gap_minutes.get(),
        );
        m::histogram(out, "watchpost_aggregator_cycle_seconds", "Duration of an aggregator cycle.", &self.cycle_duration);
        m::gauge(
            out,
            "watchpost_aggregator_lag_seconds",
            "Age of the minute watermark: lateness plus any backlog.",
            self.lag_seconds.get() as f64,
        );
        m::counter(out, "watchpost_publish_requests_total", "Requests sent to hosted status pages.", self.publish_requests.get());
        m::counter(out, "watchpost_publish_failures_total", "Requests to hosted status pages that failed.", self.publish_failures.get());
        let (at, regions) = self.regions.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if !regions.is_empty() {
            m::header(out, "watchpost_region_silent", "gauge", "1 when a region's agents stopped reporting (its states do not vote).");
            for r in &regions {
                m::sample(out, "watchpost_region_silent", &[("region", &r.region)], if r.silent { 1.0 } else { 0.0 });
            }
            m::header(out, "watchpost_region_last_point_age_seconds", "gauge", "Age of a region's newest point (-1: never heard from).");
            for r in &regions {
                let age = r.last_seen.map_or(-1.0, |t| (at - t).max(0) as f64 / 1e9);
                m::sample(out, "watchpost_region_last_point_age_seconds", &[("region", &r.region)], age);
            }
        }
    }
}
