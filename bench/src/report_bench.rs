//! Report benchmark: a monthly SLA report for N endpoints from rollups, in each format.
//!
//! The store holds what the aggregator would have written for October 2026 (SQLite): a day rollup per
//! endpoint and UTC day, hour rollups for the hours the report's zone (Europe/Berlin) needs at the month's
//! edges and for the days that must be read finer (two outages on one day), one region plus the `all` merge,
//! with latency histograms of a day's (an hour's) 17,280 (720) probes. One endpoint in ten has one outage,
//! one in fifty two on one day. Each run builds the report from the store and renders it, timed in wall
//! time and process CPU; medians over the runs. It leaves the store and a configuration (`DB.toml`) behind
//! for `bench/report.sh` to time the `watchpost report` command on them.
//!
//! Usage: report_bench [--endpoints N] [--components C] [--runs R] [--db PATH]

mod common;

use std::sync::Arc;
use std::time::Instant;
use watchpost_aggregator::config::AggregatorParts;
use watchpost_aggregator::report::{self, period, render, Inputs};
use watchpost_core::config::{Format, SqliteConfig};
use watchpost_core::hist;
use watchpost_core::model::{Point, Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use watchpost_core::store::{sqlite::SqliteStore, Store};
use watchpost_core::time::TimeRange;

const S: i64 = 1_000_000_000;
const H: i64 = 3600 * S;
const DAY: i64 = 24 * H;

struct Args {
    endpoints: usize,
    components: usize,
    runs: usize,
    db: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { endpoints: 1000, components: 100, runs: 7, db: "/tmp/watchpost-report-bench.db".into() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoints" => a.endpoints = val()?.parse().map_err(|e| format!("--endpoints: {e}"))?,
            "--components" => a.components = val()?.parse().map_err(|e| format!("--components: {e}"))?,
            "--runs" => a.runs = val()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--db" => a.db = val()?,
            "-h" | "--help" => return Err("usage: report_bench [--endpoints N] [--components C] [--runs R] [--db PATH]".into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.endpoints == 0 || a.components == 0 || a.runs == 0 {
        return Err("--endpoints, --components and --runs must be positive".into());
    }
    Ok(a)
}

/// Encoded latency histograms of `n` probes around `base_ms`, a few variants to pick from.
fn histograms(n: u64) -> Vec<(String, [Option<f64>; 4], f64)> {
    (0..16u64)
        .map(|v| {
            let mut h = hist::new();
            let base = 20.0 + v as f64 * 7.0;
            for i in 0..n {
                // A long-tailed spread: most near `base`, a few up to ten times it.
                let x = ((i * 7919 + v * 104_729) % 1000) as f64 / 1000.0;
                hist::record_ms(&mut h, base * (1.0 + 9.0 * x.powi(8)));
            }
            let q = hist::quantiles_ms(&h, [0.5, 0.9, 0.95, 0.99]);
            (hist::encode(&h), q, base)
        })
        .collect()
}

/// A rollup of one window: `down` is a list of stretches (seconds from the window's start).
fn rollup(series: &Arc<SeriesKey>, res: Resolution, ts: i64, down: &[(f64, f64)], h: &(String, [Option<f64>; 4], f64)) -> RollupPoint {
    let len = (res.nanos() / S) as f64;
    let down_s: f64 = down.iter().map(|(a, b)| b - a).sum();
    let samples = (len / 5.0) as u64;
    RollupPoint {
        resolution: res,
        series: series.clone(),
        ts,
        up_s: len - down_s,
        down_s,
        maintenance_s: 0.0,
        down_from_s: down.first().map(|d| d.0),
        down_until_s: down.last().map(|d| d.1),
        samples,
        failures: (down_s / 5.0) as u64,
        under_threshold: samples * 97 / 100,
        latency_mean_ms: Some(h.2 * 1.1),
        latency_p50_ms: h.1[0],
        latency_p90_ms: h.1[1],
        latency_p95_ms: h.1[2],
        latency_p99_ms: h.1[3],
        latency_max_ms: h.1[3],
        hist: h.0.clone(),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", args.db));
    }
    let mut cfg_text: String = (0..args.endpoints)
        .map(|i| {
            format!(
                "[[endpoints]]\nid = \"endpoint-{i:05}\"\nurl = \"http://127.0.0.1/\"\ncomponent = \"component-{:03}\"\n\n",
                i % args.components
            )
        })
        .collect();
    let components: Vec<String> = (0..args.components.min(args.endpoints)).map(|c| format!("\"component-{c:03}\"")).collect();
    cfg_text.push_str(&format!("[sla.bench]\ncomponents = [{}]\ntarget = 99.9\ntimezone = \"Europe/Berlin\"\n", components.join(", ")));
    // The same configuration for `watchpost report` (bench/report.sh times the command on this store).
    let cfg_file = format!("{}.toml", args.db);
    let _ = std::fs::write(&cfg_file, format!("[store]\ntype = \"sqlite\"\npath = \"{}\"\n\n{cfg_text}", args.db));
    let (config, parts) = AggregatorParts::parse("bench.toml", Format::Toml, &cfg_text, &Default::default()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let sqlite = SqliteConfig {
        path: args.db.clone().into(),
        retention: std::time::Duration::from_secs(86_400 * 400),
        check_history: std::time::Duration::from_secs(86_400),
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&sqlite).await.unwrap_or_else(|e| panic!("{e}")));

    let sla = &parts.sla["bench"];
    let month = period::resolve(Some("2026-10"), None, None, &sla.tz).unwrap_or_else(|e| panic!("{e}"));
    let (days_h, hours_h) = (histograms(17_280), histograms(720));
    let t0 = Instant::now();
    let mut batch: Vec<Point> = Vec::new();
    let mut written = 0usize;
    let first_day = Resolution::Day.floor(month.from);
    let last_day = Resolution::Day.floor(month.to);
    for i in 0..args.endpoints {
        let key = |region: &str| {
            Arc::new(SeriesKey {
                endpoint: format!("endpoint-{i:05}"),
                region: region.into(),
                component: format!("component-{:03}", i % args.components),
                environment: "production".into(),
            })
        };
        let (eu, all) = (key("eu-west"), key(ALL_REGIONS));
        let outage_day = first_day + (1 + (i % 30) as i64) * DAY;
        let mut day = first_day;
        while day <= last_day {
            let down: Vec<(f64, f64)> = match (day == outage_day, i % 10 == 0, i % 50 == 7) {
                (true, true, _) => vec![(36_000.0, 37_200.0)],
                (true, _, true) => vec![(3_600.0, 3_900.0), (50_400.0, 50_700.0)],
                _ => vec![],
            };
            let h = &days_h[i % days_h.len()];
            // Hours where the report needs them: the Berlin edges, and days with more than one stretch.
            let edge = day < month.from || day + DAY > month.to;
            if edge || down.len() > 1 {
                for hour in 0..24 {
                    let ts = day + hour * H;
                    let hd: Vec<(f64, f64)> = down
                        .iter()
                        .filter(|(a, _)| (*a as i64) / 3600 == hour)
                        .map(|(a, b)| (a - hour as f64 * 3600.0, b - hour as f64 * 3600.0))
                        .collect();
                    for s in [&eu, &all] {
                        batch.push(Point::Rollup(rollup(s, Resolution::Hour, ts, &hd, &hours_h[i % hours_h.len()])));
                    }
                }
            }
            for s in [&eu, &all] {
                batch.push(Point::Rollup(rollup(s, Resolution::Day, day, &down, h)));
            }
            day += DAY;
        }
        if batch.len() >= 20_000 {
            written += batch.len();
            store.write(&batch).await.unwrap_or_else(|e| panic!("write: {e}"));
            batch.clear();
        }
    }
    written += batch.len();
    store.write(&batch).await.unwrap_or_else(|e| panic!("write: {e}"));
    for r in Resolution::ALL {
        store.set_watermark(r.measurement(), last_day + DAY).await.unwrap_or_else(|e| panic!("{e}"));
    }
    println!(
        "store: {} endpoints in {} components, October 2026 (Europe/Berlin): {written} rollups written in {:.1} s",
        args.endpoints,
        args.components,
        t0.elapsed().as_secs_f64()
    );

    println!("| format | wall median (ms) | CPU median (ms) | CPU per endpoint (µs) | min–max wall (ms) | bytes |");
    println!("|---|---|---|---|---|---|");
    for format in [render::Format::Json, render::Format::Csv, render::Format::Html] {
        let (mut walls, mut cpus, mut bytes) = (vec![], vec![], 0);
        for _ in 0..args.runs {
            let (w0, c0) = (Instant::now(), common::cpu_seconds());
            let windows =
                watchpost_core::maintenance::windows(&watchpost_core::maintenance::sources(&config), TimeRange::new(month.from, month.to))
                    .await;
            let inputs = Inputs {
                sla,
                period: month.clone(),
                endpoints: &config.endpoints,
                windows,
                rollup_objective_ms: 300.0,
                now: watchpost_core::time::now_nanos(),
            };
            let r = report::build(&*store, inputs, &mut |_, _| {}).await.unwrap_or_else(|e| panic!("{e}"));
            let text = render::render(&r, format);
            bytes = text.len();
            walls.push(w0.elapsed().as_secs_f64() * 1e3);
            cpus.push((common::cpu_seconds() - c0) * 1e3);
            assert_eq!(r.sections.len(), args.components.min(args.endpoints));
        }
        let (lo, hi) = (walls.iter().copied().fold(f64::MAX, f64::min), walls.iter().copied().fold(0.0, f64::max));
        let cpu = median(&mut cpus);
        println!(
            "| {format:?} | {:.0} | {cpu:.0} | {:.0} | {lo:.0}–{hi:.0} | {bytes} |",
            median(&mut walls),
            cpu * 1e3 / args.endpoints as f64
        );
    }
}
