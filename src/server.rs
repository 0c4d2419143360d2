//! The process's own HTTP endpoints: `/healthz` (503 while the agent's store takes no writes), `/metrics`
//! (Prometheus text format; the endpoints' families streamed, left out with `?per_endpoint=false`),
//! `GET /probe?target=…&module=…` (blackbox_exporter's, when `[modules]` are configured), and
//! `POST /api/v1/push/{id}` where push endpoints receive their reports.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
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
    pub rejected: RejectLog,
    pub store: Option<Arc<dyn watchpost_core::store::Store>>,
    /// `[modules]` for `/probe`, in a process that runs the agent.
    pub prober: Option<Arc<watchpost_agent::blackbox::Prober>>,
    pub scrapes: Scrapes,
}

/// How many scrapes with the endpoints' families may be under way at once. Each holds a copy of every
/// endpoint's last probe (about 8 MB at 50,000 endpoints) until its client has read it: without a bound,
/// clients that open scrapes and never read them would hold as many copies as they open. Four leave room
/// for two Prometheus replicas and a person with curl.
#[derive(Clone)]
pub struct Scrapes(Arc<tokio::sync::Semaphore>);

const SCRAPES_AT_ONCE: usize = 4;

impl Default for Scrapes {
    fn default() -> Self {
        Scrapes(Arc::new(tokio::sync::Semaphore::new(SCRAPES_AT_ONCE)))
    }
}

/// Rejected push reports, logged at most once a minute per endpoint with how many there were: a misconfigured
/// job retrying in a loop, or someone guessing tokens, must not flood the log. Unknown ids share one key (a
/// stranger choosing ids must not grow the map).
pub type RejectLog = Arc<watchpost_core::throttle::Throttle>;

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render))
        .route("/probe", get(probe))
        .route("/api/v1/push/{id}", post(push).layer(DefaultBodyLimit::max(PUSH_BODY_LIMIT)))
        .with_state(state)
}

/// 200 `ok`, or 503 while the agent's writes fail (points go to the spool): a process that cannot store what
/// it measures is not healthy, however alive it is, and an orchestrator or a load balancer should know.
async fn healthz(State(s): State<AppState>) -> Response {
    match &s.agent {
        Some(m) if m.store_up.get() == 0 => {
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable: writes fail, points go to the spool\n").into_response()
        }
        _ => "ok\n".into_response(),
    }
}

/// A part of the streamed per-endpoint families: large enough that a scrape is a few hundred writes, small
/// enough that the process never holds more than this of it.
const SCRAPE_PART_BYTES: usize = 128 * 1024;

/// `GET /metrics`: the process's own series, then each endpoint's last probe streamed part by part (at
/// 50,000 endpoints those are 500,000 lines, 57 MB: built whole, they cost a probing agent seconds of
/// lateness and kept 100 MiB of heap). `?per_endpoint=false` leaves the endpoints' families out, for a
/// Prometheus job that only wants the process's health.
async fn render(State(s): State<AppState>, RawQuery(query): RawQuery) -> Response {
    use watchpost_core::metrics as m;
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
    watchpost_core::store::reads::render(&mut out, s.agent.as_ref().map(|m| m.points_written.get()));
    m::header(&mut out, "watchpost_build_info", "gauge", "Always 1, labelled with the running version.");
    m::sample(&mut out, "watchpost_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    m::process(&mut out);
    if let Some(store) = &s.store {
        out.push_str("# HELP watchpost_store_incomplete_rows_total Rows read back from the store with a field missing (a write still being applied), skipped and read again later.\n");
        out.push_str("# TYPE watchpost_store_incomplete_rows_total counter\n");
        out.push_str(&format!("watchpost_store_incomplete_rows_total {}\n", store.incomplete_rows()));
    }
    let params = watchpost_agent::probe::push::form_pairs(query.as_deref().unwrap_or_default());
    let per_endpoint = !params.iter().any(|(k, v)| k == "per_endpoint" && matches!(v.as_str(), "false" | "0"));
    let mut scrape = match s.agent.as_ref().filter(|_| per_endpoint) {
        None => None,
        Some(m) => match s.scrapes.0.clone().try_acquire_owned() {
            // The permit goes with the body: it is returned when the body is sent or its client goes away.
            Ok(permit) => Some((m.last_probes.scrape(), permit)),
            Err(_) => {
                let busy = format!(
                    "{SCRAPES_AT_ONCE} scrapes of /metrics with the endpoints' families are under way; try again, or ask for ?per_endpoint=false\n"
                );
                return (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::RETRY_AFTER, "1")], busy).into_response();
            }
        },
    };
    let parts = std::iter::once(out).chain(std::iter::from_fn(move || {
        let (scrape, _permit) = scrape.as_mut()?;
        let mut part = String::with_capacity(SCRAPE_PART_BYTES + 1024);
        scrape.next_part(&mut part, SCRAPE_PART_BYTES).then_some(part)
    }));
    let body = axum::body::Body::from_stream(futures_util::stream::iter(parts.map(Ok::<_, std::convert::Infallible>)));
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// blackbox_exporter's `/probe`: 400 with its wording for a missing target or an unknown module, 404 when the
/// process has no modules (it is not a prober).
async fn probe(State(s): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Some(prober) = s.prober.as_ref() else {
        return (StatusCode::NOT_FOUND, "no [modules] are configured: /probe needs at least one [modules.NAME]\n").into_response();
    };
    let params = watchpost_agent::probe::push::form_pairs(query.as_deref().unwrap_or_default());
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let scrape = headers.get("x-prometheus-scrape-timeout-seconds").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<f64>().ok());
    match prober.probe(param("module"), param("target"), scrape).await {
        Ok(text) => ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(CONTENT_TYPE, "application/json")], format!("{body}\n")).into_response()
}

/// `curl -fsS -X POST -H "Authorization: Bearer $TOKEN" -d ok=true http://agent:9090/api/v1/push/nightly`
async fn push(State(s): State<AppState>, Path(id): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let token = watchpost_core::http::bearer_token(&headers);
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    // Authenticate before reading the report, so a stranger learns nothing from our parse errors; an unknown
    // id is answered exactly as a wrong token, so ids cannot be enumerated.
    let report = match s.pushes.authorize(&id, token) {
        rejected @ (Delivery::Unknown | Delivery::Unauthorized) => {
            let known = rejected == Delivery::Unauthorized;
            if let Some(n) = s.rejected.note(if known { &id } else { "" }) {
                let endpoint = if known { id.as_str() } else { "(unknown id)" };
                tracing::warn!(
                    endpoint,
                    rejected = n,
                    "push reports with a missing or wrong token rejected (logged at most once a minute)"
                );
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    fn state() -> AppState {
        let agent = Arc::new(AgentMetrics::default());
        let series = watchpost_core::model::SeriesKey {
            endpoint: "api".into(),
            region: "eu".into(),
            component: String::new(),
            environment: "production".into(),
        };
        let attempt = watchpost_agent::probe::Attempt { ok: true, ..watchpost_agent::probe::Attempt::at(0) };
        agent.last_probes.register(&series, "http").record(&attempt, false);
        AppState { agent: Some(agent), ..Default::default() }
    }

    async fn get(s: &AppState, query: Option<&str>) -> Response {
        render(State(s.clone()), RawQuery(query.map(str::to_string))).await
    }

    async fn text(r: Response) -> String {
        String::from_utf8(to_bytes(r.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn scrapes_with_the_endpoints_families_are_bounded_and_the_rest_always_answers() {
        let s = state();
        // Scrapes whose clients never read: each holds its copy, and its permit, until its body goes.
        let mut held = Vec::new();
        for _ in 0..SCRAPES_AT_ONCE {
            let r = get(&s, None).await;
            assert_eq!(r.status(), StatusCode::OK);
            held.push(r);
        }
        let busy = get(&s, None).await;
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers().get(axum::http::header::RETRY_AFTER).unwrap(), "1");
        assert!(text(busy).await.contains("?per_endpoint=false"));
        // The process's own series need no copy and are never refused.
        let own = text(get(&s, Some("per_endpoint=false")).await).await;
        assert!(own.contains("watchpost_probes_total") && !own.contains("probe_success"), "{own}");

        // One client goes away: its permit comes back.
        drop(held.pop());
        let full = text(get(&s, None).await).await;
        assert!(full.contains("watchpost_probes_total 0\n"), "{full}");
        assert!(full.contains("probe_success{endpoint=\"api\",region=\"eu\",component=\"\",environment=\"production\"} 1\n"), "{full}");
        // A body read to its end returns its permit as well: one at a time, any number of scrapes answer.
        for _ in 0..3 {
            let r = get(&s, None).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert!(text(r).await.contains("probe_success{"));
        }
        held.push(get(&s, None).await);
        assert_eq!(get(&s, None).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
