//! Push endpoints (heartbeats): jobs that cannot be probed from outside report their own results to
//! `POST /api/v1/push/{id}` on the agent's listener; silence past `expect_every` + `grace` is a miss.
//!
//! The [`Registry`] is shared by the listener (which [`Registry::deliver`]s reports after checking the
//! endpoint's token) and the endpoint's [`PushProbe`], which the scheduler runs every `expect_every` like any
//! other probe: so the confirmation rule, the points and the status are the same as for HTTP endpoints.
//! Reports between two checks collapse to the latest (a `watch` channel): the newest word from the job wins.

use super::{Observation, Probe, ProbeFailure};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use watchpost_core::config::{PushProbeConfig, Secret};
use watchpost_core::model::ErrorClass;

/// The longest message kept from a report.
pub const MAX_MESSAGE: usize = 1024;

/// Compared with the token sent for an id no endpoint has (see [`Registry::authorize`]).
const UNKNOWN_ID_TOKEN: &str = "no push endpoint has this id";

/// One result a job reported.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub ok: bool,
    pub latency_ms: Option<f64>,
    pub message: String,
}

/// What became of a delivered report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Accepted,
    /// No push endpoint has this id.
    Unknown,
    /// The token is missing or wrong; nothing was recorded.
    Unauthorized,
}

struct Slot {
    token: Secret,
    tx: watch::Sender<Option<Report>>,
}

/// Every push endpoint of this agent, by id.
#[derive(Clone, Default)]
pub struct Registry {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

impl Registry {
    /// Registers endpoint `id` and returns the probe that reads its reports.
    pub fn register(&self, id: &str, cfg: &PushProbeConfig) -> PushProbe {
        let (tx, rx) = watch::channel(None);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.insert(id.to_string(), Slot { token: cfg.token.clone(), tx });
        PushProbe { rx: tokio::sync::Mutex::new(rx), grace: cfg.grace, expect_every: cfg.expect_every }
    }

    /// Whether `token` is the token of endpoint `id` (compared in constant time); records nothing.
    pub fn authorize(&self, id: &str, token: Option<&str>) -> Delivery {
        self.with_slot(id, token, |_| ())
    }

    /// Delivers a report for endpoint `id` if `token` is its token.
    pub fn deliver(&self, id: &str, token: Option<&str>, report: Report) -> Delivery {
        self.with_slot(id, token, |slot| {
            slot.tx.send_replace(Some(report));
        })
    }

    fn with_slot(&self, id: &str, token: Option<&str>, f: impl FnOnce(&Slot)) -> Delivery {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let Some(slot) = slots.get(id) else {
            // The same constant-time comparison as for a known id, so timing does not tell ids apart either.
            let _ = Secret::new(UNKNOWN_ID_TOKEN).matches(token.unwrap_or_default());
            return Delivery::Unknown;
        };
        match token {
            Some(t) if slot.token.matches(t) => {
                f(slot);
                Delivery::Accepted
            }
            _ => Delivery::Unauthorized,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

/// Parses a report from what `curl` sends: query parameters and/or a body that is JSON
/// (`{"ok": true, "latency_ms": 812, "message": "12 passed"}`) or a form (`ok=true&latency_ms=812`). An empty
/// report is a plain heartbeat: ok. `ok` accepts true/false, 1/0, yes/no, pass/fail.
pub fn parse_report(query: Option<&str>, content_type: Option<&str>, body: &[u8]) -> Result<Report, String> {
    let mut fields: Vec<(String, serde_json::Value)> = Vec::new();
    for (k, v) in query.map(form_pairs).unwrap_or_default() {
        fields.push((k, serde_json::Value::String(v)));
    }
    let body_text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?.trim();
    let json = content_type.is_some_and(|c| c.contains("json")) || body_text.starts_with('{');
    if json && !body_text.is_empty() {
        match serde_json::from_str::<serde_json::Value>(body_text) {
            Ok(serde_json::Value::Object(m)) => fields.extend(m),
            Ok(_) => return Err("the JSON body must be an object such as {\"ok\": true}".into()),
            Err(e) => return Err(format!("the body is not valid JSON: {e}")),
        }
    } else {
        for (k, v) in form_pairs(body_text) {
            fields.push((k, serde_json::Value::String(v)));
        }
    }
    let mut report = Report { ok: true, latency_ms: None, message: String::new() };
    for (k, v) in fields {
        match k.as_str() {
            "ok" | "status" => {
                report.ok = match &v {
                    serde_json::Value::Bool(b) => *b,
                    serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
                    serde_json::Value::String(s) => match s.to_ascii_lowercase().as_str() {
                        "true" | "1" | "yes" | "ok" | "pass" | "passed" | "up" => true,
                        "false" | "0" | "no" | "fail" | "failed" | "down" => false,
                        other => return Err(format!("{k}={other:?}: expected true or false")),
                    },
                    other => return Err(format!("{k}={other}: expected true or false")),
                }
            }
            "latency_ms" | "duration_ms" => {
                let ms = match &v {
                    serde_json::Value::Number(n) => n.as_f64(),
                    serde_json::Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }
                .filter(|ms: &f64| ms.is_finite() && *ms >= 0.0)
                .ok_or_else(|| format!("{k}={v}: expected a number of milliseconds"))?;
                report.latency_ms = Some(ms);
            }
            "message" | "msg" => {
                let text = watchpost_core::template::value_text(&v);
                report.message = text.chars().filter(|c| !c.is_control()).take(MAX_MESSAGE).collect();
            }
            other => return Err(format!("unknown field {other:?}; expected ok, latency_ms, message")),
        }
    }
    Ok(report)
}

/// `a=1&b=x%20y` → pairs, `+` as space, percent-decoded (invalid escapes kept as they are): push reports and
/// `/probe`'s query.
pub fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).map(|(k, v)| (decode(k), decode(v))).collect()
}

fn decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i += 2;
            }
            (c, _, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct PushProbe {
    rx: tokio::sync::Mutex<watch::Receiver<Option<Report>>>,
    grace: Duration,
    expect_every: Duration,
}

#[async_trait::async_trait]
impl Probe for PushProbe {
    /// The newest report since the previous check, waiting up to `grace` for one that is late.
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let mut rx = self.rx.lock().await;
        let fresh = rx.has_changed().unwrap_or(false) || matches!(tokio::time::timeout(self.grace, rx.changed()).await, Ok(Ok(())));
        let report = if fresh { rx.borrow_and_update().clone() } else { None };
        match report {
            None => Err(ProbeFailure::new(
                ErrorClass::Timeout,
                format!(
                    "no report within {} (expect_every) + {} (grace)",
                    watchpost_core::config::format_duration(self.expect_every),
                    watchpost_core::config::format_duration(self.grace)
                ),
            )),
            Some(r) if r.ok => {
                Ok(Observation { latency_ms: Some(r.latency_ms.unwrap_or(0.0)), body: r.message.into(), ..Default::default() })
            }
            Some(r) => Err(ProbeFailure {
                latency_ms: Some(r.latency_ms.unwrap_or(0.0)),
                ..ProbeFailure::new(ErrorClass::Assertion, format!("the job reported a failure: {}", r.message))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_from_curl_in_every_form() {
        assert_eq!(parse_report(None, None, b"").unwrap(), Report { ok: true, latency_ms: None, message: String::new() });
        let r = parse_report(None, Some("application/x-www-form-urlencoded"), b"ok=false&latency_ms=812&message=3+tests%20failed").unwrap();
        assert_eq!(r, Report { ok: false, latency_ms: Some(812.0), message: "3 tests failed".into() });
        let r = parse_report(None, Some("application/json"), br#"{"ok": true, "latency_ms": 12.5, "message": "fine"}"#).unwrap();
        assert_eq!(r, Report { ok: true, latency_ms: Some(12.5), message: "fine".into() });
        let r = parse_report(Some("ok=fail"), None, b"").unwrap();
        assert!(!r.ok);
        for bad in [&b"ok=maybe"[..], b"latency_ms=-1", b"latency_ms=abc", b"colour=red", b"{\"ok\": ", b"[1]", b"\xff\xfe"] {
            assert!(parse_report(None, None, bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Escapes cut short or inside multi-byte text never panic.
        assert_eq!(decode("%"), "%");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("é%zz%41"), "é%zzA");
    }

    fn cfg() -> PushProbeConfig {
        PushProbeConfig { token: Secret::new("0123456789abcdef"), expect_every: Duration::from_secs(60), grace: Duration::from_secs(5) }
    }

    #[tokio::test(start_paused = true)]
    async fn reports_decide_and_silence_is_a_miss_after_the_grace() {
        let reg = Registry::default();
        let probe = reg.register("nightly", &cfg());
        assert_eq!(reg.deliver("nightly", Some("wrong-token-----"), Report { ok: true, ..Default::default() }), Delivery::Unauthorized);
        assert_eq!(reg.deliver("nightly", None, Report::default()), Delivery::Unauthorized);
        assert_eq!(reg.deliver("other", Some("0123456789abcdef"), Report::default()), Delivery::Unknown);
        // Nothing (the rejected reports recorded nothing): a miss once the grace has passed.
        let t0 = tokio::time::Instant::now();
        let miss = probe.observe().await.unwrap_err();
        assert_eq!(miss.class, ErrorClass::Timeout);
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
        // Two reports before the check: the newest decides.
        reg.deliver("nightly", Some("0123456789abcdef"), Report { ok: false, latency_ms: Some(3.0), message: "old".into() });
        reg.deliver("nightly", Some("0123456789abcdef"), Report { ok: true, latency_ms: Some(1500.0), message: "12 passed".into() });
        let ok = probe.observe().await.unwrap();
        assert_eq!(ok.latency_ms, Some(1500.0));
        // A report consumed once does not count again.
        assert!(probe.observe().await.is_err());
        // A late report within the grace counts for its period.
        let late = {
            let reg = reg.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                reg.deliver("nightly", Some("0123456789abcdef"), Report { ok: false, latency_ms: None, message: "3 failed".into() })
            })
        };
        let failed = probe.observe().await.unwrap_err();
        assert_eq!(late.await.unwrap(), Delivery::Accepted);
        assert_eq!(failed.class, ErrorClass::Assertion);
        assert!(failed.detail.contains("3 failed"), "{}", failed.detail);
    }
}
