//! Two-way acknowledgement: what PagerDuty and OpsGenie tell Watchpost when someone acts in their apps.
//!
//! - `POST /api/v1/inbound/pagerduty`: a v3 webhook subscription's events, signed (`X-PagerDuty-Signature:
//!   v1=<hex HMAC-SHA256 of the body>`, several during a secret's rotation) with a pagerduty notifier's
//!   `webhook_secret`. The incident's `incident_key` is the `dedup_key` Watchpost sent: the alert's or
//!   group's key.
//! - `POST /api/v1/inbound/opsgenie`: an outgoing webhook integration's callbacks (`action`, `alert.alias`,
//!   `alert.username`), with an opsgenie notifier's `callback_token` as `Authorization: Bearer` (a custom
//!   header of the integration) or `?token=`.
//!
//! Acknowledge: recorded as any acknowledgement (the escalation stops). Unacknowledge: taken back (it goes
//! on). Resolve or close while the checks still fail: recorded and shown, not obeyed (the alert resolves
//! when the checks pass). Events about other incidents are answered 200 and ignored, so the provider does
//! not retry them.

#![allow(clippy::result_large_err)]

use crate::respond::reply;
use crate::StatusPage;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::Secret;
use watchpost_core::state::{StateDb, StateError};
use watchpost_core::time::now_nanos;

/// What a provider asks of one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    Acknowledge,
    Unacknowledge,
    Close,
}

/// One action from a provider: on which alert key, by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub ask: Ask,
    pub key: String,
    pub by: String,
}

/// Whether `header` (`v1=a,v1=b`) carries a v1 signature of `body` under one of `secrets`.
pub fn pagerduty_signed(secrets: &[Secret], header: &str, body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else { return false };
    header
        .split(',')
        .filter_map(|s| s.trim().strip_prefix("v1="))
        .any(|sig| secrets.iter().any(|secret| watchpost_core::sign::verify_hex(secret.expose(), text, sig)))
}

/// A PagerDuty v3 webhook body as an action, if it is one Watchpost acts on.
pub fn pagerduty_event(body: &Value) -> Option<Inbound> {
    let e = body.get("event")?;
    let ask = match e.get("event_type")?.as_str()? {
        "incident.acknowledged" => Ask::Acknowledge,
        "incident.unacknowledged" => Ask::Unacknowledge,
        "incident.resolved" => Ask::Close,
        _ => return None,
    };
    let key = e.get("data")?.get("incident_key")?.as_str()?.to_string();
    let who = e.get("agent").and_then(|a| a.get("summary")).and_then(Value::as_str).unwrap_or("someone");
    Some(Inbound { ask, key, by: format!("{} (PagerDuty)", who.chars().take(80).collect::<String>()) })
}

/// An OpsGenie outgoing-webhook callback as an action, if it is one Watchpost acts on.
pub fn opsgenie_event(body: &Value) -> Option<Inbound> {
    let ask = match body.get("action")?.as_str()? {
        "Acknowledge" => Ask::Acknowledge,
        "UnAcknowledge" => Ask::Unacknowledge,
        "Close" => Ask::Close,
        _ => return None,
    };
    let alert = body.get("alert")?;
    let key = alert.get("alias")?.as_str()?.to_string();
    let who = alert.get("username").and_then(Value::as_str).filter(|u| !u.is_empty()).unwrap_or("someone");
    Some(Inbound { ask, key, by: format!("{} (OpsGenie)", who.chars().take(80).collect::<String>()) })
}

/// Applies `i` to the state database; the answer says what was done.
pub async fn apply(state: &StateDb, i: &Inbound, provider: &str) -> Result<&'static str, StateError> {
    let now = now_nanos();
    let done = match i.ask {
        Ask::Acknowledge => match state.acknowledge_alert(&i.key, &i.by, now).await {
            Ok(_) => "acknowledged",
            Err(StateError::Conflict(_)) => "not firing",
            Err(e) => return Err(e),
        },
        Ask::Unacknowledge => match state.unacknowledge_alert(&i.key).await {
            Ok(_) => "acknowledgement taken back",
            Err(StateError::Conflict(_)) => "not acknowledged",
            Err(e) => return Err(e),
        },
        Ask::Close => {
            let note = format!("closed in {provider} by {} while the checks still fail", i.by);
            match state.record_provider_close(&i.key, &i.by, &note, now).await? {
                Some(_) => {
                    tracing::warn!(alert = %i.key, by = %i.by, provider, "incident closed at the provider while the alert still fires: recorded, the alert resolves when the checks pass");
                    "recorded: still firing"
                }
                None => "already resolved",
            }
        }
    };
    tracing::info!(alert = %i.key, by = %i.by, provider, outcome = done, "provider callback");
    Ok(done)
}

async fn answer(p: &StatusPage, i: Option<Inbound>, provider: &str) -> Response {
    let Some(i) = i else { return reply(StatusCode::OK, json!({"result": "ignored: not an event Watchpost acts on"})) };
    match apply(&p.state, &i, provider).await {
        Ok(done) => reply(StatusCode::OK, json!({"result": done, "alert": i.key})),
        // Another system's incident, or an alert long gone: nothing to do, and nothing to retry.
        Err(StateError::NotFound { .. }) => reply(StatusCode::OK, json!({"result": "ignored: no such alert", "alert": i.key})),
        Err(e) => {
            tracing::error!(error = %e, provider, "provider callback: state database failed");
            reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "the state database failed; retry"}))
        }
    }
}

fn refused(provider: &str, why: &str) -> Response {
    tracing::warn!(provider, why, "provider callback refused");
    reply(StatusCode::UNAUTHORIZED, json!({"error": why}))
}

/// `POST /api/v1/inbound/pagerduty`.
pub async fn pagerduty(State(p): State<Arc<StatusPage>>, headers: HeaderMap, body: Bytes) -> Response {
    if p.doors.pagerduty.is_empty() {
        return reply(StatusCode::NOT_FOUND, json!({"error": "no pagerduty notifier has a webhook_secret"}));
    }
    let signature = headers.get("x-pagerduty-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !pagerduty_signed(&p.doors.pagerduty, signature, &body) {
        return refused("pagerduty", "missing or wrong X-PagerDuty-Signature");
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => answer(&p, pagerduty_event(&v), "PagerDuty").await,
        Err(e) => reply(StatusCode::BAD_REQUEST, json!({"error": format!("not JSON: {e}")})),
    }
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `POST /api/v1/inbound/opsgenie[?token=…]`.
pub async fn opsgenie(State(p): State<Arc<StatusPage>>, Query(q): Query<TokenQuery>, headers: HeaderMap, body: Bytes) -> Response {
    if p.doors.opsgenie.is_empty() {
        return reply(StatusCode::NOT_FOUND, json!({"error": "no opsgenie notifier has a callback_token"}));
    }
    let presented = watchpost_core::http::bearer_token(&headers).or(q.token.as_deref()).unwrap_or("");
    if !p.doors.opsgenie.iter().any(|t| t.matches(presented.trim())) {
        return refused("opsgenie", "missing or wrong token: send Authorization: Bearer <callback_token> or ?token=");
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => answer(&p, opsgenie_event(&v), "OpsGenie").await,
        Err(e) => reply(StatusCode::BAD_REQUEST, json!({"error": format!("not JSON: {e}")})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagerduty_signatures_and_events() {
        let secrets = [Secret::new("old-secret"), Secret::new("new-secret")];
        let body = br#"{"event":{"event_type":"incident.acknowledged","agent":{"summary":"Alice"},"data":{"incident_key":"group:route/component=db"}}}"#;
        let sig = watchpost_core::sign::hmac_hex("new-secret", std::str::from_utf8(body).unwrap());
        assert!(pagerduty_signed(&secrets, &format!("v1=deadbeef, v1={sig}"), body), "any of several signatures");
        assert!(!pagerduty_signed(&secrets, &format!("v1={sig}"), b"{}"), "another body");
        assert!(!pagerduty_signed(&secrets, "", body));
        assert!(!pagerduty_signed(&[Secret::new("other")], &format!("v1={sig}"), body));
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            pagerduty_event(&v),
            Some(Inbound { ask: Ask::Acknowledge, key: "group:route/component=db".into(), by: "Alice (PagerDuty)".into() })
        );
        let other: Value = serde_json::from_str(r#"{"event":{"event_type":"incident.annotated","data":{"incident_key":"x"}}}"#).unwrap();
        assert_eq!(pagerduty_event(&other), None);
        assert_eq!(pagerduty_event(&json!({"event": {"event_type": "incident.resolved"}})), None, "no incident key");
    }

    #[test]
    fn opsgenie_callbacks() {
        let v =
            json!({"action": "Close", "alert": {"alias": "down/api/production", "username": "bob@example.com"}, "source": {"name": "web"}});
        assert_eq!(
            opsgenie_event(&v),
            Some(Inbound { ask: Ask::Close, key: "down/api/production".into(), by: "bob@example.com (OpsGenie)".into() })
        );
        assert_eq!(opsgenie_event(&json!({"action": "AddNote", "alert": {"alias": "x"}})), None);
        assert_eq!(opsgenie_event(&json!({"action": "Acknowledge"})), None);
    }
}
