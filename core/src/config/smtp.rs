//! The SMTP settings subscriber email and the email notifier share (`smtp_host`, `smtp_port`, `smtp_tls`,
//! `smtp_username`, `smtp_password[_file]`, `from`). A leaf: it knows the check helpers and nothing of the
//! sections that embed it.

use super::check::secret_or_file;
use super::secret::Secret;
use super::{ConfigErrors, Document};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Tls,
    None,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
}

/// The SMTP keys that subscriptions and the email notifier share (`smtp_host`, `smtp_port`, `smtp_tls`,
/// `smtp_username`, `smtp_password[_file]`, `from`), under `key`.
pub struct RawSmtp {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<String>,
    pub from: Option<String>,
}

/// Validates the SMTP keys; `None` without `smtp_host`.
pub fn smtp(doc: &Document, key: &str, raw: RawSmtp, errors: &mut ConfigErrors) -> Option<SmtpConfig> {
    let password = secret_or_file(doc, &format!("{key}.smtp_password"), raw.password, raw.password_file, errors);
    match raw.host {
        None => {
            for (k, set) in [("from", raw.from.is_some()), ("smtp_username", raw.username.is_some()), ("smtp_password", password.is_some())]
            {
                if set {
                    errors.push(doc.error(&format!("{key}.{k}"), "has no effect without `smtp_host`"));
                }
            }
            None
        }
        Some(host) => {
            let tls = match raw.tls.as_deref().unwrap_or("starttls") {
                "starttls" => SmtpTls::StartTls,
                "tls" => SmtpTls::Tls,
                "none" => SmtpTls::None,
                other => {
                    errors.push(doc.error(&format!("{key}.smtp_tls"), format!("`{other}` is not one of starttls, tls, none")));
                    SmtpTls::StartTls
                }
            };
            let port = raw.port.unwrap_or(match tls {
                SmtpTls::StartTls => 587,
                SmtpTls::Tls => 465,
                SmtpTls::None => 25,
            });
            let from = raw.from.unwrap_or_default();
            // `Name <a@b>` or `a@b`; the mail library parses it fully when it sends.
            let addr = from.rsplit_once('<').map_or(from.as_str(), |(_, a)| a.trim_end_matches('>'));
            if !addr.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') || d == "localhost") {
                errors.push(
                    doc.error(
                        &format!("{key}.from"),
                        format!("{from:?} is not a sender address like \"Acme Status <status@acme.example>\""),
                    ),
                );
            }
            if raw.username.is_some() != password.is_some() {
                errors.push(doc.error(&format!("{key}.smtp_username"), "set both `smtp_username` and `smtp_password`, or neither"));
            }
            Some(SmtpConfig { host, port, tls, username: raw.username, password, from })
        }
    }
}
