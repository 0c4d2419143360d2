//! `watchpost status`: every endpoint's confirmed state, read from the store.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::time::Duration;
use watchpost_aggregator::recent::SeriesId;
use watchpost_aggregator::windows;
use watchpost_core::config::Config;
use watchpost_core::health::{EndpointHealth, RegionReport, Voting};
use watchpost_core::model::{Availability, EndpointState, SlotAccumulator};
use watchpost_core::time::{duration_nanos, format_rfc3339, now_nanos, Nanos, TimeRange};

/// Saved availability windows older than this (or ending this long before the closable minute) are not used:
/// the aggregator has stopped or fallen behind, and `status` sums the rollups itself.
const WINDOWS_MAX_AGE: Nanos = 5 * 60 * 1_000_000_000;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

struct Row {
    endpoint: String,
    region: String,
    environment: String,
    state: &'static str,
    /// Across regions, by quorum (DESIGN.md §5.4): `up`, `degraded`, `DOWN`, `no data`.
    verdict: &'static str,
    /// This region's state is too old to vote.
    silent: bool,
    since: i64,
    last_ts: i64,
    last_latency_ms: f64,
    last_error: String,
    avail_1h: Option<f64>,
    avail_24h: Option<f64>,
}

pub async fn print(cfg: &Config, format: Format) -> anyhow::Result<ExitCode> {
    let store = watchpost_core::store::open_existing(&cfg.store).await?;
    let states = store.latest_states().await?;
    let slots: HashMap<String, Duration> = cfg.endpoints.iter().map(|e| (e.id.clone(), e.interval)).collect();
    let now = now_nanos();
    // From rollups (the raw points only since the last closed minute): the cost follows the endpoint count,
    // not the history. Endpoints no longer configured use the default slot.
    let periods = [Duration::from_secs(3_600), Duration::from_secs(86_400)];
    let default = watchpost_core::config::defaults::INTERVAL;
    // First the sums the aggregator keeps and saves each minute (one document per shard); when it is not
    // running or is far behind, summed here from the rollups.
    let shard = cfg.aggregator.shard;
    let fresh = now - duration_nanos(cfg.aggregator.lateness) - WINDOWS_MAX_AGE;
    let (hour, day, until) = match windows::saved(&*store, shard, now - WINDOWS_MAX_AGE, fresh).await? {
        Some(saved) => {
            let [mut hour, mut day] = saved.periods;
            young_series(&*store, &states, [&mut hour, &mut day], &slots, default, (saved.upto, now)).await?;
            (hour, day, saved.upto)
        }
        None => {
            let recent = watchpost_aggregator::recent::availability(&*store, shard, &slots, default, &periods, now).await?;
            let [hour, day] = <[_; 2]>::try_from(recent).map_err(|_| anyhow::anyhow!("availability: expected two periods"))?;
            (hour, day, now)
        }
    };
    let voting = Voting::new(cfg);
    let mut by_endpoint: HashMap<(&str, &str), Vec<&EndpointState>> = HashMap::new();
    for s in &states {
        by_endpoint.entry((s.endpoint.as_str(), s.environment.as_str())).or_default().push(s);
    }
    let verdict = |s: &EndpointState| match voting.health(
        &s.endpoint,
        by_endpoint[&(s.endpoint.as_str(), s.environment.as_str())].iter().copied(),
        now,
    ) {
        Some(EndpointHealth::Down) => "DOWN",
        Some(EndpointHealth::Degraded) => "degraded",
        Some(EndpointHealth::Up) => "up",
        None => "no data",
    };
    // Sets, not scans: a scan of the endpoints per state is quadratic, 100 million comparisons at 10,000.
    let configured: HashSet<&str> = cfg.endpoints.iter().map(|e| e.id.as_str()).collect();
    let configured_in: HashSet<(&str, &str)> = cfg.endpoints.iter().map(|e| (e.id.as_str(), e.environment.as_str())).collect();
    let mut rows = Vec::with_capacity(states.len());
    for s in &states {
        // A configured endpoint whose environment changed left a series under the old one: not its state now.
        let key = (s.endpoint.as_str(), s.environment.as_str());
        if configured.contains(key.0) && !configured_in.contains(&key) {
            continue;
        }
        let key = (s.endpoint.clone(), s.region.clone(), s.environment.clone());
        rows.push(Row {
            endpoint: s.endpoint.clone(),
            region: s.region.clone(),
            environment: s.environment.clone(),
            state: if s.confirmed_down { "DOWN" } else { "up" },
            verdict: verdict(s),
            silent: !voting.vote(&s.endpoint, now).is_fresh(s),
            since: s.since,
            last_ts: s.last_ts,
            last_latency_ms: s.last_latency_ms,
            last_error: s.last_error.map(|c| c.to_string()).unwrap_or_default(),
            avail_1h: hour.get(&key).and_then(|a| a.percent()),
            avail_24h: day.get(&key).and_then(|a| a.percent()),
        });
    }
    for e in &cfg.endpoints {
        if !by_endpoint.contains_key(&(e.id.as_str(), e.environment.as_str())) {
            rows.push(Row {
                endpoint: e.id.clone(),
                region: cfg.agent.region.clone(),
                environment: e.environment.clone(),
                state: "no data",
                verdict: "no data",
                silent: false,
                since: 0,
                last_ts: 0,
                last_latency_ms: f64::NAN,
                last_error: String::new(),
                avail_1h: None,
                avail_24h: None,
            });
        }
    }
    let regions = voting.regions(&states, now);
    match format {
        Format::Table => {
            print_table(&rows, now);
            if until < now {
                println!("\nAVAIL 1H and 24H: the hour and the day to {}, the aggregator's last closed minute", format_rfc3339(until));
            }
            print_regions(&regions, now);
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "endpoint": r.endpoint, "region": r.region, "environment": r.environment, "state": r.state,
                        "endpoint_state": r.verdict, "region_silent": r.silent,
                        "since": (r.since > 0).then(|| format_rfc3339(r.since)),
                        "last_probe": (r.last_ts > 0).then(|| format_rfc3339(r.last_ts)),
                        "last_latency_ms": r.last_latency_ms.is_finite().then_some(r.last_latency_ms),
                        "last_error": r.last_error, "availability_1h": r.avail_1h, "availability_24h": r.avail_24h,
                        "availability_until": format_rfc3339(until),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
    }
    // Exit 1 when an endpoint is down by the regions' vote, so scripts can use `watchpost status` as a check.
    Ok(if rows.iter().any(|r| r.verdict == "DOWN") { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Up to this many young series are read one by one (each a read of one series); more, all series' raw
/// points after the windows at once.
const YOUNG_ONE_BY_ONE: usize = 20;

/// Series with points after the windows' end `until` but none in them (a new endpoint or region, a first
/// start) are summed from their raw points since `until`, so they do not show "-" until the aggregator's
/// next minute. A series with no point since (an endpoint removed a day ago) is not read.
async fn young_series(
    store: &dyn watchpost_core::store::Store,
    states: &[EndpointState],
    periods: [&mut HashMap<SeriesId, Availability>; 2],
    slots: &HashMap<String, Duration>,
    default: Duration,
    (until, now): (Nanos, Nanos),
) -> Result<(), watchpost_core::store::StoreError> {
    let [hour, day] = periods;
    let id = |s: &EndpointState| (s.endpoint.clone(), s.region.clone(), s.environment.clone());
    let young: Vec<&EndpointState> = states.iter().filter(|s| s.last_ts >= until && !day.contains_key(&id(s))).collect();
    if young.is_empty() {
        return Ok(());
    }
    let range = TimeRange::new(until, now);
    let mut sums: HashMap<SeriesId, Availability> = HashMap::new();
    if young.len() <= YOUNG_ONE_BY_ONE {
        for s in &young {
            let mut acc = SlotAccumulator::new(slots.get(&s.endpoint).copied().unwrap_or(default));
            for p in store.probe_points(&s.endpoint, Some(&s.region), range).await?.iter().filter(|p| p.series.environment == s.environment)
            {
                acc.push(p.ts, p.availability, p.ok);
            }
            sums.insert(id(s), acc.finish(now));
        }
    } else {
        sums =
            store.availability(range, slots, default).await?.into_iter().map(|(k, a)| ((k.endpoint, k.region, k.environment), a)).collect();
    }
    for s in young {
        if let Some(a) = sums.remove(&id(s)).filter(|a| a.samples > 0) {
            // Younger than the hour: both periods are its points so far.
            hour.insert(id(s), a);
            day.insert(id(s), a);
        }
    }
    Ok(())
}

fn ago(now: i64, ts: i64) -> String {
    if ts <= 0 {
        return "-".into();
    }
    let s = (now - ts).max(0) / 1_000_000_000;
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        7200..=172_799 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}%"))
}

fn print_table(rows: &[Row], now: i64) {
    let header =
        ["ENDPOINT", "ENVIRONMENT", "STATE", "REGION", "IN REGION", "SINCE", "LAST PROBE", "LATENCY", "ERROR", "AVAIL 1H", "AVAIL 24H"];
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            [
                r.endpoint.clone(),
                r.environment.clone(),
                r.verdict.to_string(),
                r.region.clone(),
                if r.silent { format!("{} (silent)", r.state) } else { r.state.to_string() },
                if r.since > 0 { format!("{} ({})", format_rfc3339(r.since), ago(now, r.since)) } else { "-".into() },
                ago(now, r.last_ts),
                if r.last_latency_ms.is_finite() { format!("{:.1} ms", r.last_latency_ms) } else { "-".into() },
                if r.last_error.is_empty() { "-".into() } else { r.last_error.clone() },
                pct(r.avail_1h),
                pct(r.avail_24h),
            ]
        })
        .collect();
    print_rows(&header, &cells.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
}

/// The regions below the table: a silent one is named, so its stale rows are not read as the present.
fn print_regions(regions: &[RegionReport], now: i64) {
    if regions.len() < 2 && regions.iter().all(|r| !r.silent) {
        return;
    }
    println!();
    for r in regions {
        let seen = r.last_seen.map_or("never heard from".to_string(), |t| format!("last point {}", ago(now, t)));
        let state = if r.silent { "SILENT: its states are stale and do not vote" } else { "reporting" };
        println!("region {}: {state} ({seen})", r.region);
    }
}

/// Prints a table: columns as wide as their widest cell, two spaces apart.
pub fn print_rows(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| {
        let parts: Vec<String> = cols.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
