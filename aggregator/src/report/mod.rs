//! SLA reports (DESIGN.md §5.6): one partner's components over a month, a quarter or a custom range, read
//! from rollups only, so a year-long report costs what its days cost, never its raw points.
//!
//! **What is read.** The period is covered by the coarsest rollups that fit inside it and inside what the
//! aggregator has closed (its watermarks): whole UTC days, then hours, then minutes at the edges, where the
//! report's midnight is not UTC's (see [`plan`]). Nothing outside the period is read.
//!
//! **What is computed**, per component and environment, from the `all`-regions rollups of its endpoints:
//! availability `Σ up_s / Σ (up_s + down_s)` with maintenance excluded from both sides, so time adds up over
//! endpoints and regions (an hour down in one of two regions is 60 downtime minutes, against a budget counted
//! over both regions' time: availability, downtime and error budget always agree); percentiles from the
//! merged histograms of the ok attempts (never averaged); the share of probes under the latency objective.
//! **Incidents** come from each region's own rollups: a window whose down time is one stretch
//! ([`RollupPoint::down_stretch`]) places it to the second; any other window is read again at the next finer
//! resolution, down to minutes. Stretches of every endpoint and region of a component that overlap or touch
//! are one incident, with the regions and endpoints that were down in it.

pub mod period;
pub mod render;

use crate::config::SlaConfig;
use crate::rollup::Acc;
use period::Period;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use watchpost_core::config::EndpointConfig;
use watchpost_core::hist;
use watchpost_core::maintenance::Window;
use watchpost_core::model::{Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use watchpost_core::store::{Select, Store, StoreError};
use watchpost_core::time::{Nanos, TimeRange};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store has no rollups yet: run `watchpost aggregator` (or `watchpost run`) first")]
    NoRollups,
}

/// A finished report, in UTC nanoseconds; the renderers show times in `tz`.
#[derive(Debug, Clone)]
pub struct Report {
    pub sla: String,
    pub title: String,
    pub period: Period,
    pub tz: jiff::tz::TimeZone,
    pub tz_name: String,
    /// Rollups cover the period up to here; before the period's end the report is partial.
    pub data_until: Nanos,
    /// Rollups exist from here on (the aggregator's first cycle, or a backfill); `None` for stores from before
    /// Watchpost recorded it. A period that begins earlier was never (wholly) rolled up.
    pub rolled_up_from: Option<Nanos>,
    pub target: f64,
    pub latency_objective_ms: f64,
    pub generated_at: Nanos,
    pub sections: Vec<Section>,
}

/// One component in one environment.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub component: String,
    pub environment: String,
    pub totals: Totals,
    /// `None` without probed time.
    pub met: Option<bool>,
    /// Down seconds the target allows over the probed time, and what is left of them (negative: overspent).
    pub error_budget_s: f64,
    pub error_budget_left_s: f64,
    /// Region-seconds no point covered (an agent or region that was not reporting): neither up nor down. A
    /// configured endpoint with no rollup at all in the period counts as one region unmonitored throughout.
    pub unmonitored_s: f64,
    /// Configured endpoints of the section without a single rollup in the covered time: never monitored, or
    /// never rolled up (history from before the aggregator ran: `watchpost aggregator --backfill`).
    pub unmonitored_endpoints: Vec<String>,
    pub incidents: Vec<Incident>,
    pub maintenance: Vec<Window>,
    pub endpoints: Vec<(String, Totals)>,
    /// Per UTC day (the first and last partial where the report's midnight is not UTC's), for the charts.
    pub days: Vec<(Nanos, Totals)>,
}

/// Sums over some rollups, and what is read from them.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub up_s: f64,
    pub down_s: f64,
    pub maintenance_s: f64,
    pub samples: u64,
    pub failures: u64,
    /// Percent of probed time up.
    pub availability: Option<f64>,
    /// Percent of probes (failed ones included) faster than the latency objective.
    pub under_objective: Option<f64>,
    pub latency_mean_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A stretch in which at least one endpoint of a component was confirmed down in at least one region.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub start: Nanos,
    pub end: Nanos,
    pub regions: BTreeSet<String>,
    pub endpoints: BTreeSet<String>,
    /// It began before the period (`start` is the period's start).
    pub began_before: bool,
    /// It was still going on when the covered time ended (`end` is that end).
    pub continues: bool,
}

impl Report {
    /// Whether the report covers its whole period: rolled up to its end, and every configured endpoint has
    /// rollups in it (a month that was never rolled up is not a month of 100 %, nor of "no data, complete").
    pub fn complete(&self) -> bool {
        self.data_until >= self.period.to
            && self.rolled_up_from.is_none_or(|s| s <= self.period.from)
            && self.sections.iter().all(|s| s.unmonitored_endpoints.is_empty())
    }
}

impl Incident {
    pub fn duration_s(&self) -> f64 {
        (self.end - self.start) as f64 / 1e9
    }
}

/// What a report is built from besides the store.
pub struct Inputs<'a> {
    pub sla: &'a SlaConfig,
    pub period: Period,
    /// Configured endpoints (which belong to a component, for maintenance scopes).
    pub endpoints: &'a [EndpointConfig],
    /// Maintenance windows overlapping the period, from every source.
    pub windows: Vec<Window>,
    /// The objective the rollups' `under_threshold` counts were made with.
    pub rollup_objective_ms: f64,
    pub now: Nanos,
}

/// Which rollups cover `[from, to)`: whole windows of the coarsest resolution that fit (and that the
/// aggregator has closed: `closed[r]` is resolution `r`'s watermark), finer ones at the edges. `from` and
/// `to` are minute-aligned by the caller.
pub fn plan(from: Nanos, to: Nanos, closed: &BTreeMap<Resolution, Nanos>) -> Vec<(Resolution, TimeRange)> {
    fn cover(from: Nanos, to: Nanos, res: &[Resolution], closed: &BTreeMap<Resolution, Nanos>, out: &mut Vec<(Resolution, TimeRange)>) {
        if from >= to {
            return;
        }
        let Some((&r, finer)) = res.split_first() else { return };
        let len = r.nanos();
        let inner_from = from.div_euclid(len) * len + if from.rem_euclid(len) == 0 { 0 } else { len };
        let limit = closed.get(&r).copied().unwrap_or(Nanos::MIN);
        let inner_to = r.floor(to.min(limit)).max(inner_from);
        if inner_to > inner_from && !finer.is_empty() {
            cover(from, inner_from, finer, closed, out);
            out.push((r, TimeRange::new(inner_from, inner_to)));
            cover(inner_to, to, finer, closed, out);
        } else if finer.is_empty() {
            out.push((r, TimeRange::new(from, to)));
        } else {
            cover(from, to, finer, closed, out);
        }
    }
    let mut out = Vec::new();
    cover(from, to, &[Resolution::Day, Resolution::Hour, Resolution::Minute], closed, &mut out);
    out
}

/// Running sums for one group of rollups.
#[derive(Default)]
struct Sum {
    acc: Acc,
    under: u64,
}

impl Sum {
    fn add(&mut self, r: &RollupPoint) {
        self.acc.add_rollup(r, 0.0);
        self.under += r.under_threshold;
    }

    /// Exact `under_threshold` counts when the report's objective is the rollups'; otherwise the
    /// histogram's count below the objective (within its precision).
    fn totals(&self, objective_ms: f64, rollup_objective_ms: f64) -> Totals {
        let a = &self.acc;
        let probed = a.up_s + a.down_s;
        let h = a.hist.as_ref();
        let [p50, p95, p99] = h.map_or([None; 3], |h| hist::quantiles_ms(h, [0.50, 0.95, 0.99]));
        let under = if (objective_ms - rollup_objective_ms).abs() < 1e-9 {
            self.under
        } else {
            let below_us = ((objective_ms * 1000.0).round() as u64).saturating_sub(1);
            h.map_or(0, |h| h.count_between(0, below_us.max(1)))
        };
        let oks = h.map_or(0, |h| h.len());
        Totals {
            up_s: a.up_s,
            down_s: a.down_s,
            maintenance_s: a.maintenance_s,
            samples: a.samples,
            failures: a.failures,
            availability: (probed > 0.0).then(|| 100.0 * (a.up_s / probed)),
            under_objective: (a.samples > 0).then(|| 100.0 * under as f64 / a.samples as f64),
            latency_mean_ms: (oks > 0).then(|| a.latency_sum_ms / oks as f64),
            p50_ms: p50,
            p95_ms: p95,
            p99_ms: p99,
        }
    }
}

#[derive(Default)]
struct Building {
    endpoints: BTreeMap<String, Sum>,
    days: BTreeMap<Nanos, Sum>,
    covered_s: f64,
    regional_series: BTreeSet<(String, String)>,
    stretches: Vec<(Nanos, Nanos, Arc<SeriesKey>)>,
}

/// Builds the report. `progress(done, total)` is called after each read of the store.
pub async fn build(store: &dyn Store, inputs: Inputs<'_>, progress: &mut dyn FnMut(usize, usize)) -> Result<Report, ReportError> {
    let sla = inputs.sla;
    let minute = Resolution::Minute.nanos();
    let mut closed = BTreeMap::new();
    for r in Resolution::ALL {
        if let Some(wm) = store.watermark(r.measurement()).await? {
            closed.insert(r, wm);
        }
    }
    let minute_wm = *closed.get(&Resolution::Minute).ok_or(ReportError::NoRollups)?;
    let rolled_up_from = store.watermark(crate::ROLLUP_START).await?;
    let from = Resolution::Minute.floor(inputs.period.from + minute - 1);
    let data_until = Resolution::Minute.floor(inputs.period.to).min(minute_wm).max(from);
    let segments = plan(from, data_until, &closed);

    let wanted =
        |s: &SeriesKey| sla.components.contains(&s.component) && (sla.environments.is_empty() || sla.environments.contains(&s.environment));
    let mut sections: BTreeMap<(String, String), Building> = BTreeMap::new();
    // Configured environments of each component first, so a component without any data still has its row.
    for e in inputs.endpoints {
        let Some(c) = &e.component else { continue };
        if sla.components.contains(c) && (sla.environments.is_empty() || sla.environments.contains(&e.environment)) {
            sections.entry((c.clone(), e.environment.clone())).or_default();
        }
    }
    let mut drill: Vec<RollupPoint> = Vec::new();
    let total_steps = segments.len() + 1;
    for (i, (res, range)) in segments.iter().enumerate() {
        for r in store.rollups(*res, *range, Select::All).await? {
            if !wanted(&r.series) {
                continue;
            }
            let b = sections.entry((r.series.component.clone(), r.series.environment.clone())).or_default();
            if r.series.region == ALL_REGIONS {
                // The section's total is the sum of its endpoints', merged once at the end: each stored
                // histogram is decoded twice per report, not three times.
                b.endpoints.entry(r.series.endpoint.clone()).or_default().add(&r);
                b.days.entry(Resolution::Day.floor(r.ts)).or_default().add(&r);
                continue;
            }
            b.covered_s += r.up_s + r.down_s + r.maintenance_s;
            b.regional_series.insert((r.series.endpoint.clone(), r.series.region.clone()));
            if r.down_s > 0.0 {
                match r.down_stretch() {
                    Some((a, z)) => b.stretches.push((a, z, r.series.clone())),
                    None => drill.push(r),
                }
            }
        }
        progress(i + 1, total_steps);
    }
    // Windows whose down time is not one stretch: read their children, down to minutes.
    while let Some(r) = drill.pop() {
        let finer = match r.resolution {
            Resolution::Day => Resolution::Hour,
            Resolution::Hour => Resolution::Minute,
            Resolution::Minute => {
                // Two outages inside one minute: the finest placement rollups keep is the minute's span.
                let span = (r.down_from_s.unwrap_or(0.0), r.down_until_s.unwrap_or(r.down_s));
                let at = |s: f64| r.ts + (s * 1e9).round() as Nanos;
                if let Some(b) = sections.get_mut(&(r.series.component.clone(), r.series.environment.clone())) {
                    b.stretches.push((at(span.0), at(span.1), r.series.clone()));
                }
                continue;
            }
        };
        let range = TimeRange::new(r.ts, r.ts + r.resolution.nanos());
        for c in store.rollups(finer, range, Select::Endpoint(&r.series.endpoint)).await? {
            if c.series != r.series || c.down_s <= 0.0 {
                continue;
            }
            match c.down_stretch() {
                Some((a, z)) => {
                    if let Some(b) = sections.get_mut(&(c.series.component.clone(), c.series.environment.clone())) {
                        b.stretches.push((a, z, c.series.clone()));
                    }
                }
                None => drill.push(c),
            }
        }
    }
    progress(total_steps, total_steps);

    let objective_ms = sla.latency_objective.as_secs_f64() * 1e3;
    let covered_span_s = (data_until - from) as f64 / 1e9;
    let sections = sections
        .into_iter()
        .map(|((component, environment), b)| {
            let mut total = Sum::default();
            for e in b.endpoints.values() {
                total.acc.add(&e.acc);
                total.under += e.under;
            }
            let totals = total.totals(objective_ms, inputs.rollup_objective_ms);
            let probed = totals.up_s + totals.down_s;
            let budget = probed * (1.0 - sla.target / 100.0);
            let members: BTreeSet<&str> = inputs
                .endpoints
                .iter()
                .filter(|e| e.component.as_deref() == Some(component.as_str()) && e.environment == environment)
                .map(|e| e.id.as_str())
                .chain(b.endpoints.keys().map(String::as_str))
                .collect();
            let maintenance = inputs
                .windows
                .iter()
                // Taken: begun before the covered time ended (a partial report does not list future windows).
                .filter(|w| w.end > inputs.period.from && w.start < data_until)
                .filter(|w| members.iter().any(|id| w.scope.covers(id, &component)))
                .cloned()
                .collect();
            let configured = inputs
                .endpoints
                .iter()
                .filter(|e| e.component.as_deref() == Some(component.as_str()) && e.environment == environment)
                .map(|e| e.id.as_str());
            let unmonitored_endpoints: BTreeSet<String> =
                configured.filter(|id| !b.regional_series.iter().any(|(e, _)| e == id)).map(str::to_string).collect();
            let never_covered_s = unmonitored_endpoints.len() as f64 * covered_span_s;
            Section {
                met: totals.availability.map(|a| a + 1e-12 >= sla.target),
                error_budget_s: budget,
                error_budget_left_s: budget - totals.down_s,
                unmonitored_s: (b.regional_series.len() as f64 * covered_span_s - b.covered_s).max(0.0) + never_covered_s,
                unmonitored_endpoints: unmonitored_endpoints.into_iter().collect(),
                incidents: incidents(b.stretches, from, data_until),
                maintenance,
                endpoints: b.endpoints.iter().map(|(e, s)| (e.clone(), s.totals(objective_ms, inputs.rollup_objective_ms))).collect(),
                days: b.days.iter().map(|(d, s)| (*d, s.totals(objective_ms, inputs.rollup_objective_ms))).collect(),
                component,
                environment,
                totals,
            }
        })
        .collect();
    Ok(Report {
        sla: sla.name.clone(),
        title: sla.title.clone(),
        period: inputs.period,
        tz: sla.tz.clone(),
        tz_name: sla.tz_name.clone(),
        data_until,
        rolled_up_from,
        target: sla.target,
        latency_objective_ms: objective_ms,
        generated_at: inputs.now,
        sections,
    })
}

/// Joins down stretches that overlap or touch into incidents, by start.
fn incidents(mut stretches: Vec<(Nanos, Nanos, Arc<SeriesKey>)>, from: Nanos, until: Nanos) -> Vec<Incident> {
    stretches.sort_by_key(|s| (s.0, s.1));
    let mut out: Vec<Incident> = Vec::new();
    for (a, z, s) in stretches {
        match out.last_mut() {
            Some(cur) if a <= cur.end => {
                cur.end = cur.end.max(z);
                cur.regions.insert(s.region.clone());
                cur.endpoints.insert(s.endpoint.clone());
            }
            _ => out.push(Incident {
                start: a,
                end: z,
                regions: [s.region.clone()].into(),
                endpoints: [s.endpoint.clone()].into(),
                began_before: false,
                continues: false,
            }),
        }
    }
    for i in &mut out {
        i.began_before = i.start <= from;
        i.continues = i.end >= until;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Nanos = 3_600_000_000_000;

    #[test]
    fn plans_use_whole_days_inside_and_finer_windows_at_local_edges() {
        let day = 24 * H;
        let closed: BTreeMap<Resolution, Nanos> = Resolution::ALL.iter().map(|r| (*r, 100 * day)).collect();
        // Berlin's October: 22:00 on the 30th of September to 23:00 on the 31st of October (UTC).
        let (from, to) = (10 * day - 2 * H, 41 * day + 23 * H);
        let p = plan(from, to, &closed);
        assert_eq!(
            p,
            vec![
                (Resolution::Hour, TimeRange::new(from, 10 * day)),
                (Resolution::Day, TimeRange::new(10 * day, 41 * day)),
                (Resolution::Hour, TimeRange::new(41 * day, to)),
            ]
        );
        // Half-hour zones need minutes; days the aggregator has not merged yet come as hours and minutes.
        let closed: BTreeMap<Resolution, Nanos> =
            [(Resolution::Day, 12 * day), (Resolution::Hour, 12 * day + 5 * H), (Resolution::Minute, 12 * day + 5 * H + 1_800_000_000_000)]
                .into();
        let p = plan(10 * day - 1_800_000_000_000, 12 * day + 5 * H + 1_800_000_000_000, &closed);
        assert_eq!(
            p,
            vec![
                (Resolution::Minute, TimeRange::new(10 * day - 1_800_000_000_000, 10 * day)),
                (Resolution::Day, TimeRange::new(10 * day, 12 * day)),
                (Resolution::Hour, TimeRange::new(12 * day, 12 * day + 5 * H)),
                (Resolution::Minute, TimeRange::new(12 * day + 5 * H, 12 * day + 5 * H + 1_800_000_000_000)),
            ]
        );
        let covered: Nanos = p.iter().map(|(_, r)| r.to - r.from).sum();
        assert_eq!(covered, 2 * day + 6 * H, "every nanosecond once");
    }

    #[test]
    fn stretches_that_touch_or_overlap_are_one_incident() {
        let s = |region: &str, endpoint: &str| {
            Arc::new(SeriesKey { endpoint: endpoint.into(), region: region.into(), component: "c".into(), environment: "p".into() })
        };
        let got = incidents(vec![(10, 20, s("eu", "a")), (20, 30, s("eu", "a")), (25, 40, s("us", "b")), (50, 60, s("eu", "a"))], 0, 60);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].start, got[0].end, got[0].regions.len(), got[0].endpoints.len()), (10, 40, 2, 2));
        assert!(!got[0].began_before && !got[0].continues);
        assert!(got[1].continues, "still down at the end of the covered time");
    }
}
