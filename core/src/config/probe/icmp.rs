//! `type = "icmp"`: echo requests to a host (ping), counted and timed.

use super::{Checked, ProbeConfig};
use crate::config::check::Table;
use crate::config::duration::HumanDuration;
use serde::Deserialize;
use std::time::Duration;

/// The keys of an icmp endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// The host to ping: a name or an IPv4 or IPv6 address.
    host: Option<String>,
    /// Echo requests per probe (default 1).
    count: Option<u32>,
    /// Time between two requests of one probe (default `200ms`).
    packet_interval: Option<HumanDuration>,
    /// Payload bytes per request (default 56, as ping's).
    size: Option<usize>,
    /// `ip4`, `ip6`, or `auto` (default: the name's first address).
    ip_protocol: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpProtocol {
    Auto,
    V4,
    V6,
}

#[derive(Debug, Clone)]
pub struct IcmpProbeConfig {
    pub host: String,
    pub count: u32,
    pub packet_interval: Duration,
    pub size: usize,
    pub ip_protocol: IpProtocol,
}

/// The most requests of one probe, and the largest payload (a datagram that needs no fragmenting on
/// Ethernet, less the headers).
const MAX_COUNT: u32 = 100;
const MAX_SIZE: usize = 1452;

impl IcmpProbeConfig {
    /// How long sending every request takes: the last must leave time for its reply within the timeout
    /// (checked with the endpoint's timing).
    pub fn sending(&self) -> Duration {
        self.packet_interval * self.count.saturating_sub(1)
    }
}

impl Raw {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Checked> {
        let count = self.count.unwrap_or(1);
        if !(1..=MAX_COUNT).contains(&count) {
            t.error("count", format!("must be between 1 and {MAX_COUNT}"));
        }
        let packet_interval = self.packet_interval.map_or(Duration::from_millis(200), HumanDuration::as_duration);
        if packet_interval < Duration::from_millis(10) {
            t.error("packet_interval", "must be at least 10ms");
        }
        let size = self.size.unwrap_or(56);
        if size > MAX_SIZE {
            t.error("size", format!("must be at most {MAX_SIZE} bytes"));
        }
        let ip_protocol = match self.ip_protocol.as_deref() {
            None | Some("auto") => Some(IpProtocol::Auto),
            Some("ip4") => Some(IpProtocol::V4),
            Some("ip6") => Some(IpProtocol::V6),
            Some(other) => {
                t.error("ip_protocol", format!("unknown value {other:?}: expected \"ip4\", \"ip6\" or \"auto\""));
                None
            }
        };
        let Some(host) = self.host.filter(|h| !h.trim().is_empty()) else {
            t.missing("host", "missing key `host` (required for an icmp endpoint: the host to ping)");
            return None;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let probe = ProbeConfig::Icmp(IcmpProbeConfig { host, count, packet_interval, size, ip_protocol: ip_protocol? });
        Some(Checked { probe, schedule: None })
    }
}
