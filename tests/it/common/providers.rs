//! A stand-in for the paging providers, on one loopback port, that validates every request the way the
//! provider would and answers like it:
//!
//! - PagerDuty Events API v2, `POST /v2/enqueue`: the body against the request schema in
//!   `pagerduty-events-v2.openapi.json`, plus the limits DESIGN.md §5.8 lists (`dedup_key` ≤ 255, `summary`
//!   ≤ 1024); answers 202 `{"status":"success",…}`. It keeps PagerDuty's incident semantics: a trigger opens
//!   an incident unless one is open for its `dedup_key` (then it is the same incident), resolve closes it.
//! - OpsGenie Alert API, `POST /v2/alerts` and `/v2/alerts/{alias}/{close,acknowledge,responders}`: bodies
//!   against `opsgenie.swagger.json`'s payload definitions, `Authorization: GenieKey …`, the documented
//!   limits (`message` ≤ 130, `alias` ≤ 512, `description` ≤ 15000, ≤ 20 tags of ≤ 50); answers 202 with a
//!   `requestId`. Open alerts are deduplicated by alias, as OpsGenie does.
//! - Slack incoming webhooks, `POST /slack/…`: `text` and well-formed `blocks`; answers 200 `ok`.
//! - Discord (`POST /api/webhooks/…`, answers 204), Telegram's `sendMessage` (`POST /bot<token>/sendMessage`,
//!   answers `{"ok":true,…}`), Google Chat (`POST /v1/spaces/…/messages`) and ntfy (`POST /`): bodies against
//!   the JSON Schemas in `alerting/schemas/` (written from each provider's documentation, see its
//!   SOURCES.md); likewise Mattermost (`/hooks/…`), Teams Workflows (`/workflows/…`, 202), Gotify
//!   (`/message`, `X-Gotify-Key`), Pushover (`/1/messages.json`), Matrix (`PUT /_matrix/client/v3/rooms/…`,
//!   a bearer token) and Alertmanager (`/api/v2/alerts`).
//! - Generic webhooks, `POST /hook`: recorded with their headers.
//!
//! It can be told to fail: 500, 429 with `Retry-After`, or to hang (before or after taking the request in).

use super::api::{read, respond, serve_each};
use super::jsonschema::Schemas;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// 500 for every request (nothing is processed).
    Fail500,
    /// 429 with `Retry-After: n` seconds (nothing is processed).
    TooMany(u64),
    /// Reads the request, then never answers and processes nothing (the sender died before it was sent).
    HangBefore,
    /// Processes the request, then never answers (the sender dies before it records the answer).
    HangAfter,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    /// The body exactly as sent (signatures are over these bytes).
    pub raw: String,
    /// The status answered (0: none).
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    mode: Option<Mode>,
    received: Vec<Received>,
    violations: Vec<String>,
    /// PagerDuty: open incident per dedup key, and every incident ever opened (dedup key, number).
    pd_open: HashMap<String, u32>,
    pd_incidents: Vec<String>,
    /// OpsGenie: open alerts by alias, and every alert ever created.
    og_open: HashMap<String, u32>,
    og_alerts: Vec<String>,
}

pub struct Providers {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
}

impl Providers {
    pub fn start() -> Providers {
        let inner: Arc<Mutex<Inner>> = Default::default();
        let schemas = (Schemas::load_strict("pagerduty-events-v2.openapi.json"), Schemas::load_strict("opsgenie.swagger.json"));
        let shared = inner.clone();
        let port = serve_each(move |conn| serve(conn, &shared, &schemas));
        Providers { port, inner }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, m: Mode) {
        self.inner.lock().unwrap().mode = Some(m);
    }

    /// A PagerDuty notifier `pd` pointing here, the policy `default` paging whoever is on call in `primary`
    /// (alice, then bob): what a test adds its `[alerting]` settings and rules to.
    pub fn pagerduty_paging(&self) -> String {
        format!(
            "\n[alerting.notifiers.pd]\ntype = \"pagerduty\"\nurl = \"{}\"\nrouting_key = \"R0123456789ABCDEF0123456789ABCDEF\"\n\n\
             [alerting.policies.default]\nnotifiers = [\"pd\"]\nlevels = [{{ targets = [\"oncall:primary\"] }}]\n\n\
             [oncall.schedules.primary]\nmembers = [\"alice\", \"bob\"]\n",
            self.url()
        )
    }

    /// Requests processed (answered or not), in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn received_on(&self, prefix: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path.starts_with(prefix)).collect()
    }

    /// Every way a request differed from the provider's schema or limits. Tests require it empty.
    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().violations.clone()
    }

    /// PagerDuty incidents ever opened, by dedup key.
    pub fn pd_incidents(&self) -> Vec<String> {
        self.inner.lock().unwrap().pd_incidents.clone()
    }

    pub fn pd_open(&self) -> usize {
        self.inner.lock().unwrap().pd_open.len()
    }

    pub fn og_alerts(&self) -> Vec<String> {
        self.inner.lock().unwrap().og_alerts.clone()
    }

    pub fn og_open(&self) -> usize {
        self.inner.lock().unwrap().og_open.len()
    }
}

fn len_check(v: &Value, pointer: &str, max: usize, what: &str, out: &mut Vec<String>) {
    if let Some(s) = v.pointer(pointer).and_then(Value::as_str) {
        if s.chars().count() > max {
            out.push(format!("{what}: {pointer} is {} characters, more than {max}", s.chars().count()));
        }
    }
}

fn serve(mut conn: TcpStream, inner: &Mutex<Inner>, schemas: &(Schemas, Schemas)) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let Some((method, path, headers, body)) = read(&mut conn) else { return };
    let mode = inner.lock().unwrap().mode.unwrap_or(Mode::Ok);
    match mode {
        Mode::Fail500 => return respond(&mut conn, 500, "", "{\"message\":\"internal error\"}"),
        Mode::TooMany(s) => return respond(&mut conn, 429, &format!("Retry-After: {s}\r\n"), "{\"message\":\"rate limited\"}"),
        Mode::HangBefore => {
            std::thread::sleep(Duration::from_secs(60));
            return;
        }
        _ => {}
    }
    // Twilio takes forms: decoded into an object, they are validated like the JSON bodies.
    let form = path.starts_with("/2010-04-01/");
    let json: Value = if form { form_object(&body) } else { serde_json::from_str(&body).unwrap_or(Value::Null) };
    let mut violations = Vec::new();
    // Matrix sends with PUT (the transaction id in the path makes it idempotent); everything else POSTs.
    let expected = if path.starts_with("/_matrix/") { "PUT" } else { "POST" };
    if method != expected {
        violations.push(format!("{path}: method {method}, expected {expected}"));
    }
    let content_type = if form { "application/x-www-form-urlencoded" } else { "application/json" };
    if !headers.get("content-type").is_some_and(|t| t.starts_with(content_type)) {
        violations.push(format!("{path}: Content-Type {:?}, expected {content_type}", headers.get("content-type")));
    }
    if form && !headers.get("authorization").is_some_and(|a| a.starts_with("Basic ")) {
        violations.push(format!("{path}: no Basic authentication with the account SID"));
    }
    let (pd, og) = schemas;
    let (route, query) = path.split_once('?').unwrap_or((&path, ""));
    let (status, reply): (u16, String) = {
        let mut g = inner.lock().unwrap();
        let reply = if route == "/v2/enqueue" {
            violations.extend(
                pd.validate_at("/paths/~1enqueue/post/requestBody/content/application~1json/schema", &json)
                    .into_iter()
                    .map(|e| format!("pagerduty: {e}")),
            );
            len_check(&json, "/dedup_key", 255, "pagerduty", &mut violations);
            len_check(&json, "/payload/summary", 1024, "pagerduty", &mut violations);
            let key = json.get("dedup_key").and_then(Value::as_str).unwrap_or_default().to_string();
            match json.get("event_action").and_then(Value::as_str) {
                Some("trigger") => {
                    if json.pointer("/payload").is_none() {
                        violations.push("pagerduty: a trigger needs a payload".into());
                    }
                    if !g.pd_open.contains_key(&key) {
                        let n = g.pd_incidents.len() as u32 + 1;
                        g.pd_open.insert(key.clone(), n);
                        g.pd_incidents.push(key.clone());
                    }
                }
                Some("resolve") => {
                    g.pd_open.remove(&key);
                }
                _ => {}
            }
            (202, format!("{{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":{}}}", Value::String(key)))
        } else if route.starts_with("/v2/alerts") {
            if !headers.get("authorization").is_some_and(|a| a.starts_with("GenieKey ") && a.len() > 9) {
                violations.push(format!("opsgenie {route}: no Authorization: GenieKey"));
            }
            let rest = route.trim_start_matches("/v2/alerts");
            let def = match rest.rsplit('/').next() {
                _ if rest.is_empty() => "CreateAlertPayload",
                Some("close") => "CloseAlertPayload",
                Some("acknowledge") => "AcknowledgeAlertPayload",
                Some("responders") => "AddResponderToAlertPayload",
                _ => {
                    violations.push(format!("opsgenie: unexpected path {route}"));
                    "AlertActionPayload"
                }
            };
            if !rest.is_empty() && query != "identifierType=alias" {
                violations.push(format!("opsgenie {route}: query {query:?}, expected identifierType=alias"));
            }
            violations.extend(og.validate(def, &json, &[]).into_iter().map(|e| format!("opsgenie {def}: {e}")));
            len_check(&json, "/message", 130, "opsgenie", &mut violations);
            len_check(&json, "/alias", 512, "opsgenie", &mut violations);
            len_check(&json, "/description", 15_000, "opsgenie", &mut violations);
            len_check(&json, "/source", 100, "opsgenie", &mut violations);
            len_check(&json, "/note", 25_000, "opsgenie", &mut violations);
            if let Some(tags) = json.get("tags").and_then(Value::as_array) {
                if tags.len() > 20 || tags.iter().any(|t| t.as_str().is_none_or(|t| t.len() > 50)) {
                    violations.push("opsgenie: more than 20 tags or a tag longer than 50".into());
                }
            }
            let alias = if rest.is_empty() {
                json.get("alias").and_then(Value::as_str).unwrap_or_default().to_string()
            } else {
                let enc = rest.trim_start_matches('/').split('/').next().unwrap_or_default();
                decode(enc)
            };
            match def {
                "CreateAlertPayload" if !g.og_open.contains_key(&alias) => {
                    let n = g.og_alerts.len() as u32 + 1;
                    g.og_open.insert(alias.clone(), n);
                    g.og_alerts.push(alias);
                }
                "CloseAlertPayload" => {
                    g.og_open.remove(&alias);
                }
                _ => {}
            }
            (202, "{\"result\":\"Request will be processed\",\"took\":0.01,\"requestId\":\"43a29c5c-3dbf-4fa4-9c26-f4f71023e120\"}".into())
        } else if route.starts_with("/slack/") {
            if json.get("text").and_then(Value::as_str).is_none_or(|t| t.is_empty()) {
                violations.push("slack: no text".into());
            }
            let blocks_ok = json.get("blocks").and_then(Value::as_array).is_some_and(|b| {
                b.len() <= 50 && b.iter().all(|x| matches!(x.get("type").and_then(Value::as_str), Some("section" | "context" | "actions")))
            });
            if !blocks_ok {
                violations.push(format!("slack: malformed blocks {}", json.get("blocks").unwrap_or(&Value::Null)));
            }
            (200, "ok".into())
        } else if let Some(kind) = chat_route(route) {
            violations.extend(chat_schema(kind, &json).into_iter().map(|e| format!("{kind}: {e}")));
            if kind == "gotify" && headers.get("x-gotify-key").is_none_or(|k| k.is_empty()) {
                violations.push("gotify: no X-Gotify-Key".into());
            }
            if kind == "matrix" && !headers.get("authorization").is_some_and(|a| a.starts_with("Bearer ")) {
                violations.push("matrix: no access token".into());
            }
            match kind {
                "discord" => (204, String::new()),
                "teams" => (202, String::new()),
                "pushover" => (200, r#"{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b"}"#.into()),
                "matrix" => (200, r#"{"event_id":"$YUwRidLecu:example.com"}"#.into()),
                "splunk_oncall" => (200, r#"{"result":"success","entity_id":"x"}"#.into()),
                "twilio" => (201, r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}"#.into()),
                "telegram" => (200, r#"{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":-1,"type":"group"}}}"#.into()),
                "ntfy" => (200, r#"{"id":"a1","time":0,"event":"message","topic":"t"}"#.into()),
                _ => (200, "{}".into()),
            }
        } else if route == "/hook" {
            (200, "{}".into())
        } else {
            violations.push(format!("unexpected request {method} {path}"));
            (404, "{}".into())
        };
        let status = if mode == Mode::HangAfter { 0 } else { reply.0 };
        g.received.push(Received { at: Instant::now(), path: path.clone(), headers, body: json, raw: body.clone(), status });
        g.violations.extend(violations);
        (status, reply.1)
    };
    if mode == Mode::HangAfter {
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    respond(&mut conn, status, "", &reply);
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which chat provider a path belongs to, as the providers lay out their URLs.
fn chat_route(route: &str) -> Option<&'static str> {
    if route.starts_with("/api/webhooks/") {
        Some("discord")
    } else if route.starts_with("/bot") && route.ends_with("/sendMessage") {
        Some("telegram")
    } else if route.starts_with("/v1/spaces/") && route.ends_with("/messages") {
        Some("googlechat")
    } else if route == "/" {
        Some("ntfy")
    } else if route.starts_with("/hooks/") {
        Some("mattermost")
    } else if route.starts_with("/workflows/") {
        Some("teams")
    } else if route == "/message" {
        Some("gotify")
    } else if route == "/1/messages.json" {
        Some("pushover")
    } else if route.starts_with("/_matrix/client/v3/rooms/") {
        Some("matrix")
    } else if route == "/api/v2/alerts" {
        Some("alertmanager")
    } else if route.starts_with("/victorops/") {
        Some("splunk_oncall")
    } else if route.starts_with("/2010-04-01/Accounts/") && (route.ends_with("/Messages.json") || route.ends_with("/Calls.json")) {
        Some("twilio")
    } else {
        None
    }
}

/// Violations of `alerting/schemas/KIND.schema.json`.
fn chat_schema(kind: &str, body: &Value) -> Vec<String> {
    let path = format!("{}/alerting/schemas/{kind}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap_or_else(|e| panic!("{path}: {e}"));
    validator.iter_errors(body).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// A form body (`a=1&b=x%20y`) as a JSON object of strings.
fn form_object(body: &str) -> Value {
    let decode = |s: &str| decode(&s.replace('+', " "));
    Value::Object(
        body.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), Value::String(decode(v)))
            })
            .collect(),
    )
}
