//! The SMTP transport that subscriber email and the email notifier share (lettre on the rustls + ring
//! stack the HTTP client already uses: no second TLS library).

use crate::config::{SmtpConfig, SmtpTls};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use std::time::Duration;

/// Time limit of one SMTP conversation.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Why SMTP settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The sender is not a mailbox lettre accepts.
    #[error("from {from:?}: {reason}")]
    Sender { from: String, reason: String },
    /// The relay's TLS settings cannot be built for this host.
    #[error("smtp_host {host:?}: {reason}")]
    Relay { host: String, reason: String },
}

/// A transport for `s` and its parsed sender, or why the settings cannot work.
pub fn transport(s: &SmtpConfig) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), MailError> {
    let from: Mailbox = s.from.parse().map_err(|e| MailError::Sender { from: s.from.clone(), reason: format!("{e}") })?;
    let relay = |e: lettre::transport::smtp::Error| MailError::Relay { host: s.host.clone(), reason: e.to_string() };
    let builder = match s.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host).map_err(relay)?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host).map_err(relay)?,
    };
    let mut builder = builder.port(s.port).timeout(Some(TIMEOUT));
    if let (Some(user), Some(password)) = (&s.username, &s.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
    }
    Ok((builder.build(), from))
}
