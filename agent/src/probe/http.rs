//! The HTTP(S) probe, built on hyper's client connection rather than a pooled client: reqwest cannot report
//! phase timings, and a fresh connection per probe is what measures connect and TLS and notices a dead
//! listener behind a healthy-looking pool.
//!
//! Phases (summed over redirect hops): DNS (hickory; none for IP literals), TCP connect, TLS handshake; TTFB
//! is from the probe's start to the final response's headers. The body is read up to `max_body`.
//!
//! HTTPS offers `h2` and `http/1.1` by ALPN (unless `http2 = false`) and speaks what the server chose: the
//! same phases, caps and error classes either way, one request per connection.

use super::encoding::{DecodeError, Decoder, ACCEPT_ENCODING};
use super::net::{io_class, Shared};
use super::tls::{endpoint_config, with_alpn, EndpointTls};
use super::tls_probe::TlsInfo;
use super::{Observation, Probe, ProbeFailure, Timings};
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING as ACCEPT_ENCODING_HEADER, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, HOST, LOCATION, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchpost_core::config::HttpProbeConfig;
use watchpost_core::model::ErrorClass;

const USER_AGENT_VALUE: &str = concat!("Watchpost/", env!("CARGO_PKG_VERSION"));
/// Upper bound on response headers hyper buffers (its minimum is 8 KiB).
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long a connection task may outlive its probe (it is normally gone when the probe ends).
const CONN_TASK_LIMIT: Duration = Duration::from_secs(120);

pub struct HttpProbe {
    cfg: HttpProbeConfig,
    shared: Arc<Shared>,
    /// A TLS configuration of its own, when the endpoint has a private CA or a client certificate (else the
    /// shared ones serve), with the verifier's OCSP stapling flag.
    own_tls: Option<Result<EndpointTls, String>>,
}

struct Hop {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    cert_days_left: Option<f64>,
    tls: Option<Arc<TlsInfo>>,
}

impl HttpProbe {
    pub fn new(cfg: HttpProbeConfig, shared: Arc<Shared>) -> Self {
        let own_tls = (!cfg.tls.is_default()).then(|| {
            endpoint_config(&cfg.tls, cfg.tls_resume).map(|(config, stapled)| {
                if cfg.http2 {
                    (with_alpn(&config, &[b"h2", b"http/1.1"]), stapled)
                } else {
                    (config, stapled)
                }
            })
        });
        HttpProbe { cfg, shared, own_tls }
    }

    async fn hop(&self, uri: &Uri, method: &Method, body: Bytes, t: &mut Timings, t0: Instant) -> Result<Hop, ProbeFailure> {
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().ok_or_else(|| ProbeFailure::new(ErrorClass::Internal, "URL has no host"))?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let (addrs, dns_ms) = self.shared.resolve(host).await.map_err(|f| with_timings(f, *t))?;
        add(&mut t.dns_ms, dns_ms);
        let (tcp, connect_ms) = Shared::connect(&addrs, port).await.map_err(|f| with_timings(f, *t))?;
        add(&mut t.connect_ms, Some(connect_ms));
        if https {
            // Boxed: a TLS stream holds rustls' connection state, and the handshake and the exchange over it
            // would otherwise size every HTTP probe's future (8.9 KiB, where plain HTTP needs 2.3). That
            // space is held by every probe in flight: 3,900 at once while an agent of 50,000 endpoints
            // catches up after a stall (bench/README.md, figure 4).
            return Box::pin(self.tls_hop(host, tcp, uri, method, body, t, t0)).await;
        }
        let req = self.request(uri, method, body, false)?;
        exchange(hyper_util::rt::TokioIo::new(tcp), req, false, self.cfg.max_body, t, t0, None).await
    }

    /// The TLS handshake on `tcp`, then the exchange over it (HTTP/2 when the server chose it by ALPN).
    #[allow(clippy::too_many_arguments)] // one hop's parts, split from `hop` only to box them
    async fn tls_hop(
        &self,
        host: &str,
        tcp: tokio::net::TcpStream,
        uri: &Uri,
        method: &Method,
        body: Bytes,
        t: &mut Timings,
        t0: Instant,
    ) -> Result<Hop, ProbeFailure> {
        let (config, stapled) = match &self.own_tls {
            None if self.cfg.http2 => (self.shared.tls_h2(self.cfg.tls.skip_verify, self.cfg.tls_resume), None),
            None => (self.shared.tls(self.cfg.tls.skip_verify, self.cfg.tls_resume), None),
            Some(Ok((config, stapled))) => (config.clone(), Some(stapled)),
            Some(Err(e)) => return Err(with_timings(ProbeFailure::new(ErrorClass::Internal, e.clone()), *t)),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let name = rustls::pki_types::ServerName::try_from(bare)
            .map_err(|e| with_timings(ProbeFailure::new(ErrorClass::Tls, format!("invalid TLS server name {host}: {e}")), *t))?;
        let started = Instant::now();
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| with_timings(ProbeFailure::new(ErrorClass::Tls, format!("TLS handshake with {host}: {e}")), *t))?;
        add(&mut t.tls_ms, Some(started.elapsed().as_secs_f64() * 1e3));
        // The shared configurations do not record stapling (they serve every endpoint at once).
        let info = TlsInfo::of(tls.get_ref().1, stapled.is_some_and(|s| s.load(Ordering::Relaxed)));
        let days = info.earliest_days();
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let req = self.request(uri, method, body, h2)?;
        let mut hop = exchange(hyper_util::rt::TokioIo::new(tls), req, h2, self.cfg.max_body, t, t0, days).await?;
        hop.tls = Some(Arc::new(info));
        Ok(hop)
    }

    /// The request for one hop. HTTP/2 takes the absolute URI (its `:scheme` and `:authority`) and no
    /// `Host` or `Connection` header (RFC 9113 §8.2.2: connection-specific headers are malformed there).
    fn request(&self, uri: &Uri, method: &Method, body: Bytes, h2: bool) -> Result<Request<Full<Bytes>>, ProbeFailure> {
        let authority = uri.authority().map(|a| a.as_str().rsplit('@').next().unwrap_or_default()).unwrap_or_default();
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = if h2 { format!("https://{authority}{path}") } else { path.to_string() };
        let mut req = Request::builder()
            .method(method.clone())
            .uri(target)
            .body(Full::new(body))
            .map_err(|e| ProbeFailure::new(ErrorClass::Internal, format!("cannot build the request: {e}")))?;
        if h2 {
            *req.version_mut() = http::Version::HTTP_2;
        }
        let h = req.headers_mut();
        if !h2 {
            if let Ok(v) = HeaderValue::from_str(authority) {
                h.insert(HOST, v);
            }
            // One request per connection: the next probe measures a fresh connect again.
            h.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        // Compressed bodies are decoded (and capped decoded, see `encoding`); an endpoint's own header wins.
        h.insert(ACCEPT_ENCODING_HEADER, HeaderValue::from_static(ACCEPT_ENCODING));
        for (k, v) in &self.cfg.headers {
            // A `Host` or `Connection` header of the endpoint's has no place in HTTP/2 (`:authority` is
            // the URL's).
            if !(h2 && (k == HOST || k == CONNECTION)) {
                h.insert(k, v.clone());
            }
        }
        Ok(req)
    }
}

#[async_trait::async_trait]
impl Probe for HttpProbe {
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let t0 = Instant::now();
        let mut timings = Timings::default();
        let mut uri = self.cfg.url.clone();
        let mut method = self.cfg.method.clone();
        let mut body = self.cfg.body.clone().map(Bytes::from).unwrap_or_default();
        let mut redirects = 0;
        loop {
            let hop = self.hop(&uri, &method, body.clone(), &mut timings, t0).await?;
            let location = hop.headers.get(LOCATION);
            if hop.status.is_redirection() && self.cfg.follow_redirects > 0 {
                if let Some(loc) = location {
                    if redirects >= self.cfg.follow_redirects {
                        let mut f = ProbeFailure::new(ErrorClass::Redirects, format!("more than {} redirects", self.cfg.follow_redirects));
                        f.timings = timings;
                        f.status = Some(hop.status.as_u16());
                        return Err(f);
                    }
                    uri = follow(&uri, loc).map_err(|f| with_timings(f, timings))?;
                    redirects += 1;
                    // RFC 9110 §15.4: 303 always, and 301/302 after POST in practice, continue with GET.
                    if hop.status == StatusCode::SEE_OTHER || (method == Method::POST && matches!(hop.status.as_u16(), 301 | 302)) {
                        method = Method::GET;
                        body = Bytes::new();
                    }
                    continue;
                }
            }
            return Ok(Observation {
                status: Some(hop.status.as_u16()),
                headers: Some(hop.headers),
                body: hop.body,
                timings,
                cert_days_left: hop.cert_days_left,
                tls: hop.tls,
                ..Observation::default()
            });
        }
    }
}

fn add(slot: &mut Option<f64>, v: Option<f64>) {
    if let Some(v) = v {
        *slot = Some(slot.unwrap_or(0.0) + v);
    }
}

fn with_timings(mut f: ProbeFailure, t: Timings) -> ProbeFailure {
    f.timings = t;
    f
}

/// One request/response on `io`, body read up to `max_body`.
async fn exchange<I>(
    io: I,
    req: Request<Full<Bytes>>,
    h2: bool,
    max_body: u64,
    t: &mut Timings,
    t0: Instant,
    cert_days_left: Option<f64>,
) -> Result<Hop, ProbeFailure>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let fail =
        |class: ErrorClass, detail: String, t: &Timings| ProbeFailure { timings: *t, cert_days_left, ..ProbeFailure::new(class, detail) };
    let handshake_failed = |e: hyper::Error, t: &Timings| fail(hyper_class(&e), format!("HTTP handshake: {e}"), t);
    // The connection task ends with the response (Connection: close; HTTP/2: when the probe drops its
    // handles); the limit only guards against a peer that keeps it open by other means.
    let sent = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .max_header_list_size(MAX_HEADER_BYTES as u32)
            .handshake(io)
            .await
            .map_err(|e| handshake_failed(e, t))?;
        drive(conn);
        sender.send_request(req).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_HEADER_BYTES)
            .handshake(io)
            .await
            .map_err(|e| handshake_failed(e, t))?;
        drive(conn);
        sender.send_request(req).await
    };
    let resp = sent.map_err(|e| fail(hyper_class(&e), format!("HTTP request: {e}"), t))?;
    t.ttfb_ms = Some(t0.elapsed().as_secs_f64() * 1e3);
    let (parts, mut body) = resp.into_parts();
    let status = parts.status.as_u16();
    let too_large = |t: &Timings| ProbeFailure {
        status: Some(status),
        ..fail(ErrorClass::BodyTooLarge, format!("body larger than {max_body} bytes"), t)
    };
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body) {
        return Err(too_large(t));
    }
    let coding = parts.headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok());
    let mut decoder = Decoder::new(coding, max_body, declared.unwrap_or(0) as usize);
    let invalid = |e: String, t: &Timings| ProbeFailure { status: Some(status), ..fail(ErrorClass::Protocol, format!("body: {e}"), t) };
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ProbeFailure { status: Some(status), ..fail(hyper_class(&e), format!("reading the body: {e}"), t) })?;
        if let Ok(data) = frame.into_data() {
            // The bytes on the wire are capped as well as the decoded ones.
            received += data.len() as u64;
            if received > max_body {
                return Err(too_large(t));
            }
            match decoder.write(&data) {
                Ok(()) => {}
                Err(DecodeError::TooLarge) => return Err(too_large(t)),
                Err(DecodeError::Invalid(e)) => return Err(invalid(e, t)),
            }
        }
    }
    let body = match decoder.finish() {
        Ok(b) => Bytes::from(b),
        Err(DecodeError::TooLarge) => return Err(too_large(t)),
        Err(DecodeError::Invalid(e)) => return Err(invalid(e, t)),
    };
    Ok(Hop { status: parts.status, headers: parts.headers, body, cert_days_left, tls: None })
}

/// Runs a connection's task beside the probe, for at most [`CONN_TASK_LIMIT`].
fn drive(conn: impl std::future::Future + Send + 'static) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(CONN_TASK_LIMIT, conn).await;
    });
}

fn hyper_class(e: &hyper::Error) -> ErrorClass {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io_class(io);
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        ErrorClass::ConnectReset
    } else {
        ErrorClass::Protocol
    }
}

/// Resolves a `Location` header against the current URI (absolute, scheme-relative, absolute-path or
/// relative-path references).
fn follow(base: &Uri, location: &HeaderValue) -> Result<Uri, ProbeFailure> {
    let bad = |why: &str| ProbeFailure::new(ErrorClass::Redirects, format!("unusable redirect Location: {why}"));
    let loc = location.to_str().map_err(|_| bad("not ASCII"))?;
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    // RFC 3986 §3.1: a reference that starts with `scheme:` is absolute.
    let has_scheme = loc.split_once(':').is_some_and(|(s, _)| {
        s.starts_with(|c: char| c.is_ascii_alphabetic()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let joined = if has_scheme {
        loc.to_string()
    } else if let Some(rest) = loc.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if loc.starts_with('/') {
        format!("{scheme}://{authority}{loc}")
    } else {
        let dir = base.path().rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        format!("{scheme}://{authority}{dir}/{loc}")
    };
    let uri: Uri = joined.parse().map_err(|_| bad(loc))?;
    if uri.host().is_none() || !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad(loc));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_every_kind_of_location() {
        let base: Uri = "https://a.example:8443/x/y?q=1".parse().unwrap();
        let f = |l: &'static str| follow(&base, &HeaderValue::from_static(l)).map(|u| u.to_string());
        assert_eq!(f("http://b.example/z").unwrap(), "http://b.example/z");
        assert_eq!(f("//c.example/p").unwrap(), "https://c.example/p");
        assert_eq!(f("/root").unwrap(), "https://a.example:8443/root");
        assert_eq!(f("sib").unwrap(), "https://a.example:8443/x/sib");
        assert!(f("ftp://x/").is_err());
    }

    /// Every probe in flight holds its future for as long as it runs: after a stall an agent of 50,000
    /// endpoints has 3,900 of them at once. With the TLS path and hickory's lookup inline a plain HTTP
    /// probe's future was 8.9 KiB; boxed where they are taken, 2.3 KiB.
    #[test]
    fn regression_a_plain_http_probe_in_flight_holds_a_small_future() {
        let cfg = HttpProbeConfig {
            url: "http://127.0.0.1:1/".parse().unwrap(),
            method: Method::GET,
            headers: HeaderMap::new(),
            body: None,
            follow_redirects: 5,
            max_body: 1 << 20,
            tls: Default::default(),
            tls_resume: false,
            http2: true,
        };
        let probe = HttpProbe::new(cfg, Shared::new());
        let future = probe.observe();
        let size = std::mem::size_of_val(&*future);
        assert!(size <= 3 * 1024, "an HTTP probe's future is {size} bytes: box what only some probes need (TLS, DNS)");
    }
}
