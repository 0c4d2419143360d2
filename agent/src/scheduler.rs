//! The scheduler: one task per endpoint, each firing on a fixed-phase grid.
//!
//! - **Fixed phase, no drift**: slot *k* of an endpoint is `start + phase + k × interval`, computed from the
//!   grid rather than from the previous probe's end, so probe durations never shift later slots.
//! - **Spread**: endpoints that share an interval get phases spread evenly across it ([`phases`]), so 10,000
//!   endpoints at 5 s fire at 2,000 per second rather than all at once.
//! - **No overlap**: an endpoint's task runs its probes one after the other; a slot that passes while a probe
//!   is still running is skipped (and counted), never run concurrently.
//! - **Retries** after a miss come `retry_interval` after the miss started; then the grid resumes.
//! - **Lateness** (slot to actual start, including the wait for a concurrency permit) is measured for every
//!   probe: it is the agent's own overload, not the target's slowness.

use crate::confirm::{Confirmer, Decided, Next, State};
use crate::metrics::AgentMetrics;
use crate::probe::{mask_attempt, run_attempt, Probe};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;
use watchpost_core::config::EndpointConfig;
use watchpost_core::model::{MaintenancePoint, Point, ProbePoint, SeriesKey};

/// Phase offsets: within each group of endpoints sharing an interval, the i-th of n starts at
/// `interval × i / n`.
pub fn phases(intervals: &[Duration]) -> Vec<Duration> {
    let mut groups: BTreeMap<Duration, Vec<usize>> = BTreeMap::new();
    for (i, iv) in intervals.iter().enumerate() {
        groups.entry(*iv).or_default().push(i);
    }
    let mut out = vec![Duration::ZERO; intervals.len()];
    for (iv, members) in groups {
        let n = members.len() as u128;
        for (rank, idx) in members.into_iter().enumerate() {
            let nanos = iv.as_nanos() * rank as u128 / n;
            out[idx] = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        }
    }
    out
}

/// The first grid slot strictly after `after`.
pub fn next_slot(anchor: Instant, interval: Duration, after: Instant) -> Instant {
    if after < anchor {
        return anchor;
    }
    let k = (after - anchor).as_nanos() / interval.as_nanos().max(1) + 1;
    anchor + Duration::from_nanos(u64::try_from(interval.as_nanos() * k).unwrap_or(u64::MAX))
}

/// Everything an endpoint task shares with the others.
pub struct Context {
    pub permits: Arc<Semaphore>,
    pub points: mpsc::Sender<Point>,
    pub metrics: Arc<AgentMetrics>,
    pub maintenance: Arc<crate::maintenance::Schedule>,
    /// Values from the environment, masked in every attempt before it is logged or becomes a point.
    pub masks: watchpost_core::config::Masks,
    /// Whether the agent's own runtime keeps time (see [`crate::load`]).
    pub load: Arc<crate::load::Load>,
    /// Shed slots, logged once a minute with their count.
    pub shed_log: watchpost_core::throttle::Throttle,
}

impl Context {
    fn emit(&self, series: &Arc<SeriesKey>, d: Decided) {
        let a = d.attempt;
        // A check run's steps go out with its probe point: the history shows the run as the point recorded it.
        if let Some(run) = &a.run {
            for (i, st) in run.steps.iter().enumerate() {
                self.send(series, Point::Step(st.point(series, a.start, i)));
            }
        }
        let point = Point::Probe(ProbePoint {
            series: series.clone(),
            ts: a.start,
            availability: d.availability,
            ok: a.ok,
            latency_ms: a.latency_ms,
            dns_ms: a.timings.dns_ms,
            connect_ms: a.timings.connect_ms,
            tls_ms: a.timings.tls_ms,
            ttfb_ms: a.timings.ttfb_ms,
            status_code: a.status_code.map(i64::from),
            cert_days_left: a.cert_days_left,
            error: a.error,
            confirmed_down: d.confirmed_down,
            failed_step: a.run.as_ref().and_then(|r| r.failed_step.clone()),
        });
        self.send(series, point);
    }

    fn send(&self, series: &Arc<SeriesKey>, point: Point) {
        match self.points.try_send(point) {
            Ok(()) => self.metrics.points_enqueued.inc(),
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.metrics.points_dropped_queue_full.get() % 10_000 == 0 {
                    tracing::warn!(endpoint = %series.endpoint, "point queue full: the store is not keeping up; dropping points");
                }
                self.metrics.points_dropped_queue_full.inc();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// What one endpoint's task owns.
pub struct Task {
    pub endpoint: Arc<EndpointConfig>,
    pub series: Arc<SeriesKey>,
    pub probe: Arc<dyn Probe>,
    /// Its last probe on `/metrics`.
    pub slot: Arc<crate::probe_metrics::Slot>,
}

/// One endpoint's loop. Returns when `shutdown` turns true, after writing what its confirmer still holds.
pub async fn run_endpoint(task: Task, anchor: Instant, ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let Task { endpoint, series, probe, slot } = task;
    let mut confirmer = Confirmer::new(endpoint.failure_threshold, endpoint.success_threshold);
    let mut due = anchor;
    // A streak being confirmed is never shed: its retries decide whether the target is down.
    let mut decision_pending = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        // A slot inside a maintenance window is not probed; its `maintenance` point stands for it. Misses
        // still pending confirmation are written as they are: the window interrupts the streak.
        let slot_ts = watchpost_core::time::now_nanos();
        if ctx.maintenance.covers(&endpoint.id, &series.component, slot_ts) {
            for p in confirmer.flush() {
                ctx.emit(&series, p);
            }
            ctx.metrics.maintenance_slots.inc();
            ctx.send(
                &series,
                Point::Maintenance(MaintenancePoint {
                    endpoint: endpoint.id.clone(),
                    region: series.region.clone(),
                    ts: slot_ts,
                    active: true,
                }),
            );
            due = next_slot(anchor, endpoint.interval, due.max(Instant::now()));
            continue;
        }
        let permit = tokio::select! {
            p = ctx.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let started = Instant::now();
        let late = started.saturating_duration_since(due);
        ctx.metrics.record_lateness(late);
        if late > endpoint.timeout && decision_pending == 0 {
            // Shed: this slot starts later than its own timeout, so the agent is far behind (starved of CPU, or
            // more probes than it can run). Starting it would add to the load and measure our delay, not the
            // target; the slot is skipped and counted, and the next one is on the grid.
            drop(permit);
            ctx.metrics.shed_slots.inc();
            // One line a minute for the whole agent: thousands of endpoints shed at once.
            if let Some(slots) = ctx.shed_log.note("") {
                tracing::warn!(endpoint = %endpoint.id, slots, late_ms = late.as_millis() as u64,
                    "the agent is overloaded: probe slots skipped (shed) rather than started late (logged at most once a minute)");
            }
            due = next_slot(anchor, endpoint.interval, Instant::now());
            continue;
        }
        ctx.metrics.in_flight.add(1);
        let probe_started = std::time::Instant::now();
        let mut attempt = mask_attempt(run_attempt(&*probe, &endpoint.assertions, endpoint.timeout).await, &ctx.masks);
        ctx.metrics.in_flight.add(-1);
        drop(permit);
        if attempt.error == Some(watchpost_core::model::ErrorClass::Timeout) {
            // Two signs that the agent, not the target, was slow: the load monitor woke late while the attempt
            // ran, or the attempt's own timer fired well after its timeout (the runtime did not get to it).
            let overran = probe_started.elapsed().saturating_sub(endpoint.timeout);
            let own_lag = (overran > crate::load::LAG_LIMIT).then_some(overran.as_millis() as u64);
            if let Some(lag) = ctx.load.lagged_since(probe_started).or(own_lag) {
                // The agent itself stalled while this attempt ran: the timeout says nothing about the target.
                ctx.metrics.inconclusive.inc();
                attempt.error = Some(watchpost_core::model::ErrorClass::Internal);
                attempt.detail =
                    format!("timed out while the agent was overloaded (its runtime ran {lag} ms late): not counted against the target");
            }
        }

        ctx.metrics.probes.inc();
        if let Some(class) = attempt.error {
            ctx.metrics.failure(class);
            tracing::debug!(endpoint = %endpoint.id, error = %class, detail = %attempt.detail, "probe missed");
        }
        let (first_ts, class, detail) = (attempt.start, attempt.error, attempt.detail.clone());
        slot.record(&attempt, confirmer.state() == State::Down);
        let decision = confirmer.observe(attempt);
        decision_pending = confirmer.pending();
        if let Some((from, to)) = decision.transition {
            slot.set_confirmed_down(to == State::Down);
            let since = decision.points.first().map_or(first_ts, |p| p.attempt.start);
            let since = watchpost_core::time::format_rfc3339(since);
            match to {
                State::Down => {
                    ctx.metrics.endpoints_down.add(1);
                    tracing::warn!(endpoint = %endpoint.id, region = %series.region, from = from.as_str(), to = to.as_str(),
                        error = class.map(|c| c.as_str()).unwrap_or(""), detail = %detail, since = %since, "endpoint confirmed down");
                }
                State::Up => {
                    ctx.metrics.endpoints_down.add(-1);
                    tracing::info!(endpoint = %endpoint.id, region = %series.region, from = from.as_str(), to = to.as_str(), since = %since, "endpoint recovered");
                }
            }
        }
        for p in decision.points {
            ctx.emit(&series, p);
        }
        due = match decision.next {
            Next::Retry => started + endpoint.retry_interval,
            Next::Interval => {
                let next = next_slot(anchor, endpoint.interval, due);
                let now = Instant::now();
                if next < now {
                    let resumed = next_slot(anchor, endpoint.interval, now);
                    let skipped = (resumed - next).as_nanos() / endpoint.interval.as_nanos().max(1);
                    ctx.metrics.skipped_slots.add(u64::try_from(skipped).unwrap_or(u64::MAX));
                    resumed
                } else {
                    next
                }
            }
        };
    }
    for p in confirmer.flush() {
        ctx.emit(&series, p);
    }
    if confirmer.state() == State::Down {
        ctx.metrics.endpoints_down.add(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Observation, ProbeFailure};
    use std::sync::Mutex;
    use watchpost_core::config::{ProbeConfig, TcpProbeConfig};
    use watchpost_core::model::ErrorClass;

    /// Records when each probe started and ended (tokio's paused clock), takes `busy`, and fails on demand.
    struct FakeProbe {
        busy: Duration,
        log: Mutex<Vec<(Instant, Instant)>>,
        fail_from: usize,
    }

    #[async_trait::async_trait]
    impl Probe for FakeProbe {
        async fn observe(&self) -> Result<Observation, ProbeFailure> {
            let start = Instant::now();
            tokio::time::sleep(self.busy).await;
            let n = {
                let mut log = self.log.lock().unwrap();
                log.push((start, Instant::now()));
                log.len()
            };
            if n > self.fail_from {
                Err(ProbeFailure::new(ErrorClass::ConnectRefused, "down"))
            } else {
                Ok(Observation::default())
            }
        }
    }

    fn endpoint(interval_ms: u64, timeout_ms: u64, retry_ms: u64) -> Arc<EndpointConfig> {
        Arc::new(EndpointConfig {
            id: "e".into(),
            name: "e".into(),
            component: None,
            tags: vec![],
            labels: Default::default(),
            depends_on: vec![],
            environment: "p".into(),
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(timeout_ms),
            retry_interval: Duration::from_millis(retry_ms),
            failure_threshold: 3,
            success_threshold: 1,
            probe: ProbeConfig::Tcp(TcpProbeConfig { host: "x".into(), port: 1, send: None, expect: None }),
            assertions: vec![],
        })
    }

    async fn drive(ep: Arc<EndpointConfig>, probe: Arc<FakeProbe>, phase: Duration, run_for: Duration) -> (Instant, Vec<Point>) {
        drive_with(ep, probe, phase, run_for, Arc::default()).await
    }

    async fn drive_with(
        ep: Arc<EndpointConfig>,
        probe: Arc<FakeProbe>,
        phase: Duration,
        run_for: Duration,
        maintenance: Arc<crate::maintenance::Schedule>,
    ) -> (Instant, Vec<Point>) {
        let (tx, mut rx) = mpsc::channel(1000);
        let ctx = Arc::new(Context {
            permits: Arc::new(Semaphore::new(10)),
            points: tx,
            metrics: Arc::new(AgentMetrics::default()),
            maintenance,
            masks: Default::default(),
            load: crate::load::Load::new(),
            shed_log: Default::default(),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let series = Arc::new(SeriesKey { endpoint: "e".into(), region: "r".into(), component: String::new(), environment: "p".into() });
        let start = Instant::now();
        let slot = ctx.metrics.last_probes.register(&series, "tcp");
        let task = tokio::spawn(run_endpoint(Task { endpoint: ep, series, probe, slot }, start + phase, ctx, stop_rx));
        tokio::time::sleep(run_for).await;
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        let mut points = Vec::new();
        while let Ok(p) = rx.try_recv() {
            points.push(p);
        }
        (start, points)
    }

    #[tokio::test(start_paused = true)]
    async fn fires_on_a_fixed_phase_without_drift_or_overlap() {
        // Each probe takes 300 ms of a 1 s interval: slots must stay at phase + k s regardless.
        let probe = Arc::new(FakeProbe { busy: Duration::from_millis(300), log: Mutex::new(vec![]), fail_from: usize::MAX });
        let (start, points) =
            drive(endpoint(1000, 500, 200), probe.clone(), Duration::from_millis(250), Duration::from_millis(10_100)).await;
        let log = probe.log.lock().unwrap().clone();
        assert_eq!(log.len(), 10, "slots at 0.25, 1.25, …, 9.25 s");
        for (k, (s, _)) in log.iter().enumerate() {
            assert_eq!(*s - start, Duration::from_millis(250 + 1000 * k as u64), "slot {k}");
        }
        for w in log.windows(2) {
            assert!(w[1].0 >= w[0].1, "probes of one endpoint never overlap");
        }
        assert_eq!(points.len(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_sooner_after_a_miss_then_resumes_the_grid() {
        // Two successes, then misses: retries at +200 ms until the third miss confirms, then the grid again.
        let probe = Arc::new(FakeProbe { busy: Duration::from_millis(10), log: Mutex::new(vec![]), fail_from: 2 });
        let (start, points) = drive(endpoint(1000, 500, 200), probe.clone(), Duration::ZERO, Duration::from_millis(4_500)).await;
        let starts: Vec<u64> = probe.log.lock().unwrap().iter().map(|(s, _)| (*s - start).as_millis() as u64).collect();
        assert_eq!(starts, vec![0, 1000, 2000, 2200, 2400, 3000, 4000]);
        let avail: Vec<f64> = points.iter().map(|p| if let Point::Probe(p) = p { p.availability } else { -1.0 }).collect();
        assert_eq!(avail, vec![100.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_overruns_skips_slots_instead_of_overlapping() {
        let probe = Arc::new(FakeProbe { busy: Duration::from_millis(2500), log: Mutex::new(vec![]), fail_from: usize::MAX });
        // Timeout larger than the probe so it completes; slots at 0, 3 (1 and 2 skipped), 6.
        let mut ep = (*endpoint(1000, 5000, 200)).clone();
        ep.timeout = Duration::from_secs(5);
        let (start, _) = drive(Arc::new(ep), probe.clone(), Duration::ZERO, Duration::from_millis(6_100)).await;
        let starts: Vec<u64> = probe.log.lock().unwrap().iter().map(|(s, _)| (*s - start).as_millis() as u64).collect();
        assert_eq!(starts, vec![0, 3000, 6000]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_maintenance_window_replaces_probes_with_maintenance_points() {
        use watchpost_core::maintenance::{Scope, Window};
        // A window covering the endpoint from now on (wall clock), lifted after 3 s of the paused clock.
        let schedule = Arc::new(crate::maintenance::Schedule::default());
        let now = watchpost_core::time::now_nanos();
        let window = |scope| Window {
            id: "w".into(),
            title: "w".into(),
            detail: String::new(),
            start: now - 1,
            end: now + 3_600_000_000_000,
            scope,
            source: "test".into(),
        };
        schedule.replace(vec![window(Scope::Endpoints(["other".to_string()].into())), window(Scope::All)]);
        let lift = {
            let schedule = schedule.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2_500)).await;
                schedule.replace(vec![]);
            })
        };
        let probe = Arc::new(FakeProbe { busy: Duration::from_millis(10), log: Mutex::new(vec![]), fail_from: usize::MAX });
        let (start, points) =
            drive_with(endpoint(1000, 500, 200), probe.clone(), Duration::ZERO, Duration::from_millis(5_500), schedule).await;
        lift.await.unwrap();
        let starts: Vec<u64> = probe.log.lock().unwrap().iter().map(|(s, _)| (*s - start).as_millis() as u64).collect();
        assert_eq!(starts, vec![3000, 4000, 5000], "slots at 0, 1 and 2 s fell in the window");
        let kinds: Vec<&str> = points.iter().map(|p| if matches!(p, Point::Maintenance(_)) { "m" } else { "p" }).collect();
        assert_eq!(kinds, vec!["m", "m", "m", "p", "p", "p"]);
    }

    #[test]
    fn phases_spread_each_interval_group_evenly() {
        let s = Duration::from_secs;
        let p = phases(&[s(5), s(5), s(10), s(5), s(5)]);
        assert_eq!(
            p,
            vec![Duration::ZERO, Duration::from_millis(1250), Duration::ZERO, Duration::from_millis(2500), Duration::from_millis(3750)]
        );
    }
}
