//! "Why rollups": an hourly p95 table (every endpoint × every hour of a week) read from hour rollups,
//! timed against InfluxQL `percentile()` over the same raw points in the same `influxd`.
//!
//! The data set has the shape of `../shared/bench-anchors/influxdb_ingest_query.py` (100 endpoints × 2
//! regions, a point every 5 s, 7 days: 24.2 M points, lognormal latencies around a per-series base, a daily
//! outage per series and rare failures), in Watchpost's own schema, written through `InfluxStore`. The hour
//! rollups are built from the same points by the aggregator's own arithmetic (`rollup::minutes`, then
//! `rollup::merge`) hour by hour as the points are generated, and written to the same database.
//!
//! Then, alternately, `runs` times each: the rollup table (`Store::rollups` of a week of hours, the `all`
//! merge's `latency_p95_ms` per endpoint and hour) and `SELECT percentile("latency_ms", 95) FROM "probe"
//! WHERE "ok" = true … GROUP BY time(1h), "endpoint"` over HTTP. Prints timings and how the values compare.
//!
//! Usage: p95_bench URL DB [DAYS] [RUNS] (run by bench/why_rollups.py, which starts the influxd)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchpost_aggregator::rollup::{self, Params};
use watchpost_core::config::{InfluxApi, InfluxAuth, InfluxConfig};
use watchpost_core::model::{Point, ProbePoint, Resolution, SeriesKey, ALL_REGIONS};
use watchpost_core::store::{influx::InfluxStore, Select, Store};
use watchpost_core::time::TimeRange;

const S: i64 = 1_000_000_000;
const H: i64 = 3600 * S;
const START: i64 = 1_704_326_400 * S; // 2024-01-04T00:00:00Z, as the anchor's data set
const ENDPOINTS: usize = 100;
const REGIONS: [&str; 2] = ["eu-west", "us-east"];

/// A small deterministic generator (xorshift64*), so the data set is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// exp(N(0, sigma)).
    fn lognormal(&mut self, sigma: f64) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        (sigma * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()).exp()
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(db)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: p95_bench URL DB [DAYS] [RUNS]");
        std::process::exit(2)
    };
    let days: i64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(7);
    let runs: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(3);
    let cfg = InfluxConfig {
        url: url.clone(),
        api: InfluxApi::V1,
        database: db.clone(),
        retention_policy: None,
        rollup_retention_policy: None,
        org: None,
        bucket: None,
        auth: InfluxAuth::None,
        timeout: Duration::from_secs(300),
    };
    let store = InfluxStore::new(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng(42);
    let series: Vec<(Arc<SeriesKey>, f64, i64)> = (0..ENDPOINTS)
        .flat_map(|e| {
            let base = 5.0 + 115.0 * ((e * 7919) % 1000) as f64 / 1000.0;
            REGIONS.iter().enumerate().map(move |(ri, r)| {
                let key = Arc::new(SeriesKey {
                    endpoint: format!("ep-{e:03}"),
                    region: r.to_string(),
                    component: "bench".into(),
                    environment: "production".into(),
                });
                (key, base * (1.0 + 0.4 * ri as f64), ((e * 2 + ri) * 20) as i64 * 1_000_000)
            })
        })
        .collect();
    let params = Params { slots: HashMap::new(), default_slot: Duration::from_secs(5), objective_ms: 300.0 };
    let t0 = Instant::now();
    let mut written = 0u64;
    // Per series and day: the outage's first slot and length (slots), as the anchor draws them.
    let outages: Vec<Vec<(i64, i64)>> = series
        .iter()
        .map(|_| (0..days).map(|_| ((rng.next() * (17_280.0 - 240.0)) as i64, 12 + (rng.next() * 228.0) as i64)).collect())
        .collect();
    let mut carry: Vec<ProbePoint> = Vec::new(); // the last slot of the previous hour, for slot reach
                                                 // Every ok latency per endpoint and hour: the exact percentiles both answers are checked against.
    let mut exact: HashMap<(String, i64), Vec<f64>> = HashMap::new();
    for hour in 0..days * 24 {
        let from = START + hour * H;
        let mut raw: Vec<ProbePoint> = Vec::with_capacity(series.len() * 720);
        for step in 0..720i64 {
            let global = hour * 720 + step;
            let day = (global / 17_280) as usize;
            for (i, (key, base, off)) in series.iter().enumerate() {
                let (o_start, o_len) = outages[i][day];
                let in_day = global % 17_280;
                let down = (o_start..o_start + o_len).contains(&in_day);
                let blip = rng.next() < 0.0005;
                let ok = !down && !blip;
                raw.push(ProbePoint {
                    series: key.clone(),
                    ts: from + step * 5 * S + off,
                    availability: if down { 0.0 } else { 100.0 },
                    ok,
                    latency_ms: if ok { base * rng.lognormal(0.35) } else { 5000.0 },
                    dns_ms: None,
                    connect_ms: None,
                    tls_ms: None,
                    ttfb_ms: None,
                    status_code: Some(if ok { 200 } else { 503 }),
                    cert_days_left: None,
                    error: None,
                    confirmed_down: down,
                    failed_step: None,
                });
            }
        }
        for p in raw.iter().filter(|p| p.ok) {
            exact.entry((p.series.endpoint.clone(), from)).or_default().push(p.latency_ms);
        }
        let mut around: Vec<ProbePoint> = std::mem::take(&mut carry);
        around.extend(raw.iter().cloned());
        let minutes = rollup::minutes(&around, &[], from, from + H, &params, &HashMap::new());
        let hours = rollup::merge(&minutes, Resolution::Hour);
        carry = raw.iter().filter(|p| p.ts >= from + H - 5 * S).cloned().collect();
        let mut batch: Vec<Point> = raw.into_iter().map(Point::Probe).collect();
        batch.extend(hours.into_iter().map(Point::Rollup));
        for chunk in batch.chunks(5000) {
            store.write(chunk).await.unwrap_or_else(|e| panic!("write: {e}"));
        }
        written += batch.len() as u64;
        if hour % 24 == 23 {
            eprintln!("day {}/{days}: {written} points and rollups written, {:.0} s", hour / 24 + 1, t0.elapsed().as_secs_f64());
        }
    }
    println!(
        "data: {} series × {days} days at 5 s: {written} points (raw + hour rollups) in {:.0} s",
        series.len(),
        t0.elapsed().as_secs_f64()
    );
    // Let influxd settle (snapshot its cache) before timing queries.
    tokio::time::sleep(Duration::from_secs(30)).await;

    let range = TimeRange::new(START, START + days * 24 * H);
    let raw_query = format!(
        "SELECT percentile(\"latency_ms\", 95) FROM \"probe\" WHERE \"ok\" = true AND time >= {} AND time < {} GROUP BY time(1h), \"endpoint\"",
        range.from, range.to
    );
    let rollup_query = format!(
        "SELECT \"latency_p95_ms\" FROM \"rollup_1h\" WHERE \"region\" = 'all' AND time >= {} AND time < {} GROUP BY \"endpoint\"",
        range.from, range.to
    );
    let client = table_query(url, db, raw_query);
    let field_client = table_query(url, db, rollup_query);
    let (mut t_roll, mut t_raw, mut t_field) = (vec![], vec![], vec![]);
    let mut from_field: HashMap<(String, i64), f64> = HashMap::new();
    let mut from_rollups: HashMap<(String, i64), f64> = HashMap::new();
    let mut from_raw: HashMap<(String, i64), f64> = HashMap::new();
    for run in 0..=runs {
        let t = Instant::now();
        let r = store.rollups(Resolution::Hour, range, Select::All).await.unwrap_or_else(|e| panic!("{e}"));
        let table: HashMap<(String, i64), f64> = r
            .iter()
            .filter(|r| r.series.region == ALL_REGIONS)
            .filter_map(|r| Some(((r.series.endpoint.clone(), r.ts), r.latency_p95_ms?)))
            .collect();
        let dt_roll = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let field = field_client().await;
        let dt_field = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let raw = client().await;
        let dt_raw = t.elapsed().as_secs_f64();
        // The first round warms everything up and is not counted.
        if run > 0 {
            t_roll.push(dt_roll);
            t_field.push(dt_field);
            t_raw.push(dt_raw);
        }
        from_rollups = table;
        from_field = field;
        from_raw = raw;
    }
    let (roll, field, raw) = (median(&mut t_roll), median(&mut t_field), median(&mut t_raw));
    println!("| hourly p95 table, {ENDPOINTS} endpoints × {} hours | median wall (s), {runs} runs | all runs (s) | vs raw |", days * 24);
    println!("|---|---|---|---|");
    println!("| InfluxQL `percentile()` over raw points | {raw:.3} | {t_raw:.3?} | 1× |");
    println!("| InfluxQL reading the `latency_p95_ms` field of `rollup_1h` | {field:.4} | {t_field:.4?} | {:.0}× |", raw / field);
    println!("| `Store::rollups` of a week of hour rollups (with histograms) | {roll:.3} | {t_roll:.3?} | {:.0}× |", raw / roll);
    // Each answer against the exact percentile of the same latencies at its own rank: InfluxQL takes the
    // nearest rank floor(0.95 n + 0.5), HdrHistogram the value at rank ceil(0.95 n).
    let at_rank = |v: &Vec<f64>, rank: usize| v[rank.clamp(1, v.len()) - 1];
    let (mut raw_exact, mut roll_exact, mut roll_vs_raw, mut cells) = (0, 0, Vec::new(), 0);
    for (k, v) in exact.iter_mut() {
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let (influx_rank, hdr_rank) = ((n * 0.95 + 0.5).floor() as usize, (n * 0.95).ceil() as usize);
        cells += 1;
        if from_raw.get(k).is_some_and(|p| (p - at_rank(v, influx_rank)).abs() <= 1e-9 * p) {
            raw_exact += 1;
        }
        let want = at_rank(v, hdr_rank);
        if from_field.get(k).is_some_and(|p| (p - want).abs() <= want * 1e-3 + 1e-3) {
            roll_exact += 1;
        }
        if let (Some(a), Some(b)) = (from_field.get(k), from_raw.get(k)) {
            roll_vs_raw.push((a - b).abs() / b);
        }
    }
    roll_vs_raw.sort_by(f64::total_cmp);
    let same_rank = exact.values().filter(|v| (v.len() as f64 * 0.95 + 0.5).floor() == (v.len() as f64 * 0.95).ceil()).count();
    let agree = from_field.iter().filter(|(k, v)| from_rollups.get(*k) == Some(*v)).count();
    println!(
        "cells: {cells} (endpoint × hour); rollups answered {} ({agree} equal through Store::rollups), InfluxQL {}",
        from_field.len(),
        from_raw.len()
    );
    println!("InfluxQL percentile() equals the exact nearest-rank value in {raw_exact} of {cells} cells");
    println!("rollup p95 is within the histogram's precision (0.1 %) of the exact value at its rank in {roll_exact} of {cells} cells");
    println!(
        "rollup vs InfluxQL: median difference {:.3} %, max {:.3} % (the two take the same rank in {same_rank} of {cells} cells; elsewhere they read adjacent ranks)",
        roll_vs_raw.get(roll_vs_raw.len() / 2).copied().unwrap_or(0.0) * 100.0,
        roll_vs_raw.last().copied().unwrap_or(0.0) * 100.0
    );
}

/// An InfluxQL query over HTTP (curl, as the anchor times it), as a closure that runs it and parses the
/// (endpoint, time) → value table.
type Table = HashMap<(String, i64), f64>;
fn table_query(url: &str, db: &str, q: String) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Table>>> {
    let (url, db) = (url.to_string(), db.to_string());
    move || {
        let (url, db, q) = (url.clone(), db.clone(), q.clone());
        Box::pin(async move {
            let out = tokio::task::spawn_blocking(move || {
                std::process::Command::new("curl")
                    .args([
                        "-sS",
                        "--max-time",
                        "600",
                        "-G",
                        &format!("{url}/query"),
                        "--data-urlencode",
                        &format!("db={db}"),
                        "--data-urlencode",
                        "epoch=ns",
                        "--data-urlencode",
                        &format!("q={q}"),
                    ])
                    .output()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("curl: {e}"));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("influxd answer: {e}"));
            let mut table = HashMap::new();
            for s in v["results"][0]["series"].as_array().into_iter().flatten() {
                let ep = s["tags"]["endpoint"].as_str().unwrap_or_default().to_string();
                for row in s["values"].as_array().into_iter().flatten() {
                    if let (Some(ts), Some(p)) = (row[0].as_i64(), row[1].as_f64()) {
                        table.insert((ep.clone(), ts), p);
                    }
                }
            }
            table
        })
    }
}
