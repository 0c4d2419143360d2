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

/// Most alerts one request may carry.
const MAX_ALERTS: usize = 1000;

/// An alert raised elsewhere, as stored: its key, labels and summary, and whether it fires.
#[derive(Debug, Clone, PartialEq)]
pub struct External {
    pub key: String,
    pub labels: watchpost_core::labels::Labels,
    pub summary: String,
    pub firing: bool,
}

/// Label names Prometheus accepts, values cut to 256 characters, at most 64 labels; `source` set.
fn clean_labels(raw: &serde_json::Map<String, Value>, source: &str) -> watchpost_core::labels::Labels {
    let mut out = watchpost_core::labels::Labels::new();
    for (k, v) in raw.iter().take(64) {
        if let Some(v) = v.as_str().filter(|_| watchpost_core::labels::valid_name(k)) {
            out.insert(k.clone(), v.chars().take(256).collect());
        }
    }
    out.insert("source".into(), source.into());
    out
}

fn external_key(source: &str, id: &str) -> String {
    let id: String = id.chars().filter(|c| !c.is_control()).take(200).collect();
    format!("ext:{source}/{id}")
}

/// An Alertmanager webhook notification (version 4): each alert by its fingerprint (or, without one, a
/// hash of its labels), `rule` set to its `alertname` unless it has one.
pub fn alertmanager_alerts(body: &Value) -> Result<Vec<External>, String> {
    let alerts = body.get("alerts").and_then(Value::as_array).ok_or("expected an Alertmanager webhook body with `alerts`")?;
    if alerts.len() > MAX_ALERTS {
        return Err(format!("{} alerts in one request; at most {MAX_ALERTS}", alerts.len()));
    }
    let mut out = Vec::new();
    for (i, a) in alerts.iter().enumerate() {
        let labels = a.get("labels").and_then(Value::as_object).ok_or(format!("alerts[{i}]: no `labels`"))?;
        let firing = match a.get("status").and_then(Value::as_str) {
            Some("firing") => true,
            Some("resolved") => false,
            _ => return Err(format!("alerts[{i}].status: expected \"firing\" or \"resolved\"")),
        };
        let mut labels = clean_labels(labels, "alertmanager");
        let name = labels.get("alertname").cloned().unwrap_or_else(|| "alert".into());
        labels.entry("rule".into()).or_insert_with(|| name.clone());
        let fingerprint = match a.get("fingerprint").and_then(Value::as_str).filter(|f| !f.is_empty()) {
            Some(f) => f.to_string(),
            None => watchpost_core::sign::sha256_hex(&watchpost_core::labels::describe(&labels))[..16].to_string(),
        };
        let annotation = |k: &str| a.get("annotations").and_then(|x| x.get(k)).and_then(Value::as_str).filter(|s| !s.is_empty());
        let text = annotation("summary").or_else(|| annotation("description")).unwrap_or("");
        let summary = if text.is_empty() { format!("{name} (Alertmanager)") } else { format!("{name}: {text}") };
        out.push(External {
            key: external_key("alertmanager", &fingerprint),
            labels,
            summary: summary.chars().take(1000).collect(),
            firing,
        });
    }
    Ok(out)
}

/// Generic JSON events: one object or a list of them, each `{"key", "status": "firing"|"resolved",
/// "summary", "severity", "source", "labels"}` (`key` and `status` required).
pub fn json_events(body: &Value) -> Result<Vec<External>, String> {
    let list: Vec<&Value> = match body {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => return Err("expected an event object or a list of them".into()),
    };
    if list.len() > MAX_ALERTS {
        return Err(format!("{} events in one request; at most {MAX_ALERTS}", list.len()));
    }
    let mut out = Vec::new();
    for (i, e) in list.into_iter().enumerate() {
        let key = e.get("key").and_then(Value::as_str).filter(|k| !k.trim().is_empty()).ok_or(format!("[{i}].key: missing"))?;
        let firing = match e.get("status").and_then(Value::as_str) {
            Some("firing") => true,
            Some("resolved") => false,
            _ => return Err(format!("[{i}].status: expected \"firing\" or \"resolved\"")),
        };
        let source = e.get("source").and_then(Value::as_str).unwrap_or("events");
        if !source.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || source.is_empty() || source.len() > 64 {
            return Err(format!("[{i}].source: letters, digits, -, _ and . (at most 64)"));
        }
        let empty = serde_json::Map::new();
        let mut labels = clean_labels(e.get("labels").and_then(Value::as_object).unwrap_or(&empty), source);
        labels.entry("rule".into()).or_insert_with(|| key.chars().take(128).collect());
        match e.get("severity").and_then(Value::as_str) {
            Some(s @ ("critical" | "error" | "warning" | "info")) => {
                labels.insert("severity".into(), s.into());
            }
            Some(other) => return Err(format!("[{i}].severity: `{other}` is not critical, error, warning or info")),
            None => {
                labels.entry("severity".into()).or_insert_with(|| "critical".into());
            }
        }
        let summary = e.get("summary").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or(key);
        out.push(External { key: external_key(source, key), labels, summary: summary.chars().take(1000).collect(), firing });
    }
    Ok(out)
}

async fn record(p: &StatusPage, alerts: Result<Vec<External>, String>) -> Response {
    let alerts = match alerts {
        Ok(a) => a,
        Err(e) => return reply(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": e})),
    };
    let now = now_nanos();
    let mut changed = 0;
    for a in &alerts {
        let source = a.labels.get("source").map_or("events", String::as_str);
        match p.state.external_alert(&a.key, source, a.labels.clone(), &a.summary, a.firing, now).await {
            Ok(Some(_)) => changed += 1,
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "external alert: state database failed");
                return reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "the state database failed; retry"}));
            }
        }
    }
    reply(StatusCode::OK, json!({"accepted": alerts.len(), "changed": changed}))
}

/// `POST /api/v1/alerts/alertmanager` (admin token): Alertmanager's webhook receiver.
pub async fn alertmanager(_: crate::admin::Admin, State(p): State<Arc<StatusPage>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => record(&p, alertmanager_alerts(&v)).await,
        Err(e) => reply(StatusCode::BAD_REQUEST, json!({"error": format!("not JSON: {e}")})),
    }
}

/// `POST /api/v1/alerts/events` (admin token): generic JSON events.
pub async fn events(_: crate::admin::Admin, State(p): State<Arc<StatusPage>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => record(&p, json_events(&v)).await,
        Err(e) => reply(StatusCode::BAD_REQUEST, json!({"error": format!("not JSON: {e}")})),
    }
}

#[cfg(test)]
mod external_tests {
    use super::*;

    #[test]
    fn alertmanager_notifications_and_json_events_become_alerts() {
        let body = json!({
            "version": "4", "status": "firing", "receiver": "watchpost",
            "alerts": [
                {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db1", "bad-name": "x"},
                 "annotations": {"summary": "disk 95 % full"}, "fingerprint": "a1b2c3"},
                {"status": "resolved", "labels": {"alertname": "HighLoad"}, "annotations": {}}
            ]
        });
        let a = alertmanager_alerts(&body).unwrap();
        assert_eq!(a[0].key, "ext:alertmanager/a1b2c3");
        assert_eq!(a[0].summary, "DiskFull: disk 95 % full");
        assert_eq!(a[0].labels.get("rule").map(String::as_str), Some("DiskFull"));
        assert_eq!(a[0].labels.get("source").map(String::as_str), Some("alertmanager"));
        assert!(!a[0].labels.contains_key("bad-name"), "not a label name: dropped");
        assert!(a[0].firing && !a[1].firing);
        assert!(a[1].key.starts_with("ext:alertmanager/") && a[1].key.len() == "ext:alertmanager/".len() + 16, "a stable hash");
        assert!(alertmanager_alerts(&json!({"alerts": [{"status": "maybe", "labels": {}}]})).unwrap_err().contains("alerts[0].status"));
        assert!(alertmanager_alerts(&json!({})).is_err());

        let e = json_events(&json!({"key": "backup/db1", "status": "firing", "summary": "nightly backup failed", "severity": "error", "source": "cron", "labels": {"team": "data"}})).unwrap();
        assert_eq!(e[0].key, "ext:cron/backup/db1");
        assert_eq!(e[0].labels.get("severity").map(String::as_str), Some("error"));
        assert_eq!(e[0].labels.get("team").map(String::as_str), Some("data"));
        assert!(json_events(&json!({"key": "x", "status": "firing", "severity": "urgent"})).unwrap_err().contains("severity"));
        assert!(json_events(&json!([{"status": "firing"}])).unwrap_err().contains("[0].key"));
        assert!(json_events(&json!({"key": "x", "status": "firing", "source": "a b"})).is_err());
    }
}
