//! Assertions as validated: what a probe's result or a step's response must satisfy. A leaf: endpoints and
//! the steps of checks both use it.

use super::*;

/// A check on a probe's outcome, for endpoints and for every step of a check. Evaluated by the agent; new
/// kinds extend this enum and `raw::RawAssertion`.
#[derive(Debug, Clone)]
pub enum Assertion {
    Status(StatusMatcher),
    LatencyBelow(Duration),
    BodyContains(String),
    BodyMatches(regex::Regex),
    /// A response header (name lower-case).
    Header {
        name: http::HeaderName,
        check: Check,
    },
    /// The nodes an RFC 9535 JSON path selects in the body, checked as `nodes` says (default: the first).
    Json {
        path: serde_json_path::JsonPath,
        source: String,
        check: Check,
        nodes: Nodes,
    },
    /// The body is JSON that this JSON Schema accepts (the file's name, for reports).
    JsonSchema {
        file: String,
        schema: std::sync::Arc<jsonschema::Validator>,
    },
    /// The TLS certificate must have more than this many days left.
    CertDaysLeftAbove(f64),
    /// dns: the response code is one of these (upper case: `NOERROR`, `NXDOMAIN`…).
    Rcode(Vec<String>),
    /// dns: each of these is among the answers of the asked type.
    AnswersContain(Vec<String>),
    /// dns: the answers of the asked type are exactly these, in any order.
    AnswersEqual(Vec<String>),
    /// dns: how many answers of the asked type.
    AnswerCount(CmpOp, u64),
    /// tls, https: the negotiated version is at least TLS 1.x, x this minor number.
    TlsVersionAtLeast(u8),
    /// tls, https: the leaf certificate's issuer (`CN=…, O=…`) contains this.
    IssuerContains(String),
    /// tls: the server stapled an OCSP response (or did not).
    OcspStapled(bool),
    /// icmp: the share of requests without a reply, in percent, is below this.
    PacketLossBelow(f64),
    /// domain: the registration has more than this many days left.
    DomainDaysLeftAbove(f64),
}

impl Assertion {
    /// Whether an HTTP exchange (an http endpoint, a step of a check) shows what the assertion checks: all
    /// but the DNS ones and stapling (recorded by a tls endpoint's own verifier only).
    pub fn applies_to_http(&self) -> bool {
        !matches!(
            self,
            Assertion::Rcode(_)
                | Assertion::AnswersContain(_)
                | Assertion::AnswersEqual(_)
                | Assertion::AnswerCount(..)
                | Assertion::OcspStapled(_)
                | Assertion::DomainDaysLeftAbove(_)
        )
    }

    /// Whether the assertion can be checked on what a probe of this kind observes.
    pub fn applies_to(&self, probe: &crate::config::ProbeConfig) -> bool {
        use crate::config::ProbeConfig as P;
        let dns =
            matches!(self, Assertion::Rcode(_) | Assertion::AnswersContain(_) | Assertion::AnswersEqual(_) | Assertion::AnswerCount(..));
        let tls = matches!(self, Assertion::TlsVersionAtLeast(_) | Assertion::IssuerContains(_) | Assertion::CertDaysLeftAbove(_));
        let text = matches!(self, Assertion::LatencyBelow(_) | Assertion::BodyContains(_) | Assertion::BodyMatches(_));
        match probe {
            P::Http(_) | P::Steps(_) => self.applies_to_http(),
            P::Tcp(_) => text,
            P::Dns(_) => dns || text,
            P::Tls(_) => tls || text || matches!(self, Assertion::OcspStapled(_)),
            P::Icmp(_) => text || matches!(self, Assertion::PacketLossBelow(_)),
            // The first reply is the body; wss shows its handshake.
            P::Websocket(_) => text || tls || matches!(self, Assertion::Json { .. } | Assertion::JsonSchema { .. }),
            // The body is the serving status (`SERVING`).
            P::Grpc(_) => text,
            // The body is the registry's answer (RDAP JSON).
            P::Domain(_) => text || matches!(self, Assertion::DomainDaysLeftAbove(_) | Assertion::Json { .. }),
            P::Push(_) => matches!(self, Assertion::LatencyBelow(_)),
        }
    }
}

impl Assertion {
    /// What the assertion checks, for reports: `status 2xx`, `json $.id == 7`.
    pub fn describe(&self) -> String {
        match self {
            Assertion::Status(m) => format!("status {m}"),
            Assertion::LatencyBelow(d) => format!("latency below {}", format_duration(*d)),
            Assertion::BodyContains(s) => format!("body contains {s:?}"),
            Assertion::BodyMatches(r) => format!("body matches /{}/", r.as_str()),
            Assertion::Header { name, check } => format!("header {name} {check}"),
            Assertion::Json { source, check, nodes: Nodes::First, .. } => format!("json {source} {check}"),
            Assertion::Json { source, check, nodes, .. } => format!("json {source} ({} nodes) {check}", nodes.as_str()),
            Assertion::JsonSchema { file, .. } => format!("body matches JSON Schema {file}"),
            Assertion::CertDaysLeftAbove(d) => format!("certificate days left above {d}"),
            Assertion::Rcode(r) => format!("rcode {}", r.join(" or ")),
            Assertion::AnswersContain(a) => format!("answers contain {}", a.join(", ")),
            Assertion::AnswersEqual(a) => format!("answers equal [{}]", a.join(", ")),
            Assertion::AnswerCount(op, n) => format!("answer count {} {n}", op.as_str()),
            Assertion::TlsVersionAtLeast(minor) => format!("TLS version at least 1.{minor}"),
            Assertion::IssuerContains(s) => format!("issuer contains {s:?}"),
            Assertion::OcspStapled(want) => format!("OCSP response stapled: {want}"),
            Assertion::PacketLossBelow(p) => format!("packet loss below {p}%"),
            Assertion::DomainDaysLeftAbove(d) => format!("domain registration days left above {d}"),
        }
    }
}

/// Which of the nodes a JSON path selects must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nodes {
    /// The first (nothing selected: as the check says of nothing).
    First,
    /// Every one, and at least one selected.
    All,
    /// At least one.
    Any,
}

impl Nodes {
    pub fn as_str(self) -> &'static str {
        match self {
            Nodes::First => "first",
            Nodes::All => "all",
            Nodes::Any => "any",
        }
    }
}

/// How a selected value (a header, a JSON node) is checked.
#[derive(Debug, Clone)]
pub enum Check {
    Exists,
    NotExists,
    /// Missing, `null`, `""`, `[]` or `{}`.
    Empty,
    NotEmpty,
    Compare(CmpOp, Operand),
    /// Substring of a string, element of an array, or key of an object.
    Contains(Operand),
    Matches(regex::Regex),
    /// The number of elements (array), characters (string) or keys (object), compared.
    Length(CmpOp, f64),
    /// Equal to one of these.
    OneOf(Vec<serde_json::Value>),
    /// Of this JSON type: `string`, `number`, `boolean`, `array`, `object` or `null`.
    Type(String),
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Exists => f.write_str("exists"),
            Check::NotExists => f.write_str("not_exists"),
            Check::Empty => f.write_str("empty"),
            Check::NotEmpty => f.write_str("not_empty"),
            Check::Compare(op, v) => write!(f, "{} {v}", op.as_str()),
            Check::Contains(v) => write!(f, "contains {v}"),
            Check::Matches(r) => write!(f, "matches /{}/", r.as_str()),
            Check::Length(op, n) => write!(f, "length {} {n}", op.as_str()),
            Check::Type(t) => write!(f, "type {t}"),
            Check::OneOf(vs) => {
                let shown: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
                write!(f, "one of [{}]", shown.join(", "))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// Whether `ordering` (left against right) satisfies the operator.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ordering == Equal,
            CmpOp::Ne => ordering != Equal,
            CmpOp::Lt => ordering == Less,
            CmpOp::Le => ordering != Greater,
            CmpOp::Gt => ordering == Greater,
            CmpOp::Ge => ordering != Less,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// The right-hand side of a comparison: a literal, or a template rendered at run time (to compare with a
/// variable or a value saved from an earlier step).
#[derive(Debug, Clone)]
pub enum Operand {
    Value(serde_json::Value),
    Template(crate::template::Template),
}

impl std::fmt::Display for Operand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operand::Value(v) => write!(f, "{v}"),
            Operand::Template(t) => write!(f, "{:?}", t.to_string()),
        }
    }
}

/// Accepted status codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusMatcher {
    Exact(u16),
    OneOf(Vec<u16>),
    /// `2` for `2xx`.
    Class(u8),
    /// `< 300` (a Gatus condition).
    Compare(CmpOp, u16),
}

impl StatusMatcher {
    pub fn matches(&self, code: u16) -> bool {
        match self {
            StatusMatcher::Exact(c) => *c == code,
            StatusMatcher::OneOf(cs) => cs.contains(&code),
            StatusMatcher::Class(k) => code / 100 == u16::from(*k),
            StatusMatcher::Compare(op, c) => op.holds(code.cmp(c)),
        }
    }
}

impl std::fmt::Display for StatusMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusMatcher::Exact(c) => write!(f, "{c}"),
            StatusMatcher::OneOf(cs) => {
                let s: Vec<String> = cs.iter().map(|c| c.to_string()).collect();
                write!(f, "one of [{}]", s.join(", "))
            }
            StatusMatcher::Class(k) => write!(f, "{k}xx"),
            StatusMatcher::Compare(op, c) => write!(f, "{} {c}", op.as_str()),
        }
    }
}
