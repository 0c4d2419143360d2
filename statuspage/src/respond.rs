//! The responses every handler shares: JSON replies and errors, the plain HTML page of a form's answer,
//! and a JSON request body read with its errors said. A leaf: handlers import it, it imports none of them
//! (before, `server`, `admin`, `alerts` and `subscribe` imported each other's helpers in a cycle).

// A handler's early return is a whole `Response`: boxing it would only add an allocation per rejected request.
#![allow(clippy::result_large_err)]

use crate::config::StatusPageConfig;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use watchpost_core::markup::escape;

/// A JSON answer, never cached.
pub fn reply(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], format!("{body}\n")).into_response()
}

pub fn not_found(message: &str) -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "application/json")], format!("{}\n", serde_json::json!({"error": message})))
        .into_response()
}

pub fn page(cfg: &StatusPageConfig, status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\"><title>{t} · {site}</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\
         <body><main><h1>{t}</h1>{body_html}<p><a href=\"/\">Back to {site}</a></p></main></body></html>\n",
        t = escape(title),
        site = escape(&cfg.title),
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html).into_response()
}

pub fn json_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, Response> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json_type {
        return Err(reply(StatusCode::UNSUPPORTED_MEDIA_TYPE, json!({"error": "send Content-Type: application/json"})));
    }
    // serde_json's message names the unknown key or wrong type, with line and column.
    serde_json::from_slice(body).map_err(|e| reply(StatusCode::BAD_REQUEST, json!({"error": format!("invalid JSON: {e}")})))
}
