//! The checks every section's validation shares: deserializing a section with every error reported at its
//! key path and line, tag-safe names, and secrets given inline or in a file. A leaf module: the sections
//! import it, it imports none of them.

use super::document::Document;
use super::error::ConfigErrors;
use super::secret::Secret;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How many errors one section may report before the rest of it is given up on.
const MAX_ERRORS_PER_SECTION: usize = 50;

/// Deserializes the value at `path`, mapping serde's errors to exact key paths and lines.
///
/// Why it retries: serde stops at the first error, so one mistyped key would hide every later one in the
/// table (and every semantic check of the entry). After each error the offending key is dropped from a copy
/// and the section read again, so every type error and unknown key is reported at once, and the section
/// still comes back (with defaults where keys were dropped) for the later checks. A required key that was
/// dropped ends it: the section is then `None`, with its errors already reported.
pub fn section<T: DeserializeOwned>(doc: &Document, path: &str, value: &Value, errors: &mut ConfigErrors) -> Option<T> {
    let mut value = std::borrow::Cow::Borrowed(value);
    let mut dropped: Vec<String> = Vec::new();
    for _ in 0..MAX_ERRORS_PER_SECTION {
        let e = match serde_path_to_error::deserialize::<_, T>(value.as_ref()) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let mut segments: Vec<serde_path_to_error::Segment> = e.path().iter().cloned().collect();
        let message = e.inner().to_string();
        if segments.is_empty() {
            // An internally tagged enum (`type = "…"` choosing the struct) reads its table whole, so serde
            // names no key for an error inside it: find the key whose removal changes the error.
            segments.extend(culprit::<T>(value.as_ref(), &message).into_iter().map(|key| serde_path_to_error::Segment::Map { key }));
        }
        let inner = segments_path(&segments);
        let mut full = path.to_string();
        if inner != "." {
            if !inner.starts_with('[') {
                full.push('.');
            }
            full.push_str(&inner);
        }
        // A key we dropped is now missing: that is the same error, already reported.
        if let Some(field) = message.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            if dropped.contains(&format!("{full}.{field}")) || dropped.contains(&full) {
                return None;
            }
        }
        let (full, message, drop) = match message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
            // serde names an unknown key in the message; point the line at that key itself.
            Some(field) => {
                let at_key = if full.ends_with(&format!(".{field}")) || full == field { full.clone() } else { format!("{full}.{field}") };
                let mut drop_at = segments.clone();
                if !matches!(segments.last(), Some(serde_path_to_error::Segment::Map { key }) if key == field) {
                    drop_at.push(serde_path_to_error::Segment::Map { key: field.to_string() });
                }
                (at_key, message.replacen("unknown field", "unknown key", 1), drop_at)
            }
            None => (full.clone(), plain_type_error(&message), segments),
        };
        errors.push(doc.error(&full, message));
        if !drop_key(value.to_mut(), &drop) {
            return None;
        }
        dropped.push(full);
    }
    None
}

/// The key path, within a table, whose removal changes serde's error `message`: the key the error is about
/// (descending into nested tables). Only for errors serde reports without a path; unknown keys and missing
/// ones already name theirs.
fn culprit<T: DeserializeOwned>(value: &Value, message: &str) -> Vec<String> {
    if message.starts_with("unknown field") || message.starts_with("missing field") || message.starts_with("unknown variant") {
        return vec![];
    }
    let changes = |without: &Value| match serde_json::from_value::<T>(without.clone()) {
        Err(e) => e.to_string() != message,
        Ok(_) => true,
    };
    let mut path: Vec<String> = Vec::new();
    loop {
        let Some(Value::Object(m)) = path.iter().try_fold(value, |v, k| v.get(k)) else { return path };
        let found = m.keys().filter(|k| !(path.is_empty() && k.as_str() == "type")).find(|k| {
            let mut without = value.clone();
            let parent = path.iter().try_fold(&mut without, |v, k| v.get_mut(k));
            if let Some(Value::Object(p)) = parent {
                p.remove(k.as_str());
            }
            changes(&without)
        });
        match found {
            Some(k) => path.push(k.clone()),
            None => return path,
        }
    }
}

/// `a.b[2].c`, as serde_path_to_error writes it, for a path we may have extended.
fn segments_path(segments: &[serde_path_to_error::Segment]) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            // The variant of a `type`-tagged table (see [`tagged`]) is not a key the user wrote.
            Segment::Enum { .. } => {}
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    if out.is_empty() {
        ".".to_string()
    } else {
        out
    }
}

/// Removes the key at `at` (the nearest key above an array index: items are not removed, which would shift
/// the indexes of later errors). False when there is no key to remove (the error is about the whole value).
fn drop_key(value: &mut Value, at: &[serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    let Some(last_key) = at.iter().rposition(|s| matches!(s, Segment::Map { .. })) else { return false };
    let mut node = value;
    for seg in &at[..last_key] {
        node = match (seg, node) {
            (Segment::Map { key }, Value::Object(m)) => match m.get_mut(key) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Seq { index }, Value::Array(items)) => match items.get_mut(*index) {
                Some(v) => v,
                None => return false,
            },
            // A `type`-tagged table is read as `{type: {keys}}` (see [`tagged`]); any other enum's variant
            // names no node of its own in the tree.
            (Segment::Enum { variant }, n) => {
                if matches!(&*n, Value::Object(m) if m.len() == 1 && m.contains_key(variant)) {
                    match n.get_mut(variant.as_str()) {
                        Some(v) => v,
                        None => return false,
                    }
                } else {
                    n
                }
            }
            _ => return false,
        };
    }
    match (&at[last_key], node) {
        (Segment::Map { key }, Value::Object(m)) => m.remove(key).is_some(),
        _ => false,
    }
}

/// serde's `invalid type: string "three", expected u32` (or `unknown variant`, `missing field`) in the words
/// of the configuration file.
fn plain_type_error(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        // "`mongo`, expected `sqlite` or `influxdb`": a `type` that names no implementation.
        if let Some((given, expected)) = rest.split_once(", expected ") {
            return format!("{given}: expected {}", expected.replace('`', ""));
        }
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("missing key {field}");
    }
    let Some(rest) = message.strip_prefix("invalid type: ") else { return message.to_string() };
    let Some((found, expected)) = rest.split_once(", expected ") else { return message.to_string() };
    let wanted = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "a string (in quotes)",
        "a sequence" => "a list ([…])",
        "a map" => "a table ({ … } or [section])",
        other if other.starts_with("struct ") || other.starts_with("a map") => "a table ({ … } or [section])",
        other => other,
    };
    let found =
        found.replacen("string ", "the string ", 1).replacen("integer ", "the number ", 1).replacen("floating point ", "the number ", 1);
    format!("this key wants {wanted}, not {found}")
}

/// Names that become tags: InfluxDB's portable character set plus `.`.
pub fn check_name(doc: &Document, path: &str, value: &str, errors: &mut ConfigErrors) {
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

/// A secret given inline (`key`) or in a file (`key_file`), never both. The file's content, trimmed of the
/// trailing newline editors add, is the secret.
pub fn secret_or_file(
    doc: &Document,
    key: &str,
    inline: Option<Secret>,
    file: Option<String>,
    errors: &mut ConfigErrors,
) -> Option<Secret> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            errors.push(doc.error(
                &format!("{key}_file"),
                format!("set `{}` or `{}_file`, not both", key.rsplit('.').next().unwrap_or(key), key.rsplit('.').next().unwrap_or(key)),
            ));
            None
        }
        (Some(s), None) => Some(s),
        (None, Some(path)) => match std::fs::read_to_string(doc.path(&path)) {
            Ok(text) => Some(Secret::new(text.trim_end_matches(['\n', '\r']))),
            Err(e) => {
                errors.push(doc.error(&format!("{key}_file"), format!("cannot read {path}: {e}")));
                None
            }
        },
        (None, None) => None,
    }
}

/// Two listeners that cannot both bind: the same port on the same address, or on any address when one of
/// them listens on all (`0.0.0.0`, `::`). Port 0 picks a free port, so it never clashes.
pub fn shares_port(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() == b.port() && a.port() != 0 && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// One table of a section being checked (`alerting.notifiers.pd`): errors at its keys, and the checks every
/// implementation's configuration needs. Each notifier's or publisher's file checks its own keys with it.
pub struct Table<'a> {
    pub doc: &'a Document,
    /// The table's key path.
    pub path: &'a str,
    pub errors: &'a mut ConfigErrors,
}

impl Table<'_> {
    /// The path of `key` in this table (`""`: the table itself).
    pub fn key(&self, key: &str) -> String {
        if key.is_empty() {
            self.path.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        let at = self.key(key);
        self.errors.push(self.doc.error(&at, message));
    }

    /// Whether an error about `key` is already reported (a key dropped for its type is not also missing).
    fn reported(&self, key: &str) -> bool {
        let at = self.key(key);
        self.errors.iter().any(|e| e.key == at || e.key.strip_prefix(at.as_str()).is_some_and(|r| r == "_file"))
    }

    /// A secret given as `key` or `key_file`; `None` (with an error) when neither is.
    pub fn required_secret(&mut self, key: &str, inline: Option<Secret>, file: Option<String>) -> Option<Secret> {
        let s = self.optional_secret(key, inline, file);
        if s.is_none() && !self.reported(key) {
            self.error("", format!("missing key `{key}` (or `{key}_file`)"));
        }
        s
    }

    /// A secret that may be left out.
    pub fn optional_secret(&mut self, key: &str, inline: Option<Secret>, file: Option<String>) -> Option<Secret> {
        let at = self.key(key);
        secret_or_file(self.doc, &at, inline, file, self.errors)
    }

    /// An absolute http(s) URL under `key`, without its trailing slash; `default` when it is left out (no
    /// default: a missing key is an error).
    pub fn url(&mut self, key: &str, given: Option<String>, default: Option<&str>) -> Option<String> {
        let Some(u) = given.or_else(|| default.map(str::to_string)) else {
            if !self.reported(key) {
                self.error("", format!("missing key `{key}`"));
            }
            return None;
        };
        match crate::http::parse_http_url(&u) {
            Ok(_) => Some(u.trim_end_matches('/').to_string()),
            Err(e) => {
                self.error(key, e);
                None
            }
        }
    }

    /// Reports that `key` is missing, with `message`, unless an error about it is already reported.
    pub fn missing(&mut self, key: &str, message: impl Into<String>) {
        if !self.reported(key) {
            self.error("", message);
        }
    }

    /// A string that must be given.
    pub fn required<T>(&mut self, key: &str, given: Option<T>) -> Option<T> {
        if given.is_none() && !self.reported(key) {
            self.error("", format!("missing key `{key}`"));
        }
        given
    }
}

/// The keys a serde struct reads, asked of the struct itself (its `deserialize_struct` field list), so that
/// splitting a table between a struct and a `type`'s keys needs no list kept by hand.
pub fn struct_keys<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Probe(std::cell::Cell<&'static [&'static str]>);
    impl<'de> de::Deserializer<'de> for &Probe {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.set(fields);
            Err(de::Error::custom("fields taken"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let probe = Probe(std::cell::Cell::new(&[]));
    let _ = T::deserialize(&probe);
    probe.0.get()
}

/// The keys of a table that are not among `keys`, copied (the document stays whole for its line lookups).
pub fn other_keys(value: &Value, keys: &[&str]) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(m) => m.iter().filter(|(k, _)| !keys.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => serde_json::Map::new(),
    }
}

/// Reads the keys of a `type`-tagged table at `path` (`type` and that type's keys, as `rest`) into `T`, an
/// enum with one variant per type whose fields are the type's keys; `default` when `type` is left out.
/// `common` names what every table of the kind has besides its type's keys (`"endpoint"`), for the message
/// of an unknown key. Returns the type's name with the value.
///
/// Why not serde's `#[serde(tag = "type")]`: an internally tagged enum buffers the table and loses the key
/// paths of its errors. The table is read as `{type: {keys}}` instead, an externally tagged enum, which
/// serde reads in place with every key path kept.
pub fn tagged<T: DeserializeOwned>(
    doc: &Document,
    path: &str,
    mut rest: serde_json::Map<String, Value>,
    default: Option<&str>,
    common: Option<&str>,
    errors: &mut ConfigErrors,
) -> Option<(String, T)> {
    let kind = match (rest.remove("type"), default) {
        (Some(Value::String(s)), _) => s,
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            errors.push(doc.error(path, "missing key `type`"));
            return None;
        }
        (Some(other), _) => {
            errors.push(doc.error(&format!("{path}.type"), format!("this key wants a string (in quotes), not {other}")));
            return None;
        }
    };
    let from = errors.len();
    let wrapped = Value::Object(std::iter::once((kind.clone(), Value::Object(rest))).collect());
    let parsed = section::<T>(doc, path, &wrapped, errors);
    for e in errors.0[from..].iter_mut() {
        if e.key == path && e.message.contains("`: expected ") {
            // An unknown variant is an unknown `type`.
            e.key = format!("{path}.type");
            e.origin = doc.origin(&e.key).cloned();
        } else if let Some((key, expected)) = e.message.strip_prefix("unknown key ").and_then(|r| r.split_once(", expected ")) {
            // Say which type takes which keys: a key of another type is the usual mistake.
            let takes = expected.trim_start_matches("one of ");
            let besides = common.map(|c| format!(", besides the keys every {c} has")).unwrap_or_default();
            e.message = format!("unknown key {key}; type {kind} takes {takes}{besides}");
        }
    }
    parsed.map(|t| (kind, t))
}
