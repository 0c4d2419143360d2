//! `type = "tls"`: a TLS handshake (after STARTTLS where the protocol needs it) and the certificate chain it
//! presented. Also the TLS files every TLS client key takes (`tls_ca_file`, `tls_cert_file`,
//! `tls_key_file`), read and parsed once at start-up so a missing or broken file is a `check-config` error
//! with its key and line, not a failed probe at 3 a.m.

use super::{Checked, ProbeConfig};
use crate::config::check::Table;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::sync::Arc;

/// The keys of a tls endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// `host:port` to connect to.
    address: Option<String>,
    /// The name sent in SNI and verified against the certificate (default: the host of `address`).
    server_name: Option<String>,
    /// Upgrade a plain connection first: `smtp`, `imap`, `pop3` or `ldap`.
    starttls: Option<String>,
    /// Accept any certificate (still recorded and checked by the assertions).
    #[serde(alias = "insecure_skip_verify")]
    tls_skip_verify: Option<bool>,
    /// PEM certificates to trust instead of Mozilla's roots (a private CA).
    tls_ca_file: Option<String>,
    /// PEM client certificate chain (mutual TLS), with `tls_key_file`.
    tls_cert_file: Option<String>,
    /// PEM private key of `tls_cert_file`.
    tls_key_file: Option<String>,
}

/// The TLS client files as written, by http and tls endpoints alike (serde's `flatten` cannot be combined
/// with `deny_unknown_fields`, so each `Raw` lists the keys and hands them over in this).
#[derive(Debug, Default)]
pub struct RawTlsFiles {
    pub tls_ca_file: Option<String>,
    pub tls_cert_file: Option<String>,
    /// PKCS#8, PKCS#1 or SEC1.
    pub tls_key_file: Option<String>,
}

/// The protocols whose plain connection is upgraded before the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    Smtp,
    Imap,
    Pop3,
    Ldap,
}

impl StartTls {
    pub fn as_str(self) -> &'static str {
        match self {
            StartTls::Smtp => "smtp",
            StartTls::Imap => "imap",
            StartTls::Pop3 => "pop3",
            StartTls::Ldap => "ldap",
        }
    }
}

/// A client certificate chain and its key. `Debug` never shows the key.
pub struct ClientIdentity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity").field("certs", &self.certs.len()).field("key", &"<redacted>").finish()
    }
}

/// The TLS client options of an endpoint, files read.
#[derive(Debug, Clone, Default)]
pub struct TlsClientOptions {
    pub skip_verify: bool,
    /// Trust only these (a private CA) instead of Mozilla's roots.
    pub ca: Option<Arc<Vec<CertificateDer<'static>>>>,
    pub identity: Option<Arc<ClientIdentity>>,
}

impl TlsClientOptions {
    /// Whether the shared client configurations serve (no CA or client certificate of its own).
    pub fn is_default(&self) -> bool {
        self.ca.is_none() && self.identity.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct TlsProbeConfig {
    pub host: String,
    pub port: u16,
    pub server_name: String,
    pub starttls: Option<StartTls>,
    pub tls: TlsClientOptions,
}

impl Raw {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Checked> {
        let files = RawTlsFiles { tls_ca_file: self.tls_ca_file, tls_cert_file: self.tls_cert_file, tls_key_file: self.tls_key_file };
        let tls = load_files(t, files, self.tls_skip_verify.unwrap_or(false));
        let starttls = match self.starttls.as_deref() {
            None => Some(None),
            Some(s) => {
                let found = [StartTls::Smtp, StartTls::Imap, StartTls::Pop3, StartTls::Ldap].into_iter().find(|p| p.as_str() == s);
                if found.is_none() {
                    t.error("starttls", format!("unknown protocol {s:?}: expected \"smtp\", \"imap\", \"pop3\" or \"ldap\""));
                }
                found.map(Some)
            }
        };
        let Some(address) = self.address else {
            t.missing("address", "missing key `address` (required for a tls endpoint, as host:port)");
            return None;
        };
        let Some((host, port)) = super::tcp::host_port(&address) else {
            t.error("address", format!("invalid address {address:?}: expected host:port such as \"mail.example.com:465\""));
            return None;
        };
        let server_name = self.server_name.unwrap_or_else(|| host.clone());
        if rustls::pki_types::ServerName::try_from(server_name.as_str()).is_err() {
            t.error("server_name", format!("invalid TLS server name {server_name:?}: expected a DNS name or an IP address"));
            return None;
        }
        let probe = ProbeConfig::Tls(TlsProbeConfig { host, port, server_name, starttls: starttls?, tls: tls? });
        Some(Checked { probe, schedule: None })
    }
}

/// Reads and parses the TLS client files (paths relative to the configuration file); each problem is an
/// error under its own key. `None` when any is reported.
pub fn load_files(t: &mut Table<'_>, files: RawTlsFiles, skip_verify: bool) -> Option<TlsClientOptions> {
    let before = t.errors.len();
    let read = |t: &mut Table<'_>, key: &str, path: &str| match std::fs::read(t.doc.path(path)) {
        Ok(b) => Some(b),
        Err(e) => {
            t.error(key, format!("cannot read {path}: {e}"));
            None
        }
    };
    let certs_in = |t: &mut Table<'_>, key: &str, path: &str| {
        let certs: Vec<CertificateDer<'static>> =
            read(t, key, path).map(|pem| CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect()).unwrap_or_default();
        if certs.is_empty() && t.errors.len() == before {
            t.error(key, format!("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
        }
        certs
    };
    let ca = files.tls_ca_file.as_deref().map(|path| Arc::new(certs_in(t, "tls_ca_file", path)));
    let identity = match (&files.tls_cert_file, &files.tls_key_file) {
        (None, None) => None,
        (Some(_), None) => {
            t.error("tls_cert_file", "`tls_cert_file` needs `tls_key_file` (the certificate's private key)");
            None
        }
        (None, Some(_)) => {
            t.error("tls_key_file", "`tls_key_file` needs `tls_cert_file` (the certificate it belongs to)");
            None
        }
        (Some(cert), Some(key)) => {
            let certs = certs_in(t, "tls_cert_file", cert);
            // The key's bytes are never shown, also not in an error: only the file's name.
            match read(t, "tls_key_file", key).map(|pem| PrivateKeyDer::from_pem_slice(&pem)) {
                Some(Ok(key)) => Some(Arc::new(ClientIdentity { certs, key })),
                Some(Err(_)) => {
                    t.error("tls_key_file", format!("{key} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"));
                    None
                }
                None => None,
            }
        }
    };
    (t.errors.len() == before).then_some(TlsClientOptions { skip_verify, ca, identity })
}
