//! Status page benchmark fixture: a SQLite store with what a page of C components (one endpoint each, in
//! groups of five) shows after 90 days: hour rollups for 90 days and minute rollups for the last day (the
//! `all` merge the page reads, plus one region), a latest probe point per endpoint (one in ten down), and
//! a configuration `DB.toml` serving the page on PORT. `bench/statuspage.py` runs the page on it.
//!
//! Usage: statuspage_fixture [--components C] [--db PATH] [--port PORT]

mod common;

use std::sync::Arc;
use watchpost_core::config::SqliteConfig;
use watchpost_core::model::{Point, ProbePoint, Resolution, SeriesKey, ALL_REGIONS};
use watchpost_core::store::{sqlite::SqliteStore, Store};

const S: i64 = 1_000_000_000;
const MIN: i64 = 60 * S;
const H: i64 = 60 * MIN;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut components, mut db, mut port) = (50usize, "/tmp/watchpost-statuspage-bench/w.db".to_string(), 18091u16);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--components" => components = val.parse()?,
            "--db" => db = val,
            "--port" => port = val.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let path = std::path::PathBuf::from(&db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
    let _ = std::fs::remove_file(path.with_file_name("state.db"));
    let store = SqliteStore::open(&SqliteConfig {
        path: path.clone(),
        retention: std::time::Duration::from_secs(100 * 86_400),
        check_history: std::time::Duration::from_secs(86_400),
    })
    .await?;
    let now = watchpost_core::time::now_nanos();
    let this_hour = now - now % H;
    let this_minute = now - now % MIN;
    let mut toml = format!(
        "[store]\ntype = \"sqlite\"\npath = \"{db}\"\nretention = \"100d\"\n\n[statuspage]\nlisten = \"127.0.0.1:{port}\"\ntitle = \"Benchmark status\"\ntimezone = \"Europe/Berlin\"\n\n"
    );
    for g in 0..components.div_ceil(5) {
        toml.push_str(&format!("[[statuspage.groups]]\nid = \"group-{g}\"\nname = \"Group {g}\"\n\n"));
    }
    let mut points = Vec::new();
    for c in 0..components {
        let id = format!("component-{c:03}");
        toml.push_str(&format!("[[statuspage.components]]\nid = \"{id}\"\nname = \"Component {c}\"\ngroup = \"group-{}\"\n\n", c / 5));
        toml.push_str(&format!("[[endpoints]]\nid = \"ep-{c:03}\"\nurl = \"http://127.0.0.1:18080/?id={c}\"\ncomponent = \"{id}\"\n\n"));
        for region in [ALL_REGIONS, "eu"] {
            let series = Arc::new(SeriesKey {
                endpoint: format!("ep-{c:03}"),
                region: region.into(),
                component: id.clone(),
                environment: "production".into(),
            });
            for h in 1..=(90 * 24) {
                // One component in seven has a 20-minute outage every ten days.
                let down = if c % 7 == 0 && h % 240 == c as i64 % 240 { 1200.0 } else { 0.0 };
                points.push(common::rollup(Resolution::Hour, &series, this_hour - h * H, 3600.0, down, 40.0 + (h % 24) as f64, ""));
            }
            for m in 1..=(24 * 60) {
                points.push(common::rollup(Resolution::Minute, &series, this_minute - m * MIN, 60.0, 0.0, 40.0 + (m % 60) as f64, ""));
            }
            if region != ALL_REGIONS {
                let down = c % 10 == 3;
                points.push(Point::Probe(ProbePoint {
                    series: series.clone(),
                    ts: now - S,
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
        }
        if points.len() > 200_000 {
            store.write(&points).await?;
            points.clear();
        }
    }
    store.write(&points).await?;
    std::fs::write(format!("{db}.toml"), toml)?;
    println!("{db}: {components} components, 90 days of hour rollups, 1 day of minute rollups; config {db}.toml");
    Ok(())
}
