//! The agent's own metrics, rendered on `/metrics`: enough to tell an overloaded monitor from a slow service.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use watchpost_core::metrics::{self as m, Counter, Gauge, Histogram};
use watchpost_core::model::ErrorClass;

static LATENESS_BOUNDS: [f64; 12] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
static WRITE_BOUNDS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
/// A probe that starts later than this after its slot counts as late.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(250);
/// Length of the window behind the lateness quantiles.
const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct AgentMetrics {
    pub probes: Counter,
    failures: [Counter; ErrorClass::ALL.len()],
    pub points_enqueued: Counter,
    pub points_dropped_queue_full: Counter,
    pub points_dropped_store: Counter,
    pub points_rejected: Counter,
    pub spool_appended_points: Counter,
    pub spool_replayed_points: Counter,
    pub spool_dropped_points: Counter,
    pub spool_damaged_segments: Counter,
    pub spool_pending_points: Gauge,
    pub spool_bytes: Gauge,
    pub store_up: Gauge,
    pub points_written: Counter,
    pub write_batches: Counter,
    pub write_errors: Counter,
    pub write_duration: Histogram,
    pub lateness: Histogram,
    pub late_probes: Counter,
    pub skipped_slots: Counter,
    /// Slots not probed because they would have started later than their timeout (the agent is overloaded).
    pub shed_slots: Counter,
    /// Timeouts while the agent's own runtime lagged: written as `internal`, never counted against a target.
    pub inconclusive: Counter,
    pub maintenance_slots: Counter,
    pub in_flight: Gauge,
    pub concurrency_limit: Gauge,
    pub queue_depth: Gauge,
    pub queue_capacity: Gauge,
    pub endpoints: Gauge,
    pub endpoints_down: Gauge,
    pub behind: Gauge,
    /// Each endpoint's last probe, blackbox_exporter's way.
    pub last_probes: crate::probe_metrics::ProbeMetrics,
    window: Mutex<LatenessWindow>,
}

/// Exact lateness quantiles over the last complete 10 s window (HDR histogram, microseconds).
#[derive(Debug)]
struct LatenessWindow {
    started: Instant,
    current: hdrhistogram::Histogram<u64>,
    last: Option<hdrhistogram::Histogram<u64>>,
}

/// Quantiles of scheduling lateness, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatenessQuantiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
}

fn new_hist() -> hdrhistogram::Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits: constant bounds that hdrhistogram accepts.
    let h = hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3);
    h.expect("valid constant bounds") // ok: constant, valid bounds
}

impl Default for AgentMetrics {
    fn default() -> Self {
        AgentMetrics {
            probes: Counter::default(),
            failures: Default::default(),
            points_enqueued: Counter::default(),
            points_dropped_queue_full: Counter::default(),
            points_dropped_store: Counter::default(),
            points_rejected: Counter::default(),
            spool_appended_points: Counter::default(),
            spool_replayed_points: Counter::default(),
            spool_dropped_points: Counter::default(),
            spool_damaged_segments: Counter::default(),
            spool_pending_points: Gauge::default(),
            spool_bytes: Gauge::default(),
            store_up: Gauge::default(),
            points_written: Counter::default(),
            write_batches: Counter::default(),
            write_errors: Counter::default(),
            write_duration: Histogram::new(&WRITE_BOUNDS),
            lateness: Histogram::new(&LATENESS_BOUNDS),
            late_probes: Counter::default(),
            skipped_slots: Counter::default(),
            shed_slots: Counter::default(),
            inconclusive: Counter::default(),
            maintenance_slots: Counter::default(),
            in_flight: Gauge::default(),
            concurrency_limit: Gauge::default(),
            queue_depth: Gauge::default(),
            queue_capacity: Gauge::default(),
            endpoints: Gauge::default(),
            endpoints_down: Gauge::default(),
            behind: Gauge::default(),
            last_probes: Default::default(),
            window: Mutex::new(LatenessWindow { started: Instant::now(), current: new_hist(), last: None }),
        }
    }
}

impl AgentMetrics {
    pub fn failure(&self, class: ErrorClass) {
        if let Some(i) = ErrorClass::ALL.iter().position(|c| *c == class) {
            self.failures[i].inc();
        }
    }

    pub fn failures_of(&self, class: ErrorClass) -> u64 {
        ErrorClass::ALL.iter().position(|c| *c == class).map_or(0, |i| self.failures[i].get())
    }

    /// Records how late a probe started after its slot.
    pub fn record_lateness(&self, late: Duration) {
        self.lateness.observe(late);
        if late > LATE_THRESHOLD {
            self.late_probes.inc();
        }
        let micros = u64::try_from(late.as_micros()).unwrap_or(u64::MAX).clamp(1, 3_600_000_000);
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.started.elapsed() >= WINDOW {
            let full = std::mem::replace(&mut w.current, new_hist());
            w.last = Some(full);
            w.started = Instant::now();
        }
        let _ = w.current.record(micros);
    }

    /// Lateness quantiles over the last complete window (or the current one before the first completes).
    pub fn lateness_quantiles(&self) -> Option<LatenessQuantiles> {
        let w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let h = w.last.as_ref().unwrap_or(&w.current);
        (!h.is_empty()).then(|| LatenessQuantiles {
            p50: h.value_at_quantile(0.5) as f64 / 1e6,
            p99: h.value_at_quantile(0.99) as f64 / 1e6,
            max: h.max() as f64 / 1e6,
            sum: h.mean() * h.len() as f64 / 1e6,
            count: h.len(),
        })
    }

    /// The agent's own series. Each endpoint's last probe ([`AgentMetrics::last_probes`]) is not among them:
    /// at tens of thousands of endpoints it is most of a scrape, streamed part by part.
    pub fn render(&self, out: &mut String) {
        m::counter(out, "watchpost_probes_total", "Probe attempts completed.", self.probes.get());
        m::header(out, "watchpost_probe_failures_total", "counter", "Failed probe attempts by error class.");
        for (c, n) in ErrorClass::ALL.iter().zip(&self.failures) {
            m::sample(out, "watchpost_probe_failures_total", &[("class", c.as_str())], n.get() as f64);
        }
        m::gauge(out, "watchpost_endpoints", "Endpoints this agent probes.", self.endpoints.get() as f64);
        m::gauge(out, "watchpost_endpoints_down", "Endpoints confirmed down by this agent.", self.endpoints_down.get() as f64);
        m::gauge(out, "watchpost_probes_in_flight", "Probes running now.", self.in_flight.get() as f64);
        m::gauge(
            out,
            "watchpost_probe_concurrency_limit",
            "Most probes allowed in flight (agent.concurrency).",
            self.concurrency_limit.get() as f64,
        );
        m::histogram(out, "watchpost_scheduler_lateness_seconds", "Delay between a probe's slot and its start.", &self.lateness);
        // A summary is its quantiles with `_sum` and `_count`; the maximum is a gauge of its own (a quantile of
        // 1 is not part of the exposition format's summary).
        let name = "watchpost_scheduler_lateness_recent_seconds";
        m::header(out, name, "summary", "Lateness quantiles over the last complete 10 s window.");
        let q = self.lateness_quantiles().unwrap_or(LatenessQuantiles { p50: f64::NAN, p99: f64::NAN, max: f64::NAN, sum: 0.0, count: 0 });
        for (quantile, v) in [("0.5", q.p50), ("0.99", q.p99)] {
            m::sample(out, name, &[("quantile", quantile)], v);
        }
        m::sample(out, &format!("{name}_sum"), &[], q.sum);
        m::sample(out, &format!("{name}_count"), &[], q.count as f64);
        m::gauge(out, "watchpost_scheduler_lateness_recent_max_seconds", "Largest lateness in the last complete 10 s window.", q.max);
        m::counter(
            out,
            "watchpost_scheduler_late_probes_total",
            "Probes that started more than 250 ms after their slot.",
            self.late_probes.get(),
        );
        m::counter(
            out,
            "watchpost_scheduler_skipped_slots_total",
            "Slots skipped because the previous probe ran past them.",
            self.skipped_slots.get(),
        );
        m::counter(
            out,
            "watchpost_scheduler_shed_slots_total",
            "Slots not probed because they would have started later than their timeout: the agent is overloaded.",
            self.shed_slots.get(),
        );
        m::counter(
            out,
            "watchpost_probes_inconclusive_total",
            "Timeouts while the agent itself lagged: recorded as internal, never counted against the target.",
            self.inconclusive.get(),
        );
        m::counter(
            out,
            "watchpost_maintenance_slots_total",
            "Slots not probed because a maintenance window covered them (each wrote a maintenance point).",
            self.maintenance_slots.get(),
        );
        m::gauge(
            out,
            "watchpost_scheduler_behind",
            "1 while the agent cannot keep its schedule (its own CPU or concurrency limit).",
            self.behind.get() as f64,
        );
        m::gauge(out, "watchpost_queue_depth", "Points waiting for the writer.", self.queue_depth.get() as f64);
        m::gauge(out, "watchpost_queue_capacity", "Capacity of the point queue (agent.queue_capacity).", self.queue_capacity.get() as f64);
        m::counter(out, "watchpost_points_enqueued_total", "Points handed to the writer.", self.points_enqueued.get());
        m::header(out, "watchpost_points_dropped_total", "counter", "Points lost, by reason.");
        m::sample(out, "watchpost_points_dropped_total", &[("reason", "queue_full")], self.points_dropped_queue_full.get() as f64);
        m::sample(out, "watchpost_points_dropped_total", &[("reason", "store_error")], self.points_dropped_store.get() as f64);
        m::counter(out, "watchpost_points_written_total", "Points written to the store.", self.points_written.get());
        m::counter(
            out,
            "watchpost_points_rejected_total",
            "Points the store refused as invalid (never retried).",
            self.points_rejected.get(),
        );
        m::gauge(
            out,
            "watchpost_store_up",
            "1 while the store accepts writes, 0 while batches go to the spool.",
            self.store_up.get() as f64,
        );
        m::gauge(out, "watchpost_spool_pending_points", "Points in the spool waiting for replay.", self.spool_pending_points.get() as f64);
        m::gauge(out, "watchpost_spool_bytes", "Bytes the spool uses on disk.", self.spool_bytes.get() as f64);
        m::counter(out, "watchpost_spool_appended_points_total", "Points written to the spool.", self.spool_appended_points.get());
        m::counter(
            out,
            "watchpost_spool_replayed_points_total",
            "Points replayed from the spool into the store.",
            self.spool_replayed_points.get(),
        );
        m::counter(
            out,
            "watchpost_spool_dropped_points_total",
            "Points dropped from a full spool (oldest first).",
            self.spool_dropped_points.get(),
        );
        m::counter(
            out,
            "watchpost_spool_damaged_segments_total",
            "Spool segments found damaged at start (torn tail cut off).",
            self.spool_damaged_segments.get(),
        );
        m::counter(out, "watchpost_write_batches_total", "Batches written to the store.", self.write_batches.get());
        m::counter(out, "watchpost_write_errors_total", "Failed batch writes (each retry counts).", self.write_errors.get());
        m::histogram(out, "watchpost_write_duration_seconds", "Time to write one batch.", &self.write_duration);
    }
}
