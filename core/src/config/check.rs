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
pub(crate) fn section<T: DeserializeOwned>(doc: &Document, path: &str, value: &Value, errors: &mut ConfigErrors) -> Option<T> {
    let mut value = std::borrow::Cow::Borrowed(value);
    let mut dropped: Vec<String> = Vec::new();
    for _ in 0..MAX_ERRORS_PER_SECTION {
        let e = match serde_path_to_error::deserialize::<_, T>(value.as_ref()) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let segments: Vec<serde_path_to_error::Segment> = e.path().iter().cloned().collect();
        let inner = e.path().to_string();
        let mut full = path.to_string();
        if inner != "." {
            if !inner.starts_with('[') {
                full.push('.');
            }
            full.push_str(&inner);
        }
        let message = e.into_inner().to_string();
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
            // An enum's variant names no node of its own in the tree.
            (Segment::Enum { .. }, n) => n,
            _ => return false,
        };
    }
    match (&at[last_key], node) {
        (Segment::Map { key }, Value::Object(m)) => m.remove(key).is_some(),
        _ => false,
    }
}

/// serde's `invalid type: string "three", expected u32` in the words of the configuration file.
fn plain_type_error(message: &str) -> String {
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
pub(crate) fn check_name(doc: &Document, path: &str, value: &str, errors: &mut ConfigErrors) {
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
pub(crate) fn secret_or_file(
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
