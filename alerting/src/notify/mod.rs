//! The `Notifier` seam: one file per provider, built in exactly one place ([`build`], a `match` on
//! [`NotifierConfig`]). Each file has a pure payload builder (tested against the provider's published
//! schema) and a `send` that posts it; [`post`] classifies the answer the same way for all of them: 2xx is
//! delivered, 429, 5xx and network errors are retried (honouring `Retry-After`), any other answer cannot
//! succeed by sending the same request again.

pub mod email;
pub mod opsgenie;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use crate::event::{Action, AlertEvent};
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::config::alerting::NotifierConfig;

/// Time limit of one request to a provider.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How one attempt went, with the provider's answer (kept in the outbox).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent(String),
    Retry { answer: String, after: Option<Duration> },
    Failed(String),
}

#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, event: &AlertEvent) -> Outcome;
}

/// Which events a kind of notifier carries. PagerDuty and OpsGenie escalate inside their own service
/// once paged (OpsGenie is told of our further levels as added responders); email has no use for an
/// acknowledgement.
pub fn carries(n: &NotifierConfig, action: Action) -> bool {
    match n {
        NotifierConfig::PagerDuty { .. } => action != Action::Escalate,
        NotifierConfig::OpsGenie { .. } | NotifierConfig::Slack { .. } | NotifierConfig::Webhook { .. } => true,
        NotifierConfig::Email(_) => action != Action::Acknowledge,
    }
}

/// The one place notifiers are registered.
pub fn build(n: &NotifierConfig, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, watchpost_core::mail::MailError> {
    Ok(match n {
        NotifierConfig::PagerDuty { url, routing_key } => Arc::new(pagerduty::PagerDuty::new(http.clone(), url, routing_key.clone())),
        NotifierConfig::OpsGenie { url, api_key } => Arc::new(opsgenie::OpsGenie::new(http.clone(), url, api_key.clone())),
        NotifierConfig::Slack { webhook_url } => Arc::new(slack::Slack::new(http.clone(), webhook_url.clone())),
        NotifierConfig::Email(smtp) => Arc::new(email::Email::new(smtp)?),
        NotifierConfig::Webhook { url, secret } => Arc::new(webhook::Webhook::new(http.clone(), url, secret.clone())),
    })
}

/// Sends `req` and classifies the answer.
pub async fn post(req: reqwest::RequestBuilder) -> Outcome {
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Retry { answer: watchpost_core::http::error_text(&e), after: None },
    };
    let status = resp.status();
    let after = watchpost_core::http::retry_after(resp.headers());
    let body = resp.text().await.unwrap_or_default();
    let answer = format!("HTTP {}: {}", status.as_u16(), body.trim().chars().take(300).collect::<String>());
    if status.is_success() {
        Outcome::Sent(answer)
    } else if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        Outcome::Retry { answer, after }
    } else {
        Outcome::Failed(answer)
    }
}

/// RFC 3339 in UTC with milliseconds, as the providers print times.
pub fn rfc3339(ts: watchpost_core::time::Nanos) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ts)).map(|t| format!("{t:.3}")).unwrap_or_default()
}
