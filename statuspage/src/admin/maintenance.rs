//! `/api/v1/admin/maintenance`: start, schedule, end and list maintenance windows.

use super::*;

pub fn maintenance_json(m: &Maintenance) -> Value {
    let (kind, list): (&str, Vec<&String>) = match &m.scope {
        Scope::All => ("all", vec![]),
        Scope::Components(c) => ("components", c.iter().collect()),
        Scope::Endpoints(e) => ("endpoints", e.iter().collect()),
    };
    json!({
        "id": m.id,
        "title": m.title,
        "message": m.body,
        "scope": kind,
        kind: list,
        "start": time(Some(m.starts_at)),
        "end": time(Some(m.ends_at)),
        "ended_early": m.ended_early,
        "created_at": time(Some(m.created_at)),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MaintenanceBody {
    title: Option<String>,
    message: Option<String>,
    components: Option<Vec<String>>,
    endpoints: Option<Vec<String>>,
    all: Option<bool>,
    /// RFC 3339; default now.
    start: Option<String>,
    /// RFC 3339; or `duration`.
    end: Option<String>,
    /// `90m`, `2h`: instead of `end`.
    duration: Option<String>,
}

pub(super) fn rfc3339(field: &str, s: &str, invalid: &mut Invalid) -> Option<Nanos> {
    match s.parse::<jiff::Timestamp>() {
        Ok(t) => i64::try_from(t.as_nanosecond()).ok(),
        Err(_) => {
            invalid.push(field, format!("`{s}` is not an RFC 3339 time with an offset, like 2026-12-01T02:00:00Z"));
            None
        }
    }
}

pub(super) async fn create_maintenance(
    _: Admin,
    State(p): State<Arc<StatusPage>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let b: MaintenanceBody = match parse(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut invalid = Invalid::default();
    let title = b.title.as_deref().map(str::trim).unwrap_or_default().to_string();
    if title.is_empty() {
        invalid.push("title", "is required");
    } else if title.chars().count() > NAME_MAX {
        invalid.push("title", format!("is longer than {NAME_MAX} characters"));
    }
    let scope = match (&b.components, &b.endpoints, b.all.unwrap_or(false)) {
        (Some(c), None, false) if !c.is_empty() => {
            for (i, id) in c.iter().enumerate() {
                if !p.cfg.components.iter().any(|x| &x.id == id) {
                    invalid.push(&format!("components[{i}]"), format!("no component `{id}`"));
                }
            }
            Some(Scope::Components(c.iter().cloned().collect()))
        }
        (None, Some(e), false) if !e.is_empty() => {
            for (i, id) in e.iter().enumerate() {
                if !p.endpoint_known(id) {
                    invalid.push(&format!("endpoints[{i}]"), format!("no endpoint or check `{id}`"));
                }
            }
            Some(Scope::Endpoints(e.iter().cloned().collect()))
        }
        (None, None, true) => Some(Scope::All),
        _ => {
            invalid.push("components", "name exactly one of: components (a non-empty list), endpoints (a non-empty list), all = true");
            None
        }
    };
    let now = now_nanos();
    let start = b.start.as_deref().and_then(|s| rfc3339("start", s, &mut invalid)).unwrap_or(now);
    let end = match (&b.end, &b.duration) {
        (Some(e), None) => rfc3339("end", e, &mut invalid),
        (None, Some(d)) => match watchpost_core::config::parse_duration(d) {
            Ok(d) => Some(start.saturating_add(watchpost_core::time::duration_nanos(d))),
            Err(e) => {
                invalid.push("duration", e.to_string());
                None
            }
        },
        _ => {
            invalid.push("end", "give `end` (RFC 3339) or `duration` (like 2h), not both");
            None
        }
    };
    if let Some(end) = end {
        if end <= start {
            invalid.push("end", "is not after the start");
        } else if end <= now {
            invalid.push("end", "is in the past");
        }
    }
    if b.message.as_ref().is_some_and(|m| m.len() > MESSAGE_MAX) {
        invalid.push("message", format!("is longer than {MESSAGE_MAX} bytes"));
    }
    if let Err(r) = invalid.into_result() {
        return r;
    }
    let (Some(scope), Some(end)) = (scope, end) else { return reply(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": "invalid window"})) };
    let new = NewMaintenance { title, body: b.message.unwrap_or_default(), scope, starts_at: start, ends_at: end };
    match p.state.create_maintenance(new).await {
        Ok(m) => {
            tracing::info!(window = %m.id, scope = %m.scope.describe(), "maintenance window created through the admin API");
            changed(&p).await;
            let what = if m.starts_at > now_nanos() { "scheduled" } else { "started" };
            crate::subscribe::fan_out(&p, crate::subscribe::Event::Maintenance(&m, what)).await;
            reply(StatusCode::CREATED, maintenance_json(&m))
        }
        Err(e) => state_error(e),
    }
}

pub(super) async fn end_maintenance(_: Admin, State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
    match p.state.end_maintenance(&id).await {
        Ok(m) => {
            tracing::info!(window = %m.id, "maintenance window ended through the admin API");
            changed(&p).await;
            crate::subscribe::fan_out(&p, crate::subscribe::Event::Maintenance(&m, "completed")).await;
            reply(StatusCode::OK, maintenance_json(&m))
        }
        Err(e) => state_error(e),
    }
}

pub(super) async fn list_maintenance(_: Admin, State(p): State<Arc<StatusPage>>) -> Response {
    let now = now_nanos();
    match p.state.maintenances(watchpost_core::time::TimeRange::new(now - 90 * crate::history::DAY, i64::MAX)).await {
        Ok(list) => reply(StatusCode::OK, json!({"maintenance": list.iter().map(maintenance_json).collect::<Vec<_>>()})),
        Err(e) => state_error(e),
    }
}
