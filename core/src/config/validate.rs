//! Phase two: typed sections from the document tree, then semantic checks, every error collected.

use super::check::{check_name, secret_or_file, section};
use super::defaults as d;
use super::document::Document;
use super::error::ConfigErrors;
use super::raw::{
    RawAgent, RawAggregator, RawAssertion, RawCheck, RawEndpoint, RawExtract, RawMaintenance, RawServer, RawSla, RawStep, RawStore,
    StatusSpec,
};
use super::*;
use crate::http::parse_http_url;
use crate::template::{Scope, Template};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};

const SECTIONS: &[&str] = &[
    "agent",
    "store",
    "server",
    "aggregator",
    "vars",
    "environments",
    "endpoints",
    "checks",
    "maintenance",
    "sla",
    "state",
    "statuspage",
    "oncall",
    "alerting",
    "regions",
    "publishers",
];

pub(super) fn validate(doc: &Document) -> Result<Config, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let empty = Value::Object(Default::default());
    let root = match &doc.tree {
        Value::Object(m) => m,
        _ => return Err(ConfigErrors::one(doc.error("", "the configuration must be a table of sections"))),
    };
    if root.is_empty() {
        // Why an error: an empty file is almost always the wrong file (or a failed template render), and
        // running it would probe nothing while looking healthy.
        return Err(ConfigErrors::one(
            doc.error("", "the configuration is empty: it needs at least [[endpoints]] (or [[checks]]); examples/local.toml is a start"),
        ));
    }
    for key in root.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            errors.push(doc.error(key, format!("unknown section; expected one of {}", SECTIONS.join(", "))));
        }
    }
    let raw_agent: RawAgent = section(doc, "agent", root.get("agent").unwrap_or(&empty), &mut errors).unwrap_or_default();
    let raw_server: RawServer = section(doc, "server", root.get("server").unwrap_or(&empty), &mut errors).unwrap_or_default();
    let raw_store: Option<RawStore> = root.get("store").and_then(|v| section(doc, "store", &with_default_type(v, "sqlite"), &mut errors));
    let raw_aggregator: RawAggregator =
        section(doc, "aggregator", root.get("aggregator").unwrap_or(&empty), &mut errors).unwrap_or_default();
    let raw_endpoints = tables::<RawEndpoint>(doc, root, "endpoints", &mut errors);

    let vars: BTreeMap<String, String> = root.get("vars").and_then(|v| section(doc, "vars", v, &mut errors)).unwrap_or_default();
    for k in vars.keys() {
        check_var_name(doc, &format!("vars.{k}"), k, &mut errors);
    }
    let environments: BTreeMap<String, BTreeMap<String, String>> =
        root.get("environments").and_then(|v| section(doc, "environments", v, &mut errors)).unwrap_or_default();
    for (name, env_vars) in &environments {
        check_name(doc, &format!("environments.{name}"), name, &mut errors);
        for k in env_vars.keys() {
            check_var_name(doc, &format!("environments.{name}.{k}"), k, &mut errors);
        }
    }
    let raw_checks = tables::<RawCheck>(doc, root, "checks", &mut errors);
    let raw_maintenance = tables::<RawMaintenance>(doc, root, "maintenance", &mut errors);

    let store = store(doc, raw_store, &mut errors);
    let agent = agent(doc, &raw_agent, &store, &mut errors);
    let listen_raw = raw_server.listen.as_deref().unwrap_or(d::LISTEN);
    let listen = listen_raw.parse().unwrap_or_else(|_| {
        errors.push(doc.error("server.listen", format!("invalid address {listen_raw:?}; expected host:port such as \"127.0.0.1:9090\"")));
        d::LISTEN.parse().unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 9090)))
    });

    // Endpoints and checks share one id namespace: the id is the `endpoint` tag of their points.
    let mut endpoints = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut add = |path: &str, runs: Vec<EndpointConfig>, errors: &mut ConfigErrors| {
        let Some(id) = runs.first().map(|r| r.id.clone()) else { return };
        if let Some(first) = seen.get(&id) {
            let at = match doc.origin(first) {
                Some(Origin::Line(l)) => format!(" (first defined at line {l})"),
                _ => String::new(),
            };
            let what = if path.starts_with("checks") { "id (endpoints and checks share one namespace)" } else { "endpoint id" };
            errors.push(doc.error(&format!("{path}.id"), format!("duplicate {what} `{id}`{at}")));
        } else {
            seen.insert(id, format!("{path}.id"));
            endpoints.extend(runs);
        }
    };
    for (path, raw) in raw_endpoints {
        if let Some(e) = raw.and_then(|raw| endpoint(doc, &path, raw, &raw_agent, &mut errors)) {
            add(&path, vec![e], &mut errors);
        }
    }
    let globals = Globals { agent: &raw_agent, vars: &vars, environments: &environments };
    for (path, raw) in raw_checks {
        if let Some(raw) = raw {
            let runs = check(doc, &path, raw, &globals, &mut errors);
            add(&path, runs, &mut errors);
        }
    }
    let mut maintenance = Vec::new();
    for (i, (path, raw)) in raw_maintenance.into_iter().enumerate() {
        if let Some(w) = raw.and_then(|raw| maintenance_window(doc, &path, i, raw, &endpoints, &mut errors)) {
            maintenance.push(w);
        }
    }
    let aggregator = AggregatorConfig {
        lateness: dur(raw_aggregator.lateness, d::LATENESS),
        backfill: dur(raw_aggregator.backfill, d::BACKFILL),
        latency_objective: dur(raw_aggregator.latency_objective, d::LATENCY_OBJECTIVE),
        shard: raw_aggregator.shard.as_deref().and_then(|s| {
            let shard = Shard::parse(s);
            if shard.is_none() {
                errors.push(doc.error("aggregator.shard", format!("{s:?} is not K/N with 1 <= K <= N, such as \"1/2\"")));
            }
            shard
        }),
    };
    if aggregator.lateness < Duration::from_secs(1) {
        errors.push(doc.error("aggregator.lateness", "must be at least 1s (points need time to reach the store)"));
    }
    if aggregator.latency_objective.is_zero() {
        errors.push(doc.error("aggregator.latency_objective", "must be longer than zero"));
    }
    let raw_sla: BTreeMap<String, Value> = root.get("sla").and_then(|v| section(doc, "sla", v, &mut errors)).unwrap_or_default();
    let mut sla = BTreeMap::new();
    for (name, v) in raw_sla {
        let path = format!("sla.{name}");
        if let Some(s) = section::<RawSla>(doc, &path, &v, &mut errors)
            .and_then(|raw| sla_report(doc, &path, &name, raw, &endpoints, &aggregator, &mut errors))
        {
            sla.insert(name, s);
        }
    }
    let state = super::statuspage::state(doc, root.get("state"), &store, &mut errors);
    let statuspage = super::statuspage::statuspage(doc, root.get("statuspage"), &endpoints, &mut errors);
    let oncall = super::oncall::schedules(doc, root.get("oncall"), &mut errors);
    let people = super::alerting::people(doc, root.get("oncall"), &mut errors);
    let alerting =
        super::alerting::alerting(doc, root.get("alerting"), &people, &oncall, &endpoints, &statuspage, agent.batch_max_age, &mut errors);
    if statuspage.configured && shares_port(listen, statuspage.listen) {
        let at = match doc.origin("server.listen") {
            Some(Origin::Line(l)) if root.get("server").is_some_and(|s| s.get("listen").is_some()) => format!(" (line {l})"),
            Some(Origin::Env(name)) => format!(" (from {name})"),
            _ => " (its default)".to_string(),
        };
        errors.push(doc.error(
            "statuspage.listen",
            format!("{} is also `server.listen`{at}: `watchpost run` serves both, so give each its own port", statuspage.listen),
        ));
    }
    let regions = super::publish::regions(doc, root.get("regions"), &mut errors);
    let publishers = super::publish::publishers(doc, root.get("publishers"), &endpoints, &statuspage, &mut errors);
    errors.into_result(Config {
        file: doc.file.clone(),
        regions,
        publishers,
        oncall,
        people,
        alerting,
        state,
        statuspage,
        agent,
        store,
        server: ServerConfig { listen },
        endpoints,
        maintenance,
        aggregator,
        sla,
        masks: Masks::new(doc.from_env.iter().cloned()),
    })
}

/// `[store]` without `type` is the embedded store, as documented: the tag serde needs is filled in.
fn with_default_type(v: &Value, default: &str) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.entry("type").or_insert_with(|| Value::String(default.to_string()));
    }
    v
}

/// An array of tables (`[[endpoints]]`): each entry deserialized on its own, with its key path, so one bad
/// entry does not hide the errors of the others.
fn tables<T: DeserializeOwned>(
    doc: &Document,
    root: &serde_json::Map<String, Value>,
    key: &str,
    errors: &mut ConfigErrors,
) -> Vec<(String, Option<T>)> {
    match root.get(key) {
        None => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{key}[{i}]");
                let raw = section::<T>(doc, &path, item, errors);
                (path, raw)
            })
            .collect(),
        Some(_) => {
            errors.push(doc.error(key, format!("expected an array of tables ([[{key}]])")));
            vec![]
        }
    }
}

/// Two listeners that cannot both bind: the same port on the same address, or on any address when one of
/// them listens on all (`0.0.0.0`, `::`). Port 0 picks a free port, so it never clashes.
fn shares_port(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() == b.port() && a.port() != 0 && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn dur(v: Option<HumanDuration>, default: Duration) -> Duration {
    v.map(HumanDuration::as_duration).unwrap_or(default)
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
            s.path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| doc.path("spool"), |p| p.join("spool"))
        }
        StoreConfig::Influxdb(_) => doc.path(d::SPOOL_DIR),
    };
    let spool_dir = raw_spool.and_then(|s| s.dir.as_deref()).map_or(default_dir, |dir| doc.path(dir));
    if raw_spool.and_then(|s| s.dir.as_deref()).is_some_and(|dir| dir.trim().is_empty()) {
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
    let token = secret_or_file(doc, "agent.maintenance_token", raw.maintenance_token.clone(), raw.maintenance_token_file.clone(), errors);
    let maintenance_from = match (&raw.maintenance_from, token) {
        (Some(url), Some(token)) => {
            if let Err(e) = parse_http_url(url) {
                errors.push(doc.error("agent.maintenance_from", format!("{e}, such as \"http://status.internal:8080\"")));
            }
            Some((url.clone(), token))
        }
        (Some(_), None) => {
            errors.push(doc.error("agent.maintenance_from", "needs `maintenance_token` (the status page's admin token)"));
            None
        }
        (None, Some(_)) => {
            errors.push(doc.error("agent.maintenance_token", "has no effect without `maintenance_from`"));
            None
        }
        (None, None) => None,
    };
    AgentConfig {
        maintenance_from,
        spool: SpoolSettings { dir: spool_dir, max_bytes, replay_rate },
        region,
        concurrency: positive("concurrency", raw.concurrency, d::CONCURRENCY, errors),
        queue_capacity: positive("queue_capacity", raw.queue_capacity, d::QUEUE_CAPACITY, errors),
        batch_max_points: positive("batch_max_points", raw.batch_max_points, d::BATCH_MAX_POINTS, errors),
        batch_max_age,
    }
}

fn store(doc: &Document, raw: Option<RawStore>, errors: &mut ConfigErrors) -> StoreConfig {
    match raw.unwrap_or(RawStore::Sqlite { path: None, retention: None, check_history: None }) {
        RawStore::Sqlite { path, retention, check_history } => {
            let path = path.unwrap_or_else(|| d::SQLITE_PATH.into());
            if path.trim().is_empty() {
                errors.push(doc.error("store.path", "must not be empty"));
            }
            let retention = dur(retention, d::RETENTION);
            if retention < Duration::from_secs(3600) {
                errors.push(doc.error("store.retention", "must be at least 1h"));
            }
            let check_history = dur(check_history, d::CHECK_HISTORY);
            if check_history < Duration::from_secs(3600) {
                errors.push(doc.error("store.check_history", "must be at least 1h"));
            }
            StoreConfig::Sqlite(SqliteConfig { path: doc.path(&path), retention, check_history })
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
            let url = match url.as_deref().map(|u| (u, parse_http_url(u))) {
                Some((u, Ok(_))) => u.trim_end_matches('/').to_string(),
                Some((_, Err(e))) => {
                    errors.push(doc.error("store.url", format!("{e}, like \"http://influxdb:8086\"")));
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

fn endpoint(doc: &Document, path: &str, raw: RawEndpoint, agent: &RawAgent, errors: &mut ConfigErrors) -> Option<EndpointConfig> {
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
fn http_probe(
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

/// The key the user wrote, or the `[agent]` default it inherited: where an error should point.
fn inherited(path: &str, own: bool, key: &str) -> String {
    if own {
        format!("{path}.{key}")
    } else {
        format!("agent.{key}")
    }
}

/// How much longer than its grace a push endpoint's attempt may take (the wait itself is `grace`).
const PUSH_SLACK: Duration = Duration::from_secs(1);

/// Interval, timeout and retry interval, inherited from `[agent]` where not set, checked for consistency.
fn timing(
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
fn push_timing(doc: &Document, path: &str, raw: &RawEndpoint, errors: &mut ConfigErrors) -> Option<(Duration, Duration, Duration)> {
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

fn http_keys(raw: &RawEndpoint) -> [(&'static str, bool); 8] {
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

fn push_keys(raw: &RawEndpoint) -> [(&'static str, bool); 4] {
    [
        ("token", raw.token.is_some()),
        ("token_file", raw.token_file.is_some()),
        ("expect_every", raw.expect_every.is_some()),
        ("grace", raw.grace.is_some()),
    ]
}

/// Variable names: what `{{vars.NAME}}` and `{{env.NAME}}` can spell.
fn check_var_name(doc: &Document, path: &str, name: &str, errors: &mut ConfigErrors) {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) {
        errors.push(doc.error(path, format!("invalid variable name {name:?}: use letters, digits, `_` and `-`")));
    }
}

fn template(doc: &Document, path: &str, text: &str, scope: &Scope, errors: &mut ConfigErrors) -> Template {
    Template::parse(text, scope).unwrap_or_else(|e| {
        errors.push(doc.error(path, e.to_string()));
        Template::literal(text)
    })
}

/// One assertion: exactly one subject key, and `op`/`value` where the subject takes them.
fn assertion(doc: &Document, path: &str, raw: RawAssertion, scope: &Scope, errors: &mut ConfigErrors) -> Option<Assertion> {
    let subjects: Vec<&str> = [
        ("status", raw.status.is_some()),
        ("latency_below", raw.latency_below.is_some()),
        ("body_contains", raw.body_contains.is_some()),
        ("body_matches", raw.body_matches.is_some()),
        ("header", raw.header.is_some()),
        ("json", raw.json.is_some()),
        ("cert_days_left_above", raw.cert_days_left_above.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    let subject = match subjects.as_slice() {
        [one] => *one,
        [] => {
            errors.push(doc.error(
                path,
                "an assertion needs one of status, latency_below, body_contains, body_matches, header, json, cert_days_left_above",
            ));
            return None;
        }
        many => {
            errors.push(doc.error(path, format!("one assertion checks one thing; split {} into separate assertions", many.join(" and "))));
            return None;
        }
    };
    let takes_op = matches!(subject, "header" | "json");
    if !takes_op {
        for (k, set) in [("op", raw.op.is_some()), ("value", raw.value.is_some())] {
            if set {
                errors.push(doc.error(&format!("{path}.{k}"), format!("`{k}` applies to `header` and `json` assertions, not `{subject}`")));
            }
        }
    }
    let regex = |key: &str, pattern: &str, errors: &mut ConfigErrors| match regex::RegexBuilder::new(pattern).size_limit(1 << 20).build() {
        Ok(r) => Some(r),
        Err(e) => {
            errors.push(doc.error(&format!("{path}.{key}"), format!("invalid regular expression: {e}")));
            None
        }
    };
    match subject {
        "status" => match status_matcher(raw.status.as_ref()?) {
            Ok(m) => Some(Assertion::Status(m)),
            Err(msg) => {
                errors.push(doc.error(&format!("{path}.status"), msg));
                None
            }
        },
        "latency_below" => {
            let v = raw.latency_below?.0;
            if v.is_zero() {
                errors.push(doc.error(&format!("{path}.latency_below"), "must be longer than zero"));
            }
            Some(Assertion::LatencyBelow(v))
        }
        "body_contains" => raw.body_contains.map(Assertion::BodyContains),
        "body_matches" => regex("body_matches", raw.body_matches.as_deref()?, errors).map(Assertion::BodyMatches),
        "cert_days_left_above" => raw.cert_days_left_above.map(Assertion::CertDaysLeftAbove),
        "header" => {
            let name_raw = raw.header?;
            let name = match http::HeaderName::from_bytes(name_raw.to_ascii_lowercase().as_bytes()) {
                Ok(n) => n,
                Err(_) => {
                    errors.push(doc.error(&format!("{path}.header"), format!("invalid header name {name_raw:?}")));
                    return None;
                }
            };
            let check = value_check(doc, path, raw.op, raw.value, scope, errors)?;
            Some(Assertion::Header { name, check })
        }
        _ => {
            let source = raw.json?;
            let json_path = match serde_json_path::JsonPath::parse(&source) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(
                        doc.error(&format!("{path}.json"), format!("invalid JSON path {source:?} (RFC 9535, e.g. \"$.items[0].id\"): {e}")),
                    );
                    return None;
                }
            };
            let check = value_check(doc, path, raw.op, raw.value, scope, errors)?;
            Some(Assertion::Json { path: json_path, source, check })
        }
    }
}

fn value_check(
    doc: &Document,
    path: &str,
    op: Option<String>,
    value: Option<Value>,
    scope: &Scope,
    errors: &mut ConfigErrors,
) -> Option<Check> {
    let op = op.unwrap_or_else(|| if value.is_some() { "==".into() } else { "exists".into() });
    let operand = |value: Option<Value>, errors: &mut ConfigErrors| -> Option<Operand> {
        match value {
            None => {
                errors.push(doc.error(path, format!("`op = \"{op}\"` needs a `value`")));
                None
            }
            Some(Value::String(s)) => {
                let t = template(doc, &format!("{path}.value"), &s, scope, errors);
                Some(if t.is_literal() { Operand::Value(Value::String(s)) } else { Operand::Template(t) })
            }
            Some(v) => Some(Operand::Value(v)),
        }
    };
    let no_value = |check: Check, value: &Option<Value>, errors: &mut ConfigErrors| {
        if value.is_some() {
            errors.push(doc.error(&format!("{path}.value"), format!("`op = \"{op}\"` takes no `value`")));
        }
        Some(check)
    };
    let cmp = |c: CmpOp, value: Option<Value>, errors: &mut ConfigErrors| operand(value, errors).map(|o| Check::Compare(c, o));
    match op.as_str() {
        "exists" => no_value(Check::Exists, &value, errors),
        "not_exists" => no_value(Check::NotExists, &value, errors),
        "empty" => no_value(Check::Empty, &value, errors),
        "not_empty" => no_value(Check::NotEmpty, &value, errors),
        "==" => cmp(CmpOp::Eq, value, errors),
        "!=" => cmp(CmpOp::Ne, value, errors),
        "<" => cmp(CmpOp::Lt, value, errors),
        "<=" => cmp(CmpOp::Le, value, errors),
        ">" => cmp(CmpOp::Gt, value, errors),
        ">=" => cmp(CmpOp::Ge, value, errors),
        "contains" => operand(value, errors).map(Check::Contains),
        "matches" => match value {
            Some(Value::String(p)) => match regex::RegexBuilder::new(&p).size_limit(1 << 20).build() {
                Ok(r) => Some(Check::Matches(r)),
                Err(e) => {
                    errors.push(doc.error(&format!("{path}.value"), format!("invalid regular expression: {e}")));
                    None
                }
            },
            _ => {
                errors.push(doc.error(path, "`op = \"matches\"` needs a `value` that is a regular expression"));
                None
            }
        },
        other => {
            errors.push(doc.error(
                &format!("{path}.op"),
                format!("unknown op {other:?}; expected ==, !=, <, <=, >, >=, exists, not_exists, empty, not_empty, contains or matches"),
            ));
            None
        }
    }
}

/// What every check inherits.
struct Globals<'a> {
    agent: &'a RawAgent,
    vars: &'a BTreeMap<String, String>,
    environments: &'a BTreeMap<String, BTreeMap<String, String>>,
}

/// A `[[checks]]` entry, validated once and expanded into one run per environment.
fn check(doc: &Document, path: &str, raw: RawCheck, g: &Globals, errors: &mut ConfigErrors) -> Vec<EndpointConfig> {
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
    let mut scope = Scope { env: env_names, vars: vars.keys().cloned().collect(), steps: vec![] };

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
    let runs: Vec<(String, BTreeMap<String, String>)> =
        if envs.is_empty() { vec![(g.agent.environment.clone().unwrap_or_else(|| d::ENVIRONMENT.into()), BTreeMap::new())] } else { envs };
    runs.into_iter()
        .map(|(environment, env)| EndpointConfig {
            id: id.clone(),
            name: raw.name.clone().unwrap_or_else(|| id.clone()),
            component: raw.component.clone(),
            tags: raw.tags.clone().unwrap_or_default(),
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
fn total_timeout(steps: &[StepConfig]) -> Duration {
    steps.iter().map(|s| s.timeout).sum::<Duration>() + Duration::from_secs(1)
}

fn step(
    doc: &Document,
    path: &str,
    raw: RawStep,
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
    let method_raw = raw.method.unwrap_or_else(|| d::METHOD.into());
    let method = http::Method::from_bytes(method_raw.to_ascii_uppercase().as_bytes()).ok().or_else(|| {
        errors.push(doc.error(&key("method"), format!("invalid HTTP method {method_raw:?}")));
        None
    });
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
        None => {
            errors.push(doc.error(path, "missing key `url`"));
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
    for (k, t) in templates("headers", raw.headers, errors) {
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
        if let Some(a) = assertion(doc, &format!("{path}.assert[{i}]"), a, &own, errors) {
            assertions.push(a);
        }
    }
    if !assertions.iter().any(|a| matches!(a, Assertion::Status(_))) {
        assertions.insert(0, Assertion::Status(StatusMatcher::Class(d::STATUS_CLASS)));
    }
    if errors.len() > before {
        return None;
    }
    Some(StepConfig {
        name,
        method: method?,
        url: url?,
        query,
        headers,
        body,
        timeout,
        extract,
        assertions,
        finally: raw.finally.unwrap_or(false),
    })
}

fn extract_from(doc: &Document, path: &str, raw: RawExtract, errors: &mut ConfigErrors) -> Option<ExtractFrom> {
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

fn json_template(doc: &Document, path: &str, v: Value, scope: &Scope, errors: &mut ConfigErrors) -> JsonTemplate {
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

/// One `[[maintenance]]` window; endpoint ids and components must exist (a typo would silence nothing).
fn maintenance_window(
    doc: &Document,
    path: &str,
    index: usize,
    raw: RawMaintenance,
    endpoints: &[EndpointConfig],
    errors: &mut ConfigErrors,
) -> Option<MaintenanceConfig> {
    use crate::maintenance::{cron::Cron, Scope};
    let before = errors.len();
    let key = |k: &str| format!("{path}.{k}");
    let id = raw.id.unwrap_or_else(|| format!("maintenance-{}", index + 1));
    check_name(doc, &key("id"), &id, errors);
    let instant = |k: &str, v: &str, errors: &mut ConfigErrors| match v.parse::<jiff::Timestamp>() {
        Ok(t) => Some(t.as_nanosecond() as crate::time::Nanos),
        Err(e) => {
            errors.push(
                doc.error(&key(k), format!("invalid time {v:?}: expected RFC 3339 with an offset, like \"2026-12-01T02:00:00Z\" ({e})")),
            );
            None
        }
    };
    let once = raw.start.is_some() || raw.end.is_some();
    let recurring = raw.cron.is_some() || raw.days.is_some() || raw.at.is_some();
    let schedule = match (once, recurring) {
        (true, true) => {
            errors.push(doc.error(path, "a window is one-off (start, end) or recurring (cron, or days and at), not both"));
            None
        }
        (false, false) => {
            errors.push(doc.error(path, "missing `start` and `end` (one-off) or `cron` / `days` and `at` (recurring)"));
            None
        }
        (true, false) => {
            for k in ["duration", "timezone"] {
                let set = if k == "duration" { raw.duration.is_some() } else { raw.timezone.is_some() };
                if set {
                    errors.push(doc.error(&key(k), format!("`{k}` applies to recurring windows; a one-off window has `start` and `end`")));
                }
            }
            match (raw.start.as_deref(), raw.end.as_deref()) {
                (Some(s), Some(e)) => match (instant("start", s, errors), instant("end", e, errors)) {
                    (Some(start), Some(end)) if end > start => Some(Schedule::Once { start, end }),
                    (Some(_), Some(_)) => {
                        errors.push(doc.error(&key("end"), "must be after `start`"));
                        None
                    }
                    _ => None,
                },
                _ => {
                    errors.push(doc.error(path, "a one-off window needs both `start` and `end`"));
                    None
                }
            }
        }
        (false, true) => {
            let cron_text = match (raw.cron, raw.days, raw.at) {
                (Some(c), None, None) => Some((c, "cron")),
                (None, Some(days), Some(at)) => {
                    let hm = at
                        .split_once(':')
                        .and_then(|(h, m)| Some((h.parse::<u32>().ok().filter(|h| *h < 24)?, m.parse::<u32>().ok().filter(|m| *m < 60)?)));
                    match hm {
                        Some((h, m)) if !days.is_empty() => Some((format!("{m} {h} * * {}", days.join(",")), "days")),
                        Some(_) => {
                            errors.push(doc.error(&key("days"), "is empty"));
                            None
                        }
                        None => {
                            errors.push(doc.error(&key("at"), format!("invalid time of day {at:?}: expected HH:MM such as \"03:00\"")));
                            None
                        }
                    }
                }
                _ => {
                    errors.push(doc.error(path, "a recurring window has `cron`, or `days` and `at`"));
                    None
                }
            };
            let cron = cron_text.and_then(|(text, k)| {
                Cron::parse(&text).map_err(|e| errors.push(doc.error(&key(k), format!("invalid schedule: {e}")))).ok()
            });
            let duration = match raw.duration {
                Some(d) if !d.0.is_zero() => Some(d.0),
                Some(_) => {
                    errors.push(doc.error(&key("duration"), "must be longer than zero"));
                    None
                }
                None => {
                    errors.push(doc.error(path, "missing key `duration` (required for a recurring window)"));
                    None
                }
            };
            let tz_name = raw.timezone.unwrap_or_else(|| "UTC".into());
            let tz = jiff::tz::TimeZone::get(&tz_name)
                .map_err(|_| {
                    errors.push(
                        doc.error(&key("timezone"), format!("unknown time zone {tz_name:?}: use an IANA name such as \"Europe/Berlin\"")),
                    )
                })
                .ok();
            match (cron, duration, tz) {
                (Some(cron), Some(duration), Some(tz)) => Some(Schedule::Recurring { cron, duration, tz, tz_name }),
                _ => None,
            }
        }
    };
    let scope = match (raw.endpoints, raw.components, raw.all) {
        (Some(ids), None, None | Some(false)) if !ids.is_empty() => {
            for (i, id) in ids.iter().enumerate() {
                if !endpoints.iter().any(|e| &e.id == id) {
                    errors.push(doc.error(&format!("{path}.endpoints[{i}]"), format!("no endpoint or check has id `{id}`")));
                }
            }
            Some(Scope::Endpoints(ids.into_iter().collect()))
        }
        (None, Some(cs), None | Some(false)) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                if !endpoints.iter().any(|e| e.component.as_deref() == Some(c.as_str())) {
                    errors.push(doc.error(&format!("{path}.components[{i}]"), format!("no endpoint or check belongs to component `{c}`")));
                }
            }
            Some(Scope::Components(cs.into_iter().collect()))
        }
        (None, None, Some(true)) => Some(Scope::All),
        _ => {
            errors.push(
                doc.error(path, "name what the window silences: `endpoints = [...]`, `components = [...]` or `all = true` (one of them)"),
            );
            None
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(MaintenanceConfig { title: raw.title.unwrap_or_else(|| id.clone()), id, schedule: schedule?, scope: scope? })
}

fn sla_report(
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
