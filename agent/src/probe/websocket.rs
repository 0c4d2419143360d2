//! The WebSocket probe: the opening handshake (RFC 6455 §4.1, the server's `Sec-WebSocket-Accept`
//! checked), then optionally one text message and the first message back, which is the body the
//! assertions read; then a close frame. Phases: DNS, connect, TLS (wss), and the handshake as `ttfb`.
//!
//! Written on the socket rather than with a WebSocket crate: a probe needs one frame each way, bounded, and
//! timed by phase, not a client library.

use super::net::{io_class, Shared};
use super::tls_probe::TlsInfo;
use super::{Observation, Probe, ProbeFailure, Timings};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use watchpost_core::config::WebsocketProbeConfig;
use watchpost_core::model::ErrorClass;

/// RFC 6455 §1.3: appended to the client's key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The most of the handshake response that is read.
const MAX_HEAD: usize = 16 * 1024;

pub struct WebsocketProbe {
    cfg: WebsocketProbeConfig,
    shared: Arc<Shared>,
}

impl WebsocketProbe {
    pub fn new(cfg: WebsocketProbeConfig, shared: Arc<Shared>) -> Self {
        WebsocketProbe { cfg, shared }
    }
}

type Fail = (ErrorClass, String);

#[async_trait::async_trait]
impl Probe for WebsocketProbe {
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let t0 = Instant::now();
        let url = &self.cfg.url;
        let secure = url.scheme_str() == Some("wss");
        let host = url.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = url.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let (tcp, mut timings) = self.shared.dial(&host, port).await?;
        let fail = |(class, detail): Fail, timings: Timings| ProbeFailure { timings, ..ProbeFailure::new(class, detail) };
        if !secure {
            let body = self.exchange(tcp, &mut timings, t0).await.map_err(|f| fail(f, timings))?;
            return Ok(Observation { body: body.into(), timings, ..Default::default() });
        }
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| fail((ErrorClass::Tls, format!("invalid TLS server name {host}: {e}")), timings))?;
        let started = Instant::now();
        let tls = tokio_rustls::TlsConnector::from(self.shared.tls(self.cfg.tls_skip_verify, false))
            .connect(name, tcp)
            .await
            .map_err(|e| fail((ErrorClass::Tls, format!("TLS handshake with {host}: {e}")), timings))?;
        timings.tls_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        let info = TlsInfo::of(tls.get_ref().1, false);
        let days = info.earliest_days();
        let body = self.exchange(tls, &mut timings, t0).await.map_err(|f| ProbeFailure { cert_days_left: days, ..fail(f, timings) })?;
        Ok(Observation { body: body.into(), timings, cert_days_left: days, tls: Some(Arc::new(info)), ..Default::default() })
    }
}

impl WebsocketProbe {
    /// The handshake and the optional message, on an open stream; returns the first reply's payload.
    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(&self, mut s: S, timings: &mut Timings, t0: Instant) -> Result<Vec<u8>, Fail> {
        let url = &self.cfg.url;
        let key = base64(&random16());
        let path = url.path_and_query().map_or("/", |p| p.as_str());
        let authority = url.authority().map(|a| a.as_str().rsplit('@').next().unwrap_or_default()).unwrap_or_default();
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
             Sec-WebSocket-Version: 13\r\nUser-Agent: Watchpost/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
        for (name, value) in &self.cfg.headers {
            req.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes())));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.map_err(|e| (io_class(&e), format!("send the handshake: {e}")))?;
        let mut head = Vec::new();
        let mut rest = Vec::new();
        let mut chunk = [0u8; 2048];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            if head.len() > MAX_HEAD {
                return Err((ErrorClass::Protocol, "no complete handshake response within 16 KiB".into()));
            }
            let n = s.read(&mut chunk).await.map_err(|e| (io_class(&e), format!("read the handshake: {e}")))?;
            if n == 0 {
                return Err((ErrorClass::ConnectReset, "the server closed the connection during the handshake".into()));
            }
            head.extend_from_slice(&chunk[..n]);
        }
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            rest = head.split_off(end + 4);
        }
        let text = String::from_utf8_lossy(&head);
        let status_line = text.lines().next().unwrap_or_default();
        if status_line.split_whitespace().nth(1) != Some("101") {
            let shown: String = status_line.chars().take(100).collect();
            return Err((ErrorClass::Protocol, format!("expected 101 Switching Protocols, got {shown:?}")));
        }
        let accept = text
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-accept")).map(|(_, v)| v.trim()));
        let want = base64(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, format!("{key}{GUID}").as_bytes()).as_ref());
        if accept != Some(want.as_str()) {
            return Err((ErrorClass::Protocol, format!("the Sec-WebSocket-Accept header is {accept:?}, not {want:?} (RFC 6455 §4.1)")));
        }
        timings.ttfb_ms = Some(t0.elapsed().as_secs_f64() * 1e3);
        let mut reader = Frames { buf: rest, max: self.cfg.max_body as usize };
        if let Some(message) = &self.cfg.send {
            s.write_all(&frame(0x1, message.as_bytes())).await.map_err(|e| (io_class(&e), format!("send the message: {e}")))?;
        }
        let body = if self.cfg.receive { reader.message(&mut s).await? } else { Vec::new() };
        // A close frame with 1000 (normal closure); the server's answer is not waited for.
        let _ = s.write_all(&frame(0x8, &1000u16.to_be_bytes())).await;
        let _ = s.flush().await;
        Ok(body)
    }
}

/// A masked client frame with FIN set (RFC 6455 §5.2).
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask: [u8; 4] = random16()[..4].try_into().unwrap_or([0x5a; 4]);
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Server frames, bounded: control frames skipped, a message's fragments joined.
struct Frames {
    buf: Vec<u8>,
    max: usize,
}

impl Frames {
    async fn fill<S: AsyncRead + Unpin>(&mut self, s: &mut S, need: usize) -> Result<(), Fail> {
        let mut chunk = [0u8; 4096];
        while self.buf.len() < need {
            let n = s.read(&mut chunk).await.map_err(|e| (io_class(&e), format!("read a message: {e}")))?;
            if n == 0 {
                return Err((ErrorClass::ConnectReset, "the server closed the connection before its first message".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    }

    /// The first data message's payload.
    async fn message<S: AsyncRead + Unpin>(&mut self, s: &mut S) -> Result<Vec<u8>, Fail> {
        let mut message = Vec::new();
        loop {
            self.fill(s, 2).await?;
            let (fin, opcode, masked, len7) = (self.buf[0] & 0x80 != 0, self.buf[0] & 0x0f, self.buf[1] & 0x80 != 0, self.buf[1] & 0x7f);
            let (len, header) = match len7 {
                126 => {
                    self.fill(s, 4).await?;
                    (u64::from(u16::from_be_bytes([self.buf[2], self.buf[3]])), 4)
                }
                127 => {
                    self.fill(s, 10).await?;
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.buf[2..10]);
                    (u64::from_be_bytes(b), 10)
                }
                n => (u64::from(n), 2),
            };
            let header = header + if masked { 4 } else { 0 };
            if message.len() as u64 + len > self.max as u64 {
                return Err((ErrorClass::BodyTooLarge, format!("message larger than {} bytes", self.max)));
            }
            let total = header + len as usize;
            self.fill(s, total).await?;
            let mut payload: Vec<u8> = self.buf[header..total].to_vec();
            if masked {
                let mask = [self.buf[header - 4], self.buf[header - 3], self.buf[header - 2], self.buf[header - 1]];
                payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= mask[i % 4]);
            }
            self.buf.drain(..total);
            match opcode {
                0x8 => {
                    let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    return Err((ErrorClass::Protocol, format!("the server closed the WebSocket (code {code:?}) instead of answering")));
                }
                0x9 | 0xa => continue, // ping, pong
                0x0..=0x2 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return Ok(message);
                    }
                }
                other => return Err((ErrorClass::Protocol, format!("unknown frame opcode {other:#x}"))),
            }
        }
    }
}

/// 16 bytes for the handshake key and frame masks: not secret (RFC 6455 §10.3 asks only that the mask be
/// unpredictable to the page's script, and a probe runs none).
fn random16() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 16];
    for half in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(watchpost_core::time::now_nanos());
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_of_rfc_6455_section_1_3() {
        // The RFC's own example: key "dGhlIHNhbXBsZSBub25jZQ==" answers "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, format!("dGhlIHNhbXBsZSBub25jZQ=={GUID}").as_bytes());
        assert_eq!(base64(digest.as_ref()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
        let f = frame(0x1, b"hi");
        assert_eq!((f[0], f[1]), (0x81, 0x82));
        assert_eq!([f[6] ^ f[2], f[7] ^ f[3]], *b"hi");
    }
}
