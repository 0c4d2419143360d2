//! Incidents: created, updated (status, message, components) and read with their updates.

use super::*;

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

impl StateDb {
    pub async fn create_incident(&self, new: NewIncident) -> Result<Incident, StateError> {
        self.with(move |c| {
            let now = now_nanos();
            let id = new_id();
            let tx = crate::sqlite::write_transaction(c)?;
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
            let tx = crate::sqlite::write_transaction(c)?;
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
}

pub(super) fn derived_impact(components: &[(String, ComponentStatus)]) -> Impact {
    components.iter().map(|(_, s)| Impact::of(*s)).max().unwrap_or(Impact::None)
}

pub(super) fn insert_update(
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

pub(super) fn load_incident(c: &Connection, id: &str) -> Result<Option<Incident>, StateError> {
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
        components.push((component, ComponentStatus::parse(&s).ok_or_else(|| unexpected("component status", &s))?));
    }
    let mut updates = Vec::new();
    let mut st = c.prepare_cached(
        "SELECT id, status, body, created_at, affected FROM incident_update WHERE incident = ?1 ORDER BY created_at DESC, rowid DESC",
    )?;
    for row in st.query_map(params![id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, String>(4)?))
    })? {
        let (uid, s, body, at, affected) = row?;
        let affected: Vec<serde_json::Value> = serde_json::from_str(&affected).map_err(|_| unexpected("affected components", &affected))?;
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
            status: IncidentStatus::parse(&s).ok_or_else(|| unexpected("incident status", &s))?,
            body,
            created_at: at,
            affected,
        });
    }
    Ok(Some(Incident {
        id: id.to_string(),
        name,
        status: IncidentStatus::parse(&status).ok_or_else(|| unexpected("incident status", &status))?,
        impact: Impact::parse(&impact).ok_or_else(|| unexpected("impact", &impact))?,
        created_at,
        updated_at,
        monitoring_at,
        resolved_at,
        components,
        updates,
    }))
}
