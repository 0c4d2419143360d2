//! Validates JSON values against a schema of a provider's published OpenAPI document (`../shared/schemas/`):
//! `type`, `enum`, `format: date-time|date`, `properties` (every key we send must be declared, apart from a
//! named list of extras), `items` and local `$ref`s.
//!
//! One relaxation, on purpose: `null` passes where the schema gives a type without `nullable`, because
//! Statuspage's own public API returns `null` for absent values (`group_id`, `resolved_at`, `start_date`) and
//! its clients index those keys unconditionally; the OpenAPI document simply does not say so.

use serde_json::Value;

pub struct Schemas {
    root: Value,
}

impl Schemas {
    pub fn load(file: &str) -> Schemas {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas").join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (the schemas live in ../shared/schemas)", path.display()));
        Schemas { root: serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}")) }
    }

    fn named(&self, name: &str) -> &Value {
        self.root.pointer(&format!("/components/schemas/{name}")).unwrap_or_else(|| panic!("no schema {name}"))
    }

    /// Every violation of `value` against schema `name`, with its JSON path; `extras` are keys allowed
    /// beyond the declared properties, as `Schema.key`.
    pub fn validate(&self, name: &str, value: &Value, extras: &[&str]) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(self.named(name), name, value, "$", extras, &mut errors);
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

    fn check(&self, schema: &Value, name: &str, v: &Value, path: &str, extras: &[&str], errors: &mut Vec<String>) {
        if v.is_null() {
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
                _ => true,
            };
            if !valid {
                errors.push(format!("{path}: {s:?} is not a {format}"));
            }
        }
        if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
            let (item_schema, item_name) = self.resolve(items);
            for (i, item) in list.iter().enumerate() {
                self.check(item_schema, item_name.unwrap_or(name), item, &format!("{path}[{i}]"), extras, errors);
            }
        }
        if let (Some(props), Some(obj)) = (schema.get("properties").and_then(Value::as_object), v.as_object()) {
            for (k, val) in obj {
                match props.get(k) {
                    Some(p) => {
                        let (p, pname) = self.resolve(p);
                        self.check(p, pname.unwrap_or(name), val, &format!("{path}.{k}"), extras, errors);
                    }
                    None if extras.contains(&format!("{name}.{k}").as_str()) => {}
                    None => errors.push(format!("{path}.{k}: not a property of {name}")),
                }
            }
        }
    }
}
