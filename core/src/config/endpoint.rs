//! Endpoints as validated: the probe each uses and its assertions, with every default resolved.

use super::assertions::Assertion;
use super::probe::ProbeConfig;
use std::collections::BTreeMap;
use std::time::Duration;

/// One endpoint to probe, with every default resolved.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub id: String,
    pub name: String,
    pub component: Option<String>,
    /// Labels for alert rules' selectors.
    pub tags: Vec<String>,
    /// Labels its alerts carry (beside the ones Watchpost sets: rule, endpoint, component, environment,
    /// severity, region).
    pub labels: BTreeMap<String, String>,
    /// Endpoint, check or component ids whose alerts hold this one's back.
    pub depends_on: Vec<String>,
    pub environment: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub retry_interval: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub probe: ProbeConfig,
    pub assertions: Vec<Assertion>,
}
