//! Store conformance: one set of checks, written once, run against every backend (SQLite, and a real
//! `influxd`), and the two backends must give the same answers for the same points.

use crate::common;

use common::influxd::Influxd;
use common::sqlite_store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::model::{
    Availability, EndpointState, ErrorClass, MaintenancePoint, Point, ProbePoint, Resolution, RollupPoint, SeriesKey, StepPoint,
};
use watchpost_core::store::{influx::InfluxStore, Select, Store};
use watchpost_core::time::{now_nanos, TimeRange};

const S: i64 = 1_000_000_000;

fn series(endpoint: &str, region: &str, component: &str) -> Arc<SeriesKey> {
    Arc::new(SeriesKey { endpoint: endpoint.into(), region: region.into(), component: component.into(), environment: "production".into() })
}

fn point(s: &Arc<SeriesKey>, ts: i64, ok: bool, down: bool) -> Point {
    Point::Probe(ProbePoint {
        series: s.clone(),
        ts,
        availability: if down { 0.0 } else { 100.0 },
        ok,
        latency_ms: 10.5 + (ts / S % 7) as f64,
        dns_ms: None,
        connect_ms: Some(0.25),
        tls_ms: if s.endpoint == "api" { Some(3.5) } else { None },
        ttfb_ms: Some(9.75),
        status_code: if ok { Some(200) } else { Some(503) },
        cert_days_left: if s.endpoint == "api" { Some(42.5) } else { None },
        error: if ok { None } else { Some(ErrorClass::Status) },
        confirmed_down: down,
        failed_step: None,
    })
}

/// The fixture: `api` in two regions (eu has a transient miss, then an outage from 40 s to 60 s and a
/// recovery), `db` always up with no component, `web` down from its second point; maintenance of `api`.
struct Fixture {
    base: i64,
    points: Vec<Point>,
}

fn fixture() -> Fixture {
    // Within the last hour: inside every backend's window for "latest state".
    let base = (now_nanos() - 3600 * S) / S * S;
    let (api_eu, api_us, db, web) =
        (series("api", "eu", "public"), series("api", "us", "public"), series("db", "eu", ""), series("web", "eu", "public"));
    let mut points = Vec::new();
    // (offset s, ok, confirmed down) for api/eu.
    for (t, ok, down) in [
        (0, true, false),
        (10, true, false),
        (20, false, false),
        (21, true, false),
        (30, true, false),
        (40, false, true),
        (41, false, true),
        (42, false, true),
        (50, false, true),
        (60, true, false),
        (70, true, false),
    ] {
        points.push(point(&api_eu, base + t * S, ok, down));
    }
    for t in [5, 15, 25, 35, 45, 55, 65] {
        points.push(point(&api_us, base + t * S, true, false));
    }
    for t in [0, 10, 20, 30, 40, 50, 60, 70] {
        points.push(point(&db, base + t * S + 1, true, false));
    }
    points.push(point(&web, base + 2 * S, true, false));
    for t in [12, 22, 32, 42] {
        points.push(point(&web, base + t * S, false, true));
    }
    for t in [80, 90] {
        points.push(Point::Maintenance(MaintenancePoint { endpoint: "api".into(), region: "eu".into(), ts: base + t * S, active: true }));
    }
    // A multi-step check in two environments: a passing run, then a run that fails at `read`.
    for env in ["staging", "production"] {
        let check =
            Arc::new(SeriesKey { endpoint: "stream".into(), region: "eu".into(), component: String::new(), environment: env.into() });
        for (t, fails) in [(3, false), (13, true)] {
            let ts = base + t * S;
            let Point::Probe(mut p) = point(&check, ts, !fails, false) else { unreachable!() };
            p.error = fails.then_some(ErrorClass::Assertion);
            p.failed_step = fails.then(|| "read".to_string());
            points.push(Point::Probe(p));
            for (index, step) in ["create", "read", "delete"].into_iter().enumerate() {
                let failed = fails && step == "read";
                points.push(Point::Step(StepPoint {
                    series: check.clone(),
                    ts,
                    step: step.into(),
                    index: index as u32,
                    ran: true,
                    finally: step == "delete",
                    ok: !failed,
                    status_code: Some(if step == "create" { 201 } else { 200 }),
                    latency_ms: 5.0 + index as f64,
                    error: failed.then_some(ErrorClass::Assertion),
                    detail: if failed { "json $.url == \"a\": expected == \"a\", got \"b, c\"".into() } else { String::new() },
                    assertions: if failed {
                        "✓ status 2xx; ✗ json $.url == \"a\": expected == \"a\", got \"b, c\"".into()
                    } else {
                        "✓ status 2xx".into()
                    },
                }));
            }
        }
    }
    // Minute rollups of api/eu and web/eu (the aggregator's rows; only their sums are read back here).
    for (i, (s, up, down, maintenance_s, samples, failures, mean)) in
        [(&api_eu, 50.0, 10.0, 0.0, 6, 1, Some(10.0)), (&api_eu, 60.0, 0.0, 5.0, 6, 0, Some(12.5)), (&web, 0.5, 59.5, 0.0, 6, 6, None)]
            .into_iter()
            .enumerate()
    {
        points.push(Point::Rollup(RollupPoint {
            resolution: Resolution::Minute,
            series: s.clone(),
            ts: base / (60 * S) * 60 * S + if i == 1 { 60 * S } else { 0 },
            up_s: up,
            down_s: down,
            maintenance_s,
            down_from_s: None,
            down_until_s: None,
            samples,
            failures,
            under_threshold: 0,
            latency_mean_ms: mean,
            latency_p50_ms: Some(10.0),
            latency_p90_ms: Some(10.0),
            latency_p95_ms: Some(10.0),
            latency_p99_ms: Some(10.0),
            latency_max_ms: Some(10.0),
            hist: String::new(),
        }));
    }
    Fixture { base, points }
}

/// Everything a backend answers for the fixture, in a comparable form.
#[derive(Debug, PartialEq)]
struct Answers {
    api_all: Vec<ProbePoint>,
    api_eu: Vec<ProbePoint>,
    half_open: usize,
    all: Vec<(String, String, i64)>,
    /// What rollups read of every point: series, time, availability, ok, latency.
    samples: Vec<(SeriesKey, i64, f64, bool, f64)>,
    availability: Vec<(SeriesKey, Availability)>,
    /// The same over a day before the points too (InfluxDB reads from the first point on), and over a
    /// stretch with no point at all.
    availability_day: Vec<(SeriesKey, Availability)>,
    availability_empty: Vec<(SeriesKey, Availability)>,
    states: Vec<EndpointState>,
    maintenance: Vec<MaintenancePoint>,
    check_probes: Vec<ProbePoint>,
    steps_staging: Vec<StepPoint>,
    steps_all: usize,
    rollup_sums: Vec<(SeriesKey, Availability)>,
    /// Per rollup (`Store::rollup_sums`): every series, then one endpoint's.
    per_rollup: Vec<(SeriesKey, i64, Availability, f64, Option<f64>)>,
    per_rollup_web: usize,
    documents: Vec<Option<String>>,
}

async fn answers(store: &dyn Store, f: &Fixture) -> Answers {
    let range = TimeRange::new(f.base, f.base + 100 * S);
    let slots: HashMap<String, Duration> = [("api".to_string(), Duration::from_secs(10))].into_iter().collect();
    Answers {
        api_all: store.probe_points("api", None, range).await.unwrap(),
        api_eu: store.probe_points("api", Some("eu"), range).await.unwrap(),
        half_open: store.probe_points("api", Some("eu"), TimeRange::new(f.base, f.base + 40 * S)).await.unwrap().len(),
        all: store
            .probe_points_all(range, Select::All)
            .await
            .unwrap()
            .iter()
            .map(|p| (p.series.endpoint.clone(), p.series.region.clone(), p.ts))
            .collect(),
        samples: store
            .probe_samples(range, Select::All)
            .await
            .unwrap()
            .iter()
            .map(|p| ((*p.series).clone(), p.ts, p.availability, p.ok, p.latency_ms))
            .collect(),
        availability: store.availability(range, &slots, Duration::from_secs(10)).await.unwrap(),
        availability_day: store
            .availability(TimeRange::new(range.from - 86_400 * S, range.to), &slots, Duration::from_secs(10))
            .await
            .unwrap(),
        availability_empty: store
            .availability(TimeRange::new(range.from - 86_400 * S, range.from - 43_200 * S), &slots, Duration::from_secs(10))
            .await
            .unwrap(),
        states: store.latest_states().await.unwrap(),
        maintenance: store.maintenance_points("api", range).await.unwrap(),
        check_probes: store.probe_points("stream", None, range).await.unwrap(),
        steps_staging: store.check_runs("stream", Some("staging"), range).await.unwrap(),
        steps_all: store.check_runs("stream", None, range).await.unwrap().len(),
        rollup_sums: {
            let mut v = store.rollup_availability(Resolution::Minute, minutes(f)).await.unwrap();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        },
        per_rollup: {
            let mut v: Vec<_> = store
                .rollup_sums(Resolution::Minute, minutes(f), Select::All)
                .await
                .unwrap()
                .into_iter()
                .map(|r| ((*r.series).clone(), r.ts, r.sums, r.maintenance_s, r.latency_mean_ms))
                .collect();
            v.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            v
        },
        per_rollup_web: store.rollup_sums(Resolution::Minute, minutes(f), Select::Endpoint("web")).await.unwrap().len(),
        documents: {
            // Larger than one part on InfluxDB (a string field holds 64 KB), with what line protocol escapes.
            let big: String = (0..20_000).map(|i| format!("\"q\\{i}é€\"")).collect::<Vec<_>>().join(",");
            let mut read = Vec::new();
            for body in [big.as_str(), "{\"small\": true}", ""] {
                store.save_document("doc", body).await.unwrap();
                read.push(store.document("doc").await.unwrap().map(|d| d.1));
            }
            read.push(store.document("never saved").await.unwrap().map(|d| d.1));
            read
        },
    }
}

fn minutes(f: &Fixture) -> TimeRange {
    TimeRange::new(f.base / (60 * S) * 60 * S, f.base / (60 * S) * 60 * S + 120 * S)
}

/// The checks every backend must pass, from the semantics rather than from another backend. Stores that are
/// compared get the same fixture (it is placed relative to now, so two fixtures may differ by a second).
async fn conforms(store: &dyn Store, f: &Fixture) -> Answers {
    store.write(&f.points).await.unwrap();
    store.write(&f.points[..5]).await.unwrap(); // a replay must not duplicate
    let a = answers(store, f).await;
    let probes: Vec<&ProbePoint> = f.points.iter().filter_map(|p| if let Point::Probe(p) = p { Some(p) } else { None }).collect();

    let want_api: Vec<ProbePoint> = {
        let mut v: Vec<ProbePoint> = probes.iter().filter(|p| p.series.endpoint == "api").map(|p| (*p).clone()).collect();
        v.sort_by_key(|p| p.ts);
        v
    };
    assert_eq!(a.api_all, want_api, "points of one endpoint, every field, in time order");
    assert_eq!(a.api_eu.len(), 11);
    assert!(a.api_eu.iter().all(|p| p.series.region == "eu"));
    assert_eq!(a.half_open, 5, "ranges are half-open");
    assert_eq!(a.all.len(), probes.len(), "every series, no duplicates");
    assert!(a.all.windows(2).all(|w| w[0].2 <= w[1].2), "in time order");
    let full: Vec<_> = store
        .probe_points_all(TimeRange::new(f.base, f.base + 100 * S), Select::All)
        .await
        .unwrap()
        .iter()
        .map(|p| ((*p.series).clone(), p.ts, p.availability, p.ok, p.latency_ms))
        .collect();
    assert_eq!(a.samples, full, "the samples rollups read are those of the full points, in the same order");

    assert_eq!(a.availability_day, a.availability, "a range reaching back before the first point sums the same points");
    assert!(a.availability_empty.is_empty(), "no point, no series: {:?}", a.availability_empty);
    let avail: HashMap<(String, String), Availability> =
        a.availability.iter().map(|(k, v)| ((k.endpoint.clone(), k.region.clone()), *v)).collect();
    let eu = avail[&("api".into(), "eu".into())];
    // Down from 40 s until the point at 60 s: 20 s; up: 0-40 and 60-80 (last point covers one slot).
    assert_eq!((eu.up_s, eu.down_s, eu.samples, eu.failures), (60.0, 20.0, 11, 5));
    let web = avail[&("web".into(), "eu".into())];
    assert_eq!((web.up_s, web.down_s), (10.0, 40.0));

    let state = |e: &str, r: &str| {
        a.states.iter().find(|s| s.endpoint == e && s.region == r).unwrap_or_else(|| panic!("no state for {e}/{r}: {:?}", a.states)).clone()
    };
    let s = state("api", "eu");
    assert_eq!((s.confirmed_down, s.since, s.last_ts, s.last_ok), (false, f.base + 60 * S, f.base + 70 * S, true));
    let s = state("web", "eu");
    assert_eq!((s.confirmed_down, s.since, s.last_ts, s.last_error), (true, f.base + 12 * S, f.base + 42 * S, Some(ErrorClass::Status)));
    let s = state("db", "eu");
    assert_eq!((s.confirmed_down, s.since, s.component.as_str()), (false, f.base + 1, ""));
    assert_eq!(a.states.len(), 6, "api eu and us, db, web, and the check in each of its environments");

    let failed: Vec<Option<&str>> = a.check_probes.iter().map(|p| p.failed_step.as_deref()).collect();
    assert_eq!(failed, vec![None, None, Some("read"), Some("read")], "the failing step is kept on the probe point");
    let want_steps: Vec<StepPoint> = f
        .points
        .iter()
        .filter_map(|p| match p {
            Point::Step(s) if s.series.environment == "staging" => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(a.steps_staging, want_steps, "every step of every run, every field, by run then position");
    assert_eq!(a.steps_all, 12);

    assert_eq!(a.maintenance.iter().map(|m| m.ts - f.base).collect::<Vec<_>>(), vec![80 * S, 90 * S]);

    let sums: Vec<(&str, Availability)> = a.rollup_sums.iter().map(|(k, v)| (k.endpoint.as_str(), *v)).collect();
    let want = |up_s, down_s, samples, failures| Availability { up_s, down_s, samples, failures };
    assert_eq!(sums, vec![("api", want(110.0, 10.0, 12, 1)), ("web", want(0.5, 59.5, 6, 6))], "rollups summed per series");
    let mut summed: HashMap<&str, Availability> = HashMap::new();
    for (k, _, v, _, _) in &a.per_rollup {
        let s = summed.entry(k.endpoint.as_str()).or_default();
        (s.up_s, s.down_s, s.samples, s.failures) = (s.up_s + v.up_s, s.down_s + v.down_s, s.samples + v.samples, s.failures + v.failures);
    }
    assert_eq!(summed.len(), 2, "{:?}", a.per_rollup);
    assert_eq!((summed["api"], summed["web"]), (want(110.0, 10.0, 12, 1), want(0.5, 59.5, 6, 6)), "per rollup, the same sums");
    let extras: Vec<(&str, f64, Option<f64>)> = a.per_rollup.iter().map(|r| (r.0.endpoint.as_str(), r.3, r.4)).collect();
    assert_eq!(extras, vec![("api", 0.0, Some(10.0)), ("web", 0.0, None), ("api", 5.0, Some(12.5))], "maintenance and mean latency");
    assert_eq!(a.per_rollup_web, a.per_rollup.iter().filter(|r| r.0.endpoint == "web").count(), "one endpoint selected");
    let big = a.documents[0].as_deref().unwrap_or_default();
    assert!(big.len() > 200_000 && big.starts_with("\"q\\0é€\"") && big.ends_with("\"q\\19999é€\""), "a large document, whole");
    assert_eq!(a.documents[1..], [Some("{\"small\": true}".to_string()), Some(String::new()), None], "each save replaces the last");
    a
}

#[tokio::test]
async fn sqlite_conforms() {
    let (_dir, store) = sqlite_store().await;
    conforms(&store, &fixture()).await;
}

#[tokio::test]
async fn influxdb_conforms_and_answers_like_sqlite() {
    let server = Influxd::start();
    let f = fixture();
    let from_influx = conforms(&server.store(), &f).await;
    let (_dir, store) = sqlite_store().await;
    let from_sqlite = conforms(&store, &f).await;
    assert_eq!(from_influx, from_sqlite, "the same points give the same answers in both stores");
}

/// Issue 19: on InfluxDB 1.x the points may go to a retention policy that is not the database's default
/// (`retention_policy`), and the rollups to one of their own (`rollup_retention_policy`): shards, and so
/// influxd caches, of their own, kept as long as wanted. Every read finds them there: the whole conformance
/// suite passes with the answers of SQLite, and nothing lands in the default policy. (A store with
/// `retention_policy` used to write there and read the default: it read nothing back.)
#[tokio::test]
async fn influxdb_conforms_with_points_and_rollups_in_retention_policies_of_their_own() {
    use watchpost_core::config::{InfluxConfig, Shard};
    let server = Influxd::start();
    server.post_query("CREATE RETENTION POLICY \"raw\" ON \"watchpost\" DURATION 30d REPLICATION 1");
    server.post_query("CREATE RETENTION POLICY \"long \\\"term\\\"\" ON \"watchpost\" DURATION INF REPLICATION 1");
    let cfg =
        InfluxConfig { retention_policy: Some("raw".into()), rollup_retention_policy: Some("long \"term\"".into()), ..server.config() };
    let store = InfluxStore::new(&cfg).unwrap();
    let f = fixture();
    let placed = conforms(&store, &f).await;
    let count = |source: &str, field: &str| -> u64 {
        let v = server.query(&format!("SELECT count(\"{field}\") FROM {source}"));
        v["results"][0]["series"][0]["values"][0][1].as_u64().unwrap_or(0)
    };
    let rollups = f.points.iter().filter(|p| matches!(p, Point::Rollup(r) if r.resolution == Resolution::Minute)).count() as u64;
    assert!(count("\"raw\".\"probe\"", "latency_ms") > 0, "the points are in `raw`");
    assert_eq!(count("\"long \\\"term\\\"\".\"rollup_1m\"", "samples"), rollups, "the rollups in their own policy");
    assert_eq!(count("\"raw\".\"rollup_1m\"", "samples"), 0, "and only there");
    for m in ["probe", "rollup_1m", "feed", "document"] {
        let v = server.query(&format!("SELECT * FROM \"autogen\".\"{m}\" LIMIT 1"));
        assert!(v["results"][0]["series"].is_null(), "nothing in the default policy's {m}: {v}");
    }
    // A shard's read lists its endpoints from the rollups' own policy.
    let range = minutes(&f);
    let mut sharded = 0;
    for shard in Shard::every(Shard::parse("1/2")) {
        sharded += store.rollups(Resolution::Minute, range, shard.map_or(Select::All, Select::Shard)).await.unwrap().len();
    }
    assert_eq!(sharded, store.rollups(Resolution::Minute, range, Select::All).await.unwrap().len());
    assert!(sharded > 0);
    let (_dir, sqlite) = sqlite_store().await;
    assert_eq!(placed, conforms(&sqlite, &f).await, "the same answers as SQLite");
}

#[tokio::test]
async fn influxdb_rejects_a_type_conflict_and_keeps_the_rest() {
    let server = Influxd::start();
    let store = server.store();
    let f = fixture();
    // Someone else wrote `cert_days_left` as a string into the same shard: our float lines for it conflict.
    let status = server.write_raw(&format!("probe,endpoint=other cert_days_left=\"soon\" {}\n", f.base));
    assert!(status.is_some_and(|s| s.contains("204")), "setup write");
    let err = store.write(&f.points).await.expect_err("a type conflict is an error");
    let with_cert = f.points.iter().filter(|p| matches!(p, Point::Probe(p) if p.cert_days_left.is_some())).count() as u64;
    match err {
        watchpost_core::store::StoreError::Rejected { points, message } => {
            assert_eq!(points, with_cert, "InfluxDB counts the lines it dropped");
            assert!(message.contains("field type conflict"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!err_is_retryable(&store, &f).await, "a rejection is never retried");
    // The other lines of the batch were written.
    let probes = f.points.iter().filter(|p| matches!(p, Point::Probe(_))).count() as u64;
    assert_eq!(server.count_probe_points(), probes - with_cert);
}

async fn err_is_retryable(store: &InfluxStore, f: &Fixture) -> bool {
    store.write(&f.points).await.err().is_some_and(|e| e.is_retryable())
}

/// Regression: with thousands of series whose state changed, `latest_states` asked InfluxDB for each
/// series' `since` in one GET request, which failed; it now posts bounded chunks.
#[tokio::test]
async fn latest_states_of_many_changed_series_agree() {
    let server = Influxd::start();
    let influx = server.store();
    let (_dir, sqlite) = sqlite_store().await;
    let base = (now_nanos() - 600 * S) / S * S;
    let mut points = Vec::new();
    for i in 0..1500 {
        let s = series(&format!("e{i:04}"), "eu", "c");
        points.push(point(&s, base, true, false));
        points.push(point(&s, base + 10 * S, false, true));
        points.push(point(&s, base + 20 * S + i, false, true));
    }
    for store in [&influx as &dyn Store, &sqlite] {
        store.write(&points).await.unwrap();
    }
    let (a, b) = (influx.latest_states().await.unwrap(), sqlite.latest_states().await.unwrap());
    assert_eq!(a.len(), 1500);
    assert!(a.iter().all(|s| s.confirmed_down && s.since == base + 10 * S));
    assert_eq!(a, b);
}

/// After its first (whole-window) answer, InfluxDB's `latest_states` folds in only the newest points: it
/// must keep agreeing with SQLite (which keeps each series' state in a row) through changes, recoveries, a
/// series that appears and one that goes silent.
#[tokio::test]
async fn influxdb_latest_states_stay_right_when_read_again_and_again() {
    let server = Influxd::start();
    let influx = server.store();
    let (_dir, sqlite) = sqlite_store().await;
    let (a, b, c) = (series("a", "eu", "c"), series("b", "eu", "c"), series("c", "us", "c"));
    // Each step's points are at most 2 s old when written, as points are within a batch age (1 s by default).
    let (mut b_since, mut c_last, mut a_since) = (0, 0, 0);
    for i in 0..3 {
        let t = now_nanos() / 1_000_000 * 1_000_000;
        let batch = match i {
            // a up for a while, b down since 300 s ago (the first read derives them from the whole window).
            0 => {
                b_since = t - 300 * S;
                vec![
                    point(&a, t - 600 * S, true, false),
                    point(&a, t - 2 * S, true, false),
                    point(&b, b_since, false, true),
                    point(&b, t - 2 * S, false, true),
                ]
            }
            // a goes down; b stays down; c appears.
            1 => {
                c_last = t - S;
                vec![point(&a, t - S, false, true), point(&b, t - S, false, true), point(&c, c_last, true, false)]
            }
            // a recovers; b still down; c silent.
            _ => {
                a_since = t - S / 2;
                vec![point(&a, a_since, true, false), point(&a, t, true, false), point(&b, t, false, true)]
            }
        };
        for store in [&influx as &dyn Store, &sqlite] {
            store.write(&batch).await.unwrap();
        }
        let (x, y) = (influx.latest_states().await.unwrap(), sqlite.latest_states().await.unwrap());
        assert_eq!(x, y, "after step {i}");
    }
    let states = influx.latest_states().await.unwrap();
    let of = |e: &str| states.iter().find(|s| s.endpoint == e).unwrap();
    assert_eq!((of("a").confirmed_down, of("a").since), (false, a_since));
    assert_eq!((of("b").confirmed_down, of("b").since), (true, b_since), "the start of b's outage is kept");
    assert_eq!(of("c").last_ts, c_last);
}

/// Issue 17, defect 18: under concurrent writes influxd sometimes answers a series' newest row with fields
/// still missing, which was read as availability 0 and paged 482-1,086 endpoints that were up. Every point
/// written here is up: whatever the reads see while 2,000 series are being written, none may be a miss.
#[tokio::test]
async fn regression_reads_during_writes_never_see_a_miss_that_was_not_written() {
    let server = Influxd::start();
    let store: Arc<dyn Store> = Arc::new(server.store());
    let writer = store.clone();
    let start = now_nanos() / S * S;
    let rounds = 15;
    let writes = tokio::spawn(async move {
        for r in 0..rounds {
            let batch: Vec<Point> =
                (0..2000).map(|i| point(&series(&format!("e{i:04}"), "eu", "c"), start + r * S + i, true, false)).collect();
            writer.write(&batch).await.unwrap();
        }
    });
    let (mut reads, mut seen) = (0, 0usize);
    while !writes.is_finished() {
        let points = store.probe_points_all(TimeRange::new(start - S, now_nanos() + 60 * S), Select::All).await.unwrap();
        assert!(points.iter().all(|p| p.availability == 100.0 && p.ok), "a read during writes saw a miss nobody wrote");
        seen = seen.max(points.len());
        reads += 1;
    }
    writes.await.unwrap();
    let all = store.probe_points_all(TimeRange::new(start - S, now_nanos() + 60 * S), Select::All).await.unwrap();
    assert_eq!(all.len(), 2000 * rounds as usize, "every point is read back whole once the writes are done");
    assert!(all.iter().all(|p| p.availability == 100.0));
    assert!(reads >= 2 && seen > 0, "reads overlapped the writes ({reads} reads, at most {seen} points)");
    eprintln!("{reads} reads during the writes; incomplete rows skipped: {}", store.incomplete_rows());
}

/// The write log (`Store::feed`, issue 19), on both stores: each reader gets every probe point written after
/// its cursor began, once, whole and in time order within a read, however late it was written for its time
/// (a batch held for confirmation, a spool replayed an hour later), while writes go on concurrently; a
/// batch of other points adds nothing; a cursor that began later gets only what came later.
async fn the_write_log_gives_each_reader_every_point_once(store: Arc<dyn Store>) {
    use std::collections::HashMap as Map;
    let key = |p: &ProbePoint| (p.series.endpoint.clone(), p.series.region.clone(), p.ts);
    let now = now_nanos() / S * S;
    let mut early = store.feed_start().await.unwrap();
    let first: Vec<Point> = (0..20).map(|i| point(&series(&format!("e{i:02}"), "eu", "c"), now - 2 * S, true, false)).collect();
    store.write(&first).await.unwrap();
    let mut late = store.feed_start().await.unwrap();
    // Maintenance only: no probe point, nothing in the log.
    store
        .write(&[Point::Maintenance(MaintenancePoint { endpoint: "e00".into(), region: "eu".into(), ts: now, active: true })])
        .await
        .unwrap();
    // Written concurrently with the reads: batches mixing points of now with points an hour old.
    let writer = store.clone();
    let writes = tokio::spawn(async move {
        let mut written = Vec::new();
        for b in 0..12i64 {
            let batch: Vec<Point> = (0..300i64)
                .map(|i| {
                    let ts = if i % 10 == 0 { now - 3600 * S + b * 1000 + i } else { now + b * S + i };
                    point(&series(&format!("e{:02}", i % 20), if i % 3 == 0 { "us" } else { "eu" }, "c"), ts, i % 7 != 0, false)
                })
                .collect();
            writer.write(&batch).await.unwrap();
            written.extend(batch);
        }
        written
    });
    let mut got: Map<(String, String, i64), ProbePoint> = Map::new();
    let mut reads = 0;
    let take = |points: Vec<ProbePoint>, got: &mut Map<(String, String, i64), ProbePoint>| {
        assert!(points.windows(2).all(|w| w[0].ts <= w[1].ts), "a read is in time order");
        for p in points {
            assert!(got.insert(key(&p), p.clone()).is_none(), "{:?} read twice", key(&p));
        }
    };
    while !writes.is_finished() {
        let points = store.feed(&mut early).await.unwrap();
        take(points, &mut got);
        reads += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let written = writes.await.unwrap();
    take(store.feed(&mut early).await.unwrap(), &mut got);
    assert!(store.feed(&mut early).await.unwrap().is_empty(), "nothing new, nothing read");
    let all: Vec<ProbePoint> = first
        .iter()
        .chain(&written)
        .filter_map(|p| match p {
            Point::Probe(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), all.len(), "every point written after the cursor began, once ({reads} reads during the writes)");
    for p in &all {
        assert_eq!(got.get(&key(p)), Some(p), "read back whole");
    }
    let later: Vec<ProbePoint> = store.feed(&mut late).await.unwrap();
    assert_eq!(later.len(), written.len(), "a cursor that began after the first batch reads only what came after");
    assert!(later.iter().all(|p| p.ts != now - 2 * S));
}

#[tokio::test]
async fn sqlite_write_log_gives_each_reader_every_point_once() {
    let (_dir, store) = sqlite_store().await;
    the_write_log_gives_each_reader_every_point_once(Arc::new(store)).await;
}

#[tokio::test]
async fn influxdb_write_log_gives_each_reader_every_point_once() {
    let server = Influxd::start();
    the_write_log_gives_each_reader_every_point_once(Arc::new(server.store())).await;
}

/// A poll of the InfluxDB write log reads the commits and each known writer's log past its last followed
/// range in one request, and falls back to reading by range for what the tails cannot vouch for: a writer
/// it has not seen, and a writer whose concurrent writes commit out of order. Three writers (three
/// processes' stores), each with four writes in flight at once, and a reader polling throughout: every
/// point once, whatever order the commits land in.
#[tokio::test]
async fn influxdb_write_log_with_many_writers_and_writes_in_flight_gives_every_point_once() {
    use std::collections::HashSet as Set;
    let server = Influxd::start();
    let reader = server.store();
    let mut cursor = reader.feed_start().await.unwrap();
    let now = now_nanos() / S * S;
    let mut tasks = Vec::new();
    for w in 0..3i64 {
        let store = Arc::new(server.store());
        for t in 0..4i64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut written = Vec::new();
                for b in 0..6i64 {
                    let batch: Vec<Point> = (0..50i64)
                        .map(|i| point(&series(&format!("w{w}t{t}e{i:02}"), "eu", "c"), now + b * S + i, i % 5 != 0, false))
                        .collect();
                    store.write(&batch).await.unwrap();
                    written.extend(batch);
                }
                written
            }));
        }
    }
    let mut got = Set::new();
    let mut take = |points: Vec<ProbePoint>| {
        for p in points {
            assert!(got.insert((p.series.endpoint.clone(), p.ts)), "{} at {} read twice", p.series.endpoint, p.ts);
        }
    };
    let mut polls = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        take(reader.feed(&mut cursor).await.unwrap());
        polls += 1;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut written = Vec::new();
    for t in tasks {
        written.extend(t.await.unwrap());
    }
    take(reader.feed(&mut cursor).await.unwrap());
    assert!(reader.feed(&mut cursor).await.unwrap().is_empty(), "nothing new, nothing read");
    assert_eq!(written.len(), 3 * 4 * 6 * 50);
    let missing: Set<(String, i64)> = written
        .iter()
        .filter_map(|p| match p {
            Point::Probe(p) => Some((p.series.endpoint.clone(), p.ts)),
            _ => None,
        })
        .filter(|k| !got.contains(k))
        .map(|(e, ts)| (e[..4].to_string(), (ts - now) / S))
        .collect();
    assert!(
        missing.is_empty(),
        "every point of every writer once ({polls} polls during the writes); missing (writer and task, second): {missing:?}"
    );
    assert!(polls >= 3, "the reader polled while the writes went on ({polls})");
}

/// Issue 19: the cursors of one store (the aggregator's minutes and its publishers' latest states in one
/// process) share one reader of the write log. Three cursors polling at different rates, one started late:
/// each gets every point written after it started once, while influxd is asked for each point once between
/// them (plus each cursor's first read, which is its own), not once per cursor.
#[tokio::test]
async fn influxdb_cursors_of_one_store_share_one_reader_and_each_gets_every_point_once() {
    use std::collections::HashSet as Set;
    let server = Influxd::start();
    let (writer, reader) = (server.store(), server.store());
    let mut every = reader.feed_start().await.unwrap();
    let mut third = reader.feed_start().await.unwrap();
    let mut late = None;
    let (mut got_every, mut got_third, mut got_late) = (Set::new(), Set::new(), Set::new());
    let take = |got: &mut Set<(String, i64)>, points: Vec<ProbePoint>| {
        for p in points {
            assert!(got.insert((p.series.endpoint.clone(), p.ts)), "{} at {} taken twice", p.series.endpoint, p.ts);
        }
    };
    let now = now_nanos() / S * S;
    let (mut written, mut after_late) = (Set::new(), Set::new());
    for round in 0..9i64 {
        let batch: Vec<Point> =
            (0..40i64).map(|i| point(&series(&format!("e{i:02}"), "eu", "c"), now + round * S + i, true, false)).collect();
        writer.write(&batch).await.unwrap();
        for p in &batch {
            let Point::Probe(p) = p else { unreachable!() };
            written.insert((p.series.endpoint.clone(), p.ts));
            if late.is_some() {
                after_late.insert((p.series.endpoint.clone(), p.ts));
            }
        }
        take(&mut got_every, reader.feed(&mut every).await.unwrap());
        if round % 3 == 0 {
            take(&mut got_third, reader.feed(&mut third).await.unwrap());
        }
        if let Some(cursor) = late.as_mut() {
            take(&mut got_late, reader.feed(cursor).await.unwrap());
        }
        if round == 4 {
            late = Some(reader.feed_start().await.unwrap());
        }
    }
    take(&mut got_third, reader.feed(&mut third).await.unwrap());
    assert_eq!(got_every, written);
    assert_eq!(got_third, written);
    assert_eq!(got_late, after_late, "the late cursor gets what was written after it started");
    // First reads: `every` round 0, `third` round 0 again, `late` round 5; the rest once, shared.
    let read = reader.feed_points_read();
    assert!(read <= written.len() as u64 + 2 * 40, "{read} points read for {} points", written.len());
    assert!(reader.msgpack_answers() > 0, "influxd 1.6 answers in MessagePack when asked");
}

/// The write log's segments (`seg` tag, issue 19): a poll reads only the segments between a writer's last
/// followed write and a little past the reader's clock, so it must notice a write whose points are not all
/// there and read it by range. Writers the tails cannot vouch for, written by hand: one whose clock jumps
/// 30 s ahead of the reader's after its first write; and two of older versions, one that tags no segments
/// and one that segments but writes a row per point rather than packed parts (a rolling upgrade).
/// Every point once, in every round.
#[tokio::test]
async fn influxdb_write_log_reads_writers_ahead_of_its_clock_and_of_older_versions_by_range() {
    use std::collections::HashSet as Set;
    use watchpost_core::lineproto::{feed_segment, FEED_SEGMENTS};
    use watchpost_core::store::influx::{feed_parts, FEED_ENCODING};
    let server = Influxd::start();
    let reader = server.store();
    let mut cursor = reader.feed_start().await.unwrap();
    let base = now_nanos();
    let mut got = Set::new();
    let mut written = 0;
    for round in 0..3i64 {
        for (writer, segmented, packed) in [("ahead", true, true), ("old", false, false), ("previous", true, false)] {
            let ahead = if writer == "ahead" && round > 0 { 30 * S } else { 0 };
            let from = base + ahead + round * S;
            let seg = |t: i64| if segmented { format!(",seg={}", feed_segment(t)) } else { String::new() };
            let mut lines = String::new();
            let points: Vec<ProbePoint> = (0..20i64)
                .map(|i| match point(&series(&format!("{writer}-{round}-{i}"), "eu", "c"), base + i, true, false) {
                    Point::Probe(p) => p,
                    _ => unreachable!("`point` makes probe points"),
                })
                .collect();
            let to = if packed {
                let parts = feed_parts(&points);
                for ((data, share), t) in parts.iter().zip(from..) {
                    lines += &format!("feed{},writer={writer} data=\"{data}\",points={share}i {t}\n", seg(t));
                }
                from + parts.len() as i64 - 1
            } else {
                for (p, t) in points.iter().zip(from..) {
                    lines += &format!(
                        "feed{},writer={writer} availability=100,ok=true,latency_ms=1.5,error=\"\",confirmed_down=false,\
                         endpoint=\"{}\",region=\"eu\",component=\"c\",environment=\"production\",probed_at={}i {t}\n",
                        seg(t),
                        p.series.endpoint,
                        p.ts
                    );
                }
                from + 19
            };
            assert_eq!(server.write_raw(&lines).as_deref(), Some("HTTP/1.1 204 No Content"));
            let segments = if segmented { format!(",segments={FEED_SEGMENTS}i") } else { String::new() };
            let encoding = if packed { format!(",encoding=\"{FEED_ENCODING}\"") } else { String::new() };
            let commit = format!("feed_commit,writer={writer} from={from}i,to={to}i,points=20i{segments}{encoding} {}\n", now_nanos());
            assert_eq!(server.write_raw(&commit).as_deref(), Some("HTTP/1.1 204 No Content"));
            written += 20;
        }
        for p in reader.feed(&mut cursor).await.unwrap() {
            assert!(got.insert(p.series.endpoint.clone()), "{} read twice", p.series.endpoint);
        }
        assert_eq!(got.len(), written, "every point written by round {round} was read");
    }
    assert!(reader.feed(&mut cursor).await.unwrap().is_empty(), "nothing new, nothing read");
}

/// Issue 19: a packed write that cannot be read whole (a part missing: refused, or deleted by hand; a part
/// damaged; an encoding of a newer version) is skipped, its points counted as incomplete, while the writes
/// around it are read as usual, and nothing panics.
#[tokio::test]
async fn influxdb_write_log_skips_a_damaged_packed_write_and_reads_the_rest() {
    use std::collections::HashSet as Set;
    use watchpost_core::store::influx::{feed_parts, FEED_ENCODING};
    let server = Influxd::start();
    let (writer, reader) = (server.store(), server.store());
    let mut cursor = reader.feed_start().await.unwrap();
    let before = reader.incomplete_rows();
    let now = now_nanos() / S * S;
    let batch = |name: &str| -> Vec<Point> {
        (0..20i64).map(|i| point(&series(&format!("{name}-{i}"), "eu", "c"), now + i, true, false)).collect()
    };
    writer.write(&batch("before")).await.unwrap();
    let probes = |b: Vec<Point>| -> Vec<ProbePoint> {
        b.into_iter()
            .map(|p| match p {
                Point::Probe(p) => p,
                _ => unreachable!("`point` makes probe points"),
            })
            .collect()
    };
    let (data, _) = feed_parts(&probes(batch("lost"))).remove(0);
    let from = now_nanos();
    // (writer, its rows, the parts its commit names, its encoding)
    let damaged = [
        ("cut", format!("data=\"{data}\",points=10i"), 2, FEED_ENCODING),
        ("garbage", "data=\"bm90IGd6aXAh\",points=20i".to_string(), 1, FEED_ENCODING),
        ("newer", format!("data=\"{data}\",points=20i"), 1, "zstd+v9"),
    ];
    for (i, (name, fields, parts, encoding)) in damaged.iter().enumerate() {
        let t = from + 10 * i as i64;
        let line = format!("feed,seg={},writer={name} {fields} {t}\n", watchpost_core::lineproto::feed_segment(t));
        assert_eq!(server.write_raw(&line).as_deref(), Some("HTTP/1.1 204 No Content"));
        let commit = format!(
            "feed_commit,writer={name} from={t}i,to={}i,points=20i,segments=60i,encoding=\"{encoding}\" {}\n",
            t + parts - 1,
            now_nanos()
        );
        assert_eq!(server.write_raw(&commit).as_deref(), Some("HTTP/1.1 204 No Content"));
    }
    writer.write(&batch("after")).await.unwrap();
    let mut got = Set::new();
    for _ in 0..2 {
        for p in reader.feed(&mut cursor).await.unwrap() {
            assert!(got.insert(p.series.endpoint.clone()), "{} read twice", p.series.endpoint);
        }
    }
    let want: Set<String> = ["before", "after"].iter().flat_map(|n| (0..20).map(move |i| format!("{n}-{i}"))).collect();
    assert_eq!(got, want, "the writes around the damaged ones, each once, and nothing of those");
    assert_eq!(reader.incomplete_rows() - before, 60, "the damaged writes' points are counted as incomplete, once each");
}

/// influxd applies a point's fields one at a time, so a read can catch a write-log commit with its range but
/// not yet its `encoding`, `segments` or `points`. Such a commit was read as an older version's (a row per
/// point), its packed points lost, and it was followed, never to be read again: one write in a few thousand
/// under CPU pressure, in `influxdb_write_log_with_many_writers_and_writes_in_flight_gives_every_point_once`.
/// Written by hand here: a packed write whose commit holds only `from` and `to`. Its points are read once;
/// the rest of the commit, applied later, reads nothing again.
#[tokio::test]
async fn regression_influxdb_write_log_reads_a_commit_caught_while_influxd_applies_it() {
    use std::collections::HashSet as Set;
    use watchpost_core::lineproto::feed_segment;
    use watchpost_core::store::influx::{feed_parts, FEED_ENCODING};
    let server = Influxd::start();
    let reader = server.store();
    let mut cursor = reader.feed_start().await.unwrap();
    let before = reader.incomplete_rows();
    let base = now_nanos();
    let points: Vec<ProbePoint> = (0..20i64)
        .map(|i| match point(&series(&format!("half-{i}"), "eu", "c"), base + i, true, false) {
            Point::Probe(p) => p,
            _ => unreachable!("`point` makes probe points"),
        })
        .collect();
    let mut lines = String::new();
    let parts = feed_parts(&points);
    for ((data, share), t) in parts.iter().zip(base..) {
        lines += &format!("feed,seg={},writer=w data=\"{data}\",points={share}i {t}\n", feed_segment(t));
    }
    assert_eq!(server.write_raw(&lines).as_deref(), Some("HTTP/1.1 204 No Content"));
    let (to, at) = (base + parts.len() as i64 - 1, now_nanos());
    let half = format!("feed_commit,writer=w from={base}i,to={to}i {at}\n");
    assert_eq!(server.write_raw(&half).as_deref(), Some("HTTP/1.1 204 No Content"));
    let got: Set<String> = reader.feed(&mut cursor).await.unwrap().into_iter().map(|p| p.series.endpoint.clone()).collect();
    assert_eq!(got, points.iter().map(|p| p.series.endpoint.clone()).collect::<Set<_>>(), "the write's points, from its parts");
    // The rest of the commit lands (same series and time: influxd merges the fields into the row).
    let rest = format!("feed_commit,writer=w points=20i,segments=60i,encoding=\"{FEED_ENCODING}\" {at}\n");
    assert_eq!(server.write_raw(&rest).as_deref(), Some("HTTP/1.1 204 No Content"));
    assert!(reader.feed(&mut cursor).await.unwrap().is_empty(), "a commit is followed once, whole or not when read");
    assert_eq!(reader.incomplete_rows(), before, "nothing read as incomplete");
}

/// The same for documents: a `document_commit` caught half applied. The newest commit with its range but
/// no `encoding` still reads its body (gzip in base64 is recognised); one without its range yet gives the
/// save before it, not "no document".
#[tokio::test]
async fn regression_influxdb_document_whose_commit_is_caught_half_applied_reads_whole() {
    let server = Influxd::start();
    let store = server.store();
    let body = format!("{{\"saved\": \"{}\"}}", "x".repeat(100));
    store.save_document("d", &body).await.unwrap();
    let v = server.query("SELECT \"writer\", \"from\", \"to\", \"saved_at\" FROM \"document_commit\" WHERE \"name\" = 'd'");
    let row = &v["results"][0]["series"][0]["values"][0];
    let (writer, from, to, saved_at) =
        (row[1].as_str().unwrap(), row[2].as_i64().unwrap(), row[3].as_i64().unwrap(), row[4].as_i64().unwrap());
    // A newer commit naming the same parts, caught before its `encoding`.
    let line = format!("document_commit,name=d writer=\"{writer}\",from={from}i,to={to}i,saved_at={saved_at}i {}\n", now_nanos());
    assert_eq!(server.write_raw(&line).as_deref(), Some("HTTP/1.1 204 No Content"));
    assert_eq!(store.document("d").await.unwrap(), Some((saved_at, body.clone())), "the body, decoded");
    // A still newer commit caught with only its writer: the save before it is the document.
    let line = format!("document_commit,name=d writer=\"{writer}\" {}\n", now_nanos());
    assert_eq!(server.write_raw(&line).as_deref(), Some("HTTP/1.1 204 No Content"));
    assert_eq!(store.document("d").await.unwrap(), Some((saved_at, body)), "the whole save before it");
}

/// Issue 19: deriving every latest state from a day of raw points costs influxd seconds at 20,000 series, so
/// a process starts from the states another saved (the aggregator, once a minute) and follows the write log
/// from where they were current: the same states as the process that derived them, including what was
/// written after they were saved.
#[tokio::test]
async fn influxdb_latest_states_saved_by_one_process_start_another() {
    let server = Influxd::start();
    let (first, second) = (server.store(), server.store());
    let f = fixture();
    first.write(&f.points).await.unwrap();
    let derived = first.latest_states().await.unwrap();
    assert_eq!(first.state_sources(), (1, 0), "the first process derives the states");
    first.save_states().await.unwrap();
    // After the save: `db` goes down, a new series appears.
    let t = now_nanos() / S * S;
    let later = vec![point(&series("db", "eu", ""), t - S, false, true), point(&series("new", "us", "c"), t, true, false)];
    first.write(&later).await.unwrap();
    let restored = second.latest_states().await.unwrap();
    assert_eq!(second.state_sources(), (0, 1), "the second starts from the saved states");
    assert_eq!(restored, first.latest_states().await.unwrap(), "and has what the first has, written later too");
    assert!(restored.len() > derived.len(), "the new series is there");
    let db = restored.iter().find(|s| s.endpoint == "db").unwrap();
    assert!(db.confirmed_down && db.since == t - S, "{db:?}");
}

/// Documents are stored compressed (the commit says how); a document saved by an older version, as it is, still
/// reads; a newer save replaces it; and a damaged stored body reads as none, like a save cut short, not as garbage.
#[tokio::test]
async fn influxdb_documents_are_stored_compressed_and_older_plain_saves_still_read() {
    let server = Influxd::start();
    let store = server.store();
    // An older version's save: one plain part, a commit with no `encoding` (the field does not exist yet).
    let old = r#"{"version": 1, "old": true}"#;
    let lines = format!(
        "document,name=doc,writer=old part=0i,data=\"{}\" 1000\ndocument_commit,name=doc writer=\"old\",from=1000i,to=1000i,saved_at=7i 1001\n",
        old.replace('"', "\\\"")
    );
    assert_eq!(server.write_raw(&lines).as_deref(), Some("HTTP/1.1 204 No Content"));
    assert_eq!(store.document("doc").await.unwrap(), Some((7, old.to_string())), "an older plain save reads as it is");

    let body = format!(
        "{{\"states\": [{}]}}",
        (0..20_000).map(|i| format!("{{\"endpoint\": \"e{i}\", \"ok\": true}}")).collect::<Vec<_>>().join(",")
    );
    store.save_document("doc", &body).await.unwrap();
    assert_eq!(store.document("doc").await.unwrap().map(|d| d.1), Some(body.clone()), "the new save replaces it");
    let parts = server.query("SELECT \"data\" FROM \"document\" WHERE \"name\" = 'doc' AND \"writer\" <> 'old'");
    let rows = parts["results"][0]["series"][0]["values"].as_array().cloned().unwrap_or_default();
    let stored: u64 = rows.iter().map(|r| r[1].as_str().map_or(0, str::len) as u64).sum();
    assert!(stored > 0, "the new save's parts are there: {parts}");
    assert!(stored * 5 < body.len() as u64, "stored compressed: {stored} characters for {} of JSON", body.len());
    let enc = server.query("SELECT last(\"encoding\") FROM \"document_commit\"");
    assert_eq!(enc["results"][0]["series"][0]["values"][0][1], "gzip+base64", "{enc}");

    // A damaged body (not base64) under a commit that claims an encoding: none, and no panic.
    let lines = "document,name=bad,writer=x part=0i,data=\"!!not base64!!\" 2000\n\
                 document_commit,name=bad writer=\"x\",from=2000i,to=2000i,saved_at=9i,encoding=\"gzip+base64\" 2001\n";
    assert_eq!(server.write_raw(lines).as_deref(), Some("HTTP/1.1 204 No Content"));
    assert_eq!(store.document("bad").await.unwrap(), None);
}

/// Deriving the latest states from raw points on InfluxDB, with more endpoints than one statement's worth of
/// conditions: the states are those SQLite keeps, including when each one began after a change.
#[tokio::test]
async fn influxdb_states_derived_from_raw_points_equal_sqlite() {
    let server = Influxd::start();
    let influx = server.store();
    let (_d, sqlite) = common::sqlite_store().await;
    let t = now_nanos() / S * S - 600 * S;
    let mut points = Vec::new();
    for i in 0..1_200 {
        let s = series(&format!("e{i:04}"), if i % 2 == 0 { "eu" } else { "us" }, "c");
        // Every seventh went down at its third point, every eleventh came back up at its fourth.
        for k in 0..5 {
            let down = i % 7 == 0 && k >= 2 && !(i % 11 == 0 && k >= 3);
            points.push(point(&s, t + (k * 5 + i % 5) * S, !down, down));
        }
    }
    influx.write(&points).await.unwrap();
    sqlite.write(&points).await.unwrap();
    let derived = influx.latest_states().await.unwrap();
    assert_eq!(influx.state_sources(), (1, 0), "derived");
    assert_eq!(derived.len(), 1_200);
    assert_eq!(derived, sqlite.latest_states().await.unwrap());
    assert_eq!(derived.iter().filter(|s| s.confirmed_down).count(), (0..1_200).filter(|i| i % 7 == 0 && i % 11 != 0).count());
}
