//! The DNS probe: one query to one server, over UDP (asked again over TCP when the answer is truncated) or
//! TCP, timed, with the response code and the answers of the asked type kept for the assertions.
//!
//! Why not the resolver the other probes use: it caches, retries other servers, follows search domains and
//! folds NXDOMAIN into an error. A DNS check asks one server one question and must see exactly what it said.

use super::net::{io_class, Shared};
use super::{Observation, Probe, ProbeFailure, Timings};
use hickory_resolver::proto::op::{Edns, Message, Query};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use watchpost_core::config::{DnsProbeConfig, DnsRecordType, DnsTransport};
use watchpost_core::model::ErrorClass;

/// The UDP payload size offered (EDNS0): the size DNS flag day 2020 settled on, which no path fragments.
const UDP_PAYLOAD: u16 = 1232;
/// Datagrams answering other questions (a late answer to an earlier probe) skipped before giving up.
const MAX_STRAY: usize = 16;

/// What a DNS server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsAnswer {
    /// `NOERROR`, `NXDOMAIN`… (`RCODE12` for a code without a name).
    pub rcode: String,
    pub record_type: DnsRecordType,
    /// The data of each answer of the asked type, as a zone file writes it (`10.0.0.1`, `10 mx.example.com.`).
    pub answers: Vec<String>,
    /// Whether the answer came over TCP (asked so, or after a truncated UDP answer).
    pub tcp: bool,
}

impl DnsAnswer {
    /// Whether `want` is one of the answers: names compare without case and trailing dot, addresses by value.
    pub fn has(&self, want: &str) -> bool {
        let want = normalize(self.record_type, want);
        self.answers.iter().any(|a| normalize(self.record_type, a) == want)
    }

    /// The answers as a set, normalized and sorted (for `answers_equal`).
    pub fn normalized(&self) -> Vec<String> {
        let mut all: Vec<String> = self.answers.iter().map(|a| normalize(self.record_type, a)).collect();
        all.sort();
        all.dedup();
        all
    }
}

/// One answer's data in the form it is compared in.
pub fn normalize(record_type: DnsRecordType, text: &str) -> String {
    match record_type {
        DnsRecordType::A | DnsRecordType::Aaaa => {
            text.trim().parse::<IpAddr>().map_or_else(|_| text.trim().to_string(), |ip| ip.to_string())
        }
        t if t.is_name() || t == DnsRecordType::Soa => {
            text.split_whitespace().map(|w| w.trim_end_matches('.').to_ascii_lowercase()).collect::<Vec<_>>().join(" ")
        }
        _ => text.to_string(),
    }
}

pub struct DnsProbe {
    cfg: DnsProbeConfig,
    shared: Arc<Shared>,
    /// The question on the wire, built once (only its id changes per probe).
    name: Result<Name, String>,
}

impl DnsProbe {
    pub fn new(cfg: DnsProbeConfig, shared: Arc<Shared>) -> Self {
        let name = Name::from_ascii(&cfg.name).map_err(|e| format!("invalid name {:?}: {e}", cfg.name));
        DnsProbe { cfg, shared, name }
    }

    fn question(&self) -> Result<(u16, Vec<u8>), ProbeFailure> {
        let name = self.name.clone().map_err(|e| ProbeFailure::new(ErrorClass::Internal, e))?;
        let mut m = Message::query();
        m.metadata.recursion_desired = self.cfg.recursion_desired;
        m.add_query(Query::query(name, RecordType::from(self.cfg.record_type.code())));
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_PAYLOAD);
        m.set_edns(edns);
        let bytes = m.to_vec().map_err(|e| ProbeFailure::new(ErrorClass::Internal, format!("cannot encode the query: {e}")))?;
        Ok((m.metadata.id, bytes))
    }

    /// The server's address: configured (a name is resolved by the system resolver), or the system's own.
    async fn server(&self, timings: &mut Timings) -> Result<SocketAddr, ProbeFailure> {
        match &self.cfg.server {
            Some((host, port)) => {
                let (addrs, dns_ms) = self.shared.resolve(host).await?;
                timings.dns_ms = dns_ms;
                let ip = addrs.first().ok_or_else(|| ProbeFailure::new(ErrorClass::Dns, format!("{host} has no addresses")))?;
                Ok(SocketAddr::new(*ip, *port))
            }
            None => self.shared.nameserver().map(|ip| SocketAddr::new(ip, 53)),
        }
    }
}

#[async_trait::async_trait]
impl Probe for DnsProbe {
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let mut timings = Timings::default();
        let server = self.server(&mut timings).await?;
        let (id, question) = self.question()?;
        let t = Instant::now();
        let fail = |class, detail: String, timings: Timings| ProbeFailure { timings, ..ProbeFailure::new(class, detail) };
        let mut tcp = self.cfg.transport == DnsTransport::Tcp;
        let mut reply = if tcp {
            ask_tcp(server, id, &question, &mut timings).await
        } else {
            ask_udp(server, id, &question).await.map_err(|(c, d)| fail(c, d, timings))
        }?;
        if reply.metadata.truncation && !tcp {
            // The whole answer does not fit a datagram: ask again over TCP, as resolvers do (RFC 7766).
            reply = ask_tcp(server, id, &question, &mut timings).await?;
            tcp = true;
        }
        let rcode = rcode_name(u16::from(reply.metadata.response_code));
        let asked = RecordType::from(self.cfg.record_type.code());
        let mut body = String::new();
        let mut answers = Vec::new();
        for r in &reply.answers {
            let data = rdata_text(&r.data);
            // The answer section as `dig` prints it, for `body_contains` and `body_matches`.
            body.push_str(&format!("{} {} IN {} {}\n", r.name, r.ttl, r.record_type(), data));
            if r.record_type() == asked {
                answers.push(data);
            }
        }
        // What the lookup took, whatever the transport: blackbox_exporter's `probe_dns_lookup_time_seconds`.
        timings.ttfb_ms = Some(t.elapsed().as_secs_f64() * 1e3);
        let answer = DnsAnswer { rcode, record_type: self.cfg.record_type, answers, tcp };
        Ok(Observation { body: body.into(), timings, dns: Some(Arc::new(answer)), ..Default::default() })
    }
}

async fn ask_udp(server: SocketAddr, id: u16, question: &[u8]) -> Result<Message, (ErrorClass, String)> {
    let local: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let sock = UdpSocket::bind(local).await.map_err(|e| (io_class(&e), format!("udp socket: {e}")))?;
    // Connected: the kernel drops datagrams from anyone else, and an ICMP port unreachable reads as refused.
    sock.connect(server).await.map_err(|e| (io_class(&e), format!("udp {server}: {e}")))?;
    sock.send(question).await.map_err(|e| (io_class(&e), format!("send to {server}: {e}")))?;
    let mut buf = vec![0u8; 4096];
    for _ in 0..MAX_STRAY {
        let n = sock.recv(&mut buf).await.map_err(|e| (io_class(&e), format!("udp {server}: {e}")))?;
        match Message::from_vec(&buf[..n]) {
            Ok(m) if m.metadata.id == id => return Ok(m),
            Ok(_) => continue,
            Err(e) => return Err((ErrorClass::Protocol, format!("{server} sent a malformed DNS message: {e}"))),
        }
    }
    Err((ErrorClass::Protocol, format!("{server} sent {MAX_STRAY} answers to other questions")))
}

async fn ask_tcp(server: SocketAddr, id: u16, question: &[u8], timings: &mut Timings) -> Result<Message, ProbeFailure> {
    let (mut stream, connect_ms) = Shared::connect(&[server.ip()], server.port()).await.map_err(|mut f| {
        f.timings = *timings;
        f
    })?;
    timings.connect_ms = Some(connect_ms);
    let fail = |class, detail: String| ProbeFailure { timings: *timings, ..ProbeFailure::new(class, detail) };
    // RFC 1035 §4.2.2: each message is preceded by its length in two bytes.
    let len = u16::try_from(question.len()).map_err(|_| fail(ErrorClass::Internal, "the query is too long".into()))?;
    let mut framed = Vec::with_capacity(question.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(question);
    stream.write_all(&framed).await.map_err(|e| fail(io_class(&e), format!("send to {server}: {e}")))?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(|e| fail(io_class(&e), format!("read from {server}: {e}")))?;
    // At most 64 KiB by the framing itself: the bound on what a server can make us hold.
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(|e| fail(io_class(&e), format!("read from {server}: {e}")))?;
    let m = Message::from_vec(&buf).map_err(|e| fail(ErrorClass::Protocol, format!("{server} sent a malformed DNS message: {e}")))?;
    if m.metadata.id != id {
        return Err(fail(ErrorClass::Protocol, format!("{server} answered another question (id {} for {id})", m.metadata.id)));
    }
    Ok(m)
}

/// A record's data as a zone file writes it; TXT as its strings joined (RFC 7208 §3.3), without quotes.
fn rdata_text(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt.txt_data.iter().map(|s| String::from_utf8_lossy(s)).collect(),
        other => other.to_string(),
    }
}

fn rcode_name(code: u16) -> String {
    watchpost_core::config::probe::dns::RCODES.get(usize::from(code)).map_or_else(|| format!("RCODE{code}"), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_compare_as_their_type_reads() {
        let a = DnsAnswer { rcode: "NOERROR".into(), record_type: DnsRecordType::Aaaa, answers: vec!["::1".into()], tcp: false };
        assert!(a.has("0:0:0:0:0:0:0:1"));
        let mx = DnsAnswer {
            rcode: "NOERROR".into(),
            record_type: DnsRecordType::Mx,
            answers: vec!["10 MX.Example.com.".into(), "20 b.example.com.".into()],
            tcp: false,
        };
        assert!(mx.has("10 mx.example.com"));
        assert!(!mx.has("mx.example.com"));
        assert_eq!(mx.normalized(), ["10 mx.example.com", "20 b.example.com"]);
        let txt = DnsAnswer { rcode: "NOERROR".into(), record_type: DnsRecordType::Txt, answers: vec!["v=spf1 -all".into()], tcp: false };
        assert!(txt.has("v=spf1 -all") && !txt.has("V=SPF1 -ALL"), "TXT compares exactly");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(23), "RCODE23");
    }
}
