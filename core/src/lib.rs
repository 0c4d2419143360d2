//! Watchpost core: what every part shares and nothing more.
//!
//! - [`config`]: the configuration file, loaded in two phases (raw serde structs, then validated domain types),
//!   with every error carrying its key path and line;
//! - [`model`]: the points of DESIGN.md §4 and the derived values (endpoint state, availability);
//! - [`health`]: an endpoint's and a component's status across regions (§5.4, §5.7), as pure functions;
//! - [`store`]: the [`store::Store`] trait every part reads and writes through, and its backends;
//! - [`state`]: the local state database (incidents, maintenance windows, alerts and their outbox, and the
//!   migrations of every table in it), SQLite whatever the store;
//! - [`sqlite`]: the one way both SQLite databases are opened (WAL, busy handling, migrations, checks);
//! - [`labels`]: alert labels and the matchers routes, inhibition rules and silences are written in;
//! - [`lineproto`]: the InfluxDB line protocol encoder;
//! - [`tls`], [`http`]: the TLS client configuration and the HTTP client every outbound connection shares;
//! - [`markup`]: escaping for every renderer that writes HTML or XML;
//! - [`metrics`]: a small Prometheus text-format registry (counters, gauges, histograms) shared by the parts;
//! - [`throttle`]: log lines written at most once a minute per key, with a count.
//!
//! Architecture invariant: `core` knows nothing of HTTP servers, HTML or providers.

pub mod config;
pub mod health;
pub mod hist;
pub mod http;
pub mod import;
pub mod labels;
pub mod lineproto;
pub mod mail;
pub mod maintenance;
pub mod markup;
pub mod metrics;
pub mod model;
pub mod sign;
pub mod sqlite;
pub mod state;
pub mod store;
pub mod template;
pub mod throttle;
pub mod time;
pub mod tls;
