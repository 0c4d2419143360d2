//! Gatus's `endpoints:` as `[[endpoints]]`. Gatus's conditions are kept as written (`conditions = [...]`,
//! which Watchpost compiles itself); its alerting, UI and storage settings have no counterpart here.

use super::{duration, finish, read_yaml, slug, unique, Entry, Imported};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Gatus's default interval: an imported endpoint keeps its pace rather than take Watchpost's 5 s.
const GATUS_INTERVAL: &str = "1m";

/// Gatus's configuration `text` (YAML, read from `file`) as Watchpost's.
pub fn gatus(file: &str, text: &str) -> Result<Imported, String> {
    let tree = read_yaml(file, text)?;
    let Some(endpoints) = tree.get("endpoints").and_then(Value::as_array) else {
        return Err(format!("{file}: no `endpoints:` list: is this a Gatus configuration?"));
    };
    let mut dropped = Vec::new();
    for section in ["alerting", "storage", "web", "ui", "maintenance", "security", "external-endpoints", "remote", "connectivity"] {
        if tree.get(section).is_some() {
            dropped.push(format!("`{section}:` (Gatus's own settings; see the README for Watchpost's equivalents)"));
        }
    }
    let mut taken = BTreeSet::new();
    let mut entries = Vec::new();
    for (i, ep) in endpoints.iter().enumerate() {
        let name = ep.get("name").and_then(Value::as_str).unwrap_or_default();
        let origin = format!("endpoints[{i}] {name:?}");
        if ep.get("enabled").and_then(Value::as_bool) == Some(false) {
            dropped.push(format!("{origin}: disabled in Gatus (enabled: false)"));
            continue;
        }
        match endpoint(&origin, ep, &mut taken, &mut dropped) {
            Ok(mut e) => entries.append(&mut e),
            Err(why) => dropped.push(format!("{origin}: not imported ({why})")),
        }
    }
    Ok(finish(file, entries, dropped))
}

/// One Gatus endpoint: usually one entry; two when it asks for its domain's expiry.
fn endpoint(origin: &str, ep: &Value, taken: &mut BTreeSet<String>, dropped: &mut Vec<String>) -> Result<Vec<Entry>, String> {
    let name = ep.get("name").and_then(Value::as_str).ok_or("no name")?;
    let url = ep.get("url").and_then(Value::as_str).ok_or("no url")?;
    let group = ep.get("group").and_then(Value::as_str);
    let id = unique(slug(&group.map_or(name.to_string(), |g| format!("{g}-{name}")), "endpoint"), taken);
    let mut e = Entry::new(origin.to_string(), None);
    e.set("id", id.clone());
    e.set("name", name);
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let note = |what: &str, dropped: &mut Vec<String>| dropped.push(format!("{origin}: {what}"));
    match scheme {
        "http" | "https" => {
            e.set("url", url);
            if let Some(m) = ep.get("method").and_then(Value::as_str) {
                e.set("method", m);
            }
            if let Some(b) = ep.get("body").and_then(Value::as_str) {
                e.set("body", b);
            }
            if let Some(h) = ep.get("headers").and_then(Value::as_object) {
                let h: serde_json::Map<String, Value> = h.iter().map(|(k, v)| (k.clone(), Value::String(value_text(v)))).collect();
                e.set("headers", Value::Object(h));
            }
            if ep.get("graphql").and_then(Value::as_bool) == Some(true) {
                note("graphql: true (send the query as a JSON body: `body = '{\"query\": \"…\"}'` with a content-type header)", dropped);
            }
        }
        "tcp" => {
            e.set("type", "tcp");
            e.set("address", rest);
        }
        "icmp" => {
            e.set("type", "icmp");
            e.set("host", rest);
        }
        "tls" => {
            e.set("type", "tls");
            e.set("address", rest);
        }
        "starttls" => {
            e.set("type", "tls");
            e.set("address", rest);
            e.set("starttls", "smtp");
        }
        "ws" | "wss" => {
            e.set("type", "websocket");
            e.set("url", url);
            if let Some(b) = ep.get("body").and_then(Value::as_str) {
                e.set("send", b);
            }
        }
        "grpc" | "grpcs" => {
            e.set("type", "grpc");
            e.set("address", rest);
            if scheme == "grpcs" {
                e.set("tls", true);
            }
        }
        "" if ep.get("dns").is_some() => {
            let dns = &ep["dns"];
            e.set("type", "dns");
            e.set("server", url);
            e.set("query_name", dns.get("query-name").and_then(Value::as_str).ok_or("dns: no query-name")?.trim_end_matches('.'));
            if let Some(t) = dns.get("query-type").and_then(Value::as_str) {
                e.set("record_type", t);
            }
        }
        other => return Err(format!("{other}:// endpoints have no Watchpost probe type")),
    }
    if let Some(d) = ep.get("interval") {
        e.set("interval", duration(d).ok_or_else(|| format!("interval {d} is not a duration"))?);
    } else {
        e.set("interval", GATUS_INTERVAL);
    }
    if let Some(g) = group {
        e.set("component", slug(g, "group"));
    }
    if let Some(client) = ep.get("client") {
        if client.get("insecure").and_then(Value::as_bool) == Some(true) {
            e.set("tls_skip_verify", true);
        }
        if client.get("ignore-redirect").and_then(Value::as_bool) == Some(true) {
            e.set("follow_redirects", 0);
        }
        if let Some(t) = client.get("timeout").and_then(duration) {
            e.set("timeout", t);
        }
        for key in ["dns-resolver", "oauth2", "proxy-url", "identity-aware-proxy", "network", "tunnel"] {
            if client.get(key).is_some() {
                note(
                    &format!("client.{key} (no counterpart for a single endpoint; an oauth2 token belongs in a [[checks]] step)"),
                    dropped,
                );
            }
        }
    }
    // `[DOMAIN_EXPIRATION]` is about the URL's domain: Watchpost checks it with an endpoint of its own.
    let mut conditions = Vec::new();
    let mut domain = None;
    for c in ep.get("conditions").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if c.trim_start().starts_with("[DOMAIN_EXPIRATION]") {
            domain = Some(c.to_string());
        } else {
            conditions.push(Value::String(c.to_string()));
        }
    }
    if !conditions.is_empty() {
        e.set("conditions", Value::Array(conditions));
    }
    for key in ["alerts", "maintenance-windows", "ui", "ssh", "extra-labels"] {
        if ep.get(key).is_some() {
            note(&format!("`{key}:`"), dropped);
        }
    }
    let mut out = vec![e];
    if let Some(condition) = domain {
        let host = http::Uri::try_from(url).ok().and_then(|u| u.host().map(str::to_string)).unwrap_or_default();
        let labels: Vec<&str> = host.split('.').collect();
        if labels.len() >= 2 && host.parse::<std::net::IpAddr>().is_err() {
            // The last two labels: right for example.com, not for example.co.uk, hence the note.
            let registered = labels[labels.len() - 2..].join(".");
            let mut d = Entry::new(origin.to_string(), None);
            d.set("id", unique(format!("{id}-domain"), taken));
            d.set("name", format!("{name} (domain registration)"));
            d.set("type", "domain");
            d.set("domain", registered.clone());
            d.set("conditions", json!([condition]));
            if let Some(g) = group {
                d.set("component", slug(g, "group"));
            }
            note(&format!("{condition} became the domain endpoint `{id}-domain` for {registered} (check the registered name)"), dropped);
            out.push(d);
        } else {
            note(&format!("{condition} (the URL has no domain name)"), dropped);
        }
    }
    Ok(out)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
