//! The gRPC probe: one call of the standard health checking protocol, `grpc.health.v1.Health/Check`, over
//! HTTP/2 (plaintext with prior knowledge, or TLS with ALPN `h2`). `SERVING` is up; any other serving
//! status, or a non-zero `grpc-status` (5 for a service the server does not know), is a `status` miss.
//!
//! The two messages are one field each, so they are written and read here by hand (protobuf's wire format:
//! field 1, a length-delimited string or a varint enum) rather than with a protobuf and gRPC stack.

use super::net::Shared;
use super::tls::{endpoint_config, EndpointTls};
use super::tls_probe::TlsInfo;
use super::{Observation, Probe, ProbeFailure, Timings};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchpost_core::config::GrpcProbeConfig;
use watchpost_core::model::ErrorClass;

/// The most of a response that is read (a health response is 7 bytes).
const MAX_RESPONSE: usize = 64 * 1024;
/// How long the connection task may outlive the probe.
const CONN_TASK_LIMIT: Duration = Duration::from_secs(120);

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
const SERVING_STATUS: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

pub struct GrpcProbe {
    cfg: GrpcProbeConfig,
    shared: Arc<Shared>,
    /// TLS with ALPN `h2`, built once.
    tls: Option<Result<EndpointTls, String>>,
}

impl GrpcProbe {
    pub fn new(cfg: GrpcProbeConfig, shared: Arc<Shared>) -> Self {
        let tls = cfg
            .tls
            .as_ref()
            .map(|o| endpoint_config(o, false).map(|(config, stapled)| (super::tls::with_alpn(&config, &[b"h2"]), stapled)));
        GrpcProbe { cfg, shared, tls }
    }
}

type Fail = (ErrorClass, String);

#[async_trait::async_trait]
impl Probe for GrpcProbe {
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let t0 = Instant::now();
        let (tcp, mut timings) = self.shared.dial(&self.cfg.host, self.cfg.port).await?;
        let fail = |(class, detail): Fail, timings: Timings| ProbeFailure { timings, ..ProbeFailure::new(class, detail) };
        let Some(tls) = &self.tls else {
            let status = self.check(hyper_util::rt::TokioIo::new(tcp), &mut timings, t0).await.map_err(|f| fail(f, timings))?;
            return Ok(Observation { body: status.into(), timings, ..Default::default() });
        };
        let (config, _) = tls.clone().map_err(|e| fail((ErrorClass::Internal, e), timings))?;
        let name = rustls::pki_types::ServerName::try_from(self.cfg.server_name.clone())
            .map_err(|e| fail((ErrorClass::Internal, format!("invalid TLS server name: {e}")), timings))?;
        let started = Instant::now();
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| fail((ErrorClass::Tls, format!("TLS handshake with {}: {e}", self.cfg.server_name)), timings))?;
        timings.tls_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(fail((ErrorClass::Protocol, "the server did not agree to HTTP/2 (ALPN h2) over TLS".into()), timings));
        }
        let info = TlsInfo::of(stream.get_ref().1, false);
        let days = info.earliest_days();
        let status = self
            .check(hyper_util::rt::TokioIo::new(stream), &mut timings, t0)
            .await
            .map_err(|f| ProbeFailure { cert_days_left: days, ..fail(f, timings) })?;
        Ok(Observation { body: status.into(), timings, cert_days_left: days, tls: Some(Arc::new(info)), ..Default::default() })
    }
}

impl GrpcProbe {
    /// One Check call; returns the serving status's name when it is `SERVING`.
    async fn check<I>(&self, io: I, timings: &mut Timings, t0: Instant) -> Result<String, Fail>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let h2 = |e: hyper::Error| (ErrorClass::Protocol, format!("HTTP/2: {e}"));
        let (mut sender, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new()).handshake(io).await.map_err(h2)?;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONN_TASK_LIMIT, conn).await;
        });
        let authority = format!("{}:{}", self.cfg.host, self.cfg.port);
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("{}://{authority}/grpc.health.v1.Health/Check", if self.tls.is_some() { "https" } else { "http" }))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("user-agent", concat!("Watchpost/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(request_message(&self.cfg.service))))
            .map_err(|e| (ErrorClass::Internal, format!("cannot build the request: {e}")))?;
        let resp = sender.send_request(req).await.map_err(h2)?;
        timings.ttfb_ms = Some(t0.elapsed().as_secs_f64() * 1e3);
        let (parts, mut body) = resp.into_parts();
        if parts.status != http::StatusCode::OK {
            return Err((ErrorClass::Protocol, format!("HTTP status {} (not a gRPC server?)", parts.status.as_u16())));
        }
        let mut data = Vec::new();
        // A trailers-only response carries grpc-status in the headers.
        let mut trailers = parts.headers;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(h2)?;
            match frame.into_data() {
                Ok(d) => {
                    if data.len() + d.len() > MAX_RESPONSE {
                        return Err((ErrorClass::BodyTooLarge, format!("response larger than {MAX_RESPONSE} bytes")));
                    }
                    data.extend_from_slice(&d);
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers.extend(t);
                    }
                }
            }
        }
        let grpc_status = trailers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u32>().ok());
        match grpc_status {
            Some(0) => {}
            Some(code) => {
                let message = trailers.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or_default();
                return Err((ErrorClass::Status, format!("grpc-status {code} ({}): {message}", grpc_code_name(code))));
            }
            None => return Err((ErrorClass::Protocol, "the response has no grpc-status".into())),
        }
        let status = parse_response(&data).ok_or_else(|| (ErrorClass::Protocol, "the HealthCheckResponse cannot be read".into()))?;
        let name = SERVING_STATUS.get(status as usize).map_or_else(|| format!("status {status}"), |s| s.to_string());
        if status == 1 {
            Ok(name)
        } else {
            Err((ErrorClass::Status, format!("the health check answered {name}, not SERVING")))
        }
    }
}

/// A length-prefixed gRPC message holding `HealthCheckRequest { service = 1 }`.
fn request_message(service: &str) -> Vec<u8> {
    let mut pb = Vec::new();
    if !service.is_empty() {
        pb.push(0x0a); // field 1, length-delimited
        varint(&mut pb, service.len() as u64);
        pb.extend_from_slice(service.as_bytes());
    }
    let mut msg = vec![0u8]; // not compressed
    msg.extend_from_slice(&(pb.len() as u32).to_be_bytes());
    msg.extend_from_slice(&pb);
    msg
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The `status` of a length-prefixed `HealthCheckResponse` (absent is 0, UNKNOWN, as proto3 omits defaults).
fn parse_response(b: &[u8]) -> Option<u64> {
    if b.len() < 5 || b[0] != 0 {
        return None; // compressed (we asked for none) or cut short
    }
    let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
    let mut pb = b.get(5..5 + len)?;
    let mut status = 0;
    while let Some((&key, rest)) = pb.split_first() {
        let (value, rest) = read_varint(rest)?;
        match key {
            0x08 => status = value,
            // Other fields: only varints are expected in this message.
            k if k & 0x07 == 0 => {}
            _ => return None,
        }
        pb = rest;
    }
    Some(status)
}

fn read_varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

fn grpc_code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_written_and_read_as_protobuf_encodes_them() {
        assert_eq!(request_message(""), [0, 0, 0, 0, 0]);
        assert_eq!(request_message("db"), [0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']);
        assert_eq!(parse_response(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(parse_response(&[0, 0, 0, 0, 0]), Some(0), "proto3 omits the default: UNKNOWN");
        assert_eq!(parse_response(&[1, 0, 0, 0, 2, 0x08, 1]), None, "compressed");
        assert_eq!(parse_response(&[0, 0, 0, 0, 9, 0x08]), None, "cut short");
        assert_eq!(grpc_code_name(5), "NOT_FOUND");
    }
}
