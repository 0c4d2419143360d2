//! Maintenance windows (DESIGN.md §5.3) and the `MaintenanceSource` seam they come through.
//!
//! A window names endpoints, components, or everything, and has a start and an end. Sources answer "which
//! windows touch this range"; the agent asks for the next hours and skips probes inside them, `watchpost
//! maintenance list` asks for any range, and reports exclude the time. Today's source is the configuration
//! (`config.rs`: one-off and recurring windows) and the status page's admin API (`state.rs`: windows kept in
//! the local state database); external status pages are further implementations of the same trait, all
//! registered in [`sources`].

pub mod config;
pub mod cron;
pub mod http;
pub mod state;

use crate::time::{Nanos, TimeRange};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a window silences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Endpoints(BTreeSet<String>),
    Components(BTreeSet<String>),
}

impl Scope {
    /// Whether an endpoint (with its component, empty for none) is inside.
    pub fn covers(&self, endpoint: &str, component: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Endpoints(ids) => ids.contains(endpoint),
            Scope::Components(cs) => !component.is_empty() && cs.contains(component),
        }
    }

    /// `all`, `endpoints api, db`, `components payments`.
    pub fn describe(&self) -> String {
        let join = |s: &BTreeSet<String>| s.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
        match self {
            Scope::All => "all endpoints".into(),
            Scope::Endpoints(ids) => format!("endpoints {}", join(ids)),
            Scope::Components(cs) => format!("components {}", join(cs)),
        }
    }
}

/// One occurrence of a maintenance window: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The configured window's id (a recurring window's occurrences share it).
    pub id: String,
    pub title: String,
    pub start: Nanos,
    pub end: Nanos,
    pub scope: Scope,
    /// A longer text for the status page (the admin API's `message`; empty for configured windows).
    pub detail: String,
    /// Where it came from: `config`, `admin`, or the publisher type it was imported from.
    pub source: String,
}

impl Window {
    pub fn contains(&self, ts: Nanos) -> bool {
        self.start <= ts && ts < self.end
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("maintenance source {source_name}: {reason}")]
    Unavailable { source_name: String, reason: String },
}

/// Where windows come from. Implementations answer from memory or a local database quickly; remote ones
/// (status pages) cache, because the agent asks once a minute.
#[async_trait::async_trait]
pub trait MaintenanceSource: Send + Sync {
    /// Every window occurrence that overlaps `range`, by start.
    async fn windows(&self, range: TimeRange) -> Result<Vec<Window>, MaintenanceError>;
    /// A short name for logs.
    fn describe(&self) -> String;
}

/// The sources a configuration names. The one place where maintenance sources are registered.
pub fn sources(cfg: &crate::config::Config) -> Vec<Arc<dyn MaintenanceSource>> {
    let admin: Arc<dyn MaintenanceSource> = match &cfg.agent.maintenance_from {
        Some((url, token)) => Arc::new(http::HttpSource::new(url, token.clone())),
        None => Arc::new(state::StateSource::new(cfg.state.path.clone())),
    };
    vec![Arc::new(config::ConfigSource::new(cfg.maintenance.clone())), admin]
}

/// Windows of every source overlapping `range`, by start; a source that fails is logged (once a minute
/// per source: the agent asks every 2 s) and skipped (the others still count: a status page being down
/// must not cancel the configured windows).
pub async fn windows(sources: &[Arc<dyn MaintenanceSource>], range: TimeRange) -> Vec<Window> {
    static REPORTED: std::sync::Mutex<Vec<(String, std::time::Instant)>> = std::sync::Mutex::new(Vec::new());
    let mut out = Vec::new();
    for s in sources {
        match s.windows(range).await {
            Ok(w) => out.extend(w),
            Err(e) => {
                let name = s.describe();
                let mut reported = REPORTED.lock().unwrap_or_else(|p| p.into_inner());
                let due = match reported.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, at)) if at.elapsed() < std::time::Duration::from_secs(60) => false,
                    Some((_, at)) => {
                        *at = std::time::Instant::now();
                        true
                    }
                    None => {
                        reported.push((name, std::time::Instant::now()));
                        true
                    }
                };
                if due {
                    tracing::warn!(error = %e, "maintenance source failed; its windows are not applied until it answers");
                }
            }
        }
    }
    out.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    out
}
