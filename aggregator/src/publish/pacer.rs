//! One publisher's request pacing: `requests_per_second` apart, and everything held back after a 429 or
//! an outage.

use super::*;

/// Spaces a publisher's requests `1 / requests_per_second` apart, and holds them all back after a 429 or
/// an outage.
pub struct Pacer {
    gap: Duration,
    next: Instant,
    backoff: Option<backon::ExponentialBackoff>,
}

impl Pacer {
    pub fn new(requests_per_second: f64) -> Pacer {
        Pacer { gap: Duration::from_secs_f64(1.0 / requests_per_second), next: Instant::now(), backoff: None }
    }

    /// When the next request may go.
    pub fn ready_at(&self) -> Instant {
        self.next
    }

    /// Takes the next slot.
    pub fn take(&mut self) {
        self.next = self.next.max(Instant::now()) + self.gap;
    }

    pub fn succeeded(&mut self) {
        self.backoff = None;
    }

    /// A failure: nothing goes before `retry_after` (when the provider said) or the next backoff step.
    pub fn failed(&mut self, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff.get_or_insert_with(|| {
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_secs(1))
                .with_max_delay(MAX_BACKOFF)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times()
                .build()
        });
        // Capped after backon's jitter, which it adds on top of its own cap.
        let step = backoff.next().unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF);
        let wait = retry_after.map_or(step, |r| r.max(self.gap));
        self.next = Instant::now() + wait;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_requests_and_waits_out_a_429() {
        let mut p = Pacer::new(1.0);
        let t0 = Instant::now();
        p.take();
        p.take();
        assert_eq!(p.ready_at() - t0, Duration::from_secs(2), "two requests, the third waits two seconds");
        let wait = p.failed(Some(Duration::from_secs(30)));
        assert_eq!(wait, Duration::from_secs(30), "Retry-After is honoured");
        let first = p.failed(None);
        let second = p.failed(None);
        assert!(first >= Duration::from_secs(1) && second >= Duration::from_secs(2), "{first:?} then {second:?}: it backs off");
        p.succeeded();
        assert!(p.failed(None) <= Duration::from_secs(2), "a success resets the backoff");
    }
}
