//! The process's own HTTP endpoints: `/healthz` (liveness), `/metrics` (Prometheus text format), and
//! `POST /api/v1/push/{id}` where push endpoints receive their reports.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use watchpost_agent::metrics::AgentMetrics;
use watchpost_agent::probe::push::{parse_report, Delivery, Registry};
use watchpost_aggregator::metrics::AggregatorMetrics;

/// A push report is a few fields; anything larger is not one.
const PUSH_BODY_LIMIT: usize = 16 * 1024;

/// What the server shows: the metrics of the parts this process runs, and the push registry of its agent.
#[derive(Clone, Default)]
pub struct AppState {
    pub agent: Option<Arc<AgentMetrics>>,
    pub aggregator: Option<Arc<AggregatorMetrics>>,
    pub alerting: Option<Arc<watchpost_alerting::metrics::AlertingMetrics>>,
    pub pushes: Registry,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(render))
        .route("/api/v1/push/{id}", post(push).layer(DefaultBodyLimit::max(PUSH_BODY_LIMIT)))
        .with_state(state)
}

async fn render(State(s): State<AppState>) -> impl IntoResponse {
    let mut out = String::with_capacity(8192);
    if let Some(m) = &s.agent {
        m.render(&mut out);
    }
    if let Some(m) = &s.aggregator {
        m.render(&mut out);
    }
    if let Some(m) = &s.alerting {
        m.render(&mut out);
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(CONTENT_TYPE, "application/json")], format!("{body}\n")).into_response()
}

/// `curl -fsS -X POST -H "Authorization: Bearer $TOKEN" -d ok=true http://agent:9090/api/v1/push/nightly`
async fn push(State(s): State<AppState>, Path(id): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    // Authenticate before reading the report, so a stranger learns nothing from our parse errors.
    let report = match s.pushes.authorize(&id, token) {
        Delivery::Unknown => return json(StatusCode::NOT_FOUND, serde_json::json!({"error": format!("no push endpoint `{id}`")})),
        Delivery::Unauthorized => {
            tracing::warn!(endpoint = %id, "push report with a missing or wrong token rejected");
            let mut r =
                json(StatusCode::UNAUTHORIZED, serde_json::json!({"error": "missing or wrong token: send Authorization: Bearer <token>"}));
            r.headers_mut().insert(WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
            return r;
        }
        Delivery::Accepted => parse_report(query.as_deref(), content_type, &body),
    };
    match report {
        Ok(r) => {
            tracing::debug!(endpoint = %id, ok = r.ok, latency_ms = ?r.latency_ms, "push report");
            let ok = r.ok;
            s.pushes.deliver(&id, token, r);
            json(StatusCode::ACCEPTED, serde_json::json!({"accepted": true, "ok": ok}))
        }
        Err(e) => json(StatusCode::BAD_REQUEST, serde_json::json!({"error": e})),
    }
}

pub async fn serve(listener: tokio::net::TcpListener, app: Router, mut stop: tokio::sync::watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "the HTTP server stopped");
    }
}
