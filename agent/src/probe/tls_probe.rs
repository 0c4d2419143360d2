//! The TLS probe (`type = "tls"`): connect, upgrade with STARTTLS where the protocol needs it (SMTP, IMAP,
//! POP3, LDAP), handshake, and keep what the server presented: protocol version, cipher suite, the chain's
//! earliest expiry, subject and issuer, and whether an OCSP response was stapled. Verification (chain and
//! host name) happens in the handshake unless `tls_skip_verify`; the assertions check the rest.

use super::net::{io_class, Shared};
use super::tls::{days_left, endpoint_config, names, EndpointTls};
use super::{Observation, Probe, ProbeFailure, Timings};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use watchpost_core::config::{StartTls, TlsProbeConfig};
use watchpost_core::model::ErrorClass;

/// The most a STARTTLS exchange may read (a greeting and a capability list are a few hundred bytes).
const MAX_PLAIN: usize = 16 * 1024;

/// What a TLS handshake showed.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// Its minor number: 3 for TLS 1.3, 2 for 1.2.
    pub version_minor: u8,
    /// `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The leaf's subject and issuer (`CN=…, O=…`).
    pub subject: String,
    pub issuer: String,
    /// Days until each certificate of the chain expires, leaf first.
    pub chain_days: Vec<f64>,
    pub ocsp_stapled: bool,
}

impl TlsInfo {
    /// Reads a finished handshake.
    pub fn of(conn: &rustls::ClientConnection, stapled: bool) -> TlsInfo {
        let now_unix = watchpost_core::time::now_nanos() / 1_000_000_000;
        let certs = conn.peer_certificates().unwrap_or_default();
        let (subject, issuer) = certs.first().and_then(|c| names(c)).unwrap_or_default();
        let (version, version_minor) = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => ("TLSv1.3".to_string(), 3),
            Some(rustls::ProtocolVersion::TLSv1_2) => ("TLSv1.2".to_string(), 2),
            Some(other) => (format!("{other:?}"), 0),
            None => (String::new(), 0),
        };
        TlsInfo {
            version,
            version_minor,
            cipher: conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default(),
            subject,
            issuer,
            chain_days: certs.iter().filter_map(|c| days_left(c, now_unix)).collect(),
            ocsp_stapled: stapled,
        }
    }

    /// The earliest expiry in the chain (blackbox_exporter's `probe_ssl_earliest_cert_expiry`).
    pub fn earliest_days(&self) -> Option<f64> {
        self.chain_days.iter().copied().reduce(f64::min)
    }

    /// A few lines for `body_contains` and `body_matches`, and for `watchpost` to show.
    pub fn summary(&self) -> String {
        format!(
            "version {}\ncipher {}\nsubject {}\nissuer {}\nchain {} certificate(s), earliest expiry in {:.1} days\nocsp stapled {}\n",
            self.version,
            self.cipher,
            self.subject,
            self.issuer,
            self.chain_days.len(),
            self.earliest_days().unwrap_or(f64::NAN),
            self.ocsp_stapled
        )
    }
}

pub struct TlsProbe {
    cfg: TlsProbeConfig,
    shared: Arc<Shared>,
    /// Built once: the endpoint's roots or CA, its client certificate, and the stapling flag.
    config: Result<EndpointTls, String>,
}

impl TlsProbe {
    pub fn new(cfg: TlsProbeConfig, shared: Arc<Shared>) -> Self {
        let config = endpoint_config(&cfg.tls, false);
        TlsProbe { cfg, shared, config }
    }
}

#[async_trait::async_trait]
impl Probe for TlsProbe {
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let (config, stapled) = self.config.clone().map_err(|e| ProbeFailure::new(ErrorClass::Internal, e))?;
        let (mut stream, mut timings) = self.shared.dial(&self.cfg.host, self.cfg.port).await?;
        let fail = |class, detail: String, timings: Timings| ProbeFailure { timings, ..ProbeFailure::new(class, detail) };
        if let Some(protocol) = self.cfg.starttls {
            starttls(&mut stream, protocol).await.map_err(|(c, d)| fail(c, format!("STARTTLS ({}): {d}", protocol.as_str()), timings))?;
        }
        let name = rustls::pki_types::ServerName::try_from(self.cfg.server_name.clone())
            .map_err(|e| fail(ErrorClass::Internal, format!("invalid TLS server name: {e}"), timings))?;
        let started = Instant::now();
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .map_err(|e| fail(ErrorClass::Tls, format!("TLS handshake with {}: {e}", self.cfg.server_name), timings))?;
        timings.tls_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        let info = TlsInfo::of(tls.get_ref().1, stapled.load(Ordering::Relaxed));
        // A polite close (close_notify), not waited for long: the probe is done.
        let mut tls = tls;
        let _ = tokio::time::timeout(std::time::Duration::from_millis(100), tls.shutdown()).await;
        Ok(Observation {
            body: info.summary().into(),
            timings,
            cert_days_left: info.earliest_days(),
            tls: Some(Arc::new(info)),
            ..Default::default()
        })
    }
}

type PlainError = (ErrorClass, String);

/// Upgrades the plain connection: the protocol's greeting, its STARTTLS command, its go-ahead.
async fn starttls(s: &mut TcpStream, protocol: StartTls) -> Result<(), PlainError> {
    let mut r = Lines { buf: Vec::new(), read: 0 };
    match protocol {
        StartTls::Smtp => {
            // RFC 3207: 220 greeting, EHLO, STARTTLS offered among its 250 lines, STARTTLS, 220.
            r.smtp_reply(s, "220").await?;
            send(s, b"EHLO watchpost.invalid\r\n").await?;
            let ehlo = r.smtp_reply(s, "250").await?;
            if !ehlo.iter().any(|l| l.get(4..).is_some_and(|x| x.trim().eq_ignore_ascii_case("STARTTLS"))) {
                return Err((ErrorClass::Protocol, "the server does not offer STARTTLS in its EHLO reply".into()));
            }
            send(s, b"STARTTLS\r\n").await?;
            r.smtp_reply(s, "220").await?;
        }
        StartTls::Imap => {
            // RFC 9051 §6.2.1: untagged OK greeting, a tagged STARTTLS, its tagged OK.
            let greeting = r.line(s).await?;
            if !greeting.starts_with("* OK") {
                return Err((ErrorClass::Protocol, format!("expected an IMAP greeting (* OK), got {}", shown(&greeting))));
            }
            send(s, b"w1 STARTTLS\r\n").await?;
            loop {
                let l = r.line(s).await?;
                if let Some(rest) = l.strip_prefix("w1 ") {
                    if rest.starts_with("OK") {
                        break;
                    }
                    return Err((ErrorClass::Protocol, format!("STARTTLS refused: {}", shown(&l))));
                }
            }
        }
        StartTls::Pop3 => {
            // RFC 2595 §4: +OK greeting, STLS, +OK.
            for command in [None, Some(&b"STLS\r\n"[..])] {
                if let Some(c) = command {
                    send(s, c).await?;
                }
                let l = r.line(s).await?;
                if !l.starts_with("+OK") {
                    return Err((ErrorClass::Protocol, format!("expected +OK, got {}", shown(&l))));
                }
            }
        }
        StartTls::Ldap => {
            // RFC 4511 §4.14: ExtendedRequest with the StartTLS OID, message id 1; success is resultCode 0.
            const OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
            let mut req = vec![0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, OID.len() as u8];
            req.extend_from_slice(OID);
            send(s, &req).await?;
            let code = ldap_result(s).await?;
            if code != 0 {
                return Err((ErrorClass::Protocol, format!("the server refused StartTLS (LDAP result code {code})")));
            }
        }
    }
    Ok(())
}

async fn send(s: &mut TcpStream, bytes: &[u8]) -> Result<(), PlainError> {
    s.write_all(bytes).await.map_err(|e| (io_class(&e), format!("send: {e}")))
}

/// The first response message's resultCode: LDAPMessage SEQUENCE { id, [APPLICATION 24] { ENUMERATED … } }.
async fn ldap_result(s: &mut TcpStream) -> Result<u8, PlainError> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(code) = parse_ldap_result(&buf) {
            return code;
        }
        if buf.len() > MAX_PLAIN {
            return Err((ErrorClass::Protocol, "no LDAP response within 16 KiB".into()));
        }
        let n = s.read(&mut chunk).await.map_err(|e| (io_class(&e), format!("read: {e}")))?;
        if n == 0 {
            return Err((ErrorClass::ConnectReset, "the server closed the connection".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `None` while the message is incomplete.
fn parse_ldap_result(b: &[u8]) -> Option<Result<u8, PlainError>> {
    let bad = |what: &str| Some(Err((ErrorClass::Protocol, format!("not an LDAP response ({what})"))));
    if *b.first()? != 0x30 {
        return bad("expected a SEQUENCE");
    }
    let (message, _) = ber(b)?;
    let (_, op) = ber(message)?; // past messageID
    if op.first() != Some(&0x78) {
        return bad("expected an ExtendedResponse");
    }
    match ber(op)?.0 {
        [0x0a, 0x01, code, ..] => Some(Ok(*code)),
        _ => bad("expected a resultCode"),
    }
}

/// One BER element's contents (short or long definite length), and what follows; `None` if incomplete.
fn ber(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = usize::from(*b.get(1)?);
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 3 {
            return Some((&[], &[])); // indefinite or absurd: read as empty, which fails the checks above
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    Some((b.get(header..header + len)?, b.get(header + len..)?))
}

/// Reads CRLF-terminated lines, bounded.
struct Lines {
    buf: Vec<u8>,
    read: usize,
}

impl Lines {
    async fn line(&mut self, s: &mut TcpStream) -> Result<String, PlainError> {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            if self.read > MAX_PLAIN {
                return Err((ErrorClass::Protocol, "no complete line within 16 KiB".into()));
            }
            let n = s.read(&mut chunk).await.map_err(|e| (io_class(&e), format!("read: {e}")))?;
            if n == 0 {
                return Err((ErrorClass::ConnectReset, "the server closed the connection".into()));
            }
            self.read += n;
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// An SMTP reply (`250-…` lines up to `250 …`); its code must be `code`.
    async fn smtp_reply(&mut self, s: &mut TcpStream, code: &str) -> Result<Vec<String>, PlainError> {
        let mut lines = Vec::new();
        loop {
            let l = self.line(s).await?;
            let last = l.as_bytes().get(3) != Some(&b'-');
            if !l.starts_with(code) {
                return Err((ErrorClass::Protocol, format!("expected {code}, got {}", shown(&l))));
            }
            lines.push(l);
            if last {
                return Ok(lines);
            }
        }
    }
}

fn shown(line: &str) -> String {
    let short: String = line.chars().filter(|c| !c.is_control()).take(120).collect();
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldap_results_parse_and_garbage_is_refused() {
        // A success: SEQUENCE { INTEGER 1, [APPLICATION 24] { ENUMERATED 0, OCTET STRING "", OCTET STRING "" } }.
        let ok = [0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00];
        assert!(matches!(parse_ldap_result(&ok), Some(Ok(0))));
        assert!(parse_ldap_result(&ok[..5]).is_none(), "incomplete: read more");
        let refused = [0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00];
        assert!(matches!(parse_ldap_result(&refused), Some(Ok(2))));
        assert!(matches!(parse_ldap_result(b"HTTP/1.1 400"), Some(Err(_))));
        assert!(matches!(parse_ldap_result(&[0x30, 0x84, 0xff]), Some(Err(_)) | None));
    }
}
