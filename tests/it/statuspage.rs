//! The public status page (issue 7): its JSON against Statuspage's published schema and a client written
//! for Statuspage, the admin API, hostile text, private components, and the page in headless Chromium.
//!
//! Each test serves a real page over loopback from a real SQLite store holding points and rollups written
//! here, with the state database in the same temporary directory.

use crate::common;

use common::jsonschema::Schemas;
use common::smtp::decode_qp;
use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use watchpost::settings::Settings;
use watchpost_core::config::Format;
use watchpost_core::model::{Point, ProbePoint, Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use watchpost_core::time::now_nanos;
use watchpost_statuspage::StatusPage;

const TOKEN: &str = "test-admin-token-0123456789";
const HOUR: i64 = 3_600_000_000_000;
const XSS_TITLE: &str = "<script>alert('t')</script> \"><img src=x onerror=alert(1)>";
const XSS_BODY: &str = "javascript:alert(1) <a href=\"javascript:alert(2)\">click</a> & <b>bold</b>";

/// A status page served from a fresh store: `api` (api-1 up, api-2 confirmed down: a partial outage),
/// `web` (up, and slow), and the private `internal` (down). 90 days of hourly rollups for api-1 and web,
/// with one hour of downtime for api-1 two days ago.
struct Page {
    port: u16,
    dir: tempfile::TempDir,
    extra: String,
    _rt: tokio::runtime::Runtime,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn config(dir: &Path, port: u16) -> String {
    format!(
        r#"
[store]
type = "sqlite"
path = "{db}"

[statuspage]
listen = "127.0.0.1:{port}"
title = "Acme <Status> & Co"
timezone = "Europe/Berlin"
admin_token = "{TOKEN}"
logo = "{logo}"
links = [{{ title = "Home <b>", url = "https://example.com/?a=1&b=2" }}]

[[statuspage.groups]]
id = "core"
name = "Core services"

[[statuspage.components]]
id = "api"
name = "Public API"
group = "core"

[[statuspage.components]]
id = "web"
name = "Website"
show_targets = true

[[statuspage.components]]
id = "internal"
name = "Secret Internal DB"
private = true

[[endpoints]]
id = "api-1"
url = "http://api-1.internal.example:8080/health"
component = "api"

[[endpoints]]
id = "api-2"
url = "http://10.1.2.3:8080/health"
component = "api"

[[endpoints]]
id = "web"
url = "http://monitor:hunter2@www.example.com/health?token=s3cr3t"
component = "web"

[[endpoints]]
id = "internal-db"
type = "tcp"
address = "10.9.9.9:5432"
component = "internal"
"#,
        db = dir.join("w.db").display(),
        logo = dir.join("logo.svg").display()
    )
}

/// A logo with a script in it: served from the page's origin under its CSP, the script cannot run.
const LOGO: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><script>alert(1)</script><circle cx="20" cy="20" r="18" fill="#3182ce"/></svg>"##;

fn series(endpoint: &str, component: &str, region: &str) -> Arc<SeriesKey> {
    Arc::new(SeriesKey { endpoint: endpoint.into(), region: region.into(), component: component.into(), environment: "production".into() })
}

fn probe(endpoint: &str, component: &str, ts: i64, down: bool, latency_ms: f64) -> Point {
    Point::Probe(ProbePoint {
        series: series(endpoint, component, "eu"),
        ts,
        availability: if down { 0.0 } else { 100.0 },
        ok: !down,
        latency_ms,
        dns_ms: None,
        connect_ms: None,
        tls_ms: None,
        ttfb_ms: None,
        status_code: Some(if down { 503 } else { 200 }),
        cert_days_left: None,
        error: None,
        confirmed_down: down,
        failed_step: None,
    })
}

fn hour(endpoint: &str, component: &str, ts: i64, down_s: f64, mean_ms: f64) -> Point {
    Point::Rollup(RollupPoint {
        resolution: Resolution::Hour,
        series: series(endpoint, component, ALL_REGIONS),
        ts,
        up_s: 3600.0 - down_s,
        down_s,
        maintenance_s: 0.0,
        down_from_s: (down_s > 0.0).then_some(0.0),
        down_until_s: (down_s > 0.0).then_some(down_s),
        samples: 720,
        failures: (down_s / 5.0) as u64,
        under_threshold: 700,
        latency_mean_ms: Some(mean_ms),
        latency_p50_ms: Some(mean_ms),
        latency_p90_ms: Some(mean_ms),
        latency_p95_ms: Some(mean_ms),
        latency_p99_ms: Some(mean_ms),
        latency_max_ms: Some(mean_ms),
        hist: String::new(),
    })
}

impl Page {
    fn start() -> Page {
        Page::start_with("")
    }

    /// With `extra` appended to the configuration (more tables).
    fn start_with(extra: &str) -> Page {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("logo.svg"), LOGO).expect("write the logo");
        let port = free_port();
        let text = config(dir.path(), port) + extra;
        let settings = Settings::from_str_with_env("page.toml", Format::Toml, &text, &HashMap::new()).unwrap_or_else(|e| panic!("{e}"));
        let cfg = settings.core.clone();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        rt.block_on(async {
            let store = watchpost_core::store::open(&cfg.store).await.expect("store");
            let now = now_nanos();
            let this_hour = now - now % HOUR;
            let mut points = Vec::new();
            for h in 1..=(90 * 24) {
                let ts = this_hour - h * HOUR;
                points.push(hour("api-1", "api", ts, if h == 48 { 3600.0 } else { 0.0 }, 40.0));
                points.push(hour("web", "web", ts, 0.0, 120.0 + (h % 24) as f64));
                points.push(hour("internal-db", "internal", ts, 1800.0, 5.0));
            }
            store.write(&points).await.expect("write rollups");
            let t = now - 1_000_000_000;
            store
                .write(&[
                    probe("api-1", "api", t, false, 30.0),
                    probe("api-2", "api", t, true, 0.0),
                    probe("web", "web", t, false, 80.0),
                    probe("internal-db", "internal", t, true, 0.0),
                ])
                .await
                .expect("write probes");
            let page = StatusPage::new(&cfg, &settings.page, settings.doors(), store).await.expect("status page");
            let listener = tokio::net::TcpListener::bind(settings.page.listen).await.expect("bind the page");
            let app = watchpost_statuspage::server::app(page.clone());
            let mut rx = stop_rx.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
            });
            tokio::spawn(watchpost_statuspage::deliver::run(page.clone(), stop_rx.clone()));
            tokio::spawn(watchpost_statuspage::refresh_loop(page, stop_rx));
        });
        Page { port, dir, extra: extra.to_string(), _rt: rt, _stop: stop }
    }

    fn get(&self, path: &str) -> (String, String) {
        http_get(self.port, path).unwrap_or_else(|| panic!("GET {path}: no answer"))
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert!(status.contains("200"), "GET {path}: {status}\n{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}\n{body}"))
    }

    fn admin(&self, method: &str, path: &str, body: &Value) -> (String, Value) {
        let auth = format!("Authorization: Bearer {TOKEN}");
        let text = if body.is_null() { String::new() } else { body.to_string() };
        let (status, body) =
            http_request(self.port, method, &format!("/api/v1/admin{path}"), &[&auth, "Content-Type: application/json"], &text)
                .unwrap_or_else(|| panic!("{method} {path}: no answer"));
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    fn config_path(&self) -> std::path::PathBuf {
        write_config(self.dir.path(), &(config(self.dir.path(), self.port) + &self.extra))
    }
}

fn ok(status: &str) -> bool {
    status.starts_with("HTTP/1.1 2")
}

#[test]
fn public_json_follows_statuspages_schema_and_a_statuspage_client_reads_it() {
    let p = Page::start();
    let (st, incident) = p.admin(
        "POST",
        "/incidents",
        &json!({"name": "Elevated API errors", "message": "We are investigating.", "components": {"api": "partial_outage", "internal": "major_outage"}}),
    );
    assert!(st.contains("201"), "{st} {incident}");
    let now = jiff::Timestamp::now();
    let (st, m) = p.admin(
        "POST",
        "/maintenance",
        &json!({"title": "Database upgrade", "components": ["web"], "start": (now + jiff::SignedDuration::from_hours(2)).to_string(), "duration": "1h"}),
    );
    assert!(st.contains("201"), "{st} {m}");

    let schemas = Schemas::load("statuspage.openapi.json");
    // Keys Statuspage's public API returns that its management API document does not list.
    let extras = ["Component.components", "Incident.started_at"];
    let summary = p.json("/api/v2/summary.json");
    let mut checked = 0;
    for doc in [
        "summary.json",
        "status.json",
        "components.json",
        "incidents.json",
        "incidents/unresolved.json",
        "scheduled-maintenances.json",
        "scheduled-maintenances/upcoming.json",
        "scheduled-maintenances/active.json",
    ] {
        let v = p.json(&format!("/api/v2/{doc}"));
        let page = &v["page"];
        for k in ["id", "name", "url", "time_zone", "updated_at"] {
            assert!(page.get(k).is_some(), "{doc}: page.{k} missing");
        }
        for c in v.get("components").and_then(Value::as_array).into_iter().flatten() {
            let errors = schemas.validate("Component", c, &extras);
            assert!(errors.is_empty(), "{doc}: {errors:#?}");
            checked += 1;
        }
        for key in ["incidents", "scheduled_maintenances"] {
            for x in v.get(key).and_then(Value::as_array).into_iter().flatten() {
                let errors = schemas.validate("Incident", x, &extras);
                assert!(errors.is_empty(), "{doc}: {errors:#?}");
                assert!(!x["incident_updates"].as_array().unwrap().is_empty(), "{doc}: Statuspage always lists an update");
                checked += 1;
            }
        }
        if doc != "components.json" && doc != "status.json" {
            assert!(v.get("incidents").is_some() || v.get("scheduled_maintenances").is_some(), "{doc}: {v}");
        }
    }
    assert!(checked >= 10, "validated only {checked} objects");

    // What the page says, read by aRez's Statuspage client (PyPI `arez`), unchanged.
    let script = format!(
        r#"
import asyncio, json, sys
try:
    from arez.statuspage import StatusPage
except ImportError:
    sys.exit("the Python package `arez` is missing: run scripts/test.sh, or `pip install arez`")
async def main():
    async with StatusPage("http://127.0.0.1:{port}") as page:
        s = await page.get_status()
        print(json.dumps({{
            "status": s.status, "impact": s.impact, "name": s.name, "id": s.id,
            "groups": [[g.name, [c.name for c in g.components]] for g in s.groups],
            "components": [[c.name, c.status, len(c.incidents)] for c in s.components],
            "incidents": [[i.name, i.status, i.impact, i.last_update.description] for i in s.incidents],
            "maintenances": [[m.name, m.status, [c.name for c in m.components]] for m in s.maintenances],
        }}))
asyncio.run(main())
"#,
        port = p.port
    );
    let out = std::process::Command::new("python3").arg("-c").arg(&script).output().expect("python3");
    assert!(out.status.success(), "the Statuspage client failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let read: Value = serde_json::from_slice(&out.stdout).expect("the client's JSON");
    assert_eq!(read["status"], summary["status"]["description"]);
    assert_eq!(read["status"], "Partial System Outage");
    assert_eq!(read["name"], "Acme <Status> & Co");
    assert_eq!(read["id"], summary["page"]["id"]);
    assert_eq!(read["groups"], json!([["Core services", ["Public API"]]]));
    assert_eq!(read["components"], json!([["Public API", "Partial Outage", 1], ["Website", "Operational", 0]]));
    assert_eq!(read["incidents"], json!([["Elevated API errors", "Investigating", "Critical", "We are investigating."]]));
    assert_eq!(read["maintenances"], json!([["Database upgrade", "Scheduled", ["Website"]]]));
}

#[test]
fn the_admin_api_wants_its_token_validates_and_runs_an_incident_lifecycle() {
    let p = Page::start();
    let body = r#"{"name":"x"}"#;
    for headers in
        [vec!["Content-Type: application/json"], vec!["Authorization: Bearer wrong-token-0123456789", "Content-Type: application/json"]]
    {
        let (st, b) = http_request(p.port, "POST", "/api/v1/admin/incidents", &headers, body).unwrap();
        assert!(st.contains("401"), "{st} {b}");
    }
    let (st, _) = http_get(p.port, "/api/v1/admin/incidents").unwrap();
    assert!(st.contains("401"), "reads need the token too");
    let (st, _) = http_get(p.port, "/api/v1/admin/metrics").unwrap();
    assert!(st.contains("401"), "the page's own metrics need the token too");

    let auth = format!("Authorization: Bearer {TOKEN}");
    // Issue 19: a status page run alone has no process server; its store reads are scraped here.
    let (st, b) = http_request(p.port, "GET", "/api/v1/admin/metrics", &[&auth], "").unwrap();
    assert!(st.contains("200") && b.contains("# TYPE watchpost_store_points_read_total counter"), "{st} {b}");
    let (st, _) = http_request(p.port, "POST", "/api/v1/admin/incidents", &[&auth, "Content-Type: text/plain"], body).unwrap();
    assert!(st.contains("415"), "{st}");
    for (body, want, says) in [
        ("{not json", "400", "invalid JSON"),
        (r#"{"name":"x","colour":"red"}"#, "400", "unknown field `colour`"),
        (r#"{"message":"no name"}"#, "422", "name: is required"),
        (r#"{"name":"x","status":"exploded"}"#, "422", "status: `exploded` is not one of"),
        (r#"{"name":"x","components":{"nope":"major_outage"}}"#, "422", "components.nope: no component `nope`"),
        (r#"{"name":"x","components":{"api":"on_fire"}}"#, "422", "components.api: `on_fire` is not one of"),
    ] {
        let (st, b) = http_request(p.port, "POST", "/api/v1/admin/incidents", &[&auth, "Content-Type: application/json"], body).unwrap();
        assert!(st.contains(want) && b.contains(says), "{body} -> {st} {b}");
    }
    let long = format!(r#"{{"name":"{}"}}"#, "x".repeat(70 * 1024));
    let (st, _) = http_request(p.port, "POST", "/api/v1/admin/incidents", &[&auth, "Content-Type: application/json"], &long).unwrap();
    assert!(st.contains("413"), "an oversized body: {st}");
    let (st, b) = p.admin(
        "POST",
        "/maintenance",
        &json!({"title": "t", "components": ["web"], "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T09:00:00Z"}),
    );
    assert!(st.contains("422") && b["errors"][0]["field"] == "end", "{st} {b}");
    let (st, b) = p.admin("POST", "/maintenance", &json!({"title": "t", "duration": "1h"}));
    assert!(st.contains("422") && b["error"].as_str().unwrap().contains("exactly one of"), "{st} {b}");

    // The lifecycle, as the page and the JSON show it.
    let (st, x) = p.admin("POST", "/incidents", &json!({"name": "Checkout failing", "components": {"web": "major_outage"}}));
    assert!(st.contains("201"), "{st} {x}");
    let id = x["id"].as_str().unwrap().to_string();
    let web = |p: &Page| {
        p.json("/api/v2/components.json")["components"].as_array().unwrap().iter().find(|c| c["id"] == "web").unwrap()["status"].clone()
    };
    assert_eq!(web(&p), "major_outage", "an incident's declared status shows at once");
    assert_eq!(p.json("/api/v2/status.json")["status"]["indicator"], "major", "one component down, one partly");
    let (st, x) = p.admin(
        "PATCH",
        &format!("/incidents/{id}"),
        &json!({"status": "monitoring", "message": "Fix deployed.", "components": {"web": "operational"}}),
    );
    assert!(ok(&st), "{st} {x}");
    assert_eq!(x["incident_updates"].as_array().unwrap().len(), 2);
    assert_eq!(x["incident_updates"][0]["affected_components"][0]["old_status"], "major_outage");
    assert_eq!(web(&p), "operational");
    let (st, x) = p.admin("PATCH", &format!("/incidents/{id}"), &json!({"status": "resolved", "message": "All good."}));
    assert!(ok(&st) && x["resolved_at"].is_string(), "{st} {x}");
    assert!(p.json("/api/v2/incidents/unresolved.json")["incidents"].as_array().unwrap().is_empty());
    let all = p.json("/api/v2/incidents.json");
    assert_eq!(all["incidents"][0]["id"], id.as_str());
    assert_eq!(all["incidents"][0]["status"], "resolved");
    let (st, _) = p.admin("PATCH", "/incidents/doesnotexist", &json!({"status": "resolved"}));
    assert!(st.contains("404"), "{st}");

    // A maintenance window through the command line: started, shown, ended, and not ended twice.
    let cfg = p.config_path();
    let cfg = cfg.to_str().unwrap();
    let out = run(&["maintenance", "--config", cfg, "start", "--title", "Router swap", "--component", "api", "--duration", "30m"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mid = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string();
    let active = p.json("/api/v2/scheduled-maintenances/active.json");
    assert_eq!(active["scheduled_maintenances"][0]["name"], "Router swap");
    assert_eq!(p.json("/api/v2/components.json")["components"][0]["status"], "under_maintenance");
    let out = run(&["maintenance", "--config", cfg, "end", &mid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(p.json("/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"].as_array().unwrap().is_empty());
    let out = run(&["maintenance", "--config", cfg, "end", &mid]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("already over"));
    let out = run(&["incident", "--config", cfg, "list", "--token", "wrong-token-0123456789"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("401"));
}

#[test]
fn hostile_text_is_text_in_the_page_the_feeds_and_the_badges() {
    let p = Page::start();
    let (st, x) =
        p.admin("POST", "/incidents", &json!({"name": XSS_TITLE, "message": XSS_BODY, "components": {"api": "degraded_performance"}}));
    assert!(st.contains("201"), "{st} {x}");
    let (_, html) = p.get("/");
    for raw in ["<script>alert", "<img src=x", "<a href=\"javascript:", "<b>bold", "<Status>", "Home <b>"] {
        assert!(!html.contains(raw), "the page contains raw {raw:?}");
    }
    assert!(html.contains("&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; &quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("href=\"https://example.com/?a=1&amp;b=2\""), "configured links keep their URL, escaped");
    assert!(!html.contains("<script"), "the page has no script at all");
    for feed in ["/feed.atom", "/feed.rss"] {
        let (st, xml) = p.get(feed);
        assert!(ok(&st), "{feed}: {st}");
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{feed} is not XML: {e}\n{xml}"));
        let titles: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("title")).filter_map(|n| n.text()).collect();
        assert!(titles.iter().any(|t| t.starts_with(XSS_TITLE)), "{feed}: the title is text, unchanged: {titles:?}");
        assert!(doc.descendants().all(|n| !n.has_tag_name("script") && !n.has_tag_name("img")), "{feed} grew elements");
        let text: String = doc.descendants().filter_map(|n| n.text()).collect();
        if feed == "/feed.rss" {
            // RSS readers render <description> as HTML: its XML text is the message HTML-escaped, no markup.
            let descriptions: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("description")).filter_map(|n| n.text()).collect();
            assert!(descriptions.iter().any(|d| d.contains(&watchpost_core::markup::escape(XSS_BODY))), "{feed}: {descriptions:?}");
            assert!(descriptions.iter().all(|d| !d.replace("<br>", "").contains('<')), "{feed}: live markup: {descriptions:?}");
        } else {
            assert!(text.contains(XSS_BODY), "{feed}: the message is text, unchanged");
        }
    }
    let (st, svg) = p.get("/badge/api/status.svg?label=%3Cscript%3Ealert(1)%3C/script%3E");
    assert!(ok(&st), "{st}");
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("the badge is not XML: {e}\n{svg}"));
    assert!(doc.descendants().all(|n| !n.has_tag_name("script")));
    assert!(doc.descendants().any(|n| n.text() == Some("<script>alert(1)</script>")), "the label is text");
    // JSON carries the text as it was given: escaping is the renderer's job, and clients render text.
    assert_eq!(p.json("/api/v2/incidents.json")["incidents"][0]["name"], XSS_TITLE);

    // A `javascript:` link in the configuration is refused before anything is served.
    let bad = config(p.dir.path(), p.port).replace("https://example.com/?a=1&b=2", "javascript:alert(1)");
    let errors = Settings::from_str_with_env("bad.toml", Format::Toml, &bad, &HashMap::new()).unwrap_err().to_string();
    assert!(errors.contains("statuspage.links[0].url") && errors.contains("invalid URL"), "{errors}");
}

#[test]
fn private_components_and_probe_targets_never_reach_a_public_document() {
    let p = Page::start();
    let (st, _) = p.admin("POST", "/incidents", &json!({"name": "Internal DB failover", "components": {"internal": "major_outage"}}));
    assert!(st.contains("201"));
    let (st, _) = p.admin(
        "POST",
        "/incidents",
        &json!({"name": "Mixed incident", "components": {"internal": "major_outage", "api": "degraded_performance"}}),
    );
    assert!(st.contains("201"));
    let mut public = vec![p.get("/").1, p.get("/feed.atom").1, p.get("/feed.rss").1];
    for doc in ["summary.json", "components.json", "incidents.json", "incidents/unresolved.json", "scheduled-maintenances.json"] {
        public.push(p.get(&format!("/api/v2/{doc}")).1);
    }
    for c in ["api", "web"] {
        public.push(p.get(&format!("/api/v1/components/{c}/uptime")).1);
        public.push(p.get(&format!("/api/v1/components/{c}/response-times")).1);
        for kind in ["status.svg", "uptime.svg", "response-time.svg"] {
            public.push(p.get(&format!("/badge/{c}/{kind}")).1);
        }
    }
    let export = p.dir.path().join("export");
    let out = run(&["statuspage", "--config", p.config_path().to_str().unwrap(), "export", export.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut files = 0;
    for entry in walk(&export) {
        public.push(std::fs::read_to_string(&entry).unwrap());
        files += 1;
    }
    assert!(files >= 20, "the export wrote {files} files");
    for text in &public {
        for secret in [
            "internal",
            "Secret Internal DB",
            "Internal DB failover",
            "10.9.9.9",
            "10.1.2.3",
            "api-1.internal.example",
            "api-2",
            "hunter2",
            "s3cr3t",
        ] {
            assert!(!text.contains(secret), "{secret:?} leaked into a public document:\n{}", &text[..text.len().min(400)]);
        }
    }
    assert!(public[0].contains("Mixed incident"), "an incident naming a public component is shown");
    assert!(public[0].contains("http://www.example.com/health"), "a component that opts in shows its target");
    let (private, body) = p.get("/badge/internal/status.svg");
    let (unknown, body2) = p.get("/badge/nope/status.svg");
    assert!(private.contains("404") && unknown.contains("404") && body == body2, "a private badge answers like an unknown one");
    assert!(p.get("/api/v1/components/internal/uptime").0.contains("404"));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn uptime_and_response_times_come_from_the_rollups() {
    let p = Page::start();
    let (st, logo) = p.get("/assets/logo");
    assert!(ok(&st) && logo == LOGO, "the configured logo is served: {st}");
    assert!(p.get("/").1.contains("<img class=\"logo\" src=\"/assets/logo\""), "and shown");
    let up = p.json("/api/v1/components/api/uptime");
    let days = up["days"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    // api-1 was down for one hour two days ago; api-2 has no rollups, so api-1 alone decides.
    let down: Vec<&Value> = days.iter().filter(|d| d["major_outage_seconds"].as_f64().unwrap() > 0.0).collect();
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(down[0]["major_outage_seconds"], 3600.0);
    let observed: f64 = days.iter().map(|d| d["observed_seconds"].as_f64().unwrap()).sum();
    let expected = 100.0 * (observed - 3600.0) / observed;
    assert!((up["uptime_percentage"].as_f64().unwrap() - expected).abs() < 1e-9, "{} vs {expected}", up["uptime_percentage"]);
    let rt = p.json("/api/v1/components/web/response-times");
    let points = rt["last_30d"]["points"].as_array().unwrap();
    assert!(points.len() >= 110, "6-hour buckets over 30 days: {}", points.len());
    for pt in points {
        let ms = pt["mean_ms"].as_f64().unwrap();
        assert!((120.0..144.0).contains(&ms), "{ms}");
    }
    let (_, svg) = p.get("/badge/api/uptime.svg?days=1&label=today");
    assert!(svg.contains(">today<"), "{svg}");
    let (_, svg) = p.get("/badge/web/uptime.svg");
    assert!(svg.contains("100%"), "{svg}");
}

/// Console errors and CSP violations that Chromium printed, from its stderr with `--enable-logging=stderr`.
fn browser_complaints(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("Refused to") || l.contains("Content Security Policy") || (l.contains("CONSOLE") && l.contains("rror")))
        .map(str::to_string)
        .collect()
}

fn chromium_run(profile: &Path, args: &[&str], url: &str) -> (String, String) {
    let out = chromium(profile)
        .args(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000"])
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn chromium_shows_the_banner_and_90_days_of_bars_without_console_errors_or_csp_violations() {
    let p = Page::start();
    let profile = p.dir.path().join("chromium");
    // The harness must be able to see a violation: a page whose inline script the CSP refuses.
    let canary =
        "data:text/html,<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\"><script>document.title='x'</script>";
    let (_, stderr) = chromium_run(&profile, &["--dump-dom"], canary);
    assert!(
        !browser_complaints(&stderr).is_empty(),
        "Chromium's log shows no CSP violation for the canary; the check below would be blind:\n{stderr}"
    );

    let url = format!("http://127.0.0.1:{}/", p.port);
    let (dom, stderr) = chromium_run(&profile, &["--dump-dom"], &url);
    assert!(dom.contains("id=\"overall\""), "no page rendered:\n{stderr}");
    assert!(dom.contains("data-indicator=\"major\"") && dom.contains("Partial System Outage"), "the outage banner");
    let complaints = browser_complaints(&stderr);
    assert!(complaints.is_empty(), "console errors or CSP violations: {complaints:#?}");
    for c in ["api", "web"] {
        let start = dom.find(&format!("id=\"component-{c}\"")).unwrap_or_else(|| panic!("component {c} missing"));
        let section = &dom[start..];
        let section = &section[..section.find("</article>").unwrap()];
        assert_eq!(section.matches("<rect class=\"u-").count(), 90, "90 daily bars for {c}");
        assert!(section.contains("<title>"), "every bar has a text alternative");
    }
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("statuspage-outage.png");
    let _ = std::fs::remove_file(&shot);
    let (_, stderr) = chromium_run(&profile, &["--window-size=1000,2000", &format!("--screenshot={}", shot.display())], &url);
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "no screenshot:\n{stderr}");

    // Maintenance on everything public: the banner says so.
    let (st, b) = p.admin(
        "POST",
        "/maintenance",
        &json!({"title": "Full upgrade", "message": "Expect <short> blips.", "all": true, "duration": "1h"}),
    );
    assert!(st.contains("201"), "{st} {b}");
    let (dom, stderr) = chromium_run(&profile, &["--dump-dom"], &url);
    assert!(
        dom.contains("data-indicator=\"maintenance\"") && dom.contains("Service Under Maintenance"),
        "the maintenance banner:\n{stderr}"
    );
    assert!(browser_complaints(&stderr).is_empty());
    assert!(dom.contains("Expect &lt;short&gt; blips."), "the window's message is on the page, escaped");
    let shot = artifacts.join("statuspage-maintenance.png");
    let _ = chromium_run(&profile, &["--window-size=1000,2000", &format!("--screenshot={}", shot.display())], &url);
    assert!(shot.exists());
}

/// `watchpost run` with the page: an outage reaches the page and its JSON, and a maintenance window started
/// through the command line stops the agent probing within a few seconds and shows on the page.
#[test]
fn run_serves_outages_and_admin_maintenance_stops_probing() {
    let target = Target::start("");
    let db = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the db port");
    let db_port = db.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (listen, page_port) = (free_port(), free_port());
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[agent]
interval = "500ms"
timeout = "300ms"
retry_interval = "200ms"
batch_max_age = "100ms"

[store]
type = "sqlite"
path = "{}"

[server]
listen = "127.0.0.1:{listen}"

[statuspage]
listen = "127.0.0.1:{page_port}"
admin_token = "{TOKEN}"

[[endpoints]]
id = "api"
url = "http://127.0.0.1:{}/health"
component = "api"

[[endpoints]]
id = "db"
type = "tcp"
address = "127.0.0.1:{db_port}"
component = "db"
"#,
            dir.path().join("w.db").display(),
            target.port
        ),
    );
    let cfg = cfg.to_str().unwrap();
    let child = spawn(&["run", "--config", cfg]);
    let status_of = |id: &str| -> Option<String> {
        let (_, body) = http_get(page_port, "/api/v2/components.json")?;
        let v: Value = serde_json::from_str(&body).ok()?;
        v["components"].as_array()?.iter().find(|c| c["id"] == id).map(|c| c["status"].as_str().unwrap_or("").to_string())
    };
    let ready = wait_for(Duration::from_secs(20), || status_of("db").as_deref() == Some("operational") && target.count() > 2);
    assert!(ready, "the page never showed db operational: {:?}", status_of("db"));

    // The outage: db's port closes; three refused connects later the page says so.
    drop(db);
    let closed = std::time::Instant::now();
    assert!(wait_for(Duration::from_secs(15), || status_of("db").as_deref() == Some("major_outage")), "{:?}", status_of("db"));
    println!("db closed -> page shows major_outage after {:?} (interval 500 ms, 3 misses)", closed.elapsed());
    let (_, summary) = http_get(page_port, "/api/v2/summary.json").unwrap();
    assert!(summary.contains("Partial System Outage"), "{summary}");

    // Maintenance for api through the command line: the agent stops probing it.
    let out = run(&["maintenance", "--config", cfg, "start", "--title", "Deploy", "--component", "api", "--duration", "10m"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string();
    assert_eq!(status_of("api").as_deref(), Some("under_maintenance"), "the page shows it at once");
    // The agent reads windows every 2 s; after that, no more requests reach the target.
    std::thread::sleep(Duration::from_millis(2_600));
    let before = target.count();
    std::thread::sleep(Duration::from_millis(2_000));
    let during = target.count() - before;
    assert!(during <= 1, "{during} probes reached api during maintenance");
    let out = run(&["maintenance", "--config", cfg, "end", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(wait_for(Duration::from_secs(6), || target.count() > before + during + 2), "probing resumed after the window ended");
    assert!(wait_for(Duration::from_secs(5), || status_of("api").as_deref() == Some("operational")));
    let out = terminate(child);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("maintenance window started") && log.contains("maintenance window ended"), "{log}");
}

#[test]
fn the_page_and_json_are_gzip_encoded_for_clients_that_accept_it() {
    use std::io::{Read, Write};
    let p = Page::start();
    for path in ["/", "/api/v2/summary.json", "/feed.atom"] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        assert!(head.contains("content-encoding: gzip") && head.contains("vary: accept-encoding"), "{path}: {head}");
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&raw[split + 4..]).read_to_string(&mut plain).unwrap();
        // The same document (a re-render in between may change only its "updated" time).
        let direct = p.get(path).1;
        assert!(
            plain.len() > 100 && plain[..100] == direct[..100] && plain.len().abs_diff(direct.len()) < 64,
            "{path}: the gzip body is the plain body"
        );
    }
}

const SECRET: &str = "subscriptions-secret-0123456789abcdef";

/// A webhook receiver on loopback: keeps each request's headers (lower-cased) and body, answers 200.
struct Hook {
    port: u16,
    got: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl Hook {
    fn start() -> Hook {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten().take(100) {
                let mut conn = conn;
                conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let Ok(n) = conn.read(&mut chunk) else { break (String::new(), String::new()) };
                    if n == 0 {
                        break (String::new(), String::new());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len: usize =
                            head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
                        while buf.len() < i + 4 + len {
                            match conn.read(&mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        break (head, String::from_utf8_lossy(&buf[i + 4..]).into_owned());
                    }
                };
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                keep.lock().unwrap().push((head, body));
            }
        });
        Hook { port, got }
    }

    fn bodies(&self) -> Vec<(String, String)> {
        self.got.lock().unwrap().clone()
    }
}

/// The first link in (decoded) text that starts with `prefix`, as a path and query on the page.
fn link(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).unwrap_or_else(|| panic!("no {prefix} link in:\n{text}"));
    let url: String = text[start..].chars().take_while(|c| !c.is_whitespace() && *c != '>').collect();
    url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap()
}

#[test]
fn email_subscribers_confirm_hear_of_incidents_and_unsubscribe_through_a_real_smtp_server() {
    let mail = tempfile::tempdir().unwrap();
    let smtp = common::smtp::SmtpSink::start(mail.path());
    let hook = Hook::start();
    let p = Page::start_with(&format!(
        "\n[statuspage.subscriptions]\nsecret = \"{SECRET}\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_tls = \"none\"\nfrom = \"Acme Status <status@acme.example>\"\n",
        smtp.port
    ));
    assert!(p.get("/").1.contains("action=\"/subscribe\""), "the page offers the form");
    let form = ["Content-Type: application/x-www-form-urlencoded"];
    let (st, body) = http_request(p.port, "POST", "/subscribe", &form, "email=alice%40example.com").unwrap();
    assert!(ok(&st) && body.contains("Check your inbox"), "{st} {body}");
    let (st, _) = http_request(p.port, "POST", "/subscribe", &form, "email=not-an-address").unwrap();
    assert!(st.contains("422"), "{st}");
    let first = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(first.len(), 1, "one confirmation message");
    assert!(first[0].contains("To: alice@example.com") && first[0].contains("Subject: Confirm your subscription"), "{}", first[0]);
    // Asking again does not send again (the form must not flood an inbox).
    let (st, _) = http_request(p.port, "POST", "/subscribe", &form, "email=alice%40example.com").unwrap();
    assert!(ok(&st));

    // Nothing reaches an unconfirmed subscriber.
    let (st, _) = p.admin("POST", "/incidents", &json!({"name": "Before confirming", "components": {"api": "degraded_performance"}}));
    assert!(st.contains("201"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(smtp.messages().len(), 1, "no second confirmation and nothing for the unconfirmed");

    let confirm = link(&decode_qp(&first[0]), "http://127.0.0.1");
    let tampered = confirm.replace("sig=", "sig=0");
    assert!(p.get(&tampered).0.contains("400"), "a tampered link is refused");
    let (st, body) = p.get(&confirm);
    assert!(ok(&st) && body.contains("You are subscribed"), "{st} {body}");

    let (st, s) = p.admin("POST", "/subscribers", &json!({"webhook": format!("http://127.0.0.1:{}/hook", hook.port)}));
    assert!(st.contains("201"), "{st} {s}");
    let (st, _) = p.admin("POST", "/subscribers", &json!({"webhook": "javascript:alert(1)"}));
    assert!(st.contains("422"));

    // A private incident reaches nobody; a public one reaches both.
    let (st, _) = p.admin("POST", "/incidents", &json!({"name": "Private matter", "components": {"internal": "major_outage"}}));
    assert!(st.contains("201"));
    let (st, x) = p.admin(
        "POST",
        "/incidents",
        &json!({"name": "Checkout <failing>", "message": "We are on it.", "components": {"web": "major_outage"}}),
    );
    assert!(st.contains("201"), "{st} {x}");
    let mails = smtp.wait_for(2, Duration::from_secs(10));
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let m = &mails[1];
    assert!(m.contains("To: alice@example.com"));
    assert!(decode_qp(m).contains("Checkout <failing>") && decode_qp(m).contains("We are on it."), "{m}");
    assert!(m.contains("List-Unsubscribe: <http://127.0.0.1") && m.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{m}");
    assert!(!m.contains("Private matter") && !mails[0].contains("Private matter"));
    assert!(wait_for(Duration::from_secs(10), || !hook.bodies().is_empty()), "the webhook got nothing");
    let (head, body) = hook.bodies()[0].clone();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["incident"]["name"], "Checkout <failing>", "{v}");
    let sig = head.lines().find_map(|l| l.strip_prefix("x-watchpost-signature:")).expect("signed").trim().to_string();
    let (t, mac) = sig.split_once(",v1=").unwrap();
    let t = t.trim_start_matches("t=");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let mac: Vec<u8> = (0..mac.len()).step_by(2).map(|i| u8::from_str_radix(&mac[i..i + 2], 16).unwrap()).collect();
    assert!(ring::hmac::verify(&key, format!("{t}.{body}").as_bytes(), &mac).is_ok(), "the signature verifies with the secret");

    // Unsubscribe: the link shows a button; posting it unsubscribes.
    let text = decode_qp(m);
    let unsub = link(&text[text.rfind("\nUnsubscribe: ").expect("an unsubscribe line")..], "http://127.0.0.1");
    let (st, body) = p.get(&unsub);
    assert!(ok(&st) && body.contains("method=\"post\""), "{st} {body}");
    let (st, body) = http_request(p.port, "POST", &unsub, &form, "List-Unsubscribe=One-Click").unwrap();
    assert!(ok(&st) && body.contains("unsubscribed"), "{st} {body}");
    let (st, _) = p.admin("POST", "/maintenance", &json!({"title": "Router swap", "components": ["web"], "duration": "30m"}));
    assert!(st.contains("201"));
    assert!(wait_for(Duration::from_secs(10), || hook.bodies().len() >= 2), "the webhook hears of the maintenance");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(smtp.messages().len(), 2, "nothing more for alice after unsubscribing");
    let v: Value = serde_json::from_str(&hook.bodies()[1].1).unwrap();
    assert_eq!(v["maintenance"]["name"], "Router swap");
}

/// An agent on another machine (here: another process with its own files) reads admin windows from the
/// status page's API: a window started there stops its probes, and while the page is down the agent keeps
/// the windows it last heard of instead of probing (and paging for) what is in maintenance.
#[test]
fn a_remote_agent_follows_admin_windows_over_http_and_keeps_them_while_the_page_is_down() {
    let target = Target::start("");
    let (page_dir, agent_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (page_port, agent_port) = (free_port(), free_port());
    let page_cfg = write_config(
        page_dir.path(),
        &format!(
            "[store]\ntype = \"sqlite\"\npath = \"{}\"\n\n[statuspage]\nlisten = \"127.0.0.1:{page_port}\"\nadmin_token = \"{TOKEN}\"\n\n\
             [[endpoints]]\nid = \"api\"\nurl = \"http://127.0.0.1:{}/health\"\ncomponent = \"api\"\n",
            page_dir.path().join("w.db").display(),
            target.port
        ),
    );
    let agent_cfg = write_config(
        agent_dir.path(),
        &format!(
            "[agent]\ninterval = \"300ms\"\ntimeout = \"200ms\"\nretry_interval = \"100ms\"\nbatch_max_age = \"100ms\"\n\
             maintenance_from = \"http://127.0.0.1:{page_port}\"\nmaintenance_token = \"{TOKEN}\"\n\n\
             [store]\ntype = \"sqlite\"\npath = \"{}\"\n\n[server]\nlisten = \"127.0.0.1:{agent_port}\"\n\n\
             [[endpoints]]\nid = \"api\"\nurl = \"http://127.0.0.1:{}/health\"\ncomponent = \"api\"\n",
            agent_dir.path().join("w.db").display(),
            target.port
        ),
    );
    let (page_cfg, agent_cfg) = (page_cfg.to_str().unwrap(), agent_cfg.to_str().unwrap());
    let page = spawn(&["statuspage", "--config", page_cfg]);
    let agent = spawn(&["agent", "--config", agent_cfg]);
    assert!(
        wait_for(Duration::from_secs(15), || http_get(page_port, "/healthz").is_some() && target.count() > 3),
        "page and agent running"
    );

    let out = run(&["maintenance", "--config", page_cfg, "start", "--title", "Deploy", "--component", "api", "--duration", "10m"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let quiet = |secs: u64| {
        let before = target.count();
        std::thread::sleep(Duration::from_secs(secs));
        target.count() - before
    };
    std::thread::sleep(Duration::from_millis(2_600));
    assert!(quiet(2) <= 1, "the remote agent stopped probing within one refresh");

    // The page goes away; the agent keeps the window it knows.
    let page_out = terminate(page);
    assert!(page_out.status.success() || page_out.status.code().is_none());
    assert!(quiet(3) <= 1, "no probes while the page is down and the window is still on");
    let log = terminate(agent);
    let log = String::from_utf8_lossy(&log.stderr);
    assert!(log.contains("maintenance window started"), "{log}");
}
