//! `[sla.NAME]`: partners' SLA report definitions.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use watchpost_core::config::check::{check_name, section};
use watchpost_core::config::{Config, ConfigErrors, Document, EndpointConfig, HumanDuration};

/// `[sla.NAME]`: the SLA report for one partner (DESIGN.md §5.6), read by `watchpost report --sla NAME`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSla {
    /// The partner's name on the report (default: NAME).
    pub title: Option<String>,
    /// The components the report covers, one section each.
    pub components: Vec<String>,
    /// The environments it covers (default: every environment the components run in).
    pub environments: Option<Vec<String>>,
    /// Availability target in percent (`99.9`); more than 0, at most 100.
    pub target: f64,
    /// Latency objective: the report gives the share of probes faster than this (default
    /// `aggregator.latency_objective`).
    pub latency_objective: Option<HumanDuration>,
    /// IANA time zone in which report periods (months, quarters, dates) begin and end (default `UTC`).
    pub timezone: Option<String>,
}

/// One partner's SLA report definition.
#[derive(Debug, Clone)]
pub struct SlaConfig {
    pub name: String,
    pub title: String,
    pub components: Vec<String>,
    /// Empty: every environment the components run in.
    pub environments: Vec<String>,
    /// Percent.
    pub target: f64,
    pub latency_objective: Duration,
    pub tz: jiff::tz::TimeZone,
    pub tz_name: String,
}

pub(super) fn reports(doc: &Document, value: Option<&Value>, shared: &Config, errors: &mut ConfigErrors) -> BTreeMap<String, SlaConfig> {
    let raw: BTreeMap<String, Value> = value.and_then(|v| section(doc, "sla", v, errors)).unwrap_or_default();
    let mut out = BTreeMap::new();
    for (name, v) in raw {
        let path = format!("sla.{name}");
        if let Some(s) =
            section::<RawSla>(doc, &path, &v, errors).and_then(|raw| sla_report(doc, &path, &name, raw, &shared.endpoints, shared, errors))
        {
            out.insert(name, s);
        }
    }
    out
}

fn sla_report(
    doc: &Document,
    path: &str,
    name: &str,
    raw: RawSla,
    endpoints: &[EndpointConfig],
    shared: &Config,
    errors: &mut ConfigErrors,
) -> Option<SlaConfig> {
    let before = errors.len();
    check_name(doc, path, name, errors);
    if raw.components.is_empty() {
        errors.push(doc.error(&format!("{path}.components"), "is empty: name the components the report covers"));
    }
    let known: BTreeSet<&str> = endpoints.iter().filter_map(|e| e.component.as_deref()).collect();
    for (i, c) in raw.components.iter().enumerate() {
        if !known.contains(c.as_str()) {
            let list = if known.is_empty() {
                "(none: give endpoints a `component`)".to_string()
            } else {
                known.iter().copied().collect::<Vec<_>>().join(", ")
            };
            errors.push(
                doc.error(
                    &format!("{path}.components[{i}]"),
                    format!("no endpoint or check belongs to component `{c}`; components: {list}"),
                ),
            );
        }
    }
    let environments = raw.environments.unwrap_or_default();
    let envs: BTreeSet<&str> = endpoints
        .iter()
        .filter(|e| e.component.as_ref().is_some_and(|c| raw.components.contains(c)))
        .map(|e| e.environment.as_str())
        .collect();
    for (i, env) in environments.iter().enumerate() {
        if !envs.contains(env.as_str()) {
            let list = envs.iter().copied().collect::<Vec<_>>().join(", ");
            errors.push(doc.error(
                &format!("{path}.environments[{i}]"),
                format!("the components do not run in environment `{env}`; they run in: {list}"),
            ));
        }
    }
    if !(raw.target > 0.0 && raw.target <= 100.0) {
        errors.push(
            doc.error(&format!("{path}.target"), format!("{} is not a percentage: use more than 0 and at most 100, like 99.9", raw.target)),
        );
    }
    let latency_objective = raw.latency_objective.map_or(shared.aggregator.latency_objective, HumanDuration::as_duration);
    if latency_objective.is_zero() {
        errors.push(doc.error(&format!("{path}.latency_objective"), "must be longer than zero"));
    }
    let tz_name = raw.timezone.unwrap_or_else(|| "UTC".into());
    let tz =
        jiff::tz::TimeZone::get(&tz_name)
            .map_err(|_| {
                errors.push(doc.error(
                    &format!("{path}.timezone"),
                    format!("unknown time zone {tz_name:?}: use an IANA name such as \"Europe/Berlin\""),
                ))
            })
            .ok();
    if errors.len() > before {
        return None;
    }
    Some(SlaConfig {
        name: name.to_string(),
        title: raw.title.unwrap_or_else(|| name.to_string()),
        components: raw.components,
        environments,
        target: raw.target,
        latency_objective,
        tz: tz?,
        tz_name,
    })
}
