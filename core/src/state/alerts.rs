//! Alert state and the alerting outbox (migration 3). The alerting crate decides; this module only keeps
//! its decisions durable, each one together with the deliveries it causes, in one transaction: a crash
//! either loses the transition and its pages together (the next evaluation makes them again) or keeps both.

use super::{StateDb, StateError};
use crate::labels::Labels;
use crate::time::Nanos;
use rusqlite::{params, Connection, OptionalExtension};

/// Where an alert is in its life (DESIGN.md §5.8); `ok` is a `resolved` row or none at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [AlertState::Pending, AlertState::Firing, AlertState::Resolved].into_iter().find(|v| v.as_str() == s)
    }
}

/// One rule × endpoint × environment.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// `rule/endpoint/environment`: also the deduplication key notifiers give their providers.
    pub key: String,
    pub rule: String,
    pub endpoint: String,
    pub environment: String,
    pub state: AlertState,
    /// When the current state began (for `pending`: when the condition began to hold).
    pub since: Nanos,
    /// How many times it has fired; deliveries of one firing share it.
    pub episode: i64,
    pub fired_at: Option<Nanos>,
    pub resolved_at: Option<Nanos>,
    /// The rule's metric at the last transition, and a sentence about it.
    pub value: f64,
    pub detail: String,
    /// Escalation levels paged in this episode.
    pub level: i64,
    pub acked_at: Option<Nanos>,
    pub acked_by: Option<String>,
    /// The acknowledgement has been passed on to the notifiers.
    pub ack_sent: bool,
    /// Everyone paged in this episode (resolution tells them all).
    pub paged: Vec<String>,
    /// Why it resolved when that was not the checks passing (a maintenance window).
    pub note: String,
    /// Firing, with the checks passing since then: the rule's `resolve_for` is running.
    pub clear_since: Option<Nanos>,
    /// Bumped by every write: a change applies only to the version it was computed from.
    pub version: i64,
    /// The alert's labels as routed and silenced (fixed when it leaves `ok`, so an episode stays in its
    /// group); a group row's are its group labels.
    pub labels: Labels,
    /// Why it does not page now (`silenced by 3f…`, `inhibited by down/db/production`, `waits on db`);
    /// empty when it pages.
    pub held: String,
    /// When its escalation clock started, when later than `fired_at` (it was held when it fired).
    pub page_from: Option<Nanos>,
    /// Group rows: the keys of the alerts last notified, and when.
    pub members: Vec<String>,
    pub notified_at: Option<Nanos>,
}

impl AlertRow {
    /// A row that never left `ok` (resolved, episode 0, version 0): what a first transition starts from.
    pub fn new(key: String, rule: String, endpoint: String, environment: String) -> AlertRow {
        AlertRow {
            key,
            rule,
            endpoint,
            environment,
            state: AlertState::Resolved,
            since: 0,
            episode: 0,
            fired_at: None,
            resolved_at: None,
            value: 0.0,
            detail: String::new(),
            level: 0,
            acked_at: None,
            acked_by: None,
            ack_sent: false,
            paged: vec![],
            note: String::new(),
            version: 0,
            clear_since: None,
            labels: Labels::new(),
            held: String::new(),
            page_from: None,
            members: vec![],
            notified_at: None,
        }
    }

    /// Starts a new episode at `now`: firing, with its escalation, acknowledgement, note and waits reset.
    pub fn start_episode(&mut self, now: Nanos) {
        self.state = AlertState::Firing;
        self.since = now;
        self.episode += 1;
        self.fired_at = Some(now);
        self.resolved_at = None;
        self.level = 0;
        self.acked_at = None;
        self.acked_by = None;
        self.ack_sent = false;
        self.paged.clear();
        self.note.clear();
        self.clear_since = None;
        self.page_from = None;
        self.members.clear();
        self.notified_at = None;
    }
}

/// A delivery to enqueue with a transition.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub notifier: String,
    /// `trigger`, `escalate`, `acknowledge`, `resolve`.
    pub action: String,
    /// Unique across the outbox: the same page enqueued twice (two instances) is one row.
    pub idempotency: String,
    /// The event, as JSON: payloads are built from it when sent, so a resend sends the same thing.
    pub event: String,
}

/// A delivery that is due, claimed by this process.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub alert: String,
    pub notifier: String,
    pub action: String,
    pub event: String,
    pub attempts: u32,
    pub created_at: Nanos,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub waiting: u64,
    pub sent: u64,
    pub failed: u64,
}

const COLUMNS: &str = "key, rule, endpoint, environment, state, since, episode, fired_at, resolved_at, value, detail, level, \
     acked_at, acked_by, ack_sent, paged, note, version, clear_since, labels, held, page_from, members, notified_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    let state: String = r.get(4)?;
    let paged: String = r.get(15)?;
    Ok(AlertRow {
        key: r.get(0)?,
        rule: r.get(1)?,
        endpoint: r.get(2)?,
        environment: r.get(3)?,
        state: AlertState::parse(&state).unwrap_or(AlertState::Resolved),
        since: r.get(5)?,
        episode: r.get(6)?,
        fired_at: r.get(7)?,
        resolved_at: r.get(8)?,
        value: r.get(9)?,
        detail: r.get(10)?,
        level: r.get(11)?,
        acked_at: r.get(12)?,
        acked_by: r.get(13)?,
        ack_sent: r.get::<_, i64>(14)? != 0,
        paged: serde_json::from_str(&paged).unwrap_or_default(),
        note: r.get(16)?,
        version: r.get(17)?,
        clear_since: r.get(18)?,
        labels: serde_json::from_str(&r.get::<_, String>(19)?).unwrap_or_default(),
        held: r.get(20)?,
        page_from: r.get(21)?,
        members: serde_json::from_str(&r.get::<_, String>(22)?).unwrap_or_default(),
        notified_at: r.get(23)?,
    })
}

/// The rule of alerts raised by other systems (`StateDb::external_alert`).
pub const EXTERNAL_RULE: &str = "external";

fn write_row(c: &Connection, new: &AlertRow) -> Result<(), StateError> {
    c.execute(
        &format!(
            "INSERT OR REPLACE INTO alert ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
        ),
        params![
            new.key,
            new.rule,
            new.endpoint,
            new.environment,
            new.state.as_str(),
            new.since,
            new.episode,
            new.fired_at,
            new.resolved_at,
            // SQLite turns NaN into NULL; a number the caller could not measure is stored as 0.
            if new.value.is_finite() { new.value } else { 0.0 },
            new.detail,
            new.level,
            new.acked_at,
            new.acked_by,
            new.ack_sent as i64,
            serde_json::to_string(&new.paged).unwrap_or_else(|_| "[]".into()),
            new.note,
            new.version,
            new.clear_since,
            serde_json::to_string(&new.labels).unwrap_or_else(|_| "{}".into()),
            new.held,
            new.page_from,
            serde_json::to_string(&new.members).unwrap_or_else(|_| "[]".into()),
            new.notified_at,
        ],
    )?;
    Ok(())
}

fn load(c: &Connection, key: &str) -> Result<Option<AlertRow>, StateError> {
    Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM alert WHERE key = ?1"))?.query_row(params![key], row).optional()?)
}

impl StateDb {
    /// Every alert that is pending or firing.
    pub async fn open_alerts(&self) -> Result<Vec<AlertRow>, StateError> {
        self.with(|c| {
            Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM alert WHERE state != 'resolved' ORDER BY key"))?
                .query_map([], row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Pending and firing alerts first, then the rest, most recently changed first; at most `limit`
    /// (`watchpost alerts`, the admin API's list).
    pub async fn recent_alerts(&self, limit: usize) -> Result<Vec<AlertRow>, StateError> {
        self.with(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alert ORDER BY state = 'resolved', COALESCE(resolved_at, fired_at, since) DESC LIMIT ?1"
            ))?
            .query_map(params![limit as i64], row)?
            .collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn alert(&self, key: &str) -> Result<Option<AlertRow>, StateError> {
        let key = key.to_string();
        self.with(move |c| load(c, &key)).await
    }

    /// Writes `new` if the stored row is still at `new.version - 1` (or absent when that is 0) and enqueues
    /// `deliveries` with it; `Ok(None)` when another writer got there first (reload and decide again).
    pub async fn apply_alert(&self, new: AlertRow, deliveries: Vec<NewDelivery>, now: Nanos) -> Result<Option<AlertRow>, StateError> {
        Ok(self.apply_alerts(vec![(new, deliveries)], now).await?.pop().flatten())
    }

    /// [`StateDb::apply_alert`] for many alerts in one transaction (a thousand endpoints failing at once is
    /// one commit); each change applies or not on its own version.
    pub async fn apply_alerts(&self, changes: Vec<(AlertRow, Vec<NewDelivery>)>, now: Nanos) -> Result<Vec<Option<AlertRow>>, StateError> {
        self.with(move |c| {
            let tx = crate::sqlite::write_transaction(c)?;
            let mut out = Vec::with_capacity(changes.len());
            for (new, deliveries) in changes {
                let current: Option<i64> =
                    tx.query_row("SELECT version FROM alert WHERE key = ?1", params![new.key], |r| r.get(0)).optional()?;
                if current.unwrap_or(0) != new.version - 1 {
                    out.push(None);
                    continue;
                }
                write_row(&tx, &new)?;
                for d in &deliveries {
                    tx.execute(
                        "INSERT OR IGNORE INTO alert_delivery (alert, episode, notifier, action, idempotency, event, created_at, next_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                        params![new.key, new.episode, d.notifier, d.action, d.idempotency, d.event, now],
                    )?;
                }
                out.push(Some(new));
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Records an acknowledgement of a firing alert (the alerting process passes it on and stops the
    /// escalation). `Ok(None)`: no such alert; `Err(Conflict)`: it is not firing.
    pub async fn acknowledge_alert(&self, key: &str, by: &str, now: Nanos) -> Result<AlertRow, StateError> {
        let (key, by) = (key.to_string(), by.to_string());
        self.with(move |c| {
            let tx = crate::sqlite::write_transaction(c)?;
            let Some(a) = load(&tx, &key)? else { return Err(StateError::NotFound { what: "alert", id: key }) };
            if a.state != AlertState::Firing {
                return Err(StateError::Conflict(format!("alert {key} is {}, not firing", a.state.as_str())));
            }
            if a.acked_at.is_none() {
                tx.execute("UPDATE alert SET acked_at = ?2, acked_by = ?3, version = version + 1 WHERE key = ?1", params![key, now, by])?;
            }
            let a = load(&tx, &key)?.ok_or(StateError::NotFound { what: "alert", id: key })?;
            tx.commit()?;
            Ok(a)
        })
        .await
    }

    /// Takes an acknowledgement back: the escalation goes on from where it stopped (levels whose time has
    /// come page at the next cycle). `Err(Conflict)` when the alert is not firing or not acknowledged.
    pub async fn unacknowledge_alert(&self, key: &str) -> Result<AlertRow, StateError> {
        let key = key.to_string();
        self.with(move |c| {
            let tx = crate::sqlite::write_transaction(c)?;
            let Some(a) = load(&tx, &key)? else { return Err(StateError::NotFound { what: "alert", id: key }) };
            if a.state != AlertState::Firing || a.acked_at.is_none() {
                return Err(StateError::Conflict(format!("alert {key} is not an acknowledged firing alert")));
            }
            tx.execute(
                "UPDATE alert SET acked_at = NULL, acked_by = NULL, ack_sent = 0, note = ?2, version = version + 1 WHERE key = ?1",
                params![key, format!("{} took the acknowledgement back", a.acked_by.as_deref().unwrap_or("someone"))],
            )?;
            let a = load(&tx, &key)?.ok_or(StateError::NotFound { what: "alert", id: key })?;
            tx.commit()?;
            Ok(a)
        })
        .await
    }

    /// Records that a provider closed the incident of a firing alert whose checks still fail (`note`): shown
    /// in `watchpost alerts`, and taken as an acknowledgement by `by` (someone decided; the escalation
    /// stops), but the alert keeps firing and resolves only when the checks pass. `Ok(None)` when the alert
    /// is not firing (the close followed a resolve: nothing to record).
    pub async fn record_provider_close(&self, key: &str, by: &str, note: &str, now: Nanos) -> Result<Option<AlertRow>, StateError> {
        let (key, by, note) = (key.to_string(), by.to_string(), note.to_string());
        self.with(move |c| {
            let tx = crate::sqlite::write_transaction(c)?;
            let Some(a) = load(&tx, &key)? else { return Err(StateError::NotFound { what: "alert", id: key }) };
            if a.state != AlertState::Firing {
                return Ok(None);
            }
            tx.execute(
                "UPDATE alert SET note = ?2, acked_at = COALESCE(acked_at, ?3), acked_by = COALESCE(acked_by, ?4),
                 version = version + 1 WHERE key = ?1",
                params![key, note, now, by],
            )?;
            let a = load(&tx, &key)?;
            tx.commit()?;
            Ok(a)
        })
        .await
    }

    /// An alert raised by another system (an Alertmanager webhook, a JSON event): firing opens an episode
    /// (or, already firing, keeps it and takes the newer summary), resolved closes it. Its row has rule
    /// [`EXTERNAL_RULE`]; it pages through the routes like a routed alert. `Ok(None)`: nothing changed.
    pub async fn external_alert(
        &self,
        key: &str,
        source: &str,
        labels: Labels,
        detail: &str,
        firing: bool,
        now: Nanos,
    ) -> Result<Option<AlertRow>, StateError> {
        let (key, source, detail) = (key.to_string(), source.to_string(), detail.to_string());
        self.with(move |c| {
            let tx = crate::sqlite::write_transaction(c)?;
            let current = load(&tx, &key)?;
            let open = current.as_ref().is_some_and(|a| a.state != AlertState::Resolved);
            let mut row = match current.clone() {
                Some(r) => r,
                None => AlertRow::new(key.clone(), EXTERNAL_RULE.into(), source.clone(), String::new()),
            };
            match (firing, open) {
                (true, false) => {
                    row.start_episode(now);
                    row.held.clear();
                    row.labels = labels;
                    row.detail = detail;
                }
                (true, true) => row.detail = detail,
                (false, true) => {
                    row.state = AlertState::Resolved;
                    row.since = now;
                    row.resolved_at = Some(now);
                    row.held.clear();
                }
                (false, false) => {}
            }
            if current.as_ref() == Some(&row) || (current.is_none() && !firing) {
                return Ok(None);
            }
            row.version += 1;
            write_row(&tx, &row)?;
            tx.commit()?;
            Ok(Some(row))
        })
        .await
    }

    /// Claims up to `limit` deliveries due at `now` for `claim` nanoseconds. A delivery waits while an
    /// earlier one of the same alert and notifier is unsettled, so a resolve never overtakes its trigger.
    pub async fn claim_deliveries(&self, now: Nanos, claim: Nanos, limit: usize) -> Result<Vec<Delivery>, StateError> {
        self.with(move |c| {
            let tx = crate::sqlite::write_transaction(c)?;
            let rows: Vec<Delivery> = tx
                .prepare_cached(
                    "SELECT d.id, d.alert, d.notifier, d.action, d.event, d.attempts, d.created_at FROM alert_delivery d
                     WHERE d.sent_at IS NULL AND d.failed_at IS NULL AND d.next_at <= ?1
                       AND (d.claimed_until IS NULL OR d.claimed_until <= ?1)
                       AND NOT EXISTS (SELECT 1 FROM alert_delivery e WHERE e.alert = d.alert AND e.notifier = d.notifier
                                       AND e.id < d.id AND e.sent_at IS NULL AND e.failed_at IS NULL)
                     ORDER BY d.next_at, d.id LIMIT ?2",
                )?
                .query_map(params![now, limit as i64], |r| {
                    Ok(Delivery {
                        id: r.get(0)?,
                        alert: r.get(1)?,
                        notifier: r.get(2)?,
                        action: r.get(3)?,
                        event: r.get(4)?,
                        attempts: r.get(5)?,
                        created_at: r.get(6)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            for d in &rows {
                tx.execute("UPDATE alert_delivery SET claimed_until = ?2 WHERE id = ?1", params![d.id, now + claim])?;
            }
            tx.commit()?;
            Ok(rows)
        })
        .await
    }

    /// Records an attempt: `Ok(answer)` sent; `Err((answer, Some(at)))` retry at `at`; `Err((answer, None))`
    /// given up. The provider's answer is kept either way.
    pub async fn record_alert_delivery(
        &self,
        id: i64,
        result: Result<String, (String, Option<Nanos>)>,
        now: Nanos,
    ) -> Result<(), StateError> {
        self.with(move |c| {
            match result {
                Ok(answer) => c.execute(
                    "UPDATE alert_delivery SET sent_at = ?2, attempts = attempts + 1, answer = ?3, claimed_until = NULL WHERE id = ?1",
                    params![id, now, answer],
                )?,
                Err((answer, Some(at))) => c.execute(
                    "UPDATE alert_delivery SET attempts = attempts + 1, next_at = ?2, answer = ?3, claimed_until = NULL WHERE id = ?1",
                    params![id, at, answer],
                )?,
                Err((answer, None)) => c.execute(
                    "UPDATE alert_delivery SET attempts = attempts + 1, failed_at = ?2, answer = ?3, claimed_until = NULL WHERE id = ?1",
                    params![id, now, answer],
                )?,
            };
            Ok(())
        })
        .await
    }

    /// When the next waiting delivery is due, if any.
    pub async fn next_delivery_at(&self) -> Result<Option<Nanos>, StateError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT MIN(MAX(next_at, COALESCE(claimed_until, 0))) FROM alert_delivery WHERE sent_at IS NULL AND failed_at IS NULL",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn delivery_counts(&self) -> Result<DeliveryCounts, StateError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(SUM(sent_at IS NULL AND failed_at IS NULL), 0), COALESCE(SUM(sent_at IS NOT NULL), 0),
                        COALESCE(SUM(failed_at IS NOT NULL), 0) FROM alert_delivery",
                [],
                |r| {
                    Ok(DeliveryCounts {
                        waiting: r.get::<_, i64>(0)? as u64,
                        sent: r.get::<_, i64>(1)? as u64,
                        failed: r.get::<_, i64>(2)? as u64,
                    })
                },
            )?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(version: i64, state: AlertState) -> AlertRow {
        AlertRow {
            key: "down/api/production".into(),
            rule: "down".into(),
            endpoint: "api".into(),
            environment: "production".into(),
            state,
            since: 1,
            episode: 1,
            fired_at: Some(1),
            resolved_at: None,
            value: 0.0,
            detail: "down".into(),
            level: 1,
            acked_at: None,
            acked_by: None,
            ack_sent: false,
            paged: vec!["alice".into()],
            note: String::new(),
            version,
            clear_since: None,
            labels: Labels::new(),
            held: String::new(),
            page_from: None,
            members: vec![],
            notified_at: None,
        }
    }

    fn delivery(action: &str) -> NewDelivery {
        NewDelivery {
            notifier: "pd".into(),
            action: action.into(),
            idempotency: format!("down/api/production/1/{action}/pd"),
            event: "{}".into(),
        }
    }

    #[tokio::test]
    async fn transitions_are_compare_and_set_and_deliveries_are_ordered_per_alert() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).await.unwrap();
        assert!(db.apply_alert(alert(1, AlertState::Firing), vec![delivery("trigger")], 10).await.unwrap().is_some());
        // A second writer computing from the same (absent) row loses, and its page is not enqueued again.
        assert!(db.apply_alert(alert(1, AlertState::Firing), vec![delivery("trigger")], 10).await.unwrap().is_none());
        let stored = db.alert("down/api/production").await.unwrap().unwrap();
        assert_eq!(stored.paged, vec!["alice".to_string()]);
        assert_eq!(stored.clear_since, None);
        // A `resolve_for` wait survives the process: reopened, the row still says since when.
        let labels: Labels = [("component".to_string(), "db".to_string())].into();
        let waiting = AlertRow {
            clear_since: Some(9),
            labels: labels.clone(),
            held: "silenced by abc".into(),
            page_from: Some(7),
            members: vec!["a".into(), "b".into()],
            notified_at: Some(8),
            ..alert(2, AlertState::Firing)
        };
        assert!(db.apply_alert(waiting.clone(), vec![], 10).await.unwrap().is_some());
        assert_eq!(db.alert("down/api/production").await.unwrap().unwrap(), waiting, "every column round-trips");
        drop(db);
        let db = StateDb::open(&dir.path().join("s.db")).await.unwrap();
        assert_eq!(db.alert("down/api/production").await.unwrap().unwrap().clear_since, Some(9));
        let alert = |version: i64, state| alert(version + 1, state);
        assert!(db.apply_alert(alert(2, AlertState::Resolved), vec![delivery("resolve")], 11).await.unwrap().is_some());
        // The same idempotency key again is one row.
        assert!(db.apply_alert(alert(3, AlertState::Resolved), vec![delivery("resolve")], 12).await.unwrap().is_some());
        assert_eq!(db.delivery_counts().await.unwrap().waiting, 2);

        // Only the trigger is due: the resolve waits for it.
        let first = db.claim_deliveries(100, 1_000, 10).await.unwrap();
        assert_eq!(first.iter().map(|d| d.action.as_str()).collect::<Vec<_>>(), vec!["trigger"]);
        // Claimed: nobody else takes it meanwhile.
        assert!(db.claim_deliveries(100, 1_000, 10).await.unwrap().is_empty());
        db.record_alert_delivery(first[0].id, Err(("500".into(), Some(200))), 100).await.unwrap();
        assert!(db.claim_deliveries(150, 1_000, 10).await.unwrap().is_empty(), "retry not due yet, resolve still waits");
        let again = db.claim_deliveries(200, 1_000, 10).await.unwrap();
        assert_eq!(again[0].attempts, 1);
        db.record_alert_delivery(again[0].id, Ok("202".into()), 200).await.unwrap();
        let next = db.claim_deliveries(200, 1_000, 10).await.unwrap();
        assert_eq!(next.iter().map(|d| d.action.as_str()).collect::<Vec<_>>(), vec!["resolve"]);
        // An expired claim (a crashed sender) is taken over.
        assert_eq!(db.claim_deliveries(1_300, 1_000, 10).await.unwrap().len(), 1);
        assert_eq!(db.delivery_counts().await.unwrap(), DeliveryCounts { waiting: 1, sent: 1, failed: 0 });
    }

    #[tokio::test]
    async fn acknowledging_needs_a_firing_alert_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).await.unwrap();
        assert!(matches!(db.acknowledge_alert("nope", "bob", 5).await, Err(StateError::NotFound { .. })));
        db.apply_alert(alert(1, AlertState::Firing), vec![], 1).await.unwrap();
        let a = db.acknowledge_alert("down/api/production", "bob", 5).await.unwrap();
        assert_eq!((a.acked_at, a.acked_by.as_deref(), a.version), (Some(5), Some("bob"), 2));
        let b = db.acknowledge_alert("down/api/production", "carol", 6).await.unwrap();
        assert_eq!((b.acked_at, b.acked_by.as_deref(), b.version), (Some(5), Some("bob"), 2), "the first acknowledgement stands");
        db.apply_alert(alert(3, AlertState::Resolved), vec![], 7).await.unwrap();
        assert!(matches!(db.acknowledge_alert("down/api/production", "bob", 8).await, Err(StateError::Conflict(_))));
    }
}
