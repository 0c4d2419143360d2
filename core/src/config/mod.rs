//! Configuration: one file, loaded in two phases.
//!
//! 1. [`document`]: the file is parsed into a tree that remembers the line of every key; environment
//!    overrides (`WATCHPOST__SECTION__KEY`) and `${ENV_VAR}` interpolation are applied to that tree.
//! 2. [`raw`]: each section is deserialized into serde structs with `deny_unknown_fields`, close to what the
//!    user typed; [`validate`] then builds the domain types below, filling in [`defaults`] and collecting
//!    every error with its key path and line.
//!
//! Callers only see [`Config`] (valid by construction) or [`ConfigErrors`] (every problem at once).

pub mod alerting;
mod check;
pub mod defaults;
pub mod document;
pub mod duration;
pub mod error;
pub mod oncall;
pub mod publish;
pub mod raw;
pub mod secret;
pub mod smtp;
pub mod statuspage;
mod validate;

pub use document::{Document, Format, Origin};
pub use duration::{format_duration, parse_duration, HumanDuration};
pub use error::{ConfigError, ConfigErrors};
pub use publish::{MetricValue, PublishedComponent, PublishedMetric, PublisherConfig, PublisherKind, RegionsConfig};
pub use secret::{Masks, Secret};
pub use smtp::{SmtpConfig, SmtpTls};
pub use statuspage::{ComponentConfig, GroupConfig, StateConfig, StatusPageConfig, SubscriptionsConfig};

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub file: String,
    pub agent: AgentConfig,
    pub store: StoreConfig,
    pub server: ServerConfig,
    pub endpoints: Vec<EndpointConfig>,
    /// Maintenance windows from the file (`[[maintenance]]`).
    pub maintenance: Vec<MaintenanceConfig>,
    pub aggregator: AggregatorConfig,
    /// SLA report definitions by name (`[sla.NAME]`).
    pub sla: BTreeMap<String, SlaConfig>,
    /// `[oncall.schedules.NAME]`: on-call rotas by name.
    pub oncall: BTreeMap<String, oncall::ScheduleConfig>,
    /// `[oncall.people.NAME]`: who can be paged, and how.
    pub people: BTreeMap<String, alerting::Person>,
    /// `[alerting]`: rules, escalation policies, notifiers.
    pub alerting: alerting::AlertingConfig,
    /// `[state]`: the local state database.
    pub state: StateConfig,
    /// `[statuspage]`: the public status page.
    pub statuspage: StatusPageConfig,
    /// `[regions]`: how regions vote on an endpoint's state.
    pub regions: RegionsConfig,
    /// `[publishers.NAME]`: hosted status pages fed by the aggregator.
    pub publishers: Vec<PublisherConfig>,
    /// Values from the environment, masked in every check result shown, stored or logged.
    pub masks: Masks,
}

/// One partner's SLA report definition.
#[derive(Debug, Clone)]
pub struct SlaConfig {
    pub name: String,
    pub title: String,
    pub components: Vec<String>,
    /// Empty: every environment the components run in.
    pub environments: Vec<String>,
    /// Percent.
    pub target: f64,
    pub latency_objective: Duration,
    pub tz: jiff::tz::TimeZone,
    pub tz_name: String,
}

#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    pub lateness: Duration,
    pub backfill: Duration,
    pub latency_objective: Duration,
    /// `aggregator.shard = "K/N"`: this aggregator rolls up only the endpoints of shard K of N.
    pub shard: Option<Shard>,
}

/// One of N aggregators, each rolling up the endpoints whose id hashes to it (FNV-1a, stable across builds
/// and machines), with watermarks of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based, as written.
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `"2/4"`.
    pub fn parse(s: &str) -> Option<Shard> {
        let (k, n) = s.split_once('/')?;
        let (index, count) = (k.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?);
        (count >= 1 && (1..=count).contains(&index)).then_some(Shard { index, count })
    }

    /// Whether `endpoint`'s rollups are this shard's.
    pub fn owns(&self, endpoint: &str) -> bool {
        use std::hash::Hasher;
        let mut h = document::Fnv::default();
        h.write(endpoint.as_bytes());
        h.finish() % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// The watermark of `measurement` (`rollup_1m`) for this shard.
    pub fn watermark(shard: Option<Shard>, measurement: &str) -> String {
        match shard {
            None => measurement.to_string(),
            Some(s) => format!("{measurement}.shard{}of{}", s.index, s.count),
        }
    }
}

/// A configured maintenance window.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    pub id: String,
    pub title: String,
    pub schedule: Schedule,
    pub scope: crate::maintenance::Scope,
}

#[derive(Debug, Clone)]
pub enum Schedule {
    Once { start: crate::time::Nanos, end: crate::time::Nanos },
    Recurring { cron: crate::maintenance::cron::Cron, duration: Duration, tz: jiff::tz::TimeZone, tz_name: String },
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub region: String,
    pub concurrency: usize,
    pub queue_capacity: usize,
    pub batch_max_points: usize,
    pub batch_max_age: Duration,
    pub spool: SpoolSettings,
    /// A remote status page to read admin maintenance windows from (base URL, admin token).
    pub maintenance_from: Option<(String, Secret)>,
}

#[derive(Debug, Clone)]
pub struct SpoolSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
    /// Points per second.
    pub replay_rate: u64,
}

/// Which store holds the points; one variant per backend, matched in `store::open`.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Sqlite(SqliteConfig),
    Influxdb(InfluxConfig),
}

#[derive(Debug, Clone)]
pub struct InfluxConfig {
    /// Base URL without a trailing slash.
    pub url: String,
    pub api: InfluxApi,
    /// The database InfluxQL queries read (v1: also the one written).
    pub database: String,
    pub retention_policy: Option<String>,
    pub org: Option<String>,
    pub bucket: Option<String>,
    pub auth: InfluxAuth,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfluxApi {
    V1,
    V2,
}

#[derive(Debug, Clone)]
pub enum InfluxAuth {
    None,
    Basic { username: String, password: Secret },
    Token(Secret),
}

#[derive(Debug, Clone)]
pub struct SqliteConfig {
    pub path: PathBuf,
    pub retention: Duration,
    /// How long the step results of multi-step checks are kept.
    pub check_history: Duration,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
}

/// One endpoint to probe, with every default resolved.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub id: String,
    pub name: String,
    pub component: Option<String>,
    /// Labels for alert rules' selectors.
    pub tags: Vec<String>,
    pub environment: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub retry_interval: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub probe: ProbeConfig,
    pub assertions: Vec<Assertion>,
}

/// What kind of probe an endpoint uses; one variant per `Probe` implementation, matched in the agent's
/// `probe::build`.
#[derive(Debug, Clone)]
pub enum ProbeConfig {
    Http(HttpProbeConfig),
    Tcp(TcpProbeConfig),
    /// A multi-step API check from `[[checks]]`, one per environment it runs in.
    Steps(Box<StepsProbeConfig>),
    Push(PushProbeConfig),
}

impl ProbeConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeConfig::Http(_) => "http",
            ProbeConfig::Tcp(_) => "tcp",
            ProbeConfig::Steps(_) => "steps",
            ProbeConfig::Push(_) => "push",
        }
    }

    /// What is probed, for tables and logs: credentials and query strings (which often carry tokens) are
    /// left out.
    pub fn target(&self) -> String {
        match self {
            ProbeConfig::Http(h) => crate::http::redact_url(&h.url.to_string()),
            ProbeConfig::Tcp(t) => format!("{}:{}", t.host, t.port),
            ProbeConfig::Steps(s) => {
                let names: Vec<&str> = s.steps.iter().map(|s| s.name.as_str()).collect();
                format!("{} step(s): {}", s.steps.len(), names.join(" → "))
            }
            ProbeConfig::Push(_) => "reports to POST /api/v1/push/{id}".into(),
        }
    }
}

/// `Debug` is written by hand below: the URL may carry credentials and tokens (often from `${ENV}`).
#[derive(Clone)]
pub struct HttpProbeConfig {
    pub url: http::Uri,
    pub method: http::Method,
    /// Header values are marked sensitive, so `Debug` does not print them (they often carry tokens).
    pub headers: http::HeaderMap,
    pub body: Option<String>,
    pub follow_redirects: u32,
    pub max_body: u64,
    pub tls_skip_verify: bool,
    /// Resume TLS sessions between probes (off: a full handshake per probe).
    pub tls_resume: bool,
}

impl std::fmt::Debug for HttpProbeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProbeConfig")
            .field("url", &crate::http::redact_url(&self.url.to_string()))
            .field("method", &self.method)
            .field("headers", &self.headers)
            .field("body", &self.body.as_ref().map(|_| "…"))
            .field("follow_redirects", &self.follow_redirects)
            .field("max_body", &self.max_body)
            .field("tls_skip_verify", &self.tls_skip_verify)
            .field("tls_resume", &self.tls_resume)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct TcpProbeConfig {
    pub host: String,
    pub port: u16,
    pub send: Option<String>,
    pub expect: Option<String>,
}

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
    /// The nodes an RFC 9535 JSON path selects in the body; comparisons use the first node.
    Json {
        path: serde_json_path::JsonPath,
        source: String,
        check: Check,
    },
    /// The TLS certificate must have more than this many days left.
    CertDaysLeftAbove(f64),
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
            Assertion::Json { source, check, .. } => format!("json {source} {check}"),
            Assertion::CertDaysLeftAbove(d) => format!("certificate days left above {d}"),
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

/// A multi-step check as it runs in one environment.
#[derive(Debug, Clone)]
pub struct StepsProbeConfig {
    /// The environment's variables (`{{env.NAME}}`).
    pub env: BTreeMap<String, String>,
    /// `[vars]` merged with the check's own `vars` (`{{vars.NAME}}`).
    pub vars: BTreeMap<String, String>,
    pub steps: Vec<StepConfig>,
    pub follow_redirects: u32,
    pub max_body: u64,
    pub tls_skip_verify: bool,
    pub tls_resume: bool,
}

/// One request of a check.
#[derive(Debug, Clone)]
pub struct StepConfig {
    pub name: String,
    pub method: http::Method,
    pub url: crate::template::Template,
    pub query: Vec<(String, crate::template::Template)>,
    pub headers: Vec<(http::HeaderName, crate::template::Template)>,
    pub body: StepBody,
    pub timeout: Duration,
    pub extract: Vec<Extract>,
    pub assertions: Vec<Assertion>,
    /// Runs whatever happened before (cleanup); its failure does not fail the check.
    pub finally: bool,
}

#[derive(Debug, Clone)]
pub enum StepBody {
    None,
    Raw(crate::template::Template),
    Json(JsonTemplate),
    Form(Vec<(String, crate::template::Template)>),
}

/// A JSON document whose strings are templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Value(serde_json::Value),
    String(crate::template::Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

/// A value saved from a response as `{{vars.NAME}}` for the later steps.
#[derive(Debug, Clone)]
pub struct Extract {
    pub name: String,
    pub from: ExtractFrom,
}

#[derive(Debug, Clone)]
pub enum ExtractFrom {
    Json { path: serde_json_path::JsonPath, source: String },
    Header(http::HeaderName),
    Regex(regex::Regex),
}

/// A push endpoint: reporters send results; silence is a miss.
#[derive(Debug, Clone)]
pub struct PushProbeConfig {
    pub token: Secret,
    pub expect_every: Duration,
    pub grace: Duration,
}

/// Accepted status codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusMatcher {
    Exact(u16),
    OneOf(Vec<u16>),
    /// `2` for `2xx`.
    Class(u8),
}

impl StatusMatcher {
    pub fn matches(&self, code: u16) -> bool {
        match self {
            StatusMatcher::Exact(c) => *c == code,
            StatusMatcher::OneOf(cs) => cs.contains(&code),
            StatusMatcher::Class(k) => code / 100 == u16::from(*k),
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
        }
    }
}

/// The largest configuration file read. Why a limit: the file is held three times over while it is parsed
/// (text, spans, tree); 100,000 endpoints take about 11 MiB, so 64 MiB is far beyond any real fleet and far
/// below what would hurt the machine.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

fn read_limited(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| format!("cannot read the configuration file: {e}"))?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "the configuration file is {} MiB, more than the {} MiB Watchpost reads; split the fleet across agents",
            size >> 20,
            MAX_FILE_BYTES >> 20
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the configuration file: {e}"))
}

impl Config {
    /// Reads, parses and validates `path` with the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// As [`Config::load`], with the environment given explicitly (tests).
    pub fn load_with_env(path: &Path, env: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let file_error = |message: String| ConfigErrors::one(ConfigError { file: file.clone(), origin: None, key: String::new(), message });
        let format = Format::from_path(path).map_err(file_error)?;
        let text = read_limited(path).map_err(file_error)?;
        let mut doc = Document::parse(&file, format, &text, env)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        doc.base = Some(std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()));
        validate::validate(&doc)
    }

    /// Parses and validates configuration text named `file` in messages.
    pub fn from_str_with_env(file: &str, format: Format, text: &str, env: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
        let doc = Document::parse(file, format, text, env)?;
        validate::validate(&doc)
    }

    pub fn endpoint(&self, id: &str) -> Option<&EndpointConfig> {
        self.endpoints.iter().find(|e| e.id == id)
    }

    /// The multi-step checks, one entry per check and environment.
    pub fn checks(&self) -> impl Iterator<Item = &EndpointConfig> {
        self.endpoints.iter().filter(|e| matches!(e.probe, ProbeConfig::Steps(_)))
    }

    /// A short human summary, printed by `watchpost check-config`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let store = match &self.store {
            StoreConfig::Sqlite(s) => format!("sqlite at {} (retention {})", s.path.display(), format_duration(s.retention)),
            StoreConfig::Influxdb(i) => {
                format!("influxdb {} at {} (database {})", if i.api == InfluxApi::V1 { "v1" } else { "v2" }, i.url, i.database)
            }
        };
        out.push_str(&format!("store:     {store}\n"));
        out.push_str(&format!("region:    {}\n", self.agent.region));
        out.push_str(&format!("spool:     {} (at most {} MiB)\n", self.agent.spool.dir.display(), self.agent.spool.max_bytes >> 20));
        out.push_str(&format!("server:    http://{} (/healthz, /metrics, /api/v1/push/{{id}})\n", self.server.listen));
        let mut by_kind: std::collections::BTreeMap<&str, usize> = Default::default();
        for e in self.endpoints.iter().filter(|e| !matches!(e.probe, ProbeConfig::Steps(_))) {
            *by_kind.entry(e.probe.kind()).or_default() += 1;
        }
        let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let plain: usize = by_kind.values().sum();
        if kinds.is_empty() {
            out.push_str("endpoints: 0\n");
        } else {
            out.push_str(&format!("endpoints: {plain} ({})\n", kinds.join(", ")));
        }
        let runs = self.checks().count();
        if runs > 0 {
            let mut ids: Vec<&str> = self.checks().map(|c| c.id.as_str()).collect();
            ids.dedup();
            out.push_str(&format!("checks:    {} ({runs} run(s) across their environments)\n", ids.len()));
        }
        if !self.maintenance.is_empty() {
            out.push_str(&format!(
                "windows:   {} maintenance window(s) (`watchpost maintenance list` shows them)\n",
                self.maintenance.len()
            ));
        }
        for sla in self.sla.values() {
            out.push_str(&format!(
                "sla:       {} ({}): {} % for {}, latency objective {}, periods in {}\n",
                sla.name,
                sla.title,
                sla.target,
                sla.components.join(", "),
                format_duration(sla.latency_objective),
                sla.tz_name
            ));
        }
        let sp = &self.statuspage;
        let private = sp.components.iter().filter(|c| c.private).count();
        if !sp.configured {
            out.push_str("status:    no [statuspage] section (`watchpost run` serves no page)\n");
        } else {
            out.push_str(&format!(
                "status:    http://{} \"{}\": {} component(s) ({} private) in {} group(s), times in {}, admin API {}\n",
                sp.listen,
                sp.title,
                sp.components.len(),
                private,
                sp.groups.len(),
                sp.tz_name,
                if sp.admin_token.is_some() { "on" } else { "off (no admin_token)" }
            ));
        }
        out.push_str(&format!("state:     {}\n", self.state.path.display()));
        for o in self.oncall.values() {
            let rotation = match o.rotation {
                oncall::Rotation::Weekly(d) => format!("weekly, {d:?}s at {}", o.handoff.strftime("%H:%M")),
                oncall::Rotation::Daily => format!("daily at {}", o.handoff.strftime("%H:%M")),
            };
            out.push_str(&format!(
                "on call:   {}: {} ({rotation}, {}), {} override(s)\n",
                o.name,
                o.members.join(" → "),
                o.tz_name,
                o.overrides.len()
            ));
        }
        let a = &self.alerting;
        if a.configured {
            let notifiers: Vec<String> = a.notifiers.iter().map(|(n, c)| format!("{n} ({})", c.kind())).collect();
            out.push_str(&format!(
                "alerting:  {} rule(s), {} policy(ies), notifiers {}; evaluated every {}, acknowledge links {}\n",
                a.rules.len(),
                a.policies.len(),
                notifiers.join(", "),
                format_duration(a.evaluation_interval),
                if a.secret.is_some() { "on" } else { "off (no alerting.secret)" }
            ));
            for r in &a.rules {
                let selected = self.endpoints.iter().filter(|e| r.selector.matches(e)).count();
                out.push_str(&format!(
                    "  rule {:<19} {} ({}) on {selected} endpoint(s) → policy {}\n",
                    r.name,
                    r.describe(),
                    r.severity.as_str(),
                    r.policy
                ));
            }
            for p in a.policies.values() {
                let levels: Vec<String> = p
                    .levels
                    .iter()
                    .map(|l| {
                        let who: Vec<String> = l.targets.iter().map(|t| t.describe()).collect();
                        format!("after {}: {}", format_duration(l.after), who.join(" + "))
                    })
                    .collect();
                out.push_str(&format!("  policy {:<17} {} via {}\n", p.name, levels.join("; "), p.notifiers.join(", ")));
            }
        } else {
            out.push_str("alerting:  no [[alerting.rules]] (`watchpost run` pages nobody)\n");
        }
        out.push_str(&format!(
            "rollups:   minutes closed {} after they end; latency objective {}\n",
            format_duration(self.aggregator.lateness),
            format_duration(self.aggregator.latency_objective)
        ));
        let rate: f64 = self.endpoints.iter().map(|e| 1.0 / e.interval.as_secs_f64()).sum();
        out.push_str(&format!("load:      {rate:.1} probes/s at steady state\n"));
        for e in &self.endpoints {
            let name = match e.probe {
                ProbeConfig::Steps(_) => format!("{} [{}]", e.id, e.environment),
                _ => e.id.clone(),
            };
            out.push_str(&format!(
                "  {:<24} {:<5} every {:<6} timeout {:<6} {}\n",
                name,
                e.probe.kind(),
                format_duration(e.interval),
                format_duration(e.timeout),
                e.probe.target()
            ));
        }
        out
    }
}
