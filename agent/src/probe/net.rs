//! What every probe shares: the DNS resolver, the TLS client configurations, and the timed resolve and
//! connect steps with their error classes.

use super::{tls, ProbeFailure};
use hickory_resolver::TokioResolver;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use watchpost_core::model::ErrorClass;

/// Built once per agent and shared by every probe.
pub struct Shared {
    /// `None` when the system has no usable resolver configuration: IP literals still work, names fail as
    /// `dns` with the reason.
    resolver: Result<TokioResolver, String>,
    /// The system's first name server (`/etc/resolv.conf`), asked by dns endpoints that name no `server`.
    nameserver: Result<IpAddr, String>,
    /// TLS client configurations by (skip verification, resume sessions).
    /// TLS client configurations by (skip verification, resume sessions, offer HTTP/2).
    tls: [[[Arc<rustls::ClientConfig>; 2]; 2]; 2],
    /// RDAP bootstrap registries read by domain endpoints, shared so each is fetched once a day.
    pub(super) rdap_bootstrap: super::domain::BootstrapCache,
}

impl Shared {
    /// Reads the system resolver configuration (`/etc/resolv.conf`, `/etc/hosts`). A host without one (some
    /// minimal containers) still probes IP addresses; name lookups then fail as `dns` with the reason.
    pub fn new() -> Arc<Shared> {
        let resolver = TokioResolver::builder_tokio()
            .and_then(|b| b.build())
            .map_err(|e| format!("no DNS resolver: the system resolver configuration could not be read ({e})"));
        if let Err(e) = &resolver {
            tracing::warn!(error = %e, "host names cannot be resolved; endpoints given by IP address are probed as usual");
        }
        let nameserver = hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| e.to_string())
            .and_then(|(c, _)| c.name_servers().first().map(|n| n.ip).ok_or_else(|| "it names no nameserver".into()))
            .map_err(|e| format!("no system name server for dns endpoints without `server` (/etc/resolv.conf: {e})"));
        let tls = [false, true].map(|skip| {
            [false, true].map(|resume| {
                let http1 = tls::probe_config(skip, resume);
                [http1.clone(), tls::with_alpn(&http1, &[b"h2", b"http/1.1"])]
            })
        });
        Arc::new(Shared { resolver, nameserver, tls, rdap_bootstrap: Default::default() })
    }

    /// The TLS configuration for a probe that skips certificate verification or resumes sessions (no ALPN:
    /// HTTP/1.1, WebSocket, or a bare handshake).
    pub(super) fn tls(&self, skip_verify: bool, resume: bool) -> Arc<rustls::ClientConfig> {
        self.tls[usize::from(skip_verify)][usize::from(resume)][0].clone()
    }

    /// As [`Shared::tls`], offering `h2` and `http/1.1` by ALPN (HTTPS probes with `http2`).
    pub(super) fn tls_h2(&self, skip_verify: bool, resume: bool) -> Arc<rustls::ClientConfig> {
        self.tls[usize::from(skip_verify)][usize::from(resume)][1].clone()
    }

    /// The system's first name server.
    pub(super) fn nameserver(&self) -> Result<IpAddr, ProbeFailure> {
        self.nameserver.clone().map_err(|e| ProbeFailure::new(ErrorClass::Dns, e))
    }

    /// Resolves `host` (an IP literal needs no lookup and reports no DNS time). Returns the addresses and the
    /// lookup time in milliseconds.
    pub(super) async fn resolve(&self, host: &str) -> Result<(Vec<IpAddr>, Option<f64>), ProbeFailure> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok((vec![ip], None));
        }
        let resolver = self.resolver.as_ref().map_err(|e| ProbeFailure::new(ErrorClass::Dns, e.clone()))?;
        let t = Instant::now();
        // Boxed: hickory's lookup future is 1 KiB, and inline it would size every probe's future,
        // IP literals' included (see `HttpProbe::hop`).
        let lookup = Box::pin(resolver.lookup_ip(bare))
            .await
            .map_err(|e| ProbeFailure::new(ErrorClass::Dns, format!("cannot resolve {bare}: {e}")))?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let addrs: Vec<IpAddr> = lookup.iter().collect();
        if addrs.is_empty() {
            let mut f = ProbeFailure::new(ErrorClass::Dns, format!("{bare} has no addresses"));
            f.timings.dns_ms = Some(ms);
            return Err(f);
        }
        Ok((addrs, Some(ms)))
    }

    /// Resolves `host` and connects to it: the stream, with the DNS and connect phases timed (a failure
    /// carries the phases it got through).
    pub(super) async fn dial(&self, host: &str, port: u16) -> Result<(TcpStream, super::Timings), ProbeFailure> {
        let mut timings = super::Timings::default();
        let (addrs, dns_ms) = self.resolve(host).await?;
        timings.dns_ms = dns_ms;
        let (stream, connect_ms) = Shared::connect(&addrs, port).await.map_err(|mut f| {
            f.timings = timings;
            f
        })?;
        timings.connect_ms = Some(connect_ms);
        Ok((stream, timings))
    }

    /// Connects to the first address that accepts, in order. Returns the stream and the connect time.
    pub(super) async fn connect(addrs: &[IpAddr], port: u16) -> Result<(TcpStream, f64), ProbeFailure> {
        let t = Instant::now();
        let mut last = None;
        for ip in addrs {
            match TcpStream::connect(SocketAddr::new(*ip, port)).await {
                Ok(s) => {
                    // Small requests: send them at once rather than waiting for Nagle.
                    let _ = s.set_nodelay(true);
                    return Ok((s, t.elapsed().as_secs_f64() * 1e3));
                }
                Err(e) => last = Some((SocketAddr::new(*ip, port), e)),
            }
        }
        let (addr, e) = match last {
            Some(l) => l,
            None => return Err(ProbeFailure::new(ErrorClass::Dns, "no address to connect to")),
        };
        Err(ProbeFailure::new(io_class(&e), format!("connect to {addr}: {e}")))
    }
}

/// Classifies an I/O error from connect, read or write.
pub(super) fn io_class(e: &std::io::Error) -> ErrorClass {
    use std::io::ErrorKind as K;
    // EMFILE, ENFILE: the agent is out of file descriptors. That is the monitor's failure, not the target's,
    // and must not read as `connect`.
    if matches!(e.raw_os_error(), Some(23 | 24)) {
        return ErrorClass::Internal;
    }
    match e.kind() {
        K::ConnectionRefused => ErrorClass::ConnectRefused,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => ErrorClass::ConnectReset,
        K::TimedOut => ErrorClass::Timeout,
        _ => ErrorClass::Connect,
    }
}
