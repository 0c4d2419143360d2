//! Whether the agent itself keeps up (issue 17, defect 16): a monitor that notices when its own runtime runs
//! late (its timers fire late because the agent is starved of CPU or has more work than cores), so that a
//! timeout in that time is not blamed on the target.
//!
//! A monitor is a task that sleeps [`TICK`] and measures how much later it woke. A lag above [`LAG_LIMIT`]
//! marks the time as overloaded. The scheduler asks [`Load::lagged_since`] when an attempt timed out: if the
//! agent lagged while the attempt ran, the timeout is inconclusive (`internal`), and the confirmer never
//! counts it towards an outage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the monitor wakes.
pub const TICK: Duration = Duration::from_millis(50);
/// A wake-up later than this means the runtime is not keeping time: a probe timing out now may be our fault.
pub const LAG_LIMIT: Duration = Duration::from_millis(100);

pub struct Load {
    base: Instant,
    /// When (ms after `base`) the monitor last woke up late; 0 if never.
    last_lag_ms: AtomicU64,
    /// That lag, in ms.
    lag_ms: AtomicU64,
}

impl Load {
    pub fn new() -> Arc<Load> {
        Arc::new(Load { base: Instant::now(), last_lag_ms: AtomicU64::new(0), lag_ms: AtomicU64::new(0) })
    }

    fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Records that the runtime woke `lag` late at `now`.
    pub fn record(&self, now: Instant, lag: Duration) {
        if lag > LAG_LIMIT {
            self.last_lag_ms.store(self.ms(now), Ordering::Relaxed);
            self.lag_ms.store(u64::try_from(lag.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }

    /// The lag (ms) of a late wake-up at or after `since`, if there was one: a late wake-up ends a stretch
    /// in which the runtime did not run, which overlaps anything that started before it ended.
    pub fn lagged_since(&self, since: Instant) -> Option<u64> {
        let last = self.last_lag_ms.load(Ordering::Relaxed);
        (last != 0 && last >= self.ms(since)).then(|| self.lag_ms.load(Ordering::Relaxed))
    }

    /// Wakes every [`TICK`] and records how late, until `stop`.
    pub async fn watch(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let asked = Instant::now();
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let now = Instant::now();
            self.record(now, now.saturating_duration_since(asked).saturating_sub(TICK));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_wake_up_marks_what_ran_before_it() {
        let load = Load::new();
        let before = Instant::now();
        assert_eq!(load.lagged_since(before), None);
        load.record(Instant::now(), Duration::from_millis(30));
        assert_eq!(load.lagged_since(before), None, "a small lag is normal");
        std::thread::sleep(Duration::from_millis(5));
        load.record(Instant::now(), Duration::from_millis(400));
        assert_eq!(load.lagged_since(before), Some(400), "an attempt that started before the late wake-up");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(load.lagged_since(Instant::now()), None, "one that started after it");
    }
}
