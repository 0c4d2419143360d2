//! The `Probe` seam: one exchange with a target, timed by phase and classified on failure.
//!
//! One file per implementation (`http.rs`, `tcp.rs`, `dns.rs`…), built in exactly one place: [`build`], a `match` on the
//! endpoint's [`ProbeConfig`]. A probe only observes; [`run_attempt`] applies the timeout and the endpoint's
//! assertions, so every probe type gets the same assertion language and error classes.

// A `ProbeFailure` carries the phase timings measured before the failure, so it is larger than clippy likes in
// an `Err`; it is built once per failed attempt and moved up a few frames, where boxing would only add an
// allocation to every miss.
#![allow(clippy::result_large_err)]

pub mod assert;
pub mod dns;
pub mod domain;
mod encoding;
pub mod exchange;
pub mod grpc;
pub mod http;
pub mod icmp;
mod net;
pub mod push;
pub mod steps;
pub mod tcp;
pub mod tls;
pub mod tls_probe;
pub mod websocket;

pub use net::Shared;

use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchpost_core::config::{Assertion, EndpointConfig, ProbeConfig};
use watchpost_core::model::ErrorClass;
use watchpost_core::time::{now_nanos, Nanos};

/// Phase timings in milliseconds, where the probe type measures them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub ttfb_ms: Option<f64>,
}

/// What a successful exchange showed; assertions run on it.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub status: Option<u16>,
    pub headers: Option<::http::HeaderMap>,
    /// The body (http) or the bytes received (tcp), at most the configured cap.
    pub body: Bytes,
    pub timings: Timings,
    pub cert_days_left: Option<f64>,
    /// A latency the target reported itself (push checks), used instead of the measured one.
    pub latency_ms: Option<f64>,
    /// Multi-step checks: what each step did.
    pub run: Option<Arc<steps::CheckRun>>,
    /// DNS: the response code and answers.
    pub dns: Option<Arc<dns::DnsAnswer>>,
    /// TLS (tls endpoints, and https): what the handshake showed.
    pub tls: Option<Arc<tls_probe::TlsInfo>>,
    /// ICMP: requests sent, replies and their round trips.
    pub ping: Option<Arc<icmp::PingStats>>,
    /// domain: days until the registration expires.
    pub domain_days_left: Option<f64>,
}

/// An exchange that did not complete.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeFailure {
    pub class: ErrorClass,
    /// A short human explanation for logs. Never a secret (no header values, no URL credentials).
    pub detail: String,
    pub timings: Timings,
    pub status: Option<u16>,
    pub cert_days_left: Option<f64>,
    /// Multi-step checks: what each step did, and which one failed.
    pub run: Option<Arc<steps::CheckRun>>,
    /// A latency the target reported itself (push checks).
    pub latency_ms: Option<f64>,
}

impl ProbeFailure {
    pub fn new(class: ErrorClass, detail: impl Into<String>) -> Self {
        ProbeFailure {
            class,
            detail: detail.into(),
            timings: Timings::default(),
            status: None,
            cert_days_left: None,
            run: None,
            latency_ms: None,
        }
    }
}

/// One attempt's outcome, before confirmation decides its availability.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attempt {
    /// Wall-clock start, nanoseconds since the epoch: the point's timestamp.
    pub start: Nanos,
    pub ok: bool,
    pub error: Option<ErrorClass>,
    pub detail: String,
    pub latency_ms: f64,
    pub timings: Timings,
    pub status_code: Option<u16>,
    pub cert_days_left: Option<f64>,
    /// domain endpoints: days until the registration expires.
    pub domain_days_left: Option<f64>,
    /// Multi-step checks: what each step did, and which one failed.
    pub run: Option<Arc<steps::CheckRun>>,
}

impl Attempt {
    /// An empty attempt started at `start` (tests and builders).
    pub fn at(start: Nanos) -> Self {
        Attempt { start, ..Default::default() }
    }
}

/// The contract of a probe type:
/// - `observe` performs one exchange and returns what it saw, or a failure with its [`ErrorClass`];
/// - it never panics and bounds memory whatever the target sends (endless bodies, garbage, slow drips);
/// - it opens its own connection (no pooling) so that connect and TLS are measured and a dead listener seen;
/// - the caller enforces the timeout by dropping the future, so `observe` must be cancel-safe.
#[async_trait::async_trait]
pub trait Probe: Send + Sync {
    async fn observe(&self) -> Result<Observation, ProbeFailure>;
}

/// Builds the probe an endpoint names. The one place where probe types are registered.
///
/// Push endpoints need the registry the agent's HTTP listener delivers reports through.
pub fn build(endpoint: &EndpointConfig, shared: &Arc<Shared>, pushes: &push::Registry) -> Arc<dyn Probe> {
    match &endpoint.probe {
        ProbeConfig::Http(c) => Arc::new(http::HttpProbe::new(c.clone(), shared.clone())),
        ProbeConfig::Tcp(c) => Arc::new(tcp::TcpProbe::new(c.clone(), shared.clone())),
        ProbeConfig::Dns(c) => Arc::new(dns::DnsProbe::new(c.clone(), shared.clone())),
        ProbeConfig::Tls(c) => Arc::new(tls_probe::TlsProbe::new(c.clone(), shared.clone())),
        ProbeConfig::Icmp(c) => Arc::new(icmp::IcmpProbe::new(c.clone(), shared.clone(), endpoint.timeout)),
        ProbeConfig::Websocket(c) => Arc::new(websocket::WebsocketProbe::new(c.clone(), shared.clone())),
        ProbeConfig::Grpc(c) => Arc::new(grpc::GrpcProbe::new(c.clone(), shared.clone())),
        ProbeConfig::Domain(c) => Arc::new(domain::DomainProbe::new(c.clone(), shared.clone())),
        ProbeConfig::Steps(c) => Arc::new(steps::StepsProbe::new((**c).clone(), shared.clone())),
        ProbeConfig::Push(c) => Arc::new(pushes.register(&endpoint.id, c)),
    }
}

/// Runs one attempt: the probe under `timeout`, then the assertions.
/// `a` with every value of `masks` replaced by `***` in what it says: its detail, and each step's detail and
/// assertion lines. Applied before an attempt is printed, stored or logged (see [`Masks`]).
///
/// [`Masks`]: watchpost_core::config::Masks
pub fn mask_attempt(mut a: Attempt, masks: &watchpost_core::config::Masks) -> Attempt {
    if masks.is_empty() {
        return a;
    }
    a.detail = masks.mask(&a.detail);
    if let Some(run) = a.run.as_mut() {
        let run = Arc::make_mut(run);
        for st in &mut run.steps {
            st.detail = masks.mask(&st.detail);
            for o in &mut st.outcomes {
                o.what = masks.mask(&o.what);
                o.detail = masks.mask(&o.detail);
            }
            if let Some(x) = st.exchange.as_mut() {
                x.url = masks.mask(&x.url);
                x.request_body = masks.mask(&x.request_body);
                x.response_body = masks.mask(&x.response_body);
                for (_, v) in x.request_headers.iter_mut().chain(x.response_headers.iter_mut()) {
                    *v = masks.mask(v);
                }
            }
        }
    }
    a
}

pub async fn run_attempt(probe: &dyn Probe, assertions: &[Assertion], timeout: Duration) -> Attempt {
    let start = now_nanos();
    let t0 = Instant::now();
    let result = tokio::time::timeout(timeout, probe.observe()).await;
    let latency = t0.elapsed();
    let latency_ms = latency.as_secs_f64() * 1e3;
    match result {
        Ok(Ok(obs)) => {
            let verdict = assert::evaluate(assertions, &obs, latency);
            Attempt {
                start,
                ok: verdict.is_ok(),
                error: verdict.as_ref().err().map(|(c, _)| *c),
                detail: verdict.err().map(|(_, d)| d).unwrap_or_default(),
                latency_ms: obs.latency_ms.unwrap_or(latency_ms),
                timings: obs.timings,
                status_code: obs.status,
                cert_days_left: obs.cert_days_left,
                domain_days_left: obs.domain_days_left,
                run: obs.run,
            }
        }
        Ok(Err(f)) => Attempt {
            start,
            ok: false,
            error: Some(f.class),
            detail: f.detail,
            latency_ms: f.latency_ms.unwrap_or(latency_ms),
            timings: f.timings,
            status_code: f.status,
            cert_days_left: f.cert_days_left,
            domain_days_left: None,
            run: f.run,
        },
        Err(_) => Attempt {
            start,
            ok: false,
            error: Some(ErrorClass::Timeout),
            detail: format!("no complete answer within {} ms", timeout.as_millis()),
            latency_ms,
            ..Attempt::default()
        },
    }
}
