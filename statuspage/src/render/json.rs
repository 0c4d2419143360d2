//! The public JSON API in the shapes of Atlassian Statuspage's `/api/v2/*.json`, so that widgets and clients
//! written for Statuspage read it unchanged, and our own `/api/v1` series.
//!
//! Statuspage returns `null` for absent values (`group_id`, `resolved_at`, …) and clients index those keys
//! unconditionally, so every key is always present.

use super::api_time;
use crate::config::StatusPageConfig;
use crate::snapshot::{ComponentView, MaintenanceView, Snapshot};
use serde_json::{json, Value};
use watchpost_core::state::Incident;
use watchpost_core::time::Nanos;

/// How many resolved incidents and past maintenances the list documents carry (Statuspage: 50).
const LIST_LIMIT: usize = 50;

/// A stable page id from the page's URL, in Statuspage's 12-character form.
pub fn page_id(cfg: &StatusPageConfig) -> String {
    // FNV-1a: stable across versions and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cfg.url.as_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..12).map(|i| alphabet[((h >> (i * 5)) % 36) as usize] as char).collect()
}

fn page(cfg: &StatusPageConfig, s: &Snapshot) -> Value {
    json!({
        "id": page_id(cfg),
        "name": cfg.title,
        "url": cfg.url,
        "time_zone": cfg.tz_name,
        "updated_at": api_time(s.now, &cfg.tz),
    })
}

fn component(cfg: &StatusPageConfig, s: &Snapshot, c: &ComponentView) -> Value {
    let created = s.day_starts.first().copied().unwrap_or(s.now);
    json!({
        "id": c.id,
        "name": c.name,
        "status": c.status.as_str(),
        "created_at": api_time(created, &cfg.tz),
        "updated_at": api_time(c.since, &cfg.tz),
        "position": c.position,
        "description": if c.description.is_empty() { Value::Null } else { json!(c.description) },
        "showcase": true,
        "start_date": Value::Null,
        "group_id": c.group,
        "page_id": page_id(cfg),
        "group": false,
        "only_show_if_degraded": false,
    })
}

fn components(cfg: &StatusPageConfig, s: &Snapshot) -> Vec<Value> {
    let created = s.day_starts.first().copied().unwrap_or(s.now);
    let mut out: Vec<Value> = s.components.iter().map(|c| component(cfg, s, c)).collect();
    for g in &s.groups {
        let since = s.components.iter().filter(|c| g.components.contains(&c.id)).map(|c| c.since).max().unwrap_or(s.now);
        out.push(json!({
            "id": g.id,
            "name": g.name,
            "status": g.status.as_str(),
            "created_at": api_time(created, &cfg.tz),
            "updated_at": api_time(since, &cfg.tz),
            "position": g.position,
            "description": if g.description.is_empty() { Value::Null } else { json!(g.description) },
            "showcase": false,
            "start_date": Value::Null,
            "group_id": Value::Null,
            "page_id": page_id(cfg),
            "group": true,
            "only_show_if_degraded": false,
            "components": g.components,
        }));
    }
    out
}

fn opt_time(ts: Option<Nanos>, cfg: &StatusPageConfig) -> Value {
    ts.map_or(Value::Null, |t| json!(api_time(t, &cfg.tz)))
}

pub fn incident(cfg: &StatusPageConfig, s: &Snapshot, x: &Incident) -> Value {
    let name_of = |id: &str| s.component(id).map_or_else(|| id.to_string(), |c| c.name.clone());
    let updates: Vec<Value> = x
        .updates
        .iter()
        .map(|u| {
            let affected: Vec<Value> = u
                .affected
                .iter()
                .map(|a| json!({"code": a.component, "name": name_of(&a.component), "old_status": a.old_status.as_str(), "new_status": a.new_status.as_str()}))
                .collect();
            json!({
                "id": u.id,
                "status": u.status.as_str(),
                "body": u.body,
                "incident_id": x.id,
                "created_at": api_time(u.created_at, &cfg.tz),
                "updated_at": api_time(u.created_at, &cfg.tz),
                "display_at": api_time(u.created_at, &cfg.tz),
                "affected_components": if affected.is_empty() { Value::Null } else { Value::Array(affected) },
                "deliver_notifications": true,
                "custom_tweet": Value::Null,
                "tweet_id": Value::Null,
            })
        })
        .collect();
    let comps: Vec<Value> = x.components.iter().filter_map(|(id, _)| s.component(id)).map(|c| component(cfg, s, c)).collect();
    json!({
        "id": x.id,
        "name": x.name,
        "status": x.status.as_str(),
        "created_at": api_time(x.created_at, &cfg.tz),
        "updated_at": api_time(x.updated_at, &cfg.tz),
        "monitoring_at": opt_time(x.monitoring_at, cfg),
        "resolved_at": opt_time(x.resolved_at, cfg),
        "impact": x.impact.as_str(),
        "shortlink": format!("{}/incidents/{}", cfg.url, x.id),
        "started_at": api_time(x.created_at, &cfg.tz),
        "page_id": page_id(cfg),
        "incident_updates": updates,
        "components": comps,
    })
}

pub fn maintenance(cfg: &StatusPageConfig, s: &Snapshot, m: &MaintenanceView) -> Value {
    // Statuspage always lists at least one update; a window from the configuration has exactly one, for
    // its current state.
    let (at, body) = match m.status {
        crate::snapshot::MaintenanceStatus::Scheduled => {
            (m.start.min(s.now), if m.body.is_empty() { m.title.clone() } else { m.body.clone() })
        }
        crate::snapshot::MaintenanceStatus::InProgress => (m.start, "Scheduled maintenance is currently in progress.".to_string()),
        crate::snapshot::MaintenanceStatus::Completed => (m.end, "The scheduled maintenance has been completed.".to_string()),
    };
    let comps: Vec<Value> = m.components.iter().filter_map(|id| s.component(id)).map(|c| component(cfg, s, c)).collect();
    json!({
        "id": m.id,
        "name": m.title,
        "status": m.status.as_str(),
        "created_at": api_time(m.start.min(s.now), &cfg.tz),
        "updated_at": api_time(at, &cfg.tz),
        "monitoring_at": Value::Null,
        "resolved_at": if m.status == crate::snapshot::MaintenanceStatus::Completed { json!(api_time(m.end, &cfg.tz)) } else { Value::Null },
        "impact": "maintenance",
        "shortlink": format!("{}/#maintenance-{}", cfg.url, m.id),
        "started_at": api_time(m.start, &cfg.tz),
        "page_id": page_id(cfg),
        "scheduled_for": api_time(m.start, &cfg.tz),
        "scheduled_until": api_time(m.end, &cfg.tz),
        "incident_updates": [{
            "id": format!("{}-{}", m.id, m.status.as_str()),
            "status": m.status.as_str(),
            "body": body,
            "incident_id": m.id,
            "created_at": api_time(at, &cfg.tz),
            "updated_at": api_time(at, &cfg.tz),
            "display_at": api_time(at, &cfg.tz),
            "affected_components": Value::Null,
            "deliver_notifications": true,
            "custom_tweet": Value::Null,
            "tweet_id": Value::Null,
        }],
        "components": comps,
    })
}

/// Which public JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Summary,
    Status,
    Components,
    Incidents,
    Unresolved,
    Maintenances,
    Upcoming,
    Active,
}

impl Doc {
    pub const ALL: [Doc; 8] =
        [Doc::Summary, Doc::Status, Doc::Components, Doc::Incidents, Doc::Unresolved, Doc::Maintenances, Doc::Upcoming, Doc::Active];

    /// Its path under `/api/v2/`.
    pub fn path(self) -> &'static str {
        match self {
            Doc::Summary => "summary.json",
            Doc::Status => "status.json",
            Doc::Components => "components.json",
            Doc::Incidents => "incidents.json",
            Doc::Unresolved => "incidents/unresolved.json",
            Doc::Maintenances => "scheduled-maintenances.json",
            Doc::Upcoming => "scheduled-maintenances/upcoming.json",
            Doc::Active => "scheduled-maintenances/active.json",
        }
    }
}

pub fn render(doc: Doc, cfg: &StatusPageConfig, s: &Snapshot) -> Value {
    use crate::snapshot::MaintenanceStatus as M;
    let status = json!({"indicator": s.overall_indicator, "description": s.overall_description});
    let incidents = |unresolved_only: bool| -> Vec<Value> {
        s.incidents.iter().filter(|x| !unresolved_only || !x.is_resolved()).take(LIST_LIMIT).map(|x| incident(cfg, s, x)).collect()
    };
    let maints = |keep: &dyn Fn(M) -> bool| -> Vec<Value> {
        // Newest first, as Statuspage lists them.
        s.maintenances.iter().rev().filter(|m| keep(m.status)).take(LIST_LIMIT).map(|m| maintenance(cfg, s, m)).collect()
    };
    match doc {
        Doc::Summary => json!({
            "page": page(cfg, s),
            "status": status,
            "components": components(cfg, s),
            "incidents": incidents(true),
            "scheduled_maintenances": maints(&|st| st != M::Completed),
        }),
        Doc::Status => json!({"page": page(cfg, s), "status": status}),
        Doc::Components => json!({"page": page(cfg, s), "components": components(cfg, s)}),
        Doc::Incidents => json!({"page": page(cfg, s), "incidents": incidents(false)}),
        Doc::Unresolved => json!({"page": page(cfg, s), "incidents": incidents(true)}),
        Doc::Maintenances => json!({"page": page(cfg, s), "scheduled_maintenances": maints(&|_| true)}),
        Doc::Upcoming => json!({"page": page(cfg, s), "scheduled_maintenances": maints(&|st| st == M::Scheduled)}),
        Doc::Active => json!({"page": page(cfg, s), "scheduled_maintenances": maints(&|st| st == M::InProgress)}),
    }
}

/// `/api/v1/components/{id}/uptime`: the uptime bars as data.
pub fn uptime(cfg: &StatusPageConfig, s: &Snapshot, c: &ComponentView) -> Value {
    let days: Vec<Value> = s
        .day_starts
        .iter()
        .zip(&c.days)
        .map(|(start, d)| {
            json!({
                "date": super::zoned(*start, &cfg.tz).map(|z| z.date().to_string()),
                "uptime_percentage": d.percent,
                "observed_seconds": d.observed_s.round(),
                "major_outage_seconds": d.major_s.round(),
                "partial_outage_seconds": d.partial_s.round(),
                "maintenance_seconds": d.maintenance_s.round(),
            })
        })
        .collect();
    json!({
        "id": c.id,
        "name": c.name,
        "time_zone": cfg.tz_name,
        "uptime_percentage": c.total.percent,
        "partial_outage_weight": cfg.partial_outage_weight,
        "major_outage": c.total.major_s.round(),
        "partial_outage": c.total.partial_s.round(),
        "days": days,
    })
}

/// `/api/v1/components/{id}/response-times`: mean latency of ok probes, 10-minute buckets over 24 hours
/// and 6-hour buckets over 30 days.
pub fn response_times(cfg: &StatusPageConfig, c: &ComponentView) -> Value {
    let series = |points: &[(Nanos, f64)]| -> Vec<Value> {
        points.iter().map(|(t, ms)| json!({"timestamp": api_time(*t, &cfg.tz), "mean_ms": (ms * 1000.0).round() / 1000.0})).collect()
    };
    json!({
        "id": c.id,
        "name": c.name,
        "last_24h": {"bucket_seconds": 600, "points": series(&c.latency_24h)},
        "last_30d": {"bucket_seconds": 21600, "points": series(&c.latency_30d)},
    })
}
