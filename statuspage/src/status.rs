//! A component's status from its endpoints' latest states (DESIGN.md §5.7), as a pure function so the
//! rules are tested without a store.
//!
//! - An endpoint is **down** when it is confirmed down in a majority of the regions that report it
//!   (§5.4's default quorum), **degraded** when down in fewer, or when its latest latency breaks the
//!   latency objective in a majority of regions.
//! - A component is `major_outage` when every endpoint that counts is down, `partial_outage` when some
//!   are, `degraded_performance` when one is degraded, `under_maintenance` when a window covers all of its
//!   endpoints (endpoints inside a window do not count otherwise), else `operational`.
//! - An unresolved incident may declare a worse status for a component than the data shows; the worse one
//!   is displayed (an operator who says "major outage" is believed; data that says so is too).

use watchpost_core::model::{ComponentStatus, EndpointState};

/// What the status of one endpoint is, across regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EndpointHealth {
    Up,
    Degraded,
    Down,
}

/// The health of one endpoint from its latest state in every region that reported it. `None` without any.
pub fn endpoint_health<'a>(states: impl IntoIterator<Item = &'a EndpointState>, objective_ms: f64) -> Option<EndpointHealth> {
    let (mut regions, mut down, mut slow) = (0usize, 0usize, 0usize);
    for s in states {
        regions += 1;
        if s.confirmed_down {
            down += 1;
        } else if s.last_ok && s.last_latency_ms > objective_ms {
            slow += 1;
        }
    }
    if regions == 0 {
        return None;
    }
    let majority = regions / 2 + 1;
    Some(if down >= majority {
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

/// The page's overall indicator and sentence, as Statuspage's `status` object has them.
pub fn overall(statuses: &[ComponentStatus], unresolved_impact: Option<watchpost_core::state::Impact>) -> (&'static str, &'static str) {
    use watchpost_core::state::Impact;
    let worst = ComponentStatus::worst(statuses.iter().copied());
    let by_status = match worst {
        ComponentStatus::MajorOutage if statuses.iter().all(|s| *s == ComponentStatus::MajorOutage) => ("critical", "Major System Outage"),
        ComponentStatus::MajorOutage => ("major", "Partial System Outage"),
        ComponentStatus::PartialOutage => ("major", "Partial System Outage"),
        ComponentStatus::DegradedPerformance => ("minor", "Minor Service Outage"),
        ComponentStatus::UnderMaintenance => ("maintenance", "Service Under Maintenance"),
        ComponentStatus::Operational => ("none", "All Systems Operational"),
    };
    // An open incident without a component status still tells visitors something is wrong.
    match (by_status.0, unresolved_impact) {
        ("none" | "maintenance", Some(Impact::Critical)) => ("critical", "Major System Outage"),
        ("none" | "maintenance", Some(Impact::Major)) => ("major", "Partial System Outage"),
        ("none" | "maintenance", Some(Impact::Minor)) => ("minor", "Minor Service Outage"),
        _ => by_status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndpointHealth::*;

    fn state(region: &str, down: bool, latency: f64) -> EndpointState {
        EndpointState {
            endpoint: "api".into(),
            region: region.into(),
            component: "c".into(),
            environment: "production".into(),
            confirmed_down: down,
            since: 0,
            last_ts: 0,
            last_ok: !down,
            last_latency_ms: latency,
            last_error: None,
        }
    }

    #[test]
    fn an_endpoint_is_down_in_a_majority_of_regions_and_degraded_in_a_minority() {
        let h = |s: &[EndpointState]| endpoint_health(s, 300.0);
        assert_eq!(h(&[]), None);
        assert_eq!(h(&[state("eu", false, 20.0)]), Some(Up));
        assert_eq!(h(&[state("eu", true, 0.0)]), Some(Down));
        assert_eq!(h(&[state("eu", true, 0.0), state("us", false, 20.0)]), Some(Degraded), "1 of 2 is no majority");
        assert_eq!(h(&[state("eu", true, 0.0), state("us", true, 0.0), state("ap", false, 1.0)]), Some(Down));
        assert_eq!(h(&[state("eu", false, 900.0)]), Some(Degraded), "the latency objective is broken");
        assert_eq!(h(&[state("eu", false, 900.0), state("us", false, 20.0)]), Some(Up), "slow in a minority only");
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

    #[test]
    fn the_overall_indicator_is_statuspages() {
        use watchpost_core::state::Impact;
        use ComponentStatus as S;
        assert_eq!(overall(&[S::Operational, S::Operational], None), ("none", "All Systems Operational"));
        assert_eq!(overall(&[S::MajorOutage, S::MajorOutage], None).0, "critical");
        assert_eq!(overall(&[S::MajorOutage, S::Operational], None).0, "major");
        assert_eq!(overall(&[S::DegradedPerformance, S::Operational], None).0, "minor");
        assert_eq!(overall(&[S::UnderMaintenance, S::Operational], None), ("maintenance", "Service Under Maintenance"));
        assert_eq!(overall(&[S::Operational], Some(Impact::Minor)).0, "minor", "an open incident shows");
        assert_eq!(overall(&[], None).0, "none");
    }
}
