//! Phase two: typed sections from the document tree, then semantic checks, every error collected.

use super::defaults as d;
use super::document::Document;
use super::error::ConfigErrors;
use super::raw::{RawAgent, RawAssertion, RawEndpoint, RawServer, RawStore, StatusSpec};
use super::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;

const SECTIONS: &[&str] = &["agent", "store", "server", "endpoints"];

/// Deserializes the value at `path`, mapping serde's error to the exact key path and its line.
fn section<T: DeserializeOwned>(doc: &Document, path: &str, value: &Value, errors: &mut ConfigErrors) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let mut full = path.to_string();
            if inner != "." {
                if !inner.starts_with('[') {
                    full.push('.');
                }
                full.push_str(&inner);
            }
            let mut message = e.into_inner().to_string();
            // serde names an unknown field in the message; point the line at that key itself.
            if let Some(field) = message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
                if !full.ends_with(&format!(".{field}")) && full != field {
                    full = format!("{full}.{field}");
                }
                message = message.replacen("unknown field", "unknown key", 1);
            }
            errors.push(doc.error(&full, message));
            None
        }
    }
}

pub(super) fn validate(doc: &Document) -> Result<Config, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let empty = Value::Object(Default::default());
    let root = match &doc.tree {
        Value::Object(m) => m,
        _ => return Err(ConfigErrors::one(doc.error("", "the configuration must be a table of sections"))),
    };
    for key in root.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            errors.push(doc.error(key, format!("unknown section; expected one of {}", SECTIONS.join(", "))));
        }
    }
    let raw_agent: RawAgent = section(doc, "agent", root.get("agent").unwrap_or(&empty), &mut errors).unwrap_or_default();
    let raw_server: RawServer = section(doc, "server", root.get("server").unwrap_or(&empty), &mut errors).unwrap_or_default();
    let raw_store: Option<RawStore> = root.get("store").and_then(|v| section(doc, "store", v, &mut errors));
    let mut raw_endpoints = Vec::new();
    match root.get("endpoints") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("endpoints[{i}]");
                raw_endpoints.push((path.clone(), section::<RawEndpoint>(doc, &path, item, &mut errors)));
            }
        }
        Some(_) => errors.push(doc.error("endpoints", "expected an array of tables ([[endpoints]])")),
    }

    let store = store(doc, raw_store, &mut errors);
    let agent = agent(doc, &raw_agent, &store, &mut errors);
    let listen_raw = raw_server.listen.as_deref().unwrap_or(d::LISTEN);
    let listen = listen_raw.parse().unwrap_or_else(|_| {
        errors.push(doc.error("server.listen", format!("invalid address {listen_raw:?}; expected host:port such as \"127.0.0.1:9090\"")));
        d::LISTEN.parse().unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 9090)))
    });

    let mut endpoints = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (path, raw) in raw_endpoints {
        let Some(raw) = raw else { continue };
        if let Some(e) = endpoint(doc, &path, raw, &raw_agent, &mut errors) {
            if let Some(first) = seen.get(&e.id) {
                let at = match doc.origin(first) {
                    Some(Origin::Line(l)) => format!(" (first defined at line {l})"),
                    _ => String::new(),
                };
                errors.push(doc.error(&format!("{path}.id"), format!("duplicate endpoint id `{}`{at}", e.id)));
            } else {
                seen.insert(e.id.clone(), format!("{path}.id"));
                endpoints.push(e);
            }
        }
    }
    errors.into_result(Config { file: doc.file.clone(), agent, store, server: ServerConfig { listen }, endpoints })
}

fn dur(v: Option<HumanDuration>, default: Duration) -> Duration {
    v.map(HumanDuration::as_duration).unwrap_or(default)
}

/// Names that become tags: InfluxDB's portable character set plus `.`.
fn check_name(doc: &Document, path: &str, value: &str, errors: &mut ConfigErrors) {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        errors.push(doc.error(
            path,
            format!("invalid name {value:?}: use 1 to 128 letters, digits, `_`, `-` or `.`, starting with a letter or digit"),
        ));
    }
}

fn agent(doc: &Document, raw: &RawAgent, store: &StoreConfig, errors: &mut ConfigErrors) -> AgentConfig {
    let region = raw.region.clone().unwrap_or_else(|| d::REGION.into());
    check_name(doc, "agent.region", &region, errors);
    if let Some(env) = &raw.environment {
        check_name(doc, "agent.environment", env, errors);
    }
    let positive = |key: &str, v: Option<usize>, default: usize, errors: &mut ConfigErrors| match v {
        Some(0) => {
            errors.push(doc.error(&format!("agent.{key}"), "must be at least 1"));
            default
        }
        Some(n) => n,
        None => default,
    };
    let batch_max_age = dur(raw.batch_max_age, d::BATCH_MAX_AGE);
    if batch_max_age.is_zero() {
        errors.push(doc.error("agent.batch_max_age", "must be longer than zero"));
    }
    let raw_spool = raw.spool.as_ref();
    // By default the spool lives next to the SQLite database, so one data directory holds everything.
    let default_dir = match store {
        StoreConfig::Sqlite(s) => {
            s.path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("spool"), |p| p.join("spool"))
        }
        StoreConfig::Influxdb(_) => PathBuf::from(d::SPOOL_DIR),
    };
    let spool_dir = raw_spool.and_then(|s| s.dir.clone()).map_or(default_dir, PathBuf::from);
    if spool_dir.as_os_str().is_empty() {
        errors.push(doc.error("agent.spool.dir", "must not be empty"));
    }
    let max_bytes = raw_spool.and_then(|s| s.max_bytes).map_or(d::SPOOL_MAX_BYTES, |b| b.0);
    if max_bytes < d::SPOOL_MIN_BYTES {
        errors.push(doc.error("agent.spool.max_bytes", format!("must be at least {} KiB", d::SPOOL_MIN_BYTES >> 10)));
    }
    let replay_rate = raw_spool.and_then(|s| s.replay_rate).unwrap_or(d::SPOOL_REPLAY_RATE);
    if replay_rate == 0 {
        errors.push(doc.error("agent.spool.replay_rate", "must be at least 1 point per second"));
    }
    AgentConfig {
        spool: SpoolSettings { dir: spool_dir, max_bytes, replay_rate },
        region,
        concurrency: positive("concurrency", raw.concurrency, d::CONCURRENCY, errors),
        queue_capacity: positive("queue_capacity", raw.queue_capacity, d::QUEUE_CAPACITY, errors),
        batch_max_points: positive("batch_max_points", raw.batch_max_points, d::BATCH_MAX_POINTS, errors),
        batch_max_age,
    }
}

fn store(doc: &Document, raw: Option<RawStore>, errors: &mut ConfigErrors) -> StoreConfig {
    match raw.unwrap_or(RawStore::Sqlite { path: None, retention: None }) {
        RawStore::Sqlite { path, retention } => {
            let path = path.unwrap_or_else(|| d::SQLITE_PATH.into());
            if path.trim().is_empty() {
                errors.push(doc.error("store.path", "must not be empty"));
            }
            let retention = dur(retention, d::RETENTION);
            if retention < Duration::from_secs(3600) {
                errors.push(doc.error("store.retention", "must be at least 1h"));
            }
            StoreConfig::Sqlite(SqliteConfig { path: PathBuf::from(path), retention })
        }
        RawStore::Influxdb {
            url,
            api,
            database,
            retention_policy,
            org,
            bucket,
            token,
            token_file,
            username,
            password,
            password_file,
            timeout,
        } => {
            let url = match url {
                Some(u) if u.parse::<http::Uri>().is_ok_and(|p| matches!(p.scheme_str(), Some("http" | "https")) && p.host().is_some()) => {
                    u.trim_end_matches('/').to_string()
                }
                Some(u) => {
                    errors.push(doc.error(
                        "store.url",
                        format!("invalid URL {u:?}: expected http:// or https:// and a host, like \"http://influxdb:8086\""),
                    ));
                    String::new()
                }
                None => {
                    errors.push(doc.error("store", "missing key `url` (required for type = \"influxdb\")"));
                    String::new()
                }
            };
            let api = match api.as_deref().unwrap_or("v1") {
                "v1" => InfluxApi::V1,
                "v2" => InfluxApi::V2,
                other => {
                    errors.push(doc.error("store.api", format!("unknown API {other:?}; expected \"v1\" or \"v2\"")));
                    InfluxApi::V1
                }
            };
            let token = secret_or_file(doc, "store.token", token, token_file, errors);
            let password = secret_or_file(doc, "store.password", password, password_file, errors);
            let not_for = |k: &str, set: bool, errors: &mut ConfigErrors| {
                if set {
                    errors.push(doc.error(
                        &format!("store.{k}"),
                        format!("`{k}` does not apply to api = \"{}\"", if api == InfluxApi::V1 { "v1" } else { "v2" }),
                    ));
                }
            };
            let database = match api {
                InfluxApi::V1 => {
                    not_for("org", org.is_some(), errors);
                    not_for("bucket", bucket.is_some(), errors);
                    database.unwrap_or_else(|| {
                        errors.push(doc.error("store", "missing key `database` (required for api = \"v1\")"));
                        String::new()
                    })
                }
                InfluxApi::V2 => {
                    not_for("retention_policy", retention_policy.is_some(), errors);
                    not_for("username", username.is_some(), errors);
                    not_for("password", password.is_some(), errors);
                    for (k, v) in [("org", &org), ("bucket", &bucket)] {
                        if v.is_none() {
                            errors.push(doc.error("store", format!("missing key `{k}` (required for api = \"v2\")")));
                        }
                    }
                    if token.is_none() {
                        errors.push(doc.error("store", "missing key `token` or `token_file` (required for api = \"v2\")"));
                    }
                    database.or_else(|| bucket.clone()).unwrap_or_default()
                }
            };
            let auth = match (token, username, password) {
                (Some(t), None, None) => InfluxAuth::Token(t),
                (None, Some(username), Some(password)) => InfluxAuth::Basic { username, password },
                (None, None, None) => InfluxAuth::None,
                (Some(_), _, _) => {
                    errors.push(doc.error("store.token", "set either `token` or `username` and `password`, not both"));
                    InfluxAuth::None
                }
                (None, Some(_), None) => {
                    errors.push(doc.error("store.username", "`username` needs `password` or `password_file`"));
                    InfluxAuth::None
                }
                (None, None, Some(_)) => {
                    errors.push(doc.error("store.password", "`password` needs `username`"));
                    InfluxAuth::None
                }
            };
            let timeout = dur(timeout, d::INFLUX_TIMEOUT);
            if timeout.is_zero() {
                errors.push(doc.error("store.timeout", "must be longer than zero"));
            }
            StoreConfig::Influxdb(InfluxConfig { url, api, database, retention_policy, org, bucket, auth, timeout })
        }
    }
}

/// A secret given inline (`key`) or in a file (`key_file`), never both. The file's content, trimmed of the
/// trailing newline editors add, is the secret.
fn secret_or_file(doc: &Document, key: &str, inline: Option<Secret>, file: Option<String>, errors: &mut ConfigErrors) -> Option<Secret> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            errors.push(doc.error(
                &format!("{key}_file"),
                format!("set `{}` or `{}_file`, not both", key.rsplit('.').next().unwrap_or(key), key.rsplit('.').next().unwrap_or(key)),
            ));
            None
        }
        (Some(s), None) => Some(s),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(text) => Some(Secret::new(text.trim_end_matches(['\n', '\r']))),
            Err(e) => {
                errors.push(doc.error(&format!("{key}_file"), format!("cannot read {path}: {e}")));
                None
            }
        },
        (None, None) => None,
    }
}

fn endpoint(doc: &Document, path: &str, raw: RawEndpoint, agent: &RawAgent, errors: &mut ConfigErrors) -> Option<EndpointConfig> {
    let before = errors.len();
    let key = |k: &str| format!("{path}.{k}");
    let id = match raw.id {
        Some(id) => {
            check_name(doc, &key("id"), &id, errors);
            id
        }
        None => {
            errors.push(doc.error(path, "missing key `id`"));
            String::new()
        }
    };
    let interval = dur(raw.interval.or(agent.interval), d::INTERVAL);
    let timeout = dur(raw.timeout.or(agent.timeout), d::TIMEOUT);
    let retry_interval = dur(raw.retry_interval.or(agent.retry_interval), d::RETRY_INTERVAL);
    // Point at the key the user wrote, or at the [agent] default it inherited.
    let src = |own: bool, k: &str| if own { key(k) } else { format!("agent.{k}") };
    if interval.is_zero() {
        errors.push(doc.error(&src(raw.interval.is_some(), "interval"), "must be longer than zero"));
    }
    if timeout.is_zero() {
        errors.push(doc.error(&src(raw.timeout.is_some(), "timeout"), "must be longer than zero"));
    } else if !interval.is_zero() && timeout > interval {
        errors.push(doc.error(
            &src(raw.timeout.is_some(), "timeout"),
            format!(
                "timeout ({}) is longer than the interval ({}): probes of one endpoint would overlap",
                format_duration(timeout),
                format_duration(interval)
            ),
        ));
    }
    if retry_interval.is_zero() {
        errors.push(doc.error(&src(raw.retry_interval.is_some(), "retry_interval"), "must be longer than zero"));
    }
    let failure_threshold = raw.failure_threshold.or(agent.failure_threshold).unwrap_or(d::FAILURE_THRESHOLD);
    let success_threshold = raw.success_threshold.or(agent.success_threshold).unwrap_or(d::SUCCESS_THRESHOLD);
    if failure_threshold == 0 {
        errors.push(doc.error(&src(raw.failure_threshold.is_some(), "failure_threshold"), "must be at least 1"));
    }
    if success_threshold == 0 {
        errors.push(doc.error(&src(raw.success_threshold.is_some(), "success_threshold"), "must be at least 1"));
    }
    if let Some(c) = &raw.component {
        check_name(doc, &key("component"), c, errors);
    }
    if let Some(env) = &raw.environment {
        check_name(doc, &key("environment"), env, errors);
    }
    let environment = raw.environment.or_else(|| agent.environment.clone()).unwrap_or_else(|| d::ENVIRONMENT.into());

    let kind = raw.kind.as_deref().unwrap_or("http");
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
            http_probe(
                doc,
                path,
                &raw.url,
                raw.method,
                raw.headers,
                raw.body,
                raw.follow_redirects,
                raw.max_body,
                raw.tls_skip_verify,
                errors,
            )
        }
        "tcp" => {
            for (k, set) in [
                ("url", raw.url.is_some()),
                ("method", raw.method.is_some()),
                ("headers", raw.headers.is_some()),
                ("body", raw.body.is_some()),
                ("follow_redirects", raw.follow_redirects.is_some()),
                ("max_body", raw.max_body.is_some()),
                ("tls_skip_verify", raw.tls_skip_verify.is_some()),
            ] {
                not_for(k, set, errors);
            }
            tcp_probe(doc, path, raw.address, raw.send, raw.expect, errors)
        }
        other => {
            errors.push(doc.error(&key("type"), format!("unknown probe type {other:?}; expected \"http\" or \"tcp\"")));
            None
        }
    };
    let mut assertions = Vec::new();
    for (i, a) in raw.assertions.unwrap_or_default().into_iter().enumerate() {
        let apath = format!("{path}.assert[{i}]");
        match a {
            RawAssertion::Status(spec) => match status_matcher(&spec) {
                Ok(m) => assertions.push(Assertion::Status(m)),
                Err(msg) => errors.push(doc.error(&format!("{apath}.status"), msg)),
            },
            RawAssertion::LatencyBelow(v) => {
                if v.0.is_zero() {
                    errors.push(doc.error(&format!("{apath}.latency_below"), "must be longer than zero"));
                }
                assertions.push(Assertion::LatencyBelow(v.0));
            }
            RawAssertion::BodyContains(s) => {
                if matches!(probe, Some(ProbeConfig::Tcp(_))) {
                    errors.push(doc.error(&apath, "body_contains does not apply to a tcp endpoint; use `expect`"));
                }
                assertions.push(Assertion::BodyContains(s));
            }
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
fn http_probe(
    doc: &Document,
    path: &str,
    url: &Option<String>,
    method: Option<String>,
    headers: Option<std::collections::BTreeMap<String, String>>,
    body: Option<String>,
    follow_redirects: Option<u32>,
    max_body: Option<duration::ByteSize>,
    tls_skip_verify: Option<bool>,
    errors: &mut ConfigErrors,
) -> Option<ProbeConfig> {
    let key = |k: &str| format!("{path}.{k}");
    let Some(url_raw) = url else {
        errors.push(doc.error(path, "missing key `url` (required for an http endpoint)"));
        return None;
    };
    let url = match url_raw.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http") | Some("https")) && u.host().is_some_and(|h| !h.is_empty()) => Some(u),
        Ok(_) => {
            errors
                .push(doc.error(&key("url"), format!("invalid URL {url_raw:?}: expected an absolute http:// or https:// URL with a host")));
            None
        }
        Err(e) => {
            errors.push(doc.error(&key("url"), format!("invalid URL {url_raw:?}: {e}")));
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
    }))
}

fn tcp_probe(
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

fn status_matcher(spec: &StatusSpec) -> Result<StatusMatcher, String> {
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
