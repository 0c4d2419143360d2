//! `[[checks]]`: multi-step API checks, validated once and expanded into one run per environment.

use super::*;

/// What every check inherits.
pub(super) struct Globals<'a> {
    pub(super) agent: &'a RawAgent,
    pub(super) vars: &'a BTreeMap<String, String>,
    pub(super) environments: &'a BTreeMap<String, BTreeMap<String, String>>,
}

/// A `[[checks]]` entry, validated once and expanded into one run per environment.
pub(super) fn check(doc: &Document, path: &str, raw: RawCheck, g: &Globals, errors: &mut ConfigErrors) -> Vec<EndpointConfig> {
    let before = errors.len();
    let key = |k: &str| format!("{path}.{k}");
    let id = match &raw.id {
        Some(id) => {
            check_name(doc, &key("id"), id, errors);
            id.clone()
        }
        None => {
            errors.push(doc.error(path, "missing key `id`"));
            String::new()
        }
    };
    let (interval, timeout, retry_interval) =
        timing(doc, path, (raw.interval, raw.timeout, raw.retry_interval), g.agent, d::CHECK_INTERVAL, errors);
    let failure_threshold = raw.failure_threshold.or(g.agent.failure_threshold).unwrap_or(d::FAILURE_THRESHOLD);
    let success_threshold = raw.success_threshold.or(g.agent.success_threshold).unwrap_or(d::SUCCESS_THRESHOLD);
    for (k, v) in [("failure_threshold", failure_threshold), ("success_threshold", success_threshold)] {
        if v == 0 {
            errors.push(doc.error(&key(k), "must be at least 1"));
        }
    }
    if let Some(c) = &raw.component {
        check_name(doc, &key("component"), c, errors);
    }
    let mut vars = g.vars.clone();
    for (k, v) in raw.vars.clone().unwrap_or_default() {
        check_var_name(doc, &format!("{path}.vars.{k}"), &k, errors);
        vars.insert(k, v);
    }
    // The environments to run in, and the variable names every one of them defines.
    let envs: Vec<(String, BTreeMap<String, String>)> = match &raw.environments {
        None => vec![],
        Some(list) if list.is_empty() => {
            errors.push(doc.error(&key("environments"), "is empty; leave it out to run once without environment variables"));
            vec![]
        }
        Some(list) => list
            .iter()
            .enumerate()
            .filter_map(|(i, name)| match g.environments.get(name) {
                Some(v) => Some((name.clone(), v.clone())),
                None => {
                    let known: Vec<&str> = g.environments.keys().map(String::as_str).collect();
                    errors.push(doc.error(
                        &format!("{path}.environments[{i}]"),
                        format!(
                            "unknown environment `{name}`; defined: {}",
                            if known.is_empty() { "(none: add [environments.NAME])".into() } else { known.join(", ") }
                        ),
                    ));
                    None
                }
            })
            .collect(),
    };
    let env_names: Option<BTreeSet<String>> = (!envs.is_empty()).then(|| {
        let mut common: BTreeSet<String> = envs[0].1.keys().cloned().collect();
        for (_, v) in &envs[1..] {
            common.retain(|k| v.contains_key(k));
        }
        common
    });
    let mut scope = Scope { env: env_names, vars: vars.keys().cloned().collect(), steps: vec![], request: false };

    let raw_steps = raw.steps.unwrap_or_default();
    // Judged on the steps as written: a step with an error of its own is left out of `steps`, and the rest
    // being `finally` is then a consequence, not a second mistake.
    let all_finally = !raw_steps.is_empty() && raw_steps.iter().all(|s| s.finally.unwrap_or(false));
    if raw_steps.is_empty() {
        errors.push(doc.error(path, "a check needs at least one step ([[checks.steps]])"));
    }
    let mut steps = Vec::new();
    for (i, rs) in raw_steps.into_iter().enumerate() {
        let spath = format!("{path}.steps[{i}]");
        // Later steps may use this step's name and what it extracts even if it has an error of its own: one
        // mistake is reported once, not again at every reference.
        let name = rs.name.clone().unwrap_or_default();
        let extracted: Vec<String> = rs.extract.iter().flat_map(|m| m.keys().cloned()).collect();
        if let Some(st) = step(doc, &spath, rs, timeout, interval, &scope, errors) {
            steps.push(st);
        }
        scope.steps.push(name);
        scope.vars.extend(extracted);
    }
    if all_finally {
        errors.push(doc.error(path, "every step is `finally`: a check needs at least one step that can fail it"));
    }
    if errors.len() > before {
        return vec![];
    }
    let base = StepsProbeConfig {
        env: BTreeMap::new(),
        vars,
        steps,
        follow_redirects: raw.follow_redirects.unwrap_or(d::FOLLOW_REDIRECTS),
        max_body: raw.max_body.map_or(d::MAX_BODY, |b| b.0),
        tls_skip_verify: raw.tls_skip_verify.unwrap_or(false),
        tls_resume: raw.tls_resume.unwrap_or(false),
    };
    let labels = alert_labels(doc, path, raw.labels.clone(), errors);
    let runs: Vec<(String, BTreeMap<String, String>)> =
        if envs.is_empty() { vec![(g.agent.environment.clone().unwrap_or_else(|| d::ENVIRONMENT.into()), BTreeMap::new())] } else { envs };
    runs.into_iter()
        .map(|(environment, env)| EndpointConfig {
            id: id.clone(),
            name: raw.name.clone().unwrap_or_else(|| id.clone()),
            component: raw.component.clone(),
            tags: raw.tags.clone().unwrap_or_default(),
            labels: labels.clone(),
            depends_on: raw.depends_on.clone().unwrap_or_default(),
            environment,
            interval,
            timeout: total_timeout(&base.steps),
            retry_interval,
            failure_threshold,
            success_threshold,
            probe: ProbeConfig::Steps(Box::new(StepsProbeConfig { env, ..base.clone() })),
            assertions: vec![],
        })
        .collect()
}

/// The whole run's limit: every step's own limit, plus a second for the bookkeeping between steps. The steps
/// enforce their limits themselves, so `finally` steps still run when an earlier step times out.
pub(super) fn total_timeout(steps: &[StepConfig]) -> Duration {
    steps.iter().map(|s| longest_step(s.pause, s.timeout, s.retries, s.retry_delay)).sum::<Duration>() + Duration::from_secs(1)
}

pub(super) fn step(
    doc: &Document,
    path: &str,
    mut raw: RawStep,
    default_timeout: Duration,
    interval: Duration,
    scope: &Scope,
    errors: &mut ConfigErrors,
) -> Option<StepConfig> {
    let before = errors.len();
    let key = |k: &str| format!("{path}.{k}");
    let name = raw.name.unwrap_or_default();
    if name.is_empty() {
        errors.push(doc.error(path, "missing key `name` (later steps refer to a step by its name)"));
    } else if scope.steps.contains(&name) {
        errors.push(doc.error(&key("name"), format!("duplicate step name `{name}`")));
    } else {
        check_var_name(doc, &key("name"), &name, errors);
    }
    let oauth2 = raw.oauth2.take();
    if oauth2.is_some() {
        for (k, set) in [
            ("method", raw.method.is_some()),
            ("url", raw.url.is_some()),
            ("body", raw.body.is_some()),
            ("json", raw.json.is_some()),
            ("form", raw.form.is_some()),
        ] {
            if set {
                errors.push(doc.error(&key(k), format!("an `oauth2` step makes its own request: remove `{k}`")));
            }
        }
    }
    let method_raw = raw.method.take().unwrap_or_else(|| if oauth2.is_some() { "POST".into() } else { d::METHOD.into() });
    let method = http::Method::from_bytes(method_raw.to_ascii_uppercase().as_bytes()).ok().or_else(|| {
        errors.push(doc.error(&key("method"), format!("invalid HTTP method {method_raw:?}")));
        None
    });
    let oauth2_given = oauth2.is_some();
    let token = oauth2.and_then(|o| oauth2_request(doc, &key("oauth2"), o, scope, errors));
    if let Some(t) = &token {
        raw.url = Some(t.url.clone());
    }
    let url = match raw.url {
        Some(u) => {
            let t = template(doc, &key("url"), &u, scope, errors);
            // A URL whose scheme and host are fixed text can be checked now; a templated one when it runs.
            if !(u.starts_with("{{") || u.starts_with("http://") || u.starts_with("https://")) {
                errors.push(doc.error(
                    &key("url"),
                    format!("invalid URL {u:?}: expected http:// or https:// (or a template such as \"{{{{env.base}}}}/path\")"),
                ));
            }
            Some(t)
        }
        // An incomplete `oauth2` table has its own error.
        None => {
            if !oauth2_given {
                errors.push(doc.error(path, "missing key `url`"));
            }
            None
        }
    };
    let templates = |what: &str, map: Option<BTreeMap<String, String>>, errors: &mut ConfigErrors| -> Vec<(String, Template)> {
        map.unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let t = template(doc, &format!("{path}.{what}.{k}"), &v, scope, errors);
                (k, t)
            })
            .collect()
    };
    let query = templates("query", raw.query, errors);
    let mut headers = Vec::new();
    // Headers are rendered last, so they may sign the request (`{{hmac_sha256(vars.key, request.body)}}`).
    let mut request_scope = scope.clone();
    request_scope.request = true;
    let header_templates: Vec<(String, Template)> = raw
        .headers
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let t = template(doc, &format!("{path}.headers.{k}"), &v, &request_scope, errors);
            (k, t)
        })
        .collect();
    for (k, t) in header_templates {
        match http::HeaderName::from_bytes(k.as_bytes()) {
            Ok(n) => headers.push((n, t)),
            Err(_) => errors.push(doc.error(&format!("{path}.headers.{k}"), format!("invalid header name {k:?}"))),
        }
    }
    let bodies = [("body", raw.body.is_some()), ("json", raw.json.is_some()), ("form", raw.form.is_some())];
    let set: Vec<&str> = bodies.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect();
    if set.len() > 1 {
        errors.push(doc.error(path, format!("a step has one body: choose one of {}", set.join(", "))));
    }
    let body = if let Some(b) = raw.body {
        StepBody::Raw(template(doc, &key("body"), &b, scope, errors))
    } else if let Some(j) = raw.json {
        StepBody::Json(json_template(doc, &key("json"), j, scope, errors))
    } else if raw.form.is_some() {
        StepBody::Form(templates("form", raw.form, errors))
    } else if let Some(t) = &token {
        StepBody::Form(t.form.clone())
    } else {
        StepBody::None
    };
    let timeout = dur(raw.timeout, default_timeout);
    if timeout.is_zero() {
        errors.push(doc.error(&key("timeout"), "must be longer than zero"));
    } else if timeout > interval {
        errors.push(doc.error(
            &key("timeout"),
            format!(
                "the step's timeout ({}) is longer than the check's interval ({})",
                format_duration(timeout),
                format_duration(interval)
            ),
        ));
    }
    let mut extract = Vec::new();
    for (var, ex) in raw.extract.unwrap_or_default() {
        let epath = format!("{path}.extract.{var}");
        check_var_name(doc, &epath, &var, errors);
        if let Some(from) = extract_from(doc, &epath, ex, errors) {
            extract.push(Extract { name: var, from });
        }
    }
    let mut assertions = Vec::new();
    for (i, a) in raw.assertions.unwrap_or_default().into_iter().enumerate() {
        // An assertion may compare with values extracted by this very step.
        let mut own = scope.clone();
        own.vars.extend(extract.iter().map(|e| e.name.clone()));
        own.steps.push(name.clone());
        let apath = format!("{path}.assert[{i}]");
        if let Some(a) = assertion(doc, &apath, a, &own, errors) {
            if !a.applies_to_http() {
                errors.push(doc.error(&apath, format!("`{}` does not apply to a step (an HTTP request)", a.describe())));
            }
            assertions.push(a);
        }
    }
    if !assertions.iter().any(|a| matches!(a, Assertion::Status(_))) {
        assertions.insert(0, Assertion::Status(StatusMatcher::Class(d::STATUS_CLASS)));
    }
    if token.is_some() {
        // A token response without a token is a failed login, whatever its status (RFC 6749 §5.1).
        let path = serde_json_path::JsonPath::parse("$.access_token").ok()?;
        assertions.push(Assertion::Json { path, source: "$.access_token".into(), check: Check::NotEmpty, nodes: Nodes::First });
    }
    let condition = match (raw.run_if, raw.skip_if) {
        (Some(_), Some(_)) => {
            errors.push(doc.error(&key("skip_if"), "a step takes `run_if` or `skip_if`, not both"));
            None
        }
        (Some(c), None) => condition(doc, &key("run_if"), &c, false, scope, errors),
        (None, Some(c)) => condition(doc, &key("skip_if"), &c, true, scope, errors),
        (None, None) => None,
    };
    if errors.len() > before {
        return None;
    }
    let pause = raw.pause.map_or(Duration::ZERO, HumanDuration::as_duration);
    let retries = raw.retries.unwrap_or(0);
    let retry_delay = dur(raw.retry_delay, d::STEP_RETRY_DELAY);
    let longest = longest_step(pause, timeout, retries, retry_delay);
    if longest > interval {
        let (k, what) = if retries > 0 {
            (
                "retries",
                format!("{} attempts of the step ({} each, {} apart)", retries + 1, format_duration(timeout), format_duration(retry_delay)),
            )
        } else {
            ("pause", format!("the step's pause ({}) and timeout ({})", format_duration(pause), format_duration(timeout)))
        };
        errors.push(doc.error(&key(k), format!("{what} take longer than the check's interval ({})", format_duration(interval))));
    }
    Some(StepConfig {
        name,
        method: method?,
        url: url?,
        query,
        headers,
        body,
        timeout,
        pause,
        extract,
        assertions,
        finally: raw.finally.unwrap_or(false),
        retries,
        retry_delay,
        condition,
        basic_auth: token.and_then(|t| t.basic_auth),
    })
}

/// The longest a step can take: its pause, then every attempt with the delays between them.
fn longest_step(pause: Duration, timeout: Duration, retries: u32, retry_delay: Duration) -> Duration {
    pause + timeout * (retries + 1) + retry_delay * retries
}

/// An `oauth2` step's request: the token URL, the form, and how the client authenticates.
struct TokenRequest {
    url: String,
    form: Vec<(String, Template)>,
    basic_auth: Option<(Template, Template)>,
}

fn oauth2_request(doc: &Document, path: &str, raw: RawOAuth2, scope: &Scope, errors: &mut ConfigErrors) -> Option<TokenRequest> {
    let need = |k: &str, v: Option<String>, errors: &mut ConfigErrors| {
        if v.is_none() {
            errors.push(doc.error(path, format!("missing key `{k}` (an oauth2 step needs token_url, client_id and client_secret)")));
        }
        v
    };
    let (url, id, secret) = (
        need("token_url", raw.token_url, errors),
        need("client_id", raw.client_id, errors),
        need("client_secret", raw.client_secret, errors),
    );
    let t = |k: &str, v: &str, errors: &mut ConfigErrors| template(doc, &format!("{path}.{k}"), v, scope, errors);
    let (id, secret) = (t("client_id", &id?, errors), t("client_secret", &secret?, errors));
    let mut form = vec![("grant_type".to_string(), Template::literal("client_credentials"))];
    for (k, v) in [("scope", raw.scope), ("audience", raw.audience)] {
        if let Some(v) = v {
            form.push((k.to_string(), t(k, &v, errors)));
        }
    }
    let basic_auth = match raw.client_auth.as_deref() {
        None | Some("basic") => Some((id, secret)),
        Some("body") => {
            form.push(("client_id".into(), id));
            form.push(("client_secret".into(), secret));
            None
        }
        Some(other) => {
            errors.push(doc.error(&format!("{path}.client_auth"), format!("unknown value {other:?}: expected \"basic\" or \"body\"")));
            None
        }
    };
    Some(TokenRequest { url: url?, form, basic_auth })
}

/// `"{{steps.create.status}} >= 400"`: a template, and optionally an operator and a second template. The
/// operator is found outside `{{…}}` with a space on each side.
fn condition(doc: &Document, path: &str, text: &str, skip: bool, scope: &Scope, errors: &mut ConfigErrors) -> Option<StepCondition> {
    const OPS: [(&str, ConditionOp); 7] = [
        (" == ", ConditionOp::Cmp(CmpOp::Eq)),
        (" != ", ConditionOp::Cmp(CmpOp::Ne)),
        (" <= ", ConditionOp::Cmp(CmpOp::Le)),
        (" >= ", ConditionOp::Cmp(CmpOp::Ge)),
        (" < ", ConditionOp::Cmp(CmpOp::Lt)),
        (" > ", ConditionOp::Cmp(CmpOp::Gt)),
        (" contains ", ConditionOp::Contains),
    ];
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() && found.is_none() {
        if text[i..].starts_with("{{") {
            depth += 1;
            i += 2;
            continue;
        }
        if text[i..].starts_with("}}") {
            depth = depth.saturating_sub(1);
            i += 2;
            continue;
        }
        if depth == 0 {
            found = OPS.iter().find(|(s, _)| text[i..].starts_with(s)).map(|(s, op)| (i, s.len(), *op));
        }
        i += text[i..].chars().next().map_or(1, char::len_utf8);
    }
    let before = errors.len();
    let (left, compare) = match found {
        None => (template(doc, path, text.trim(), scope, errors), None),
        Some((at, len, op)) => {
            let right = text[at + len..].trim();
            if right.is_empty() || text[..at].trim().is_empty() {
                errors.push(doc.error(path, format!("{text:?} needs a value on each side of the operator")));
                return None;
            }
            (template(doc, path, text[..at].trim(), scope, errors), Some((op, template(doc, path, right, scope, errors))))
        }
    };
    if left.is_literal() && compare.as_ref().is_none_or(|(_, r)| r.is_literal()) && errors.len() == before {
        errors.push(
            doc.error(path, format!("{text:?} is always the same: a condition needs a template, such as \"{{{{env.region}}}} == eu\"")),
        );
    }
    Some(StepCondition { skip, left, compare })
}

pub(super) fn extract_from(doc: &Document, path: &str, raw: RawExtract, errors: &mut ConfigErrors) -> Option<ExtractFrom> {
    match (raw.json, raw.header, raw.regex) {
        (Some(source), None, None) => match serde_json_path::JsonPath::parse(&source) {
            Ok(p) => Some(ExtractFrom::Json { path: p, source }),
            Err(e) => {
                errors.push(doc.error(&format!("{path}.json"), format!("invalid JSON path {source:?} (RFC 9535, e.g. \"$.id\"): {e}")));
                None
            }
        },
        (None, Some(h), None) => match http::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()) {
            Ok(n) => Some(ExtractFrom::Header(n)),
            Err(_) => {
                errors.push(doc.error(&format!("{path}.header"), format!("invalid header name {h:?}")));
                None
            }
        },
        (None, None, Some(r)) => match regex::RegexBuilder::new(&r).size_limit(1 << 20).build() {
            Ok(re) => Some(ExtractFrom::Regex(re)),
            Err(e) => {
                errors.push(doc.error(&format!("{path}.regex"), format!("invalid regular expression: {e}")));
                None
            }
        },
        _ => {
            errors.push(
                doc.error(path, "name exactly one source: { json = \"$.id\" }, { header = \"location\" } or { regex = \"id=(\\\\d+)\" }"),
            );
            None
        }
    }
}

pub(super) fn json_template(doc: &Document, path: &str, v: Value, scope: &Scope, errors: &mut ConfigErrors) -> JsonTemplate {
    match v {
        Value::String(s) => {
            let t = template(doc, path, &s, scope, errors);
            if t.is_literal() {
                JsonTemplate::Value(Value::String(s))
            } else {
                JsonTemplate::String(t)
            }
        }
        Value::Array(items) => JsonTemplate::Array(
            items.into_iter().enumerate().map(|(i, v)| json_template(doc, &format!("{path}[{i}]"), v, scope, errors)).collect(),
        ),
        Value::Object(m) => JsonTemplate::Object(
            m.into_iter().map(|(k, v)| (k.clone(), json_template(doc, &format!("{path}.{k}"), v, scope, errors))).collect(),
        ),
        other => JsonTemplate::Value(other),
    }
}
