//! Validates JSON values against a schema of a provider's published OpenAPI or Swagger document
//! (`../shared/schemas/`): `type`, `enum`, `format: date-time|date`, `required`, `properties` (every key we
//! send must be declared, apart from a named list of extras), `additionalProperties`, `items`, `allOf`, local
//! `$ref`s, and the bounds `maxLength`/`minLength` (in characters), `maximum`/`minimum` (with OpenAPI 3.0's and
//! Swagger 2's boolean `exclusiveMaximum`/`exclusiveMinimum`) and `maxItems`/`minItems`.
//!
//! Why not the `jsonschema` crate: these are OpenAPI 3.0 and Swagger 2 documents, not JSON Schema. Swagger's
//! `discriminator` polymorphism (OpsGenie's recipients), OpenAPI's `nullable`, and `allOf` parts that each
//! carry half an object are read here as the providers mean them; a JSON Schema validator would need the
//! documents rewritten first. Limits the providers document but the published files do not carry (OpsGenie's
//! 130-character `message`, PagerDuty's 1,024-character `summary`) are checked by the stand-ins themselves.
//!
//! One relaxation, for Statuspage only ([`Schemas::load`]; [`Schemas::load_strict`] has none): `null`
//! passes where the schema gives a type without `nullable`, because Statuspage's own public API returns
//! `null` for absent values (`group_id`, `resolved_at`, `start_date`) and its clients index those keys
//! unconditionally; the OpenAPI document simply does not say so.

use serde_json::{Map, Value};

pub struct Schemas {
    root: Value,
    allow_null: bool,
}

impl Schemas {
    pub fn load(file: &str) -> Schemas {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas").join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (the schemas live in ../shared/schemas)", path.display()));
        Schemas { root: serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}")), allow_null: true }
    }

    /// Without the `null` relaxation: what we send to a provider must match its schema exactly.
    pub fn load_strict(file: &str) -> Schemas {
        Schemas { allow_null: false, ..Self::load(file) }
    }

    fn named(&self, name: &str) -> &Value {
        self.root
            .pointer(&format!("/components/schemas/{name}"))
            .or_else(|| self.root.pointer(&format!("/definitions/{name}")))
            .unwrap_or_else(|| panic!("no schema {name}"))
    }

    /// Every violation of `value` against schema `name`, with its JSON path; `extras` are keys allowed
    /// beyond the declared properties, as `Schema.key`.
    pub fn validate(&self, name: &str, value: &Value, extras: &[&str]) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(self.named(name), name, value, "$", extras, &mut errors);
        errors
    }

    /// As [`Schemas::validate`], for the schema at a JSON pointer into the document (an inline request body).
    pub fn validate_at(&self, pointer: &str, value: &Value) -> Vec<String> {
        let schema = self.root.pointer(pointer).unwrap_or_else(|| panic!("no schema at {pointer}"));
        let mut errors = Vec::new();
        self.check(schema, pointer, value, "$", &[], &mut errors);
        errors
    }

    fn resolve<'a>(&'a self, s: &'a Value) -> (&'a Value, Option<&'a str>) {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next();
                (self.root.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("unresolved $ref {r}")), name)
            }
            None => (s, None),
        }
    }

    /// The schema with its `allOf` parts merged in: properties, required keys, and the first type given.
    fn merged(&self, schema: &Value) -> Value {
        let (schema, _) = self.resolve(schema);
        let Some(parts) = schema.get("allOf").and_then(Value::as_array) else { return schema.clone() };
        let mut out = schema.as_object().cloned().unwrap_or_default();
        out.remove("allOf");
        let mut props = out.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut required: Vec<Value> = out.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
        for p in parts {
            let m = self.merged(p);
            if let Some(pp) = m.get("properties").and_then(Value::as_object) {
                props.extend(pp.clone());
            }
            if let Some(r) = m.get("required").and_then(Value::as_array) {
                required.extend(r.iter().cloned());
            }
            for k in ["type", "additionalProperties", "enum"] {
                if let (Some(v), false) = (m.get(k), out.contains_key(k)) {
                    out.insert(k.into(), v.clone());
                }
            }
        }
        out.insert("properties".into(), Value::Object(props));
        out.insert("required".into(), Value::Array(required));
        Value::Object(out)
    }

    /// Swagger 2 polymorphism: a schema with `discriminator: type` stands for the definition that extends it
    /// (`allOf` with a `$ref` to it) and names the value's `type` in `x-discriminator-value`.
    fn subtype(&self, schema: &Value, name: &str, v: &Value) -> Option<(&Value, String)> {
        let field = schema.get("discriminator").and_then(Value::as_str)?;
        let wanted = v.get(field)?.as_str()?;
        let defs = self.root.get("definitions")?.as_object()?;
        let target = format!("#/definitions/{name}");
        defs.iter()
            .find(|(_, d)| {
                d.get("x-discriminator-value").and_then(Value::as_str) == Some(wanted)
                    && d.get("allOf")
                        .and_then(Value::as_array)
                        .is_some_and(|parts| parts.iter().any(|p| p.get("$ref").and_then(Value::as_str) == Some(target.as_str())))
            })
            .map(|(n, d)| (d, n.clone()))
    }

    fn check(&self, schema: &Value, name: &str, v: &Value, path: &str, extras: &[&str], errors: &mut Vec<String>) {
        if let Some((sub, sub_name)) = self.subtype(self.resolve(schema).0, name, v) {
            return self.check(sub, &sub_name, v, path, extras, errors);
        }
        let schema = &self.merged(schema);
        if v.is_null() {
            if !self.allow_null && !schema.get("nullable").and_then(Value::as_bool).unwrap_or(false) {
                errors.push(format!("{path}: null is not allowed"));
            }
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(v) {
                errors.push(format!("{path}: {v} is not one of {}", Value::Array(allowed.clone())));
            }
        }
        let ty = schema.get("type").and_then(Value::as_str);
        let ok = match ty {
            Some("string") => v.is_string(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            Some("array") => v.is_array(),
            Some("object") => v.is_object(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{path}: {v} is not of type {}", ty.unwrap_or("?")));
            return;
        }
        if let (Some(format), Some(s)) = (schema.get("format").and_then(Value::as_str), v.as_str()) {
            let valid = match format {
                "date-time" => s.parse::<jiff::Timestamp>().is_ok(),
                "date" => s.parse::<jiff::civil::Date>().is_ok(),
                "url" | "uri" => s.starts_with("http://") || s.starts_with("https://"),
                _ => true,
            };
            if !valid {
                errors.push(format!("{path}: {s:?} is not a {format}"));
            }
        }
        bounds(schema, v, path, errors);
        if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
            let (item_schema, item_name) = self.resolve(items);
            for (i, item) in list.iter().enumerate() {
                self.check(item_schema, item_name.unwrap_or(name), item, &format!("{path}[{i}]"), extras, errors);
            }
        }
        let Some(obj) = v.as_object() else { return };
        for r in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                errors.push(format!("{path}.{r}: required by {name}, missing"));
            }
        }
        let empty = Map::new();
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        if props.is_none() && additional.is_none() {
            return;
        }
        for (k, val) in obj {
            match (props.unwrap_or(&empty).get(k), additional) {
                (Some(p), _) => {
                    let (p, pname) = self.resolve(p);
                    self.check(p, pname.unwrap_or(name), val, &format!("{path}.{k}"), extras, errors);
                }
                (None, Some(a)) if a.is_object() => self.check(a, name, val, &format!("{path}.{k}"), extras, errors),
                (None, Some(Value::Bool(true))) => {}
                _ if extras.contains(&format!("{name}.{k}").as_str()) => {}
                _ => errors.push(format!("{path}.{k}: not a property of {name}")),
            }
        }
    }
}

/// `maxLength`/`minLength`, `maximum`/`minimum` (and their exclusive forms), `maxItems`/`minItems`.
fn bounds(schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let limit = |k: &str| schema.get(k).and_then(Value::as_f64);
    let flag = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
    if let Some(s) = v.as_str() {
        let n = s.chars().count() as f64;
        if limit("maxLength").is_some_and(|m| n > m) || limit("minLength").is_some_and(|m| n < m) {
            errors.push(format!("{path}: {n} characters, outside minLength {:?} / maxLength {:?}", limit("minLength"), limit("maxLength")));
        }
    }
    if let Some(x) = v.as_f64() {
        let over = limit("maximum").is_some_and(|m| if flag("exclusiveMaximum") { x >= m } else { x > m });
        let under = limit("minimum").is_some_and(|m| if flag("exclusiveMinimum") { x <= m } else { x < m });
        if over || under {
            errors.push(format!("{path}: {x} is outside minimum {:?} / maximum {:?}", limit("minimum"), limit("maximum")));
        }
    }
    if let Some(list) = v.as_array() {
        let n = list.len() as f64;
        if limit("maxItems").is_some_and(|m| n > m) || limit("minItems").is_some_and(|m| n < m) {
            errors.push(format!("{path}: {n} items, outside minItems {:?} / maxItems {:?}", limit("minItems"), limit("maxItems")));
        }
    }
}
