//! `[modules.NAME]`: probes without a target, as blackbox_exporter's `modules:`. `GET /probe?target=…&module=…`
//! aims one at a target. Each is checked as an endpoint whose target is a placeholder, so a module takes
//! the keys, defaults and assertions an endpoint of its type does, with the same errors.

use super::*;
use crate::config::probe::MODULE_PLACEHOLDER_HOST;

/// What a module's keys must not hold: the target comes with each request.
const TARGET_KEYS: [(&str, &str); 4] =
    [("url", "http and websocket"), ("address", "tcp, tls and grpc"), ("host", "icmp"), ("domain", "domain")];

pub(super) fn modules(
    doc: &Document,
    given: Option<&Value>,
    agent: &RawAgent,
    errors: &mut ConfigErrors,
) -> BTreeMap<String, ModuleConfig> {
    let mut out = BTreeMap::new();
    let Some(given) = given else { return out };
    let Some(table) = given.as_object() else {
        errors.push(doc.error("modules", "expected a table of modules ([modules.http_2xx])"));
        return out;
    };
    for (name, item) in table {
        let path = format!("modules.{name}");
        let Some(keys) = item.as_object() else {
            errors.push(doc.error(&path, "this key wants a table ({ … } or [section])"));
            continue;
        };
        let mut keys = keys.clone();
        for (key, types) in TARGET_KEYS {
            if keys.contains_key(key) {
                errors.push(doc.error(
                    &format!("{path}.{key}"),
                    format!("a module takes no `{key}`: the target comes with each request (`/probe?target=…`, {types})"),
                ));
            }
        }
        let kind = keys.get("type").and_then(Value::as_str).unwrap_or("http").to_string();
        if kind == "push" {
            errors.push(doc.error(&format!("{path}.type"), "a push endpoint cannot be a module: it is not probed, it is reported to"));
            continue;
        }
        match kind.as_str() {
            "http" => {
                keys.insert("url".into(), Value::String(format!("http://{MODULE_PLACEHOLDER_HOST}/")));
            }
            "websocket" => {
                keys.insert("url".into(), Value::String(format!("ws://{MODULE_PLACEHOLDER_HOST}/")));
            }
            "tcp" | "tls" | "grpc" => {
                keys.insert("address".into(), Value::String(format!("{MODULE_PLACEHOLDER_HOST}:1")));
            }
            "icmp" => {
                keys.insert("host".into(), Value::String(MODULE_PLACEHOLDER_HOST.into()));
            }
            "domain" => {
                keys.insert("domain".into(), Value::String(MODULE_PLACEHOLDER_HOST.into()));
            }
            _ => {}
        }
        keys.insert("id".into(), Value::String(name.clone()));
        // A module runs when it is asked for: no interval of its own, a timeout of its own (default 5 s,
        // shortened by the scrape's own timeout).
        keys.entry("timeout").or_insert_with(|| Value::String("5s".into()));
        if keys.contains_key("interval") {
            errors.push(doc.error(&format!("{path}.interval"), "a module has no interval: it runs when Prometheus asks (`/probe`)"));
        }
        keys.insert("interval".into(), Value::String("1h".into()));
        let item = Value::Object(keys);
        let common = struct_keys::<RawEndpoint>();
        let Some(raw) = section::<RawEndpoint>(doc, &path, &item, errors) else { continue };
        if let Some(e) = endpoint(doc, &path, raw, other_keys(&item, common), agent, errors) {
            out.insert(name.clone(), ModuleConfig { probe: e.probe, assertions: e.assertions, timeout: e.timeout });
        }
    }
    out
}
