//! `[[endpoints]]`: the keys every endpoint has, its timing inherited from `[agent]`; the probe's own keys are
//! checked by its type's file in `config/probe/`.

use super::*;

pub(super) fn endpoint(
    doc: &Document,
    path: &str,
    raw: RawEndpoint,
    probe_keys: serde_json::Map<String, Value>,
    agent: &RawAgent,
    errors: &mut ConfigErrors,
) -> Option<EndpointConfig> {
    let before = errors.len();
    let key = |k: &str| format!("{path}.{k}");
    let id = match raw.id.clone() {
        Some(id) => {
            check_name(doc, &key("id"), &id, errors);
            id
        }
        None => {
            errors.push(doc.error(path, "missing key `id`"));
            String::new()
        }
    };
    let common = probe::Common {
        interval: raw.interval.is_some(),
        timeout: raw.timeout.is_some(),
        retry_interval: raw.retry_interval.map(HumanDuration::as_duration),
    };
    let spec = tagged::<ProbeSpec>(doc, path, probe_keys, Some("http"), Some("endpoint"), errors);
    let kind = spec.as_ref().map_or("http", |(k, _)| k.as_str()).to_string();
    let spec = spec.map(|(_, s)| s);
    let mut table = Table { doc, path, errors };
    let checked = spec.and_then(|s| s.check(&mut table, common));
    let (interval, timeout, retry_interval) = match checked.as_ref().and_then(|c| c.schedule) {
        Some(t) => t,
        // A domain endpoint has its own defaults rather than the agent's (see `defaults::DOMAIN_INTERVAL`).
        None if kind == "domain" => {
            let own = |v: Option<HumanDuration>, default| v.or(Some(HumanDuration(default)));
            let given = (
                own(raw.interval, d::DOMAIN_INTERVAL),
                own(raw.timeout, d::DOMAIN_TIMEOUT),
                own(raw.retry_interval, d::DOMAIN_RETRY_INTERVAL),
            );
            timing(doc, path, given, agent, d::DOMAIN_INTERVAL, errors)
        }
        None => timing(doc, path, (raw.interval, raw.timeout, raw.retry_interval), agent, d::INTERVAL, errors),
    };
    let probe = checked.map(|c| c.probe);
    if let Some(ProbeConfig::Icmp(c)) = &probe {
        if c.count > 1 && c.sending() >= timeout {
            errors.push(doc.error(
                &key("count"),
                format!(
                    "{} requests {} apart take {} ms, not less than the timeout ({} ms): lower count or packet_interval, or raise timeout",
                    c.count,
                    format_duration(c.packet_interval),
                    c.sending().as_millis(),
                    timeout.as_millis()
                ),
            ));
        }
    }
    let failure_threshold = raw.failure_threshold.or(agent.failure_threshold).unwrap_or(d::FAILURE_THRESHOLD);
    let success_threshold = raw.success_threshold.or(agent.success_threshold).unwrap_or(d::SUCCESS_THRESHOLD);
    if failure_threshold == 0 {
        errors.push(doc.error(&inherited(path, raw.failure_threshold.is_some(), "failure_threshold"), "must be at least 1"));
    }
    if success_threshold == 0 {
        errors.push(doc.error(&inherited(path, raw.success_threshold.is_some(), "success_threshold"), "must be at least 1"));
    }
    if let Some(c) = &raw.component {
        check_name(doc, &key("component"), c, errors);
    }
    if let Some(env) = &raw.environment {
        check_name(doc, &key("environment"), env, errors);
    }
    let environment = raw.environment.clone().or_else(|| agent.environment.clone()).unwrap_or_else(|| d::ENVIRONMENT.into());

    let scope = Scope::default();
    let mut assertions = Vec::new();
    for (i, a) in raw.assertions.unwrap_or_default().into_iter().enumerate() {
        let apath = format!("{path}.assert[{i}]");
        if let Some(a) = assertion(doc, &apath, a, &scope, errors) {
            let fits = probe.as_ref().is_none_or(|p| a.applies_to(p));
            if !fits {
                let article = if matches!(kind.as_str(), "http" | "icmp") { "an" } else { "a" };
                errors.push(doc.error(&apath, format!("`{}` does not apply to {article} {kind} endpoint", a.describe())));
            }
            assertions.push(a);
        }
    }
    for (i, text) in raw.conditions.unwrap_or_default().iter().enumerate() {
        let cpath = format!("{path}.conditions[{i}]");
        match crate::config::gatus::condition(text) {
            Ok(Some(a)) if probe.as_ref().is_none_or(|p| a.applies_to(p)) => assertions.push(a),
            Ok(Some(a)) => errors.push(doc.error(&cpath, format!("{text:?} (`{}`) does not apply to a {kind} endpoint", a.describe()))),
            Ok(None) => {}
            Err(e) => errors.push(doc.error(&cpath, e)),
        }
    }
    if matches!(probe, Some(ProbeConfig::Http(_))) && !assertions.iter().any(|a| matches!(a, Assertion::Status(_))) {
        assertions.insert(0, Assertion::Status(StatusMatcher::Class(d::STATUS_CLASS)));
    }
    // A DNS answer counts only with NOERROR unless the endpoint says otherwise (as blackbox_exporter's
    // `valid_rcodes`): an NXDOMAIN is the name gone.
    if matches!(probe, Some(ProbeConfig::Dns(_))) && !assertions.iter().any(|a| matches!(a, Assertion::Rcode(_))) {
        assertions.insert(0, Assertion::Rcode(vec!["NOERROR".into()]));
    }
    if errors.len() > before {
        return None;
    }
    Some(EndpointConfig {
        name: raw.name.unwrap_or_else(|| id.clone()),
        id,
        component: raw.component,
        tags: raw.tags.unwrap_or_default(),
        labels: alert_labels(doc, path, raw.labels, errors),
        depends_on: raw.depends_on.unwrap_or_default(),
        environment,
        interval,
        timeout,
        retry_interval,
        failure_threshold,
        success_threshold,
        probe: probe?,
        assertions,
    })
}

pub(super) fn status_matcher(spec: &StatusSpec) -> Result<StatusMatcher, String> {
    let code = |c: i64| {
        u16::try_from(c).ok().filter(|c| (100..=599).contains(c)).ok_or_else(|| format!("status code {c} is not between 100 and 599"))
    };
    match spec {
        StatusSpec::Exact(c) => Ok(StatusMatcher::Exact(code(*c)?)),
        StatusSpec::OneOf(cs) if cs.is_empty() => Err("the list of status codes is empty".into()),
        StatusSpec::OneOf(cs) => cs.iter().map(|c| code(*c)).collect::<Result<_, _>>().map(StatusMatcher::OneOf),
        StatusSpec::Class(s) => {
            let b = s.as_bytes();
            if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].eq_ignore_ascii_case(b"xx") {
                Ok(StatusMatcher::Class(b[0] - b'0'))
            } else if let Ok(c) = s.parse::<i64>() {
                Ok(StatusMatcher::Exact(code(c)?))
            } else {
                Err(format!("invalid status {s:?}: expected a code (200), a list ([200, 204]) or a class (\"2xx\")"))
            }
        }
    }
}

/// The key the user wrote, or the `[agent]` default it inherited: where an error should point.
pub(super) fn inherited(path: &str, own: bool, key: &str) -> String {
    if own {
        format!("{path}.{key}")
    } else {
        format!("agent.{key}")
    }
}

/// Interval, timeout and retry interval, inherited from `[agent]` where not set, checked for consistency.
pub(super) fn timing(
    doc: &Document,
    path: &str,
    (interval, timeout, retry): (Option<HumanDuration>, Option<HumanDuration>, Option<HumanDuration>),
    agent: &RawAgent,
    default_interval: Duration,
    errors: &mut ConfigErrors,
) -> (Duration, Duration, Duration) {
    let interval_v = dur(interval.or(agent.interval), default_interval);
    let timeout_v = dur(timeout.or(agent.timeout), d::TIMEOUT);
    let retry_v = dur(retry.or(agent.retry_interval), d::RETRY_INTERVAL);
    let src = |own: bool, k: &str| inherited(path, own, k);
    if interval_v.is_zero() {
        errors.push(doc.error(&src(interval.is_some(), "interval"), "must be longer than zero"));
    }
    if timeout_v.is_zero() {
        errors.push(doc.error(&src(timeout.is_some(), "timeout"), "must be longer than zero"));
    } else if !interval_v.is_zero() && timeout_v > interval_v {
        errors.push(doc.error(
            &src(timeout.is_some(), "timeout"),
            format!(
                "timeout ({}) is longer than the interval ({}): probes of one endpoint would overlap",
                format_duration(timeout_v),
                format_duration(interval_v)
            ),
        ));
    }
    if retry_v.is_zero() {
        errors.push(doc.error(&src(retry.is_some(), "retry_interval"), "must be longer than zero"));
    }
    (interval_v, timeout_v, retry_v)
}
