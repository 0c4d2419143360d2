//! Delivers the subscriber outbox: email through SMTP (lettre, rustls), webhooks through HTTP POST signed
//! with HMAC-SHA256. A message is in the state database before any attempt, so a restart or an outage of
//! the mail server loses none; each attempt is recorded.
//!
//! Retries: SMTP's transient replies (4xx) and connection failures, and HTTP 429, 5xx and network errors, are
//! retried with exponential backoff and jitter (5 s doubling, at most an hour apart, [`MAX_ATTEMPTS`] in
//! all); a permanent SMTP reply (5xx: no such mailbox) or any other HTTP 4xx gives up at once, because
//! sending the same message again cannot succeed.

use crate::subscribers::{Notification, SubscriberKind};
use crate::StatusPage;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::time::{now_nanos, Nanos};

pub const MAX_ATTEMPTS: u32 = 12;
const TIMEOUT: Duration = watchpost_core::mail::TIMEOUT;
/// Messages sent per pass; the next pass starts at once when the batch was full.
const BATCH: usize = 50;

/// Why an attempt failed, and whether another may succeed.
#[derive(Debug)]
pub struct Failure {
    pub reason: String,
    pub retry: bool,
}

pub struct Deliverer {
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    http: reqwest::Client,
    secret: String,
}

impl Deliverer {
    /// `None` when the page has no subscriptions. An SMTP configuration that cannot be used (a sender lettre
    /// does not accept) is logged, and email stays queued until it is fixed.
    pub fn new(page: &StatusPage) -> Option<Self> {
        let subs = page.cfg.subscriptions.as_ref()?;
        let smtp = subs.smtp.as_ref().and_then(|s| match watchpost_core::mail::transport(s) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, host = %s.host, "subscriber email is off: the SMTP settings are unusable");
                None
            }
        });
        let http = watchpost_core::http::client(TIMEOUT).redirect(reqwest::redirect::Policy::none()).build().ok()?;
        Some(Deliverer { smtp, http, secret: subs.secret.expose().to_string() })
    }

    async fn send(&self, n: &Notification) -> Result<(), Failure> {
        match n.subscriber.kind {
            SubscriberKind::Email => self.email(n).await,
            SubscriberKind::Webhook => self.webhook(n).await,
        }
    }

    async fn email(&self, n: &Notification) -> Result<(), Failure> {
        let Some((transport, from)) = &self.smtp else { return Err(Failure { reason: "email is not configured".into(), retry: true }) };
        let to: Mailbox = n.subscriber.address.parse().map_err(|e| Failure { reason: format!("bad address: {e}"), retry: false })?;
        let mut builder = Message::builder().from(from.clone()).to(to).subject(&n.subject);
        // RFC 2369 and RFC 8058: mail clients show an unsubscribe button that posts to the signed link.
        if let Some(link) = n.body.lines().rev().find_map(|l| l.strip_prefix("Unsubscribe: ")) {
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{link}>")))
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click".into()));
        }
        let message =
            builder.body(n.body.clone()).map_err(|e| Failure { reason: format!("cannot build the message: {e}"), retry: false })?;
        match transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(Failure { reason: format!("smtp: {e}"), retry: !e.is_permanent() }),
        }
    }

    async fn webhook(&self, n: &Notification) -> Result<(), Failure> {
        let unix = now_nanos() / 1_000_000_000;
        let sig = watchpost_core::sign::webhook_signature(&self.secret, unix, &n.body);
        let resp = self
            .http
            .post(&n.subscriber.address)
            .header("content-type", "application/json")
            .header("user-agent", "watchpost-statuspage")
            .header("x-watchpost-signature", sig)
            .body(n.body.clone())
            .send()
            .await
            .map_err(|e| Failure { reason: format!("webhook: {}", watchpost_core::http::error_text(&e)), retry: true })?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure { reason: format!("webhook answered {status}"), retry: status.as_u16() == 429 || status.is_server_error() })
        }
    }
}

/// When to try again after `attempts` failed attempts: 5 s doubling, at most an hour, ±20 % jitter.
pub fn retry_at(now: Nanos, attempts: u32) -> Option<Nanos> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let base = (5_000_000_000i64 << attempts.min(20)).min(3_600_000_000_000);
    let mut b = [0u8; 2];
    let jitter = if getrandom::fill(&mut b).is_ok() { f64::from(u16::from_le_bytes(b)) / 65535.0 * 0.4 - 0.2 } else { 0.0 };
    Some(now + base + (base as f64 * jitter) as Nanos)
}

/// Sends what is due until `stop`: every second, and at once when a message is queued.
pub async fn run(page: Arc<StatusPage>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(d) = Deliverer::new(&page) else { return };
    loop {
        let sent = pass(&page, &d).await;
        if sent < BATCH {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = page.deliver_wake.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        } else if *stop.borrow() {
            return;
        }
    }
}

/// One pass over the due messages; returns how many were tried.
async fn pass(page: &StatusPage, d: &Deliverer) -> usize {
    let due = match page.subscribers.due_notifications(now_nanos(), BATCH).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the subscriber outbox; retrying");
            return 0;
        }
    };
    for n in &due {
        let result = d.send(n).await;
        let record = match &result {
            Ok(()) => Ok(()),
            Err(f) => {
                let again = if f.retry { retry_at(now_nanos(), n.attempts + 1) } else { None };
                tracing::warn!(subscriber = %n.subscriber.id, kind = n.subscriber.kind.as_str(), attempt = n.attempts + 1, reason = %f.reason,
                    retry = again.is_some(), "subscriber notification failed");
                Err((f.reason.clone(), again))
            }
        };
        if let Err(e) = page.subscribers.record_delivery(n.id, record).await {
            tracing::error!(error = %e, "cannot record a delivery; the message may be sent again");
        }
    }
    due.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_gives_up() {
        let s = 1_000_000_000;
        let a1 = retry_at(0, 1).unwrap();
        assert!((8 * s..=12 * s).contains(&a1), "{a1}");
        let a2 = retry_at(0, 2).unwrap();
        assert!((16 * s..=24 * s).contains(&a2));
        assert!(retry_at(0, 11).unwrap() <= 4_320 * s, "at most an hour, plus jitter");
        assert_eq!(retry_at(0, MAX_ATTEMPTS), None);
    }
}
