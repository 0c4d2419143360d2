//! SLA reports proven against an independent method. A month of raw points (every 30 s) for two components,
//! reported for Europe/Berlin: an outage across local midnight, one across the month boundary, one that runs
//! into a maintenance window, two on one day, two regions down at once, transient misses, a weekly
//! maintenance window whose October occurrence spans the end of summer time, and a region silent for an hour.
//! The points are rolled up by the real aggregator; the report, read from the rollups only, must equal what a
//! second-by-second replay of the same points says: availability to 1e-9, downtime, maintenance and incidents
//! to the second, percentiles within the histogram's precision. On SQLite (also through the `watchpost
//! report` command, with the HTML rendered and printed by headless Chromium) and on a real `influxd`.

use crate::common;

use common::influxd::Influxd;
use common::sqlite_store;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use watchpost_aggregator::config::AggregatorParts;
use watchpost_aggregator::report::{self, period, render, Inputs, Report};
use watchpost_aggregator::{metrics::AggregatorMetrics, Aggregator};
use watchpost_core::config::{Config, Format};
use watchpost_core::model::{MaintenancePoint, Point, ProbePoint, SeriesKey};
use watchpost_core::store::Store;
use watchpost_core::time::{Nanos, TimeRange};

const S: i64 = 1_000_000_000;
const SLOT: i64 = 30;

/// Seconds since the epoch of an RFC 3339 instant.
fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

const CONFIG: &str = r#"
[[endpoints]]
id = "api"
url = "http://api.invalid/"
component = "pay"
interval = "30s"

[[endpoints]]
id = "web"
url = "http://web.invalid/"
component = "site"
interval = "30s"

[aggregator]
backfill = "33d"

# Sundays 01:30 Berlin time for two hours (elapsed): on 25 October summer time ends inside it.
[[maintenance]]
id = "sunday"
title = "Weekly database upgrade"
cron = "30 1 * * sun"
duration = "2h"
timezone = "Europe/Berlin"
components = ["pay"]

[sla.acme]
title = "Acme <Payments> & Co"
components = ["pay", "site"]
target = 99.95
timezone = "Europe/Berlin"
"#;

fn config(extra: &str) -> Config {
    Config::from_str_with_env("t.toml", Format::Toml, &format!("{extra}{CONFIG}"), &HashMap::new()).unwrap()
}

/// What one series does over the fixture: `[from, to)` ranges in seconds.
struct Spec {
    endpoint: &'static str,
    region: &'static str,
    component: &'static str,
    /// Seconds after each half minute at which it probes.
    phase: i64,
    down: Vec<(i64, i64)>,
    silent: Vec<(i64, i64)>,
    maintenance: Vec<(i64, i64)>,
    /// Probes at these seconds (of the 6-hourly cycle) miss once and succeed on the retry 1 s later.
    transient_at: Option<i64>,
}

/// The maintenance occurrences, worked out by hand from the rule (01:30 Berlin, 2 h elapsed), in UTC:
/// 01:30 CEST is 23:30Z the day before; on 1 November 01:30 CET is 00:30Z.
fn maintenance_windows() -> Vec<(i64, i64)> {
    [
        ("2026-10-03T23:30:00Z", "2026-10-04T01:30:00Z"),
        ("2026-10-10T23:30:00Z", "2026-10-11T01:30:00Z"),
        ("2026-10-17T23:30:00Z", "2026-10-18T01:30:00Z"),
        // Starts at 01:30 CEST; clocks go back at 03:00 CEST (01:00Z); ends two hours later at 02:30 CET.
        ("2026-10-24T23:30:00Z", "2026-10-25T01:30:00Z"),
        ("2026-11-01T00:30:00Z", "2026-11-01T02:30:00Z"),
    ]
    .iter()
    .map(|(a, b)| (at(a), at(b)))
    .collect()
}

fn specs() -> Vec<Spec> {
    let r = |a: &str, b: &str| (at(a), at(b));
    vec![
        Spec {
            endpoint: "api",
            region: "eu",
            component: "pay",
            phase: 0,
            down: vec![
                // Across local midnight: 23:50 to 00:20:30 Berlin time.
                r("2026-10-07T21:50:00Z", "2026-10-07T22:20:30Z"),
                // Two outages on one day: the day's rollup is not one stretch, so the report reads its hours.
                r("2026-10-14T08:00:00Z", "2026-10-14T08:05:00Z"),
                r("2026-10-14T15:00:00Z", "2026-10-14T15:02:30Z"),
                // Overlaps an outage in us: one incident with both regions.
                r("2026-10-21T12:00:00Z", "2026-10-21T12:10:00Z"),
            ],
            silent: vec![],
            maintenance: maintenance_windows(),
            transient_at: None,
        },
        Spec {
            endpoint: "api",
            region: "us",
            component: "pay",
            phase: 15,
            down: vec![
                // Runs into the maintenance window: the last down point stands until the first maintenance slot.
                r("2026-10-10T23:00:15Z", "2026-10-10T23:30:15Z"),
                r("2026-10-21T12:05:15Z", "2026-10-21T12:20:15Z"),
            ],
            silent: vec![r("2026-10-20T10:00:15Z", "2026-10-20T11:00:15Z")],
            maintenance: maintenance_windows(),
            transient_at: Some(15),
        },
        Spec {
            endpoint: "web",
            region: "eu",
            component: "site",
            phase: 0,
            // Across the month boundary in Berlin: 23:40 on 31 October to 00:15 on 1 November.
            down: vec![r("2026-10-31T22:40:00Z", "2026-10-31T23:15:00Z")],
            silent: vec![],
            maintenance: vec![],
            transient_at: None,
        },
    ]
}

fn data_range() -> (i64, i64) {
    (at("2026-09-30T12:00:00Z"), at("2026-11-01T04:00:00Z"))
}

fn latency(t: i64) -> f64 {
    20.0 + ((t * 7919) % 480) as f64 + (t % 3) as f64 * 0.25
}

/// What a series' events are, in seconds: `u`p, `d`own or `m`aintenance, with probe details for latency.
struct Generated {
    points: Vec<Point>,
    /// Per series index: (second, state).
    events: Vec<Vec<(i64, char)>>,
    /// Per series index: (second, ok, latency) of every probe.
    probes: Vec<Vec<(i64, bool, f64)>>,
}

fn generate() -> Generated {
    let (start, end) = data_range();
    let inside = |ranges: &[(i64, i64)], t: i64| ranges.iter().any(|(a, b)| (*a..*b).contains(&t));
    let mut g = Generated { points: vec![], events: vec![], probes: vec![] };
    for spec in specs() {
        let series = Arc::new(SeriesKey {
            endpoint: spec.endpoint.into(),
            region: spec.region.into(),
            component: spec.component.into(),
            environment: "production".into(),
        });
        let mut events: Vec<(i64, char)> = vec![];
        let mut probes: Vec<(i64, bool, f64)> = vec![];
        let mut probe = |t: i64, up: bool, ok: bool, points: &mut Vec<Point>, events: &mut Vec<(i64, char)>| {
            points.push(Point::Probe(ProbePoint {
                series: series.clone(),
                ts: t * S,
                availability: if up { 100.0 } else { 0.0 },
                ok,
                latency_ms: latency(t),
                dns_ms: None,
                connect_ms: None,
                tls_ms: None,
                ttfb_ms: None,
                status_code: Some(if ok { 200 } else { 503 }),
                cert_days_left: None,
                error: None,
                confirmed_down: !up,
                failed_step: None,
            }));
            events.push((t, if up { 'u' } else { 'd' }));
            probes.push((t, ok, latency(t)));
        };
        let mut t = start + spec.phase;
        while t < end {
            if inside(&spec.maintenance, t) {
                g.points.push(Point::Maintenance(MaintenancePoint {
                    endpoint: spec.endpoint.into(),
                    region: spec.region.into(),
                    ts: t * S,
                    active: true,
                }));
                events.push((t, 'm'));
            } else if inside(&spec.silent, t) {
            } else if inside(&spec.down, t) {
                probe(t, false, false, &mut g.points, &mut events);
            } else if spec.transient_at.is_some_and(|s| t.rem_euclid(21_600) == s) {
                probe(t, true, false, &mut g.points, &mut events);
                probe(t + 1, true, true, &mut g.points, &mut events);
            } else {
                probe(t, true, true, &mut g.points, &mut events);
            }
            t += SLOT;
        }
        g.events.push(events);
        g.probes.push(probes);
    }
    g.points.sort_by_key(Point::ts);
    g
}

/// The expected figures of one component over `[from, to)`, by the independent method: every second is in
/// the state of the newest event at or before it that is less than a slot old, else in none.
#[derive(Debug)]
struct Expected {
    up: f64,
    down: f64,
    maintenance: f64,
    unmonitored: f64,
    /// (start, end, regions) in seconds.
    incidents: Vec<(i64, i64, BTreeSet<String>)>,
    /// Latencies of the ok probes, sorted; and the number of probes.
    latencies: Vec<f64>,
    samples: u64,
    under_300: u64,
}

fn expected(g: &Generated, component: &str, from: i64, to: i64) -> Expected {
    let specs = specs();
    let mut e =
        Expected { up: 0.0, down: 0.0, maintenance: 0.0, unmonitored: 0.0, incidents: vec![], latencies: vec![], samples: 0, under_300: 0 };
    let n = (to - from) as usize;
    let mut down_regions: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
    for (i, spec) in specs.iter().enumerate().filter(|(_, s)| s.component == component) {
        let ev = &g.events[i];
        let mut k = 0; // index of the newest event at or before `sec`
        for sec in from..to {
            while k + 1 < ev.len() && ev[k + 1].0 <= sec {
                k += 1;
            }
            match ev.get(k).filter(|(t, _)| *t <= sec && sec - t < SLOT) {
                Some((_, 'u')) => e.up += 1.0,
                Some((_, 'd')) => {
                    e.down += 1.0;
                    down_regions[(sec - from) as usize].insert(spec.region.to_string());
                }
                Some(_) => e.maintenance += 1.0,
                None => e.unmonitored += 1.0,
            }
        }
        for (t, ok, ms) in g.probes[i].iter().filter(|(t, _, _)| (from..to).contains(t)) {
            let _ = t;
            e.samples += 1;
            if *ok {
                e.latencies.push(*ms);
                e.under_300 += u64::from(*ms < 300.0);
            }
        }
    }
    e.latencies.sort_by(f64::total_cmp);
    let mut sec = 0;
    while sec < n {
        if down_regions[sec].is_empty() {
            sec += 1;
            continue;
        }
        let first = sec;
        let mut regions = BTreeSet::new();
        while sec < n && !down_regions[sec].is_empty() {
            regions.extend(down_regions[sec].iter().cloned());
            sec += 1;
        }
        e.incidents.push((from + first as i64, from + sec as i64, regions));
    }
    e
}

/// Loads the fixture into `store` and rolls it up with real aggregator cycles, as if run just after it ended.
async fn load(store: Arc<dyn Store>, g: &Generated) {
    for chunk in g.points.chunks(20_000) {
        store.write(chunk).await.unwrap();
    }
    let cfg = config("");
    let mut a = Aggregator::new(&cfg, store.clone(), Arc::new(AggregatorMetrics::default()));
    let (_, end) = data_range();
    let stats = a.cycle(end * S + 91 * S).await.unwrap();
    assert!(stats.days >= 31 && stats.hours >= 24 * 31, "{stats:?}");
}

async fn build(store: &dyn Store, cfg: &Config, period_spec: &str) -> Report {
    let (_, parts) = AggregatorParts::parse("t.toml", Format::Toml, CONFIG, &HashMap::new()).unwrap();
    let sla = &parts.sla["acme"];
    let period = period::resolve(Some(period_spec), None, None, &sla.tz).unwrap();
    let sources = watchpost_core::maintenance::sources(cfg);
    let windows = watchpost_core::maintenance::windows(&sources, TimeRange::new(period.from, period.to)).await;
    let inputs =
        Inputs { sla, period, endpoints: &cfg.endpoints, windows, rollup_objective_ms: 300.0, now: watchpost_core::time::now_nanos() };
    let mut calls = 0;
    let r = report::build(store, inputs, &mut |done, total| {
        calls += 1;
        assert!(done <= total);
    })
    .await
    .unwrap();
    assert!(calls >= 2, "progress is reported");
    r
}

fn secs(ns: Nanos) -> i64 {
    ns.div_euclid(S)
}

/// Compares one report with the independent method, section by section.
fn compare(r: &Report, g: &Generated) {
    let (from, until) = (secs(r.period.from), secs(r.data_until));
    assert_eq!(r.sections.len(), 2, "pay and site, production");
    for s in &r.sections {
        let e = expected(g, &s.component, from, until);
        let what = format!("{} in {}", s.component, r.period.label);
        let t = &s.totals;
        assert_eq!((t.up_s, t.down_s, t.maintenance_s), (e.up, e.down, e.maintenance), "{what}: up/down/maintenance seconds");
        let availability = 100.0 * e.up / (e.up + e.down);
        assert!((t.availability.unwrap() - availability).abs() < 1e-9, "{what}: {:?} vs {availability}", t.availability);
        assert!((s.unmonitored_s - e.unmonitored).abs() < 1e-6, "{what}: unmonitored {} vs {}", s.unmonitored_s, e.unmonitored);
        let budget = (e.up + e.down) * (1.0 - 99.95 / 100.0);
        assert!((s.error_budget_left_s - (budget - e.down)).abs() < 1e-6, "{what}: error budget");
        assert_eq!(s.met, Some(availability >= 99.95), "{what}");
        let got: Vec<(i64, i64, BTreeSet<String>)> = s.incidents.iter().map(|i| (secs(i.start), secs(i.end), i.regions.clone())).collect();
        assert_eq!(got, e.incidents, "{what}: incidents to the second");
        assert_eq!(t.samples, e.samples, "{what}: probes");
        assert!((t.under_objective.unwrap() - 100.0 * e.under_300 as f64 / e.samples as f64).abs() < 1e-9, "{what}: share under 300 ms");
        for (q, got) in [(0.50, t.p50_ms), (0.95, t.p95_ms), (0.99, t.p99_ms)] {
            let want = e.latencies[((e.latencies.len() as f64 * q).ceil() as usize).max(1) - 1];
            let got = got.unwrap();
            assert!((got - want).abs() <= want * 1e-3 + 1e-3, "{what}: p{}: {got} vs exact {want}", q * 100.0);
        }
    }
}

/// October and November (partial) in Berlin, checked against the replay; returns October's.
async fn check(store: Arc<dyn Store>, g: &Generated) -> Report {
    load(store.clone(), g).await;
    let cfg = config("");
    let oct = build(&*store, &cfg, "2026-10").await;
    assert_eq!((oct.period.from, oct.period.to), (at("2026-09-30T22:00:00Z") * S, at("2026-10-31T23:00:00Z") * S));
    assert_eq!(oct.data_until, oct.period.to, "October is complete");
    compare(&oct, g);

    let pay = &oct.sections[0];
    assert_eq!(pay.component, "pay");
    // The worked-out incidents, as a partner would read them (Berlin time).
    let shown: Vec<(String, String)> =
        pay.incidents.iter().map(|i| (period::local_human(i.start, &oct.tz), period::local_human(i.end, &oct.tz))).collect();
    assert_eq!(shown[0], ("2026-10-07 23:50:00 CEST".to_string(), "2026-10-08 00:20:30 CEST".to_string()), "across local midnight");
    assert_eq!(pay.incidents[1].duration_s(), 1800.0, "runs into maintenance: ends at the first maintenance slot");
    assert_eq!(pay.incidents.len(), 5);
    assert_eq!(pay.incidents[4].regions.len(), 2, "both regions down at once: one incident");
    assert_eq!(pay.unmonitored_s, 3600.0, "the silent hour of us is neither up nor down");
    let windows: Vec<(i64, i64)> = pay.maintenance.iter().map(|w| (secs(w.start), secs(w.end))).collect();
    assert_eq!(windows, maintenance_windows()[..4].to_vec(), "October's windows, the DST one at its true length");
    assert_eq!(pay.totals.maintenance_s, 4.0 * 2.0 * 7200.0, "two hours in each region, four Sundays");
    let site = &oct.sections[1];
    assert_eq!(site.incidents.len(), 1);
    assert!(site.incidents[0].continues && !site.incidents[0].began_before, "across the month boundary: continues");
    assert_eq!(secs(site.incidents[0].end), at("2026-10-31T23:00:00Z"));

    let nov = build(&*store, &cfg, "2026-11").await;
    assert_eq!(nov.data_until, at("2026-11-01T04:00:00Z") * S, "November is partial: rollups end with the data");
    compare(&nov, g);
    let site = &nov.sections[1];
    assert!(site.incidents[0].began_before && !site.incidents[0].continues);
    assert_eq!(site.incidents[0].duration_s(), 900.0, "the rest of the boundary outage, until 00:15 Berlin time");
    assert_eq!(nov.sections[0].maintenance.len(), 1, "windows not yet begun are not taken");
    oct
}

#[tokio::test]
async fn sqlite_report_equals_an_independent_replay() {
    let g = generate();
    let (dir, store) = sqlite_store().await;
    let oct = check(Arc::new(store), &g).await;

    // Renderers: JSON carries the same figures, CSV parses into its rows, HTML has both charts per section.
    let json: serde_json::Value = serde_json::from_str(&render::render(&oct, render::Format::Json)).unwrap();
    assert_eq!(json["sections"][0]["availability_pct"].as_f64(), oct.sections[0].totals.availability);
    assert_eq!(json["from"], "2026-10-01T00:00:00+02:00");
    assert_eq!(json["sections"][0]["incidents"][0]["start"], "2026-10-07T23:50:00+02:00");
    let csv = render::render(&oct, render::Format::Csv);
    let rows: Vec<&str> = csv.lines().collect();
    let width = rows[0].split(',').count();
    assert!(rows.iter().all(|r| r.split(',').count() == width), "every row has the header's columns");
    assert_eq!(rows.iter().filter(|r| r.starts_with("incident,")).count(), 6);
    assert_eq!(rows.iter().filter(|r| r.starts_with("maintenance,")).count(), 4);
    let html = render::render(&oct, render::Format::Html);
    assert!(html.contains("Acme &lt;Payments&gt; &amp; Co") && !html.contains("<Payments>"), "configuration text is escaped");
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"), "self-contained");

    // The command line, on the same database.
    let cfg_path = common::write_config(
        dir.path(),
        &format!("[store]\ntype = \"sqlite\"\npath = \"{}\"\n{CONFIG}", dir.path().join("w.db").display()),
    );
    let cfg = cfg_path.to_str().unwrap();
    let out = common::run(&["report", "--config", cfg, "--sla", "acme", "--period", "2026-10", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "quiet when not on a terminal: {}", String::from_utf8_lossy(&out.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["sections"], json["sections"], "the command prints what the library builds");
    // On a terminal (a pseudo-terminal from util-linux's `script`, part of Debian's essential bsdutils), the
    // same command shows its progress on stderr.
    let shell = format!(
        "{} report --config {cfg} --sla acme --period 2026-10 --format csv --out {}",
        common::bin(),
        dir.path().join("tty.csv").display()
    );
    let tty = std::process::Command::new("script").args(["-qec", &shell, "/dev/null"]).output().expect("run script(1) from bsdutils");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success() && shown.contains("reading rollups: 1/") && shown.contains("ranges"), "progress on a terminal: {shown:?}");
    let bad = common::run(&["report", "--config", cfg, "--sla", "acmee", "--period", "2026-10"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no SLA report named `acmee`; defined: acme"));
    let bad = common::run(&["report", "--config", cfg, "--sla", "acme", "--period", "2026-13"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected a month (2026-10) or a quarter (2026-Q4)"));

    // HTML through the command, rendered and printed by headless Chromium.
    let page = dir.path().join("report.html");
    let out = common::run(&[
        "report",
        "--config",
        cfg,
        "--sla",
        "acme",
        "--period",
        "2026-10",
        "--format",
        "html",
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = format!("file://{}", page.display());
    let dom = common::chromium(&dir.path().join("profile")).args(["--dump-dom", &url]).output().expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    for class in ["uptime", "latency"] {
        assert_eq!(dom.matches(&format!("<svg class=\"{class}\"")).count(), 2, "an {class} chart per section, as parsed by Chromium");
    }
    // 32 daily bars for pay (31 October days in UTC plus the two Berlin hours of 30 September), red for the
    // days that missed the target, and the three percentile lines.
    let pay_chart = &dom[dom.find("<svg class=\"uptime\"").unwrap()..];
    let pay_chart = &pay_chart[..pay_chart.find("</svg>").unwrap()];
    assert_eq!(pay_chart.matches("<rect").count(), 32);
    assert!(pay_chart.contains("#cf222e"), "days under the target are red");
    assert_eq!(dom.matches("<polyline").count(), 6);
    let pdf = dir.path().join("report.pdf");
    let out = common::chromium(&dir.path().join("profile2"))
        .args([&format!("--print-to-pdf={}", pdf.display()), "--no-pdf-header-footer", &url])
        .output()
        .expect("run chromium");
    let bytes = std::fs::read(&pdf).unwrap_or_else(|e| panic!("no PDF ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert!(bytes.starts_with(b"%PDF-") && bytes.len() > 10_000, "a real PDF: {} bytes", bytes.len());
    let pages = bytes.windows(b"/Type /Page\n".len()).filter(|w| w.starts_with(b"/Type /Page") && !w.starts_with(b"/Type /Pages")).count();
    assert!(pages >= 2, "the report prints over several A4 pages ({pages})");
    let shot = dir.path().join("report.png");
    let _ = common::chromium(&dir.path().join("profile3"))
        .args([&format!("--screenshot={}", shot.display()), "--window-size=1000,2400", &url])
        .output();
    if let Ok(target) = std::env::var("CARGO_TARGET_TMPDIR") {
        // Kept as a test artifact for people to look at.
        let _ = std::fs::copy(&shot, std::path::Path::new(&target).join("sla-report.png"));
        let _ = std::fs::copy(&page, std::path::Path::new(&target).join("sla-report.html"));
    }
}

#[tokio::test]
async fn influxdb_report_equals_the_replay_and_sqlite() {
    let g = generate();
    let server = Influxd::start();
    let from_influx = check(Arc::new(server.store()), &g).await;
    let (_dir, store) = sqlite_store().await;
    let from_sqlite = check(Arc::new(store), &g).await;
    let json = |r: &Report| {
        let mut v: serde_json::Value = serde_json::from_str(&render::render(r, render::Format::Json)).unwrap();
        v["generated_at"] = serde_json::Value::Null;
        v
    };
    assert_eq!(json(&from_influx), json(&from_sqlite), "both stores give the same report");
}

/// Issue 17, defect 5: a month that was never rolled up (the aggregator started after it) said `complete:
/// true`. It is incomplete until `backfill` rolls up its history, after which it equals the replay exactly;
/// a second backfill writes nothing.
#[tokio::test]
async fn regression_a_month_never_rolled_up_is_incomplete_until_backfilled() {
    let g = generate();
    let (_dir, store) = sqlite_store().await;
    let store: Arc<dyn Store> = Arc::new(store);
    for chunk in g.points.chunks(20_000) {
        store.write(chunk).await.unwrap();
    }
    // The aggregator starts just after the data with its default backfill of one day: October is history.
    let mut cfg = config("");
    cfg.aggregator.backfill = std::time::Duration::from_secs(86_400);
    let mut a = Aggregator::new(&cfg, store.clone(), Arc::new(AggregatorMetrics::default()));
    let (start, end) = data_range();
    a.cycle(end * S + 91 * S).await.unwrap();
    let oct = build(&*store, &cfg, "2026-10").await;
    assert!(!oct.complete(), "rollups from {:?} only", oct.rolled_up_from);
    let json: serde_json::Value = serde_json::from_str(&render::render(&oct, render::Format::Json)).unwrap();
    assert_eq!(json["complete"], false);
    let mut days = 0;
    let stats = a.backfill(start * S, i64::MAX, &mut |_, done, total, _| days = days.max(done).max(total)).await.unwrap();
    assert!(stats.minutes > 0 && stats.hours > 0 && stats.days >= 30, "{stats:?}");
    assert!(days >= 31, "progress per day ({days})");
    let oct = build(&*store, &cfg, "2026-10").await;
    assert!(oct.complete(), "backfilled from {:?}", oct.rolled_up_from);
    compare(&oct, &g);
    let again = a.backfill(start * S, i64::MAX, &mut |_, _, _, _| {}).await.unwrap();
    assert_eq!(again.rollups_written, 0, "a second backfill writes nothing: {again:?}");

    // A configured endpoint without a single rollup in the period: incomplete, and counted as unmonitored.
    let extra = "[[endpoints]]\nid = \"new\"\nurl = \"http://new.invalid/\"\ncomponent = \"pay\"\ninterval = \"30s\"\n";
    let with_new = config(extra);
    let oct = build(&*store, &with_new, "2026-10").await;
    assert!(!oct.complete());
    let pay = oct.sections.iter().find(|s| s.component == "pay").unwrap();
    assert_eq!(pay.unmonitored_endpoints, vec!["new".to_string()]);
    assert!(pay.unmonitored_s >= 31.0 * 86_400.0, "a month of the new endpoint unmonitored: {}", pay.unmonitored_s);

    // Before the aggregator ever ran, a backfill is refused with the reason.
    let (_d2, empty) = sqlite_store().await;
    let mut fresh = Aggregator::new(&cfg, Arc::new(empty), Arc::new(AggregatorMetrics::default()));
    let e = fresh.backfill(start * S, end * S, &mut |_, _, _, _| {}).await.unwrap_err();
    assert!(e.to_string().contains("has not run on this store yet"), "{e}");
}
