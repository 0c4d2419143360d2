//! InfluxDB and spool benchmark driver, run by `bench/influx.py` (which starts `influxd`, runs curl for the
//! ceiling and prints the report). Subcommands print one JSON object per line:
//!
//! - `write URL DB SERIES SLOTS BODIES_DIR`: generates SERIES x SLOTS probe points; encodes them into the
//!   writer's gzip bodies (timed: CPU per 1,000 points), saves the bodies for curl, then writes the same
//!   points through `InfluxStore` in batches of 5,000 (timed: points/s, CPU per 1,000 points).
//! - `spool DIR SERIES SLOTS [URL DB]`: appends the points to a spool in batches of 5,000 with an fsync each
//!   (appends/s, points/s, MB/s), then, with URL, replays them into InfluxDB (points/s).
//! - `queries URL DB SQLITE SERIES HOURS INTERVAL_S`: loads the same day of points into both stores and times
//!   each conformance query on both (median of 5 after one warm-up).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};
use watchpost_agent::spool::{Spool, SpoolConfig};
use watchpost_core::config::{InfluxApi, InfluxAuth, InfluxConfig, SqliteConfig};
use watchpost_core::model::Point;
use watchpost_core::store::{influx, sqlite::SqliteStore, Select, Store};
use watchpost_core::time::{now_nanos, TimeRange};

/// SERIES x SLOTS points, slot by slot (as agents write), ending now.
fn points(series: usize, slots: usize, interval_s: i64) -> Vec<Point> {
    let keys = common::series(series);
    let end = now_nanos() / 1_000_000_000 * 1_000_000_000;
    let start = end - slots as i64 * interval_s * 1_000_000_000;
    let mut out = Vec::with_capacity(series * slots);
    for slot in 0..slots {
        for (i, k) in keys.iter().enumerate() {
            out.push(common::point(k, i, slot, start + slot as i64 * interval_s * 1_000_000_000 + i as i64 * 1000));
        }
    }
    out
}

fn influx_store(url: &str, db: &str) -> influx::InfluxStore {
    let cfg = InfluxConfig {
        url: url.into(),
        api: InfluxApi::V1,
        database: db.into(),
        retention_policy: None,
        rollup_retention_policy: None,
        org: None,
        bucket: None,
        auth: InfluxAuth::None,
        timeout: Duration::from_secs(60),
    };
    influx::InfluxStore::new(&cfg).unwrap_or_else(|e| fail(&e.to_string()))
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> T {
    args.get(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fail(&format!("argument {i} ({name}) missing or invalid; see the module doc")))
}

async fn write(args: &[String]) {
    let (url, db, series, slots, dir): (String, String, usize, usize, String) =
        (arg(args, 2, "URL"), arg(args, 3, "DB"), arg(args, 4, "SERIES"), arg(args, 5, "SLOTS"), arg(args, 6, "BODIES_DIR"));
    let pts = points(series, slots, 5);
    let (c0, t0) = (common::cpu_seconds(), Instant::now());
    let bodies: Vec<(Vec<u8>, u64)> = pts.chunks(influx::MAX_LINES).flat_map(|c| influx::encode_batches(c, None)).collect();
    let (encode_cpu, encode_wall) = (common::cpu_seconds() - c0, t0.elapsed().as_secs_f64());
    let raw: usize = bodies.iter().map(|b| b.0.len()).sum();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&e.to_string()));
    for (i, (b, _)) in bodies.iter().enumerate() {
        std::fs::write(format!("{dir}/{i:06}.lp.gz"), b).unwrap_or_else(|e| fail(&e.to_string()));
    }
    let store = influx_store(&url, &db);
    let (c0, t0) = (common::cpu_seconds(), Instant::now());
    for batch in pts.chunks(influx::MAX_LINES) {
        store.write(batch).await.unwrap_or_else(|e| fail(&e.to_string()));
    }
    let (cpu, wall) = (common::cpu_seconds() - c0, t0.elapsed().as_secs_f64());
    let n = pts.len() as f64;
    println!(
        "{{\"points\": {n}, \"bodies\": {}, \"gzip_bytes\": {raw}, \"encode_cpu_ms_per_1000\": {:.3}, \"encode_wall_s\": {encode_wall:.3}, \"write_points_per_s\": {:.0}, \"write_cpu_ms_per_1000\": {:.3}, \"write_wall_s\": {wall:.3}}}",
        bodies.len(),
        encode_cpu * 1e6 / n,
        n / wall,
        cpu * 1e6 / n
    );
}

async fn spool(args: &[String]) {
    let (dir, series, slots): (String, usize, usize) = (arg(args, 2, "DIR"), arg(args, 3, "SERIES"), arg(args, 4, "SLOTS"));
    let pts = points(series, slots, 5);
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = SpoolConfig { dir: dir.clone().into(), max_bytes: 64 << 30, segment_bytes: 64 << 20 };
    let (mut spool, _) = Spool::open(cfg.clone()).unwrap_or_else(|e| fail(&e.to_string()));
    let (c0, t0) = (common::cpu_seconds(), Instant::now());
    let mut appends = 0;
    for batch in pts.chunks(influx::MAX_LINES) {
        spool.append(batch).unwrap_or_else(|e| fail(&e.to_string()));
        appends += 1;
    }
    let (cpu, wall) = (common::cpu_seconds() - c0, t0.elapsed().as_secs_f64());
    let bytes = spool.pending().1 as f64;
    let n = pts.len() as f64;
    print!(
        "{{\"points\": {n}, \"appends_per_s\": {:.0}, \"append_points_per_s\": {:.0}, \"append_mb_per_s\": {:.1}, \"append_cpu_ms_per_1000\": {:.3}, \"bytes_per_point\": {:.1}",
        appends as f64 / wall,
        n / wall,
        bytes / wall / 1e6,
        cpu * 1e6 / n,
        bytes / n
    );
    if let (Some(url), Some(db)) = (args.get(5), args.get(6)) {
        let store = influx_store(url, db);
        let (c0, t0) = (common::cpu_seconds(), Instant::now());
        let mut replayed = 0u64;
        while let Some((ticket, batch)) = spool.next_record().unwrap_or_else(|e| fail(&e.to_string())) {
            store.write(&batch).await.unwrap_or_else(|e| fail(&e.to_string()));
            replayed += batch.len() as u64;
            spool.commit(ticket).unwrap_or_else(|e| fail(&e.to_string()));
        }
        let (cpu, wall) = (common::cpu_seconds() - c0, t0.elapsed().as_secs_f64());
        print!(
            ", \"replay_points\": {replayed}, \"replay_points_per_s\": {:.0}, \"replay_cpu_ms_per_1000\": {:.3}",
            replayed as f64 / wall,
            cpu * 1e6 / replayed.max(1) as f64
        );
    }
    println!("}}");
}

type Query<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;

/// Median of five timed runs after one warm-up, in milliseconds, and the last result.
async fn time_it<'a, T>(f: impl Fn() -> Query<'a, T>) -> (f64, T) {
    let _ = f().await; // warm-up
    let mut v = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        last = Some(f().await);
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(f64::total_cmp);
    (v[2], last.unwrap_or_else(|| fail("no run")))
}

async fn queries(args: &[String]) {
    let (url, db, path, series, hours, interval): (String, String, String, usize, usize, i64) = (
        arg(args, 2, "URL"),
        arg(args, 3, "DB"),
        arg(args, 4, "SQLITE"),
        arg(args, 5, "SERIES"),
        arg(args, 6, "HOURS"),
        arg(args, 7, "INTERVAL_S"),
    );
    let slots = hours * 3600 / interval as usize;
    let pts = points(series, slots, interval);
    let sqlite = SqliteStore::open(&SqliteConfig {
        path: path.into(),
        retention: Duration::from_secs(86_400 * 30),
        check_history: Duration::from_secs(86_400),
    })
    .await
    .unwrap_or_else(|e| fail(&e.to_string()));
    let influx = influx_store(&url, &db);
    for batch in pts.chunks(influx::MAX_LINES) {
        sqlite.write(batch).await.unwrap_or_else(|e| fail(&e.to_string()));
        influx.write(batch).await.unwrap_or_else(|e| fail(&e.to_string()));
    }
    eprintln!("loaded {} points into both stores", pts.len());
    // Windows end at the data's end, not at the clock: loading takes minutes.
    let end = pts.iter().map(Point::ts).max().unwrap_or_else(now_nanos) + 1;
    let hour = TimeRange::new(end - 3_600_000_000_000, end);
    let minute = TimeRange::new(end - 60_000_000_000, end);
    let stores: [(&str, &dyn Store); 2] = [("sqlite", &sqlite), ("influxdb", &influx)];
    let slots_map: HashMap<String, Duration> = HashMap::new();
    for (name, store) in stores {
        let (latest, n) =
            time_it(|| Box::pin(async { store.latest_states().await.map(|v| v.len()).unwrap_or_else(|e| fail(&e.to_string())) })).await;
        let (one, n1) =
            time_it(|| Box::pin(async { store.probe_points("endpoint-00042", None, hour).await.map(|v| v.len()).unwrap_or(0) })).await;
        let (window, nw) =
            time_it(|| Box::pin(async { store.probe_points_all(minute, Select::All).await.map(|v| v.len()).unwrap_or(0) })).await;
        let (avail, na) = time_it(|| {
            Box::pin(async {
                store.availability(hour, &slots_map, Duration::from_secs(interval as u64)).await.map(|v| v.len()).unwrap_or(0)
            })
        })
        .await;
        println!(
            "{{\"store\": \"{name}\", \"latest_states_ms\": {latest:.1}, \"latest_rows\": {n}, \"one_endpoint_hour_ms\": {one:.1}, \"one_endpoint_points\": {n1}, \"all_minute_window_ms\": {window:.1}, \"minute_points\": {nw}, \"availability_hour_all_ms\": {avail:.1}, \"availability_series\": {na}}}"
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("write") => write(&args).await,
        Some("spool") => spool(&args).await,
        Some("queries") => queries(&args).await,
        _ => fail("usage: influx_bench write|spool|queries … (see the module doc)"),
    }
}
