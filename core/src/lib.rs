//! Watchpost core: what every part shares and nothing more.
//!
//! - [`config`]: the configuration file, loaded in two phases (raw serde structs, then validated domain types),
//!   with every error carrying its key path and line;
//! - [`model`]: the points of DESIGN.md §4 and the derived values (endpoint state, availability);
//! - [`store`]: the [`store::Store`] trait every part reads and writes through, and its backends;
//! - [`state`]: the local state database (incidents, admin maintenance windows), SQLite whatever the store;
//! - [`lineproto`]: the InfluxDB line protocol encoder;
//! - [`tls`]: the TLS client configuration every outbound connection shares;
//! - [`metrics`]: a small Prometheus text-format registry (counters, gauges, histograms) shared by the parts.
//!
//! Architecture invariant: `core` knows nothing of HTTP servers, HTML or providers.

pub mod config;
pub mod hist;
pub mod lineproto;
pub mod maintenance;
pub mod metrics;
pub mod model;
pub mod state;
pub mod store;
pub mod template;
pub mod time;
pub mod tls;
