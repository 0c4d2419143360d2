//! The status of endpoints and components from the latest states of every region (DESIGN.md §5.4, §5.7), as
//! pure functions: the status page, `watchpost status` and the publishers all ask these, so the three cannot
//! disagree about what is down.
//!
//! - A region's state of an endpoint counts while it is fresh: its last point is at most `stale` old
//!   ([`RegionsConfig::stale_for`]). A region that stopped reporting is not an outage; it is reported apart
//!   ([`silent_regions`]). Stale states never vote. When no region is fresh, the last *voted* status stands:
//!   the vote as it was when the last region to report still did (the states fresh at that moment), so an
//!   agent that stopped neither turns a red page green nor brings back a dead region's old DOWN.
//! - An endpoint is **down** when it is confirmed down in at least the quorum of the counted regions (the
//!   configured `regions.down_quorum`, else a majority), **degraded** when down in fewer, or when its latest
//!   latency breaks the latency objective in a majority of them.
//! - A component is `major_outage` when every endpoint that counts is down, `partial_outage` when some are,
//!   `degraded_performance` when one is degraded, `under_maintenance` when a window covers all of its
//!   endpoints (endpoints inside a window do not count otherwise), else `operational`.
//! - An unresolved incident may declare a worse status for a component than the data shows; the worse one
//!   wins (an operator who says "major outage" is believed; data that says so is too).

use crate::config::{defaults, Config, RegionsConfig};
use crate::model::{ComponentStatus, EndpointState};
use crate::time::{duration_nanos, Nanos};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// What the status of one endpoint is, across regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EndpointHealth {
    Up,
    Degraded,
    Down,
}

/// How regions vote, at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Vote {
    pub now: Nanos,
    /// A state older than this is stale.
    pub stale: Nanos,
    /// Regions that must be down; `None`: a majority of the counted ones.
    pub quorum: Option<u32>,
    pub objective_ms: f64,
}

impl Vote {
    pub fn is_fresh(&self, s: &EndpointState) -> bool {
        s.last_ts >= self.now - self.stale
    }
}

/// What voting needs from the configuration, gathered once: the `[regions]` settings, each endpoint's
/// interval (its staleness threshold) and the latency objective.
#[derive(Debug, Clone)]
pub struct Voting {
    pub regions: RegionsConfig,
    intervals: HashMap<String, Duration>,
    pub objective_ms: f64,
}

impl Voting {
    pub fn new(cfg: &Config) -> Voting {
        Voting {
            regions: cfg.regions.clone(),
            intervals: cfg.endpoints.iter().map(|e| (e.id.clone(), e.interval)).collect(),
            objective_ms: cfg.aggregator.latency_objective.as_secs_f64() * 1e3,
        }
    }

    /// A vote that never counts latency (for callers that only want up or down).
    pub fn without_objective(mut self) -> Voting {
        self.objective_ms = f64::MAX;
        self
    }

    /// How old `endpoint`'s state in a region may be and still count (endpoints no longer configured use the
    /// default interval).
    pub fn stale(&self, endpoint: &str) -> Nanos {
        duration_nanos(self.regions.stale_for(self.intervals.get(endpoint).copied().unwrap_or(defaults::INTERVAL)))
    }

    pub fn vote(&self, endpoint: &str, now: Nanos) -> Vote {
        Vote { now, stale: self.stale(endpoint), quorum: self.regions.down_quorum, objective_ms: self.objective_ms }
    }

    /// The health of `endpoint` from its states in every region.
    pub fn health<'a>(&self, endpoint: &str, states: impl IntoIterator<Item = &'a EndpointState>, now: Nanos) -> Option<EndpointHealth> {
        endpoint_health(states, &self.vote(endpoint, now))
    }

    /// Every region and whether it went silent.
    pub fn regions(&self, states: &[EndpointState], now: Nanos) -> Vec<RegionReport> {
        regions(states, &self.regions.expected, now, |e| self.stale(e))
    }
}

/// The health of one endpoint from its latest state in every region that reported it. `None` without any.
pub fn endpoint_health<'a>(states: impl IntoIterator<Item = &'a EndpointState>, vote: &Vote) -> Option<EndpointHealth> {
    let states: Vec<&EndpointState> = states.into_iter().collect();
    let mut counted: Vec<&EndpointState> = states.iter().copied().filter(|s| vote.is_fresh(s)).collect();
    if counted.is_empty() {
        // Every region is silent: vote as of the newest point, with the states that were fresh then. A region
        // already ignored as stale when the last one fell silent stays ignored.
        let last = states.iter().map(|s| s.last_ts).max().unwrap_or(0);
        let then = Vote { now: last, ..*vote };
        counted = states.iter().copied().filter(|s| then.is_fresh(s)).collect();
    }
    let counted = &counted;
    let (regions, mut down, mut slow) = (counted.len(), 0usize, 0usize);
    for s in counted {
        if s.confirmed_down {
            down += 1;
        } else if s.last_ok && s.last_latency_ms > vote.objective_ms {
            slow += 1;
        }
    }
    if regions == 0 {
        return None;
    }
    let majority = regions / 2 + 1;
    let needed = vote.quorum.map_or(majority, |q| q as usize);
    Some(if down >= needed {
        EndpointHealth::Down
    } else if down > 0 || slow >= majority {
        EndpointHealth::Degraded
    } else {
        EndpointHealth::Up
    })
}

/// The status of a component whose endpoints have `health` (`None`: no data yet) and of which
/// `in_maintenance` are inside a maintenance window, given the worst status unresolved incidents declare.
pub fn component_status(health: &[(Option<EndpointHealth>, bool)], declared: Option<ComponentStatus>) -> ComponentStatus {
    let counted: Vec<EndpointHealth> = health.iter().filter(|(_, maint)| !maint).filter_map(|(h, _)| *h).collect();
    let all_in_maintenance = !health.is_empty() && health.iter().all(|(_, maint)| *maint);
    let derived = if all_in_maintenance {
        ComponentStatus::UnderMaintenance
    } else if counted.is_empty() {
        ComponentStatus::Operational
    } else {
        let down = counted.iter().filter(|h| **h == EndpointHealth::Down).count();
        if down == counted.len() {
            ComponentStatus::MajorOutage
        } else if down > 0 {
            ComponentStatus::PartialOutage
        } else if counted.contains(&EndpointHealth::Degraded) {
            ComponentStatus::DegradedPerformance
        } else {
            ComponentStatus::Operational
        }
    };
    match declared {
        Some(d) if d > derived => d,
        _ => derived,
    }
}

/// One region and whether it reports.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionReport {
    pub region: String,
    /// Its newest point of any endpoint; `None` for an expected region never heard from.
    pub last_seen: Option<Nanos>,
    pub silent: bool,
}

/// Every region known (from the states and `regions.expected`), by name, with whether it went silent: none of
/// its endpoints has a fresh state. `stale_of` gives an endpoint's staleness threshold.
pub fn regions(states: &[EndpointState], expected: &[String], now: Nanos, stale_of: impl Fn(&str) -> Nanos) -> Vec<RegionReport> {
    let mut by_region: BTreeMap<&str, (Option<Nanos>, bool)> = expected.iter().map(|r| (r.as_str(), (None, false))).collect();
    for s in states {
        let e = by_region.entry(s.region.as_str()).or_insert((None, false));
        e.0 = Some(e.0.map_or(s.last_ts, |t| t.max(s.last_ts)));
        e.1 |= s.last_ts >= now - stale_of(&s.endpoint);
    }
    by_region
        .into_iter()
        .map(|(region, (last_seen, fresh))| RegionReport { region: region.to_string(), last_seen, silent: !fresh })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndpointHealth::*;

    const NOW: Nanos = 1_000_000_000_000;
    const SEC: Nanos = 1_000_000_000;

    fn state(region: &str, down: bool, latency: f64) -> EndpointState {
        aged(region, down, latency, 0)
    }

    fn aged(region: &str, down: bool, latency: f64, age_s: i64) -> EndpointState {
        EndpointState {
            endpoint: "api".into(),
            region: region.into(),
            component: "c".into(),
            environment: "production".into(),
            confirmed_down: down,
            since: 0,
            last_ts: NOW - age_s * SEC,
            last_ok: !down,
            last_latency_ms: latency,
            last_error: None,
        }
    }

    fn vote(quorum: Option<u32>) -> Vote {
        Vote { now: NOW, stale: 60 * SEC, quorum, objective_ms: 300.0 }
    }

    #[test]
    fn an_endpoint_is_down_in_a_majority_of_regions_and_degraded_in_a_minority() {
        let h = |s: &[EndpointState]| endpoint_health(s, &vote(None));
        assert_eq!(h(&[]), None);
        assert_eq!(h(&[state("eu", false, 20.0)]), Some(Up));
        assert_eq!(h(&[state("eu", true, 0.0)]), Some(Down));
        assert_eq!(h(&[state("eu", true, 0.0), state("us", false, 20.0)]), Some(Degraded), "1 of 2 is no majority");
        assert_eq!(h(&[state("eu", true, 0.0), state("us", true, 0.0), state("ap", false, 1.0)]), Some(Down));
        assert_eq!(h(&[state("eu", false, 900.0)]), Some(Degraded), "the latency objective is broken");
        assert_eq!(h(&[state("eu", false, 900.0), state("us", false, 20.0)]), Some(Up), "slow in a minority only");
    }

    #[test]
    fn a_configured_quorum_replaces_the_majority() {
        let two = [state("eu", true, 0.0), state("us", false, 20.0)];
        assert_eq!(endpoint_health(&two, &vote(Some(1))), Some(Down), "one region is enough");
        let three = [state("eu", true, 0.0), state("us", true, 0.0), state("ap", false, 20.0)];
        assert_eq!(endpoint_health(&three, &vote(Some(3))), Some(Degraded), "all three are needed");
    }

    #[test]
    fn a_silent_region_does_not_vote_unless_every_region_is_silent() {
        // `us` went silent while down: the fresh `eu` decides, so the endpoint is up, not degraded.
        let states = [state("eu", false, 20.0), aged("us", true, 0.0, 120)];
        assert_eq!(endpoint_health(&states, &vote(None)), Some(Up));
        // Every region silent: the last known states stand.
        let states = [aged("eu", true, 0.0, 300), aged("us", true, 0.0, 120)];
        assert_eq!(endpoint_health(&states, &vote(None)), Some(Down));
    }

    /// Issue 17, defect 3: eu's agent died while eu read DOWN (rightly ignored once stale), then us stopped
    /// too: the page, `watchpost status` and the publishers showed `degraded` again from eu's stale state.
    #[test]
    fn regression_a_dead_regions_stale_down_never_votes_again_when_every_region_is_silent() {
        // eu silent for 5 minutes (down), us up until 2 minutes ago: what was shown then was `up`.
        let states = [aged("eu", true, 0.0, 300), aged("us", false, 20.0, 120)];
        assert_eq!(endpoint_health(&states, &vote(None)), Some(Up));
        // eu and us fell silent within a minute of each other, both fresh at us's last point: that vote stands.
        let states = [aged("eu", true, 0.0, 150), aged("us", false, 20.0, 120)];
        assert_eq!(endpoint_health(&states, &vote(None)), Some(Degraded));
        // The order of the states does not matter; one region alone keeps its last state.
        let states = [aged("us", false, 20.0, 120), aged("eu", true, 0.0, 300)];
        assert_eq!(endpoint_health(&states, &vote(None)), Some(Up));
        assert_eq!(endpoint_health(&[aged("eu", true, 0.0, 900)], &vote(None)), Some(Down));
    }

    #[test]
    fn regions_report_silence_and_expected_regions_never_heard_from() {
        let states = [state("eu", false, 20.0), aged("us", false, 20.0, 120)];
        let r = regions(&states, &["ap".into(), "eu".into()], NOW, |_| 60 * SEC);
        assert_eq!(
            r,
            vec![
                RegionReport { region: "ap".into(), last_seen: None, silent: true },
                RegionReport { region: "eu".into(), last_seen: Some(NOW), silent: false },
                RegionReport { region: "us".into(), last_seen: Some(NOW - 120 * SEC), silent: true },
            ]
        );
    }

    #[test]
    fn a_component_follows_its_endpoints_maintenance_and_declared_incidents() {
        use ComponentStatus as S;
        assert_eq!(component_status(&[(Some(Up), false), (Some(Up), false)], None), S::Operational);
        assert_eq!(component_status(&[(Some(Down), false), (Some(Up), false)], None), S::PartialOutage);
        assert_eq!(component_status(&[(Some(Down), false), (Some(Down), false)], None), S::MajorOutage);
        assert_eq!(component_status(&[(Some(Degraded), false), (Some(Up), false)], None), S::DegradedPerformance);
        assert_eq!(component_status(&[(Some(Down), false), (None, false)], None), S::MajorOutage, "no data is not up");
        assert_eq!(component_status(&[(None, false)], None), S::Operational, "nothing known yet");
        assert_eq!(component_status(&[(Some(Down), true), (Some(Up), false)], None), S::Operational, "the down one is in maintenance");
        assert_eq!(component_status(&[(Some(Down), true), (Some(Down), true)], None), S::UnderMaintenance);
        assert_eq!(component_status(&[(Some(Up), false)], Some(S::MajorOutage)), S::MajorOutage, "declared worse wins");
        assert_eq!(component_status(&[(Some(Down), false)], Some(S::DegradedPerformance)), S::MajorOutage, "data worse wins");
    }
}
