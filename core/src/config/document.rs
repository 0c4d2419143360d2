//! The configuration document before it is typed: a JSON-like tree plus, for every key path, where the value
//! came from (a line of the file, or an environment variable).
//!
//! Why a tree first: environment overrides (`WATCHPOST__AGENT__REGION`) and `${ENV_VAR}` interpolation apply
//! the same way whatever the file format, and every later error (type errors from serde, semantic errors
//! from validation) can be mapped back to a line by its key path.

pub use super::error::Origin;
use super::error::{ConfigError, ConfigErrors};
pub(crate) use super::syntax::Fnv;
use super::syntax::{parse_toml, parse_yaml, Origins};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The parsed, merged, interpolated document.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    pub tree: Value,
    origins: Origins,
    /// Every value taken from the environment (`${NAME}` and `WATCHPOST__…` overrides), to be masked
    /// wherever results are shown ([`super::Masks`]).
    pub from_env: Vec<String>,
    /// The directory relative paths in the file (`store.path`, the spool, the state database, `*_file`)
    /// resolve against: the file's own, so a configuration means the same from any working directory.
    /// `None` (text given without a file): the working directory.
    pub base: Option<PathBuf>,
}

/// The file formats Watchpost reads, chosen by extension. Both yield the same tree and the same key paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    /// YAML 1.2 through `saphyr`, which keeps the position of every node, keys included.
    Yaml,
}

impl Format {
    pub fn from_path(path: &Path) -> Result<Self, String> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Ok(Format::Toml),
            Some("yaml") | Some("yml") => Ok(Format::Yaml),
            _ => Err("unknown configuration format: the file name must end in .toml, .yaml or .yml".into()),
        }
    }
}

/// The largest configuration file read. Why a limit: the file is held three times over while it is parsed
/// (text, spans, tree); 100,000 endpoints take about 11 MiB, so 64 MiB is far beyond any real fleet and far
/// below what would hurt the machine.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

fn read_limited(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| format!("cannot read the configuration file: {e}"))?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "the configuration file is {} MiB, more than the {} MiB Watchpost reads; split the fleet across agents",
            size >> 20,
            MAX_FILE_BYTES >> 20
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the configuration file: {e}"))
}

impl Document {
    /// Reads and parses the file at `path` with the process environment; relative paths in it resolve
    /// against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// As [`Document::load`], with the environment given explicitly (tests).
    pub fn load_with_env(path: &Path, env: &HashMap<String, String>) -> Result<Self, ConfigErrors> {
        let file = path.display().to_string();
        let file_error = |message: String| ConfigErrors::one(ConfigError { file: file.clone(), origin: None, key: String::new(), message });
        let format = Format::from_path(path).map_err(file_error)?;
        let text = read_limited(path).map_err(file_error)?;
        let mut doc = Document::parse(&file, format, &text, env)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        doc.base = Some(std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()));
        Ok(doc)
    }

    /// Parses `text` (named `file` in errors), then applies environment overrides from `env` and `${VAR}`
    /// interpolation. `env` is passed in, not read from the process, so that tests are hermetic.
    pub fn parse(file: &str, format: Format, text: &str, env: &HashMap<String, String>) -> Result<Self, ConfigErrors> {
        let (tree, origins) = match format {
            Format::Toml => parse_toml(file, text)?,
            Format::Yaml => parse_yaml(file, text)?,
        };
        let mut doc = Document { file: file.to_string(), tree, origins, from_env: Vec::new(), base: None };
        let mut errors = ConfigErrors::default();
        doc.apply_env_overrides(env, &mut errors);
        doc.interpolate(env, &mut errors);
        errors.into_result(doc)
    }

    /// The tree of `text` as written: no environment overrides, `${VAR}` left as text (another tool's file
    /// being imported, whose variables are for the configuration it becomes).
    pub fn parse_plain(file: &str, format: Format, text: &str) -> Result<Self, ConfigErrors> {
        let (tree, origins) = match format {
            Format::Toml => parse_toml(file, text)?,
            Format::Yaml => parse_yaml(file, text)?,
        };
        Ok(Document { file: file.to_string(), tree, origins, from_env: Vec::new(), base: None })
    }

    /// A path written in the file (or a default), resolved against [`Document::base`].
    pub fn path(&self, written: &str) -> PathBuf {
        match &self.base {
            Some(base) if Path::new(written).is_relative() => base.join(written),
            _ => PathBuf::from(written),
        }
    }

    /// Where `path` (e.g. `endpoints[3].timeout`) came from; falls back to the nearest parent that is known.
    pub fn origin(&self, path: &str) -> Option<&Origin> {
        let mut p = path;
        loop {
            if let Some(o) = self.origins.get(p) {
                return Some(o);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// An error at `path` with its line or environment variable filled in.
    pub fn error(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError { file: self.file.clone(), origin: self.origin(path).cloned(), key: path.to_string(), message: message.into() }
    }

    /// `WATCHPOST__SECTION__KEY=value` replaces (or adds) `section.key`. A numeric segment indexes an array
    /// (`WATCHPOST__ENDPOINTS__0__URL`). The value keeps the type of what it replaces when that was a string;
    /// otherwise `true`/`false` and numbers are read as such.
    fn apply_env_overrides(&mut self, env: &HashMap<String, String>, errors: &mut ConfigErrors) {
        let mut vars: Vec<(&String, &String)> = env.iter().filter(|(k, _)| k.starts_with("WATCHPOST__")).collect();
        vars.sort();
        for (name, raw) in vars {
            let segments: Vec<String> = name["WATCHPOST__".len()..].split("__").map(|s| s.to_ascii_lowercase()).collect();
            if segments.iter().any(|s| s.is_empty()) {
                errors.push(ConfigError::env(name, "malformed override: segments are separated by exactly two underscores"));
                continue;
            }
            let mut path = String::new();
            match slot(&mut self.tree, &segments, &mut path) {
                Ok(node) => {
                    self.from_env.push(raw.clone());
                    let keep_string = matches!(node, Value::String(_));
                    *node = if keep_string { Value::String(raw.clone()) } else { guess_scalar(raw) };
                }
                Err(msg) => {
                    errors.push(ConfigError::env(name, msg));
                    continue;
                }
            }
            self.origins.insert(path, Origin::Env(name.clone()));
        }
    }

    /// Replaces `${NAME}` in every string with the environment variable's value; `$${` writes a literal `${`.
    fn interpolate(&mut self, env: &HashMap<String, String>, errors: &mut ConfigErrors) {
        let mut found = Vec::new();
        let from_env = &mut self.from_env;
        walk_strings(&mut self.tree, String::new(), &mut |path, s| match interpolate_str(s, env, from_env) {
            Ok(Some(new)) => *s = new,
            Ok(None) => {}
            Err(msg) => found.push((path.to_string(), msg)),
        });
        for (path, msg) in found {
            errors.push(self.error(&path, msg));
        }
    }
}

/// The value at `segments` below `node`, created (as null, or as tables on the way) when missing. Numeric
/// segments index existing array items; `path` is filled with the key path walked.
fn slot<'a>(node: &'a mut Value, segments: &[String], path: &mut String) -> Result<&'a mut Value, String> {
    let Some((seg, rest)) = segments.split_first() else { return Ok(node) };
    let next = match node {
        Value::Array(items) => {
            let len = items.len();
            path.push_str(&format!("[{seg}]"));
            let idx: usize = seg.parse().map_err(|_| format!("`{path}` indexes an array: use a number"))?;
            items.get_mut(idx).ok_or_else(|| format!("{path} does not exist: the array has {len} entries"))?
        }
        Value::Object(map) => {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(seg);
            let default = if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) };
            map.entry(seg.clone()).or_insert(default)
        }
        _ => return Err(format!("cannot set a key inside `{path}`, which is not a table")),
    };
    slot(next, rest, path)
}

fn guess_scalar(raw: &str) -> Value {
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => {
            if let Ok(i) = raw.parse::<i64>() {
                Value::from(i)
            } else if let Ok(f) = raw.parse::<f64>() {
                serde_json::Number::from_f64(f).map(Value::Number).unwrap_or_else(|| Value::String(raw.into()))
            } else {
                Value::String(raw.into())
            }
        }
    }
}

fn walk_strings(v: &mut Value, path: String, f: &mut dyn FnMut(&str, &mut String)) {
    match v {
        Value::String(s) => f(&path, s),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk_strings(item, format!("{path}[{i}]"), f);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk_strings(item, p, f);
            }
        }
        _ => {}
    }
}

/// `Ok(None)` when the string has nothing to interpolate.
fn interpolate_str(s: &str, env: &HashMap<String, String>, used: &mut Vec<String>) -> Result<Option<String>, String> {
    if !s.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            // `$${` is an escaped literal `${`.
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after.find('}').ok_or_else(|| format!("unterminated `${{` in {s:?}"))?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid environment variable name {name:?} in `${{…}}`"));
        }
        let value = env.get(name).ok_or_else(|| format!("environment variable `{name}` is not set (referenced as `${{{name}}}`)"))?;
        out.push_str(value);
        used.push(value.clone());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn records_lines_of_nested_keys_and_array_items() {
        let text = "[agent]\nregion = \"eu\"\n\n[[endpoints]]\nid = \"a\"\n\n[[endpoints]]\nid = \"b\"\ntimeout = \"1s\"\n";
        let doc = Document::parse("c.toml", Format::Toml, text, &HashMap::new()).unwrap();
        assert_eq!(doc.origin("agent.region"), Some(&Origin::Line(2)));
        assert_eq!(doc.origin("endpoints[1].timeout"), Some(&Origin::Line(9)));
        // Unknown leaf falls back to its parent.
        assert_eq!(doc.origin("endpoints[1].nope"), Some(&Origin::Line(7)));
    }

    #[test]
    fn env_overrides_replace_and_add_keys() {
        let text = "[agent]\nregion = \"eu\"\n[[endpoints]]\nid = \"a\"\n";
        let e =
            env(&[("WATCHPOST__AGENT__REGION", "us"), ("WATCHPOST__AGENT__FAILURE_THRESHOLD", "5"), ("WATCHPOST__ENDPOINTS__0__ID", "b")]);
        let doc = Document::parse("c.toml", Format::Toml, text, &e).unwrap();
        assert_eq!(doc.tree["agent"]["region"], "us");
        assert_eq!(doc.tree["agent"]["failure_threshold"], 5);
        assert_eq!(doc.tree["endpoints"][0]["id"], "b");
        assert_eq!(doc.origin("agent.region"), Some(&Origin::Env("WATCHPOST__AGENT__REGION".into())));
    }

    #[test]
    fn env_override_into_missing_array_item_is_an_error() {
        let e = env(&[("WATCHPOST__ENDPOINTS__3__ID", "x")]);
        let err = Document::parse("c.toml", Format::Toml, "endpoints = []\n", &e).unwrap_err();
        assert!(err.to_string().contains("WATCHPOST__ENDPOINTS__3__ID"), "{err}");
    }

    #[test]
    fn interpolates_and_escapes() {
        let text = "a = \"Bearer ${TOKEN}\"\nb = \"$${LITERAL}\"\n";
        let doc = Document::parse("c.toml", Format::Toml, text, &env(&[("TOKEN", "t0k")])).unwrap();
        assert_eq!(doc.tree["a"], "Bearer t0k");
        assert_eq!(doc.tree["b"], "${LITERAL}");
    }

    #[test]
    fn missing_variable_names_key_and_line() {
        let err = Document::parse("c.toml", Format::Toml, "\n[store]\ntoken = \"${NOPE}\"\n", &HashMap::new()).unwrap_err();
        let s = err.to_string();
        assert!(s.contains("c.toml:3") && s.contains("store.token") && s.contains("NOPE"), "{s}");
    }

    #[test]
    fn yaml_gives_the_same_tree_and_lines() {
        let text = "agent:\n  region: eu\nendpoints:\n  - id: a\n  - id: b\n    timeout: 1s\n    tries: 3\n";
        let doc = Document::parse("c.yaml", Format::Yaml, text, &HashMap::new()).unwrap();
        assert_eq!(doc.tree["agent"]["region"], "eu");
        assert_eq!(doc.tree["endpoints"][1]["tries"], 3);
        assert_eq!(doc.origin("agent.region"), Some(&Origin::Line(2)));
        assert_eq!(doc.origin("endpoints[1].timeout"), Some(&Origin::Line(6)));
        assert_eq!(doc.origin("endpoints[1]"), Some(&Origin::Line(5)));
    }

    #[test]
    fn yaml_aliases_resolve_and_syntax_errors_have_lines() {
        let doc = Document::parse("c.yaml", Format::Yaml, "a: &x 1s\nb: *x\n", &HashMap::new()).unwrap();
        assert_eq!(doc.tree["b"], "1s");
        let err = Document::parse("c.yaml", Format::Yaml, "a: 1\nb: [1, 2\n", &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("YAML syntax error"), "{err}");
        assert!(err.0[0].line().is_some(), "{err}");
    }

    #[test]
    fn syntax_error_has_line() {
        let err = Document::parse("c.toml", Format::Toml, "a = 1\nb = \n", &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("c.toml:2"), "{err}");
    }
}
