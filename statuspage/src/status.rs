//! The page's overall indicator. A component's status from its endpoints' latest states (DESIGN.md §5.4,
//! §5.7) is `watchpost_core::health`, shared with `watchpost status` and the publishers.

use watchpost_core::model::ComponentStatus;

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
