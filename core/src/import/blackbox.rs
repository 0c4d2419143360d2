//! blackbox_exporter's `modules:` as `[modules.NAME]`, so the Prometheus scrape configuration that used
//! them keeps working against an agent's `/probe`.

use super::{duration, finish, read_yaml, Entry, Imported};
use serde_json::{json, Value};

/// blackbox_exporter's configuration `text` (YAML, read from `file`) as Watchpost's.
pub fn blackbox(file: &str, text: &str) -> Result<Imported, String> {
    let tree = read_yaml(file, text)?;
    let Some(modules) = tree.get("modules").and_then(Value::as_object) else {
        return Err(format!("{file}: no `modules:` map: is this a blackbox_exporter configuration?"));
    };
    let mut dropped = Vec::new();
    let mut entries = Vec::new();
    for (name, m) in modules {
        let origin = format!("modules.{name}");
        match module(&origin, name, m, &mut dropped) {
            Ok(e) => entries.push(e),
            Err(why) => dropped.push(format!("{origin}: not imported ({why})")),
        }
    }
    Ok(finish(file, entries, dropped))
}

fn module(origin: &str, name: &str, m: &Value, dropped: &mut Vec<String>) -> Result<Entry, String> {
    let prober = m.get("prober").and_then(Value::as_str).ok_or("no prober")?;
    let mut e = Entry::new(origin.to_string(), Some(name.to_string()));
    let mut note = |what: String| dropped.push(format!("{origin}: {what}"));
    if let Some(t) = m.get("timeout") {
        e.set("timeout", duration(t).ok_or_else(|| format!("timeout {t} is not a duration"))?);
    }
    let mut assertions: Vec<Value> = Vec::new();
    let settings = m.get(prober).cloned().unwrap_or(Value::Null);
    // What this prober's settings say that Watchpost does not; each is noted by name.
    let mut known: Vec<&str> = vec!["preferred_ip_protocol", "ip_protocol_fallback"];
    match prober {
        "http" => {
            known.extend([
                "valid_status_codes",
                "method",
                "headers",
                "body",
                "no_follow_redirects",
                "follow_redirects",
                "tls_config",
                "fail_if_body_not_matches_regexp",
                "enable_http2",
                "compression",
            ]);
            let codes: Vec<Value> = settings.get("valid_status_codes").and_then(Value::as_array).cloned().unwrap_or_default();
            if !codes.is_empty() {
                assertions.push(json!({ "status": codes }));
            }
            if let Some(v) = settings.get("method").and_then(Value::as_str) {
                e.set("method", v);
            }
            if let Some(h) = settings.get("headers").and_then(Value::as_object) {
                e.set("headers", Value::Object(h.clone()));
            }
            if let Some(b) = settings.get("body").and_then(Value::as_str) {
                e.set("body", b);
            }
            let no_follow = settings.get("no_follow_redirects").and_then(Value::as_bool) == Some(true)
                || settings.get("follow_redirects").and_then(Value::as_bool) == Some(false);
            if no_follow {
                e.set("follow_redirects", 0);
            }
            if settings.get("enable_http2").and_then(Value::as_bool) == Some(false) {
                e.set("http2", false);
            }
            for re in settings.get("fail_if_body_not_matches_regexp").and_then(Value::as_array).into_iter().flatten() {
                if let Some(re) = re.as_str() {
                    assertions.push(json!({ "body_matches": re }));
                }
            }
            tls(&mut e, settings.get("tls_config"), false, &mut note);
        }
        "tcp" => {
            known.extend(["query_response", "tls", "tls_config"]);
            let steps = settings.get("query_response").and_then(Value::as_array).cloned().unwrap_or_default();
            let tls_on = settings.get("tls").and_then(Value::as_bool) == Some(true);
            if tls_on && steps.is_empty() {
                e.set("type", "tls");
                tls(&mut e, settings.get("tls_config"), true, &mut note);
            } else {
                if tls_on {
                    note("tcp with tls and query_response (a tls endpoint handshakes, a tcp one exchanges text; not both)".into());
                }
                e.set("type", "tcp");
                let (mut send, mut expect) = (None, None);
                for (i, s) in steps.iter().enumerate() {
                    match (s.get("send").and_then(Value::as_str), s.get("expect").and_then(Value::as_str)) {
                        (Some(v), None) if send.is_none() && expect.is_none() => send = Some(v.to_string()),
                        (None, Some(v)) if expect.is_none() => expect = Some(v.to_string()),
                        _ => note(format!("query_response[{i}] (a tcp endpoint sends once and checks the first reply)")),
                    }
                }
                if let Some(s) = send {
                    e.set("send", s);
                }
                if let Some(x) = expect {
                    // blackbox's `expect` is a regular expression; the reply must match it.
                    assertions.push(json!({ "body_matches": x }));
                }
            }
        }
        "icmp" => {
            known.extend(["payload_size"]);
            e.set("type", "icmp");
            if let Some(n) = settings.get("payload_size").and_then(Value::as_u64) {
                e.set("size", n);
            }
        }
        "dns" => {
            known.extend(["query_name", "query_type", "transport_protocol", "valid_rcodes", "recursion_desired"]);
            e.set("type", "dns");
            e.set("query_name", settings.get("query_name").and_then(Value::as_str).ok_or("dns: no query_name")?.trim_end_matches('.'));
            if let Some(t) = settings.get("query_type").and_then(Value::as_str) {
                e.set("record_type", t);
            }
            if let Some(t) = settings.get("transport_protocol").and_then(Value::as_str) {
                e.set("transport", t);
            }
            if let Some(r) = settings.get("recursion_desired").and_then(Value::as_bool) {
                e.set("recursion_desired", r);
            }
            if let Some(codes) = settings.get("valid_rcodes").and_then(Value::as_array) {
                assertions.push(json!({ "rcode": codes }));
            }
        }
        "grpc" => {
            known.extend(["service", "tls", "tls_config"]);
            e.set("type", "grpc");
            if let Some(s) = settings.get("service").and_then(Value::as_str) {
                e.set("service", s);
            }
            if settings.get("tls").and_then(Value::as_bool) == Some(true) {
                e.set("tls", true);
                tls(&mut e, settings.get("tls_config"), true, &mut note);
            }
        }
        other => return Err(format!("prober {other} has no Watchpost counterpart")),
    }
    if let Some(ip) = settings.get("preferred_ip_protocol").and_then(Value::as_str) {
        if prober == "icmp" {
            e.set("ip_protocol", ip);
        } else {
            note(format!("preferred_ip_protocol: {ip} (only icmp endpoints choose; others use the name's first address)"));
        }
    }
    for key in settings.as_object().into_iter().flat_map(|o| o.keys()) {
        if !known.contains(&key.as_str()) {
            note(format!("{prober}.{key}"));
        }
    }
    if !assertions.is_empty() {
        e.set("assert", Value::Array(assertions));
    }
    Ok(e)
}

/// blackbox's `tls_config` (Prometheus's common TLS settings).
fn tls(e: &mut Entry, config: Option<&Value>, server_name: bool, note: &mut impl FnMut(String)) {
    let Some(c) = config.and_then(Value::as_object) else { return };
    for (k, v) in c {
        match (k.as_str(), v) {
            ("insecure_skip_verify", Value::Bool(true)) => e.set("tls_skip_verify", true),
            ("insecure_skip_verify", _) => {}
            ("ca_file", Value::String(f)) => e.set("tls_ca_file", f.as_str()),
            ("cert_file", Value::String(f)) => e.set("tls_cert_file", f.as_str()),
            ("key_file", Value::String(f)) => e.set("tls_key_file", f.as_str()),
            ("server_name", Value::String(s)) if server_name => e.set("server_name", s.as_str()),
            _ => note(format!("tls_config.{k}")),
        }
    }
}
