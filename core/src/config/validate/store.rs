//! `[agent]` and `[store]`: the agent's defaults and limits, and which store holds the points.

use super::*;

pub(super) fn agent(doc: &Document, raw: &RawAgent, store: &StoreConfig, errors: &mut ConfigErrors) -> AgentConfig {
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

pub(super) fn store(doc: &Document, raw: Option<RawStore>, errors: &mut ConfigErrors) -> StoreConfig {
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
            rollup_retention_policy,
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
                    not_for("rollup_retention_policy", rollup_retention_policy.is_some(), errors);
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
            for (key, name) in [("retention_policy", &retention_policy), ("rollup_retention_policy", &rollup_retention_policy)] {
                if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
                    errors.push(doc.error(&format!("store.{key}"), "must not be empty (leave it out for the database's default)"));
                }
            }
            StoreConfig::Influxdb(InfluxConfig {
                url,
                api,
                database,
                retention_policy,
                rollup_retention_policy,
                org,
                bucket,
                auth,
                timeout,
            })
        }
    }
}
