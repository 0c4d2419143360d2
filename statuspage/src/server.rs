//! The routes. Public ones serve what the last refresh rendered; the admin API is nested under
//! `/api/v1/admin` (see [`crate::admin`]). Every response carries the security headers of DESIGN.md §7.

use crate::render::{badge, json as json_render};
use crate::respond::not_found;
use crate::StatusPage;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use std::sync::Arc;

/// No script at all, styles and images only from the page itself: injected markup can neither run nor
/// load anything, and the page cannot be framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn app(page: Arc<StatusPage>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/healthz", get(healthz))
        .route("/assets/style.css", get(style))
        .route("/assets/logo", get(logo))
        .route("/feed.atom", get(atom))
        .route("/feed.rss", get(rss))
        .route("/incidents/{id}", get(incident_link))
        .route("/api/v2/{*doc}", get(doc))
        .route("/api/v1/components/{id}/uptime", get(uptime))
        .route("/api/v1/components/{id}/response-times", get(response_times))
        .route("/badge/{id}/{kind}", get(badge_svg))
        .route("/subscribe", axum::routing::post(crate::subscribe::subscribe))
        .route("/subscribe/confirm", get(crate::subscribe::confirm))
        .route("/unsubscribe", get(crate::subscribe::unsubscribe_form).post(crate::subscribe::unsubscribe))
        .route("/ack", get(crate::alerts::ack_form).post(crate::alerts::ack))
        .route("/api/v1/inbound/pagerduty", axum::routing::post(crate::inbound::pagerduty))
        .route("/api/v1/inbound/opsgenie", axum::routing::post(crate::inbound::opsgenie))
        .route("/api/v1/alerts/alertmanager", axum::routing::post(crate::inbound::alertmanager))
        .route("/api/v1/alerts/events", axum::routing::post(crate::inbound::events))
        .route("/api/v1/admin/oncall/{schedule}/calendar.ics", get(crate::alerts::calendar))
        // The admin API: incidents, maintenance and subscribers are `admin`'s; alerts are `alerts`' (both
        // behind the admin token), assembled here so neither module imports the other's routes.
        .nest(
            "/api/v1/admin",
            crate::admin::router().merge(crate::alerts::admin_router()).layer(DefaultBodyLimit::max(crate::admin::BODY_LIMIT)),
        )
        .fallback(|| async { not_found("no such page") })
        .layer(axum::middleware::map_response(security_headers))
        .with_state(page)
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn body(content_type: &'static str, cache: &'static str, bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)], bytes).into_response()
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|e| {
        let mut parts = e.split(';');
        parts.next().is_some_and(|name| name.trim().eq_ignore_ascii_case("gzip")) && !parts.any(|q| q.trim().replace(' ', "") == "q=0")
    })
}

/// A rendered document, gzip-encoded when the client accepts it.
fn rendered(headers: &HeaderMap, content_type: &'static str, b: &crate::Body) -> Response {
    let gzip = !b.gzip.is_empty() && accepts_gzip(headers);
    let mut r = body(content_type, "no-cache", if gzip { b.gzip.clone() } else { b.plain.clone() });
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

/// Public JSON: any origin may read it (widgets on other sites do), nothing may be cached for long.
fn public_json(bytes: Bytes) -> Response {
    let mut r = body("application/json", "no-cache", bytes);
    r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    r
}

async fn index(State(p): State<Arc<StatusPage>>, headers: HeaderMap) -> Response {
    rendered(&headers, "text/html; charset=utf-8", &p.published().page)
}

async fn style() -> Response {
    body("text/css; charset=utf-8", "public, max-age=3600", Bytes::from_static(crate::render::html::STYLE.as_bytes()))
}

async fn logo(State(p): State<Arc<StatusPage>>) -> Response {
    match p.logo() {
        Some((bytes, kind)) => body(kind, "public, max-age=3600", bytes.clone()),
        None => not_found("no logo configured"),
    }
}

async fn atom(State(p): State<Arc<StatusPage>>, headers: HeaderMap) -> Response {
    rendered(&headers, "application/atom+xml; charset=utf-8", &p.published().atom)
}

async fn rss(State(p): State<Arc<StatusPage>>, headers: HeaderMap) -> Response {
    rendered(&headers, "application/rss+xml; charset=utf-8", &p.published().rss)
}

async fn incident_link(State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
    let published = p.published();
    if published.snapshot.incidents.iter().any(|x| x.id == id) {
        // Ids are [0-9a-z]{12}; anything else was not found above, so the header value is safe.
        (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/#incident-{id}"))]).into_response()
    } else {
        not_found("no such incident")
    }
}

async fn doc(State(p): State<Arc<StatusPage>>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    match p.published().docs.get(path.as_str()) {
        Some(b) => {
            let mut r = rendered(&headers, "application/json", b);
            r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            r
        }
        None => not_found("no such document; see /api/v2/summary.json"),
    }
}

async fn uptime(State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
    let published = p.published();
    match published.snapshot.component(&id) {
        Some(c) => public_json(Bytes::from(json_render::uptime(&p.cfg, &published.snapshot, c).to_string())),
        None => not_found("no such component"),
    }
}

async fn response_times(State(p): State<Arc<StatusPage>>, Path(id): Path<String>) -> Response {
    let published = p.published();
    match published.snapshot.component(&id) {
        Some(c) => public_json(Bytes::from(json_render::response_times(&p.cfg, c).to_string())),
        None => not_found("no such component"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_chosen_only_when_accepted() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts_gzip(&h("gzip, deflate, br")));
        assert!(accepts_gzip(&h("br;q=1.0, GZIP;q=0.5")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("br, identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}

#[derive(serde::Deserialize)]
struct BadgeQuery {
    /// The label on the left (default: the component's name).
    label: Option<String>,
    /// Days of uptime (default: the page's history).
    days: Option<u32>,
}

/// `/badge/{id}/status.svg`, `/badge/{id}/uptime.svg?days=30`, `/badge/{id}/response-time.svg`. A private
/// or unknown component answers 404, the same for both, so a badge URL reveals nothing.
async fn badge_svg(State(p): State<Arc<StatusPage>>, Path((id, kind)): Path<(String, String)>, Query(q): Query<BadgeQuery>) -> Response {
    let published = p.published();
    let s = &published.snapshot;
    let Some(c) = s.component(&id) else { return not_found("no such component") };
    let Some(svg) =
        badge::for_component(&kind, c, p.cfg.partial_outage_weight, p.objective_ms, q.label.as_deref(), q.days.map(|d| d as usize))
    else {
        return not_found("badges: status.svg, uptime.svg, response-time.svg");
    };
    let mut r = body("image/svg+xml; charset=utf-8", "no-cache", Bytes::from(svg));
    r.headers_mut().insert(HeaderName::from_static("access-control-allow-origin"), HeaderValue::from_static("*"));
    r
}

/// 200 `ok`, or 503 while the page says its data is unavailable (the store cannot be read).
async fn healthz(State(p): State<Arc<StatusPage>>) -> Response {
    if p.data_unavailable() {
        (StatusCode::SERVICE_UNAVAILABLE, "status data unavailable: the store cannot be read\n").into_response()
    } else {
        "ok\n".into_response()
    }
}
