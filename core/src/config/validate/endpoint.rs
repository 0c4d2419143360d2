//! `[[endpoints]]`: one probe each (http, tcp, push), its timing inherited from `[agent]`, and the keys that
//! belong to another probe type refused by name.

use super::*;

pub(super) fn endpoint(
    doc: &Document,
    path: &str,
    raw: RawEndpoint,
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
    let kind = raw.kind.as_deref().unwrap_or("http");
    let push_timing = if kind == "push" { push_timing(doc, path, &raw, errors) } else { None };
    let (interval, timeout, retry_interval) = match push_timing {
        Some(t) => t,
        None => timing(doc, path, (raw.interval, raw.timeout, raw.retry_interval), agent, d::INTERVAL, errors),
    };
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

    let not_for = |k: &str, set: bool, errors: &mut ConfigErrors| {
        if set {
            errors.push(doc.error(&key(k), format!("`{k}` does not apply to a {kind} endpoint")));
        }
    };
    let probe = match kind {
        "http" => {
            not_for("address", raw.address.is_some(), errors);
            not_for("send", raw.send.is_some(), errors);
            not_for("expect", raw.expect.is_some(), errors);
            for (k, set) in push_keys(&raw) {
                not_for(k, set, errors);
            }
            http_probe(
                doc,
                path,
                &raw.url,
                raw.method,
                raw.headers,
                raw.body,
                raw.follow_redirects,
                raw.max_body,
                (raw.tls_skip_verify, raw.tls_resume),
                errors,
            )
        }
        "tcp" => {
            for (k, set) in http_keys(&raw).into_iter().chain(push_keys(&raw)) {
                not_for(k, set, errors);
            }
            tcp_probe(doc, path, raw.address, raw.send, raw.expect, errors)
        }
        "push" => {
            for (k, set) in http_keys(&raw).into_iter().chain([
                ("address", raw.address.is_some()),
                ("send", raw.send.is_some()),
                ("expect", raw.expect.is_some()),
                ("interval", raw.interval.is_some()),
                ("timeout", raw.timeout.is_some()),
            ]) {
                if set {
                    let hint = match k {
                        "interval" => "; use `expect_every`",
                        "timeout" => "; use `grace`",
                        _ => "",
                    };
                    errors.push(doc.error(&key(k), format!("`{k}` does not apply to a push endpoint{hint}")));
                }
            }
            let token = secret_or_file(doc, &key("token"), raw.token, raw.token_file, errors);
            if token.as_ref().is_some_and(|t| t.expose().len() < 16) {
                errors.push(
                    doc.error(&key("token"), "must be at least 16 characters (it is all that stands between the internet and your uptime)"),
                );
            }
            match (token, push_timing) {
                (Some(token), Some((expect_every, timeout, _))) => {
                    Some(ProbeConfig::Push(PushProbeConfig { token, expect_every, grace: timeout.saturating_sub(PUSH_SLACK) }))
                }
                (None, _) => {
                    errors.push(doc.error(path, "missing key `token` or `token_file` (required for a push endpoint)"));
                    None
                }
                _ => None,
            }
        }
        other => {
            errors.push(doc.error(
                &key("type"),
                format!("unknown probe type {other:?}; expected \"http\", \"tcp\" or \"push\" (multi-step checks go in [[checks]])"),
            ));
            None
        }
    };
    let scope = Scope::default();
    let mut assertions = Vec::new();
    for (i, a) in raw.assertions.unwrap_or_default().into_iter().enumerate() {
        let apath = format!("{path}.assert[{i}]");
        if let Some(a) = assertion(doc, &apath, a, &scope, errors) {
            // HTTP takes every kind; TCP the latency and what it received; push only the reported latency.
            let fits = match &probe {
                Some(ProbeConfig::Http(_)) | None => true,
                Some(ProbeConfig::Tcp(_)) => {
                    matches!(a, Assertion::LatencyBelow(_) | Assertion::BodyContains(_) | Assertion::BodyMatches(_))
                }
                Some(_) => matches!(a, Assertion::LatencyBelow(_)),
            };
            if !fits {
                errors.push(doc.error(&apath, format!("`{}` does not apply to a {kind} endpoint", a.describe())));
            }
            assertions.push(a);
        }
    }
    if matches!(probe, Some(ProbeConfig::Http(_))) && !assertions.iter().any(|a| matches!(a, Assertion::Status(_))) {
        assertions.insert(0, Assertion::Status(StatusMatcher::Class(d::STATUS_CLASS)));
    }
    if errors.len() > before {
        return None;
    }
    Some(EndpointConfig {
        name: raw.name.unwrap_or_else(|| id.clone()),
        id,
        component: raw.component,
        tags: raw.tags.unwrap_or_default(),
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

#[allow(clippy::too_many_arguments)]
pub(super) fn http_probe(
    doc: &Document,
    path: &str,
    url: &Option<String>,
    method: Option<String>,
    headers: Option<std::collections::BTreeMap<String, String>>,
    body: Option<String>,
    follow_redirects: Option<u32>,
    max_body: Option<duration::ByteSize>,
    (tls_skip_verify, tls_resume): (Option<bool>, Option<bool>),
    errors: &mut ConfigErrors,
) -> Option<ProbeConfig> {
    let key = |k: &str| format!("{path}.{k}");
    let Some(url_raw) = url else {
        errors.push(doc.error(path, "missing key `url` (required for an http endpoint)"));
        return None;
    };
    let url = match parse_http_url(url_raw) {
        Ok(u) => Some(u),
        Err(e) => {
            errors.push(doc.error(&key("url"), e));
            None
        }
    };
    let method_raw = method.unwrap_or_else(|| d::METHOD.into());
    let method = match http::Method::from_bytes(method_raw.to_ascii_uppercase().as_bytes()) {
        Ok(m) => Some(m),
        Err(_) => {
            errors.push(doc.error(&key("method"), format!("invalid HTTP method {method_raw:?}")));
            None
        }
    };
    let mut header_map = http::HeaderMap::new();
    for (name, value) in headers.unwrap_or_default() {
        let hkey = format!("{path}.headers.{name}");
        match (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(&value)) {
            (Ok(n), Ok(mut v)) => {
                v.set_sensitive(true);
                header_map.append(n, v);
            }
            (Err(_), _) => errors.push(doc.error(&hkey, format!("invalid header name {name:?}"))),
            (_, Err(_)) => errors.push(doc.error(&hkey, "invalid header value (control characters are not allowed)")),
        }
    }
    let max_body = max_body.map(|b| b.0).unwrap_or(d::MAX_BODY);
    if max_body == 0 {
        errors.push(doc.error(&key("max_body"), "must be at least 1 byte"));
    }
    Some(ProbeConfig::Http(HttpProbeConfig {
        url: url?,
        method: method?,
        headers: header_map,
        body,
        follow_redirects: follow_redirects.unwrap_or(d::FOLLOW_REDIRECTS),
        max_body,
        tls_skip_verify: tls_skip_verify.unwrap_or(false),
        tls_resume: tls_resume.unwrap_or(false),
    }))
}

pub(super) fn tcp_probe(
    doc: &Document,
    path: &str,
    address: Option<String>,
    send: Option<String>,
    expect: Option<String>,
    errors: &mut ConfigErrors,
) -> Option<ProbeConfig> {
    let Some(address) = address else {
        errors.push(doc.error(path, "missing key `address` (required for a tcp endpoint, as host:port)"));
        return None;
    };
    let parsed = address.rsplit_once(':').and_then(|(h, p)| {
        let host = h.trim_start_matches('[').trim_end_matches(']');
        let port = p.parse::<u16>().ok().filter(|p| *p > 0)?;
        (!host.is_empty()).then(|| (host.to_string(), port))
    });
    match parsed {
        Some((host, port)) => Some(ProbeConfig::Tcp(TcpProbeConfig { host, port, send, expect })),
        None => {
            errors.push(doc.error(
                &format!("{path}.address"),
                format!("invalid address {address:?}: expected host:port such as \"db.internal:5432\""),
            ));
            None
        }
    }
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

/// How much longer than its grace a push endpoint's attempt may take (the wait itself is `grace`).
pub(super) const PUSH_SLACK: Duration = Duration::from_secs(1);

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

/// A push endpoint's schedule: one check per `expect_every`, waiting up to `grace` for a late report; after a
/// miss the next check comes after `retry_interval` (default: `expect_every`, since reports come on the
/// reporter's schedule, not ours).
pub(super) fn push_timing(
    doc: &Document,
    path: &str,
    raw: &RawEndpoint,
    errors: &mut ConfigErrors,
) -> Option<(Duration, Duration, Duration)> {
    let key = |k: &str| format!("{path}.{k}");
    let Some(every) = raw.expect_every.map(HumanDuration::as_duration) else {
        errors.push(doc.error(path, "missing key `expect_every` (required for a push endpoint: how often a report is due)"));
        return None;
    };
    let grace = dur(raw.grace, d::PUSH_GRACE);
    if every < Duration::from_secs(1) {
        errors.push(doc.error(&key("expect_every"), "must be at least 1s"));
        return None;
    }
    if grace.is_zero() || grace >= every {
        errors
            .push(doc.error(&key("grace"), format!("must be longer than zero and shorter than expect_every ({})", format_duration(every))));
        return None;
    }
    let retry = dur(raw.retry_interval, every);
    Some((every, grace + PUSH_SLACK, retry))
}

pub(super) fn http_keys(raw: &RawEndpoint) -> [(&'static str, bool); 8] {
    [
        ("url", raw.url.is_some()),
        ("method", raw.method.is_some()),
        ("headers", raw.headers.is_some()),
        ("body", raw.body.is_some()),
        ("follow_redirects", raw.follow_redirects.is_some()),
        ("max_body", raw.max_body.is_some()),
        ("tls_skip_verify", raw.tls_skip_verify.is_some()),
        ("tls_resume", raw.tls_resume.is_some()),
    ]
}

pub(super) fn push_keys(raw: &RawEndpoint) -> [(&'static str, bool); 4] {
    [
        ("token", raw.token.is_some()),
        ("token_file", raw.token_file.is_some()),
        ("expect_every", raw.expect_every.is_some()),
        ("grace", raw.grace.is_some()),
    ]
}
