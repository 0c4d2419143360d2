//! String templates of multi-step checks: `{{env.NAME}}`, `{{vars.NAME}}`, `{{steps.create.body.id}}`,
//! `{{steps.create.headers.location}}`, `{{steps.create.status}}`, in a step's headers the request being
//! sent (`{{request.method}}`, `{{request.path}}`, `{{request.body}}`…), and the helpers `uuid`, `now`,
//! `now.unix`, `random_int(min, max)`, `base64(…)`, `sha256(…)`, `hmac_sha256(key, …)` and
//! `hmac_sha256_base64(key, …)` (request signing).
//!
//! Templates are parsed once, when the configuration is validated, against a [`Scope`] that knows which names
//! exist: an unknown variable, a step that is not earlier in the check, or an unknown helper is a configuration
//! error reported by `check-config`, never a run-time surprise. Rendering asks a [`Lookup`] for the values of
//! the current run; the only value that can be missing then is one from a step that failed before producing
//! it (a `finally` step referring to the step that failed).
//!
//! No scripting language on purpose: a template selects and combines values, it does not compute.

mod helpers;

use helpers::random_u64;
pub use helpers::{basic_credentials, percent_encode, uuid_v4};

use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// A parsed template: literal text and expressions, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The text as written, for messages and reports.
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Ref(Ref),
    Uuid,
    Now,
    NowUnix,
    RandomInt(i64, i64),
    /// The arguments concatenated, then encoded.
    Base64(Vec<Arg>),
    /// SHA-256 of the arguments concatenated, lower-case hex (a body hash for signing schemes).
    Sha256(Vec<Arg>),
    /// HMAC-SHA-256 of the arguments concatenated under the first argument as key.
    Hmac {
        key: Arg,
        message: Vec<Arg>,
        encoding: Encoding,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Hex,
    Base64,
}

/// A helper's argument: a quoted literal or an expression without arguments (a reference, `now.unix`…).
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Lit(String),
    Expr(Box<Expr>),
}

/// A reference to a value of the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Ref {
    /// A variable of the environment the run is for.
    Env(String),
    /// A variable of `[vars]`, of the check, or extracted by an earlier step.
    Var(String),
    /// A value of an earlier step's JSON body, by member names and array indices.
    StepBody { step: usize, path: Vec<PathSeg> },
    /// A header of an earlier step's response (names are case-insensitive).
    StepHeader { step: usize, name: String },
    /// The status code of an earlier step's response.
    StepStatus { step: usize },
    /// A part of the request being sent (only in a step's headers: the rest is rendered first).
    Request(RequestPart),
}

/// What a step's header templates may read of the request they belong to (request signing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPart {
    Method,
    /// The whole URL, with the query.
    Url,
    /// The path, without the query.
    Path,
    /// The query without `?` (empty when none).
    Query,
    /// `host` or `host:port`, as in the `Host` header.
    Host,
    /// The body as sent (empty when none).
    Body,
}

/// One step of a body path: a member name or an array index.
#[derive(Debug, Clone, PartialEq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// The names a template may refer to where it is written.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Variables defined in every environment the check runs in; `None` when the check names no environment.
    pub env: Option<BTreeSet<String>>,
    /// Global and check variables, and the names extracted by earlier steps.
    pub vars: BTreeSet<String>,
    /// Names of the earlier steps, in order.
    pub steps: Vec<String>,
    /// Whether `request.*` may be used (a step's headers).
    pub request: bool,
}

/// Where rendering finds the values of the current run.
pub trait Lookup {
    fn env(&self, name: &str) -> Option<&str>;
    fn var(&self, name: &str) -> Option<&str>;
    /// The value at `path` in the JSON body of step `step`, if that step ran and its body held it.
    fn step_body(&self, step: usize, path: &[PathSeg]) -> Option<Value>;
    fn step_header(&self, step: usize, name: &str) -> Option<String>;
    fn step_status(&self, step: usize) -> Option<u16>;
    /// The name of step `step`, for messages.
    fn step_name(&self, step: usize) -> &str;
    /// A part of the request being sent, where there is one.
    fn request(&self, _part: RequestPart) -> Option<&str> {
        None
    }
    /// The time `now` and `now.unix` show, nanoseconds. A run fixes it per step, so a timestamp header
    /// and the signature over it agree.
    fn now(&self) -> i64 {
        crate::time::now_nanos()
    }
}

const HELPERS: &str = "uuid, now, now.unix, random_int(min, max), base64(…), sha256(…), hmac_sha256(key, …), hmac_sha256_base64(key, …)";

impl Template {
    /// A template without expressions.
    pub fn literal(text: impl Into<String>) -> Self {
        let text = text.into();
        Template { source: text.clone(), parts: vec![Part::Lit(text)] }
    }

    /// Parses `text`, checking every name against `scope`. The error names the expression at fault.
    pub fn parse(text: &str, scope: &Scope) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| TemplateError::Unclosed(text.to_string()))?;
            let inner = after[..close].trim();
            let expr = parse_expr(inner, scope).map_err(|reason| TemplateError::Expr { expr: inner.to_string(), reason })?;
            parts.push(Part::Expr(expr));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template { source: text.to_string(), parts })
    }

    /// True when the template has no expression: its text is fixed.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// Renders the template. Fails only when a value of an earlier step is missing (that step failed or its
    /// response did not hold the value), naming the reference.
    pub fn render(&self, ctx: &dyn Lookup) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Expr(e) => out.push_str(&eval(e, ctx)?),
            }
        }
        Ok(out)
    }

    /// Renders into a JSON value: a template that is exactly one reference to a JSON body value keeps that
    /// value's type (a number stays a number); anything else becomes a string.
    pub fn render_json(&self, ctx: &dyn Lookup) -> Result<Value, String> {
        if let [Part::Expr(Expr::Ref(r @ Ref::StepBody { .. }))] = self.parts.as_slice() {
            return resolve(r, ctx);
        }
        self.render(ctx).map(Value::String)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `{{{{` in {0:?}")]
    Unclosed(String),
    /// An expression names something that does not exist, or calls a helper wrongly; `reason` says what
    /// exists.
    #[error("in `{{{{{expr}}}}}`: {reason}")]
    Expr { expr: String, reason: String },
}

fn parse_expr(inner: &str, scope: &Scope) -> Result<Expr, String> {
    if let Some((name, args)) = inner.split_once('(') {
        let args = args.trim_end().strip_suffix(')').ok_or("missing `)`")?;
        let args = split_args(args)?;
        return match name.trim() {
            "random_int" => {
                let nums: Vec<i64> = args
                    .iter()
                    .map(|a| a.parse::<i64>().map_err(|_| format!("random_int takes two integers, got {a:?}")))
                    .collect::<Result<_, _>>()?;
                match nums.as_slice() {
                    [a, b] if a <= b => Ok(Expr::RandomInt(*a, *b)),
                    [a, b] => Err(format!("random_int({a}, {b}): the minimum is larger than the maximum")),
                    _ => Err("random_int takes two integers: random_int(min, max)".into()),
                }
            }
            "base64" | "sha256" if args.is_empty() => Err(format!("{} takes at least one argument", name.trim())),
            "base64" => parse_args(&args, scope).map(Expr::Base64),
            "sha256" => parse_args(&args, scope).map(Expr::Sha256),
            "hmac_sha256" | "hmac_sha256_base64" if args.len() < 2 => {
                Err(format!("{} takes a key and at least one part of the message: {}(vars.key, request.body)", name.trim(), name.trim()))
            }
            h @ ("hmac_sha256" | "hmac_sha256_base64") => {
                let mut all = parse_args(&args, scope)?;
                let key = all.remove(0);
                let encoding = if h == "hmac_sha256" { Encoding::Hex } else { Encoding::Base64 };
                Ok(Expr::Hmac { key, message: all, encoding })
            }
            other => Err(format!("unknown helper `{other}`; the helpers are {HELPERS}")),
        };
    }
    match inner {
        "uuid" => Ok(Expr::Uuid),
        "now" => Ok(Expr::Now),
        "now.unix" => Ok(Expr::NowUnix),
        "random_int" => Ok(Expr::RandomInt(0, i64::from(i32::MAX))),
        _ => parse_ref(inner, scope).map(Expr::Ref),
    }
}

/// A helper's arguments: quoted literals, or names without arguments (helpers do not nest).
fn parse_args(args: &[String], scope: &Scope) -> Result<Vec<Arg>, String> {
    args.iter()
        .map(|a| match a.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            Some(lit) => Ok(Arg::Lit(lit.replace("\\\"", "\"").replace("\\\\", "\\"))),
            None if a.contains('(') => Err(format!("helpers do not nest: {a:?} cannot be an argument")),
            None => parse_expr(a, scope).map(|e| Arg::Expr(Box::new(e))),
        })
        .collect()
}

/// Splits helper arguments at commas outside double quotes.
fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated string literal".into());
    }
    if !cur.trim().is_empty() || !out.is_empty() {
        out.push(cur.trim().to_string());
    }
    Ok(out)
}

fn parse_ref(text: &str, scope: &Scope) -> Result<Ref, String> {
    let (root, rest) = text.split_once('.').unwrap_or((text, ""));
    let name_ok = |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    match root {
        "env" => {
            if !name_ok(rest) {
                return Err(format!("expected env.NAME, got {text:?}"));
            }
            match &scope.env {
                None => Err(format!("`env.{rest}` needs an environment, and this check names none (add `environments = [...]`)")),
                Some(names) if names.contains(rest) => Ok(Ref::Env(rest.to_string())),
                Some(names) => Err(format!(
                    "unknown environment variable `{rest}`; every environment of this check defines: {}",
                    list(names.iter().map(String::as_str))
                )),
            }
        }
        "vars" => {
            if !name_ok(rest) {
                return Err(format!("expected vars.NAME, got {text:?}"));
            }
            if scope.vars.contains(rest) {
                Ok(Ref::Var(rest.to_string()))
            } else {
                Err(format!(
                    "unknown variable `{rest}`; defined here (in [vars], the check's vars, or extracted by an earlier step): {}",
                    list(scope.vars.iter().map(String::as_str))
                ))
            }
        }
        "steps" => {
            let (step_name, what) = rest.split_once('.').unwrap_or((rest, ""));
            let step = scope.steps.iter().position(|s| s == step_name).ok_or_else(|| {
                format!(
                    "unknown step `{step_name}`; a template can use the steps before it: {}",
                    list(scope.steps.iter().map(String::as_str))
                )
            })?;
            let (field, path) = what.split_once('.').unwrap_or((what, ""));
            match field {
                "status" if path.is_empty() => Ok(Ref::StepStatus { step }),
                "headers" if name_ok(path) => Ok(Ref::StepHeader { step, name: path.to_ascii_lowercase() }),
                "body" => parse_body_path(path).map(|path| Ref::StepBody { step, path }),
                _ => Err(format!(
                    "expected steps.{step_name}.body.PATH, steps.{step_name}.headers.NAME or steps.{step_name}.status, got {text:?}"
                )),
            }
        }
        "request" => {
            let part = match rest {
                "method" => RequestPart::Method,
                "url" => RequestPart::Url,
                "path" => RequestPart::Path,
                "query" => RequestPart::Query,
                "host" => RequestPart::Host,
                "body" => RequestPart::Body,
                _ => return Err(format!("expected request.method, request.url, request.path, request.query, request.host or request.body, got {text:?}")),
            };
            if scope.request {
                Ok(Ref::Request(part))
            } else {
                Err(format!("`{text}` is only known in a step's headers (they are rendered after the URL and the body)"))
            }
        }
        _ => Err(format!("unknown name `{text}`; use env.NAME, vars.NAME, steps.STEP.body.PATH, steps.STEP.headers.NAME, steps.STEP.status, request.PART (in headers) or a helper ({HELPERS})")),
    }
}

/// `items[0].id`, `items.0.id` or empty (the whole body).
fn parse_body_path(path: &str) -> Result<Vec<PathSeg>, String> {
    let mut segs = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, mut idx) = part.split_once('[').map_or((part, ""), |(n, i)| (n, i));
        if !name.is_empty() {
            segs.push(match name.parse::<usize>() {
                Ok(i) => PathSeg::Index(i),
                Err(_) => PathSeg::Key(name.to_string()),
            });
        }
        while !idx.is_empty() {
            let (n, after) = idx.split_once(']').ok_or_else(|| format!("missing `]` in body path {path:?}"))?;
            segs.push(PathSeg::Index(n.parse().map_err(|_| format!("invalid index [{n}] in body path {path:?}"))?));
            idx = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return Err(format!("unexpected {after:?} in body path {path:?}"));
            }
        }
    }
    Ok(segs)
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// The text form of a JSON value in a template: strings without quotes, everything else as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn resolve(r: &Ref, ctx: &dyn Lookup) -> Result<Value, String> {
    let missing = |what: String| format!("{what} is not available (the step failed or its response did not hold it)");
    match r {
        Ref::Env(n) => ctx.env(n).map(|s| Value::String(s.to_string())).ok_or_else(|| format!("env.{n} is not defined")),
        Ref::Var(n) => ctx.var(n).map(|s| Value::String(s.to_string())).ok_or_else(|| missing(format!("vars.{n}"))),
        Ref::StepBody { step, path } => ctx.step_body(*step, path).ok_or_else(|| {
            let mut p = String::new();
            for s in path {
                match s {
                    PathSeg::Key(k) => p.push_str(&format!(".{k}")),
                    PathSeg::Index(i) => p.push_str(&format!("[{i}]")),
                }
            }
            missing(format!("steps.{}.body{p}", ctx.step_name(*step)))
        }),
        Ref::StepHeader { step, name } => {
            ctx.step_header(*step, name).map(Value::String).ok_or_else(|| missing(format!("steps.{}.headers.{name}", ctx.step_name(*step))))
        }
        Ref::StepStatus { step } => {
            ctx.step_status(*step).map(Value::from).ok_or_else(|| missing(format!("steps.{}.status", ctx.step_name(*step))))
        }
        Ref::Request(part) => ctx
            .request(*part)
            .map(|s| Value::String(s.to_string()))
            .ok_or_else(|| "request.* is only known in a step's headers".to_string()),
    }
}

fn eval(e: &Expr, ctx: &dyn Lookup) -> Result<String, String> {
    Ok(match e {
        Expr::Ref(r) => value_text(&resolve(r, ctx)?),
        Expr::Uuid => uuid_v4(),
        Expr::Now => crate::time::format_rfc3339(ctx.now()),
        Expr::NowUnix => (ctx.now() / 1_000_000_000).to_string(),
        Expr::RandomInt(a, b) => {
            let span = (*b as i128 - *a as i128 + 1) as u128;
            let r = u128::from(random_u64()) % span;
            (*a as i128 + r as i128).to_string()
        }
        Expr::Base64(args) => base64::engine::general_purpose::STANDARD.encode(joined(args, ctx)?),
        Expr::Sha256(args) => hex(ring::digest::digest(&ring::digest::SHA256, joined(args, ctx)?.as_bytes()).as_ref()),
        Expr::Hmac { key, message, encoding } => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, joined(std::slice::from_ref(key), ctx)?.as_bytes());
            let tag = ring::hmac::sign(&key, joined(message, ctx)?.as_bytes());
            match encoding {
                Encoding::Hex => hex(tag.as_ref()),
                Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag.as_ref()),
            }
        }
    })
}

/// The arguments' values, concatenated.
fn joined(args: &[Arg], ctx: &dyn Lookup) -> Result<String, String> {
    let mut out = String::new();
    for a in args {
        match a {
            Arg::Lit(s) => out.push_str(s),
            Arg::Expr(e) => out.push_str(&eval(e, ctx)?),
        }
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Walks a body path through a JSON value.
pub fn walk<'a>(mut v: &'a Value, path: &[PathSeg]) -> Option<&'a Value> {
    for seg in path {
        v = match (seg, v) {
            (PathSeg::Key(k), Value::Object(m)) => m.get(k)?,
            (PathSeg::Index(i), Value::Array(a)) => a.get(*i)?,
            // `items.0` on an object whose key is "0".
            (PathSeg::Index(i), Value::Object(m)) => m.get(&i.to_string())?,
            _ => return None,
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Ctx {
        env: HashMap<&'static str, &'static str>,
        vars: HashMap<&'static str, &'static str>,
        body: Option<Value>,
    }

    impl Lookup for Ctx {
        fn env(&self, name: &str) -> Option<&str> {
            self.env.get(name).copied()
        }
        fn var(&self, name: &str) -> Option<&str> {
            self.vars.get(name).copied()
        }
        fn step_body(&self, _: usize, path: &[PathSeg]) -> Option<Value> {
            walk(self.body.as_ref()?, path).cloned()
        }
        fn step_header(&self, _: usize, name: &str) -> Option<String> {
            (name == "location").then(|| "/streams/7".to_string())
        }
        fn step_status(&self, _: usize) -> Option<u16> {
            Some(201)
        }
        fn step_name(&self, _: usize) -> &str {
            "create"
        }
    }

    fn scope() -> Scope {
        Scope {
            env: Some(["base".to_string()].into()),
            vars: ["token".to_string()].into(),
            steps: vec!["create".to_string()],
            request: false,
        }
    }

    fn ctx() -> Ctx {
        Ctx {
            env: [("base", "http://api")].into(),
            vars: [("token", "s3cr3t")].into(),
            body: Some(serde_json::json!({"id": 7, "urls": [{"play": "rtmp://x/7"}], "name": "a b"})),
        }
    }

    #[test]
    fn renders_environment_variables_and_earlier_steps() {
        let t = Template::parse("{{ env.base }}/streams/{{steps.create.body.id}}?u={{steps.create.body.urls[0].play}}", &scope()).unwrap();
        assert_eq!(t.render(&ctx()).unwrap(), "http://api/streams/7?u=rtmp://x/7");
        let t = Template::parse("{{steps.create.body.urls.0.play}} {{steps.create.headers.Location}} {{steps.create.status}}", &scope())
            .unwrap();
        assert_eq!(t.render(&ctx()).unwrap(), "rtmp://x/7 /streams/7 201");
        assert_eq!(Template::parse("{{steps.create.body.id}}", &scope()).unwrap().render_json(&ctx()).unwrap(), serde_json::json!(7));
        assert_eq!(Template::parse("n{{steps.create.body.id}}", &scope()).unwrap().render_json(&ctx()).unwrap(), serde_json::json!("n7"));
    }

    #[test]
    fn unknown_names_are_errors_that_say_what_exists() {
        let e = Template::parse("{{env.bse}}", &scope()).unwrap_err().to_string();
        assert!(e.contains("unknown environment variable `bse`") && e.contains("base"), "{e}");
        let e = Template::parse("{{vars.tokn}}", &scope()).unwrap_err().to_string();
        assert!(e.contains("unknown variable `tokn`") && e.contains("token"), "{e}");
        let e = Template::parse("{{steps.read.body.id}}", &scope()).unwrap_err().to_string();
        assert!(e.contains("unknown step `read`") && e.contains("create"), "{e}");
        let e = Template::parse("{{nope}}", &scope()).unwrap_err().to_string();
        assert!(e.contains("unknown name `nope`"), "{e}");
        let e = Template::parse("{{sha1(\"x\")}}", &scope()).unwrap_err().to_string();
        assert!(e.contains("unknown helper `sha1`"), "{e}");
        assert_eq!(Template::parse("x {{env.base", &scope()).unwrap_err(), TemplateError::Unclosed("x {{env.base".into()));
        let e = Template::parse("{{env.base}}", &Scope::default()).unwrap_err().to_string();
        assert!(e.contains("names none"), "{e}");
        assert!(Template::parse("{{random_int(5, 1)}}", &scope()).is_err());
    }

    #[test]
    fn helpers() {
        let c = ctx();
        let u = Template::parse("{{uuid}}", &scope()).unwrap().render(&c).unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "version 4: {u}");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "RFC variant: {u}");
        assert_ne!(u, uuid_v4());
        let now = Template::parse("{{now}}", &scope()).unwrap().render(&c).unwrap();
        assert!(jiff::Timestamp::from_str(&now).is_ok(), "RFC 3339: {now}");
        let unix: i64 = Template::parse("{{now.unix}}", &scope()).unwrap().render(&c).unwrap().parse().unwrap();
        assert!((unix - jiff::Timestamp::now().as_second()).abs() < 5);
        for _ in 0..200 {
            let r: i64 = Template::parse("{{random_int(-2, 3)}}", &scope()).unwrap().render(&c).unwrap().parse().unwrap();
            assert!((-2..=3).contains(&r));
        }
        let b = Template::parse("Basic {{base64(\"user:\", vars.token)}}", &scope()).unwrap().render(&c).unwrap();
        assert_eq!(b, "Basic dXNlcjpzM2NyM3Q=");
    }

    /// Known answers: SHA-256 of "abc" (FIPS 180-2), HMAC-SHA-256 test case 2 of RFC 4231 (key "Jefe"), and a
    /// signature over the request's parts with the step's fixed time, as a header would carry it.
    #[test]
    fn digests_and_request_signing() {
        struct Req(Ctx);
        impl Lookup for Req {
            fn env(&self, n: &str) -> Option<&str> {
                self.0.env(n)
            }
            fn var(&self, n: &str) -> Option<&str> {
                self.0.var(n)
            }
            fn step_body(&self, s: usize, p: &[PathSeg]) -> Option<Value> {
                self.0.step_body(s, p)
            }
            fn step_header(&self, s: usize, n: &str) -> Option<String> {
                self.0.step_header(s, n)
            }
            fn step_status(&self, s: usize) -> Option<u16> {
                self.0.step_status(s)
            }
            fn step_name(&self, s: usize) -> &str {
                self.0.step_name(s)
            }
            fn request(&self, part: RequestPart) -> Option<&str> {
                Some(match part {
                    RequestPart::Method => "POST",
                    RequestPart::Path => "/v1/orders",
                    RequestPart::Body => "what do ya want for nothing?",
                    _ => "",
                })
            }
            fn now(&self) -> i64 {
                1_700_000_000_123_000_000
            }
        }
        let mut headers = scope();
        headers.request = true;
        let render = |t: &str| Template::parse(t, &headers).unwrap().render(&Req(ctx())).unwrap();
        assert_eq!(render("{{sha256(\"abc\")}}"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(render("{{hmac_sha256(\"Jefe\", request.body)}}"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(render("{{hmac_sha256_base64(\"Jefe\", request.body)}}"), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
        assert_eq!(
            render("t={{now.unix}},v1={{hmac_sha256(\"Jefe\", now.unix, \".\", request.method, request.path, request.body)}}"),
            format!("t=1700000000,v1={}", crate::sign::hmac_hex("Jefe", "1700000000.POST/v1/orderswhat do ya want for nothing?"))
        );
        let e = Template::parse("{{request.body}}", &scope()).unwrap_err().to_string();
        assert!(e.contains("only known in a step's headers"), "{e}");
        let e = Template::parse("{{hmac_sha256(vars.token)}}", &headers).unwrap_err().to_string();
        assert!(e.contains("a key and at least one part"), "{e}");
        let e = Template::parse("{{sha256(base64(vars.token))}}", &headers).unwrap_err().to_string();
        assert!(e.contains("helpers do not nest"), "{e}");
    }

    #[test]
    fn a_missing_value_from_a_failed_step_names_the_reference() {
        let mut c = ctx();
        c.body = None;
        let e = Template::parse("{{steps.create.body.id}}", &scope()).unwrap().render(&c).unwrap_err();
        assert!(e.contains("steps.create.body.id is not available"), "{e}");
    }

    use std::str::FromStr as _;
}
