//! `[state]`: the local state database (incidents, maintenance, alerts, subscribers), shared by the parts.

use super::check::section;
use super::defaults as d;
use super::{ConfigErrors, Document, SqliteConfig, StoreConfig};
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

/// `[state]`: the local state database (incidents, maintenance started through the admin API).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// SQLite file (default: `state.db` beside the SQLite store's file, or `data/state.db` with InfluxDB).
    pub path: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StateConfig {
    pub path: PathBuf,
}

pub(super) fn state(doc: &Document, value: Option<&Value>, store: &StoreConfig, errors: &mut ConfigErrors) -> StateConfig {
    let raw: RawState = value.and_then(|v| section(doc, "state", v, errors)).unwrap_or_default();
    let path = match (raw.path, store) {
        (Some(p), _) => doc.path(&p),
        (None, StoreConfig::Sqlite(SqliteConfig { path, .. })) => path.with_file_name("state.db"),
        (None, StoreConfig::Influxdb(_)) => doc.path(d::STATE_PATH),
    };
    StateConfig { path }
}
