//! The SMTP transport that subscriber email and the email notifier share (lettre on the rustls + ring
//! stack the HTTP client already uses: no second TLS library).

use crate::config::{SmtpConfig, SmtpTls};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use std::time::Duration;

/// Time limit of one SMTP conversation.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// A transport for `s` and its parsed sender, or why the settings cannot work.
pub fn transport(s: &SmtpConfig) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), String> {
    let from: Mailbox = s.from.parse().map_err(|e| format!("from {:?}: {e}", s.from))?;
    let builder = match s.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host).map_err(|e| e.to_string())?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host).map_err(|e| e.to_string())?,
    };
    let mut builder = builder.port(s.port).timeout(Some(TIMEOUT));
    if let (Some(user), Some(password)) = (&s.username, &s.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
    }
    Ok((builder.build(), from))
}
