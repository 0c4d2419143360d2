//! `type = "tcp"`: a connection, optionally a message and the start of the reply.

use super::{Checked, ProbeConfig};
use crate::config::check::Table;
use serde::Deserialize;

/// The keys of a tcp endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// `host:port` to connect to.
    address: Option<String>,
    /// Bytes to send after connecting.
    send: Option<String>,
    /// Text the first reply must contain.
    expect: Option<String>,
}

impl Raw {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Checked> {
        let Some(address) = self.address else {
            t.missing("address", "missing key `address` (required for a tcp endpoint, as host:port)");
            return None;
        };
        match host_port(&address) {
            Some((host, port)) => Some(Checked {
                probe: ProbeConfig::Tcp(TcpProbeConfig { host, port, send: self.send, expect: self.expect }),
                schedule: None,
            }),
            None => {
                t.error("address", format!("invalid address {address:?}: expected host:port such as \"db.internal:5432\""));
                None
            }
        }
    }
}

/// `host:port` or `[v6]:port`, the port above zero.
pub(super) fn host_port(address: &str) -> Option<(String, u16)> {
    address.rsplit_once(':').and_then(|(h, p)| {
        let host = h.trim_start_matches('[').trim_end_matches(']');
        let port = p.parse::<u16>().ok().filter(|p| *p > 0)?;
        (!host.is_empty()).then(|| (host.to_string(), port))
    })
}

#[derive(Debug, Clone)]
pub struct TcpProbeConfig {
    pub host: String,
    pub port: u16,
    pub send: Option<String>,
    pub expect: Option<String>,
}
