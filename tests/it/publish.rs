//! Publishers end to end (DESIGN.md §5.9): `watchpost run` feeds a stand-in Atlassian Statuspage and a
//! stand-in status.io (`common::hosted`, which validates every request against the Statuspage OpenAPI
//! document and status.io's field lists, and enforces one request per second per key).
//!
//! Checked: component status on change only, in each provider's vocabulary; metrics from the rollups (bulk
//! minute points for Statuspage, whole 24/7/30 series for status.io); a scheduled maintenance imported
//! from Statuspage silencing a component on Watchpost's own page; a provider outage (500) and a 429 with
//! Retry-After: nothing is queued, the present state is what arrives afterwards, the rate limit holds; no
//! key in the log.

use crate::common;

use common::hosted::{Hosted, Mode};
use common::{fast_agent, free_port, http_get, terminate, wait_for, write_config, Toggle};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::config::{Config, Format};
use watchpost_core::model::{Point, Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use watchpost_core::time::{format_rfc3339, now_nanos};

const SP_KEY: &str = "sp-key-5b1f0c3e9a7d4e21";
const IO_KEY: &str = "io-key-77c2a9e0d4b14f3a";
const IO_ID: &str = "io-id-0a1b2c3d";
const HOUR: i64 = 3_600_000_000_000;
const DAY: i64 = 24 * HOUR;
const MINUTE: i64 = 60_000_000_000;

fn config(dir: &Path, hosted: &Hosted, page: u16, listen: u16, pay_api: &Toggle, pay_db: &Toggle, web: &Toggle) -> String {
    fast_agent("eu")
        + &format!(
            r#"
[store]
type = "sqlite"
path = "{db}"

[server]
listen = "127.0.0.1:{listen}"

[statuspage]
listen = "127.0.0.1:{page}"

[[statuspage.components]]
id = "payments"

[[statuspage.components]]
id = "web"

[[endpoints]]
id = "pay-api"
url = "{a}"
component = "payments"

[[endpoints]]
id = "pay-db"
url = "{b}"
component = "payments"

[[endpoints]]
id = "web"
url = "{c}"
component = "web"

[publishers.hosted]
type = "statuspage"
url = "{url}"
page_id = "pg1"
api_key = "{SP_KEY}"
components = {{ payments = "sp-pay", web = "sp-web" }}
metrics = [{{ id = "sp-avail", endpoint = "pay-api" }}, {{ id = "sp-p95", endpoint = "pay-api", value = "latency_p95" }}]
import_maintenance = true

[publishers.io]
type = "statusio"
url = "{url}"
statuspage_id = "io-page"
api_id = "{IO_ID}"
api_key = "{IO_KEY}"
components = {{ payments = {{ component = "io-pay", container = "io-k" }} }}
metrics = [{{ id = "io-lat", endpoint = "pay-api", value = "latency_mean" }}]
"#,
            db = dir.join("w.db").display(),
            url = hosted.url(),
            a = pay_api.url(),
            b = pay_db.url(),
            c = web.url(),
        )
}

fn rollup(resolution: Resolution, ts: i64, mean_ms: f64) -> Point {
    let len = resolution.nanos() as f64 / 1e9;
    Point::Rollup(RollupPoint {
        resolution,
        series: Arc::new(SeriesKey {
            endpoint: "pay-api".into(),
            region: ALL_REGIONS.into(),
            component: "payments".into(),
            environment: "production".into(),
        }),
        ts,
        up_s: len * 0.995,
        down_s: len * 0.005,
        maintenance_s: 0.0,
        down_from_s: Some(0.0),
        down_until_s: Some(len * 0.005),
        samples: 12,
        failures: 0,
        under_threshold: 12,
        latency_mean_ms: Some(mean_ms),
        latency_p50_ms: Some(mean_ms),
        latency_p90_ms: Some(mean_ms),
        latency_p95_ms: Some(mean_ms + 5.0),
        latency_p99_ms: Some(mean_ms + 9.0),
        latency_max_ms: Some(mean_ms + 20.0),
        hist: String::new(),
    })
}

/// History the aggregator would have written: 31 days, 48 hours and the last 10 minutes of rollups.
fn seed(cfg: &Config) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let store = watchpost_core::store::open(&cfg.store).await.expect("store");
        let now = now_nanos();
        let mut points = Vec::new();
        for d in 1..=31 {
            points.push(rollup(Resolution::Day, now - now % DAY - d * DAY, 40.0));
        }
        for h in 1..=48 {
            points.push(rollup(Resolution::Hour, now - now % HOUR - h * HOUR, 42.0));
        }
        for m in 2..=11 {
            points.push(rollup(Resolution::Minute, now - now % MINUTE - m * MINUTE, 44.0));
        }
        store.write(&points).await.expect("seed the rollups");
    });
}

fn accepted_statuses(h: &Hosted, path_part: &str) -> Vec<Value> {
    h.received().into_iter().filter(|r| r.path.contains(path_part) && r.status == 200 && r.method != "GET").map(|r| r.body).collect()
}

#[test]
fn publishers_keep_statuspage_and_statusio_in_step() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let hosted = Hosted::start();
    let now = now_nanos();
    hosted.statuspage_maintenance(vec![json!({
        "id": "mnt-1", "name": "Web server upgrade", "status": "in_progress",
        "scheduled_for": format_rfc3339(now - MINUTE), "scheduled_until": format_rfc3339(now + HOUR),
        "components": [{"id": "sp-web", "name": "Web"}], "incident_updates": [{"body": "Upgrading the web tier."}]
    })]);
    let (pay_api, pay_db, web) = (Toggle::start(true), Toggle::start(true), Toggle::start(true));
    let (page, listen) = (free_port(), free_port());
    let text = config(dir.path(), &hosted, page, listen, &pay_api, &pay_db, &web);
    let cfg = Config::from_str_with_env("publish.toml", Format::Toml, &text, &HashMap::new()).unwrap_or_else(|e| panic!("{e}"));
    seed(&cfg);
    let path = write_config(dir.path(), &text);
    let log = dir.path().join("watchpost.log");
    let child = common::watchpost()
        .args(["run", "--config", path.to_str().unwrap()])
        .env("RUST_LOG", "info,watchpost_aggregator=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start watchpost");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // 1. Operational everywhere; `web` is in the maintenance imported from Statuspage, and says so there too.
    let ok = wait_for(Duration::from_secs(30), || {
        hosted.component("sp-pay").as_deref() == Some("operational")
            && hosted.component("io-pay/io-k").as_deref() == Some("100")
            && hosted.component("sp-web").as_deref() == Some("under_maintenance")
    });
    assert!(ok, "statuses: {:?}\n{}", hosted.received().iter().map(|r| (&r.path, &r.body)).collect::<Vec<_>>(), log_text());
    let summary = http_get(page, "/api/v2/summary.json").map(|(_, b)| b).unwrap_or_default();
    let summary: Value = serde_json::from_str(&summary).unwrap_or(Value::Null);
    let web_status = summary["components"].as_array().into_iter().flatten().find(|c| c["name"] == "web").map(|c| c["status"].clone());
    assert_eq!(web_status, Some(json!("under_maintenance")), "{summary}");
    assert!(
        summary["scheduled_maintenances"].as_array().is_some_and(|m| m.iter().any(|m| m["name"] == "Web server upgrade")),
        "the imported window is on Watchpost's page: {summary}"
    );

    // 2. Metrics: Statuspage's bulk points from the minute rollups, status.io's whole series.
    assert!(wait_for(Duration::from_secs(20), || hosted.metric("sp-avail").len() >= 10 && !hosted.metric("io-lat").is_empty()));
    let avail = hosted.metric("sp-avail");
    assert!(avail.iter().all(|p| p["value"].as_f64().is_some_and(|v| (v - 99.5).abs() < 1e-6)), "{avail:?}");
    assert!(hosted.metric("sp-p95").iter().all(|p| p["value"] == json!(49.0)));
    let io = &hosted.metric("io-lat")[0];
    assert_eq!(io["month_values"].as_array().map(|v| v.iter().all(|x| x == &json!(40.0))), Some(true), "{io}");
    assert_eq!(io["day_avg"], json!(42.0), "{io}");

    // 3. One endpoint of `payments` down: a partial outage, in each provider's words.
    pay_api.set(false);
    assert!(
        wait_for(Duration::from_secs(20), || hosted.component("sp-pay").as_deref() == Some("partial_outage")
            && hosted.component("io-pay/io-k").as_deref() == Some("400")),
        "{}",
        log_text()
    );

    // 4. Statuspage answers 500 while the outage gets worse and then better: nothing piles up, and when it
    //    answers again, it gets the present (partial outage: unchanged, so nothing at all).
    let before = hosted.received().len();
    hosted.set(Mode::Fail500);
    pay_db.set(false);
    std::thread::sleep(Duration::from_secs(8));
    pay_db.set(true);
    std::thread::sleep(Duration::from_secs(7));
    let during: Vec<_> = hosted.received()[before..].to_vec();
    hosted.set(Mode::Ok);
    assert!(during.iter().any(|r| r.status == 500), "the outage was seen: {during:?}");
    assert!(during.len() <= 16, "{} requests in 15 s of outage: backoff, not hammering", during.len());
    std::thread::sleep(Duration::from_secs(6));
    let sp: Vec<Value> = accepted_statuses(&hosted, "/components/sp-pay");
    assert_eq!(
        sp,
        vec![json!({"component": {"status": "operational"}}), json!({"component": {"status": "partial_outage"}})],
        "only changes, latest wins"
    );
    assert_eq!(hosted.component("sp-pay").as_deref(), Some("partial_outage"));

    // 5. A 429 with Retry-After: 3 holds every request with that key back for 3 s.
    hosted.set(Mode::TooMany(3));
    pay_api.set(true);
    // The pacer may still be backing off from the outage (up to about 30 s with jitter) before it asks.
    assert!(wait_for(Duration::from_secs(60), || hosted.received().iter().any(|r| r.status == 429)), "{}", log_text());
    let throttled_at =
        hosted.received().iter().filter(|r| r.status == 429).map(|r| (r.at, r.path.starts_with("/v1/"))).next_back().unwrap();
    hosted.set(Mode::Ok);
    assert!(
        wait_for(Duration::from_secs(60), || hosted.component("sp-pay").as_deref() == Some("operational")
            && hosted.component("io-pay/io-k").as_deref() == Some("100")),
        "{}",
        log_text()
    );
    let same_key_after = hosted.received().into_iter().find(|r| r.at > throttled_at.0 && r.path.starts_with("/v1/") == throttled_at.1);
    let waited = same_key_after.map(|r| r.at - throttled_at.0).unwrap_or_default();
    assert!(waited >= Duration::from_millis(2900), "the next request came {waited:?} after the 429");

    let out = terminate(child);
    assert!(out.status.success() || out.status.code().is_none(), "{}", log_text());
    let text = log_text();
    assert!(hosted.violations().is_empty(), "violations: {:#?}", hosted.violations());
    for key in [SP_KEY, IO_KEY, IO_ID] {
        assert!(!text.contains(key), "a key reached the log");
    }
    let io_statuses = accepted_statuses(&hosted, "/v2/component/status/update");
    let codes: Vec<u64> = io_statuses.iter().filter_map(|b| b["current_status"].as_u64()).collect();
    assert_eq!(codes.first(), Some(&100), "{codes:?}");
    assert!(codes.windows(2).all(|w| w[0] != w[1]), "status.io got only changes: {codes:?}");
}
