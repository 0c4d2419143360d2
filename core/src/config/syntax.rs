//! The two syntaxes, TOML and YAML, read into one tree with the line of every key path. A leaf: the
//! document builds on it, it knows nothing of the document.

use super::error::{ConfigError, ConfigErrors, Origin};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The line of every key path. FNV rather than the default SipHash: a large fleet's file has a million key
/// paths, all written by the operator (no hash flooding to defend against), and hashing them was a tenth of
/// the load.
pub(super) type Origins = HashMap<String, Origin, std::hash::BuildHasherDefault<Fnv>>;

/// FNV-1a, 64 bit.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Byte offset → 1-based line, by binary search over the offsets of the newlines. Why not count newlines up
/// to each offset: that is quadratic, and a 20,000-endpoint file took 21 s to load.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        Lines(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i).collect())
    }

    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

pub(super) fn parse_toml(file: &str, text: &str) -> Result<(Value, Origins), ConfigErrors> {
    let lines = Lines::new(text);
    let error = |line: Option<usize>, message: String| ConfigError {
        file: file.to_string(),
        origin: line.map(Origin::Line),
        key: String::new(),
        message,
    };
    // One parse that keeps the span of every key and value; the tree and the lines are built from it in one
    // walk. (Parsing a second time into `toml::Table` for its value conversions cost a fifth of the load.)
    let spanned = toml::de::DeTable::parse(text)
        .map_err(|e| ConfigErrors::one(error(e.span().map(|s| lines.of(s.start)), format!("TOML syntax error: {}", e.message().trim()))))?;
    // About one key per line: sized once rather than grown by rehashing a hundred thousand keys.
    let mut walk =
        TomlWalk { lines: &lines, origins: Origins::with_capacity_and_hasher(lines.0.len() + 1, Default::default()), errors: Vec::new() };
    let tree = walk.table(spanned.get_ref(), "");
    if !walk.errors.is_empty() {
        return Err(ConfigErrors(walk.errors.into_iter().map(|(line, message)| error(Some(line), message)).collect()));
    }
    Ok((tree, walk.origins))
}

/// The TOML document as the tree every later phase reads, with the line of every key path.
struct TomlWalk<'a> {
    lines: &'a Lines,
    origins: Origins,
    errors: Vec<(usize, String)>,
}

impl TomlWalk<'_> {
    fn table(&mut self, table: &toml::de::DeTable<'_>, prefix: &str) -> Value {
        let mut out = Map::new();
        for (key, value) in table.iter() {
            let name = key.get_ref();
            let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
            let v = self.value(value, &path);
            self.origins.insert(path, Origin::Line(self.lines.of(key.span().start)));
            out.insert(name.to_string(), v);
        }
        Value::Object(out)
    }

    fn value(&mut self, value: &toml::Spanned<toml::de::DeValue<'_>>, path: &str) -> Value {
        use toml::de::DeValue;
        match value.get_ref() {
            DeValue::String(s) => Value::String(s.to_string()),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Value::from(n),
                Err(_) => {
                    self.errors.push((self.lines.of(value.span().start), format!("{path}: the integer {} is out of range", i.as_str())));
                    Value::Null
                }
            },
            // Infinity and NaN have no JSON form: null, which every typed key then refuses by name.
            DeValue::Float(f) => f.as_str().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number),
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Datetime(d) => Value::String(d.to_string()),
            DeValue::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let p = format!("{path}[{i}]");
                        let v = self.value(item, &p);
                        self.origins.insert(p, Origin::Line(self.lines.of(item.span().start)));
                        v
                    })
                    .collect(),
            ),
            DeValue::Table(t) => self.table(t, path),
        }
    }
}

pub(super) fn parse_yaml(file: &str, text: &str) -> Result<(Value, Origins), ConfigErrors> {
    use saphyr::LoadableYamlNode;
    let error = |line: Option<usize>, key: &str, message: String| ConfigError {
        file: file.to_string(),
        origin: line.map(Origin::Line),
        key: key.to_string(),
        message,
    };
    let docs = saphyr::MarkedYaml::load_from_str(text)
        .map_err(|e| ConfigErrors::one(error(Some(e.marker().line()), "", format!("YAML syntax error: {}", e.info()))))?;
    let mut origins = Origins::default();
    let mut errors = ConfigErrors::default();
    let tree = match docs.as_slice() {
        [] => Value::Object(Map::new()),
        [root] => yaml_to_json(root, String::new(), &mut origins, &mut |line, key, msg| errors.push(error(line, key, msg))),
        [_, second, ..] => {
            let line = second.span.start.line();
            return Err(ConfigErrors::one(error(Some(line), "", "a configuration file holds one YAML document; remove the `---`".into())));
        }
    };
    errors.into_result((tree, origins))
}

fn yaml_to_json(
    node: &saphyr::MarkedYaml<'_>,
    path: String,
    origins: &mut Origins,
    fail: &mut dyn FnMut(Option<usize>, &str, String),
) -> Value {
    use saphyr::{Scalar, YamlData};
    let line = node.span.start.line();
    match &node.data {
        YamlData::Value(Scalar::Null) => Value::Null,
        YamlData::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        YamlData::Value(Scalar::Integer(i)) => Value::from(*i),
        YamlData::Value(Scalar::FloatingPoint(f)) => serde_json::Number::from_f64(f.into_inner()).map(Value::Number).unwrap_or(Value::Null),
        YamlData::Value(Scalar::String(s)) | YamlData::Representation(s, ..) => Value::String(s.to_string()),
        YamlData::Tagged(_, inner) => yaml_to_json(inner, path, origins, fail),
        YamlData::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let p = format!("{path}[{i}]");
                    origins.insert(p.clone(), Origin::Line(item.span.start.line()));
                    yaml_to_json(item, p, origins, fail)
                })
                .collect(),
        ),
        YamlData::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) | YamlData::Representation(s, ..) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    _ => {
                        fail(Some(k.span.start.line()), &path, "a key must be a plain string".into());
                        continue;
                    }
                };
                let p = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                origins.insert(p.clone(), Origin::Line(k.span.start.line()));
                let value = yaml_to_json(v, p, origins, fail);
                out.insert(key, value);
            }
            Value::Object(out)
        }
        // The loader replaces every alias with a copy of its anchor; one left here names no anchor.
        YamlData::Alias(_) => {
            fail(Some(line), &path, "YAML alias to an unknown anchor".into());
            Value::Null
        }
        YamlData::BadValue => {
            fail(Some(line), &path, "invalid YAML value".into());
            Value::Null
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_found_by_offset() {
        let lines = Lines::new("a\nbc\n\nd");
        assert_eq!([0, 1, 2, 3, 4, 5, 6, 99].map(|o| lines.of(o)), [1, 1, 2, 2, 2, 3, 4, 4]);
    }
}
