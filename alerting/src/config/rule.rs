//! `[[alerting.rules]]`: what a rule watches (its selector), the condition it tests, and how it is shown.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use watchpost_core::config::check::{check_name, section};
use watchpost_core::config::{format_duration, parse_duration, ConfigErrors, Document, EndpointConfig, HumanDuration, ProbeConfig};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Unique; part of the alert's identity (`dedup_key`, `alias`).
    pub name: String,
    /// `METRIC OP THRESHOLD`: `availability < 100`, `latency_p95 > 300ms`, `check_failed > 0`,
    /// `cert_days_left < 14`.
    pub when: String,
    /// Aggregate over this much time (`5m`); without it the latest confirmed point decides.
    pub window: Option<HumanDuration>,
    /// The condition must hold this long before the alert fires (default 0: confirmation already took
    /// three misses).
    #[serde(rename = "for")]
    pub for_: Option<HumanDuration>,
    /// The checks must pass this long before a firing alert resolves (default 0): an endpoint that flaps
    /// pages once per outage, not once per flap.
    pub resolve_for: Option<HumanDuration>,
    /// `critical` (default), `error`, `warning` or `info`.
    pub severity: Option<String>,
    /// The escalation policy its alerts page, each alert on its own. Without it they go through the routes
    /// (`[alerting.route]`), or, when there are none, to the only policy if there is exactly one.
    pub policy: Option<String>,
    /// Endpoint ids, `*` wildcards allowed. Every selector given must match (empty: any).
    pub endpoints: Option<Vec<String>>,
    /// Multi-step check ids.
    pub checks: Option<Vec<String>>,
    pub components: Option<Vec<String>>,
    pub environments: Option<Vec<String>>,
    /// Endpoints carrying any of these tags.
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Percent of slots up, 0 to 100.
    Availability,
    LatencyMean,
    LatencyP95,
    LatencyP99,
    /// Confirmed failed runs (or probes) in the window; the latest point: 1 or 0.
    CheckFailed,
    CertDaysLeft,
    /// Regions whose agents report the endpoint (a fresh point, DESIGN.md §5.4): `regions_reporting < 2`
    /// pages when a region goes silent.
    RegionsReporting,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Availability,
        Metric::LatencyMean,
        Metric::LatencyP95,
        Metric::LatencyP99,
        Metric::CheckFailed,
        Metric::CertDaysLeft,
        Metric::RegionsReporting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Availability => "availability",
            Metric::LatencyMean => "latency_mean",
            Metric::LatencyP95 => "latency_p95",
            Metric::LatencyP99 => "latency_p99",
            Metric::CheckFailed => "check_failed",
            Metric::CertDaysLeft => "cert_days_left",
            Metric::RegionsReporting => "regions_reporting",
        }
    }

    pub fn is_latency(self) -> bool {
        matches!(self, Metric::LatencyMean | Metric::LatencyP95 | Metric::LatencyP99)
    }

    /// The unit thresholds and values are shown in.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Availability => " %",
            Metric::LatencyMean | Metric::LatencyP95 | Metric::LatencyP99 => " ms",
            Metric::CheckFailed => "",
            Metric::CertDaysLeft => " days",
            Metric::RegionsReporting => " regions",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Cmp::Lt => value < threshold,
            Cmp::Le => value <= threshold,
            Cmp::Gt => value > threshold,
            Cmp::Ge => value >= threshold,
        }
    }
}

/// PagerDuty's four severities; OpsGenie priorities map from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Critical, Severity::Error, Severity::Warning, Severity::Info].into_iter().find(|v| v.as_str() == s)
    }
}

/// Which endpoints a rule watches; every non-empty list must match.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub endpoints: Vec<String>,
    pub checks: Vec<String>,
    pub components: Vec<String>,
    pub environments: Vec<String>,
    pub tags: Vec<String>,
}

/// `*` matches any run of characters; nothing else is special.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl Selector {
    pub fn matches(&self, e: &EndpointConfig) -> bool {
        let is_check = matches!(e.probe, ProbeConfig::Steps(_));
        let id_ok = match (self.endpoints.is_empty(), self.checks.is_empty()) {
            (true, true) => true,
            _ => {
                (!is_check && self.endpoints.iter().any(|p| glob_match(p, &e.id)))
                    || (is_check && self.checks.iter().any(|p| glob_match(p, &e.id)))
            }
        };
        id_ok
            && (self.components.is_empty() || e.component.as_ref().is_some_and(|c| self.components.contains(c)))
            && (self.environments.is_empty() || self.environments.contains(&e.environment))
            && (self.tags.is_empty() || e.tags.iter().any(|t| self.tags.contains(t)))
    }
}

#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub name: String,
    pub metric: Metric,
    pub cmp: Cmp,
    /// In the metric's unit (milliseconds for latency).
    pub threshold: f64,
    pub window: Option<Duration>,
    pub for_: Duration,
    pub resolve_for: Duration,
    pub severity: Severity,
    /// The policy it pages directly; `None`: its alerts go through the routes.
    pub policy: Option<String>,
    pub selector: Selector,
}

impl RuleConfig {
    /// `latency_p95 > 300 ms over 5m`.
    pub fn describe(&self) -> String {
        let over = self.window.map(|w| format!(" over {}", format_duration(w))).unwrap_or_default();
        format!("{} {} {}{}{over}", self.metric.as_str(), self.cmp.as_str(), self.threshold, self.metric.unit())
    }
}

/// Why a rule's `when` is not a condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("{0:?}: expected `METRIC OP THRESHOLD`, e.g. \"availability < 100\" or \"latency_p95 > 300ms\"")]
    Shape(String),
    #[error("`{0}` is not a metric; expected one of {names}", names = Metric::ALL.map(|m| m.as_str()).join(", "))]
    UnknownMetric(String),
    #[error("`{0}` is not a comparison; expected <, <=, > or >=")]
    UnknownComparison(String),
    #[error("threshold {0:?} is not a number")]
    NotANumber(String),
    #[error("threshold {0:?}: {1}")]
    BadDuration(String, String),
}

/// `availability < 100`, `latency_mean > 300ms`: the metric, the comparison and the threshold in the metric's
/// unit.
pub fn parse_condition(s: &str) -> Result<(Metric, Cmp, f64), ConditionError> {
    let mut parts = s.split_whitespace();
    let (Some(m), Some(op), Some(t), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(ConditionError::Shape(s.to_string()));
    };
    let metric = Metric::ALL.into_iter().find(|x| x.as_str() == m).ok_or_else(|| ConditionError::UnknownMetric(m.to_string()))?;
    let cmp = match op {
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        ">" => Cmp::Gt,
        ">=" => Cmp::Ge,
        _ => return Err(ConditionError::UnknownComparison(op.to_string())),
    };
    let threshold = if metric.is_latency() {
        match t.parse::<f64>() {
            Ok(ms) => ms,
            Err(_) => parse_duration(t).map(|d| d.as_secs_f64() * 1000.0).map_err(|e| ConditionError::BadDuration(t.to_string(), e))?,
        }
    } else {
        t.trim_end_matches('%').parse::<f64>().map_err(|_| ConditionError::NotANumber(t.to_string()))?
    };
    if !threshold.is_finite() {
        return Err(ConditionError::NotANumber(t.to_string()));
    }
    Ok((metric, cmp, threshold))
}

/// The rules of `[[alerting.rules]]`, each checked against the names of the policies and the endpoints it
/// selects.
pub(super) fn rules(
    doc: &Document,
    raw: Vec<Value>,
    policies: &BTreeSet<&str>,
    routed: bool,
    endpoints: &[EndpointConfig],
    errors: &mut ConfigErrors,
) -> Vec<RuleConfig> {
    let dur = |v: Option<HumanDuration>, default: Duration| v.map(HumanDuration::as_duration).unwrap_or(default);
    let mut rules = Vec::new();
    let mut names = BTreeSet::new();
    for (i, v) in raw.iter().enumerate() {
        let path = format!("alerting.rules[{i}]");
        let Some(r) = section::<RawRule>(doc, &path, v, errors) else { continue };
        check_name(doc, &format!("{path}.name"), &r.name, errors);
        if !names.insert(r.name.clone()) {
            errors.push(doc.error(&format!("{path}.name"), format!("`{}` is the name of an earlier rule", r.name)));
        }
        let (metric, cmp, threshold) = match parse_condition(&r.when) {
            Ok(c) => c,
            Err(e) => {
                errors.push(doc.error(&format!("{path}.when"), e.to_string()));
                continue;
            }
        };
        let severity = match r.severity.as_deref() {
            None => Severity::Critical,
            Some(s) => Severity::parse(s).unwrap_or_else(|| {
                errors.push(doc.error(&format!("{path}.severity"), format!("`{s}` is not one of critical, error, warning, info")));
                Severity::Critical
            }),
        };
        let policy = match r.policy {
            Some(p) => {
                if !policies.contains(p.as_str()) {
                    errors.push(doc.error(&format!("{path}.policy"), format!("no policy `{p}` in [alerting.policies]")));
                }
                Some(p)
            }
            None if routed => None,
            None if policies.len() == 1 => policies.iter().next().map(|p| p.to_string()),
            None => {
                errors.push(
                    doc.error(&format!("{path}.policy"), "missing: name one of [alerting.policies], or route alerts with [alerting.route]"),
                );
                None
            }
        };
        let window = r.window.map(HumanDuration::as_duration);
        if window.is_some_and(|w| w.is_zero()) {
            errors.push(doc.error(&format!("{path}.window"), "is zero; leave it out to use the latest point"));
        }
        let selector = Selector {
            endpoints: r.endpoints.unwrap_or_default(),
            checks: r.checks.unwrap_or_default(),
            components: r.components.unwrap_or_default(),
            environments: r.environments.unwrap_or_default(),
            tags: r.tags.unwrap_or_default(),
        };
        if !endpoints.iter().any(|e| selector.matches(e)) {
            errors.push(doc.error(&path, "selects no endpoint or check of this file"));
        }
        rules.push(RuleConfig {
            name: r.name,
            metric,
            cmp,
            threshold,
            window,
            for_: dur(r.for_, Duration::ZERO),
            resolve_for: dur(r.resolve_for, Duration::ZERO),
            severity,
            policy,
            selector,
        });
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_with_units() {
        assert_eq!(parse_condition("availability < 100").unwrap(), (Metric::Availability, Cmp::Lt, 100.0));
        assert_eq!(parse_condition("latency_mean > 300ms").unwrap(), (Metric::LatencyMean, Cmp::Gt, 300.0));
        assert_eq!(parse_condition("latency_p99 >= 2s").unwrap(), (Metric::LatencyP99, Cmp::Ge, 2000.0));
        assert_eq!(parse_condition("cert_days_left < 14").unwrap(), (Metric::CertDaysLeft, Cmp::Lt, 14.0));
        assert_eq!(parse_condition("uptime < 1"), Err(ConditionError::UnknownMetric("uptime".into())));
        assert!(parse_condition("uptime < 1").unwrap_err().to_string().contains("expected one of availability"));
        assert_eq!(parse_condition("availability == 1"), Err(ConditionError::UnknownComparison("==".into())));
        assert_eq!(parse_condition("availability <"), Err(ConditionError::Shape("availability <".into())));
        assert_eq!(parse_condition("availability < many"), Err(ConditionError::NotANumber("many".into())));
    }

    #[test]
    fn globs() {
        assert!(glob_match("api-*", "api-eu"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("a*c*e", "abde"));
        assert!(!glob_match("api", "api-eu"));
        assert!(glob_match("*-eu", "api-eu"));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
