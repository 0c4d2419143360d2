//! Alerting's doors on the status page server: acknowledge links from pages (`/ack`: GET shows a button,
//! POST acknowledges, so mail scanners that follow links acknowledge nothing), the admin API's alert list
//! and acknowledgement, and the on-call rota as an iCalendar feed behind the admin token (also accepted as
//! `?token=`, because calendar apps subscribe by URL and cannot send headers).
//!
//! Acknowledging only records it in the state database; the alerting process passes it on to the providers
//! and stops the escalation at its next cycle (within `alerting.evaluation_interval`).

#![allow(clippy::result_large_err)]

use crate::admin::Admin;
use crate::render::escape;
use crate::respond::{json_body, not_found, page, reply};
use crate::StatusPage;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use watchpost_core::labels::Matcher;
use watchpost_core::state::{AlertRow, NewSilence, Silence, StateError};
use watchpost_core::time::{format_rfc3339, now_nanos};
use watchpost_oncall::links::{self, LinkError};

#[derive(Deserialize)]
pub struct AckLink {
    alert: String,
    episode: i64,
    by: String,
    exp: i64,
    sig: String,
}

fn check(p: &StatusPage, q: &AckLink) -> Result<(), Response> {
    let Some(secret) = &p.doors.ack_secret else { return Err(not_found("acknowledge links are off: set alerting.secret")) };
    match links::verify(secret.expose(), &q.alert, q.episode, &q.by, q.exp, &q.sig, now_nanos()) {
        Ok(()) => Ok(()),
        Err(LinkError::Expired) => Err(page(
            &p.cfg,
            StatusCode::GONE,
            "This link has expired",
            "<p>Acknowledge with <code>watchpost ack</code> or in your pager instead.</p>",
        )),
        Err(LinkError::BadSignature) => {
            Err(page(&p.cfg, StatusCode::BAD_REQUEST, "This link is not valid", "<p>Copy the whole link from the message.</p>"))
        }
    }
}

pub async fn ack_form(State(p): State<Arc<StatusPage>>, Query(q): Query<AckLink>) -> Response {
    if let Err(r) = check(&p, &q) {
        return r;
    }
    let action = format!(
        "/ack?alert={}&amp;episode={}&amp;by={}&amp;exp={}&amp;sig={}",
        escape(&links::encode(&q.alert)),
        q.episode,
        escape(&links::encode(&q.by)),
        q.exp,
        escape(&q.sig)
    );
    let body = format!(
        "<p>Alert <code>{}</code>. Acknowledging stops its escalation and tells the pager services.</p>\
         <form method=\"post\" action=\"{action}\"><button type=\"submit\">Acknowledge</button></form>",
        escape(&q.alert)
    );
    page(&p.cfg, StatusCode::OK, "Acknowledge this alert?", &body)
}

pub async fn ack(State(p): State<Arc<StatusPage>>, Query(q): Query<AckLink>) -> Response {
    if let Err(r) = check(&p, &q) {
        return r;
    }
    let by = format!("{} link", q.by);
    match p.state.alert(&q.alert).await {
        Ok(Some(a)) if a.episode != q.episode => {
            return page(
                &p.cfg,
                StatusCode::CONFLICT,
                "This alert has moved on",
                "<p>The link belongs to an earlier firing of this alert.</p>",
            )
        }
        Ok(_) => {}
        Err(e) => return failed(e),
    }
    match p.state.acknowledge_alert(&q.alert, &by, now_nanos()).await {
        Ok(a) => {
            tracing::info!(alert = %a.key, by = %a.acked_by.as_deref().unwrap_or(""), "alert acknowledged through a link");
            let who = escape(a.acked_by.as_deref().unwrap_or(""));
            page(&p.cfg, StatusCode::OK, "Acknowledged", &format!("<p>Alert <code>{}</code> is acknowledged ({who}).</p>", escape(&a.key)))
        }
        Err(StateError::Conflict(m)) => page(&p.cfg, StatusCode::CONFLICT, "Nothing to acknowledge", &format!("<p>{}</p>", escape(&m))),
        Err(StateError::NotFound { .. }) => page(&p.cfg, StatusCode::NOT_FOUND, "No such alert", "<p>It may have been removed.</p>"),
        Err(e) => failed(e),
    }
}

fn failed(e: StateError) -> Response {
    tracing::error!(error = %e, "alert acknowledgement: state database failed");
    (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "application/json")], "{\"error\":\"the state database failed\"}\n")
        .into_response()
}

fn row_json(a: &AlertRow) -> serde_json::Value {
    json!({
        "key": a.key,
        "rule": a.rule,
        "endpoint": a.endpoint,
        "environment": a.environment,
        "state": a.state.as_str(),
        "since": format_rfc3339(a.since),
        "episode": a.episode,
        "fired_at": a.fired_at.map(format_rfc3339),
        "resolved_at": a.resolved_at.map(format_rfc3339),
        "detail": a.detail,
        "level": a.level,
        "paged": a.paged,
        "acked_at": a.acked_at.map(format_rfc3339),
        "acked_by": a.acked_by,
        "note": a.note,
        "labels": a.labels,
        "held": a.held,
        "members": a.members,
    })
}

fn silence_json(s: &Silence) -> serde_json::Value {
    let now = now_nanos();
    json!({
        "id": s.id,
        "matchers": s.matchers,
        "starts_at": format_rfc3339(s.starts_at),
        "ends_at": format_rfc3339(s.ends_at),
        "created_by": s.created_by,
        "comment": s.comment,
        "created_at": format_rfc3339(s.created_at),
        "expired_at": s.expired_at.map(format_rfc3339),
        "state": if s.active_at(now) { "active" } else if s.ends_at <= now { "expired" } else { "pending" },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceBody {
    matchers: Vec<String>,
    /// How long from now (`2h`), or
    #[serde(rename = "for")]
    duration: Option<String>,
    /// until when (RFC 3339).
    ends_at: Option<String>,
    comment: String,
    by: String,
}

fn invalid(field: &str, message: String) -> Response {
    reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": format!("{field}: {message}"), "errors": [{"field": field, "message": message}]}),
    )
}

/// `GET /api/v1/admin/silences`: the silences that have not ended.
pub async fn silences(_: Admin, State(p): State<Arc<StatusPage>>) -> Response {
    match p.state.silences(now_nanos()).await {
        Ok(list) => reply(StatusCode::OK, json!({ "silences": list.iter().map(silence_json).collect::<Vec<_>>() })),
        Err(e) => failed(e),
    }
}

/// `POST /api/v1/admin/silences` with `{"matchers": ["component=checkout"], "for": "2h", "comment": "…",
/// "by": "alice"}` (or `"ends_at"` instead of `"for"`).
pub async fn add_silence(_: Admin, State(p): State<Arc<StatusPage>>, headers: HeaderMap, body: Bytes) -> Response {
    let b: SilenceBody = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let now = now_nanos();
    let mut matchers = Vec::new();
    for (i, m) in b.matchers.iter().take(51).enumerate() {
        if m.len() > 1000 {
            return invalid(&format!("matchers[{i}]"), "is longer than 1,000 characters".into());
        }
        match Matcher::parse(m) {
            Ok(m) => matchers.push(m),
            Err(e) => return invalid(&format!("matchers[{i}]"), e),
        }
    }
    if matchers.is_empty() || matchers.len() > 50 {
        return invalid("matchers", "give 1 to 50 matchers".into());
    }
    let ends_at = match (&b.duration, &b.ends_at) {
        (Some(d), None) => match watchpost_core::config::parse_duration(d) {
            Ok(d) if !d.is_zero() => now.saturating_add(watchpost_core::time::duration_nanos(d)),
            Ok(_) => return invalid("for", "must be longer than zero".into()),
            Err(e) => return invalid("for", e),
        },
        (None, Some(t)) => match watchpost_core::time::parse_rfc3339(t) {
            Some(t) if t > now => t,
            Some(_) => return invalid("ends_at", "is not in the future".into()),
            None => return invalid("ends_at", "is not an RFC 3339 time".into()),
        },
        _ => return invalid("for", "give either `for` (a duration) or `ends_at`".into()),
    };
    if b.comment.trim().is_empty() || b.comment.len() > 1000 {
        return invalid("comment", "say why, in 1 to 1000 characters".into());
    }
    if b.by.trim().is_empty() || b.by.len() > 100 {
        return invalid("by", "give who silences (1 to 100 characters)".into());
    }
    let new = NewSilence { matchers, starts_at: now, ends_at, created_by: b.by.trim().into(), comment: b.comment.trim().into() };
    match p.state.create_silence(new, now).await {
        Ok(s) => reply(StatusCode::CREATED, silence_json(&s)),
        Err(e) => failed(e),
    }
}

/// `DELETE /api/v1/admin/silences/{id}`: ends it now.
pub async fn expire_silence(_: Admin, State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
    match p.state.expire_silence(&id, now_nanos()).await {
        Ok(s) => reply(StatusCode::OK, silence_json(&s)),
        Err(StateError::NotFound { .. }) => reply(StatusCode::NOT_FOUND, json!({"error": format!("no silence `{id}`")})),
        Err(StateError::Conflict(m)) => reply(StatusCode::CONFLICT, json!({"error": m})),
        Err(e) => failed(e),
    }
}

/// The alert routes of the admin API (nested under `/api/v1/admin` by `server`).
pub fn admin_router() -> axum::Router<Arc<StatusPage>> {
    axum::Router::new()
        .route("/alerts", axum::routing::get(list))
        .route("/alerts/ack", axum::routing::post(ack_admin))
        .route("/alerts/unack", axum::routing::post(unack_admin))
        .route("/silences", axum::routing::get(silences).post(add_silence))
        .route("/silences/{id}", axum::routing::delete(expire_silence))
}

/// `GET /api/v1/admin/alerts`: firing and pending alerts, then recently resolved ones.
pub async fn list(_: Admin, State(p): State<Arc<StatusPage>>) -> Response {
    match p.state.recent_alerts(200).await {
        Ok(rows) => reply(StatusCode::OK, json!({ "alerts": rows.iter().map(row_json).collect::<Vec<_>>() })),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    alert: String,
    by: String,
}

/// `POST /api/v1/admin/alerts/ack` with `{"alert": "rule/endpoint/environment", "by": "alice"}`.
pub async fn ack_admin(_: Admin, State(p): State<Arc<StatusPage>>, headers: HeaderMap, body: Bytes) -> Response {
    let b: AckBody = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if b.by.trim().is_empty() || b.by.len() > 100 {
        return reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "by: give who acknowledges (1 to 100 characters)", "errors": [{"field": "by", "message": "1 to 100 characters"}]}),
        );
    }
    match p.state.acknowledge_alert(&b.alert, b.by.trim(), now_nanos()).await {
        Ok(a) => reply(StatusCode::OK, row_json(&a)),
        Err(StateError::NotFound { .. }) => reply(StatusCode::NOT_FOUND, json!({"error": format!("no alert `{}`", b.alert)})),
        Err(StateError::Conflict(m)) => reply(StatusCode::CONFLICT, json!({"error": m})),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnackBody {
    alert: String,
}

/// `POST /api/v1/admin/alerts/unack` with `{"alert": KEY}`: the escalation goes on where it stopped.
pub async fn unack_admin(_: Admin, State(p): State<Arc<StatusPage>>, headers: HeaderMap, body: Bytes) -> Response {
    let b: UnackBody = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match p.state.unacknowledge_alert(&b.alert).await {
        Ok(a) => reply(StatusCode::OK, row_json(&a)),
        Err(StateError::NotFound { .. }) => reply(StatusCode::NOT_FOUND, json!({"error": format!("no alert `{}`", b.alert)})),
        Err(StateError::Conflict(m)) => reply(StatusCode::CONFLICT, json!({"error": m})),
        Err(e) => failed(e),
    }
}

#[derive(Deserialize)]
pub struct CalendarQuery {
    token: Option<String>,
    days: Option<u32>,
}

/// `GET /api/v1/admin/oncall/{schedule}/calendar.ics[?token=…][&days=…]`.
pub async fn calendar(
    State(p): State<Arc<StatusPage>>,
    Path(name): Path<String>,
    Query(q): Query<CalendarQuery>,
    headers: HeaderMap,
) -> Response {
    let bearer = watchpost_core::http::bearer_token(&headers);
    let presented = bearer.or(q.token.as_deref());
    if !matches!((&p.cfg.admin_token, presented), (Some(t), Some(x)) if t.matches(x.trim())) {
        tracing::warn!(schedule = %name, "calendar request rejected");
        let mut r = reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "missing or wrong token: send Authorization: Bearer <statuspage.admin_token> or ?token="}),
        );
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"watchpost-admin\""));
        return r;
    }
    let Some(s) = p.oncall.get(&name) else { return not_found("no such schedule") };
    let now = now_nanos();
    let days = i64::from(q.days.unwrap_or(90).clamp(1, 400));
    // From a week back, so that the current shift and the last handoff are in the calendar too.
    let from = now - 7 * 86_400_000_000_000;
    let text = watchpost_oncall::ical::calendar(&s.name, &watchpost_oncall::rota::shifts(s, from, now + days * 86_400_000_000_000), now);
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/calendar; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], text).into_response()
}
