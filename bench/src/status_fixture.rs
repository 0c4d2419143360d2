//! `watchpost status` benchmark fixture (issue 19): a SQLite store holding what N endpoints leave after D
//! days: hour rollups for D days, minute rollups for the last two hours and for the hour a day ago (each
//! with a real latency histogram), raw probe points every 5 s for the last R minutes, the aggregator's
//! watermarks (minutes closed to two minutes ago, hours to this hour, rollups since D days ago), the latest
//! states it saves and its availability windows (`aggregator::windows`). With `--no-rollups` only the raw points are written and no watermark: the
//! store an agent without an aggregator leaves, which `watchpost status` sums from raw points.
//!
//! With `--influx URL` the same points go to database `watchpost` (or `--database NAME`) of that influxd
//! instead (the configuration is still written to `PATH.toml`).
//!
//! Usage: status_fixture [--endpoints N] [--days D] [--raw-minutes R] [--db PATH] [--influx URL [--database NAME]] [--no-rollups]

mod common;

use std::sync::Arc;
use std::time::Duration;
use watchpost_core::config::SqliteConfig;
use watchpost_core::model::{Point, ProbePoint, Resolution, SeriesKey};
use watchpost_core::store::{sqlite::SqliteStore, Store, StoreError};

const USAGE: &str =
    "usage: status_fixture [--endpoints N] [--days D] [--raw-minutes R] [--db PATH] [--influx URL [--database NAME]] [--no-rollups]";
const S: i64 = 1_000_000_000;
const MIN: i64 = 60 * S;
const H: i64 = 60 * MIN;

/// A latency histogram as the aggregator writes it for `samples` probes (latencies spread over 30-170 ms), so
/// rows are as large as real ones: the sums read past them.
fn histogram(samples: u64) -> String {
    let mut h = watchpost_core::hist::new();
    for i in 0..samples {
        watchpost_core::hist::record_ms(&mut h, 30.0 + (i * 37 % 140) as f64 + (i % 10) as f64 / 10.0);
    }
    watchpost_core::hist::encode(&h)
}

/// Writes `points` once there are at least `at_least`.
async fn flush(store: &dyn Store, points: &mut Vec<Point>, at_least: usize, written: &mut usize) -> Result<(), StoreError> {
    if !points.is_empty() && points.len() >= at_least {
        *written += points.len();
        store.write(points).await?;
        points.clear();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut endpoints, mut days, mut raw_minutes) = (10_000usize, 1.0f64, 3i64);
    let (mut db, mut rollups, mut influx) = ("/tmp/watchpost-status-bench/w.db".to_string(), true, None);
    let mut database = "watchpost".to_string();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-rollups" {
            rollups = false;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            return Ok(());
        }
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--endpoints" => endpoints = val.parse()?,
            "--days" => days = val.parse()?,
            "--raw-minutes" => raw_minutes = val.parse()?,
            "--db" => db = val,
            "--influx" => influx = Some(val),
            "--database" => database = val,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let path = std::path::PathBuf::from(&db);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
    let (store, mut toml): (Box<dyn Store>, String) = match &influx {
        None => (
            Box::new(
                SqliteStore::open(&SqliteConfig {
                    path: path.clone(),
                    retention: Duration::from_secs(400 * 86_400),
                    check_history: Duration::from_secs(86_400),
                })
                .await?,
            ),
            format!("[store]\ntype = \"sqlite\"\npath = \"{db}\"\nretention = \"400d\"\n\n"),
        ),
        Some(url) => (
            Box::new(common::influx_store(url, &database)?),
            format!("[store]\ntype = \"influxdb\"\nurl = \"{url}\"\ndatabase = \"{database}\"\n\n"),
        ),
    };
    let now = watchpost_core::time::now_nanos();
    let (this_hour, this_minute) = (now - now % H, now - now % MIN);
    let hours = (days * 24.0).round() as i64;
    let (mut points, mut written) = (Vec::new(), 0usize);
    let (minute_hist, hour_hist) = (histogram(12), histogram(720));
    let series: Vec<Arc<SeriesKey>> = (0..endpoints)
        .map(|e| {
            toml.push_str(&format!("[[endpoints]]\nid = \"ep-{e:05}\"\nurl = \"http://127.0.0.1:18080/?id={e}\"\n\n"));
            Arc::new(SeriesKey {
                endpoint: format!("ep-{e:05}"),
                region: "eu".into(),
                component: String::new(),
                environment: "production".into(),
            })
        })
        .collect();
    // Written in time order, every series of one window together, as the aggregator and the agents write:
    // the file's layout (which pages hold the last day) is then the one a real store has.
    let mut windows: Vec<(Resolution, i64)> = Vec::new();
    if rollups {
        windows.extend((1..=hours).rev().map(|h| (Resolution::Hour, this_hour - h * H)));
        // Minutes for the hour a day ago (the open edge of the last 24 h) and for the last two hours.
        windows.extend((0..60).filter(|_| hours >= 24).map(|m| (Resolution::Minute, this_hour - 24 * H + m * MIN)));
        let minutes = ((this_minute - 2 * MIN) - (this_hour - H)) / MIN;
        windows.extend((0..minutes).map(|m| (Resolution::Minute, this_hour - H + m * MIN)));
    }
    for (resolution, ts) in windows {
        for (e, s) in series.iter().enumerate() {
            let (len, hist) = if resolution == Resolution::Hour { (3600.0, &hour_hist) } else { (60.0, &minute_hist) };
            let h = (this_hour - ts) / H;
            let down = if resolution == Resolution::Hour && e % 7 == 0 && h % 240 == e as i64 % 240 { 1200.0 } else { 0.0 };
            points.push(common::rollup(resolution, s, ts, len, down, 40.0, hist));
        }
        flush(&*store, &mut points, 50_000, &mut written).await?;
    }
    for k in 0..(raw_minutes * 12) {
        for (e, s) in series.iter().enumerate() {
            let down = e % 10 == 3;
            points.push(Point::Probe(ProbePoint {
                series: s.clone(),
                ts: now - (raw_minutes * 60 - k * 5) * S + (e as i64 % 5) * S / 5,
                availability: if down { 0.0 } else { 100.0 },
                ok: !down,
                latency_ms: 42.0,
                dns_ms: None,
                connect_ms: None,
                tls_ms: None,
                ttfb_ms: None,
                status_code: Some(200),
                cert_days_left: None,
                error: None,
                confirmed_down: down,
                failed_step: None,
            }));
        }
        flush(&*store, &mut points, 50_000, &mut written).await?;
    }
    flush(&*store, &mut points, 0, &mut written).await?;
    // A long fixture (30 days take minutes to write) ends later than it began: the minutes are closed to two
    // minutes before its end, as a running aggregator's would be when `status` runs (the minutes written
    // meanwhile have no rollups: empty minutes).
    let end = watchpost_core::time::now_nanos();
    let closed_to = end - end % MIN - 2 * MIN;
    if rollups {
        store.set_watermark(Resolution::Minute.measurement(), closed_to).await?;
        store.set_watermark(Resolution::Hour.measurement(), this_hour).await?;
        store.set_watermark(watchpost_aggregator::ROLLUP_START, this_hour - hours * H).await?;
        // What a running aggregator leaves too: the latest states saved for other processes' first read
        // (`Store::save_states`; a no-op on SQLite, which keeps them as it writes).
        store.latest_states().await?;
        store.save_states().await?;
        // And the availability windows it keeps and saves each minute (`aggregator::windows`), built as it
        // builds them at start: what `watchpost status` reads first.
        let mut windows = watchpost_aggregator::windows::Windows::new(&*store, None, endpoints);
        windows.advance(&*store, Vec::new(), 0, closed_to).await?;
        windows.save(&*store).await?;
    }
    std::fs::write(format!("{db}.toml"), toml)?;
    println!("{db}: {endpoints} endpoints, {hours} h of hour rollups, {raw_minutes} min of raw points, {written} rows");
    Ok(())
}
