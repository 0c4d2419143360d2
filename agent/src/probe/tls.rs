//! TLS for probes: the shared client configuration of `watchpost_core::tls`, an opt-in verifier that accepts
//! anything for `tls_skip_verify`, and the certificate's expiry read straight from its DER.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use watchpost_core::config::TlsClientOptions;

/// The configuration of an HTTPS probe. Session resumption is off unless asked for: rustls would otherwise
/// share a session cache between probes, and against a server with tickets (nginx's default) every probe
/// after the first would measure a resumed handshake, with no certificate sent and nothing verified. A full
/// handshake per probe is what a new client sees; it costs the server one signature (and the agent one
/// verification) per probe.
pub fn probe_config(skip_verify: bool, resume: bool) -> Arc<rustls::ClientConfig> {
    let mut cfg = if skip_verify { unverified_config() } else { watchpost_core::tls::verified_config() };
    if !resume {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(cfg)
}

/// `config` offering these ALPN protocols, in order of preference.
pub fn with_alpn(config: &Arc<rustls::ClientConfig>, protocols: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut c = (**config).clone();
    c.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}

/// An endpoint's own client configuration, and the flag its verifier sets when a response was stapled.
pub type EndpointTls = (Arc<rustls::ClientConfig>, Arc<AtomicBool>);

/// A configuration of an endpoint's own (a private CA, a client certificate, or a tls endpoint, which must
/// see whether the server stapled an OCSP response): built once per endpoint, resumption off. Also returns
/// the flag the verifier sets on each handshake (`true` when a response was stapled).
pub fn endpoint_config(opts: &TlsClientOptions, resume: bool) -> Result<EndpointTls, String> {
    let p = watchpost_core::tls::provider();
    let inner: Arc<dyn ServerCertVerifier> = if opts.skip_verify {
        Arc::new(AcceptAny(p.clone()))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &opts.ca {
            Some(ca) => {
                for c in ca.iter() {
                    roots.add(c.clone()).map_err(|e| format!("tls_ca_file: {e}"))?;
                }
            }
            None => roots = watchpost_core::tls::mozilla_roots(),
        }
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), p.clone())
            .build()
            .map_err(|e| format!("certificate verifier: {e}"))?
    };
    let stapled = Arc::new(AtomicBool::new(false));
    let verifier = Arc::new(Stapling { inner, stapled: stapled.clone() });
    let builder = rustls::ClientConfig::builder_with_provider(p)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut cfg = match &opts.identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            builder.with_client_auth_cert(id.certs.clone(), id.key.clone_key()).map_err(|e| format!("tls_cert_file/tls_key_file: {e}"))?
        }
    };
    if !resume {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Ok((Arc::new(cfg), stapled))
}

/// Verifies with `inner`, noting whether the server stapled an OCSP response (rustls asks for one in every
/// ClientHello, hands it to the verifier and keeps it nowhere else).
#[derive(Debug)]
struct Stapling {
    inner: Arc<dyn ServerCertVerifier>,
    stapled: Arc<AtomicBool>,
}

impl ServerCertVerifier for Stapling {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.stapled.store(!ocsp_response.is_empty(), Ordering::Relaxed);
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts any certificate (still checks handshake signatures), for `tls_skip_verify = true`.
fn unverified_config() -> rustls::ClientConfig {
    let p = watchpost_core::tls::provider();
    let verifier = Arc::new(AcceptAny(p.clone()));
    let cfg = rustls::ClientConfig::builder_with_provider(p)
        .with_safe_default_protocol_versions()
        .map(|b| b.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth());
    cfg.unwrap_or_else(|_| rustls::ClientConfig::builder().with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth())
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Days from `now_unix` until the certificate's `notAfter` (negative once expired), or `None` when the DER
/// cannot be read. Walks only the few TLVs on the way to `validity`; any malformed length stops the walk.
pub fn days_left(cert_der: &[u8], now_unix: i64) -> Option<f64> {
    let (_, cert, _) = tlv(cert_der)?; // Certificate SEQUENCE
    let (_, tbs, _) = tlv(cert)?; // TBSCertificate SEQUENCE
    let mut rest = tbs;
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after; // [0] EXPLICIT version
    }
    for _ in 0..3 {
        // serialNumber, signature, issuer
        let (_, _, after) = tlv(rest)?;
        rest = after;
    }
    let (_, validity, _) = tlv(rest)?;
    let (_, _, after_not_before) = tlv(validity)?;
    let (tag, not_after, _) = tlv(after_not_before)?;
    let secs = parse_time(tag, not_after)?;
    Some((secs - now_unix) as f64 / 86_400.0)
}

/// The subject's and the issuer's distinguished names (`CN=…, O=…`, the common attributes only), or `None`
/// when the DER cannot be read.
pub fn names(cert_der: &[u8]) -> Option<(String, String)> {
    let (_, cert, _) = tlv(cert_der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..2 {
        // serialNumber, signature
        rest = tlv(rest)?.2;
    }
    let (_, issuer, after) = tlv(rest)?;
    let (_, _, after) = tlv(after)?; // validity
    let (_, subject, _) = tlv(after)?;
    Some((dn(subject)?, dn(issuer)?))
}

/// A Name (RFC 5280 §4.1.2.4: SEQUENCE OF SET OF {type, value}) as `CN=…, O=…`, most significant last as
/// RFC 4514 writes it reversed; attributes other than C, ST, L, O, OU and CN are left out.
fn dn(mut name: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (_, set, rest) = tlv(name)?;
        name = rest;
        let (_, attr, _) = tlv(set)?;
        let (tag, oid, after) = tlv(attr)?;
        let (_, value, _) = tlv(after)?;
        let label = match (tag, oid) {
            (0x06, [0x55, 0x04, 0x06]) => "C",
            (0x06, [0x55, 0x04, 0x08]) => "ST",
            (0x06, [0x55, 0x04, 0x07]) => "L",
            (0x06, [0x55, 0x04, 0x0a]) => "O",
            (0x06, [0x55, 0x04, 0x0b]) => "OU",
            (0x06, [0x55, 0x04, 0x03]) => "CN",
            _ => continue,
        };
        parts.push(format!("{label}={}", String::from_utf8_lossy(value)));
    }
    parts.reverse();
    Some(parts.join(", "))
}

/// Reads one DER TLV: `(tag, contents, rest)`.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, b.get(header..end)?, b.get(end..)?))
}

/// UTCTime (0x17, `YYMMDDHHMMSSZ`) or GeneralizedTime (0x18, `YYYYMMDDHHMMSSZ`) to UNIX seconds.
fn parse_time(tag: u8, s: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(s).ok()?;
    let s = s.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| -> Option<i64> { rest.get(r)?.parse().ok() };
    let (month, day, hour, min, sec) = (num(0..2)?, num(2..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    fn cert_with_not_after(tag: u8, time: &str) -> Vec<u8> {
        let validity = [der(0x17, b"200101000000Z"), der(tag, time.as_bytes())].concat();
        let tbs = [der(0xa0, &der(0x02, &[2])), der(0x02, &[1, 2, 3]), der(0x30, &[]), der(0x30, &[0; 200]), der(0x30, &validity)].concat();
        der(0x30, &[der(0x30, &tbs), der(0x30, &[]), der(0x03, &[0])].concat())
    }

    #[test]
    fn reads_not_after() {
        // 2027-01-01T00:00:00Z is 1798761600.
        let now = 1_798_761_600 - 10 * 86_400;
        assert_eq!(days_left(&cert_with_not_after(0x17, "270101000000Z"), now), Some(10.0));
        assert_eq!(days_left(&cert_with_not_after(0x18, "20270101000000Z"), now), Some(10.0));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        assert_eq!(days_left(&[], 0), None);
        assert_eq!(days_left(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], 0), None);
        assert_eq!(days_left(&cert_with_not_after(0x17, "27XX01000000Z"), 0), None);
        let mut c = cert_with_not_after(0x17, "270101000000Z");
        c.truncate(c.len() / 2);
        assert_eq!(days_left(&c, 0), None);
    }
}
