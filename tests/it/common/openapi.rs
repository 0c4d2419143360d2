//! Validates requests against a provider's published OpenAPI document (`../shared/schemas/`): the query
//! parameters and headers an operation declares, which are required, and their enums (following local
//! `$ref`s to `components/parameters` and `components/schemas`).

use saphyr::{LoadableYamlNode, Yaml};

pub struct Operation {
    params: Vec<Param>,
}

#[derive(Debug)]
struct Param {
    name: String,
    location: String,
    required: bool,
    allowed: Option<Vec<String>>,
}

fn schemas_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas")
}

/// Follows a local `$ref` (`#/components/...`) if `node` is one.
fn resolve<'a>(root: &'a Yaml<'a>, node: &'a Yaml<'a>) -> &'a Yaml<'a> {
    match node.as_mapping_get("$ref").and_then(Yaml::as_str) {
        Some(r) => {
            r.trim_start_matches("#/").split('/').fold(root, |n, k| n.as_mapping_get(k).unwrap_or_else(|| panic!("unresolved $ref {r}")))
        }
        None => node,
    }
}

impl Operation {
    /// Loads `method` of `path` from the spec file `file` in `../shared/schemas/`.
    pub fn load(file: &str, path: &str, method: &str) -> Operation {
        let text = std::fs::read_to_string(schemas_dir().join(file))
            .unwrap_or_else(|e| panic!("{file}: {e} (the schemas live in ../shared/schemas)"));
        let docs = Yaml::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let root = &docs[0];
        let op = root
            .as_mapping_get("paths")
            .and_then(|p| p.as_mapping_get(path))
            .and_then(|p| p.as_mapping_get(method))
            .unwrap_or_else(|| panic!("{file} has no {method} {path}"));
        let mut params = Vec::new();
        for p in op.as_mapping_get("parameters").and_then(Yaml::as_vec).into_iter().flatten() {
            let p = resolve(root, p);
            let (Some(name), Some(location)) =
                (p.as_mapping_get("name").and_then(Yaml::as_str), p.as_mapping_get("in").and_then(Yaml::as_str))
            else {
                continue;
            };
            let schema = p.as_mapping_get("schema").map(|s| resolve(root, s));
            let allowed = schema
                .and_then(|s| s.as_mapping_get("enum"))
                .and_then(Yaml::as_vec)
                .map(|v| v.iter().filter_map(|e| e.as_str().map(str::to_string)).collect());
            params.push(Param {
                name: name.to_string(),
                location: location.to_string(),
                required: p.as_mapping_get("required").and_then(Yaml::as_bool).unwrap_or(false),
                allowed,
            });
        }
        assert!(!params.is_empty(), "{file}: {method} {path} declares no parameters");
        Operation { params }
    }

    /// Checks a request's query parameters (all must be declared) and headers (declared ones must use an
    /// allowed value); every required parameter must be present.
    pub fn validate(&self, query: &[(String, String)], headers: &[(String, String)]) -> Result<(), String> {
        for (k, v) in query {
            let p = self
                .params
                .iter()
                .find(|p| p.location == "query" && p.name == *k)
                .ok_or_else(|| format!("query parameter `{k}` is not in the spec"))?;
            check_enum(p, v)?;
        }
        for (k, v) in headers {
            if let Some(p) = self.params.iter().find(|p| p.location == "header" && p.name.eq_ignore_ascii_case(k)) {
                check_enum(p, v)?;
            }
        }
        for p in self.params.iter().filter(|p| p.required) {
            let present = match p.location.as_str() {
                "query" => query.iter().any(|(k, _)| *k == p.name),
                "header" => headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(&p.name)),
                _ => true,
            };
            if !present {
                return Err(format!("required {} parameter `{}` is missing", p.location, p.name));
            }
        }
        Ok(())
    }
}

fn check_enum(p: &Param, v: &str) -> Result<(), String> {
    match &p.allowed {
        Some(allowed) if !allowed.iter().any(|a| a == v) => Err(format!("`{}` = {v:?} is not one of {allowed:?}", p.name)),
        _ => Ok(()),
    }
}
