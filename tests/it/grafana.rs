//! The Grafana dashboards in `grafana/dashboards/`, tested without Grafana: every template variable's query
//! and every panel's InfluxQL query, with the variables substituted as Grafana would, runs against a real
//! `influxd` holding points written by Watchpost's own store, and must succeed and return data. The health
//! dashboard's PromQL runs against a real Prometheus (Debian's) scraping a real `watchpost run`. The
//! provisioning files must parse and point at the dashboards' data sources.

use crate::common;

use common::influxd::Influxd;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::model::{ErrorClass, Point, ProbePoint, Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use watchpost_core::store::Store;
use watchpost_core::time::now_nanos;

const S: i64 = 1_000_000_000;

fn series(endpoint: &str, region: &str) -> Arc<SeriesKey> {
    let component = if endpoint == "api" { "api" } else { "web" };
    Arc::new(SeriesKey { endpoint: endpoint.into(), region: region.into(), component: component.into(), environment: "production".into() })
}

fn probe(endpoint: &str, region: &str, ts: i64, ok: bool) -> Point {
    Point::Probe(ProbePoint {
        series: series(endpoint, region),
        ts,
        availability: if ok { 100.0 } else { 0.0 },
        ok,
        latency_ms: 40.0,
        dns_ms: Some(1.0),
        connect_ms: Some(2.0),
        tls_ms: Some(10.0),
        ttfb_ms: Some(30.0),
        status_code: Some(if ok { 200 } else { 503 }),
        cert_days_left: Some(60.0),
        error: (!ok).then_some(ErrorClass::Status),
        confirmed_down: !ok,
        failed_step: None,
    })
}

fn rollup(resolution: Resolution, endpoint: &str, region: &str, ts: i64, width_s: f64) -> Point {
    let down_s = if endpoint == "web" { width_s / 10.0 } else { 0.0 };
    Point::Rollup(RollupPoint {
        resolution,
        series: series(endpoint, region),
        ts,
        up_s: width_s - down_s,
        down_s,
        maintenance_s: 0.0,
        down_from_s: (down_s > 0.0).then_some(0.0),
        down_until_s: (down_s > 0.0).then_some(down_s),
        samples: (width_s / 5.0) as u64,
        failures: (down_s / 5.0) as u64,
        under_threshold: (width_s / 5.0) as u64 / 2,
        latency_mean_ms: Some(40.0),
        latency_p50_ms: Some(38.0),
        latency_p90_ms: Some(60.0),
        latency_p95_ms: Some(80.0),
        latency_p99_ms: Some(120.0),
        latency_max_ms: Some(200.0),
        hist: String::new(),
    })
}

/// `now-6h` as the InfluxQL time condition Grafana's `$timeFilter` becomes.
fn time_filter(from: &str) -> String {
    format!("time > now() - {}", from.trim_start_matches("now-"))
}

fn rows(answer: &Value) -> Result<usize, String> {
    let r = &answer["results"][0];
    if let Some(e) = r.get("error").or_else(|| answer.get("error")) {
        return Err(e.to_string());
    }
    let series = r.get("series").and_then(Value::as_array).cloned().unwrap_or_default();
    // A row with a value (not only a time) in any column.
    Ok(series
        .iter()
        .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
        .filter(|row| row.as_array().is_some_and(|c| c.iter().skip(1).any(|v| !v.is_null())))
        .count())
}

fn substitute(q: &str, vars: &[(String, String)], time: &str) -> String {
    let mut q = q.replace("$timeFilter", time).replace("$__interval", "1m");
    // Longest names first, so `$endpoint` is not cut by a shorter name.
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (name, value) in vars {
        q = q.replace(&format!("${name}"), &value);
    }
    q
}

#[test]
fn every_dashboard_query_runs_against_influxd_and_returns_data() {
    let influxd = Influxd::start();
    let store = influxd.store();
    let now = now_nanos();
    let mut points = Vec::new();
    for ep in ["api", "web"] {
        for region in ["eu", "us"] {
            for i in 0..360 {
                points.push(probe(ep, region, now - (i + 1) * 5 * S, !(region == "eu" && i % 20 == 0)));
            }
        }
        for region in ["eu", "us", ALL_REGIONS] {
            for m in 1..=60 {
                points.push(rollup(Resolution::Minute, ep, region, now - m * 60 * S, 60.0));
            }
            for h in 1..=72 {
                points.push(rollup(Resolution::Hour, ep, region, now - h * 3600 * S, 3600.0));
            }
        }
    }
    // The rollups also in a retention policy of their own (`rollup_retention_policy`), which the
    // dashboards read when their `rollup_rp` variable names it.
    influxd.post_query("CREATE RETENTION POLICY \"rollups\" ON \"watchpost\" DURATION INF REPLICATION 1");
    let apart = watchpost_core::store::influx::InfluxStore::new(&watchpost_core::config::InfluxConfig {
        rollup_retention_policy: Some("rollups".into()),
        ..influxd.config()
    })
    .unwrap();
    let rollups: Vec<Point> = points.iter().filter(|p| matches!(p, Point::Rollup(_))).cloned().collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for chunk in points.chunks(2000) {
            store.write(chunk).await.expect("write the data set");
        }
        for chunk in rollups.chunks(2000) {
            apart.write(chunk).await.expect("write the rollups apart");
        }
    });

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    for (file, rollup_rp) in
        files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")).flat_map(|f| [(f, ""), (f, "\"rollups\".")])
    {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(d["uid"].as_str().is_some_and(|u| u.starts_with("watchpost-")), "{name}: a stable uid");
        if is_prometheus(&d) {
            continue; // the health dashboard: tested against Prometheus below
        }
        let time = time_filter(d["time"]["from"].as_str().unwrap_or("now-6h"));
        // Variables in order: each may use the ones before it (`$environment` in the endpoint query).
        let mut vars: Vec<(String, String)> = Vec::new();
        for v in d["templating"]["list"].as_array().cloned().unwrap_or_default() {
            let vname = v["name"].as_str().unwrap().to_string();
            if v["type"] == "textbox" {
                // Typed by the operator: blank reads the database's default retention policy.
                assert_eq!(vname, "rollup_rp", "{name}: the one textbox");
                assert_eq!(v["query"], "", "{name}: blank by default");
                vars.push((vname, rollup_rp.to_string()));
                continue;
            }
            assert_eq!(v["datasource"]["uid"], "watchpost-influxdb", "{name}: variable {vname}");
            let q = substitute(v["query"].as_str().unwrap(), &vars, &time);
            let answer = influxd.query(&q);
            let values: Vec<String> = answer["results"][0]["series"][0]["values"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r[1].as_str().map(str::to_string))
                .collect();
            assert!(!values.is_empty(), "{name}: variable {vname} has no values: {q}\n{answer}");
            // What Grafana puts into `/^$var$/`: the one value, or all of them as an alternation.
            let value = if v["multi"].as_bool() == Some(true) { format!("({})", values.join("|")) } else { values[0].clone() };
            vars.push((vname, value));
        }
        for p in d["panels"].as_array().cloned().unwrap_or_default() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            assert_eq!(p["datasource"]["uid"], "watchpost-influxdb", "{name}: {title}");
            for t in p["targets"].as_array().cloned().unwrap_or_default() {
                assert_eq!(t["rawQuery"], true, "{name}: {title}: raw InfluxQL, so that this test runs what Grafana runs");
                let q = substitute(t["query"].as_str().unwrap(), &vars, &time);
                // A `$` before a name is a variable left over (`$/` ends a regex).
                let leftover =
                    q.match_indices('$').any(|(i, _)| q[i + 1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '{'));
                assert!(!leftover, "{name}: {title}: an unknown variable in {q}");
                match rows(&influxd.query(&q)) {
                    Ok(0) => failures.push(format!("{name}: {title}: no data: {q}")),
                    Ok(_) => {}
                    Err(e) => failures.push(format!("{name}: {title}: {e}: {q}")),
                }
                checked += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 10, "only {checked} panel queries found");
}

/// A dashboard on a Prometheus data source (chosen by a `datasource` variable).
fn is_prometheus(d: &Value) -> bool {
    d["templating"]["list"].as_array().into_iter().flatten().any(|v| v["type"] == "datasource" && v["query"] == "prometheus")
}

#[test]
fn the_health_dashboard_queries_a_real_prometheus_scraping_watchpost() {
    use common::{free_port, http_get, terminate, wait_for, write_config, Toggle};
    let dir = tempfile::tempdir().unwrap();
    let (up, down) = (Toggle::start(true), Toggle::start(false));
    let providers = common::providers::Providers::start();
    let listen = free_port();
    let text = format!(
        r#"
[store]
type = "sqlite"
path = "{db}"
[server]
listen = "127.0.0.1:{listen}"
[regions]
expected = ["eu", "us"]
[[endpoints]]
id = "up"
url = "{u}"
[[endpoints]]
id = "down"
url = "{d}"
[alerting]
evaluation_interval = "200ms"
{paging}
[[alerting.rules]]
name = "down"
when = "availability < 100"
"#,
        db = dir.path().join("w.db").display(),
        u = up.url(),
        d = down.url(),
        paging = providers.pagerduty_paging()
    );
    let text = common::fast_agent("eu") + &text;
    let cfg = write_config(dir.path(), &text);
    let watchpost = common::spawn(&["run", "--config", cfg.to_str().unwrap()]);
    let prom = common::Prometheus::start(
        dir.path(),
        &format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: watchpost\n    static_configs:\n      - targets: ['127.0.0.1:{listen}']\n"),
    );
    let query = |q: &str| prom.query(q);
    assert!(
        wait_for(Duration::from_secs(30), || query("up{job=\"watchpost\"}")["data"]["result"][0]["value"][1] == "1"),
        "Prometheus does not scrape watchpost: {}",
        prom.log_tail()
    );
    let d: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards/watchpost-health.json")).unwrap(),
    )
    .unwrap();
    assert!(is_prometheus(&d));
    let mut exprs = Vec::new();
    for p in d["panels"].as_array().cloned().unwrap_or_default() {
        if p["type"] == "row" || p["type"] == "text" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${prometheus}", "{}: the data source variable", p["title"]);
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            exprs.push((p["title"].as_str().unwrap_or("?").to_string(), t["expr"].as_str().unwrap().to_string()));
        }
    }
    assert!(exprs.len() >= 12, "only {} queries", exprs.len());
    // Rates need two scrapes, the region gauges the aggregator's first board: give every query 30 s.
    let mut failures = Vec::new();
    for (title, expr) in &exprs {
        let ok = wait_for(Duration::from_secs(30), || {
            let a = query(expr);
            a["status"] == "success" && a["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
        });
        if !ok {
            failures.push(format!("{title}: {expr}: {}", query(expr)));
        }
    }
    // Each endpoint's last probe under blackbox_exporter's names, and the process metrics client libraries
    // export, as Prometheus stored them.
    let value = |q: &str| prom.value(q);
    let blackbox: [(&str, Option<&str>); 9] = [
        ("probe_success{endpoint=\"up\",region=\"eu\",environment=\"production\"}", Some("1")),
        ("probe_success{endpoint=\"down\"}", Some("0")),
        ("probe_http_status_code{endpoint=\"down\"}", Some("503")),
        ("watchpost_endpoint_confirmed_down{endpoint=\"down\"}", Some("1")),
        ("watchpost_endpoint_up{endpoint=\"up\"}", Some("1")),
        ("count(probe_http_duration_seconds{endpoint=\"up\"})", Some("5")),
        ("watchpost_build_info", Some("1")),
        ("process_resident_memory_bytes > 1e6", None),
        ("rate(process_cpu_seconds_total[5s]) >= 0", None),
    ];
    for (q, want) in blackbox {
        let ok = wait_for(Duration::from_secs(30), || match want {
            Some(w) => value(q).as_deref() == Some(w),
            None => value(q).is_some(),
        });
        if !ok {
            failures.push(format!("{q}: expected {want:?}, got {}", query(q)));
        }
    }
    // The exposition as Prometheus's own linter reads it (a summary with `_sum` and `_count`, no quantile 1).
    let promtool = common::which("promtool")
        .unwrap_or_else(|| panic!("promtool is not installed: run scripts/test.sh, or `apt-get install prometheus`"));
    let (_, text) = http_get(listen, "/metrics").expect("/metrics");
    let mut lint = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    std::io::Write::write_all(&mut lint.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let lint = lint.wait_with_output().unwrap();
    drop(prom);
    let _ = terminate(watchpost);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        lint.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}

#[test]
fn provisioning_points_grafana_at_the_dashboards_and_their_data_source() {
    use saphyr::{LoadableYamlNode, Yaml};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/provisioning");
    let ds = std::fs::read_to_string(root.join("datasources/watchpost.yaml")).unwrap();
    let docs = Yaml::load_from_str(&ds).expect("datasource YAML");
    let d = &docs[0]["datasources"][0];
    assert_eq!(d["uid"].as_str(), Some("watchpost-influxdb"));
    assert_eq!(d["type"].as_str(), Some("influxdb"));
    assert_eq!(d["jsonData"]["version"].as_str(), Some("InfluxQL"));
    assert_eq!(d["jsonData"]["dbName"].as_str(), Some("watchpost"));
    let prom = std::fs::read_to_string(root.join("datasources/prometheus.yaml")).unwrap();
    let docs = Yaml::load_from_str(&prom).expect("Prometheus datasource YAML");
    assert_eq!(docs[0]["datasources"][0]["type"].as_str(), Some("prometheus"));
    assert_eq!(docs[0]["datasources"][0]["url"].as_str(), Some("${WATCHPOST_PROMETHEUS_URL}"));
    let dash = std::fs::read_to_string(root.join("dashboards/watchpost.yaml")).unwrap();
    let docs = Yaml::load_from_str(&dash).expect("dashboard provider YAML");
    assert_eq!(docs[0]["providers"][0]["type"].as_str(), Some("file"));
    assert!(docs[0]["providers"][0]["options"]["path"].as_str().is_some());
}
