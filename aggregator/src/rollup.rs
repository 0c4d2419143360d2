//! Pure rollup arithmetic: raw points → minute rollups, and rollups → coarser rollups. No I/O, so the
//! semantics (DESIGN.md §5.5, §5.6) are tested here directly.
//!
//! **Time by slot.** Each probe point stands for `[ts, min(ts + slot, next point))` (slot: the endpoint's
//! interval), in its confirmed state, exactly as `model::SlotAccumulator` attributes it; a `maintenance` point
//! stands for its slot the same way and counts as maintenance, neither up nor down. A point's time is split
//! at minute boundaries, so a day of minute rollups adds up to what the raw points say for that day. Time
//! that no point covers (an agent that stopped) is neither up nor down: a gap, reported, never invented.
//!
//! **Latency** is that of the attempts that passed (a timeout's "latency" is the timeout, not the service's):
//! an HDR histogram of microseconds per window, merged exactly into hours and days.

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::hist;
use watchpost_core::model::{MaintenancePoint, ProbePoint, Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use watchpost_core::time::{duration_nanos, Nanos};

/// What the arithmetic needs from the configuration.
#[derive(Debug, Clone)]
pub struct Params {
    /// Each endpoint's interval: the time one point stands for at most.
    pub slots: HashMap<String, Duration>,
    pub default_slot: Duration,
    /// Latency objective: ok attempts faster than this count as `under_threshold`.
    pub objective_ms: f64,
}

impl Params {
    pub fn slot(&self, endpoint: &str) -> Nanos {
        duration_nanos(self.slots.get(endpoint).copied().unwrap_or(self.default_slot))
    }

    /// The longest slot: how far before and after a window raw points must be read.
    pub fn max_slot(&self) -> Nanos {
        duration_nanos(self.slots.values().copied().chain([self.default_slot]).max().unwrap_or(self.default_slot))
    }
}

/// A window being built.
#[derive(Debug, Clone, Default)]
pub struct Acc {
    pub up_s: f64,
    pub down_s: f64,
    pub maintenance_s: f64,
    /// Offsets of the down time from the window's start, in seconds (see `RollupPoint::down_from_s`).
    pub down_span: Option<(f64, f64)>,
    pub samples: u64,
    pub failures: u64,
    pub under_threshold: u64,
    pub latency_sum_ms: f64,
    pub latency_max_ms: Option<f64>,
    /// Created with the first latency: most windows of a busy cycle are built, merged and written once, and
    /// an empty histogram need not be allocated at all.
    pub hist: Option<Histogram<u64>>,
}

impl Acc {
    /// Adds a finished window (a child rollup, or another region's window).
    pub fn add(&mut self, other: &Acc) {
        self.up_s += other.up_s;
        self.down_s += other.down_s;
        self.maintenance_s += other.maintenance_s;
        if let Some((a, b)) = other.down_span {
            self.mark_down(a, b);
        }
        self.samples += other.samples;
        self.failures += other.failures;
        self.under_threshold += other.under_threshold;
        self.latency_sum_ms += other.latency_sum_ms;
        self.latency_max_ms = max_opt(self.latency_max_ms, other.latency_max_ms);
        if let Some(h) = &other.hist {
            match &mut self.hist {
                // Auto-resizing histograms of equal precision: adding grows the target as needed.
                Some(mine) => {
                    let _ = mine.add(h);
                }
                None => self.hist = Some(h.clone()),
            }
        }
    }

    /// Widens the down span to take `[from, until)` (seconds from the window's start).
    pub fn mark_down(&mut self, from: f64, until: f64) {
        self.down_span = Some(match self.down_span {
            Some((a, b)) => (a.min(from), b.max(until)),
            None => (from, until),
        });
    }

    /// Records the latency of an ok attempt.
    pub fn record(&mut self, ms: f64) {
        hist::record_ms(self.hist.get_or_insert_with(hist::new), ms);
    }

    /// Adds a stored rollup that starts `offset_s` seconds after this window (the mean is turned back into a
    /// sum by the number of ok attempts, which is `samples - failures`: the histogram holds exactly their
    /// latencies).
    pub fn add_rollup(&mut self, r: &RollupPoint, offset_s: f64) {
        let ok = r.samples.saturating_sub(r.failures) as f64;
        self.up_s += r.up_s;
        self.down_s += r.down_s;
        self.maintenance_s += r.maintenance_s;
        if let (Some(a), Some(b)) = (r.down_from_s, r.down_until_s) {
            self.mark_down(offset_s + a, offset_s + b);
        }
        self.samples += r.samples;
        self.failures += r.failures;
        self.under_threshold += r.under_threshold;
        self.latency_sum_ms += r.latency_mean_ms.map_or(0.0, |m| m * ok);
        self.latency_max_ms = max_opt(self.latency_max_ms, r.latency_max_ms);
        if !r.hist.is_empty() {
            hist::add_encoded(self.hist.get_or_insert_with(hist::new), &r.hist);
        }
    }

    pub fn into_rollup(self, resolution: Resolution, series: Arc<SeriesKey>, ts: Nanos) -> RollupPoint {
        let h = self.hist.as_ref();
        let [p50, p90, p95, p99] = h.map_or([None; 4], |h| hist::quantiles_ms(h, [0.50, 0.90, 0.95, 0.99]));
        let n = h.map_or(0, |h| h.len());
        RollupPoint {
            resolution,
            series,
            ts,
            up_s: self.up_s,
            down_s: self.down_s,
            maintenance_s: self.maintenance_s,
            down_from_s: self.down_span.map(|s| s.0),
            down_until_s: self.down_span.map(|s| s.1),
            samples: self.samples,
            failures: self.failures,
            under_threshold: self.under_threshold,
            latency_mean_ms: (n > 0).then(|| self.latency_sum_ms / n as f64),
            latency_p50_ms: p50,
            latency_p90_ms: p90,
            latency_p95_ms: p95,
            latency_p99_ms: p99,
            latency_max_ms: self.latency_max_ms,
            hist: h.map(hist::encode).unwrap_or_default(),
        }
    }

    /// Time any point covered.
    pub fn covered_s(&self) -> f64 {
        self.up_s + self.down_s + self.maintenance_s
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[derive(Clone, Copy)]
enum State {
    Up,
    Down,
    Maintenance,
}

/// Adds `[start, end)` in `state` to the minutes it touches within `[from, to)`.
fn spread(windows: &mut BTreeMap<Nanos, Acc>, state: State, start: Nanos, end: Nanos, from: Nanos, to: Nanos) {
    let minute = Resolution::Minute.nanos();
    let (mut a, end) = (start.max(from), end.min(to));
    while a < end {
        let w = Resolution::Minute.floor(a);
        let b = end.min(w + minute);
        let secs = (b - a) as f64 / 1e9;
        let acc = windows.entry(w).or_default();
        match state {
            State::Up => acc.up_s += secs,
            State::Down => {
                acc.down_s += secs;
                acc.mark_down((a - w) as f64 / 1e9, (b - w) as f64 / 1e9);
            }
            State::Maintenance => acc.maintenance_s += secs,
        }
        a = b;
    }
}

/// Minute rollups of the whole minutes in `[from, to)`, for every series, plus the `all`-regions merge.
///
/// `probes` and `maintenance` must hold every point from `from - params.max_slot()` to
/// `to + params.max_slot()` (the points just outside decide how far the points inside reach, and vice
/// versa), sorted by time. `known` maps an endpoint and region to the series seen for it, so that a minute
/// in which maintenance replaced every probe still has its series.
pub fn minutes(
    probes: &[ProbePoint],
    maintenance: &[MaintenancePoint],
    from: Nanos,
    to: Nanos,
    params: &Params,
    known: &HashMap<(String, String), Vec<Arc<SeriesKey>>>,
) -> Vec<RollupPoint> {
    // Every series' events in time order: probe points, and the maintenance points of its endpoint and region.
    enum Ev<'a> {
        Probe(&'a ProbePoint),
        Maintenance,
    }
    let mut events: HashMap<Arc<SeriesKey>, Vec<(Nanos, Ev)>> = HashMap::new();
    // By the series' `Arc` first (one per series in a store's answer), by its tags only once per `Arc`.
    let mut by_ptr: HashMap<usize, Arc<SeriesKey>> = HashMap::new();
    for p in probes {
        let key = by_ptr.entry(Arc::as_ptr(&p.series) as usize).or_insert_with(|| p.series.clone());
        match events.get_mut(key) {
            Some(v) => v.push((p.ts, Ev::Probe(p))),
            None => {
                events.insert(key.clone(), vec![(p.ts, Ev::Probe(p))]);
            }
        }
    }
    for m in maintenance {
        if let Some(series) = known.get(&(m.endpoint.clone(), m.region.clone())) {
            for s in series {
                events.entry(s.clone()).or_default().push((m.ts, Ev::Maintenance));
            }
        }
    }
    let mut out = Vec::new();
    let mut merged: HashMap<(Nanos, String, String, String), Acc> = HashMap::new();
    for (series, mut evs) in events {
        evs.sort_by_key(|(ts, _)| *ts);
        let slot = params.slot(&series.endpoint);
        let mut windows: BTreeMap<Nanos, Acc> = BTreeMap::new();
        for (i, (ts, ev)) in evs.iter().enumerate() {
            let next = evs.get(i + 1).map_or(Nanos::MAX, |(t, _)| *t);
            let end = ts.saturating_add(slot).min(next);
            let state = match ev {
                Ev::Probe(p) if p.availability >= 50.0 => State::Up,
                Ev::Probe(_) => State::Down,
                Ev::Maintenance => State::Maintenance,
            };
            spread(&mut windows, state, *ts, end, from, to);
            if let Ev::Probe(p) = ev {
                if *ts >= from && *ts < to {
                    let acc = windows.entry(Resolution::Minute.floor(*ts)).or_default();
                    acc.samples += 1;
                    if p.ok {
                        acc.latency_sum_ms += p.latency_ms;
                        acc.latency_max_ms = max_opt(acc.latency_max_ms, Some(p.latency_ms));
                        acc.under_threshold += u64::from(p.latency_ms < params.objective_ms);
                        acc.record(p.latency_ms);
                    } else {
                        acc.failures += 1;
                    }
                }
            }
        }
        for (w, acc) in windows {
            merged.entry((w, series.endpoint.clone(), series.component.clone(), series.environment.clone())).or_default().add(&acc);
            out.push(acc.into_rollup(Resolution::Minute, series.clone(), w));
        }
    }
    for ((w, endpoint, component, environment), acc) in merged {
        let series = Arc::new(SeriesKey { endpoint, region: ALL_REGIONS.to_string(), component, environment });
        out.push(acc.into_rollup(Resolution::Minute, series, w));
    }
    out.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
    out
}

/// Merges child rollups (minutes into an hour, hours into a day) into one rollup per series and window of
/// `into`, exactly: counts and seconds add, histograms merge, percentiles are read from the merged histogram.
pub fn merge(children: &[RollupPoint], into: Resolution) -> Vec<RollupPoint> {
    // Keyed by the series' `Arc` (stores share one per series in an answer), not by hashing its four tags
    // for each of a million children; equal keys behind different `Arc`s still merge, by the tags.
    let mut by_ptr: HashMap<(Nanos, usize), usize> = HashMap::new();
    let mut acc: Vec<(Nanos, Arc<SeriesKey>, Acc)> = Vec::new();
    let mut by_key: HashMap<(Nanos, Arc<SeriesKey>), usize> = HashMap::new();
    for c in children {
        let w = into.floor(c.ts);
        let ptr = (w, Arc::as_ptr(&c.series) as usize);
        let i = match by_ptr.get(&ptr) {
            Some(i) => *i,
            None => {
                let i = *by_key.entry((w, c.series.clone())).or_insert_with(|| {
                    acc.push((w, c.series.clone(), Acc::default()));
                    acc.len() - 1
                });
                by_ptr.insert(ptr, i);
                i
            }
        };
        acc[i].2.add_rollup(c, (c.ts - w) as f64 / 1e9);
    }
    let mut out: Vec<RollupPoint> = acc.into_iter().map(|(ts, series, a)| a.into_rollup(into, series, ts)).collect();
    out.sort_by(|a, b| (a.ts, &a.series).cmp(&(b.ts, &b.series)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    fn series(region: &str) -> Arc<SeriesKey> {
        Arc::new(SeriesKey { endpoint: "api".into(), region: region.into(), component: "c".into(), environment: "p".into() })
    }

    fn probe(s: &Arc<SeriesKey>, t: Nanos, up: bool, ok: bool, ms: f64) -> ProbePoint {
        ProbePoint::sample(s.clone(), t * S, if up { 100.0 } else { 0.0 }, ok, ms)
    }

    fn params() -> Params {
        Params { slots: HashMap::new(), default_slot: Duration::from_secs(5), objective_ms: 300.0 }
    }

    #[test]
    fn time_is_split_at_minute_boundaries_and_maintenance_counts_apart() {
        let eu = series("eu");
        // Up every 5 s from 0 to 55, a point at 58 s reaching 3 s into the next minute, down from 60 s
        // (misses at 60, 61, 62), then maintenance points at 70, 75 and up again at 80.
        let mut probes: Vec<ProbePoint> = (0..12).map(|i| probe(&eu, i * 5, true, true, 100.0 + i as f64)).collect();
        probes.push(probe(&eu, 58, true, true, 400.0));
        probes.extend([probe(&eu, 60, false, false, 2000.0), probe(&eu, 61, false, false, 0.0), probe(&eu, 62, false, false, 0.0)]);
        probes.push(probe(&eu, 80, true, true, 50.0));
        probes.sort_by_key(|p| p.ts);
        let maint = vec![
            MaintenancePoint { endpoint: "api".into(), region: "eu".into(), ts: 70 * S, active: true },
            MaintenancePoint { endpoint: "api".into(), region: "eu".into(), ts: 75 * S, active: true },
        ];
        let known = [(("api".to_string(), "eu".to_string()), vec![eu.clone()])].into_iter().collect();
        let r = minutes(&probes, &maint, 0, 120 * S, &params(), &known);
        let m0 = r.iter().find(|r| r.ts == 0 && r.series.region == "eu").unwrap();
        assert_eq!((m0.up_s, m0.down_s, m0.maintenance_s), (60.0, 0.0, 0.0));
        assert_eq!((m0.samples, m0.failures, m0.under_threshold), (13, 0, 12));
        assert_eq!(m0.latency_max_ms, Some(400.0));
        let m1 = r.iter().find(|r| r.ts == 60 * S && r.series.region == "eu").unwrap();
        // 60-62 down by retries (1 s each), 62-67 down (slot), 70-80 maintenance, 80-85 up; 67-70 is a gap.
        assert_eq!((m1.up_s, m1.down_s, m1.maintenance_s), (5.0, 7.0, 10.0));
        assert_eq!((m1.samples, m1.failures), (4, 3));
        assert_eq!((m1.down_from_s, m1.down_until_s), (Some(0.0), Some(7.0)));
        assert_eq!(m1.down_stretch(), Some((60 * S, 67 * S)), "one stretch: placed to the second");
        assert_eq!((m0.down_from_s, m0.down_stretch()), (None, None));
        let hour = merge(&r.iter().filter(|r| r.series.region == "eu").cloned().collect::<Vec<_>>(), Resolution::Hour);
        assert_eq!(hour[0].down_stretch(), Some((60 * S, 67 * S)), "the span survives the merge, shifted by the child's start");
        assert_eq!(m1.latency_mean_ms, Some(50.0), "only ok attempts count for latency");
        let all = r.iter().find(|r| r.ts == 60 * S && r.series.region == ALL_REGIONS).unwrap();
        assert_eq!((all.up_s, all.down_s, all.samples), (5.0, 7.0, 4));
    }

    #[test]
    fn hours_merge_minutes_exactly() {
        let eu = series("eu");
        let probes: Vec<ProbePoint> = (0..720).map(|i| probe(&eu, i * 5, i % 100 != 0, i % 100 != 0, (i % 300) as f64 + 1.0)).collect();
        let known = HashMap::new();
        let r = minutes(&probes, &[], 0, 3600 * S, &params(), &known);
        let hour = merge(&r.iter().filter(|r| r.series.region == "eu").cloned().collect::<Vec<_>>(), Resolution::Hour);
        assert_eq!(hour.len(), 1);
        let h = &hour[0];
        assert_eq!(h.samples, 720);
        assert_eq!(h.failures, 8);
        assert!((h.up_s + h.down_s - 3600.0).abs() < 1e-9);
        // Eight separate misses: the span bounds them but is not one stretch, so a report reads finer windows.
        assert_eq!((h.down_from_s, h.down_until_s), (Some(0.0), Some(3505.0)));
        assert_eq!(h.down_stretch(), None);
        // The merged p95 is the p95 of all the ok latencies, within the histogram's precision.
        let mut ok: Vec<f64> = probes.iter().filter(|p| p.ok).map(|p| p.latency_ms).collect();
        ok.sort_by(f64::total_cmp);
        let exact = ok[((ok.len() as f64) * 0.95).ceil() as usize - 1];
        let got = h.latency_p95_ms.unwrap();
        assert!((got - exact).abs() <= exact * 1e-3 + 1e-3, "{got} vs {exact}");
        let mean: f64 = ok.iter().sum::<f64>() / ok.len() as f64;
        assert!((h.latency_mean_ms.unwrap() - mean).abs() < 1e-9);
    }
}
