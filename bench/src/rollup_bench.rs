//! Rollup benchmark: the aggregator's minute cycle for N endpoints at 5 s (12 × N new points a minute) on
//! the embedded SQLite store, with a given amount of history already retained, so that running it with 1 and
//! with 30 days shows whether a cycle's cost follows the new points or the history.
//!
//! The history is one point per endpoint every `--history-every-s` seconds (sparser than 5 s so 30 days of
//! 10,000 endpoints fit on this machine's disk; the table's size, not its density, is what a history-bound
//! cycle would pay for). The measured minutes are written at full density just after it, and each cycle is
//! run with an explicit "now" that closes exactly one of them (`Aggregator::close_minutes`); the merge of the
//! completed hour (`merge_closed`, which `run` does in its own task) is measured separately.
//!
//! With `--shards K` the minutes are closed by K aggregators (`aggregator.shard = "i/K"`), each reporting the
//! raw points it read per minute (issue 19: each should read 1/K of them, not all); with `--influx URL` the
//! store is that influxd's database `watchpost` (which the caller creates) instead of SQLite.
//!
//! Usage: rollup_bench [--endpoints N] [--history-days D] [--history-every-s S] [--cycles C] [--db PATH]
//!        [--shards K] [--influx URL]

mod common;

use std::sync::Arc;
use std::time::Instant;
use watchpost_aggregator::{metrics::AggregatorMetrics, Aggregator};
use watchpost_core::config::{Config, Format, SqliteConfig};
use watchpost_core::model::Resolution;
use watchpost_core::store::{sqlite::SqliteStore, Store};
use watchpost_core::time::now_nanos;

struct Args {
    endpoints: usize,
    history_days: i64,
    history_every_s: i64,
    cycles: usize,
    db: String,
    shards: u32,
    influx: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        endpoints: 10_000,
        history_days: 1,
        history_every_s: 300,
        cycles: 5,
        db: "/tmp/watchpost-rollup-bench.db".into(),
        shards: 1,
        influx: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoints" => a.endpoints = val()?.parse().map_err(|e| format!("--endpoints: {e}"))?,
            "--history-days" => a.history_days = val()?.parse().map_err(|e| format!("--history-days: {e}"))?,
            "--history-every-s" => a.history_every_s = val()?.parse().map_err(|e| format!("--history-every-s: {e}"))?,
            "--cycles" => a.cycles = val()?.parse().map_err(|e| format!("--cycles: {e}"))?,
            "--db" => a.db = val()?,
            "--shards" => a.shards = val()?.parse().map_err(|e| format!("--shards: {e}"))?,
            "--influx" => a.influx = Some(val()?),
            "-h" | "--help" => {
                return Err(
                    "usage: rollup_bench [--endpoints N] [--history-days D] [--history-every-s S] [--cycles C] [--db PATH] [--shards K] [--influx URL]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.endpoints == 0 || a.history_every_s <= 0 || a.cycles == 0 || a.history_days < 0 || a.shards == 0 {
        return Err("--endpoints, --history-every-s, --cycles and --shards must be positive".into());
    }
    Ok(a)
}

const S: i64 = 1_000_000_000;
const MIN: i64 = 60 * S;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", args.db));
    }
    let cfg_text: String =
        (0..args.endpoints).map(|i| format!("[[endpoints]]\nid = \"endpoint-{i:05}\"\nurl = \"http://127.0.0.1/\"\n\n")).collect();
    let config = match Config::from_str_with_env("bench.toml", Format::Toml, &cfg_text, &Default::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let opened: Result<Arc<dyn Store>, _> = match &args.influx {
        None => SqliteStore::open(&SqliteConfig {
            path: args.db.clone().into(),
            retention: std::time::Duration::from_secs(86_400 * 60),
            check_history: std::time::Duration::from_secs(86_400),
        })
        .await
        .map(|s| Arc::new(s) as Arc<dyn Store>),
        Some(url) => common::influx_store(url, "watchpost").map(|s| Arc::new(s) as Arc<dyn Store>),
    };
    let store = match opened {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let series = common::series(args.endpoints);
    // The measured minutes start at a whole hour two hours ago; history ends where they begin.
    let start = Resolution::Hour.floor(now_nanos()) - 2 * 3600 * S;
    let history_from = start - args.history_days * 86_400 * S;
    let t0 = Instant::now();
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(50_000);
    let mut ts = history_from;
    let mut slot = 0usize;
    while ts < start {
        for (i, s) in series.iter().enumerate() {
            batch.push(common::point(s, i, slot, ts + i as i64 * 1000));
            if batch.len() == 50_000 {
                written += batch.len() as u64;
                store.write(&batch).await.unwrap_or_else(|e| panic!("write: {e}"));
                batch.clear();
            }
        }
        ts += args.history_every_s * S;
        slot += 1;
        if slot % 500 == 0 {
            eprintln!("history: {written} points, {:.0} s", t0.elapsed().as_secs_f64());
        }
    }
    // The measured minutes: every endpoint every 5 s (phases spread over the 5 s).
    let minutes = args.cycles as i64 + 61;
    let mut ts = start;
    while ts < start + minutes * MIN {
        for (i, s) in series.iter().enumerate() {
            let phase = (i as i64 * 5 * S) / args.endpoints as i64;
            batch.push(common::point(s, i, slot, ts + phase));
        }
        if batch.len() >= 50_000 {
            written += batch.len() as u64;
            store.write(&batch).await.unwrap_or_else(|e| panic!("write: {e}"));
            batch.clear();
        }
        ts += 5 * S;
        slot += 1;
    }
    written += batch.len() as u64;
    store.write(&batch).await.unwrap_or_else(|e| panic!("write: {e}"));
    println!(
        "history: {} days of {} endpoints every {} s, plus {minutes} minutes at 5 s: {written} points written in {:.1} s",
        args.history_days,
        args.endpoints,
        args.history_every_s,
        t0.elapsed().as_secs_f64()
    );

    // Watermarks at the first measured minute: history is not rolled up, each cycle closes one new minute.
    for r in Resolution::ALL {
        store.set_watermark(r.measurement(), r.floor(start)).await.unwrap_or_else(|e| panic!("watermark: {e}"));
    }
    let lateness = config.aggregator.lateness.as_nanos() as i64;
    // One aggregator, or one per shard, each with the same configuration but its `aggregator.shard`.
    let shard_configs: Vec<Config> = if args.shards == 1 {
        vec![config]
    } else {
        (1..=args.shards)
            .map(|i| {
                let text = format!("{cfg_text}[aggregator]\nshard = \"{i}/{}\"\n", args.shards);
                Config::from_str_with_env("bench.toml", Format::Toml, &text, &Default::default()).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    };
    if args.shards > 1 {
        for r in Resolution::ALL {
            for c in &shard_configs {
                let name = watchpost_core::config::Shard::watermark(c.aggregator.shard, r.measurement());
                store.set_watermark(&name, r.floor(start)).await.unwrap_or_else(|e| panic!("watermark: {e}"));
            }
        }
    }
    let mut aggs: Vec<Aggregator> =
        shard_configs.iter().map(|c| Aggregator::new(c, store.clone(), Arc::new(AggregatorMetrics::default()))).collect();
    let mut minute_cycles = Vec::new();
    for k in 1..=minutes {
        let now = start + k * MIN + lateness;
        for agg in &mut aggs {
            let (wall, cpu) = (Instant::now(), common::cpu_seconds());
            let stats = agg.close_minutes(now).await.unwrap_or_else(|e| panic!("cycle: {e}"));
            let (wall, cpu) = (wall.elapsed().as_secs_f64(), common::cpu_seconds() - cpu);
            // The first cycle also learns the series from the store; it is left out.
            if k > 1 {
                minute_cycles.push((wall, cpu, stats));
            }
        }
    }
    // The hour that the minutes completed, merged as `run` does it: beside the minute cycles.
    let mut hour_cycles = Vec::new();
    for c in &shard_configs {
        let (wall, cpu) = (Instant::now(), common::cpu_seconds());
        let merged = watchpost_aggregator::merge_closed(&*store, c.aggregator.shard, c.endpoints.len())
            .await
            .unwrap_or_else(|e| panic!("merge: {e}"));
        hour_cycles.push((wall.elapsed().as_secs_f64(), common::cpu_seconds() - cpu, merged));
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let walls: Vec<f64> = minute_cycles.iter().map(|c| c.0).collect();
    let cpus: Vec<f64> = minute_cycles.iter().map(|c| c.1).collect();
    let points = med(minute_cycles.iter().map(|c| c.2.points_read as f64).collect());
    println!(
        "minute cycle ({} endpoints, {} shard(s), {points:.0} raw points read per shard, {} rollups written): median {:.3} s wall, {:.3} s CPU (min {:.3}, max {:.3} s wall) over {} shard-cycles, the hour boundary included",
        args.endpoints,
        args.shards,
        minute_cycles.first().map_or(0, |c| c.2.rollups_written),
        med(walls.clone()),
        med(cpus),
        walls.iter().copied().fold(f64::INFINITY, f64::min),
        walls.iter().copied().fold(0.0, f64::max),
        minute_cycles.len()
    );
    for (wall, cpu, s) in &hour_cycles {
        println!("hour merge (60 minute rollups per series into the hour, beside the minute cycles): {wall:.3} s wall, {cpu:.3} s CPU, {} hour(s), {} rollups written", s.hours, s.rollups_written);
    }
}
