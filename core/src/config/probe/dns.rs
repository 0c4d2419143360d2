//! `type = "dns"`: one DNS query to a server, timed, its response code and answers checked.

use super::{Checked, ProbeConfig};
use crate::config::check::Table;
use serde::Deserialize;

/// The keys of a dns endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// The name to look up (`example.com`; a trailing dot is optional). blackbox_exporter's and Gatus's
    /// spelling: `name` is every endpoint's display name.
    query_name: Option<String>,
    /// The record type to ask for (default `A`).
    record_type: Option<String>,
    /// The server to ask, `host`, `host:port` or `[v6]:port` (default: the first `nameserver` of
    /// `/etc/resolv.conf`, port 53).
    server: Option<String>,
    /// `udp` (default; a truncated answer is asked again over TCP) or `tcp`.
    transport: Option<String>,
    /// Ask the server to recurse (default true; false to check an authoritative server's own data).
    recursion_desired: Option<bool>,
}

/// The record types a dns endpoint can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecordType {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Ns,
    Soa,
    Srv,
    Ptr,
    Caa,
}

impl DnsRecordType {
    pub const ALL: [DnsRecordType; 10] = [
        DnsRecordType::A,
        DnsRecordType::Aaaa,
        DnsRecordType::Cname,
        DnsRecordType::Mx,
        DnsRecordType::Txt,
        DnsRecordType::Ns,
        DnsRecordType::Soa,
        DnsRecordType::Srv,
        DnsRecordType::Ptr,
        DnsRecordType::Caa,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DnsRecordType::A => "A",
            DnsRecordType::Aaaa => "AAAA",
            DnsRecordType::Cname => "CNAME",
            DnsRecordType::Mx => "MX",
            DnsRecordType::Txt => "TXT",
            DnsRecordType::Ns => "NS",
            DnsRecordType::Soa => "SOA",
            DnsRecordType::Srv => "SRV",
            DnsRecordType::Ptr => "PTR",
            DnsRecordType::Caa => "CAA",
        }
    }

    /// The type's code on the wire (RFC 1035 §3.2.2 and its successors).
    pub fn code(self) -> u16 {
        match self {
            DnsRecordType::A => 1,
            DnsRecordType::Ns => 2,
            DnsRecordType::Cname => 5,
            DnsRecordType::Soa => 6,
            DnsRecordType::Ptr => 12,
            DnsRecordType::Mx => 15,
            DnsRecordType::Txt => 16,
            DnsRecordType::Aaaa => 28,
            DnsRecordType::Srv => 33,
            DnsRecordType::Caa => 257,
        }
    }

    /// Whether the answer's data is a domain name (compared without case and trailing dot).
    pub fn is_name(self) -> bool {
        matches!(self, DnsRecordType::Cname | DnsRecordType::Ns | DnsRecordType::Ptr | DnsRecordType::Mx | DnsRecordType::Srv)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsTransport {
    Udp,
    Tcp,
}

#[derive(Debug, Clone)]
pub struct DnsProbeConfig {
    /// Fully qualified, with its trailing dot.
    pub name: String,
    pub record_type: DnsRecordType,
    /// Host (name or address) and port; `None`: the system resolver's first name server.
    pub server: Option<(String, u16)>,
    pub transport: DnsTransport,
    pub recursion_desired: bool,
}

/// The response codes an `rcode` assertion may name (RFC 1035 §4.1.1, RFC 2136, RFC 6895).
pub const RCODES: [&str; 11] =
    ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"];

impl Raw {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Checked> {
        let Some(name_raw) = self.query_name else {
            t.missing("query_name", "missing key `query_name` (required for a dns endpoint: the name to look up)");
            return None;
        };
        let name = match check_name(&name_raw) {
            Ok(n) => Some(n),
            Err(e) => {
                t.error("query_name", e);
                None
            }
        };
        let record_type = match self.record_type.as_deref() {
            None => Some(DnsRecordType::A),
            Some(s) => {
                let found = DnsRecordType::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s));
                if found.is_none() {
                    let all: Vec<&str> = DnsRecordType::ALL.iter().map(|r| r.as_str()).collect();
                    t.error("record_type", format!("unknown record type {s:?}: expected one of {}", all.join(", ")));
                }
                found
            }
        };
        let server = match self.server.as_deref().map(parse_server) {
            None => Some(None),
            Some(Ok(s)) => Some(Some(s)),
            Some(Err(e)) => {
                t.error("server", e);
                None
            }
        };
        let transport = match self.transport.as_deref() {
            None | Some("udp") => Some(DnsTransport::Udp),
            Some("tcp") => Some(DnsTransport::Tcp),
            Some(other) => {
                t.error("transport", format!("unknown transport {other:?}: expected \"udp\" or \"tcp\""));
                None
            }
        };
        let probe = ProbeConfig::Dns(DnsProbeConfig {
            name: name?,
            record_type: record_type?,
            server: server?,
            transport: transport?,
            recursion_desired: self.recursion_desired.unwrap_or(true),
        });
        Some(Checked { probe, schedule: None })
    }
}

/// A name as the wire takes it: labels of 1-63 bytes, 253 in all, with a trailing dot.
fn check_name(raw: &str) -> Result<String, String> {
    let bare = raw.strip_suffix('.').unwrap_or(raw);
    if bare.is_empty() {
        return Ok(".".into());
    }
    if bare.len() > 253 {
        return Err(format!("name {raw:?} is longer than 253 characters"));
    }
    if let Some(label) = bare.split('.').find(|l| l.is_empty() || l.len() > 63) {
        return Err(format!("invalid name {raw:?}: label {label:?} must be 1 to 63 characters"));
    }
    if !bare.is_ascii() {
        return Err(format!("invalid name {raw:?}: write an internationalized name in its xn-- (punycode) form"));
    }
    Ok(format!("{bare}."))
}

/// `host`, `host:port`, `v4:port`, `v6` or `[v6]:port`; port 53 when not given.
pub(super) fn parse_server(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("invalid server {s:?}: expected a host or address, optionally with a port (\"10.0.0.2:53\", \"[::1]:5353\")");
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok((ip.to_string(), 53));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?),
        None => (s, 53),
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() || host.contains([':', '/', ' ']) && host.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_names_parse_as_written() {
        assert_eq!(parse_server("10.0.0.2"), Ok(("10.0.0.2".into(), 53)));
        assert_eq!(parse_server("10.0.0.2:5353"), Ok(("10.0.0.2".into(), 5353)));
        assert_eq!(parse_server("::1"), Ok(("::1".into(), 53)));
        assert_eq!(parse_server("[::1]:5353"), Ok(("::1".into(), 5353)));
        assert_eq!(parse_server("ns1.example.com"), Ok(("ns1.example.com".into(), 53)));
        assert!(parse_server("ns1:0").is_err());
        assert!(parse_server("http://x").is_err());
        assert_eq!(check_name("example.com").as_deref(), Ok("example.com."));
        assert_eq!(check_name("example.com.").as_deref(), Ok("example.com."));
        assert!(check_name("a..b").is_err());
        assert!(check_name(&"x".repeat(64)).is_err());
    }
}
