//! The probe types of `[[endpoints]]`, one file each, registered in [`ProbeSpec`]: a variant naming the
//! file's `Raw` (its keys, serde, `deny_unknown_fields`) and an arm of [`ProbeSpec::check`], which turns it
//! into the validated [`ProbeConfig`]. The agent's `probe/` holds the matching implementation of each.
//!
//! The keys every endpoint has (id, timing, thresholds, component, assertions…) are read by
//! `validate/endpoint.rs`; every other key of the table belongs to the probe type named by `type` (default
//! `http`), so a key of another type is an unknown key, reported with the keys this type takes.

pub mod dns;
pub mod domain;
pub mod grpc;
pub mod http;
pub mod icmp;
pub mod push;
pub mod steps;
pub mod tcp;
pub mod tls;
pub mod websocket;

use super::check::Table;
use serde::Deserialize;
use std::time::Duration;
use steps::StepsProbeConfig;

pub use dns::{DnsProbeConfig, DnsRecordType, DnsTransport};
pub use domain::{DomainProbeConfig, RdapSource};
pub use grpc::GrpcProbeConfig;
pub use http::HttpProbeConfig;
pub use icmp::{IcmpProbeConfig, IpProtocol};
pub use push::PushProbeConfig;
pub use tcp::TcpProbeConfig;
pub use tls::{ClientIdentity, StartTls, TlsClientOptions, TlsProbeConfig};
pub use websocket::WebsocketProbeConfig;

/// The probe keys of one `[[endpoints]]` table, read by its `type` (`check::tagged`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeSpec {
    Http(http::Raw),
    Tcp(tcp::Raw),
    Dns(dns::Raw),
    Tls(tls::Raw),
    Icmp(icmp::Raw),
    Websocket(websocket::Raw),
    Grpc(grpc::Raw),
    Domain(domain::Raw),
    Push(push::Raw),
}

/// The host a module's target takes the place of while it is checked (`[modules.NAME]`).
pub const MODULE_PLACEHOLDER_HOST: &str = "module-target.invalid";

/// What a probe type's check may need of the endpoint's common keys.
#[derive(Debug, Clone, Copy)]
pub struct Common {
    pub interval: bool,
    pub timeout: bool,
    pub retry_interval: Option<Duration>,
}

/// A probe type's validated configuration, and the schedule it imposes when it has its own (push: reports
/// come on the reporter's schedule).
pub struct Checked {
    pub probe: ProbeConfig,
    /// Interval, timeout and retry interval.
    pub schedule: Option<(Duration, Duration, Duration)>,
}

impl ProbeSpec {
    /// The one place probe types are registered for configuration.
    pub fn check(self, t: &mut Table<'_>, common: Common) -> Option<Checked> {
        match self {
            ProbeSpec::Http(r) => r.check(t),
            ProbeSpec::Tcp(r) => r.check(t),
            ProbeSpec::Dns(r) => r.check(t),
            ProbeSpec::Tls(r) => r.check(t),
            ProbeSpec::Icmp(r) => r.check(t),
            ProbeSpec::Websocket(r) => r.check(t),
            ProbeSpec::Grpc(r) => r.check(t),
            ProbeSpec::Domain(r) => r.check(t),
            ProbeSpec::Push(r) => r.check(t, common),
        }
    }
}

/// What kind of probe an endpoint uses; one variant per `Probe` implementation, matched in the agent's
/// `probe::build`.
#[derive(Debug, Clone)]
pub enum ProbeConfig {
    Http(HttpProbeConfig),
    Tcp(TcpProbeConfig),
    Dns(DnsProbeConfig),
    Tls(TlsProbeConfig),
    Icmp(IcmpProbeConfig),
    Websocket(WebsocketProbeConfig),
    Grpc(GrpcProbeConfig),
    Domain(DomainProbeConfig),
    /// A multi-step API check from `[[checks]]`, one per environment it runs in.
    Steps(Box<StepsProbeConfig>),
    Push(PushProbeConfig),
}

impl ProbeConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeConfig::Http(_) => "http",
            ProbeConfig::Tcp(_) => "tcp",
            ProbeConfig::Dns(_) => "dns",
            ProbeConfig::Tls(_) => "tls",
            ProbeConfig::Icmp(_) => "icmp",
            ProbeConfig::Websocket(_) => "websocket",
            ProbeConfig::Grpc(_) => "grpc",
            ProbeConfig::Domain(_) => "domain",
            ProbeConfig::Steps(_) => "steps",
            ProbeConfig::Push(_) => "push",
        }
    }

    /// The same probe aimed at `target` (a blackbox-style `/probe?target=…`): a URL (or a host, taken as
    /// `http://host`) for http, `host:port` for tcp and tls, the server (`host[:port]`) for dns.
    pub fn with_target(&self, target: &str) -> Result<ProbeConfig, String> {
        let hp = || tcp::host_port(target).ok_or_else(|| format!("invalid target {target:?}: expected host:port"));
        Ok(match self {
            ProbeConfig::Http(h) => {
                let url = if target.contains("://") { target.to_string() } else { format!("http://{target}") };
                ProbeConfig::Http(HttpProbeConfig { url: crate::http::parse_http_url(&url)?, ..h.clone() })
            }
            ProbeConfig::Tcp(t) => {
                let (host, port) = hp()?;
                ProbeConfig::Tcp(TcpProbeConfig { host, port, ..t.clone() })
            }
            ProbeConfig::Grpc(g) => {
                let (host, port) = hp()?;
                let server_name = if g.server_name == MODULE_PLACEHOLDER_HOST { host.clone() } else { g.server_name.clone() };
                ProbeConfig::Grpc(GrpcProbeConfig { host, port, server_name, ..g.clone() })
            }
            ProbeConfig::Tls(t) => {
                let (host, port) = hp()?;
                // A module's server name is the target's host unless the module names one.
                let server_name = if t.server_name == MODULE_PLACEHOLDER_HOST { host.clone() } else { t.server_name.clone() };
                ProbeConfig::Tls(TlsProbeConfig { host, port, server_name, ..t.clone() })
            }
            ProbeConfig::Dns(d) => ProbeConfig::Dns(DnsProbeConfig { server: Some(dns::parse_server(target)?), ..d.clone() }),
            ProbeConfig::Icmp(i) => {
                ProbeConfig::Icmp(IcmpProbeConfig { host: target.trim_start_matches('[').trim_end_matches(']').to_string(), ..i.clone() })
            }
            ProbeConfig::Websocket(w) => {
                let url = target
                    .parse::<::http::Uri>()
                    .ok()
                    .filter(|u| matches!(u.scheme_str(), Some("ws" | "wss")) && u.host().is_some())
                    .ok_or_else(|| format!("invalid target {target:?}: expected ws://… or wss://…"))?;
                ProbeConfig::Websocket(WebsocketProbeConfig { url, ..w.clone() })
            }
            ProbeConfig::Domain(d) => ProbeConfig::Domain(DomainProbeConfig { domain: domain::domain_name(target)?, ..d.clone() }),
            ProbeConfig::Steps(_) | ProbeConfig::Push(_) => return Err(format!("a {} probe takes no target", self.kind())),
        })
    }

    /// What is probed, for tables and logs: credentials and query strings (which often carry tokens) are
    /// left out.
    pub fn target(&self) -> String {
        match self {
            ProbeConfig::Http(h) => crate::http::redact_url(&h.url.to_string()),
            ProbeConfig::Tcp(t) => format!("{}:{}", t.host, t.port),
            ProbeConfig::Icmp(i) => format!("ping {} ×{}", i.host, i.count),
            ProbeConfig::Websocket(w) => crate::http::redact_url(&w.url.to_string()),
            ProbeConfig::Grpc(g) => {
                format!("{}:{} health{}", g.host, g.port, if g.service.is_empty() { String::new() } else { format!(" of {}", g.service) })
            }
            ProbeConfig::Tls(t) => match t.starttls {
                Some(p) => format!("{}:{} (STARTTLS {})", t.host, t.port, p.as_str()),
                None => format!("{}:{}", t.host, t.port),
            },
            ProbeConfig::Dns(d) => {
                let at = d.server.as_ref().map_or("the system resolver".to_string(), |(h, p)| format!("{h}:{p}"));
                format!("{} {} at {at}", d.record_type.as_str(), d.name)
            }
            ProbeConfig::Steps(s) => {
                let names: Vec<&str> = s.steps.iter().map(|s| s.name.as_str()).collect();
                format!("{} step(s): {}", s.steps.len(), names.join(" → "))
            }
            ProbeConfig::Domain(d) => format!("registration of {}", d.domain),
            ProbeConfig::Push(_) => "reports to POST /api/v1/push/{id}".into(),
        }
    }
}
