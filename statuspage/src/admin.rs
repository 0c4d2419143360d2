//! The admin API under `/api/v1/admin` (DESIGN.md §7): incidents and maintenance windows, behind a bearer
//! token compared in constant time. Bodies are JSON, at most [`BODY_LIMIT`]; malformed JSON or unknown
//! keys answer 400, values that are well-formed but wrong (an unknown component, an end before the start)
//! answer 422, both naming the field.
//!
//! Every change is written to the state database first, then the page is rebuilt before the response, so
//! a client that reads the page after a 2xx sees its change. Maintenance windows reach the agents through
//! the `MaintenanceSource` that reads the same database.

// Handlers return early with a ready `Response`; boxing it would add an allocation per rejected request.
#![allow(clippy::result_large_err)]

use crate::respond::{json_body as parse, reply};
use crate::StatusPage;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use watchpost_core::maintenance::Scope;
use watchpost_core::model::ComponentStatus;
use watchpost_core::state::{Impact, Incident, IncidentChange, IncidentStatus, Maintenance, NewIncident, NewMaintenance, StateError};
use watchpost_core::time::{now_nanos, Nanos};

/// Incidents and windows are a few sentences; anything larger is not one.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Statuspage's limit on an incident's name.
const NAME_MAX: usize = 255;
const MESSAGE_MAX: usize = 16 * 1024;

pub fn router() -> Router<Arc<StatusPage>> {
    Router::new()
        .route("/incidents", get(list_incidents).post(create_incident))
        .route("/incidents/{id}", get(get_incident).patch(update_incident))
        .route("/maintenance", get(list_maintenance).post(create_maintenance))
        .route("/maintenance/{id}/end", post(end_maintenance))
        .route("/subscribers", get(list_subscribers).post(add_subscriber))
        .route("/subscribers/{id}", axum::routing::delete(remove_subscriber))
}

/// Proof that the request carried the admin token. Extracted before the body is read, so a stranger learns
/// nothing from validation errors.
pub struct Admin;

impl FromRequestParts<Arc<StatusPage>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, page: &Arc<StatusPage>) -> Result<Self, Response> {
        let presented = watchpost_core::http::bearer_token(&parts.headers);
        match (&page.cfg.admin_token, presented) {
            (Some(token), Some(p)) if token.matches(p.trim()) => Ok(Admin),
            (token, presented) => {
                tracing::warn!(path = %parts.uri.path(), token_sent = presented.is_some(), admin_enabled = token.is_some(), "admin API request rejected");
                let message = if token.is_none() {
                    "the admin API is off: set statuspage.admin_token"
                } else {
                    "missing or wrong token: send Authorization: Bearer <statuspage.admin_token>"
                };
                let mut r = reply(StatusCode::UNAUTHORIZED, json!({"error": message}));
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"watchpost-admin\""));
                Err(r)
            }
        }
    }
}

/// Field errors, answered together as 422.
#[derive(Default)]
struct Invalid(Vec<(String, String)>);

impl Invalid {
    fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_string(), message.into()));
    }

    fn into_result(self) -> Result<(), Response> {
        if self.0.is_empty() {
            return Ok(());
        }
        let errors: Vec<Value> = self.0.iter().map(|(f, m)| json!({"field": f, "message": m})).collect();
        let summary = self.0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; ");
        Err(reply(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": summary, "errors": errors})))
    }
}

fn state_error(e: StateError) -> Response {
    match e {
        StateError::NotFound { .. } => reply(StatusCode::NOT_FOUND, json!({"error": e.to_string()})),
        StateError::Conflict(m) => reply(StatusCode::CONFLICT, json!({"error": m})),
        e => {
            tracing::error!(error = %e, "admin API: state database failed");
            reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "the state database failed; see the server's log"}))
        }
    }
}

fn time(ts: Option<Nanos>) -> Value {
    ts.map_or(Value::Null, |t| json!(watchpost_core::time::format_rfc3339(t)))
}

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
struct IncidentBody {
    name: Option<String>,
    status: Option<String>,
    message: Option<String>,
    impact: Option<String>,
    /// Component id → status it declares (`{"api": "partial_outage"}`).
    components: Option<BTreeMap<String, String>>,
}

/// Checks the fields both create and update take; returns the typed values.
fn check_incident(
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

async fn list_incidents(_: Admin, State(p): State<Arc<StatusPage>>) -> Response {
    match p.state.incidents(0).await {
        Ok(list) => reply(StatusCode::OK, json!({"incidents": list.iter().map(incident_json).collect::<Vec<_>>()})),
        Err(e) => state_error(e),
    }
}

async fn get_incident(_: Admin, State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
    match p.state.incident(&id).await {
        Ok(Some(x)) => reply(StatusCode::OK, incident_json(&x)),
        Ok(None) => reply(StatusCode::NOT_FOUND, json!({"error": format!("no incident with id `{id}`")})),
        Err(e) => state_error(e),
    }
}

async fn create_incident(_: Admin, State(p): State<Arc<StatusPage>>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
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

async fn update_incident(
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceBody {
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

fn rfc3339(field: &str, s: &str, invalid: &mut Invalid) -> Option<Nanos> {
    match s.parse::<jiff::Timestamp>() {
        Ok(t) => i64::try_from(t.as_nanosecond()).ok(),
        Err(_) => {
            invalid.push(field, format!("`{s}` is not an RFC 3339 time with an offset, like 2026-12-01T02:00:00Z"));
            None
        }
    }
}

async fn create_maintenance(_: Admin, State(p): State<Arc<StatusPage>>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
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

async fn end_maintenance(_: Admin, State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
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

async fn list_maintenance(_: Admin, State(p): State<Arc<StatusPage>>) -> Response {
    let now = now_nanos();
    match p.state.maintenances(watchpost_core::time::TimeRange::new(now - 90 * crate::history::DAY, i64::MAX)).await {
        Ok(list) => reply(StatusCode::OK, json!({"maintenance": list.iter().map(maintenance_json).collect::<Vec<_>>()})),
        Err(e) => state_error(e),
    }
}

/// Rebuilds the page before answering, so the caller's next read sees the change.
async fn changed(p: &StatusPage) {
    if let Err(e) = p.refresh().await {
        tracing::warn!(error = %e, "page refresh after an admin change failed; the background refresh will retry");
        p.poke();
    }
}

fn subscriber_json(s: &watchpost_core::state::Subscriber) -> Value {
    json!({
        "id": s.id,
        "kind": s.kind.as_str(),
        "address": s.address,
        "created_at": time(Some(s.created_at)),
        "confirmed_at": time(s.confirmed_at),
    })
}

async fn list_subscribers(_: Admin, State(p): State<Arc<StatusPage>>) -> Response {
    match p.state.subscribers(false).await {
        Ok(list) => reply(StatusCode::OK, json!({"subscribers": list.iter().map(subscriber_json).collect::<Vec<_>>()})),
        Err(e) => state_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriberBody {
    /// An http(s) URL that receives a signed JSON POST per event.
    webhook: Option<String>,
    /// An address subscribed without the confirmation step (the admin vouches for it).
    email: Option<String>,
}

async fn add_subscriber(_: Admin, State(p): State<Arc<StatusPage>>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let b: SubscriberBody = match parse(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut invalid = Invalid::default();
    if p.cfg.subscriptions.is_none() {
        invalid.push("", "subscriptions are off: add [statuspage.subscriptions] with a secret");
    }
    let (kind, address) = match (b.webhook, b.email) {
        (Some(url), None) => {
            // The shared check: ports in range, and the URL shown without credentials or query (tokens).
            if let Err(e) = watchpost_core::http::parse_http_url(&url) {
                invalid.push("webhook", e);
            }
            (watchpost_core::state::SubscriberKind::Webhook, url)
        }
        (None, Some(email)) => {
            if email.parse::<lettre::Address>().is_err() {
                invalid.push("email", format!("{email:?} is not an email address"));
            }
            (watchpost_core::state::SubscriberKind::Email, email)
        }
        _ => {
            invalid.push("webhook", "give exactly one of `webhook` or `email`");
            (watchpost_core::state::SubscriberKind::Webhook, String::new())
        }
    };
    if let Err(r) = invalid.into_result() {
        return r;
    }
    match p.state.add_subscriber(kind, &address, true).await {
        Ok((s, new)) => {
            tracing::info!(subscriber = %s.id, kind = kind.as_str(), "subscriber added through the admin API");
            let s = if s.confirmed_at.is_none() { p.state.confirm_subscriber(&s.id).await.unwrap_or(s) } else { s };
            reply(if new { StatusCode::CREATED } else { StatusCode::OK }, subscriber_json(&s))
        }
        Err(e) => state_error(e),
    }
}

async fn remove_subscriber(_: Admin, State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
    match p.state.remove_subscriber(&id).await {
        Ok(true) => reply(StatusCode::OK, json!({"removed": id})),
        Ok(false) => reply(StatusCode::NOT_FOUND, json!({"error": format!("no subscriber with id `{id}`")})),
        Err(e) => state_error(e),
    }
}
