//! The aggregator against both stores: three hours of raw points with a confirmed outage across an hour
//! boundary, transient misses, a maintenance window and a region that stops reporting for 20 minutes, rolled
//! up by real aggregator cycles; the rollups must equal what an independent second-by-second replay of the
//! same points says, and hour percentiles must match the exact percentiles of the raw latencies within the
//! histogram's precision. SQLite and a real `influxd` must agree.

use crate::common;

use common::influxd::Influxd;
use common::sqlite_store;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use watchpost_aggregator::{metrics::AggregatorMetrics, Aggregator};
use watchpost_core::config::{Config, Format};
use watchpost_core::model::{MaintenancePoint, Point, ProbePoint, Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use watchpost_core::store::{closed, Select, Store};
use watchpost_core::time::TimeRange;

const S: i64 = 1_000_000_000;
const HOURS: i64 = 3;

fn config() -> Config {
    let text = "[[endpoints]]\nid = \"api\"\nurl = \"http://x/\"\ncomponent = \"pay\"\n\n[[endpoints]]\nid = \"web\"\nurl = \"http://y/\"\n\n[aggregator]\nlateness = \"90s\"\nbackfill = \"1d\"\n";
    Config::from_str_with_env("t.toml", Format::Toml, text, &HashMap::new()).unwrap()
}

/// Raw points at whole seconds from `base`: every 5 s per series, with
/// - api/eu: an outage from 0:59:55 to 1:03:00, across the hour (the first miss retried 1 s later), transient
///   misses every 17 minutes, and maintenance from 2:00:00 to 2:10:00 (maintenance points instead of probes);
/// - api/us: silent from 1:30:00 to 1:50:00 (a region that stopped reporting);
/// - web/eu: always up.
fn points(base: i64) -> Vec<Point> {
    let key = |e: &str, r: &str, c: &str| {
        Arc::new(SeriesKey { endpoint: e.into(), region: r.into(), component: c.into(), environment: "production".into() })
    };
    let (api_eu, api_us, web) = (key("api", "eu", "pay"), key("api", "us", "pay"), key("web", "eu", ""));
    let mut out = Vec::new();
    let probe = |s: &Arc<SeriesKey>, t: i64, up: bool, ok: bool| {
        Point::Probe(ProbePoint {
            series: s.clone(),
            ts: base + t * S,
            availability: if up { 100.0 } else { 0.0 },
            ok,
            // A spread of latencies whose percentiles are known.
            latency_ms: 20.0 + ((t * 7919) % 480) as f64 + (t % 3) as f64 * 0.25,
            dns_ms: None,
            connect_ms: None,
            tls_ms: None,
            ttfb_ms: None,
            status_code: Some(if ok { 200 } else { 503 }),
            cert_days_left: None,
            error: None,
            confirmed_down: !up,
            failed_step: None,
        })
    };
    let (outage_from, outage_to) = (3595, 3780);
    let (maint_from, maint_to) = (7200, 7800);
    let mut t = 0;
    while t < HOURS * 3600 {
        if (maint_from..maint_to).contains(&t) {
            out.push(Point::Maintenance(MaintenancePoint { endpoint: "api".into(), region: "eu".into(), ts: base + t * S, active: true }));
        } else if (outage_from..outage_to).contains(&t) {
            out.push(probe(&api_eu, t, false, false));
            if t == outage_from {
                out.push(probe(&api_eu, t + 1, false, false));
            }
        } else if t % 1020 == 0 && t > 0 {
            // A transient miss, retried 1 s later with success: not downtime.
            out.push(probe(&api_eu, t, true, false));
            out.push(probe(&api_eu, t + 1, true, true));
        } else {
            out.push(probe(&api_eu, t, true, true));
        }
        if !(5400..6600).contains(&t) {
            out.push(probe(&api_us, t + 2, true, true));
        }
        out.push(probe(&web, t + 3, true, true));
        t += 5;
    }
    out.sort_by_key(Point::ts);
    out
}

/// Up, down and maintenance seconds.
type Seconds = (f64, f64, f64);

/// The independent method: replay every second; a second is in the state of the newest event at or before it
/// that is less than a slot (5 s) old, else in no state. Returns up, down and maintenance seconds per endpoint
/// and region, and the minutes after a series' first point in which no second had a state (gaps).
fn replay(points: &[Point], base: i64) -> (HashMap<(String, String), Seconds>, u64) {
    let mut events: HashMap<(String, String), BTreeMap<i64, char>> = HashMap::new();
    for p in points {
        match p {
            Point::Probe(p) => {
                events
                    .entry((p.series.endpoint.clone(), p.series.region.clone()))
                    .or_default()
                    .insert((p.ts - base) / S, if p.availability >= 50.0 { 'u' } else { 'd' });
            }
            Point::Maintenance(m) => {
                events.entry((m.endpoint.clone(), m.region.clone())).or_default().insert((m.ts - base) / S, 'm');
            }
            _ => {}
        }
    }
    let mut out = HashMap::new();
    let mut gaps = 0;
    for (k, ev) in events {
        let (mut up, mut down, mut maint) = (0.0, 0.0, 0.0);
        let mut covered_in_minute = [0u32; (HOURS * 60) as usize];
        for sec in 0..HOURS * 3600 {
            if let Some((t, state)) = ev.range(..=sec).next_back() {
                if sec - t < 5 {
                    covered_in_minute[(sec / 60) as usize] += 1;
                    match state {
                        'u' => up += 1.0,
                        'd' => down += 1.0,
                        _ => maint += 1.0,
                    }
                }
            }
        }
        let first_minute = ev.keys().next().map_or(0, |t| t / 60) as usize;
        gaps += covered_in_minute[first_minute..].iter().filter(|c| **c == 0).count() as u64;
        out.insert(k, (up, down, maint));
    }
    (out, gaps)
}

/// Runs aggregator cycles over the fixture (minute by minute catch-up, then a restart) and returns the hour
/// rollups and the gap count.
async fn aggregate(store: Arc<dyn Store>, base: i64) -> (Vec<RollupPoint>, Vec<RollupPoint>, u64) {
    let cfg = config();
    let pts = points(base);
    store.write(&pts).await.unwrap();
    let metrics = Arc::new(AggregatorMetrics::default());
    let mut a = Aggregator::new(&cfg, store.clone(), metrics.clone());
    // "Now" is just past the fixture plus lateness: every minute of it is closable.
    let end = base + HOURS * 3600 * S;
    let first_now = end - 1800 * S + 91 * S;
    let first = a.cycle(first_now).await.unwrap();
    // A restart: a new aggregator resumes from the watermark and does only the rest.
    let mut b = Aggregator::new(&cfg, store.clone(), metrics);
    let second = b.cycle(end + 91 * S).await.unwrap();
    // The first cycle starts a day (the backfill) before its first closable minute, on a UTC day boundary, or
    // on the day of the first point when the history is younger.
    let initial = Resolution::Day.floor(first_now - 90 * S - 86_400 * S).max(Resolution::Day.floor(base));
    assert_eq!(first.minutes + second.minutes, ((end - initial) / (60 * S)) as u64, "every minute closed exactly once");
    let again = b.cycle(end + 91 * S).await.unwrap();
    assert_eq!((again.minutes, again.rollups_written), (0, 0), "nothing new, nothing done");
    let range = TimeRange::new(base, end);
    let minutes = store.rollups(Resolution::Minute, range, Select::All).await.unwrap();
    let mut hours = store.rollups(Resolution::Hour, range, Select::All).await.unwrap();
    // What the status page's history reads: the all-regions merges alone, and all of them.
    let mut merged = store.rollups(Resolution::Minute, range, Select::Region(ALL_REGIONS)).await.unwrap();
    let mut want: Vec<RollupPoint> = minutes.iter().filter(|m| m.series.region == ALL_REGIONS).cloned().collect();
    merged.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
    want.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
    assert!(!want.is_empty());
    assert_eq!(merged, want, "Select::Region(all) reads exactly the all-regions merges");
    // The order of one window's series is each backend's own.
    hours.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
    (minutes, hours, first.gap_minutes + second.gap_minutes)
}

async fn check(store: Arc<dyn Store>) -> Vec<RollupPoint> {
    // Whole hours, a day back, so hour windows align with the fixture.
    let now = watchpost_core::time::now_nanos();
    let base = Resolution::Day.floor(now) - 86_400 * S + 3600 * S;
    let pts = points(base);
    let (expected, expected_gaps) = replay(&pts, base);
    let (minutes, hours, gaps) = aggregate(store, base).await;

    // Per series, the minutes add up to the replay, to the second.
    let mut sums: HashMap<(String, String), Seconds> = HashMap::new();
    for m in minutes.iter().filter(|m| m.series.region != ALL_REGIONS) {
        let e = sums.entry((m.series.endpoint.clone(), m.series.region.clone())).or_default();
        e.0 += m.up_s;
        e.1 += m.down_s;
        e.2 += m.maintenance_s;
    }
    for (k, (up, down, maint)) in &expected {
        let (gu, gd, gm) = sums[k];
        assert!(
            (gu - up).abs() < 1e-6 && (gd - down).abs() < 1e-6 && (gm - maint).abs() < 1e-6,
            "{k:?}: rollups {gu}/{gd}/{gm}, replay {up}/{down}/{maint}"
        );
    }
    let api_eu = expected[&("api".to_string(), "eu".to_string())];
    assert_eq!(api_eu.1, 185.0, "down from 0:59:55 to 1:03:00");
    assert_eq!(api_eu.2, 600.0, "ten minutes of maintenance");
    // api/us is silent from 1:30:00 to 1:50:00; its last point before reaches 2 s into 1:30 and its first after
    // starts 2 s into 1:50, so 19 whole minutes have no point at all: gaps, neither up nor down.
    assert_eq!(expected_gaps, 19);
    assert_eq!(gaps, expected_gaps, "the silent region's minutes are reported as gaps");
    let us = expected[&("api".to_string(), "us".to_string())];
    assert!((us.0 - (HOURS * 3600 - 1200) as f64).abs() <= 5.0, "{us:?}");

    // Hours: availability with maintenance excluded, and percentiles from merged histograms.
    let hour = |h: i64, region: &str| {
        hours.iter().find(|r| r.ts == base + h * 3600 * S && r.series.endpoint == "api" && r.series.region == region).unwrap().clone()
    };
    let h0 = hour(0, "eu");
    assert!((h0.down_s - 5.0).abs() < 1e-9, "the outage starts 5 s before the hour ends: {}", h0.down_s);
    let h2 = hour(2, "eu");
    assert!((h2.maintenance_s - 600.0).abs() < 1e-9 && h2.up_s + h2.down_s + h2.maintenance_s <= 3600.0 + 1e-9);
    let lat: Vec<f64> = {
        let mut v: Vec<f64> = pts
            .iter()
            .filter_map(|p| match p {
                Point::Probe(p)
                    if p.ok
                        && p.series.endpoint == "api"
                        && p.series.region == "us"
                        && p.ts >= base + 3600 * S
                        && p.ts < base + 7200 * S =>
                {
                    Some(p.latency_ms)
                }
                _ => None,
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let exact = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).max(1) - 1];
    let h1 = hour(1, "us");
    for (q, got) in [(0.5, h1.latency_p50_ms), (0.95, h1.latency_p95_ms), (0.99, h1.latency_p99_ms)] {
        let (got, want) = (got.unwrap(), exact(q));
        assert!((got - want).abs() <= want * 1e-3 + 1e-3, "p{}: {got} vs exact {want}", q * 100.0);
    }
    let all = hours.iter().find(|r| r.ts == base && r.series.endpoint == "api" && r.series.region == ALL_REGIONS).unwrap();
    assert_eq!(all.samples, hour(0, "eu").samples + hour(0, "us").samples, "the all-regions merge adds the regions");
    hours
}

#[tokio::test]
async fn sqlite_rollups_equal_an_independent_replay() {
    let (_dir, store) = sqlite_store().await;
    check(Arc::new(store)).await;
}

#[tokio::test]
async fn influxdb_rollups_equal_the_replay_and_sqlite() {
    let server = Influxd::start();
    let from_influx = check(Arc::new(server.store())).await;
    let (_dir, store) = sqlite_store().await;
    let from_sqlite = check(Arc::new(store)).await;
    assert_eq!(from_influx, from_sqlite, "both stores roll up to the same hours");
}

/// `aggregator.shard`: two aggregators, shards 1/2 and 2/2, over the same raw points write exactly the
/// rollups one aggregator writes (each endpoint's minutes, hours and `all` merges, by exactly one shard), and
/// each reads only its own endpoints' points from the store (issue 19: the selection is the store's).
#[tokio::test]
async fn two_shards_write_the_rollups_of_one() {
    let (_d, sharded) = sqlite_store().await;
    shards_write_the_rollups_of_one(Arc::new(sharded)).await;
}

#[tokio::test]
async fn two_shards_on_influxdb_read_their_own_points_and_write_the_rollups_of_one() {
    let server = Influxd::start();
    shards_write_the_rollups_of_one(Arc::new(server.store())).await;
}

async fn shards_write_the_rollups_of_one(sharded: Arc<dyn Store>) {
    let endpoints: Vec<String> = (0..8).map(|i| format!("svc-{i}")).collect();
    let text: String = endpoints.iter().map(|e| format!("[[endpoints]]\nid = \"{e}\"\nurl = \"http://x/{e}\"\n\n")).collect();
    let cfg = |shard: &str| {
        let extra = if shard.is_empty() { String::new() } else { format!("shard = \"{shard}\"\n") };
        Config::from_str_with_env("t.toml", Format::Toml, &format!("{text}[aggregator]\nbackfill = \"1d\"\n{extra}"), &HashMap::new())
            .unwrap()
    };
    let (one, two) = (cfg(""), [cfg("1/2"), cfg("2/2")]);
    let owned: Vec<usize> = two.iter().map(|c| endpoints.iter().filter(|e| c.aggregator.shard.unwrap().owns(e)).count()).collect();
    assert_eq!(owned.iter().sum::<usize>(), endpoints.len(), "every endpoint in exactly one shard");
    assert!(owned.iter().all(|n| *n > 0), "both shards have work: {owned:?}");

    let now = watchpost_core::time::now_nanos();
    let base = Resolution::Day.floor(now) - 86_400 * S + 3600 * S;
    let mut pts = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        for region in ["eu", "us"] {
            let series = Arc::new(SeriesKey {
                endpoint: e.clone(),
                region: region.into(),
                component: String::new(),
                environment: "production".into(),
            });
            for t in (0..2 * 3600 + 180).step_by(5) {
                let down = region == "eu" && (t as usize / 600) % 8 == i; // ten minutes down, a different slot each
                pts.push(Point::Probe(ProbePoint {
                    series: series.clone(),
                    ts: base + t * S,
                    availability: if down { 0.0 } else { 100.0 },
                    ok: !down,
                    latency_ms: 10.0 + ((t + i as i64 * 31) % 97) as f64,
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
    }
    let end = base + 2 * 3600 * S + 91 * S;
    // The first cycles catch up two hours; the last three minutes are for a cycle in the steady state.
    let later: Vec<Point> = pts.iter().filter(|p| p.ts() >= base + 2 * 3600 * S).cloned().collect();
    pts.retain(|p| p.ts() < base + 2 * 3600 * S);
    let rollups = |store: Arc<dyn Store>| async move {
        let range = TimeRange::new(base, end);
        let mut out = Vec::new();
        for r in [Resolution::Minute, Resolution::Hour] {
            let mut v = store.rollups(r, range, Select::All).await.unwrap();
            for x in &mut v {
                x.hist.clear(); // encodings of equal histograms may differ in byte order of merges
                                // A mean summed in another order (the stores answer series in different orders) differs in
                                // the last bit.
                x.latency_mean_ms = x.latency_mean_ms.map(|m| (m * 1e9).round() / 1e9);
            }
            v.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
            out.push(v);
        }
        out
    };

    let (_d1, single) = sqlite_store().await;
    let single: Arc<dyn Store> = Arc::new(single);
    single.write(&pts).await.unwrap();
    let single_read = Aggregator::new(&one, single.clone(), Arc::new(AggregatorMetrics::default())).cycle(end).await.unwrap().points_read;

    sharded.write(&pts).await.unwrap();
    let range = TimeRange::new(base, end);
    let mut shards_read = 0;
    for (c, owned) in two.iter().zip(&owned) {
        let shard = c.aggregator.shard.unwrap();
        // The store answers a shard's read with that shard's series only, and all of them.
        let read = sharded.probe_points_all(range, Select::Shard(shard)).await.unwrap();
        let endpoints: std::collections::BTreeSet<&str> = read.iter().map(|p| p.series.endpoint.as_str()).collect();
        assert_eq!(endpoints.len(), *owned, "{shard:?} read {endpoints:?}");
        assert!(endpoints.iter().all(|e| shard.owns(e)));
        assert_eq!(read.len(), owned * 2 * 2 * 720, "{shard:?}: every point of its series, once");
        let stats = Aggregator::new(c, sharded.clone(), Arc::new(AggregatorMetrics::default())).cycle(end).await.unwrap();
        assert_eq!(stats.gap_minutes, 0, "a shard does not count the other shard's endpoints as gaps");
        shards_read += stats.points_read;
    }
    assert_eq!(shards_read, single_read, "the shards together read what one aggregator reads, not N times it");
    for c in &two {
        let shard = c.aggregator.shard.unwrap();
        let minutes = sharded.rollups(Resolution::Minute, range, Select::Shard(shard)).await.unwrap();
        assert!(!minutes.is_empty() && minutes.iter().all(|r| shard.owns(&r.series.endpoint)), "{shard:?}: its rollups only");
    }
    let (a, b) = (rollups(single).await, rollups(sharded.clone()).await);
    assert!(a[0].len() > 8 * 3 * 100 && a[1].len() == 8 * 3 * 2, "{} minutes, {} hours", a[0].len(), a[1].len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.len(), y.len(), "as many rollups from the shards as from one");
        if let Some((x, y)) = x.iter().zip(y).find(|(x, y)| x != y) {
            panic!("two shards wrote {y:?}\nwhere one wrote {x:?}");
        }
    }

    // Issue 19: a catch-up saves no closed minutes; a cycle in the steady state saves, per shard, exactly the
    // all-regions minute rollups it wrote (what the status page reads instead of them).
    let shard = two[0].aggregator.shard;
    let caught_up = TimeRange::new(base + 3600 * S, base + 3600 * S + 60 * S);
    assert_eq!(closed::read(&*sharded, shard, caught_up).await.unwrap(), None, "a catch-up saves no closed minutes");
    sharded.write(&later).await.unwrap();
    for c in &two {
        Aggregator::new(c, sharded.clone(), Arc::new(AggregatorMetrics::default())).cycle(end + 180 * S).await.unwrap();
    }
    let steady = TimeRange::new(base + 2 * 3600 * S, base + 2 * 3600 * S + 180 * S);
    let sorted = |mut v: Vec<watchpost_core::store::RollupSums>| {
        v.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
        v
    };
    let saved = sorted(closed::read(&*sharded, shard, steady).await.unwrap().expect("both shards saved the three minutes"));
    let written = sorted(sharded.rollup_sums(Resolution::Minute, steady, Select::Region(ALL_REGIONS)).await.unwrap());
    assert_eq!(saved.len(), 8 * 3, "every endpoint's three minutes");
    assert_eq!(saved, written, "the closed minutes are the all-regions rollups written");
}

/// Issue 19: `watchpost status`'s availability over the last hour and the last 2 h 20 min, read from hour
/// and minute rollups plus the raw points since the last closed minute, equals the sum of the raw points
/// over the same periods: within one probe interval per series at each of the two seams (a slot that
/// straddles the period's start or the minute watermark). Outage across an hour, maintenance and a silent
/// region included; and without rollups it is the raw sum itself.
#[tokio::test]
async fn status_availability_from_rollups_equals_the_raw_points() {
    let (_dir, store) = sqlite_store().await;
    let store: Arc<dyn Store> = Arc::new(store);
    let now_nanos = watchpost_core::time::now_nanos();
    let base = Resolution::Day.floor(now_nanos) - 86_400 * S + 3600 * S;
    store.write(&points(base)).await.unwrap();
    let cfg = config();
    let slots: HashMap<String, std::time::Duration> = cfg.endpoints.iter().map(|e| (e.id.clone(), e.interval)).collect();
    let periods = [std::time::Duration::from_secs(3600), std::time::Duration::from_secs(8400)];
    // "Now" is 2:30:00 into the fixture; minutes are closed up to 2:28:00 (lateness 90 s), hours to 2:00.
    let now = base + 9000 * S;
    let recent = |store: Arc<dyn Store>| {
        let slots = slots.clone();
        async move {
            watchpost_aggregator::recent::availability(&*store, None, &slots, std::time::Duration::from_secs(5), &periods, now)
                .await
                .unwrap()
        }
    };
    let raw_to = |p: std::time::Duration, to: i64| {
        let (store, slots) = (store.clone(), slots.clone());
        async move {
            let range = TimeRange::new(to - p.as_nanos() as i64, to);
            let got = store.availability(range, &slots, std::time::Duration::from_secs(5)).await.unwrap();
            got.into_iter().map(|(k, a)| ((k.endpoint, k.region, k.environment), a)).collect::<HashMap<_, _>>()
        }
    };
    let raw = |p: std::time::Duration| raw_to(p, now);
    // Without an aggregator there are no rollups: the raw points are the answer, exactly.
    let before = recent(store.clone()).await;
    assert_eq!(before[0], raw(periods[0]).await);

    let mut a = Aggregator::new(&cfg, store.clone(), Arc::new(AggregatorMetrics::default()));
    a.cycle(now).await.unwrap();
    assert!(store.watermark("rollup_1h").await.unwrap().is_some_and(|h| h >= base + 2 * 3600 * S));
    let got = recent(store.clone()).await;
    for (i, p) in periods.iter().enumerate() {
        let want = raw(*p).await;
        assert_eq!(got[i].len(), want.len(), "{p:?}: the same series");
        for (k, w) in &want {
            let g = got[i][k];
            assert!(
                (g.up_s - w.up_s).abs() <= 10.0 && (g.down_s - w.down_s).abs() <= 10.0,
                "{p:?} {k:?}: from rollups {g:?}, from raw points {w:?}"
            );
        }
    }
    // The outage (1:00-1:03) is inside the 2 h 20 min period and not the last hour's.
    let api_eu = ("api".to_string(), "eu".to_string(), "production".to_string());
    assert!((got[1][&api_eu].down_s - 185.0).abs() <= 5.0, "{:?}", got[1][&api_eu]);
    assert_eq!(got[0][&api_eu].down_s, 0.0);

    // The windows the aggregator keeps and saves (what `watchpost status` reads first): the same sums over
    // the hour and the day to its minute watermark.
    let upto = store.watermark("rollup_1m").await.unwrap().expect("minute watermark");
    let saved = watchpost_aggregator::windows::saved(&*store, None, 0, 0).await.unwrap().expect("windows saved by the aggregator");
    assert_eq!(saved.upto, upto);
    for (i, p) in [3600, 86_400].map(std::time::Duration::from_secs).iter().enumerate() {
        let want = raw_to(*p, upto).await;
        assert_eq!(saved.periods[i].len(), want.len(), "{p:?}: the same series");
        for (k, w) in &want {
            let g = saved.periods[i][k];
            assert!(
                (g.up_s - w.up_s).abs() <= 10.0 && (g.down_s - w.down_s).abs() <= 10.0,
                "{p:?} {k:?}: saved windows {g:?}, from raw points {w:?}"
            );
        }
    }
    assert!((saved.periods[1][&api_eu].down_s - 185.0).abs() <= 5.0, "{:?}", saved.periods[1][&api_eu]);
}

/// Issue 19: an aggregator that is running while the points are written takes them from the write log
/// (`Store::feed`) rather than reading each minute back by time, and writes exactly the rollups a read by time
/// gives: with a batch written twice (a replayed spool), a batch written late for its time, and a follow
/// between writes as `run` does.
#[tokio::test]
async fn sqlite_rollups_from_the_write_log_equal_those_read_by_time() {
    let (_d1, followed) = sqlite_store().await;
    let (_d2, by_time) = sqlite_store().await;
    rollups_from_the_write_log_equal_those_read_by_time(Arc::new(followed), Arc::new(by_time)).await;
}

#[tokio::test]
async fn influxdb_rollups_from_the_write_log_equal_those_read_by_time() {
    let server = Influxd::start();
    let (_d, by_time) = sqlite_store().await;
    rollups_from_the_write_log_equal_those_read_by_time(Arc::new(server.store()), Arc::new(by_time)).await;
}

async fn rollups_from_the_write_log_equal_those_read_by_time(followed: Arc<dyn Store>, by_time: Arc<dyn Store>) {
    let cfg = config();
    let now = watchpost_core::time::now_nanos();
    // Ten minutes starting after the aggregator starts following (plus its clock margin, see
    // aggregator/src/live.rs), written now: a clock ahead of time stands in for waiting.
    let base = Resolution::Minute.floor(now) + 3 * 60 * S;
    let pts: Vec<Point> = points(base).into_iter().filter(|p| p.ts() < base + 600 * S).collect();
    let end = base + 600 * S;

    let mut a = Aggregator::new(&cfg, followed.clone(), Arc::new(AggregatorMetrics::default()));
    a.cycle(now).await.unwrap();
    let chunks: Vec<&[Point]> = pts.chunks(40).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        if i == 3 {
            continue; // written late, below
        }
        followed.write(chunk).await.unwrap();
        if i == 5 {
            followed.write(chunks[4]).await.unwrap(); // a replay of what is in already
        }
        if i % 7 == 0 {
            a.follow().await.unwrap();
        }
    }
    followed.write(chunks[3]).await.unwrap();
    let stats = a.cycle(end + 91 * S).await.unwrap();
    let probes = pts.iter().filter(|p| matches!(p, Point::Probe(_))).count() as u64;
    assert!(stats.points_followed >= probes, "the fixture's points came from the write log: {stats:?}, {probes} probes");

    // The same points in a store before its aggregator starts: read by time.
    by_time.write(&pts).await.unwrap();
    let mut b = Aggregator::new(&cfg, by_time.clone(), Arc::new(AggregatorMetrics::default()));
    let stats = b.cycle(end + 91 * S).await.unwrap();
    assert_eq!(stats.points_followed, 0, "points stamped ahead and written before the start are read by time");

    let minutes = |store: Arc<dyn Store>| async move {
        let mut v = store.rollups(Resolution::Minute, TimeRange::new(base, end), Select::All).await.unwrap();
        for x in &mut v {
            x.hist.clear();
            x.latency_mean_ms = x.latency_mean_ms.map(|m| (m * 1e9).round() / 1e9);
        }
        v.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
        v
    };
    let (got, want) = (minutes(followed).await, minutes(by_time).await);
    assert_eq!(got.len(), 10 * 5, "ten minutes of api/eu, api/us, web/eu and two all-regions merges");
    assert_eq!(got, want);
}

/// Hours are merged a bounded number of endpoints at a time on InfluxDB (`merge_closed`, `Store::read_parts`,
/// parts by `Shard::split`): the parts together write exactly the hour rollups SQLite's one read writes.
#[tokio::test]
async fn hours_merged_in_parts_equal_one_merge() {
    let server = Influxd::start();
    let (_d1, whole) = sqlite_store().await;
    let (_d2, whole_too) = sqlite_store().await;
    let stores: [Arc<dyn Store>; 3] = [Arc::new(whole), Arc::new(whole_too), Arc::new(server.store())];
    assert_eq!((stores[0].read_parts(24_000), stores[2].read_parts(24_000)), (1, 24), "SQLite reads at once, InfluxDB in parts");
    let now = watchpost_core::time::now_nanos();
    let base = Resolution::Day.floor(now) - 86_400 * S + 3600 * S;
    let mut text = String::from("[aggregator]\nlateness = \"90s\"\nbackfill = \"1d\"\n");
    let mut pts = Vec::new();
    for i in 0..24 {
        text.push_str(&format!("[[endpoints]]\nid = \"e{i:02}\"\nurl = \"http://x/\"\n"));
        let series = Arc::new(SeriesKey {
            endpoint: format!("e{i:02}"),
            region: "eu".into(),
            component: String::new(),
            environment: "production".into(),
        });
        for t in (0..3600).step_by(5) {
            let up = !(i % 5 == 0 && (600..900).contains(&t));
            let latency_ms = 10.0 + ((t * 31 + i) % 200) as f64;
            pts.push(Point::Probe(ProbePoint::sample(series.clone(), base + (t + i) * S, if up { 100.0 } else { 0.0 }, up, latency_ms)));
        }
    }
    let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &HashMap::new()).unwrap();
    let mut hours = Vec::new();
    // 24 endpoints said to be 24,000: one per part on InfluxDB.
    for (store, endpoints) in stores.iter().zip([24, 24_000, 24_000]) {
        store.write(&pts).await.unwrap();
        let mut a = Aggregator::new(&cfg, store.clone(), Arc::new(AggregatorMetrics::default()));
        a.close_minutes(base + 3600 * S + 91 * S).await.unwrap();
        let stats = watchpost_aggregator::merge_closed(&**store, None, endpoints).await.unwrap();
        assert_eq!(stats.hours, 2, "from the start of the first point's day: an empty hour, then the fixture's");
        let mut v = store.rollups(Resolution::Hour, TimeRange::new(base, base + 3600 * S), Select::All).await.unwrap();
        for x in &mut v {
            x.hist.clear();
            x.latency_mean_ms = x.latency_mean_ms.map(|m| (m * 1e9).round() / 1e9);
        }
        v.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
        assert_eq!(v.len(), 48, "24 endpoints and their all-regions merges");
        hours.push(v);
    }
    assert_eq!(hours[1], hours[0], "SQLite merges alike whatever the endpoint count");
    assert_eq!(hours[2], hours[0], "24 parts on influxd write what one merge writes");
}

/// Issue 19: `watchpost status` reads the availability windows the aggregator saved (their end is
/// `availability_until`, its minute watermark), sums a series younger than them from its own raw points, and
/// when the windows are stale (an aggregator stopped or far behind) sums the rollups itself: the same figures.
#[tokio::test]
async fn status_reads_the_saved_windows_and_sums_the_rollups_when_they_are_stale() {
    let (dir, store) = sqlite_store().await;
    let store: Arc<dyn Store> = Arc::new(store);
    let now = watchpost_core::time::now_nanos();
    // The fixture's three hours end now: its outage (185 s) is in the day, not in the last hour.
    store.write(&points(now - HOURS * 3600 * S)).await.unwrap();
    let cfg_path = dir.path().join("w.toml");
    let text = "[[endpoints]]\nid = \"api\"\nurl = \"http://x/\"\ncomponent = \"pay\"\n\n[[endpoints]]\nid = \"web\"\nurl = \"http://y/\"\n\n[aggregator]\nlateness = \"90s\"\nbackfill = \"1d\"\n";
    std::fs::write(&cfg_path, format!("[store]\ntype = \"sqlite\"\npath = \"{}\"\n\n{text}", dir.path().join("w.db").display())).unwrap();
    let mut a = Aggregator::new(&config(), store.clone(), Arc::new(AggregatorMetrics::default()));
    a.cycle(now).await.unwrap();
    let upto = store.watermark("rollup_1m").await.unwrap().expect("minute watermark");
    // A new endpoint's first points, after the last closed minute.
    let young =
        Arc::new(SeriesKey { endpoint: "young".into(), region: "eu".into(), component: String::new(), environment: "production".into() });
    let young_points: Vec<Point> = (0..6)
        .map(|i| {
            let mut p = match &points(now)[0] {
                Point::Probe(p) => p.clone(),
                other => panic!("{other:?}"),
            };
            (p.series, p.ts, p.ok, p.availability, p.confirmed_down) = (young.clone(), now - (30 - i * 5) * S, i != 2, 100.0, false);
            Point::Probe(p)
        })
        .collect();
    store.write(&young_points).await.unwrap();
    let status = || {
        let o = common::run(&["status", "--config", cfg_path.to_str().unwrap(), "--format", "json"]);
        let rows: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let key = format!("{}/{}", r["endpoint"].as_str().unwrap(), r["region"].as_str().unwrap());
                (
                    key,
                    (r["availability_1h"].as_f64(), r["availability_24h"].as_f64(), r["availability_until"].as_str().unwrap().to_string()),
                )
            })
            .collect::<HashMap<_, _>>()
    };
    let fresh = status();
    assert_eq!(fresh.len(), 4, "{fresh:?}");
    let until = watchpost_core::time::format_rfc3339(upto);
    assert!(fresh.values().all(|r| r.2 == until), "every row to the aggregator's minute watermark {until}: {fresh:?}");
    let api_eu = &fresh["api/eu"];
    assert_eq!(api_eu.0, Some(100.0), "no outage in the last hour");
    let day = api_eu.1.expect("a day's availability");
    assert!(day < 99.0 && day > 97.0, "the outage (185 s of about 3 h less 10 min of maintenance) counts: {day}");
    assert_eq!(fresh["web/eu"].1, Some(100.0));
    // The young series, from its own points: one miss of six (not a confirmed outage) is still up time.
    assert_eq!(fresh["young/eu"].0, Some(100.0), "{:?}", fresh["young/eu"]);

    // The aggregator "stopped" an hour ago: its windows end too early to be used, and status sums the rollups.
    let (saved_at, body) = store.document(watchpost_aggregator::windows::DOCUMENT).await.unwrap().expect("saved windows");
    assert!(saved_at <= watchpost_core::time::now_nanos());
    let mut doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    doc["upto"] = serde_json::json!(upto - 3600 * S);
    store.save_document(watchpost_aggregator::windows::DOCUMENT, &doc.to_string()).await.unwrap();
    let summed = status();
    assert!(summed.values().all(|r| r.2 != until), "{summed:?}");
    for (k, (hour, day, _)) in &fresh {
        let (h, d, _) = &summed[k];
        let close = |a: &Option<f64>, b: &Option<f64>| a.zip(*b).is_some_and(|(a, b)| (a - b).abs() < 0.05);
        assert!(close(hour, h) && close(day, d), "{k}: windows {hour:?}/{day:?}, summed {h:?}/{d:?}");
    }
}
