//! Maintenance windows started or scheduled through the admin API, and those imported from hosted status pages.

use super::*;

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

impl StateDb {
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
            let tx = crate::sqlite::write_transaction(c)?;
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

pub(super) fn scope_columns(scope: &Scope) -> (&'static str, String) {
    let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join("\n");
    match scope {
        Scope::All => ("all", String::new()),
        Scope::Endpoints(e) => ("endpoints", join(e)),
        Scope::Components(c) => ("components", join(c)),
    }
}

pub(super) fn load_maintenance(c: &Connection, id: &str) -> Result<Option<Maintenance>, StateError> {
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
        other => return Err(unexpected("maintenance scope", other)),
    };
    Ok(Some(Maintenance { id: id.to_string(), title, body, scope, starts_at, ends_at, created_at, updated_at, ended_early, origin }))
}
