//! Phase two: typed sections from the document tree, then semantic checks, every error collected. This
//! file assembles the sections; each has its own module.

mod assertion;
mod checks;
mod endpoint;
mod maintenance;
mod modules;
mod store;

use assertion::*;
use checks::*;
use endpoint::*;
use maintenance::*;
use store::*;

use super::check::{check_name, other_keys, secret_or_file, section, struct_keys, tagged, Table};
use super::defaults as d;
use super::document::Document;
use super::error::ConfigErrors;
use super::probe::{self, ProbeSpec};
use super::raw::{
    RawAgent, RawAggregator, RawAssertion, RawCheck, RawEndpoint, RawExtract, RawMaintenance, RawOAuth2, RawServer, RawStep, RawStore,
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
    "modules",
];

/// The shared sections alone, for core's own callers and tests: the parts' sections are only checked to be
/// tables here.
pub(super) fn validate(doc: &Document) -> Result<Config, ConfigErrors> {
    let (config, errors) = shared(doc)?;
    errors.into_result(config)
}

/// Labels alerts carry whatever the configuration says, which `labels` tables may not redefine.
pub const BUILTIN_LABELS: [&str; 6] = ["rule", "endpoint", "component", "environment", "severity", "region"];

/// `labels = { … }` of an endpoint, a check or a component: Prometheus label names, not the built-in
/// ones, values of at most 256 characters.
pub(crate) fn alert_labels(
    doc: &Document,
    path: &str,
    raw: Option<BTreeMap<String, String>>,
    errors: &mut ConfigErrors,
) -> BTreeMap<String, String> {
    let raw = raw.unwrap_or_default();
    for (k, v) in &raw {
        let key = format!("{path}.labels.{k}");
        if !crate::labels::valid_name(k) {
            errors.push(doc.error(&key, "is not a label name: letters, digits and _, not starting with a digit"));
        } else if BUILTIN_LABELS.contains(&k.as_str()) {
            errors.push(doc.error(&key, format!("`{k}` is set by Watchpost on every alert; pick another name")));
        }
        if v.chars().count() > 256 {
            errors.push(doc.error(&key, "is longer than 256 characters"));
        }
    }
    raw
}

/// Every `depends_on` names an endpoint, a check or a component, not itself.
fn dependencies(
    doc: &Document,
    deps: &[(String, String, Vec<String>)],
    endpoints: &[EndpointConfig],
    components: &[ComponentConfig],
    errors: &mut ConfigErrors,
) {
    let known = |id: &str| endpoints.iter().any(|e| e.id == id) || components.iter().any(|c| c.id == id);
    for (path, own, list) in deps {
        for (i, d) in list.iter().enumerate() {
            let key = format!("{path}.depends_on[{i}]");
            if d == own {
                errors.push(doc.error(&key, "names itself"));
            } else if !known(d) {
                errors.push(doc.error(&key, format!("no endpoint, check or component `{d}`")));
            }
        }
    }
}

/// The shared sections, valid as far as they go, and every error found in them.
pub(super) fn shared(doc: &Document) -> Result<(Config, ConfigErrors), ConfigErrors> {
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
    let raw_endpoints = endpoint_tables(doc, root, &mut errors);

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
    let mut deps: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut add = |path: &str, runs: Vec<EndpointConfig>, errors: &mut ConfigErrors| {
        let Some(id) = runs.first().map(|r| r.id.clone()) else { return };
        if let Some(r) = runs.first().filter(|r| !r.depends_on.is_empty()) {
            deps.push((path.to_string(), id.clone(), r.depends_on.clone()));
        }
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
    for (path, raw, probe_keys) in raw_endpoints {
        if let Some(e) = raw.and_then(|raw| endpoint(doc, &path, raw, probe_keys, &raw_agent, &mut errors)) {
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
    let state = super::state::state(doc, root.get("state"), &store, &mut errors);
    let (groups, components) = super::components::components(doc, root.get("statuspage"), &endpoints, &mut errors);
    deps.extend(
        components
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.depends_on.is_empty())
            .map(|(i, c)| (format!("statuspage.components[{i}]"), c.id.clone(), c.depends_on.clone())),
    );
    dependencies(doc, &deps, &endpoints, &components, &mut errors);
    let oncall = super::oncall::schedules(doc, root.get("oncall"), &mut errors);
    let people = super::people::people(doc, root.get("oncall"), &mut errors);
    let regions = super::regions::regions(doc, root.get("regions"), &mut errors);
    let modules = modules::modules(doc, root.get("modules"), &raw_agent, &mut errors);
    let config = Config {
        modules,
        file: doc.file.clone(),
        regions,
        oncall,
        people,
        state,
        groups,
        components,
        agent,
        store,
        server: ServerConfig { listen },
        endpoints,
        maintenance,
        aggregator,
        masks: Masks::new(doc.from_env.iter().cloned()),
    };
    Ok((config, errors))
}

/// `[store]` without `type` is the embedded store, as documented: the tag serde needs is filled in.
fn with_default_type(v: &Value, default: &str) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.entry("type").or_insert_with(|| Value::String(default.to_string()));
    }
    v
}

/// `[[endpoints]]`: each entry's common keys read into [`RawEndpoint`], the rest (`type` and the probe
/// type's keys) kept for `config::probe`.
#[allow(clippy::type_complexity)] // path, common keys, probe keys: named where they are taken apart
fn endpoint_tables(
    doc: &Document,
    root: &serde_json::Map<String, Value>,
    errors: &mut ConfigErrors,
) -> Vec<(String, Option<RawEndpoint>, serde_json::Map<String, Value>)> {
    let common = struct_keys::<RawEndpoint>();
    match root.get("endpoints") {
        None => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("endpoints[{i}]");
                if !item.is_object() {
                    errors.push(doc.error(&path, "this key wants a table ({ … } or [section])"));
                    return (path, None, Default::default());
                }
                let raw = section::<RawEndpoint>(doc, &path, item, errors);
                (path, raw, other_keys(item, common))
            })
            .collect(),
        Some(_) => {
            errors.push(doc.error("endpoints", "expected an array of tables ([[endpoints]])"));
            vec![]
        }
    }
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

fn dur(v: Option<HumanDuration>, default: Duration) -> Duration {
    v.map(HumanDuration::as_duration).unwrap_or(default)
}
