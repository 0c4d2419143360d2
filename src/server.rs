//! The process's own HTTP endpoints: `/healthz` (liveness) and `/metrics` (Prometheus text format).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use watchpost_agent::metrics::AgentMetrics;

pub fn app(metrics: Arc<AgentMetrics>) -> Router {
    Router::new().route("/healthz", get(|| async { "ok\n" })).route("/metrics", get(render)).with_state(metrics)
}

async fn render(State(metrics): State<Arc<AgentMetrics>>) -> impl IntoResponse {
    let mut out = String::with_capacity(8192);
    metrics.render(&mut out);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}

pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<AgentMetrics>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app(metrics)).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "the health and metrics server stopped");
    }
}
