//! The batching writer: points leave the probe loop through a bounded queue and reach the store here, in
//! batches bounded by size and age. The probe loop never waits on the store (DESIGN.md §2): when the queue
//! is full the point is counted as dropped rather than blocking a probe.
//!
//! When the store fails (unreachable, 5xx after the store's own retries, disk errors), batches go to the
//! disk [`Spool`] instead, and live batches keep going there while the store is down, so the writer never
//! stalls on a dead store. The spool is replayed in order, one record at a time, paced to `replay_rate`
//! points per second so that live batches keep their share; a failed replay doubles the wait before the
//! next try (up to 5 s, and at most 2 s while live batches keep coming), which is also how the writer notices
//! that the store is back. A batch the store
//! rejects as invalid is counted and dropped, never retried. At shutdown the last batch goes to the store
//! or, if it is down, to the spool: nothing waits on a dead store.

use crate::metrics::AgentMetrics;
use crate::spool::Spool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use watchpost_core::model::Point;
use watchpost_core::store::{Store, StoreError};

const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two tries of a dead store. It bounds how long after the store returns the spool
/// starts to drain (at 30 s, a 30 s outage could leave the spool untouched for another 30 s, which is how a
/// fault test once found 546 points still pending a minute later); a refused connection every 5 s costs
/// nothing.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// While live batches keep arriving (and so go to the spool), the store is tried at least this often: the
/// status page and `watchpost status` read the store, and they should show what the agent sees within a
/// couple of seconds of the store's return, not a backoff later.
const LIVE_RETRY: Duration = Duration::from_secs(2);

pub struct WriterConfig {
    /// Points are also offered here as they arrive, before batching (alerting in the same process).
    pub tap: Option<tokio::sync::broadcast::Sender<Arc<[Point]>>>,
    pub max_points: usize,
    pub max_age: Duration,
    /// Spool replay pace, points per second.
    pub replay_rate: u64,
}

struct Writer {
    store: Arc<dyn Store>,
    spool: Option<Spool>,
    metrics: Arc<AgentMetrics>,
    replay_rate: u64,
    /// False from a failed write until a replay succeeds.
    healthy: bool,
    backoff: Duration,
    next_replay: Instant,
    pending: u64,
}

/// Runs until every sender is dropped and the queue is drained; the last batch is delivered or spooled.
pub async fn run(mut rx: mpsc::Receiver<Point>, store: Arc<dyn Store>, cfg: WriterConfig, spool: Spool, metrics: Arc<AgentMetrics>) {
    let mut w = Writer {
        store,
        spool: Some(spool),
        metrics,
        replay_rate: cfg.replay_rate.max(1),
        healthy: true,
        backoff: MIN_BACKOFF,
        next_replay: Instant::now(),
        pending: 0,
    };
    w.refresh().await;
    let mut batch: Vec<Point> = Vec::with_capacity(cfg.max_points);
    loop {
        let replay = w.pending > 0;
        // A replay that is due goes first. Under a steady stream of probes the queue is never empty, so the
        // biased select below would pick live batches every time and starve the spool (a 30 s outage took
        // minutes to drain once writes took a little longer): the pace is `replay_rate`, not what is left.
        if replay && Instant::now() >= w.next_replay {
            w.replay_one().await;
            continue;
        }
        tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, cfg.max_points) => {
                if n == 0 {
                    break; // closed and drained
                }
                offer(&cfg.tap, &batch[..n]);
                let deadline = Instant::now() + cfg.max_age;
                while batch.len() < cfg.max_points {
                    let room = cfg.max_points - batch.len();
                    let before = batch.len();
                    tokio::select! {
                        n = rx.recv_many(&mut batch, room) => if n == 0 { break },
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                    offer(&cfg.tap, &batch[before..]);
                }
                w.metrics.queue_depth.set(i64::try_from(rx.len()).unwrap_or(i64::MAX));
                w.deliver(std::mem::replace(&mut batch, Vec::with_capacity(cfg.max_points))).await;
            }
            _ = tokio::time::sleep_until(w.next_replay), if replay => w.replay_one().await,
        }
    }
    w.metrics.queue_depth.set(0);
    if w.pending > 0 {
        tracing::info!(points = w.pending, "points stay in the spool and are replayed at the next start");
    }
}

/// Offers new points to the tap, if anyone listens. Never blocks: a slow listener loses the oldest offers
/// (and reads the store instead), the writer does not wait.
fn offer(tap: &Option<tokio::sync::broadcast::Sender<Arc<[Point]>>>, points: &[Point]) {
    if let Some(tap) = tap.as_ref().filter(|t| t.receiver_count() > 0 && !points.is_empty()) {
        let _ = tap.send(Arc::from(points));
    }
}

impl Writer {
    /// Runs `f` on the spool in tokio's blocking pool (file I/O and fsync) and refreshes the spool gauges.
    async fn with_spool<T: Send + 'static>(&mut self, f: impl FnOnce(&mut Spool) -> T + Send + 'static) -> Option<T> {
        let mut spool = self.spool.take()?;
        let joined = tokio::task::spawn_blocking(move || {
            let out = f(&mut spool);
            let pending = spool.pending();
            (spool, out, pending)
        })
        .await;
        match joined {
            Ok((spool, out, (points, bytes))) => {
                self.spool = Some(spool);
                self.pending = points;
                self.metrics.spool_pending_points.set(i64::try_from(points).unwrap_or(i64::MAX));
                self.metrics.spool_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
                Some(out)
            }
            Err(e) => {
                tracing::error!(error = %e, "the spool task failed; spooling is off until restart");
                None
            }
        }
    }

    async fn refresh(&mut self) {
        self.with_spool(|_| ()).await;
    }

    async fn deliver(&mut self, batch: Vec<Point>) {
        if self.healthy || self.pending == 0 {
            let t = std::time::Instant::now();
            match self.store.write(&batch).await {
                Ok(()) => {
                    self.metrics.write_duration.observe(t.elapsed());
                    self.written(batch.len() as u64);
                    return;
                }
                Err(StoreError::Rejected { points, message }) => return self.rejected(batch.len() as u64, points, &message),
                Err(e) => {
                    self.metrics.write_errors.inc();
                    if self.healthy {
                        tracing::warn!(store = %self.store.describe(), error = %e, "the store is unavailable; spooling batches to disk until it is back");
                    }
                    self.set_healthy(false);
                    self.backoff = MIN_BACKOFF;
                    self.next_replay = Instant::now() + self.backoff;
                }
            }
        }
        if !self.healthy {
            self.next_replay = self.next_replay.min(Instant::now() + LIVE_RETRY);
        }
        self.spool_batch(batch).await;
    }

    async fn spool_batch(&mut self, batch: Vec<Point>) {
        let n = batch.len() as u64;
        match self.with_spool(move |s| s.append(&batch)).await {
            Some(Ok(dropped)) => {
                self.metrics.spool_appended_points.add(n);
                if dropped > 0 {
                    self.metrics.spool_dropped_points.add(dropped);
                    tracing::warn!(dropped, "the spool is full (agent.spool.max_bytes): dropped its oldest points to keep the newest");
                }
            }
            Some(Err(e)) => {
                self.metrics.points_dropped_store.add(n);
                tracing::error!(points = n, error = %e, "cannot spool a batch; its points are lost");
            }
            None => self.metrics.points_dropped_store.add(n),
        }
    }

    async fn replay_one(&mut self) {
        let next = match self.with_spool(|s| s.next_record()).await {
            Some(Ok(Some(next))) => next,
            Some(Ok(None)) | None => return,
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot read the spool");
                self.next_replay = Instant::now() + MAX_BACKOFF;
                return;
            }
        };
        let (ticket, points) = next;
        let n = points.len() as u64;
        match self.store.write(&points).await {
            Ok(()) => {
                self.written(n);
                self.metrics.spool_replayed_points.add(n);
            }
            Err(StoreError::Rejected { points: bad, message }) => self.rejected(n, bad, &message),
            Err(e) => {
                self.metrics.write_errors.inc();
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                self.next_replay = Instant::now() + self.backoff;
                tracing::debug!(error = %e, retry_in_ms = self.backoff.as_millis() as u64, "the store is still unavailable");
                return;
            }
        }
        if let Some(Err(e)) = self.with_spool(move |s| s.commit(ticket)).await {
            tracing::error!(error = %e, "cannot advance the spool cursor; the record may be replayed again");
        }
        if !self.healthy {
            tracing::info!(store = %self.store.describe(), spooled = self.pending + n, "the store is back; replaying the spool");
            self.set_healthy(true);
        }
        self.backoff = MIN_BACKOFF;
        // Pace: n points at replay_rate per second, so live batches keep their share of the store.
        self.next_replay = Instant::now() + Duration::from_secs_f64(n as f64 / self.replay_rate as f64);
        if self.pending == 0 {
            tracing::info!("spool replayed");
        }
    }

    fn written(&self, n: u64) {
        self.metrics.write_batches.inc();
        self.metrics.points_written.add(n);
    }

    fn rejected(&self, total: u64, bad: u64, message: &str) {
        // The store refused part of the batch as invalid and wrote the rest: never resend it.
        self.written(total.saturating_sub(bad));
        self.metrics.points_rejected.add(bad);
        tracing::error!(points = bad, store = %self.store.describe(), message = %message, "the store rejected points; they are dropped");
    }

    fn set_healthy(&mut self, up: bool) {
        self.healthy = up;
        self.metrics.store_up.set(i64::from(up));
    }
}
