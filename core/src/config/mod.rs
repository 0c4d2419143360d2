//! Configuration: one file, loaded in two phases.
//!
//! 1. [`document`]: the file is parsed into a tree that remembers the line of every key; environment
//!    overrides (`WATCHPOST__SECTION__KEY`) and `${ENV_VAR}` interpolation are applied to that tree.
//! 2. [`raw`]: each section is deserialized into serde structs with `deny_unknown_fields`, close to what the
//!    user typed; [`validate`] then builds the domain types below, filling in [`defaults`] and collecting
//!    every error with its key path and line.
//!
//! This module holds the framework ([`document`], [`check`], [`duration`], [`secret`]) and the shared
//! sections: agent, store, server, endpoints and checks (each probe type's keys in [`probe`]), maintenance,
//! components and groups, people and on-call schedules, regions, state, aggregator. The parts read their own
//! sections (`[alerting]`, `[statuspage]`, `[publishers]`, `[sla]`) from the same [`Document`] against this
//! [`Config`] ([`Config::from_document`]); the binary assembles them (`src/settings.rs`).
//!
//! Callers only see [`Config`] (valid by construction) or [`ConfigErrors`] (every problem at once).

mod assertions;
pub mod check;
mod components;
pub mod defaults;
pub mod document;
pub mod duration;
mod endpoint;
pub mod error;
pub mod gatus;
pub mod oncall;
mod people;
pub mod probe;
pub mod raw;
mod regions;
pub mod secret;
pub mod smtp;
mod state;
mod summary;
mod syntax;
mod validate;
pub use validate::BUILTIN_LABELS;

pub use assertions::*;
pub use components::{ComponentConfig, GroupConfig};
pub use document::{Document, Format, Origin};
pub use duration::{format_duration, parse_duration, HumanDuration};
pub use endpoint::*;
pub use error::{ConfigError, ConfigErrors};
pub use people::Person;
pub use probe::steps::*;
pub use probe::{
    ClientIdentity, DnsProbeConfig, DnsRecordType, DnsTransport, DomainProbeConfig, GrpcProbeConfig, HttpProbeConfig, IcmpProbeConfig,
    IpProtocol, ProbeConfig, PushProbeConfig, RdapSource, StartTls, TcpProbeConfig, TlsClientOptions, TlsProbeConfig, WebsocketProbeConfig,
};
pub use regions::RegionsConfig;
pub use secret::{Masks, Secret};
pub use smtp::{SmtpConfig, SmtpTls};
pub use state::StateConfig;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use document::MAX_FILE_BYTES;
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
    /// `[oncall.schedules.NAME]`: on-call rotas by name.
    pub oncall: BTreeMap<String, oncall::ScheduleConfig>,
    /// `[oncall.people.NAME]`: who can be paged, and how.
    pub people: BTreeMap<String, Person>,
    /// `[state]`: the local state database.
    pub state: StateConfig,
    /// `[regions]`: how regions vote on an endpoint's state.
    pub regions: RegionsConfig,
    /// `[[statuspage.groups]]`: headings components sit under.
    pub groups: Vec<GroupConfig>,
    /// `[[statuspage.components]]`, or one per endpoint `component`: what pages, publishers and reports show.
    pub components: Vec<ComponentConfig>,
    /// Values from the environment, masked in every check result shown, stored or logged.
    pub masks: Masks,
    /// `[modules.NAME]`: probes without a target, for blackbox-style `/probe?target=…&module=NAME`.
    pub modules: BTreeMap<String, ModuleConfig>,
}

/// A probe aimed at a target per request (`ProbeConfig::with_target`), as blackbox_exporter's modules.
#[derive(Debug, Clone)]
pub struct ModuleConfig {
    /// Its target is a placeholder until a request names one.
    pub probe: ProbeConfig,
    pub assertions: Vec<Assertion>,
    /// The longest a probe may take (the scrape's own timeout may shorten it).
    pub timeout: Duration,
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

    /// `shard` (all endpoints when `None`) cut into `parts` disjoint shards that together own exactly its
    /// endpoints: part j of shard k/N is shard (k + N·j)/(N·parts), because a hash that leaves k-1 modulo
    /// N·parts leaves k-1 modulo N. How a wide read is split into bounded ones by endpoint.
    pub fn split(shard: Option<Shard>, parts: u32) -> Vec<Shard> {
        let Shard { index, count } = shard.unwrap_or(Shard { index: 1, count: 1 });
        let parts = parts.max(1);
        (0..parts).map(|j| Shard { index: index + count * j, count: count * parts }).collect()
    }

    /// Every shard of an aggregator sharded as `shard` says: all `count` of them, or the one unsharded.
    pub fn every(shard: Option<Shard>) -> Vec<Option<Shard>> {
        match shard {
            None => vec![None],
            Some(s) => (1..=s.count).map(|index| Some(Shard { index, count: s.count })).collect(),
        }
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
    /// v1: where rollups are written and read, when not with the raw points (see `influx`).
    pub rollup_retention_policy: Option<String>,
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

impl Config {
    /// Reads, parses and validates `path` with the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// As [`Config::load`], with the environment given explicitly (tests).
    pub fn load_with_env(path: &Path, env: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
        validate::validate(&Document::load_with_env(path, env)?)
    }

    /// Parses and validates configuration text named `file` in messages.
    pub fn from_str_with_env(file: &str, format: Format, text: &str, env: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
        let doc = Document::parse(file, format, text, env)?;
        validate::validate(&doc)
    }

    /// Phase two of the shared sections for a binary that also validates the parts' sections: the
    /// configuration as far as it is valid, with every error found so far, so that the parts can check
    /// theirs against it and all errors are reported together. `Err` only when nothing could be read.
    pub fn from_document(doc: &Document) -> Result<(Config, ConfigErrors), ConfigErrors> {
        validate::shared(doc)
    }

    /// Public components, in page order.
    pub fn public_components(&self) -> impl Iterator<Item = &ComponentConfig> {
        self.components.iter().filter(|c| !c.private)
    }

    pub fn endpoint(&self, id: &str) -> Option<&EndpointConfig> {
        self.endpoints.iter().find(|e| e.id == id)
    }

    /// The multi-step checks, one entry per check and environment.
    pub fn checks(&self) -> impl Iterator<Item = &EndpointConfig> {
        self.endpoints.iter().filter(|e| matches!(e.probe, ProbeConfig::Steps(_)))
    }
}

#[cfg(test)]
mod shard_tests {
    use super::Shard;

    #[test]
    fn the_parts_of_a_shard_own_exactly_its_endpoints_once() {
        let endpoints: Vec<String> = (0..2000).map(|i| format!("endpoint-{i}")).collect();
        for shard in [None, Some(Shard { index: 2, count: 3 })] {
            let parts = Shard::split(shard, 4);
            assert_eq!(parts.len(), 4);
            for e in &endpoints {
                let owners = parts.iter().filter(|p| p.owns(e)).count();
                let owned = shard.is_none_or(|s| s.owns(e));
                assert_eq!(owners, usize::from(owned), "{e} in {shard:?}");
            }
            // Every part has some: the split spreads.
            assert!(parts.iter().all(|p| endpoints.iter().filter(|e| p.owns(e)).count() > 50));
        }
        assert_eq!(Shard::split(None, 0), [Shard { index: 1, count: 1 }]);
    }
}
