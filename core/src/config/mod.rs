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
mod endpoint;
pub mod error;
pub mod oncall;
pub mod publish;
pub mod raw;
pub mod secret;
pub mod smtp;
pub mod statuspage;
mod summary;
mod validate;

pub use document::{Document, Format, Origin};
pub use duration::{format_duration, parse_duration, HumanDuration};
pub use endpoint::*;
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
}
