//! Email through SMTP (lettre; STARTTLS, implicit TLS or plain for a local relay; credentials as `Secret`):
//! one message per event to the people it pages (a resolution to everyone paged), with the acknowledge
//! link. Transient SMTP replies and connection failures are retried; a permanent reply is not.

use super::{BuildError, Channel, Notifier, Outcome};
use crate::event::{Action, AlertEvent};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::smtp::{smtp, RawSmtp};
use watchpost_core::config::{Secret, SmtpConfig};

/// The `[oncall.people.NAME]` key holding a person's address.
const CONTACT: &str = "email";

/// `type = "email"`: SMTP settings, as in `[statuspage.subscriptions]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_tls: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<Secret>,
    smtp_password_file: Option<String>,
    from: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let raw = RawSmtp {
            host: self.smtp_host,
            port: self.smtp_port,
            tls: self.smtp_tls,
            username: self.smtp_username,
            password: self.smtp_password,
            password_file: self.smtp_password_file,
            from: self.from,
        };
        let Some(s) = smtp(t.doc, t.path, raw, t.errors) else {
            t.missing("smtp_host", "missing key `smtp_host`");
            return None;
        };
        Some(Arc::new(Settings(s)))
    }
}

#[derive(Debug)]
pub struct Settings(pub SmtpConfig);

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "email"
    }

    /// An email has no use for an acknowledgement.
    fn carries(&self, action: Action) -> bool {
        action != Action::Acknowledge
    }

    fn contact(&self) -> Option<&'static str> {
        Some(CONTACT)
    }

    fn needs_contact(&self) -> bool {
        true
    }

    fn build(&self, _: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Email::new(&self.0)?))
    }
}

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Email {
    pub fn new(smtp: &SmtpConfig) -> Result<Self, watchpost_core::mail::MailError> {
        let (transport, from) = watchpost_core::mail::transport(smtp)?;
        Ok(Email { transport, from })
    }
}

/// Subject and plain-text body.
pub fn message(e: &AlertEvent) -> (String, String) {
    let mut body = format!("{}\n\nCondition: {}\nRule: {}\nSeverity: {}\n", e.summary, e.condition, e.rule, e.severity);
    if !e.alerts.is_empty() {
        body.push_str(&format!("\nAlerts:\n{}\n", crate::group::listed(&e.alerts).join("\n")));
    }
    match e.action {
        Action::Trigger | Action::Escalate => {
            if e.action == Action::Escalate {
                body.push_str(&format!("\nNobody acknowledged this alert: escalation level {}.\n", e.level + 1));
            }
            if let Some(link) = e.ack_link("email") {
                body.push_str(&format!("\nAcknowledge (stops the escalation): {link}\n"));
            }
        }
        Action::Update => {
            body.push_str(&format!("\nUpdate: {}.\n", e.note));
            if let Some(link) = e.ack_link("email") {
                body.push_str(&format!("\nAcknowledge (stops the escalation): {link}\n"));
            }
        }
        Action::Acknowledge => body.push_str(&format!("\nAcknowledged by {}.\n", e.acked_by.as_deref().unwrap_or("someone"))),
        Action::Resolve if e.note.is_empty() => body.push_str("\nResolved: the checks pass again.\n"),
        Action::Resolve => body.push_str(&format!("\nResolved: {}.\n", e.note)),
    }
    if let Some(page) = &e.page_url {
        body.push_str(&format!("Status page: {page}\n"));
    }
    body.push_str(&format!("\nAlert {} (episode {}), sent by Watchpost.\n", e.key, e.episode));
    (e.headline(), body)
}

#[async_trait::async_trait]
impl Notifier for Email {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        let to: Vec<Mailbox> = e.people.iter().filter_map(|p| p.contact(CONTACT)).filter_map(|a| a.parse().ok()).collect();
        if to.is_empty() {
            return Outcome::Sent("nobody paged has an email address".into());
        }
        let (subject, body) = message(e);
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for m in to {
            builder = builder.to(m);
        }
        let msg = match builder.body(body) {
            Ok(m) => m,
            Err(err) => return Outcome::Failed(format!("cannot build the message: {err}")),
        };
        match self.transport.send(msg).await {
            Ok(r) => Outcome::Sent(format!("SMTP {}", r.code())),
            Err(err) if err.is_permanent() => Outcome::Failed(format!("SMTP: {err}")),
            Err(err) => Outcome::Retry { answer: format!("SMTP: {err}"), after: None },
        }
    }
}
