//! From points to verdicts: a sliding buffer of recent samples per endpoint × environment × region, fed
//! incrementally (from the store, and in `watchpost run` straight from the agent), and each rule's metric
//! over it, per region, combined by the quorum of DESIGN.md §5.4.
//!
//! Within one series points arrive in time order (one agent writes a series, in order, also when it replays
//! its spool), so a point at or before the series' newest is a duplicate of one already seen: reading the
//! store with an overlap never counts a point twice.

use crate::config::{Metric, RuleConfig};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::config::EndpointConfig;
use watchpost_core::model::Point;
use watchpost_core::time::{duration_nanos, Nanos};

#[derive(Debug, Clone, Copy)]
struct Sample {
    ts: Nanos,
    availability: f32,
    latency_ms: f32,
    /// NaN when the probe has no certificate.
    cert_days_left: f32,
}

/// One region's recent samples of one endpoint × environment.
#[derive(Debug, Default)]
pub struct Series {
    samples: VecDeque<Sample>,
    last_probe: Nanos,
}

impl Series {
    /// The rule's metric over `window` before `now` (`None`: the latest sample), or `None` without data.
    /// `slot` is the endpoint's interval: the most time one sample stands for.
    pub fn value(&self, metric: Metric, window: Option<Duration>, now: Nanos, slot: Nanos) -> Option<f64> {
        let Some(window) = window else {
            let s = self.samples.back()?;
            return match metric {
                Metric::Availability => Some(f64::from(s.availability)),
                Metric::LatencyMean | Metric::LatencyP95 | Metric::LatencyP99 => Some(f64::from(s.latency_ms)),
                Metric::CheckFailed => Some(if s.availability < 100.0 { 1.0 } else { 0.0 }),
                Metric::CertDaysLeft => (!s.cert_days_left.is_nan()).then_some(f64::from(s.cert_days_left)),
                Metric::RegionsReporting => None, // counted across series by `verdict`
            };
        };
        let from = now - duration_nanos(window);
        let recent = self.samples.iter().rev().take_while(|s| s.ts >= from);
        match metric {
            Metric::Availability => self.availability(from, now, slot),
            Metric::LatencyMean => mean(recent.map(|s| f64::from(s.latency_ms))),
            Metric::LatencyP95 | Metric::LatencyP99 => {
                let mut v: Vec<f64> = recent.map(|s| f64::from(s.latency_ms)).collect();
                let q = if metric == Metric::LatencyP95 { 0.95 } else { 0.99 };
                quantile(&mut v, q)
            }
            Metric::CheckFailed => {
                let mut any = false;
                let n = recent.inspect(|_| any = true).filter(|s| s.availability < 100.0).count();
                any.then_some(n as f64)
            }
            Metric::CertDaysLeft => recent.filter(|s| !s.cert_days_left.is_nan()).map(|s| f64::from(s.cert_days_left)).reduce(f64::min),
            Metric::RegionsReporting => None,
        }
    }
}

impl Series {
    /// Availability over `[from, now)` weighted by the time each sample stands for (DESIGN.md §5.6, as
    /// `SlotAccumulator` does for rollups): until the next sample, at most `slot`; the sample before `from`
    /// for its part inside the window. Why not the mean of the samples: after a miss the agent retries at
    /// `retry_interval`, so the first seconds of an outage bring several samples where a healthy minute
    /// brings one per interval, and a mean over-weighted them (three 1 s retries counted as 15 s).
    fn availability(&self, from: Nanos, now: Nanos, slot: Nanos) -> Option<f64> {
        let first = self.samples.partition_point(|s| s.ts < from);
        let start = first.saturating_sub(1);
        let (mut weighted, mut total, mut seen) = (0.0, 0.0, 0u32);
        for (k, s) in self.samples.iter().enumerate().skip(start) {
            if s.ts > now {
                break;
            }
            let next = self.samples.get(k + 1).map_or(now, |n| n.ts.min(now));
            let end = next.min(s.ts + slot);
            let secs = (end - s.ts.max(from)).max(0) as f64;
            if k >= first {
                seen += 1;
            }
            weighted += f64::from(s.availability) * secs;
            total += secs;
        }
        if seen == 0 {
            return None;
        }
        // Every sample at `now` exactly (no time yet): the plain mean of those in the window.
        if total == 0.0 {
            return mean(self.samples.iter().skip(first).take_while(|s| s.ts <= now).map(|s| f64::from(s.availability)));
        }
        Some(weighted / total)
    }
}

fn mean(it: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = it.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

/// The nearest-rank quantile (the value at or below which `q` of the samples lie).
fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    let (_, x, _) = v.select_nth_unstable_by(rank, f64::total_cmp);
    Some(*x)
}

/// Every region of one endpoint × environment.
#[derive(Debug, Default)]
pub struct Regions {
    pub series: Vec<(Arc<str>, Series)>,
}

/// The buffers of every configured endpoint × environment; points of others are ignored.
pub struct Windows {
    index: HashMap<(String, String), usize>,
    /// Endpoint id to its indexes (one per environment).
    by_id: HashMap<String, Vec<usize>>,
    pub by_endpoint: Vec<Regions>,
    /// Each endpoint's interval: the most time one of its samples stands for.
    slots: Vec<Nanos>,
    /// Newest active maintenance point per endpoint index and region.
    maintenance: Vec<Vec<(Arc<str>, Nanos)>>,
    keep: Nanos,
}

impl Windows {
    /// Buffers for `endpoints`, keeping `keep` of history (the longest rule window and then some).
    pub fn new(endpoints: &[EndpointConfig], keep: Duration) -> Windows {
        let index = endpoints.iter().enumerate().map(|(i, e)| ((e.id.clone(), e.environment.clone()), i)).collect();
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in endpoints.iter().enumerate() {
            by_id.entry(e.id.clone()).or_default().push(i);
        }
        Windows {
            index,
            by_id,
            by_endpoint: endpoints.iter().map(|_| Regions::default()).collect(),
            slots: endpoints.iter().map(|e| duration_nanos(e.interval)).collect(),
            maintenance: endpoints.iter().map(|_| Vec::new()).collect(),
            keep: duration_nanos(keep),
        }
    }

    fn region<'a>(list: &'a mut Vec<(Arc<str>, Series)>, region: &str) -> &'a mut Series {
        let i = match list.iter().position(|(r, _)| &**r == region) {
            Some(i) => i,
            None => {
                list.push((Arc::from(region), Series::default()));
                list.len() - 1
            }
        };
        &mut list[i].1
    }

    /// Takes one point; returns the endpoint index it changed, if it was new.
    pub fn ingest(&mut self, p: &Point) -> Option<usize> {
        match p {
            Point::Probe(p) => {
                let i = *self.index.get(&(p.series.endpoint.clone(), p.series.environment.clone()))?;
                let s = Self::region(&mut self.by_endpoint[i].series, &p.series.region);
                if p.ts <= s.last_probe {
                    return None;
                }
                s.last_probe = p.ts;
                s.samples.push_back(Sample {
                    ts: p.ts,
                    availability: p.availability as f32,
                    latency_ms: p.latency_ms as f32,
                    cert_days_left: p.cert_days_left.map_or(f32::NAN, |d| d as f32),
                });
                Some(i)
            }
            Point::Maintenance(m) if m.active => {
                // A maintenance point names the endpoint, not the environment: it covers all of them.
                let mut changed = None;
                for &i in self.by_id.get(&m.endpoint)? {
                    let list = &mut self.maintenance[i];
                    match list.iter_mut().find(|(r, _)| &**r == m.region.as_str()) {
                        Some((_, ts)) if *ts >= m.ts => continue,
                        Some((_, ts)) => *ts = m.ts,
                        None => list.push((Arc::from(m.region.as_str()), m.ts)),
                    }
                    changed = Some(i);
                }
                changed
            }
            _ => None,
        }
    }

    fn last_maintenance(&self, i: usize, region: &str) -> Nanos {
        self.maintenance[i].iter().find(|(r, _)| &**r == region).map_or(0, |(_, ts)| *ts)
    }

    /// Drops samples older than the history kept, but never a series' newest.
    pub fn prune(&mut self, now: Nanos) {
        let from = now - self.keep;
        for r in &mut self.by_endpoint {
            for (_, s) in &mut r.series {
                while s.samples.len() > 1 && s.samples.front().is_some_and(|x| x.ts < from) {
                    s.samples.pop_front();
                }
            }
        }
    }
}

/// One rule's judgement on one endpoint × environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Breached in at least the quorum of the reporting regions.
    pub breach: bool,
    /// The metric: the worst over the breaching regions, else over all reporting ones.
    pub value: f64,
    /// Regions that breach, and how many report.
    pub breaching: Vec<String>,
    pub reporting: usize,
    /// A reporting region is in a maintenance window: alerting is silent.
    pub maintenance: bool,
    /// The newest probe of the regions whose evidence carries the verdict: the breaching ones when it
    /// breaches, else the clear ones. An alert resolves only on clear evidence newer than its firing (see
    /// `lifecycle::decide`): a region replaying its spool after an outage must not out-vote a newer breach
    /// with its older healthy points.
    pub newest: Nanos,
}

/// How long a region may stay silent before it no longer counts (a dead agent is not an outage, and its
/// last state is not the endpoint's): three intervals, the time a confirmation may hold points back, and
/// the store's lateness.
pub fn stale_after(e: &EndpointConfig, rule: &RuleConfig, lookback: Duration) -> Nanos {
    let hold = e.retry_interval * e.failure_threshold;
    let base = (e.interval * 3).max(rule.window.unwrap_or_default());
    duration_nanos(base + hold + lookback)
}

/// `rule` on endpoint `i` at `now`; `None` when no region reports.
pub fn verdict(w: &Windows, i: usize, rule: &RuleConfig, stale: Nanos, quorum: Option<u32>, now: Nanos) -> Option<Verdict> {
    if rule.metric == Metric::RegionsReporting {
        return Some(regions_reporting(w, i, rule, stale, now));
    }
    let mut reporting = 0usize;
    let mut maintenance = false;
    let mut breaching = Vec::new();
    let mut worst: Option<f64> = None;
    let mut worst_breaching: Option<f64> = None;
    let (mut newest_breaching, mut newest_clear) = (0, 0);
    let worse = |a: Option<f64>, b: f64| -> f64 {
        match a {
            None => b,
            // "Worse" is the direction that breaches: low availability, high latency.
            Some(a) if rule.cmp.holds(b, a) => b,
            Some(a) => a,
        }
    };
    for (region, s) in &w.by_endpoint[i].series {
        let last_maintenance = w.last_maintenance(i, region);
        if s.last_probe.max(last_maintenance) < now - stale {
            continue;
        }
        if last_maintenance > s.last_probe {
            continue; // in a window: counted below
        }
        let Some(v) = s.value(rule.metric, rule.window, now, w.slots[i]) else { continue };
        reporting += 1;
        worst = Some(worse(worst, v));
        if rule.cmp.holds(v, rule.threshold) {
            breaching.push(region.to_string());
            worst_breaching = Some(worse(worst_breaching, v));
            newest_breaching = newest_breaching.max(s.last_probe);
        } else {
            newest_clear = newest_clear.max(s.last_probe);
        }
    }
    // A region whose newest point is a maintenance point (with or without probes before it) silences.
    for (region, ts) in &w.maintenance[i] {
        let probe = w.by_endpoint[i].series.iter().find(|(r, _)| r == region).map_or(0, |(_, s)| s.last_probe);
        if *ts > probe && *ts >= now - stale {
            maintenance = true;
        }
    }
    if reporting == 0 && !maintenance {
        return None;
    }
    let needed = quorum.map_or(reporting / 2 + 1, |q| q as usize);
    breaching.sort();
    let breach = reporting > 0 && breaching.len() >= needed;
    Some(Verdict {
        breach,
        value: worst_breaching.or(worst).unwrap_or(f64::NAN),
        breaching,
        reporting,
        maintenance,
        // Clear without a clear region (a quorum larger than the regions reporting): the newest of all.
        newest: if breach || newest_clear == 0 { newest_breaching.max(newest_clear) } else { newest_clear },
    })
}

/// How many regions report endpoint `i` (a probe or maintenance point within `stale`): the one metric about
/// the regions themselves, so maintenance does not silence it, and a region never heard from (or every
/// region falling silent) breaches `regions_reporting < N` too.
fn regions_reporting(w: &Windows, i: usize, rule: &RuleConfig, stale: Nanos, now: Nanos) -> Verdict {
    let (mut fresh, mut silent, mut newest) = (0usize, Vec::new(), 0);
    for (region, s) in &w.by_endpoint[i].series {
        let last = s.last_probe.max(w.last_maintenance(i, region));
        if last >= now - stale {
            fresh += 1;
            newest = newest.max(last);
        } else {
            silent.push(region.to_string());
        }
    }
    silent.sort();
    let value = fresh as f64;
    let breach = rule.cmp.holds(value, rule.threshold);
    // `breaching` names the silent regions: they are what the page is about.
    Verdict { breach, value, reporting: fresh, breaching: if breach { silent } else { vec![] }, maintenance: false, newest }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_condition, Selector, Severity};
    use watchpost_core::config::{ProbeConfig, TcpProbeConfig};
    use watchpost_core::model::{MaintenancePoint, ProbePoint, SeriesKey};

    const S: Nanos = 1_000_000_000;

    fn endpoint() -> EndpointConfig {
        EndpointConfig {
            id: "api".into(),
            name: "API".into(),
            component: None,
            tags: vec![],
            labels: Default::default(),
            depends_on: vec![],
            environment: "production".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            retry_interval: Duration::from_secs(1),
            failure_threshold: 3,
            success_threshold: 1,
            probe: ProbeConfig::Tcp(TcpProbeConfig { host: "x".into(), port: 1, send: None, expect: None }),
            assertions: vec![],
        }
    }

    fn rule(when: &str, window: Option<u64>) -> RuleConfig {
        let (metric, cmp, threshold) = parse_condition(when).unwrap();
        RuleConfig {
            name: "r".into(),
            metric,
            cmp,
            threshold,
            window: window.map(Duration::from_secs),
            for_: Duration::ZERO,
            resolve_for: Duration::ZERO,
            severity: Severity::Critical,
            policy: Some("p".into()),
            selector: Selector::default(),
        }
    }

    fn probe(region: &str, ts: Nanos, availability: f64, latency_ms: f64) -> Point {
        let series = Arc::new(SeriesKey {
            endpoint: "api".into(),
            region: region.into(),
            component: String::new(),
            environment: "production".into(),
        });
        Point::Probe(ProbePoint::sample(series, ts, availability, availability > 0.0, latency_ms))
    }

    #[test]
    fn the_latest_point_decides_without_a_window_and_duplicates_are_ignored() {
        let mut w = Windows::new(&[endpoint()], Duration::from_secs(600));
        let r = rule("availability < 100", None);
        assert_eq!(w.ingest(&probe("eu", 10 * S, 100.0, 5.0)), Some(0));
        assert_eq!(w.ingest(&probe("eu", 10 * S, 0.0, 5.0)), None, "same timestamp: already seen");
        assert!(!verdict(&w, 0, &r, 30 * S, None, 11 * S).unwrap().breach);
        w.ingest(&probe("eu", 15 * S, 0.0, 2000.0));
        let v = verdict(&w, 0, &r, 30 * S, None, 16 * S).unwrap();
        assert!(v.breach);
        assert_eq!((v.value, v.breaching.clone(), v.reporting), (0.0, vec!["eu".to_string()], 1));
        // Silent for longer than `stale`: no data, not an outage.
        assert_eq!(verdict(&w, 0, &r, 30 * S, None, 100 * S), None);
    }

    /// Found by the fault-sequence soak (issue 17): region `far` spooled while the store was down and
    /// replayed oldest first once it was back; its healthy points from before the outage reached alerting
    /// after `seq` had confirmed the outage and the alert had fired, out-voted `seq`'s newer failing points
    /// (one clear of two reporting is no majority) and resolved the alert while the target was still down.
    #[test]
    fn regression_a_replaying_regions_older_healthy_points_are_not_newer_evidence() {
        let mut w = Windows::new(&[endpoint()], Duration::from_secs(600));
        let r = rule("availability < 100", None);
        w.ingest(&probe("seq", 48 * S, 0.0, 1.0));
        w.ingest(&probe("seq", 53 * S, 0.0, 1.0));
        // `far`'s replay has reached 47 s so far: healthy, from before the outage.
        w.ingest(&probe("far", 47 * S, 100.0, 1.0));
        let v = verdict(&w, 0, &r, 30 * S, None, 53 * S).unwrap();
        assert!(!v.breach, "one of two regions breaching is no majority");
        assert_eq!(v.newest, 47 * S, "the clear evidence is far's, from 47 s: older than a firing at 48.75 s");
        // Its replay goes on: far fails too, the vote breaches again on the newest failing evidence.
        w.ingest(&probe("far", 52 * S, 0.0, 1.0));
        let v = verdict(&w, 0, &r, 30 * S, None, 53 * S).unwrap();
        assert!(v.breach);
        assert_eq!(v.newest, 53 * S);
    }

    #[test]
    fn windows_aggregate_and_percentiles_use_nearest_rank() {
        let mut w = Windows::new(&[endpoint()], Duration::from_secs(600));
        for i in 1..=100 {
            w.ingest(&probe("eu", i * S, if i % 4 == 0 { 0.0 } else { 100.0 }, i as f64));
        }
        let s = &w.by_endpoint[0].series[0].1;
        let now = 101 * S;
        assert_eq!(s.value(Metric::Availability, Some(Duration::from_secs(100)), now, 5 * S), Some(75.0));
        assert_eq!(s.value(Metric::LatencyMean, Some(Duration::from_secs(10)), now, 5 * S), Some(95.5));
        assert_eq!(s.value(Metric::LatencyP95, Some(Duration::from_secs(100)), now, 5 * S), Some(95.0));
        assert_eq!(s.value(Metric::LatencyP99, Some(Duration::from_secs(100)), now, 5 * S), Some(99.0));
        assert_eq!(s.value(Metric::CheckFailed, Some(Duration::from_secs(20)), now, 5 * S), Some(5.0));
        assert_eq!(s.value(Metric::LatencyMean, Some(Duration::from_secs(1)), 500 * S, 5 * S), None, "nothing in the window");
        w.prune(800 * S);
        assert_eq!(w.by_endpoint[0].series[0].1.samples.len(), 1, "pruning keeps the newest");
    }

    /// Issue 21: a miss retried twice at 1 s counted as three samples of an interval each. Up every 5 s
    /// from 40 s, down at 55, 56 and 57 s (confirmed, the agent retrying), up again from 60 s: 5 s of 60 are
    /// down, 91.7 %, where the mean of the 14 samples said 78.6 %. The sample before the window counts for
    /// its part inside it.
    #[test]
    fn regression_windowed_availability_weights_samples_by_the_time_they_stand_for() {
        let mut w = Windows::new(&[endpoint()], Duration::from_secs(600));
        let mut ts: Vec<(i64, f64)> = (0..=50).step_by(5).map(|t| (t, 100.0)).collect();
        ts.extend([(55, 0.0), (56, 0.0), (57, 0.0)]);
        ts.extend((60..=95).step_by(5).map(|t| (t, 100.0)));
        for (t, a) in ts {
            w.ingest(&probe("eu", t * S, a, 10.0));
        }
        let s = &w.by_endpoint[0].series[0].1;
        let v = s.value(Metric::Availability, Some(Duration::from_secs(60)), 100 * S, 5 * S).unwrap();
        assert!((v - 55.0 / 60.0 * 100.0).abs() < 1e-9, "{v}");
        // The window starting mid-slot: from 42 s, the sample at 40 s counts for 3 s.
        let v = s.value(Metric::Availability, Some(Duration::from_secs(58)), 100 * S, 5 * S).unwrap();
        assert!((v - 53.0 / 58.0 * 100.0).abs() < 1e-9, "{v}");
        // Through a rule: 91.7 % does not breach `availability < 90` over the minute.
        let r = rule("availability < 90", Some(60));
        assert!(!verdict(&w, 0, &r, 30 * S, None, 100 * S).unwrap().breach);
    }

    #[test]
    fn regions_vote_by_majority_or_the_configured_quorum() {
        let mut w = Windows::new(&[endpoint()], Duration::from_secs(600));
        let r = rule("availability < 100", None);
        for (region, a) in [("eu", 0.0), ("us", 100.0), ("ap", 100.0)] {
            w.ingest(&probe(region, 10 * S, a, 1.0));
        }
        let v = verdict(&w, 0, &r, 30 * S, None, 11 * S).unwrap();
        assert!(!v.breach, "one of three is a minority");
        assert_eq!((v.breaching.len(), v.reporting), (1, 3));
        assert!(verdict(&w, 0, &r, 30 * S, Some(1), 11 * S).unwrap().breach);
        w.ingest(&probe("us", 12 * S, 0.0, 1.0));
        assert!(verdict(&w, 0, &r, 30 * S, None, 13 * S).unwrap().breach, "two of three");
        // Regions that fell silent no longer count: `us` alone reports, and it is down.
        let v = verdict(&w, 0, &r, 30 * S, None, 41 * S).unwrap();
        assert_eq!((v.reporting, v.breach), (1, true));
    }

    #[test]
    fn maintenance_points_newer_than_the_probes_silence() {
        let mut w = Windows::new(&[endpoint()], Duration::from_secs(600));
        let r = rule("availability < 100", None);
        w.ingest(&probe("eu", 10 * S, 0.0, 1.0));
        let m = Point::Maintenance(MaintenancePoint { endpoint: "api".into(), region: "eu".into(), ts: 15 * S, active: true });
        assert_eq!(w.ingest(&m), Some(0));
        let v = verdict(&w, 0, &r, 30 * S, None, 16 * S).unwrap();
        assert!(v.maintenance && !v.breach);
        w.ingest(&probe("eu", 20 * S, 100.0, 1.0));
        assert!(!verdict(&w, 0, &r, 30 * S, None, 21 * S).unwrap().maintenance);
    }

    #[test]
    fn a_region_that_goes_silent_breaches_regions_reporting() {
        let mut w = Windows::new(&[endpoint()], Duration::from_secs(600));
        let r = rule("regions_reporting < 2", None);
        for region in ["eu", "us"] {
            w.ingest(&probe(region, 10 * S, 100.0, 1.0));
        }
        let v = verdict(&w, 0, &r, 30 * S, None, 11 * S).unwrap();
        assert_eq!((v.value, v.breach), (2.0, false));
        w.ingest(&probe("eu", 35 * S, 100.0, 1.0));
        let v = verdict(&w, 0, &r, 30 * S, None, 41 * S).unwrap();
        assert_eq!((v.value, v.breach, v.breaching.as_slice()), (1.0, true, ["us".to_string()].as_slice()), "`us` went silent");
        let v = verdict(&w, 0, &r, 30 * S, None, 100 * S).unwrap();
        assert_eq!((v.value, v.breach), (0.0, true), "every region silent");
    }
}
