//! `[regions]`: how several regions vote on an endpoint's state (DESIGN.md §5.4). Shared: the status page,
//! alerting, the publishers and `watchpost status` all decide by it.
//!
//! ```toml
//! [regions]
//! down_quorum = 2            # default: a majority of the regions reporting
//! stale_after = "1m"         # a region silent for longer does not vote (at least 3 probe intervals)
//! expected = ["eu-west", "us-east"]
//! ```

use super::check::{check_name, section};
use super::{defaults as d, ConfigErrors, Document, HumanDuration};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegions {
    /// Regions that must see an endpoint confirmed down for it to be down (default: a majority of those
    /// reporting); down in fewer is `degraded`.
    pub down_quorum: Option<u32>,
    /// A region whose newest point is older than this (and than three probe intervals) is silent: it is
    /// reported, and does not vote (default 1m).
    pub stale_after: Option<HumanDuration>,
    /// Regions that should report; one never heard from is reported silent too.
    pub expected: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegionsConfig {
    pub down_quorum: Option<u32>,
    pub stale_after: Duration,
    pub expected: Vec<String>,
}

impl Default for RegionsConfig {
    fn default() -> Self {
        RegionsConfig { down_quorum: None, stale_after: d::REGION_STALE_AFTER, expected: vec![] }
    }
}

impl RegionsConfig {
    /// How old an endpoint's latest state in a region may be and still count: `stale_after`, and never less
    /// than three of its probe intervals (an endpoint probed every 5 minutes is not silent after one).
    pub fn stale_for(&self, interval: Duration) -> Duration {
        self.stale_after.max(interval * 3)
    }
}

pub(super) fn regions(doc: &Document, value: Option<&Value>, errors: &mut ConfigErrors) -> RegionsConfig {
    let raw: RawRegions = value.and_then(|v| section(doc, "regions", v, errors)).unwrap_or_default();
    let expected = raw.expected.unwrap_or_default();
    for (i, r) in expected.iter().enumerate() {
        check_name(doc, &format!("regions.expected[{i}]"), r, errors);
    }
    if raw.down_quorum == Some(0) {
        errors.push(doc.error("regions.down_quorum", "must be at least 1 (leave it out for a majority)"));
    }
    let stale_after = raw.stale_after.map_or(d::REGION_STALE_AFTER, HumanDuration::as_duration);
    if stale_after < Duration::from_secs(1) {
        errors.push(doc.error("regions.stale_after", "is below 1s"));
    }
    RegionsConfig { down_quorum: raw.down_quorum.filter(|q| *q > 0), stale_after, expected }
}
