//! Store benchmark: batched write throughput into the embedded SQLite store, then the query time of "latest
//! state of every endpoint" and of one endpoint's last hour, over the history just written.
//!
//! Usage: store_bench [--endpoints N] [--hours H] [--interval-s S] [--batch B] [--db PATH]
//! Prints one line per figure; run through `bench/store.sh`, which records the command beside the figures.

mod common;

use std::time::{Duration, Instant};
use watchpost_core::config::SqliteConfig;

use watchpost_core::store::{sqlite::SqliteStore, Store};
use watchpost_core::time::{now_nanos, TimeRange};

struct Args {
    endpoints: usize,
    hours: u64,
    interval_s: u64,
    batch: usize,
    db: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { endpoints: 10_000, hours: 24, interval_s: 60, batch: 5_000, db: "/tmp/watchpost-store-bench.db".into() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoints" => a.endpoints = val()?.parse().map_err(|e| format!("--endpoints: {e}"))?,
            "--hours" => a.hours = val()?.parse().map_err(|e| format!("--hours: {e}"))?,
            "--interval-s" => a.interval_s = val()?.parse().map_err(|e| format!("--interval-s: {e}"))?,
            "--batch" => a.batch = val()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--db" => a.db = val()?,
            "-h" | "--help" => return Err("usage: store_bench [--endpoints N] [--hours H] [--interval-s S] [--batch B] [--db PATH]".into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.endpoints == 0 || a.interval_s == 0 || a.batch == 0 {
        return Err("--endpoints, --interval-s and --batch must be positive".into());
    }
    Ok(a)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
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
    let store = match SqliteStore::open(&SqliteConfig {
        path: args.db.clone().into(),
        retention: Duration::from_secs(86_400 * 30),
        check_history: Duration::from_secs(86_400),
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let series = common::series(args.endpoints);
    let slots = args.hours * 3600 / args.interval_s;
    let total = slots as usize * args.endpoints;
    let end = now_nanos();
    let start = end - (args.hours * 3600) as i64 * 1_000_000_000;
    println!(
        "writing {total} points: {} endpoints x {slots} slots ({} h at {} s), batches of {}",
        args.endpoints, args.hours, args.interval_s, args.batch
    );

    let (cpu0, t0) = (common::cpu_seconds(), Instant::now());
    let mut batch = Vec::with_capacity(args.batch);
    let mut written = 0usize;
    let mut next_report = total / 10;
    for slot in 0..slots {
        let ts = start + (slot * args.interval_s) as i64 * 1_000_000_000;
        for (i, s) in series.iter().enumerate() {
            // Spread within the slot, as the scheduler does.
            batch.push(common::point(s, i, slot as usize, ts + i as i64 * 1000));
            if batch.len() == args.batch {
                if let Err(e) = store.write(&batch).await {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
                written += batch.len();
                batch.clear();
                if written >= next_report {
                    eprintln!(
                        "  {:>3}% ({written} points, {:.0} points/s)",
                        written * 100 / total,
                        written as f64 / t0.elapsed().as_secs_f64()
                    );
                    next_report += total / 10;
                }
            }
        }
    }
    if !batch.is_empty() {
        if let Err(e) = store.write(&batch).await {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        written += batch.len();
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), common::cpu_seconds() - cpu0);
    println!(
        "write: {written} points in {wall:.1} s = {:.0} points/s; CPU {cpu:.1} s = {:.2} us/point",
        written as f64 / wall,
        cpu * 1e6 / written as f64
    );

    let mut latest = Vec::new();
    let mut n = 0;
    for _ in 0..21 {
        let t = Instant::now();
        n = store.latest_states().await.map(|v| v.len()).unwrap_or(0);
        latest.push(t.elapsed());
    }
    latest.remove(0); // the first run warms the page cache
    let max = latest.iter().max().copied().unwrap_or_default();
    println!(
        "latest state of every endpoint ({n} rows): median {:.1} ms, max {:.1} ms over 20 runs",
        median(latest).as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );

    let mut one = Vec::new();
    let mut pts = 0;
    for i in 0..21 {
        let t = Instant::now();
        pts = store
            .probe_points(&series[i * 7 % series.len()].endpoint, None, TimeRange::new(end - 3_600_000_000_000, end))
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        one.push(t.elapsed());
    }
    one.remove(0);
    println!("one endpoint, last hour ({pts} points): median {:.2} ms over 20 runs", median(one).as_secs_f64() * 1e3);
    let size: u64 = ["", "-wal"].iter().filter_map(|s| std::fs::metadata(format!("{}{s}", args.db)).ok()).map(|m| m.len()).sum();
    println!("database size: {:.0} MiB ({:.0} bytes/point)", size as f64 / 1048576.0, size as f64 / written.max(1) as f64);
}
