//! `watchpost import gatus|blackbox FILE`: another tool's configuration as a Watchpost one, with a list of
//! what could not be carried over.
//!
//! Each importer reads the other tool's file into [`Entry`]s (tables of keys, in order) and notes what it
//! leaves out. The result is then checked the way `check-config` checks a file: an entry or a condition
//! that Watchpost would refuse is removed and noted with the reason, so what is written always loads.

mod blackbox;
mod gatus;

use crate::config::{Config, Format};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;

pub use blackbox::blackbox;
pub use gatus::gatus;

/// An imported configuration: the TOML text and what did not come across.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    /// One line each: where it was in the source, what it was, why it was left out.
    pub dropped: Vec<String>,
    /// How many endpoints (or modules) were written.
    pub written: usize,
}

/// One table to write: `[[endpoints]]` or `[modules.NAME]`.
#[derive(Debug, Clone)]
struct Entry {
    /// Where it came from (`endpoints[3] "website"`), for notes.
    origin: String,
    /// `None`: an `[[endpoints]]` item; `Some(name)`: `[modules.NAME]`.
    module: Option<String>,
    keys: Vec<(String, Value)>,
}

impl Entry {
    fn new(origin: String, module: Option<String>) -> Entry {
        Entry { origin, module, keys: Vec::new() }
    }

    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.keys.push((key.to_string(), value.into()));
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.keys.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Renders the entries, then removes what Watchpost refuses (re-checking until it loads) and notes why.
fn finish(source: &str, mut entries: Vec<Entry>, mut dropped: Vec<String>) -> Imported {
    // Each round removes at least one thing, so this ends; the bound is a guard.
    for _ in 0..=entries.iter().map(|e| e.keys.len() + 1).sum::<usize>() {
        let text = render(source, &entries, &dropped);
        let env: HashMap<String, String> = variables(&text).into_iter().map(|v| (v, "imported-placeholder-value".into())).collect();
        let errors = match Config::from_str_with_env("imported.toml", Format::Toml, &text, &env) {
            Ok(_) => return Imported { toml: text, written: entries.len(), dropped },
            Err(e) => e,
        };
        let mut removed_any = false;
        for e in errors.0.iter().rev() {
            let Some((index, rest)) = locate(&e.key, &entries) else { continue };
            let origin = entries[index].origin.clone();
            // A Gatus condition Watchpost cannot check: drop that condition only.
            let condition = rest.strip_prefix("conditions[").and_then(|r| r.split(']').next()).and_then(|i| i.parse::<usize>().ok());
            if let (Some(i), Some(Value::Array(list))) = (condition, entries[index].get_mut("conditions")) {
                if i < list.len() {
                    let gone = list.remove(i);
                    dropped.push(format!("{origin}: condition {gone} ({})", e.message));
                    removed_any = true;
                    continue;
                }
            }
            // A key Watchpost refuses: drop that key, keep the entry.
            let top = rest.split(['.', '[']).next().unwrap_or_default().to_string();
            if let Some(at) = entries[index].keys.iter().position(|(k, _)| *k == top).filter(|_| !top.is_empty() && top != "id") {
                let (k, v) = entries[index].keys.remove(at);
                dropped.push(format!("{origin}: {k} = {v} ({})", e.message));
                removed_any = true;
                continue;
            }
            if index < entries.len() {
                entries.remove(index);
                dropped.push(format!("{origin}: not imported ({}: {})", if rest.is_empty() { "entry" } else { rest.as_str() }, e.message));
                removed_any = true;
                break; // indexes shifted: check again
            }
        }
        if !removed_any {
            // An error no entry explains (should not happen): report it rather than loop.
            dropped.push(format!("the imported configuration does not load: {errors}"));
            return Imported { toml: render(source, &entries, &dropped), written: entries.len(), dropped };
        }
    }
    Imported { toml: render(source, &entries, &dropped), written: entries.len(), dropped }
}

/// The entry an error's key path points into (`endpoints[2].url`, `modules.http_2xx.timeout`), and the
/// rest of the path.
fn locate(key: &str, entries: &[Entry]) -> Option<(usize, String)> {
    if let Some(rest) = key.strip_prefix("endpoints[") {
        let (i, rest) = rest.split_once(']')?;
        let i: usize = i.parse().ok()?;
        let endpoints: Vec<usize> = entries.iter().enumerate().filter(|(_, e)| e.module.is_none()).map(|(i, _)| i).collect();
        return endpoints.get(i).map(|&at| (at, rest.trim_start_matches('.').to_string()));
    }
    let rest = key.strip_prefix("modules.")?;
    let (name, rest) = rest.split_once('.').unwrap_or((rest, ""));
    entries.iter().position(|e| e.module.as_deref() == Some(name)).map(|at| (at, rest.to_string()))
}

/// `${NAME}` references in `text`.
fn variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) => {
                let name = &after[..j];
                let name = name.split_once(":-").map_or(name, |(n, _)| n);
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.push(name.to_string());
                }
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

fn render(source: &str, entries: &[Entry], dropped: &[String]) -> String {
    let mut out = format!("# Imported by `watchpost import` from {source}.\n");
    if dropped.is_empty() {
        out.push_str("# Everything was carried over.\n");
    } else {
        out.push_str("# Check by hand (not carried over, or carried over differently):\n");
        for d in dropped {
            let _ = writeln!(out, "#   - {}", d.replace('\n', " "));
        }
    }
    for e in entries {
        out.push('\n');
        match &e.module {
            None => out.push_str("[[endpoints]]\n"),
            Some(name) => {
                let _ = writeln!(out, "[modules.{}]", key(name));
            }
        }
        for (k, v) in &e.keys {
            let _ = writeln!(out, "{} = {}", key(k), value(v));
        }
    }
    out
}

fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        string(k)
    }
}

/// A TOML basic string: JSON's escapes are TOML's.
fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn value(v: &Value) -> String {
    match v {
        Value::String(s) => string(s),
        Value::Array(items) => format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            format!("{{ {} }}", m.iter().map(|(k, v)| format!("{} = {}", key(k), value(v))).collect::<Vec<_>>().join(", "))
        }
        // TOML has no null: never produced by the importers.
        Value::Null => "\"\"".into(),
        other => other.to_string(),
    }
}

/// An id from another tool's name: lower case, letters, digits, `-` and `_`; `fallback` when nothing is left.
fn slug(name: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        fallback.to_string()
    } else {
        out
    }
}

/// `name`, or `name-2`, `name-3`… when taken.
fn unique(name: String, taken: &mut std::collections::BTreeSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    candidate
}

/// The tree of a YAML file, `${VAR}` kept as text.
fn read_yaml(file: &str, text: &str) -> Result<Value, String> {
    crate::config::Document::parse_plain(file, Format::Yaml, text).map(|d| d.tree).map_err(|e| e.to_string())
}

/// A duration as another tool writes it (`30s`, `1m30s`, `500ms`, a number of seconds) in Watchpost's form.
fn duration(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_f64().map(|s| format!("{}ms", (s * 1000.0).round() as u64)),
        Value::String(s) => crate::config::parse_duration(s.trim()).ok().map(crate::config::format_duration),
        _ => None,
    }
}
