//! The `Notifier` seam: one file per notifier type, registered in exactly one place, [`NotifierConfig`]:
//! a variant naming the file's `Config` and an arm of [`NotifierConfig::check`].
//!
//! Each file holds, for its type: the configuration keys (`Config`, serde, `deny_unknown_fields`) and their
//! checks, the validated settings (a [`Channel`]: which events it carries, whom it reaches by which
//! `[oncall.people]` key, and how to build it), a pure payload builder (tested against the provider's
//! published schema) and a `send` that posts it. [`post`] classifies the answer the same way for all of them:
//! 2xx is delivered, 429, 5xx and network errors are retried (honouring `Retry-After`), any other answer
//! cannot succeed by sending the same request again.
//!
//! Adding a notifier type: a new file here with those four things, `pub mod` for it, one variant, one arm.

pub mod email;
pub mod opsgenie;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use crate::event::{Action, AlertEvent};
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::config::check::Table;

/// `[alerting.notifiers.NAME]`, read by its `type` (`check::tagged`): one variant per notifier type, each the
/// configuration struct of its own file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifierConfig {
    PagerDuty(pagerduty::Config),
    OpsGenie(opsgenie::Config),
    Slack(slack::Config),
    Email(email::Config),
    Webhook(webhook::Config),
}

impl NotifierConfig {
    /// The one place notifier types are registered: checks the keys of the table at `t` and returns the
    /// validated channel (`None` when its errors are in `t`).
    pub fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        match self {
            NotifierConfig::PagerDuty(c) => c.check(t),
            NotifierConfig::OpsGenie(c) => c.check(t),
            NotifierConfig::Slack(c) => c.check(t),
            NotifierConfig::Email(c) => c.check(t),
            NotifierConfig::Webhook(c) => c.check(t),
        }
    }
}

/// Why a notifier could not be built at start-up (an SMTP relay address that does not resolve…).
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// A notifier's validated configuration: what the rest of alerting knows of a notifier type.
pub trait Channel: fmt::Debug + Send + Sync {
    /// The `type` it was configured with, for summaries and logs.
    fn kind(&self) -> &'static str;

    /// Whether it carries events of `action` (PagerDuty escalates inside its own service once paged; an
    /// email has no use for an acknowledgement).
    fn carries(&self, action: Action) -> bool {
        let _ = action;
        true
    }

    /// The `[oncall.people.NAME]` key it reaches people by (`email`, a chat member id…), if it does.
    fn contact(&self) -> Option<&'static str> {
        None
    }

    /// Whether a page through it reaches nobody who lacks that contact, so that everyone a policy using it
    /// can page must have one (checked at start-up: better said then than at 2 am).
    fn needs_contact(&self) -> bool {
        false
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError>;
}

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
