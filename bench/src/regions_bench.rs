//! Observer for `bench/regions.py`: reads every endpoint's latest state from InfluxDB every POLL ms, as the
//! status page, the publishers and `watchpost status` do, decides each endpoint's status by the regions'
//! vote (`watchpost_core::health`), and prints a JSON line whenever an endpoint's status changes
//! (`{"t": unix seconds, "endpoint": …, "status": "up"|"degraded"|"down"}`) and one per read with its time.
//!
//! Usage: regions_bench --influx URL --endpoints N [--seconds 120] [--poll-ms 1000]

use std::collections::HashMap;
use std::time::{Duration, Instant};
use watchpost_core::config::{Config, Format};
use watchpost_core::health::{EndpointHealth, Voting};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut influx, mut endpoints, mut seconds, mut poll_ms) = (String::new(), 5000usize, 120u64, 1000u64);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--influx" => influx = val,
            "--endpoints" => endpoints = val.parse()?,
            "--seconds" => seconds = val.parse()?,
            "--poll-ms" => poll_ms = val.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let mut text = format!("[store]\ntype = \"influxdb\"\nurl = \"{influx}\"\ndatabase = \"watchpost\"\ntimeout = \"60s\"\n");
    for i in 0..endpoints {
        text.push_str(&format!("[[endpoints]]\nid = \"e-{i:05}\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n"));
    }
    let cfg = Config::from_str_with_env("regions.toml", Format::Toml, &text, &HashMap::new()).map_err(|e| e.to_string())?;
    let store = watchpost_core::store::open(&cfg.store).await?;
    let voting = Voting::new(&cfg).without_objective();
    let mut last: HashMap<String, &'static str> = HashMap::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let started = Instant::now();
        let states = store.latest_states().await?;
        let read_ms = started.elapsed().as_secs_f64() * 1e3;
        let now = watchpost_core::time::now_nanos();
        let mut by_endpoint: HashMap<&str, Vec<&watchpost_core::model::EndpointState>> = HashMap::new();
        for s in &states {
            by_endpoint.entry(s.endpoint.as_str()).or_default().push(s);
        }
        let t = now as f64 / 1e9;
        for (e, list) in &by_endpoint {
            let status = match voting.health(e, list.iter().copied(), now) {
                Some(EndpointHealth::Down) => "down",
                Some(EndpointHealth::Degraded) => "degraded",
                _ => "up",
            };
            if last.get(*e) != Some(&status) {
                println!("{{\"t\":{t:.3},\"endpoint\":\"{e}\",\"status\":\"{status}\"}}");
                last.insert(e.to_string(), status);
            }
        }
        println!("{{\"t\":{t:.3},\"read_ms\":{read_ms:.1},\"series\":{}}}", states.len());
        tokio::time::sleep(Duration::from_millis(poll_ms).saturating_sub(started.elapsed())).await;
    }
    Ok(())
}
