//! Raw probe points read back from the store, counted per consumer: the read side of issue 19's read
//! amplification (points read by a consumer ÷ points written), exported on `/metrics`.
//!
//! Why a task-local rather than a store per consumer: the parts of one process share one store (and, on
//! InfluxDB, one cache of the latest states), so the count has to follow the task that asks, not the store.
//! Each long-running consumer runs its loop inside [`scope`]; a backend calls [`count`] with the rows it
//! read, and the count lands on whichever consumer's task made the read (on [`Consumer::Other`] outside any,
//! such as a command). Only raw probe rows count: the state and rollup rows a consumer reads are one per
//! series and window, not one per probe.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// Who reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    Aggregator,
    Publishers,
    Alerting,
    StatusPage,
    Other,
}

impl Consumer {
    pub const ALL: [Consumer; 5] = [Consumer::Aggregator, Consumer::Publishers, Consumer::Alerting, Consumer::StatusPage, Consumer::Other];

    /// The `consumer` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Consumer::Aggregator => "aggregator",
            Consumer::Publishers => "publishers",
            Consumer::Alerting => "alerting",
            Consumer::StatusPage => "statuspage",
            Consumer::Other => "other",
        }
    }
}

static READ: [AtomicU64; 5] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// New points each consumer found in the write log (`Store::feed`): how many were written, as it saw them.
static FED: [AtomicU64; 5] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

tokio::task_local! {
    static CONSUMER: Consumer;
}

/// Runs `fut` with the store reads it makes counted as `consumer`'s. Tasks it spawns are not in the scope.
pub async fn scope<F: Future>(consumer: Consumer, fut: F) -> F::Output {
    CONSUMER.scope(consumer, fut).await
}

/// Counts `rows` raw probe rows read by the current task's consumer. Called by the backends, in the task
/// that asked (not in a blocking thread, which has no scope).
pub fn count(rows: usize) {
    let consumer = CONSUMER.try_with(|c| *c).unwrap_or(Consumer::Other);
    READ[consumer as usize].fetch_add(rows as u64, Ordering::Relaxed);
}

/// Counts `points` new points the current task's consumer found in the write log. Called by the backends.
pub fn fed(points: usize) {
    let consumer = CONSUMER.try_with(|c| *c).unwrap_or(Consumer::Other);
    FED[consumer as usize].fetch_add(points as u64, Ordering::Relaxed);
}

/// Points written since start as this process knows them: by its agent when it runs one (`agent_written`),
/// else by the write log as the consumer that followed it furthest saw it; `None` when it knows neither.
fn written(agent_written: Option<u64>) -> Option<u64> {
    agent_written.or_else(|| FED.iter().map(|f| f.load(Ordering::Relaxed)).max()).filter(|w| *w > 0)
}

/// Raw probe rows `consumer` has read since start.
pub fn read(consumer: Consumer) -> u64 {
    READ[consumer as usize].load(Ordering::Relaxed)
}

/// `watchpost_store_points_read_total{consumer}` for every consumer that has read, and
/// `watchpost_read_amplification{consumer}`: points read ÷ points written, where written is counted by this
/// process's agent (`agent_written`) or, without one, by the write log its consumers follow. Across processes
/// the same ratio is `rate(watchpost_store_points_read_total[5m])` over the sum of the agents'
/// `rate(watchpost_points_written_total[5m])`.
pub fn render(out: &mut String, agent_written: Option<u64>) {
    use std::fmt::Write as _;
    let read: Vec<(Consumer, u64)> = Consumer::ALL.iter().map(|c| (*c, read(*c))).filter(|(_, n)| *n > 0).collect();
    out.push_str("# HELP watchpost_store_points_read_total Raw probe points read back from the store, by consumer.\n");
    out.push_str("# TYPE watchpost_store_points_read_total counter\n");
    for (c, n) in &read {
        let _ = writeln!(out, "watchpost_store_points_read_total{{consumer=\"{}\"}} {n}", c.as_str());
    }
    let Some(written) = written(agent_written) else { return };
    out.push_str(
        "# HELP watchpost_read_amplification Raw points read by each consumer per point written since start (1 = each point read once).\n",
    );
    out.push_str("# TYPE watchpost_read_amplification gauge\n");
    for (c, n) in &read {
        let _ = writeln!(out, "watchpost_read_amplification{{consumer=\"{}\"}} {}", c.as_str(), *n as f64 / written as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_land_on_the_consumer_whose_task_made_them() {
        let before = (read(Consumer::Alerting), read(Consumer::StatusPage), read(Consumer::Other));
        scope(Consumer::Alerting, async { count(7) }).await;
        scope(Consumer::StatusPage, async {
            count(2);
            // A nested scope is its own consumer's.
            scope(Consumer::Alerting, async { count(1) }).await;
        })
        .await;
        count(3);
        assert_eq!(read(Consumer::Alerting) - before.0, 8);
        assert_eq!(read(Consumer::StatusPage) - before.1, 2);
        assert!(read(Consumer::Other) - before.2 >= 3);
        scope(Consumer::Alerting, async { fed(5) }).await;
        assert!(written(None) >= Some(5), "without an agent, the write log counts what was written");
        let mut out = String::new();
        render(&mut out, None);
        assert!(out.contains("watchpost_read_amplification{consumer=\"alerting\"}"), "{out}");
        let mut out = String::new();
        render(&mut out, Some(4));
        assert!(out.contains("watchpost_store_points_read_total{consumer=\"alerting\"}"), "{out}");
        assert!(out.contains("watchpost_read_amplification{consumer=\"alerting\"}"), "{out}");
    }
}
