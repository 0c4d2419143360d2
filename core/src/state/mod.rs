//! The local state database: what people and parts decide, as opposed to what probes measure, in SQLite
//! under `[state] path` whichever store holds the points: incidents with their updates (`incidents.rs`),
//! maintenance windows started through the admin API or imported from hosted pages (`maintenance.rs`),
//! alert rows and the alerting outbox (`alerts.rs`). This file opens the database (through `core::sqlite`)
//! and holds the migrations of every table in it, one ordered list with one `user_version`, including the
//! status page's subscribers and their outbox, whose queries live in `watchpost-statuspage`
//! (`subscribers.rs`) through [`StateDb::with`].
//!
//! Why alert rows are here and not in the alerting crate: the status page acknowledges alerts (the links
//! in pages, the admin API) and must not depend on alerting; both read and write them through here.
//!
//! Why not the point store: InfluxDB is a time-series database without updates or transactions, and an
//! incident is edited many times. Every part that needs this state runs beside the status page (or reads
//! it through its HTTP API), so one SQLite file is enough, and it is the same whether the points live in
//! SQLite or InfluxDB.
//!
//! Calls block on SQLite, so they run on tokio's blocking pool; the connection's `std::sync::Mutex` is never
//! held across an `.await`. WAL mode lets an agent in another process read windows while the status page
//! writes.

use crate::maintenance::Scope;
use crate::model::ComponentStatus;
use crate::time::{now_nanos, Nanos, TimeRange};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod alerts;
mod incidents;
mod maintenance;
mod silences;

pub use alerts::{AlertRow, AlertState, Delivery, DeliveryCounts, NewDelivery, EXTERNAL_RULE};
pub use incidents::*;
pub use maintenance::*;
pub use silences::*;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: incidents, their updates and the components they affect; maintenance windows from the admin API.
    "CREATE TABLE incident (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, impact TEXT NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        monitoring_at INTEGER, resolved_at INTEGER
    );
    CREATE INDEX incident_created ON incident (created_at);
    CREATE TABLE incident_component (
        incident TEXT NOT NULL REFERENCES incident (id), component TEXT NOT NULL, status TEXT NOT NULL,
        PRIMARY KEY (incident, component)
    ) WITHOUT ROWID;
    CREATE TABLE incident_update (
        id TEXT PRIMARY KEY, incident TEXT NOT NULL REFERENCES incident (id), status TEXT NOT NULL,
        body TEXT NOT NULL, created_at INTEGER NOT NULL, affected TEXT NOT NULL
    );
    CREATE INDEX incident_update_incident ON incident_update (incident, created_at);
    CREATE TABLE maintenance (
        id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL,
        scope_kind TEXT NOT NULL, scope TEXT NOT NULL,
        starts_at INTEGER NOT NULL, ends_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, ended_early INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX maintenance_range ON maintenance (ends_at, starts_at);",
    // 2: subscribers (email with double opt-in, webhooks) and the notifications waiting to reach them: an
    // outbox, so that a restart or an SMTP outage loses no message.
    "CREATE TABLE subscriber (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, address TEXT NOT NULL,
        created_at INTEGER NOT NULL, confirmed_at INTEGER, confirm_sent_at INTEGER,
        UNIQUE (kind, address)
    );
    CREATE TABLE notification (
        id INTEGER PRIMARY KEY, subscriber TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,
        created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
        sent_at INTEGER, failed_at INTEGER, last_error TEXT
    );
    CREATE INDEX notification_due ON notification (next_at) WHERE sent_at IS NULL AND failed_at IS NULL;",
    // 3: alerts (one row per rule x endpoint x environment that ever left `ok`) and their deliveries: the
    // alerting outbox. `version` makes every change a compare-and-set, so two alerting processes sharing the
    // file never both act on one transition; `idempotency` makes a delivery enqueued twice one row.
    "CREATE TABLE alert (
        key TEXT PRIMARY KEY, rule TEXT NOT NULL, endpoint TEXT NOT NULL, environment TEXT NOT NULL,
        state TEXT NOT NULL, since INTEGER NOT NULL, episode INTEGER NOT NULL, fired_at INTEGER, resolved_at INTEGER,
        value REAL NOT NULL, detail TEXT NOT NULL, level INTEGER NOT NULL, acked_at INTEGER, acked_by TEXT,
        ack_sent INTEGER NOT NULL, paged TEXT NOT NULL, note TEXT NOT NULL, version INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX alert_open ON alert (state) WHERE state != 'resolved';
    CREATE TABLE alert_delivery (
        id INTEGER PRIMARY KEY AUTOINCREMENT, alert TEXT NOT NULL, episode INTEGER NOT NULL, notifier TEXT NOT NULL,
        action TEXT NOT NULL, idempotency TEXT NOT NULL UNIQUE, event TEXT NOT NULL, created_at INTEGER NOT NULL,
        next_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, claimed_until INTEGER, sent_at INTEGER,
        failed_at INTEGER, answer TEXT
    );
    CREATE INDEX alert_delivery_due ON alert_delivery (next_at) WHERE sent_at IS NULL AND failed_at IS NULL;
    CREATE INDEX alert_delivery_alert ON alert_delivery (alert, notifier, id);",
    // 4: where a maintenance window came from: `admin`, or a hosted status page it was imported from
    // (by the publisher's type), whose windows the aggregator replaces at every import.
    "ALTER TABLE maintenance ADD COLUMN origin TEXT NOT NULL DEFAULT 'admin';",
    // 5: since when a firing alert's checks have passed, for a rule's `resolve_for` (kept across restarts:
    // a restart must neither resolve early nor start the wait again).
    "ALTER TABLE alert ADD COLUMN clear_since INTEGER;",
    // 6: routing, grouping, silences and inhibition (issue 21). On every alert: its labels (routes and
    // silences match them; a restart must not re-route an episode), why it is held back (a silence, an
    // inhibition, a dependency) and since when its escalation clock runs. On group rows (alerts paged
    // together, keyed by route and group labels): the members last notified and when. Silences, by id.
    "ALTER TABLE alert ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE alert ADD COLUMN held TEXT NOT NULL DEFAULT '';
    ALTER TABLE alert ADD COLUMN page_from INTEGER;
    ALTER TABLE alert ADD COLUMN members TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE alert ADD COLUMN notified_at INTEGER;
    CREATE TABLE silence (
        id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at INTEGER NOT NULL, ends_at INTEGER NOT NULL,
        created_by TEXT NOT NULL, comment TEXT NOT NULL, created_at INTEGER NOT NULL, expired_at INTEGER
    );
    CREATE INDEX silence_ends ON silence (ends_at);",
];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("cannot open the state database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("state database: {0}")]
    Sql(String),
    #[error("no {what} with id `{id}`")]
    NotFound { what: &'static str, id: String },
    /// The request contradicts the stored state (for example updating a resolved incident's components).
    #[error("{0}")]
    Conflict(String),
}

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> Self {
        StateError::Sql(e.to_string())
    }
}

/// The state database. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct StateDb {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateDb({})", self.path.display())
    }
}

impl StateDb {
    /// Opens (creating it and its directory if needed) and migrates the database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StateError> {
        let path = path.to_path_buf();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || crate::sqlite::open(&p, MIGRATIONS, OPTIONS))
            .await
            .map_err(|e| e.to_string())
            .and_then(|opened| opened)
            .map_err(|reason| StateError::Open { path: path.display().to_string(), reason })?;
        Ok(StateDb { path, conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` on the connection, on tokio's blocking pool: how a part queries the tables it owns.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| StateError::Sql(format!("state task failed: {e}")))?
    }
}

/// The state database enforces its references (a delivery belongs to an alert); its rows are few, so
/// SQLite's default cache serves it.
const OPTIONS: crate::sqlite::Options = crate::sqlite::Options { foreign_keys: true, cache_kib: None };

/// A 12-character id of lowercase letters and digits, like Statuspage's (`p31zjtct2jer`): 60 random bits.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 12];
    // Without an OS random source nothing else works either; fall back to the clock rather than panic.
    if getrandom::fill(&mut bytes).is_err() {
        let t = now_nanos().to_le_bytes();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = t[i % 8].wrapping_mul(31).wrapping_add(i as u8);
        }
    }
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// A value the database holds that no version of Watchpost writes (a damaged or hand-edited file).
pub fn unexpected(what: &str, value: &str) -> StateError {
    StateError::Sql(format!("unexpected {what} `{value}` in the state database"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(list: &[(&str, ComponentStatus)]) -> Vec<(String, ComponentStatus)> {
        list.iter().map(|(c, s)| (c.to_string(), *s)).collect()
    }

    #[tokio::test]
    async fn an_incident_lives_through_its_lifecycle_and_survives_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.db");
        let db = StateDb::open(&path).await.unwrap();
        let i = db
            .create_incident(NewIncident {
                name: "API errors".into(),
                status: IncidentStatus::Investigating,
                message: "We are looking into it.".into(),
                impact: None,
                components: comps(&[("api", ComponentStatus::PartialOutage)]),
            })
            .await
            .unwrap();
        assert_eq!(i.id.len(), 12);
        assert_eq!(i.impact, Impact::Major, "derived from the worst component");
        assert_eq!(i.updates.len(), 1);
        assert_eq!(i.updates[0].affected[0].new_status, ComponentStatus::PartialOutage);

        let i = db
            .update_incident(
                &i.id,
                IncidentChange {
                    status: Some(IncidentStatus::Monitoring),
                    components: comps(&[("api", ComponentStatus::DegradedPerformance), ("web", ComponentStatus::MajorOutage)]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(i.status, IncidentStatus::Monitoring);
        assert!(i.monitoring_at.is_some());
        assert_eq!(i.impact, Impact::Critical);
        assert_eq!(i.updates.len(), 2, "a change without a message still records an update");
        assert_eq!(i.updates[0].body, "The incident is now monitoring.");
        assert_eq!(i.updates[0].affected.len(), 2);
        assert_eq!(i.updates[0].affected[0].old_status, ComponentStatus::PartialOutage);

        let resolved = db
            .update_incident(
                &i.id,
                IncidentChange { status: Some(IncidentStatus::Resolved), message: Some("Fixed.".into()), ..Default::default() },
            )
            .await
            .unwrap();
        assert!(resolved.resolved_at.is_some());
        drop(db);

        let db = StateDb::open(&path).await.unwrap();
        let again = db.incident(&i.id).await.unwrap().unwrap();
        assert_eq!(again, resolved);
        assert_eq!(db.incidents(now_nanos() + 1).await.unwrap().len(), 0, "resolved and older than `since`");
        assert_eq!(db.incidents(0).await.unwrap().len(), 1);
        assert!(matches!(db.update_incident("nope", IncidentChange::default()).await, Err(StateError::NotFound { .. })));
    }

    #[tokio::test]
    async fn maintenance_windows_are_found_by_range_and_end_early() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).await.unwrap();
        let now = now_nanos();
        let hour = 3_600_000_000_000;
        let m = db
            .create_maintenance(NewMaintenance {
                title: "DB upgrade".into(),
                body: String::new(),
                scope: Scope::Components(["db".to_string()].into()),
                starts_at: now - hour,
                ends_at: now + hour,
            })
            .await
            .unwrap();
        assert_eq!(db.maintenances(TimeRange::new(now, now + 1)).await.unwrap(), vec![m.clone()]);
        assert!(db.maintenances(TimeRange::new(now + 2 * hour, now + 3 * hour)).await.unwrap().is_empty());
        let ended = db.end_maintenance(&m.id).await.unwrap();
        assert!(ended.ended_early && ended.ends_at <= now_nanos() && ended.ends_at >= now);
        assert!(matches!(db.end_maintenance(&m.id).await, Err(StateError::Conflict(_))));
        assert!(db.maintenances(TimeRange::new(now_nanos() + 1, now + hour)).await.unwrap().is_empty(), "no longer active");
    }
}
