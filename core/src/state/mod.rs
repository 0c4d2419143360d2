//! The local state database: what people and parts decide, as opposed to what probes measure. Incidents
//! with their updates, maintenance windows started through the admin API, and (later) subscribers and the
//! alerting outbox live here, in SQLite under `[state] path`, whichever store holds the points.
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
pub use alerts::{AlertRow, AlertState, Delivery, DeliveryCounts, NewDelivery};

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
    // (`statuspage`, `statusio`), whose windows the aggregator replaces at every import.
    "ALTER TABLE maintenance ADD COLUMN origin TEXT NOT NULL DEFAULT 'admin';",
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

/// An incident's lifecycle (Statuspage's realtime values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 4] =
        [IncidentStatus::Investigating, IncidentStatus::Identified, IncidentStatus::Monitoring, IncidentStatus::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Identified => "identified",
            IncidentStatus::Monitoring => "monitoring",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "Investigating",
            IncidentStatus::Identified => "Identified",
            IncidentStatus::Monitoring => "Monitoring",
            IncidentStatus::Resolved => "Resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// An incident's impact (Statuspage's values): derived from the worst affected component unless given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub const ALL: [Impact; 4] = [Impact::None, Impact::Minor, Impact::Major, Impact::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Minor => "minor",
            Impact::Major => "major",
            Impact::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Statuspage's mapping from a component's status to an incident's impact.
    pub fn of(status: ComponentStatus) -> Self {
        match status {
            ComponentStatus::Operational | ComponentStatus::UnderMaintenance => Impact::None,
            ComponentStatus::DegradedPerformance => Impact::Minor,
            ComponentStatus::PartialOutage => Impact::Major,
            ComponentStatus::MajorOutage => Impact::Critical,
        }
    }
}

/// A component's status as an update changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedComponent {
    pub component: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentUpdate {
    pub id: String,
    pub status: IncidentStatus,
    pub body: String,
    pub created_at: Nanos,
    pub affected: Vec<AffectedComponent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: String,
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub created_at: Nanos,
    pub updated_at: Nanos,
    pub monitoring_at: Option<Nanos>,
    pub resolved_at: Option<Nanos>,
    /// The components it affects, with the status it declares for each while unresolved.
    pub components: Vec<(String, ComponentStatus)>,
    /// Newest first, as Statuspage lists them.
    pub updates: Vec<IncidentUpdate>,
}

impl Incident {
    pub fn is_resolved(&self) -> bool {
        self.status == IncidentStatus::Resolved
    }
}

/// What `POST /api/v1/admin/incidents` creates.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub name: String,
    pub status: IncidentStatus,
    pub message: String,
    pub impact: Option<Impact>,
    pub components: Vec<(String, ComponentStatus)>,
}

/// What an update changes; `None` keeps the current value. Components named are set; others keep theirs.
#[derive(Debug, Clone, Default)]
pub struct IncidentChange {
    pub name: Option<String>,
    pub status: Option<IncidentStatus>,
    pub message: Option<String>,
    pub impact: Option<Impact>,
    pub components: Vec<(String, ComponentStatus)>,
}

/// A maintenance window kept in the state database (started or scheduled through the admin API).
#[derive(Debug, Clone, PartialEq)]
pub struct Maintenance {
    pub id: String,
    pub title: String,
    pub body: String,
    pub scope: Scope,
    pub starts_at: Nanos,
    pub ends_at: Nanos,
    pub created_at: Nanos,
    pub updated_at: Nanos,
    /// Ended through the admin API before its planned end (`ends_at` is then when it was ended).
    pub ended_early: bool,
    /// `admin`, or the publisher type it was imported from.
    pub origin: String,
}

/// A window of a hosted status page, imported under the provider's id.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedMaintenance {
    pub id: String,
    pub window: NewMaintenance,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewMaintenance {
    pub title: String,
    pub body: String,
    pub scope: Scope,
    pub starts_at: Nanos,
    pub ends_at: Nanos,
}

/// How a subscriber is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberKind {
    Email,
    Webhook,
}

impl SubscriberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberKind::Email => "email",
            SubscriberKind::Webhook => "webhook",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(SubscriberKind::Email),
            "webhook" => Some(SubscriberKind::Webhook),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: String,
    pub kind: SubscriberKind,
    /// An email address or a webhook URL.
    pub address: String,
    pub created_at: Nanos,
    /// `None` until an email subscriber follows the confirmation link (webhooks added by an admin are
    /// confirmed at once).
    pub confirmed_at: Option<Nanos>,
    pub confirm_sent_at: Option<Nanos>,
}

/// A message waiting for (or past) delivery. For email, `subject` and `body` are the message; for a
/// webhook, `body` is the JSON to post.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub subscriber: Subscriber,
    pub subject: String,
    pub body: String,
    pub attempts: u32,
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

    async fn with<T: Send + 'static>(
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

    pub async fn create_incident(&self, new: NewIncident) -> Result<Incident, StateError> {
        self.with(move |c| {
            let now = now_nanos();
            let id = new_id();
            let tx = c.transaction()?;
            let impact = new.impact.unwrap_or_else(|| derived_impact(&new.components));
            let resolved = (new.status == IncidentStatus::Resolved).then_some(now);
            let monitoring = (new.status == IncidentStatus::Monitoring).then_some(now);
            tx.execute(
                "INSERT INTO incident (id, name, status, impact, created_at, updated_at, monitoring_at, resolved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
                params![id, new.name, new.status.as_str(), impact.as_str(), now, monitoring, resolved],
            )?;
            let affected: Vec<AffectedComponent> = new
                .components
                .iter()
                .map(|(c, s)| AffectedComponent { component: c.clone(), old_status: ComponentStatus::Operational, new_status: *s })
                .collect();
            for (component, status) in &new.components {
                tx.execute(
                    "INSERT INTO incident_component (incident, component, status) VALUES (?1, ?2, ?3)",
                    params![id, component, status.as_str()],
                )?;
            }
            insert_update(&tx, &id, new.status, &new.message, now, &affected)?;
            tx.commit()?;
            load_incident(c, &id)?.ok_or(StateError::NotFound { what: "incident", id })
        })
        .await
    }

    pub async fn update_incident(&self, id: &str, change: IncidentChange) -> Result<Incident, StateError> {
        let id = id.to_string();
        self.with(move |c| {
            let current = load_incident(c, &id)?.ok_or_else(|| StateError::NotFound { what: "incident", id: id.clone() })?;
            let now = now_nanos();
            let status = change.status.unwrap_or(current.status);
            let mut components = current.components.clone();
            let mut affected = Vec::new();
            for (component, new_status) in &change.components {
                match components.iter_mut().find(|(c, _)| c == component) {
                    Some((_, s)) => {
                        if s != new_status {
                            affected.push(AffectedComponent { component: component.clone(), old_status: *s, new_status: *new_status });
                            *s = *new_status;
                        }
                    }
                    None => {
                        affected.push(AffectedComponent {
                            component: component.clone(),
                            old_status: ComponentStatus::Operational,
                            new_status: *new_status,
                        });
                        components.push((component.clone(), *new_status));
                    }
                }
            }
            let impact = change.impact.unwrap_or_else(|| if change.components.is_empty() { current.impact } else { derived_impact(&components) });
            let monitoring = current.monitoring_at.or((status == IncidentStatus::Monitoring).then_some(now));
            // Reopening an incident clears its resolution time.
            let resolved = if status == IncidentStatus::Resolved { current.resolved_at.or(Some(now)) } else { None };
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE incident SET name = ?2, status = ?3, impact = ?4, updated_at = ?5, monitoring_at = ?6, resolved_at = ?7 WHERE id = ?1",
                params![id, change.name.as_deref().unwrap_or(&current.name), status.as_str(), impact.as_str(), now, monitoring, resolved],
            )?;
            for a in &affected {
                tx.execute(
                    "INSERT INTO incident_component (incident, component, status) VALUES (?1, ?2, ?3)
                     ON CONFLICT (incident, component) DO UPDATE SET status = excluded.status",
                    params![id, a.component, a.new_status.as_str()],
                )?;
            }
            // An update without a message still records the change (as Statuspage does), with a default text.
            let body = match (&change.message, change.status) {
                (Some(m), _) => m.clone(),
                (None, Some(s)) if s != current.status => format!("The incident is now {}.", s.as_str()),
                (None, _) if !affected.is_empty() => "Component status updated.".to_string(),
                (None, _) => String::new(),
            };
            if !body.is_empty() {
                insert_update(&tx, &id, status, &body, now, &affected)?;
            }
            tx.commit()?;
            load_incident(c, &id)?.ok_or(StateError::NotFound { what: "incident", id })
        })
        .await
    }

    pub async fn incident(&self, id: &str) -> Result<Option<Incident>, StateError> {
        let id = id.to_string();
        self.with(move |c| load_incident(c, &id)).await
    }

    /// Incidents that are unresolved or were created or resolved at or after `since`, newest first.
    pub async fn incidents(&self, since: Nanos) -> Result<Vec<Incident>, StateError> {
        self.with(move |c| {
            let ids: Vec<String> = {
                let mut st = c.prepare_cached(
                    "SELECT id FROM incident WHERE status != 'resolved' OR created_at >= ?1 OR resolved_at >= ?1 ORDER BY created_at DESC, id",
                )?;
                let rows = st.query_map(params![since], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(i) = load_incident(c, &id)? {
                    out.push(i);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Makes the windows imported from `origin` that have not ended by `now` exactly `windows`: new ones are
    /// added, changed ones updated, cancelled ones removed, in one transaction. Ended windows stay as history.
    /// Ids are prefixed with the origin, so they never meet an admin window's.
    pub async fn sync_imported_maintenance(
        &self,
        origin: &str,
        windows: Vec<ImportedMaintenance>,
        now: Nanos,
    ) -> Result<usize, StateError> {
        let origin = origin.to_string();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ids: Vec<String> = windows.iter().map(|w| format!("{origin}:{}", w.id)).collect();
            let current: Vec<String> = {
                let mut st = tx.prepare_cached("SELECT id FROM maintenance WHERE origin = ?1 AND ends_at > ?2")?;
                let rows = st.query_map(params![origin, now], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut changed = 0;
            for gone in current.iter().filter(|id| !ids.contains(id)) {
                changed += tx.execute("DELETE FROM maintenance WHERE id = ?1", params![gone])?;
            }
            for (w, id) in windows.iter().map(|w| &w.window).zip(&ids) {
                let (kind, scope) = scope_columns(&w.scope);
                changed += tx.execute(
                    "INSERT INTO maintenance (id, title, body, scope_kind, scope, starts_at, ends_at, created_at, updated_at, origin)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)
                     ON CONFLICT (id) DO UPDATE SET title = ?2, body = ?3, scope_kind = ?4, scope = ?5, starts_at = ?6,
                        ends_at = ?7, updated_at = ?8
                     WHERE (title, body, scope_kind, scope, starts_at, ends_at) IS NOT (?2, ?3, ?4, ?5, ?6, ?7)",
                    params![id, w.title, w.body, kind, scope, w.starts_at, w.ends_at, now, origin],
                )?;
            }
            tx.commit()?;
            Ok(changed)
        })
        .await
    }

    pub async fn create_maintenance(&self, new: NewMaintenance) -> Result<Maintenance, StateError> {
        self.with(move |c| {
            let now = now_nanos();
            let id = new_id();
            let (kind, scope) = scope_columns(&new.scope);
            c.execute(
                "INSERT INTO maintenance (id, title, body, scope_kind, scope, starts_at, ends_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![id, new.title, new.body, kind, scope, new.starts_at, new.ends_at, now],
            )?;
            load_maintenance(c, &id)?.ok_or(StateError::NotFound { what: "maintenance window", id })
        })
        .await
    }

    /// Ends a window now (or cancels one that has not started). Ending one that is over is a conflict.
    pub async fn end_maintenance(&self, id: &str) -> Result<Maintenance, StateError> {
        let id = id.to_string();
        self.with(move |c| {
            let m = load_maintenance(c, &id)?.ok_or_else(|| StateError::NotFound { what: "maintenance window", id: id.clone() })?;
            let now = now_nanos();
            if m.ends_at <= now {
                return Err(StateError::Conflict(format!("maintenance window `{id}` is already over")));
            }
            // A window ended before it began keeps a zero length, so it stays in the history as cancelled.
            let start = m.starts_at.min(now);
            c.execute(
                "UPDATE maintenance SET starts_at = ?2, ends_at = ?3, updated_at = ?3, ended_early = 1 WHERE id = ?1",
                params![id, start, now],
            )?;
            load_maintenance(c, &id)?.ok_or(StateError::NotFound { what: "maintenance window", id })
        })
        .await
    }

    /// Windows overlapping `range` (zero-length ones inside it too), by start.
    pub async fn maintenances(&self, range: TimeRange) -> Result<Vec<Maintenance>, StateError> {
        self.with(move |c| {
            let mut st = c.prepare_cached("SELECT id FROM maintenance WHERE ends_at >= ?1 AND starts_at < ?2 ORDER BY starts_at, id")?;
            let ids: Vec<String> = st.query_map(params![range.from, range.to], |r| r.get(0))?.collect::<Result<_, _>>()?;
            drop(st);
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(m) = load_maintenance(c, &id)? {
                    out.push(m);
                }
            }
            Ok(out)
        })
        .await
    }
}

impl StateDb {
    /// Adds a subscriber, or returns the existing one with that address; `true` when it was new.
    pub async fn add_subscriber(&self, kind: SubscriberKind, address: &str, confirmed: bool) -> Result<(Subscriber, bool), StateError> {
        let address = address.to_string();
        self.with(move |c| {
            let now = now_nanos();
            let inserted = c.execute(
                "INSERT INTO subscriber (id, kind, address, created_at, confirmed_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, address) DO NOTHING",
                params![new_id(), kind.as_str(), address, now, confirmed.then_some(now)],
            )? == 1;
            let id: String =
                c.query_row("SELECT id FROM subscriber WHERE kind = ?1 AND address = ?2", params![kind.as_str(), address], |r| r.get(0))?;
            let s = load_subscriber(c, &id)?.ok_or(StateError::NotFound { what: "subscriber", id })?;
            Ok((s, inserted))
        })
        .await
    }

    /// Marks an email subscriber confirmed (idempotent).
    pub async fn confirm_subscriber(&self, id: &str) -> Result<Subscriber, StateError> {
        let id = id.to_string();
        self.with(move |c| {
            c.execute("UPDATE subscriber SET confirmed_at = COALESCE(confirmed_at, ?2) WHERE id = ?1", params![id, now_nanos()])?;
            load_subscriber(c, &id)?.ok_or(StateError::NotFound { what: "subscriber", id })
        })
        .await
    }

    /// Records that a confirmation message was queued now; returns the time of the previous one.
    pub async fn mark_confirmation_sent(&self, id: &str) -> Result<Option<Nanos>, StateError> {
        let id = id.to_string();
        self.with(move |c| {
            let before: Option<Nanos> =
                c.query_row("SELECT confirm_sent_at FROM subscriber WHERE id = ?1", params![id], |r| r.get(0)).optional()?.flatten();
            c.execute("UPDATE subscriber SET confirm_sent_at = ?2 WHERE id = ?1", params![id, now_nanos()])?;
            Ok(before)
        })
        .await
    }

    /// Removes a subscriber and whatever was still waiting for them; `false` when there was none.
    pub async fn remove_subscriber(&self, id: &str) -> Result<bool, StateError> {
        let id = id.to_string();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM notification WHERE subscriber = ?1 AND sent_at IS NULL", params![id])?;
            let n = tx.execute("DELETE FROM subscriber WHERE id = ?1", params![id])?;
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    /// Every subscriber, or only the confirmed ones.
    pub async fn subscribers(&self, confirmed_only: bool) -> Result<Vec<Subscriber>, StateError> {
        self.with(move |c| {
            let ids: Vec<String> = c
                .prepare_cached("SELECT id FROM subscriber WHERE ?1 = 0 OR confirmed_at IS NOT NULL ORDER BY created_at, id")?
                .query_map(params![confirmed_only], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(load_subscriber(c, &id)?);
            }
            Ok(out)
        })
        .await
    }

    /// Queues messages, all or none: `(subscriber id, subject, body)`.
    pub async fn enqueue(&self, messages: Vec<(String, String, String)>) -> Result<usize, StateError> {
        self.with(move |c| {
            let now = now_nanos();
            let tx = c.transaction()?;
            for (sub, subject, body) in &messages {
                tx.execute(
                    "INSERT INTO notification (subscriber, subject, body, created_at, next_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![sub, subject, body, now],
                )?;
            }
            tx.commit()?;
            Ok(messages.len())
        })
        .await
    }

    /// Up to `limit` messages due at `now`, oldest first.
    pub async fn due_notifications(&self, now: Nanos, limit: usize) -> Result<Vec<Notification>, StateError> {
        self.with(move |c| {
            let rows: Vec<(i64, String, String, String, u32)> = c
                .prepare_cached(
                    "SELECT id, subscriber, subject, body, attempts FROM notification
                     WHERE sent_at IS NULL AND failed_at IS NULL AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2",
                )?
                .query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, sub, subject, body, attempts) in rows {
                match load_subscriber(c, &sub)? {
                    Some(subscriber) => out.push(Notification { id, subscriber, subject, body, attempts }),
                    // Unsubscribed meanwhile: nothing to deliver.
                    None => {
                        c.execute("UPDATE notification SET failed_at = ?2, last_error = 'unsubscribed' WHERE id = ?1", params![id, now])?;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Records a delivery attempt: sent, to be retried at `retry_at`, or given up (`retry_at` `None`).
    pub async fn record_delivery(&self, id: i64, result: Result<(), (String, Option<Nanos>)>) -> Result<(), StateError> {
        self.with(move |c| {
            let now = now_nanos();
            match result {
                Ok(()) => c.execute(
                    "UPDATE notification SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                    params![id, now],
                )?,
                Err((e, Some(at))) => c.execute(
                    "UPDATE notification SET attempts = attempts + 1, next_at = ?2, last_error = ?3 WHERE id = ?1",
                    params![id, at, e],
                )?,
                Err((e, None)) => c.execute(
                    "UPDATE notification SET attempts = attempts + 1, failed_at = ?2, last_error = ?3 WHERE id = ?1",
                    params![id, now, e],
                )?,
            };
            Ok(())
        })
        .await
    }

    /// Counts of the outbox: (waiting, sent, failed), for metrics and tests.
    pub async fn outbox_counts(&self) -> Result<(u64, u64, u64), StateError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(SUM(sent_at IS NULL AND failed_at IS NULL), 0), COALESCE(SUM(sent_at IS NOT NULL), 0), COALESCE(SUM(failed_at IS NOT NULL), 0) FROM notification",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
            )?)
        })
        .await
    }
}

fn load_subscriber(c: &Connection, id: &str) -> Result<Option<Subscriber>, StateError> {
    let row = c
        .prepare_cached("SELECT kind, address, created_at, confirmed_at, confirm_sent_at FROM subscriber WHERE id = ?1")?
        .query_row(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })
        .optional()?;
    let Some((kind, address, created_at, confirmed_at, confirm_sent_at)) = row else { return Ok(None) };
    let kind = SubscriberKind::parse(&kind).ok_or_else(|| bad("subscriber kind", &kind))?;
    Ok(Some(Subscriber { id: id.to_string(), kind, address, created_at, confirmed_at, confirm_sent_at }))
}

/// The state database enforces its references (a delivery belongs to an alert); its rows are few, so
/// SQLite's default cache serves it.
const OPTIONS: crate::sqlite::Options = crate::sqlite::Options { foreign_keys: true, cache_kib: None };

/// A 12-character id of lowercase letters and digits, like Statuspage's (`p31zjtct2jer`): 60 random bits.
fn new_id() -> String {
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

fn derived_impact(components: &[(String, ComponentStatus)]) -> Impact {
    components.iter().map(|(_, s)| Impact::of(*s)).max().unwrap_or(Impact::None)
}

fn insert_update(
    tx: &rusqlite::Transaction<'_>,
    incident: &str,
    status: IncidentStatus,
    body: &str,
    at: Nanos,
    affected: &[AffectedComponent],
) -> Result<(), StateError> {
    let affected = serde_json::Value::Array(
        affected
            .iter()
            .map(
                |a| serde_json::json!({"component": a.component, "old_status": a.old_status.as_str(), "new_status": a.new_status.as_str()}),
            )
            .collect(),
    );
    tx.execute(
        "INSERT INTO incident_update (id, incident, status, body, created_at, affected) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![new_id(), incident, status.as_str(), body, at, affected.to_string()],
    )?;
    Ok(())
}

fn bad(what: &str, value: &str) -> StateError {
    StateError::Sql(format!("unexpected {what} `{value}` in the state database"))
}

fn load_incident(c: &Connection, id: &str) -> Result<Option<Incident>, StateError> {
    let row = c
        .prepare_cached("SELECT name, status, impact, created_at, updated_at, monitoring_at, resolved_at FROM incident WHERE id = ?1")?
        .query_row(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })
        .optional()?;
    let Some((name, status, impact, created_at, updated_at, monitoring_at, resolved_at)) = row else { return Ok(None) };
    let mut components = Vec::new();
    let mut st = c.prepare_cached("SELECT component, status FROM incident_component WHERE incident = ?1 ORDER BY component")?;
    for row in st.query_map(params![id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (component, s) = row?;
        components.push((component, ComponentStatus::parse(&s).ok_or_else(|| bad("component status", &s))?));
    }
    let mut updates = Vec::new();
    let mut st = c.prepare_cached(
        "SELECT id, status, body, created_at, affected FROM incident_update WHERE incident = ?1 ORDER BY created_at DESC, rowid DESC",
    )?;
    for row in st.query_map(params![id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, String>(4)?))
    })? {
        let (uid, s, body, at, affected) = row?;
        let affected: Vec<serde_json::Value> = serde_json::from_str(&affected).map_err(|_| bad("affected components", &affected))?;
        let affected = affected
            .iter()
            .filter_map(|a| {
                Some(AffectedComponent {
                    component: a.get("component")?.as_str()?.to_string(),
                    old_status: ComponentStatus::parse(a.get("old_status")?.as_str()?)?,
                    new_status: ComponentStatus::parse(a.get("new_status")?.as_str()?)?,
                })
            })
            .collect();
        updates.push(IncidentUpdate {
            id: uid,
            status: IncidentStatus::parse(&s).ok_or_else(|| bad("incident status", &s))?,
            body,
            created_at: at,
            affected,
        });
    }
    Ok(Some(Incident {
        id: id.to_string(),
        name,
        status: IncidentStatus::parse(&status).ok_or_else(|| bad("incident status", &status))?,
        impact: Impact::parse(&impact).ok_or_else(|| bad("impact", &impact))?,
        created_at,
        updated_at,
        monitoring_at,
        resolved_at,
        components,
        updates,
    }))
}

fn scope_columns(scope: &Scope) -> (&'static str, String) {
    let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join("\n");
    match scope {
        Scope::All => ("all", String::new()),
        Scope::Endpoints(e) => ("endpoints", join(e)),
        Scope::Components(c) => ("components", join(c)),
    }
}

fn load_maintenance(c: &Connection, id: &str) -> Result<Option<Maintenance>, StateError> {
    let row = c
        .prepare_cached(
            "SELECT title, body, scope_kind, scope, starts_at, ends_at, created_at, updated_at, ended_early, origin
             FROM maintenance WHERE id = ?1",
        )?
        .query_row(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, bool>(8)?,
                r.get::<_, String>(9)?,
            ))
        })
        .optional()?;
    let Some((title, body, kind, list, starts_at, ends_at, created_at, updated_at, ended_early, origin)) = row else { return Ok(None) };
    let set = || list.lines().map(str::to_string).collect::<BTreeSet<_>>();
    let scope = match kind.as_str() {
        "all" => Scope::All,
        "endpoints" => Scope::Endpoints(set()),
        "components" => Scope::Components(set()),
        other => return Err(bad("maintenance scope", other)),
    };
    Ok(Some(Maintenance { id: id.to_string(), title, body, scope, starts_at, ends_at, created_at, updated_at, ended_early, origin }))
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
    async fn subscribers_and_their_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).await.unwrap();
        let (a, new) = db.add_subscriber(SubscriberKind::Email, "a@example.com", false).await.unwrap();
        assert!(new && a.confirmed_at.is_none());
        let (again, new) = db.add_subscriber(SubscriberKind::Email, "a@example.com", false).await.unwrap();
        assert!(!new && again.id == a.id, "one subscriber per address");
        assert!(db.subscribers(true).await.unwrap().is_empty());
        assert!(db.confirm_subscriber(&a.id).await.unwrap().confirmed_at.is_some());
        let (hook, _) = db.add_subscriber(SubscriberKind::Webhook, "http://127.0.0.1:9/h", true).await.unwrap();
        assert_eq!(db.subscribers(true).await.unwrap().len(), 2);

        db.enqueue(vec![(a.id.clone(), "s1".into(), "b1".into()), (hook.id.clone(), "s2".into(), "{}".into())]).await.unwrap();
        let due = db.due_notifications(now_nanos(), 10).await.unwrap();
        assert_eq!(due.len(), 2);
        db.record_delivery(due[0].id, Ok(())).await.unwrap();
        db.record_delivery(due[1].id, Err(("503".into(), Some(now_nanos() + 60_000_000_000)))).await.unwrap();
        assert!(db.due_notifications(now_nanos(), 10).await.unwrap().is_empty(), "the retry is not due yet");
        assert_eq!(db.outbox_counts().await.unwrap(), (1, 1, 0));
        assert!(db.remove_subscriber(&hook.id).await.unwrap());
        assert_eq!(db.outbox_counts().await.unwrap(), (0, 1, 0), "what waited for a removed subscriber is gone");
        assert!(!db.remove_subscriber(&hook.id).await.unwrap());
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
