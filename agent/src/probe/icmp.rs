//! The ICMP probe: `count` echo requests, `packet_interval` apart, to one address of the host; the replies'
//! round-trip times and the share lost.
//!
//! Sockets: an unprivileged ping socket (`SOCK_DGRAM`, `IPPROTO_ICMP`; Linux allows it to the groups in
//! `net.ipv4.ping_group_range`, which also governs IPv6), else a raw socket (root or `CAP_NET_RAW`). Neither
//! allowed is an `internal` miss that names both remedies: the monitor cannot ping, the host may be fine.

use super::net::Shared;
use super::{Observation, Probe, ProbeFailure, Timings};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use watchpost_core::config::{IcmpProbeConfig, IpProtocol};
use watchpost_core::model::ErrorClass;

/// What the replies showed.
#[derive(Debug, Clone, PartialEq)]
pub struct PingStats {
    pub sent: u32,
    pub received: u32,
    /// Round-trip times of the replies, in milliseconds.
    pub rtt_ms: Vec<f64>,
}

impl PingStats {
    pub fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            return 100.0;
        }
        f64::from(self.sent - self.received) * 100.0 / f64::from(self.sent)
    }

    /// min, avg, max.
    pub fn rtt(&self) -> Option<(f64, f64, f64)> {
        let n = self.rtt_ms.len();
        (n > 0).then(|| {
            let min = self.rtt_ms.iter().copied().fold(f64::INFINITY, f64::min);
            let max = self.rtt_ms.iter().copied().fold(0.0, f64::max);
            (min, self.rtt_ms.iter().sum::<f64>() / n as f64, max)
        })
    }

    /// As ping prints it, for `body_contains` and `body_matches`.
    pub fn summary(&self, addr: IpAddr) -> String {
        let mut s = format!(
            "{} packets transmitted to {addr}, {} received, {}% packet loss\n",
            self.sent,
            self.received,
            fmt_pct(self.loss_percent())
        );
        if let Some((min, avg, max)) = self.rtt() {
            s.push_str(&format!("rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms\n"));
        }
        s
    }
}

fn fmt_pct(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

/// An open ICMP socket, and whether the kernel handles identifiers (ping sockets) or we do (raw).
struct Pinger {
    sock: UdpSocket,
    raw: bool,
    v6: bool,
}

/// Opens a ping socket, else a raw one. The error names what would allow either.
fn open(v6: bool) -> Result<Pinger, String> {
    let (domain, protocol) = if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
    let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => (s, false),
        Err(dgram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
            Ok(s) => (s, true),
            Err(raw) => {
                return Err(format!(
                    "this agent may not send ICMP: an unprivileged ping socket was refused ({dgram}: the agent's group must be \
                     within the sysctl net.ipv4.ping_group_range, e.g. `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`) \
                     and so was a raw socket ({raw}: needs root or CAP_NET_RAW)"
                ))
            }
        },
    };
    socket.set_nonblocking(true).map_err(|e| format!("icmp socket: {e}"))?;
    let sock = UdpSocket::from_std(std::net::UdpSocket::from(socket)).map_err(|e| format!("icmp socket: {e}"))?;
    Ok(Pinger { sock, raw, v6 })
}

/// An echo request: type, code, checksum, identifier, sequence, payload (RFC 792; RFC 4443 for IPv6, whose
/// checksum the kernel fills in).
fn echo_request(v6: bool, id: u16, seq: u16, size: usize) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend((0..size).map(|i| (i % 256) as u8));
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sequence number of an echo reply meant for us, or `None` for anything else a raw socket sees (other
/// pings' replies, our own requests on loopback, errors).
fn reply_seq(datagram: &[u8], p: &Pinger, id: u16) -> Option<u16> {
    // A raw IPv4 socket hands over the IP header too.
    let icmp = if p.raw && !p.v6 { datagram.get(usize::from(datagram.first()? & 0x0f) * 4..)? } else { datagram };
    let reply_type = if p.v6 { 129 } else { 0 };
    if *icmp.first()? != reply_type || icmp.len() < 8 {
        return None;
    }
    // A ping socket's identifier is the kernel's, and it delivers only its own replies.
    if p.raw && u16::from_be_bytes([icmp[4], icmp[5]]) != id {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

pub struct IcmpProbe {
    cfg: IcmpProbeConfig,
    shared: Arc<Shared>,
    /// Replies are awaited until just before the attempt's timeout, so a probe with some replies ends with
    /// its count rather than being cut off as a timeout.
    wait_until: Duration,
}

/// Kept between the end of the wait and the attempt's timeout.
const MARGIN: Duration = Duration::from_millis(20);

impl IcmpProbe {
    pub fn new(cfg: IcmpProbeConfig, shared: Arc<Shared>, timeout: Duration) -> Self {
        IcmpProbe { cfg, shared, wait_until: timeout.saturating_sub(MARGIN) }
    }
}

#[async_trait::async_trait]
impl Probe for IcmpProbe {
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let mut timings = Timings::default();
        let (addrs, dns_ms) = self.shared.resolve(&self.cfg.host).await?;
        timings.dns_ms = dns_ms;
        let wanted = |ip: &IpAddr| match self.cfg.ip_protocol {
            IpProtocol::Auto => true,
            IpProtocol::V4 => ip.is_ipv4(),
            IpProtocol::V6 => ip.is_ipv6(),
        };
        let Some(addr) = addrs.iter().copied().find(wanted) else {
            return Err(ProbeFailure {
                timings,
                ..ProbeFailure::new(ErrorClass::Dns, format!("{} has no address of the asked IP version", self.cfg.host))
            });
        };
        let pinger = open(addr.is_ipv6()).map_err(|e| ProbeFailure { timings, ..ProbeFailure::new(ErrorClass::Internal, e) })?;
        let fail = |class, detail: String| ProbeFailure { timings, ..ProbeFailure::new(class, detail) };
        let id: u16 = rand_id();
        let to = SocketAddr::new(addr, 0);
        let mut sent_at: Vec<Option<Instant>> = vec![None; self.cfg.count as usize];
        let mut stats = PingStats { sent: 0, received: 0, rtt_ms: Vec::new() };
        let mut buf = vec![0u8; self.cfg.size + 128];
        let start = tokio::time::Instant::now();
        let deadline =
            start + self.wait_until.saturating_sub(timings.dns_ms.map_or(Duration::ZERO, |ms| Duration::from_secs_f64(ms / 1e3)));
        // Sends on schedule while reading replies, until every reply is in or the deadline passes.
        loop {
            let next_send = (stats.sent < self.cfg.count).then(|| start + self.cfg.packet_interval * stats.sent);
            tokio::select! {
                _ = async { tokio::time::sleep_until(next_send.unwrap_or(start)).await }, if next_send.is_some() => {
                    let seq = stats.sent as u16;
                    let packet = echo_request(pinger.v6, id, seq, self.cfg.size);
                    sent_at[usize::from(seq)] = Some(Instant::now());
                    pinger.sock.send_to(&packet, to).await.map_err(|e| fail(super::net::io_class(&e), format!("send to {addr}: {e}")))?;
                    stats.sent += 1;
                }
                r = pinger.sock.recv_from(&mut buf) => {
                    let (n, from) = r.map_err(|e| fail(super::net::io_class(&e), format!("receive from {addr}: {e}")))?;
                    if from.ip() != addr {
                        continue;
                    }
                    let Some(seq) = reply_seq(&buf[..n], &pinger, id) else { continue };
                    if let Some(t) = sent_at.get_mut(usize::from(seq)).and_then(Option::take) {
                        stats.received += 1;
                        stats.rtt_ms.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
            if stats.sent == self.cfg.count && stats.received == stats.sent {
                break;
            }
        }
        if stats.received == 0 {
            return Err(fail(ErrorClass::Timeout, format!("no reply from {addr} to {} echo request(s)", stats.sent)));
        }
        let avg = stats.rtt().map(|(_, avg, _)| avg);
        Ok(Observation { body: stats.summary(addr).into(), timings, latency_ms: avg, ping: Some(Arc::new(stats)), ..Default::default() })
    }
}

/// A per-probe identifier, so a raw socket tells its replies from those of the agent's other pings.
fn rand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(watchpost_core::time::now_nanos());
    h.finish() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_a_valid_checksum_and_replies_are_told_apart() {
        let p = echo_request(false, 0x1234, 7, 56);
        assert_eq!(p.len(), 64);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        let stats = PingStats { sent: 4, received: 3, rtt_ms: vec![1.0, 2.0, 3.0] };
        assert_eq!(stats.loss_percent(), 25.0);
        assert_eq!(stats.rtt(), Some((1.0, 2.0, 3.0)));
        assert!(stats.summary("127.0.0.1".parse().unwrap()).contains("4 packets transmitted to 127.0.0.1, 3 received, 25% packet loss"));
    }
}
