//! `/api/v1/admin/incidents`: open, update, list incidents (Statuspage's fields and limits).

use super::*;

/// The admin view of an incident: every component, private ones too.
pub fn incident_json(x: &Incident) -> Value {
    let components: BTreeMap<&str, &str> = x.components.iter().map(|(c, s)| (c.as_str(), s.as_str())).collect();
    let updates: Vec<Value> = x
        .updates
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "status": u.status.as_str(),
                "body": u.body,
                "created_at": time(Some(u.created_at)),
                "affected_components": u.affected.iter().map(|a| json!({"code": a.component, "old_status": a.old_status.as_str(), "new_status": a.new_status.as_str()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "id": x.id,
        "name": x.name,
        "status": x.status.as_str(),
        "impact": x.impact.as_str(),
        "created_at": time(Some(x.created_at)),
        "updated_at": time(Some(x.updated_at)),
        "monitoring_at": time(x.monitoring_at),
        "resolved_at": time(x.resolved_at),
        "components": components,
        "incident_updates": updates,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IncidentBody {
    name: Option<String>,
    status: Option<String>,
    message: Option<String>,
    impact: Option<String>,
    /// Component id → status it declares (`{"api": "partial_outage"}`).
    components: Option<BTreeMap<String, String>>,
}

/// Checks the fields both create and update take; returns the typed values.
pub(super) fn check_incident(
    page: &StatusPage,
    b: &IncidentBody,
    invalid: &mut Invalid,
) -> (Option<IncidentStatus>, Option<Impact>, Vec<(String, ComponentStatus)>) {
    if let Some(n) = &b.name {
        if n.trim().is_empty() {
            invalid.push("name", "is empty");
        } else if n.chars().count() > NAME_MAX {
            invalid.push("name", format!("is longer than {NAME_MAX} characters"));
        }
    }
    if b.message.as_ref().is_some_and(|m| m.len() > MESSAGE_MAX) {
        invalid.push("message", format!("is longer than {MESSAGE_MAX} bytes"));
    }
    let status = b.status.as_deref().and_then(|s| {
        let parsed = IncidentStatus::parse(s);
        if parsed.is_none() {
            invalid.push("status", format!("`{s}` is not one of investigating, identified, monitoring, resolved"));
        }
        parsed
    });
    let impact = b.impact.as_deref().and_then(|s| {
        let parsed = Impact::parse(s);
        if parsed.is_none() {
            invalid.push("impact", format!("`{s}` is not one of none, minor, major, critical"));
        }
        parsed
    });
    let mut components = Vec::new();
    for (id, s) in b.components.iter().flatten() {
        let field = format!("components.{id}");
        if !page.cfg.components.iter().any(|c| &c.id == id) {
            let known: Vec<&str> = page.cfg.components.iter().map(|c| c.id.as_str()).collect();
            invalid.push(&field, format!("no component `{id}`; components: {}", known.join(", ")));
        }
        match ComponentStatus::parse(s) {
            Some(st) => components.push((id.clone(), st)),
            None => invalid.push(
                &field,
                format!("`{s}` is not one of operational, degraded_performance, partial_outage, major_outage, under_maintenance"),
            ),
        }
    }
    (status, impact, components)
}

pub(super) async fn list_incidents(_: Admin, State(p): State<Arc<StatusPage>>) -> Response {
    match p.state.incidents(0).await {
        Ok(list) => reply(StatusCode::OK, json!({"incidents": list.iter().map(incident_json).collect::<Vec<_>>()})),
        Err(e) => state_error(e),
    }
}

pub(super) async fn get_incident(_: Admin, State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
    match p.state.incident(&id).await {
        Ok(Some(x)) => reply(StatusCode::OK, incident_json(&x)),
        Ok(None) => reply(StatusCode::NOT_FOUND, json!({"error": format!("no incident with id `{id}`")})),
        Err(e) => state_error(e),
    }
}

pub(super) async fn create_incident(_: Admin, State(p): State<Arc<StatusPage>>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let b: IncidentBody = match parse(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut invalid = Invalid::default();
    if b.name.is_none() {
        invalid.push("name", "is required");
    }
    let (status, impact, components) = check_incident(&p, &b, &mut invalid);
    if let Err(r) = invalid.into_result() {
        return r;
    }
    let status = status.unwrap_or(IncidentStatus::Investigating);
    let new = NewIncident {
        name: b.name.unwrap_or_default().trim().to_string(),
        message: b.message.unwrap_or_else(|| {
            format!("We are {} this issue.", if status == IncidentStatus::Investigating { "investigating" } else { "working on" })
        }),
        status,
        impact,
        components,
    };
    match p.state.create_incident(new).await {
        Ok(x) => {
            tracing::info!(incident = %x.id, status = x.status.as_str(), impact = x.impact.as_str(), "incident created");
            changed(&p).await;
            crate::subscribe::fan_out(&p, crate::subscribe::Event::Incident(&x)).await;
            let mut r = reply(StatusCode::CREATED, incident_json(&x));
            if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/admin/incidents/{}", x.id)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Err(e) => state_error(e),
    }
}

pub(super) async fn update_incident(
    _: Admin,
    State(p): State<Arc<StatusPage>>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let b: IncidentBody = match parse(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut invalid = Invalid::default();
    let (status, impact, components) = check_incident(&p, &b, &mut invalid);
    if b.name.is_none() && b.status.is_none() && b.message.is_none() && b.impact.is_none() && b.components.is_none() {
        invalid.push("", "nothing to change: give name, status, message, impact or components");
    }
    if let Err(r) = invalid.into_result() {
        return r;
    }
    let change = IncidentChange { name: b.name.map(|n| n.trim().to_string()), status, message: b.message, impact, components };
    match p.state.update_incident(&id, change).await {
        Ok(x) => {
            tracing::info!(incident = %x.id, status = x.status.as_str(), "incident updated");
            changed(&p).await;
            crate::subscribe::fan_out(&p, crate::subscribe::Event::Incident(&x)).await;
            reply(StatusCode::OK, incident_json(&x))
        }
        Err(e) => state_error(e),
    }
}
