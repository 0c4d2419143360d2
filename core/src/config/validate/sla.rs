//! `[sla.NAME]`: partners' SLA report definitions.

use super::*;

pub(super) fn sla_report(
    doc: &Document,
    path: &str,
    name: &str,
    raw: RawSla,
    endpoints: &[EndpointConfig],
    aggregator: &AggregatorConfig,
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
    let latency_objective = dur(raw.latency_objective, aggregator.latency_objective);
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
