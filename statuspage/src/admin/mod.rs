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

mod incidents;
mod maintenance;
mod subscribers;

pub use incidents::incident_json;
use incidents::*;
pub use maintenance::maintenance_json;
use maintenance::*;
use subscribers::*;

use crate::respond::{json_body as parse, reply};
use crate::StatusPage;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
        .route("/metrics", get(metrics))
}

/// The status page's own metrics, in Prometheus text format, behind the admin token: run alone
/// (`watchpost statuspage`) it has no process server, and its reads of the store (issue 19) should be
/// scraped like every other part's. Prometheus sends the token with `authorization: { credentials: ... }`.
async fn metrics(_: Admin) -> Response {
    let mut out = String::with_capacity(1024);
    watchpost_core::store::reads::render(&mut out, None);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
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

/// Rebuilds the page before answering, so the caller's next read sees the change.
pub(super) async fn changed(p: &StatusPage) {
    if let Err(e) = p.refresh().await {
        tracing::warn!(error = %e, "page refresh after an admin change failed; the background refresh will retry");
        p.poke();
    }
}
