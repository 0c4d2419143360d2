//! Email through SMTP (lettre; STARTTLS, implicit TLS or plain for a local relay; credentials as `Secret`):
//! one message per event to the people it pages (a resolution to everyone paged), with the acknowledge
//! link. Transient SMTP replies and connection failures are retried; a permanent reply is not.

use super::{Notifier, Outcome};
use crate::event::{Action, AlertEvent};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use watchpost_core::config::SmtpConfig;

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
    match e.action {
        Action::Trigger | Action::Escalate => {
            if e.action == Action::Escalate {
                body.push_str(&format!("\nNobody acknowledged this alert: escalation level {}.\n", e.level + 1));
            }
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
        let to: Vec<Mailbox> = e.people.iter().filter_map(|p| p.email.as_deref()).filter_map(|a| a.parse().ok()).collect();
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
