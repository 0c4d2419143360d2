//! A stand-in for the hosted status pages the publishers feed, on one loopback port, that validates every
//! request the way the provider would and keeps what it was told:
//!
//! - Atlassian Statuspage (`/v1/pages/{page}/…`, `Authorization: OAuth KEY`): `PATCH components/{id}` against
//!   `patchPagesPageIdComponents` of `statuspage.openapi.json`; `POST metrics/data` against
//!   `postPagesPageIdMetricsData`, and each metric's list against the item schema the document gives under
//!   the placeholder key `metric_id` (the document names the key literally; the API keys by metric id);
//!   `GET incidents/active_maintenance|upcoming` answers the maintenances it was given.
//! - status.io (`/v2/…`, headers `x-api-id`, `x-api-key`): `component/status/update` and `metric/update`
//!   against the field lists of DESIGN.md §5.9 and status.io's API documentation: exactly those keys, their
//!   types, 24/7/30 dates and values, ISO 8601 dates, status codes 100–500; `GET maintenance/list/{id}`.
//! - Both: at most one request per second per key (closer requests are a violation, answered 429 as the
//!   providers do); it can be told to answer 500 or 429 with `Retry-After`.

use super::api::{read, respond, serve_each};
use super::jsonschema::Schemas;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Fail500,
    TooMany(u64),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    pub status: u16,
}

/// Requests closer than this to the previous one with the same key break the 1 request/s limit (a little
/// slack for the two clocks).
const MIN_GAP: Duration = Duration::from_millis(950);

#[derive(Default)]
struct Inner {
    mode: Option<Mode>,
    received: Vec<Received>,
    violations: Vec<String>,
    last_by_key: HashMap<String, Instant>,
    /// Component id -> its status as the provider shows it (Statuspage's name, status.io's code as text).
    components: BTreeMap<String, String>,
    /// Metric id -> points received (Statuspage) or the last whole series (status.io).
    metrics: BTreeMap<String, Vec<Value>>,
    statuspage_maintenance: Vec<Value>,
    statusio_maintenance: Vec<Value>,
}

pub struct Hosted {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
}

impl Hosted {
    pub fn start() -> Hosted {
        let inner: Arc<Mutex<Inner>> = Default::default();
        let schema = Schemas::load_strict("statuspage.openapi.json");
        let shared = inner.clone();
        let port = serve_each(move |conn| serve(conn, &shared, &schema));
        Hosted { port, inner }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, m: Mode) {
        self.inner.lock().unwrap().mode = Some(m);
    }

    /// Statuspage maintenances (incidents with `scheduled_for`, `scheduled_until`, `components`) it lists as active.
    pub fn statuspage_maintenance(&self, list: Vec<Value>) {
        self.inner.lock().unwrap().statuspage_maintenance = list;
    }

    pub fn statusio_maintenance(&self, list: Vec<Value>) {
        self.inner.lock().unwrap().statusio_maintenance = list;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().violations.clone()
    }

    pub fn component(&self, id: &str) -> Option<String> {
        self.inner.lock().unwrap().components.get(id).cloned()
    }

    pub fn metric(&self, id: &str) -> Vec<Value> {
        self.inner.lock().unwrap().metrics.get(id).cloned().unwrap_or_default()
    }
}

fn is_iso8601(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok())
}

/// status.io's documented fields of `/v2/metric/update` (DESIGN.md §5.9): exactly these, typed, sized.
fn check_statusio_metric(b: &Value, out: &mut Vec<String>) {
    let Some(m) = b.as_object() else { return out.push("statusio metric: not an object".into()) };
    let mut expected = vec!["statuspage_id".to_string(), "metric_id".to_string()];
    for (period, n) in [("day", 24), ("week", 7), ("month", 30)] {
        for f in ["avg", "start", "dates", "values"] {
            expected.push(format!("{period}_{f}"));
        }
        if !m.get(&format!("{period}_avg")).is_some_and(Value::is_number) {
            out.push(format!("statusio metric: {period}_avg is not a number"));
        }
        if !m.get(&format!("{period}_start")).is_some_and(|v| v.is_i64() && v.as_i64() > Some(1_000_000_000)) {
            out.push(format!("statusio metric: {period}_start is not UNIX seconds"));
        }
        let dates = m.get(&format!("{period}_dates")).and_then(Value::as_array);
        if !dates.is_some_and(|d| d.len() == n && d.iter().all(is_iso8601)) {
            out.push(format!("statusio metric: {period}_dates is not {n} ISO 8601 dates"));
        }
        let values = m.get(&format!("{period}_values")).and_then(Value::as_array);
        if !values.is_some_and(|v| v.len() == n && v.iter().all(Value::is_number)) {
            out.push(format!("statusio metric: {period}_values is not {n} numbers"));
        }
        // The start is the first bucket's.
        let first = dates.and_then(|d| d.first()).and_then(Value::as_str).and_then(|s| s.parse::<jiff::Timestamp>().ok());
        if first.map(|t| t.as_second()) != m.get(&format!("{period}_start")).and_then(Value::as_i64) {
            out.push(format!("statusio metric: {period}_start is not the first date"));
        }
    }
    for k in m.keys() {
        if !expected.contains(k) {
            out.push(format!("statusio metric: undocumented field {k}"));
        }
    }
    for k in &expected {
        if !m.contains_key(k) {
            out.push(format!("statusio metric: missing {k}"));
        }
    }
    if !m.get("statuspage_id").is_some_and(Value::is_string) || !m.get("metric_id").is_some_and(Value::is_string) {
        out.push("statusio metric: ids must be strings".into());
    }
}

fn check_statusio_status(b: &Value, out: &mut Vec<String>) {
    let Some(m) = b.as_object() else { return out.push("statusio status: not an object".into()) };
    let fields = ["statuspage_id", "component", "container", "details", "current_status"];
    for k in m.keys() {
        if !fields.contains(&k.as_str()) {
            out.push(format!("statusio status: undocumented field {k}"));
        }
    }
    for k in &fields[..4] {
        if m.get(*k).and_then(Value::as_str).is_none_or(|s| s.is_empty()) {
            out.push(format!("statusio status: {k} must be a non-empty string"));
        }
    }
    if !m.get("current_status").and_then(Value::as_u64).is_some_and(|c| [100, 200, 300, 400, 500].contains(&c)) {
        out.push(format!("statusio status: current_status {:?} is not 100/200/300/400/500", m.get("current_status")));
    }
}

fn serve(mut conn: TcpStream, inner: &Mutex<Inner>, schema: &Schemas) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let Some((method, path, headers, body)) = read(&mut conn) else { return };
    let json: Value = if body.is_empty() { Value::Null } else { serde_json::from_str(&body).unwrap_or(Value::String(body.clone())) };
    let mut g = inner.lock().unwrap();
    let mut violations = Vec::new();
    let key = if path.starts_with("/v1/") {
        match headers.get("authorization").and_then(|a| a.strip_prefix("OAuth ")) {
            Some(k) if !k.is_empty() => k.to_string(),
            _ => {
                violations.push(format!("statuspage {path}: no Authorization: OAuth"));
                String::new()
            }
        }
    } else {
        match (headers.get("x-api-id"), headers.get("x-api-key")) {
            (Some(id), Some(k)) if !id.is_empty() && !k.is_empty() => format!("{id}/{k}"),
            _ => {
                violations.push(format!("statusio {path}: no x-api-id / x-api-key"));
                String::new()
            }
        }
    };
    let now = Instant::now();
    if let Some(last) = g.last_by_key.insert(key.clone(), now) {
        if now - last < MIN_GAP {
            violations.push(format!("{method} {path}: {} ms after the previous request with the same key", (now - last).as_millis()));
        }
    }
    let mode = g.mode.unwrap_or(Mode::Ok);
    let (status, extra, reply): (u16, String, String) = match mode {
        Mode::Fail500 => (500, String::new(), "{\"error\":\"internal\"}".into()),
        Mode::TooMany(s) => (429, format!("Retry-After: {s}\r\n"), "{\"error\":\"rate limited\"}".into()),
        Mode::Ok if !violations.is_empty() && violations.iter().any(|v| v.contains("ms after")) => {
            (429, "Retry-After: 1\r\n".into(), "{\"error\":\"rate limited\"}".into())
        }
        Mode::Ok => {
            let json_body = || headers.get("content-type").is_some_and(|t| t.starts_with("application/json"));
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match (method.as_str(), parts.as_slice()) {
                ("PATCH", ["v1", "pages", _page, "components", id]) => {
                    if !json_body() {
                        violations.push("statuspage: PATCH without application/json".into());
                    }
                    let at = "/paths/~1pages~1{page_id}~1components~1{component_id}/patch/requestBody/content/application~1json/schema";
                    violations.extend(schema.validate_at(at, &json).into_iter().map(|e| format!("statuspage PATCH component: {e}")));
                    let status = json.pointer("/component/status").and_then(Value::as_str).unwrap_or_default().to_string();
                    g.components.insert(id.to_string(), status.clone());
                    (200, String::new(), json!({"id": id, "status": status}).to_string())
                }
                ("POST", ["v1", "pages", _page, "metrics", "data"]) => {
                    if !json_body() {
                        violations.push("statuspage: metrics without application/json".into());
                    }
                    // The body's shape, with the metric ids' lists checked one by one below.
                    let mut outer = json.clone();
                    if let Some(d) = outer.get_mut("data").filter(|d| d.is_object()) {
                        *d = json!({});
                    }
                    violations.extend(
                        schema.validate("postPagesPageIdMetricsData", &outer, &[]).into_iter().map(|e| format!("statuspage metrics: {e}")),
                    );
                    let item = "/components/schemas/MetricAddResponse/properties/metric_id";
                    for (id, points) in json.get("data").and_then(Value::as_object).into_iter().flatten() {
                        violations.extend(schema.validate_at(item, points).into_iter().map(|e| format!("statuspage metric {id}: {e}")));
                        let list = g.metrics.entry(id.clone()).or_default();
                        list.extend(points.as_array().into_iter().flatten().cloned());
                    }
                    (202, String::new(), json.get("data").cloned().unwrap_or(Value::Null).to_string())
                }
                ("GET", ["v1", "pages", _page, "incidents", "active_maintenance"]) => {
                    (200, String::new(), Value::Array(g.statuspage_maintenance.clone()).to_string())
                }
                ("GET", ["v1", "pages", _page, "incidents", "upcoming"]) => (200, String::new(), "[]".into()),
                ("POST", ["v2", "component", "status", "update"]) => {
                    check_statusio_status(&json, &mut violations);
                    let id = format!(
                        "{}/{}",
                        json.get("component").and_then(Value::as_str).unwrap_or_default(),
                        json.get("container").and_then(Value::as_str).unwrap_or_default()
                    );
                    let code = json.get("current_status").map(|v| v.to_string()).unwrap_or_default();
                    g.components.insert(id, code);
                    (200, String::new(), json!({"status": {"error": "no", "message": "OK"}, "result": true}).to_string())
                }
                ("POST", ["v2", "metric", "update"]) => {
                    check_statusio_metric(&json, &mut violations);
                    let id = json.get("metric_id").and_then(Value::as_str).unwrap_or_default().to_string();
                    g.metrics.insert(id, vec![json.clone()]);
                    (200, String::new(), json!({"status": {"error": "no", "message": "OK"}, "result": true}).to_string())
                }
                ("GET", ["v2", "maintenance", "list", _id]) => {
                    let list = g.statusio_maintenance.clone();
                    (
                        200,
                        String::new(),
                        json!({"status": {"error": "no", "message": "OK"}, "result": {"active_maintenances": list, "upcoming_maintenances": []}})
                            .to_string(),
                    )
                }
                _ => {
                    violations.push(format!("unexpected request {method} {path}"));
                    (404, String::new(), "{}".into())
                }
            }
        }
    };
    g.received.push(Received { at: now, method, path, headers, body: json, status });
    g.violations.extend(violations);
    drop(g);
    respond(&mut conn, status, &extra, &reply);
}
