//! The delivery worker: takes due deliveries from the outbox in the state database, sends them through their
//! notifier (up to [`CONCURRENCY`] at once: a thousand pages at once must not queue behind each other), and
//! records every answer.
//!
//! Crash safety: a delivery is claimed for [`CLAIM`] before it is sent and marked sent only after the
//! provider answered. A crash before the request leaves it claimed, and it is sent when the claim runs out;
//! a crash after the request but before the record sends it once more, with the same `dedup_key` / `alias`,
//! which the provider folds into the same incident. That is the only repeat there can be.
//!
//! Retries: 429, 5xx and network errors, with exponential backoff and jitter (`backon`: 1 s doubling, at
//! most `alerting.retry_max_delay` apart, 5 min by default), waiting at least what `Retry-After` asks; after [`GIVE_UP`] a page is no longer
//! useful and is marked failed (logged as an error). Any other answer fails at once.

use crate::event::AlertEvent;
use crate::metrics::AlertingMetrics;
use crate::notify::{Notifier, Outcome};
use backon::BackoffBuilder;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use watchpost_core::state::{Delivery, StateDb};
use watchpost_core::time::{duration_nanos, now_nanos};

/// How long a claimed delivery is left to this process before another (or this one after a restart) may
/// take it: longer than any one attempt (HTTP 10 s, SMTP 15 s), short enough that a page interrupted by a
/// crash goes out again within half a minute.
pub const CLAIM: Duration = Duration::from_secs(30);
pub const CONCURRENCY: usize = 64;
pub const GIVE_UP: Duration = Duration::from_secs(24 * 3600);
const BATCH: usize = 256;

/// The wait before attempt `attempts + 1`, given the provider's `Retry-After`, backing off up to `max`.
pub fn retry_delay(attempts: u32, retry_after: Option<Duration>, max: Duration) -> Duration {
    let backoff = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempts.saturating_sub(1) as usize)
        .unwrap_or(max)
        // backon adds its jitter after its own cap, so a delay could reach twice the maximum: the user's
        // `retry_max_delay` is a maximum.
        .min(max);
    // The provider knows best when it takes requests again; an absurd answer is capped at an hour.
    backoff.max(retry_after.unwrap_or_default().min(Duration::from_secs(3600)))
}

pub struct Outbox {
    pub state: Arc<StateDb>,
    pub notifiers: HashMap<String, Arc<dyn Notifier>>,
    pub wake: Arc<Notify>,
    pub metrics: Arc<AlertingMetrics>,
    pub max_delay: Duration,
}

impl Outbox {
    /// Sends what is due until `stop`.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let sent = self.pass().await;
            if sent >= BATCH {
                continue;
            }
            let now = now_nanos();
            let next = match self.state.next_delivery_at().await {
                Ok(Some(at)) => Duration::from_nanos((at - now).clamp(0, 1_000_000_000) as u64),
                _ => Duration::from_secs(1),
            };
            tokio::select! {
                _ = tokio::time::sleep(next) => {}
                _ = self.wake.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One batch: claim, send concurrently, record. Returns how many were claimed.
    pub async fn pass(self: &Arc<Self>) -> usize {
        let due = match self.state.claim_deliveries(now_nanos(), duration_nanos(CLAIM), BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the alert outbox; retrying");
                return 0;
            }
        };
        let n = due.len();
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for d in due {
            let me = self.clone();
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                me.deliver(d).await;
            });
        }
        while tasks.join_next().await.is_some() {}
        n
    }

    async fn deliver(&self, d: Delivery) {
        let now = now_nanos();
        let outcome = match (self.notifiers.get(&d.notifier), serde_json::from_str::<AlertEvent>(&d.event)) {
            (None, _) => Outcome::Failed(format!("notifier `{}` is no longer configured", d.notifier)),
            (_, Err(e)) => Outcome::Failed(format!("unreadable event: {e}")),
            (Some(n), Ok(event)) => n.send(&event).await,
        };
        let done = now_nanos();
        let result = match &outcome {
            Outcome::Sent(answer) => {
                self.metrics.delivered.inc();
                tracing::info!(alert = %d.alert, notifier = %d.notifier, action = %d.action, attempts = d.attempts + 1, answer = %answer, "alert delivered");
                Ok(answer.clone())
            }
            Outcome::Retry { answer, after } if done - d.created_at < duration_nanos(GIVE_UP) => {
                self.metrics.retried.inc();
                let wait = retry_delay(d.attempts + 1, *after, self.max_delay);
                tracing::warn!(alert = %d.alert, notifier = %d.notifier, action = %d.action, attempts = d.attempts + 1,
                    retry_in_ms = wait.as_millis() as u64, answer = %answer, "alert delivery failed; will retry");
                Err((answer.clone(), Some(done + duration_nanos(wait))))
            }
            Outcome::Retry { answer, .. } | Outcome::Failed(answer) => {
                self.metrics.failed.inc();
                tracing::error!(alert = %d.alert, notifier = %d.notifier, action = %d.action, attempts = d.attempts + 1, answer = %answer,
                    "alert delivery failed for good");
                Err((answer.clone(), None))
            }
        };
        self.metrics.delivery_seconds.observe(Duration::from_nanos((done - now).max(0) as u64));
        if let Err(e) = self.state.record_alert_delivery(d.id, result, done).await {
            // The claim runs out and the delivery is sent again, with the same dedup key.
            tracing::warn!(error = %e, alert = %d.alert, "cannot record a delivery; it will be sent again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_with_jitter_and_respect_retry_after() {
        let max = Duration::from_secs(300);
        for attempt in 1..=12 {
            let d = retry_delay(attempt, None, max);
            assert!(d >= Duration::from_secs(1) && d <= max, "{attempt}: {d:?}");
        }
        assert!(retry_delay(8, None, max) > retry_delay(1, None, max));
        assert!(retry_delay(1, Some(Duration::from_secs(30)), max) >= Duration::from_secs(30));
        assert!(retry_delay(1, Some(Duration::from_secs(86_400)), max) <= Duration::from_secs(3600));
    }

    /// Issue 17, defect 6: with `retry_max_delay = "2s"`, waits of 3.6-4 s were seen (jitter added after the cap).
    #[test]
    fn regression_retry_max_delay_is_a_maximum() {
        let max = Duration::from_secs(2);
        // Jitter is random: many draws at every attempt, so one that overshoots is all but certain to show.
        for attempt in 1..=8 {
            for _ in 0..200 {
                let d = retry_delay(attempt, None, max);
                assert!(d <= max, "attempt {attempt}: waited {d:?}, more than retry_max_delay {max:?}");
            }
        }
        // The provider's Retry-After still wins over our maximum.
        assert_eq!(retry_delay(3, Some(Duration::from_secs(10)), max), Duration::from_secs(10));
    }
}
