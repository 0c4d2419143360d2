//! The Watchpost agent: probes endpoints on a fixed schedule, confirms outages (three consecutive misses by
//! default), and writes availability and latency points to the store.
//!
//! Data flow: [`scheduler`] tasks (one per endpoint) → [`probe`] → [`confirm`] → bounded queue → [`writer`]
//! → `Store`, or the disk [`spool`] while the store is down (replayed in order when it is back). Architecture invariant: the probe loop never waits on the store; the only thing between them is
//! the bounded queue, and a full queue drops (and counts) rather than blocks.

pub mod blackbox;
pub mod confirm;
pub mod load;
pub mod maintenance;
pub mod metrics;
pub mod probe;
pub mod probe_metrics;
pub mod runtimes;
pub mod scheduler;
pub mod spool;
pub mod writer;

use metrics::AgentMetrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use watchpost_core::config::Config;
use watchpost_core::model::SeriesKey;
use watchpost_core::store::Store;

/// How often the agent checks whether it keeps its schedule.
const OVERLOAD_CHECK: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent.spool: {0}")]
    Spool(#[from] spool::SpoolError),
    #[error("cannot start the probe threads: {0}")]
    Threads(#[from] std::io::Error),
}

/// A running agent. Dropping it ends its probe threads, and with them the probes, without writing what the
/// confirmers hold: call [`Agent::shutdown`].
pub struct Agent {
    stop: watch::Sender<bool>,
    endpoints: Vec<JoinHandle<()>>,
    writer: JoinHandle<()>,
    monitor: JoinHandle<()>,
    load_monitor: JoinHandle<()>,
    maintenance: JoinHandle<()>,
    /// Where the endpoint tasks run (see [`runtimes`]).
    runtimes: runtimes::ProbeRuntimes,
    metrics: Arc<AgentMetrics>,
    pushes: probe::push::Registry,
    tap: tokio::sync::broadcast::Sender<Arc<[watchpost_core::model::Point]>>,
}

impl Agent {
    /// Opens the spool (replaying what an earlier run left), loads the maintenance windows, then starts
    /// probing every endpoint of `config`, writing to `store`.
    pub async fn start(config: &Config, store: Arc<dyn Store>, metrics: Arc<AgentMetrics>) -> Result<Agent, AgentError> {
        let s = &config.agent.spool;
        // A segment is the unit in which a full spool drops old data: small enough to lose little at once.
        let segment_bytes = (s.max_bytes / 16).clamp(16 << 10, 64 << 20);
        let (spool, report) = spool::Spool::open(spool::SpoolConfig { dir: s.dir.clone(), max_bytes: s.max_bytes, segment_bytes })?;
        for line in &report.damaged {
            tracing::warn!(damage = %line, "the spool was damaged (a crash or power loss during a write); the records before the damage are kept");
        }
        // The gauges say what an earlier run left before anything can read `/metrics`: "nothing pending" must
        // never be seen while the spool still holds points (the writer refreshes them only once it starts).
        let (pending, bytes) = spool.pending();
        metrics.spool_pending_points.set(i64::try_from(pending).unwrap_or(i64::MAX));
        metrics.spool_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        metrics.spool_damaged_segments.add(report.damaged.len() as u64);
        if report.points > 0 {
            tracing::info!(points = report.points, records = report.records, dir = %s.dir.display(), "replaying points an earlier run left in the spool");
        }
        metrics.store_up.set(1);
        let shared = probe::Shared::new();
        let pushes = probe::push::Registry::default();
        let (stop, stop_rx) = watch::channel(false);
        let (tx, rx) = mpsc::channel(config.agent.queue_capacity);
        metrics.queue_capacity.set(config.agent.queue_capacity as i64);
        metrics.concurrency_limit.set(config.agent.concurrency as i64);
        metrics.endpoints.set(config.endpoints.len() as i64);
        let schedule = Arc::new(maintenance::Schedule::default());
        let sources = watchpost_core::maintenance::sources(config);
        schedule.refresh(&sources).await;
        let load = load::Load::new();
        let load_monitor = tokio::spawn(load.clone().watch(stop_rx.clone()));
        let runtimes = runtimes::ProbeRuntimes::start(0)?;
        // Each probe thread keeps time too: an attempt that times out while its own thread lagged is not the
        // target's fault. (These end with the endpoint tasks, at `stop`.)
        for i in 0..runtimes.len() {
            drop(runtimes.spawn(i, load.clone().watch(stop_rx.clone())));
        }
        let ctx = Arc::new(scheduler::Context {
            permits: Arc::new(Semaphore::new(config.agent.concurrency)),
            points: tx,
            metrics: metrics.clone(),
            maintenance: schedule.clone(),
            masks: config.masks.clone(),
            load: load.clone(),
            shed_log: Default::default(),
        });

        let intervals: Vec<Duration> = config.endpoints.iter().map(|e| e.interval).collect();
        let start = tokio::time::Instant::now();
        let endpoints = config
            .endpoints
            .iter()
            .zip(scheduler::phases(&intervals))
            .enumerate()
            .map(|(i, (e, phase))| {
                let series = Arc::new(SeriesKey {
                    endpoint: e.id.clone(),
                    region: config.agent.region.clone(),
                    component: e.component.clone().unwrap_or_default(),
                    environment: e.environment.clone(),
                });
                let probe = probe::build(e, &shared, &pushes);
                let slot = ctx.metrics.last_probes.register(&series, e.probe.kind());
                let task = scheduler::Task { endpoint: Arc::new(e.clone()), series, probe, slot };
                runtimes.spawn(i, scheduler::run_endpoint(task, start + phase, ctx.clone(), stop_rx.clone()))
            })
            .collect();
        drop(ctx); // the endpoint tasks hold the only senders: the writer ends when they do
                   // Room for a few seconds of batches of a large configuration; a reader that falls further behind is told
                   // so and reads the store instead.
        let (tap, _) = tokio::sync::broadcast::channel(4096);
        let writer_cfg = writer::WriterConfig {
            tap: Some(tap.clone()),
            max_points: config.agent.batch_max_points,
            max_age: config.agent.batch_max_age,
            replay_rate: config.agent.spool.replay_rate,
        };
        let writer = tokio::spawn(writer::run(rx, store, writer_cfg, spool, metrics.clone()));
        let monitor = tokio::spawn(watch_overload(metrics.clone(), config.agent.concurrency, stop_rx.clone()));
        let maintenance = tokio::spawn(maintenance::keep_fresh(schedule, sources, stop_rx));
        tracing::info!(endpoints = config.endpoints.len(), region = %config.agent.region, "agent started");
        Ok(Agent { stop, endpoints, writer, monitor, load_monitor, maintenance, runtimes, metrics, pushes, tap })
    }

    /// The points this agent produces, as it produces them (before batching and the store).
    pub fn tap(&self) -> tokio::sync::broadcast::Receiver<Arc<[watchpost_core::model::Point]>> {
        self.tap.subscribe()
    }

    /// Where the HTTP listener delivers push reports (`POST /api/v1/push/{id}`).
    pub fn pushes(&self) -> probe::push::Registry {
        self.pushes.clone()
    }

    /// Stops probing, writes what the confirmers still hold, flushes the writer, and returns when done.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for h in self.endpoints {
            let _ = h.await;
        }
        self.runtimes.stop();
        let _ = self.writer.await;
        let _ = self.monitor.await;
        let _ = self.load_monitor.await;
        let _ = self.maintenance.await;
        let m = &self.metrics;
        tracing::info!(
            points_produced = m.points_enqueued.get(),
            points_written = m.points_written.get(),
            points_spooled = m.spool_pending_points.get(),
            points_rejected = m.points_rejected.get(),
            points_lost = m.points_dropped_queue_full.get() + m.points_dropped_store.get() + m.spool_dropped_points.get(),
            "agent stopped: every point is in the store or the spool"
        );
    }
}

/// Why the agent cannot keep its schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// Every permit is taken: probes wait for `agent.concurrency`.
    ConcurrencyLimit,
    /// Permits are free, yet probes start late: the agent's own CPU.
    Cpu,
}

impl Overload {
    pub fn explain(self) -> &'static str {
        match self {
            Overload::ConcurrencyLimit => "the concurrency limit is reached (raise agent.concurrency or lengthen intervals)",
            Overload::Cpu => "the agent lacks CPU (give it more, or lengthen intervals)",
        }
    }
}

/// The agent is behind when more than 1 % of the probes of a period started over 250 ms after their slot.
pub fn assess(late: u64, probes: u64, in_flight: usize, concurrency: usize) -> Option<Overload> {
    if probes == 0 || late * 100 <= probes {
        return None;
    }
    Some(if in_flight >= concurrency { Overload::ConcurrencyLimit } else { Overload::Cpu })
}

/// Says loudly, in the log and in `watchpost_scheduler_behind`, when the agent cannot keep its schedule, and
/// whether the concurrency limit or the agent's own CPU is the cause: an overloaded monitor must not be
/// mistaken for a slow service.
async fn watch_overload(metrics: Arc<AgentMetrics>, concurrency: usize, mut stop: watch::Receiver<bool>) {
    let mut late_before = metrics.late_probes.get();
    let mut probes_before = metrics.probes.get();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(OVERLOAD_CHECK) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let (late, probes) = (metrics.late_probes.get(), metrics.probes.get());
        let (late_now, probes_now) = (late - late_before, probes - probes_before);
        (late_before, probes_before) = (late, probes);
        // Behind when more than 1 % of the probes of the last period started over 250 ms after their slot.
        let behind = probes_now > 0 && late_now * 100 > probes_now;
        metrics.behind.set(i64::from(behind));
        if behind {
            let in_flight = metrics.in_flight.get();
            let cause = if in_flight as usize >= concurrency {
                "the concurrency limit is reached (raise agent.concurrency or lengthen intervals)"
            } else {
                "the agent lacks CPU (give it more, or lengthen intervals)"
            };
            let p99_ms = metrics.lateness_quantiles().map_or(0.0, |q| q.p99 * 1e3);
            tracing::warn!(
                late = late_now,
                probes = probes_now,
                lateness_p99_ms = p99_ms,
                in_flight,
                concurrency,
                "agent is falling behind its schedule: {cause}; results reflect the monitor, not the targets"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_more_than_one_percent_late_and_names_its_cause() {
        assert_eq!(assess(0, 0, 0, 10), None, "no probes, no verdict");
        assert_eq!(assess(1, 100, 0, 10), None, "1 % late is within the budget");
        assert_eq!(assess(2, 100, 3, 10), Some(Overload::Cpu));
        assert_eq!(assess(50, 100, 10, 10), Some(Overload::ConcurrencyLimit));
    }
}
