//! What the benchmark drivers share: CPU accounting and the synthetic data set.

use std::sync::Arc;
use watchpost_core::model::{ErrorClass, Point, ProbePoint, Resolution, SeriesKey};

/// The store of database `watchpost` on the influxd at `url` (v1 API, no authentication), as the drivers
/// that take `--influx URL` use it.
#[allow(dead_code)] // used by the drivers that take --influx, not every one
pub fn influx_store(url: &str, database: &str) -> Result<watchpost_core::store::influx::InfluxStore, watchpost_core::store::StoreError> {
    use watchpost_core::config::{InfluxApi, InfluxAuth, InfluxConfig};
    watchpost_core::store::influx::InfluxStore::new(&InfluxConfig {
        url: url.to_string(),
        api: InfluxApi::V1,
        database: database.into(),
        retention_policy: None,
        rollup_retention_policy: None,
        org: None,
        bucket: None,
        auth: InfluxAuth::None,
        timeout: std::time::Duration::from_secs(120),
    })
}

/// Process CPU seconds (user + system) from /proc/self/stat (fields 14 and 15, in USER_HZ = 100 on Linux).
#[allow(dead_code)] // used by the timing drivers, not the fixtures
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// The series of `n` endpoints in one region, spread over 50 components.
#[allow(dead_code)] // used by the rollup and store drivers, not this one
pub fn series(n: usize) -> Vec<Arc<SeriesKey>> {
    (0..n)
        .map(|i| {
            Arc::new(SeriesKey {
                endpoint: format!("endpoint-{i:05}"),
                region: "eu-west".into(),
                component: format!("component-{}", i % 50),
                environment: "production".into(),
            })
        })
        .collect()
}

/// The point of series `i` in `slot`: a failure every 997 slots, latencies spread over 50 ms.
#[allow(dead_code)] // used by the rollup and store drivers, not this one
pub fn point(s: &Arc<SeriesKey>, i: usize, slot: usize, ts: i64) -> Point {
    let down = (slot + i) % 997 == 0;
    Point::Probe(ProbePoint {
        series: s.clone(),
        ts,
        availability: if down { 0.0 } else { 100.0 },
        ok: !down,
        latency_ms: 20.0 + ((slot * 7 + i) % 100) as f64 * 0.5,
        dns_ms: None,
        connect_ms: Some(0.3),
        tls_ms: None,
        ttfb_ms: Some(15.0),
        status_code: Some(if down { 503 } else { 200 }),
        cert_days_left: None,
        error: down.then_some(ErrorClass::Status),
        confirmed_down: down,
        failed_step: None,
    })
}

/// A rollup of `len_s` seconds at 5 s probes, `down_s` of them down (one stretch from the start), latencies
/// around `mean`, with the encoded histogram `hist` (empty: none).
#[allow(dead_code)] // used by the fixtures, not the timing drivers
pub fn rollup(resolution: Resolution, series: &Arc<SeriesKey>, ts: i64, len_s: f64, down_s: f64, mean: f64, hist: &str) -> Point {
    let samples = (len_s / 5.0) as u64;
    Point::Rollup(watchpost_core::model::RollupPoint {
        resolution,
        series: series.clone(),
        ts,
        up_s: len_s - down_s,
        down_s,
        maintenance_s: 0.0,
        down_from_s: (down_s > 0.0).then_some(0.0),
        down_until_s: (down_s > 0.0).then_some(down_s),
        samples,
        failures: (down_s / 5.0) as u64,
        under_threshold: samples,
        latency_mean_ms: Some(mean),
        latency_p50_ms: Some(mean),
        latency_p90_ms: Some(mean * 1.5),
        latency_p95_ms: Some(mean * 1.8),
        latency_p99_ms: Some(mean * 2.5),
        latency_max_ms: Some(mean * 4.0),
        hist: hist.to_string(),
    })
}
