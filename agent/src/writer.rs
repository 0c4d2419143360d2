//! The batching writer: points leave the probe loop through a bounded queue and reach the store here, in
//! batches bounded by size and age. The probe loop never waits on the store (DESIGN.md §2): when the queue
//! is full the point is counted as dropped rather than blocking a probe.

use crate::metrics::AgentMetrics;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use watchpost_core::model::Point;
use watchpost_core::store::{Store, StoreError};

/// How long the writer keeps retrying one batch once the agent is shutting down.
const SHUTDOWN_RETRY_BUDGET: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct WriterConfig {
    pub max_points: usize,
    pub max_age: Duration,
}

/// Runs until every sender is dropped and the queue is drained; the last batch is flushed before returning.
pub async fn run(mut rx: mpsc::Receiver<Point>, store: Arc<dyn Store>, cfg: WriterConfig, metrics: Arc<AgentMetrics>) {
    let mut batch: Vec<Point> = Vec::with_capacity(cfg.max_points);
    loop {
        if rx.recv_many(&mut batch, cfg.max_points).await == 0 {
            break; // closed and drained
        }
        let deadline = tokio::time::Instant::now() + cfg.max_age;
        let mut closed = false;
        while batch.len() < cfg.max_points {
            let room = cfg.max_points - batch.len();
            tokio::select! {
                n = rx.recv_many(&mut batch, room) => if n == 0 { closed = true; break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        metrics.queue_depth.set(i64::try_from(rx.len()).unwrap_or(i64::MAX));
        flush(&*store, &batch, &metrics, closed || rx.is_closed()).await;
        batch.clear();
        if closed {
            break;
        }
    }
    metrics.queue_depth.set(0);
}

async fn flush(store: &dyn Store, batch: &[Point], metrics: &AgentMetrics, closing: bool) {
    let mut backoff = Duration::from_millis(100);
    let first_try = Instant::now();
    loop {
        let t = Instant::now();
        match store.write(batch).await {
            Ok(()) => {
                metrics.write_duration.observe(t.elapsed());
                metrics.write_batches.inc();
                metrics.points_written.add(batch.len() as u64);
                return;
            }
            Err(StoreError::Rejected { points, message }) => {
                // The store refused part of the batch as invalid and wrote the rest: never resend it.
                metrics.write_batches.inc();
                metrics.points_rejected.add(points);
                metrics.points_written.add((batch.len() as u64).saturating_sub(points));
                tracing::error!(points, store = %store.describe(), message = %message, "the store rejected points; they are dropped");
                return;
            }
            Err(e) => {
                metrics.write_errors.inc();
                let give_up = !e.is_retryable() || (closing && first_try.elapsed() > SHUTDOWN_RETRY_BUDGET);
                if give_up {
                    tracing::error!(points = batch.len(), store = %store.describe(), error = %e, "dropping a batch the store refused");
                    metrics.points_dropped_store.add(batch.len() as u64);
                    return;
                }
                tracing::warn!(points = batch.len(), store = %store.describe(), error = %e, retry_in_ms = backoff.as_millis() as u64, "store write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
