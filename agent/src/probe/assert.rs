//! Assertions on an observation, for endpoints and for every step of a check. Every assertion is evaluated
//! and reported; the first failing one decides the error class (`status` for a status mismatch, `assertion`
//! otherwise) and its message names the expected and the actual value.

use super::Observation;
use serde_json::Value;
use std::cmp::Ordering;
use std::time::Duration;
use watchpost_core::config::{Assertion, Check, CmpOp, Nodes, Operand};
use watchpost_core::model::ErrorClass;
use watchpost_core::template::{value_text, Lookup, PathSeg};

/// One assertion's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What was checked: `status 2xx`, `json $.id == 7`.
    pub what: String,
    pub passed: bool,
    /// For a failure: `expected …, got …`.
    pub detail: String,
    pub class: ErrorClass,
}

impl Outcome {
    /// `✓ status 2xx` or `✗ json $.id exists: expected …, got …`.
    pub fn line(&self) -> String {
        if self.passed {
            format!("✓ {}", self.what)
        } else {
            format!("✗ {}: {}", self.what, self.detail)
        }
    }
}

/// Templates in endpoint assertions cannot refer to anything (their scope is empty); this answers them.
pub struct NoValues;

impl Lookup for NoValues {
    fn env(&self, _: &str) -> Option<&str> {
        None
    }
    fn var(&self, _: &str) -> Option<&str> {
        None
    }
    fn step_body(&self, _: usize, _: &[PathSeg]) -> Option<Value> {
        None
    }
    fn step_header(&self, _: usize, _: &str) -> Option<String> {
        None
    }
    fn step_status(&self, _: usize) -> Option<u16> {
        None
    }
    fn step_name(&self, _: usize) -> &str {
        ""
    }
}

/// The first failure among `assertions`, as the probe point records it.
pub(super) fn evaluate(assertions: &[Assertion], obs: &Observation, latency: Duration) -> Result<(), (ErrorClass, String)> {
    match evaluate_all(assertions, obs, latency, &NoValues, &mut None).into_iter().find(|o| !o.passed) {
        None => Ok(()),
        Some(o) => Err((o.class, format!("{}: {}", o.what, o.detail))),
    }
}

/// Every assertion's outcome. `json` caches the parsed body between assertions (and for the caller).
pub fn evaluate_all(
    assertions: &[Assertion],
    obs: &Observation,
    latency: Duration,
    ctx: &dyn Lookup,
    json: &mut Option<Option<Value>>,
) -> Vec<Outcome> {
    assertions.iter().map(|a| one(a, obs, latency, ctx, json)).collect()
}

/// The body parsed as JSON, once.
pub fn body_json<'a>(obs: &Observation, cache: &'a mut Option<Option<Value>>) -> Option<&'a Value> {
    cache.get_or_insert_with(|| serde_json::from_slice(&obs.body).ok()).as_ref()
}

fn one(a: &Assertion, obs: &Observation, latency: Duration, ctx: &dyn Lookup, json: &mut Option<Option<Value>>) -> Outcome {
    let what = a.describe();
    let result: Result<(), String> = match a {
        Assertion::Status(m) => match obs.status {
            Some(code) if m.matches(code) => Ok(()),
            Some(code) => Err(format!("expected {m}, got {code}")),
            None => Err(format!("expected {m}, got no status")),
        },
        Assertion::LatencyBelow(max) => {
            let ms = obs.latency_ms.unwrap_or(latency.as_secs_f64() * 1e3);
            if ms < max.as_secs_f64() * 1e3 {
                Ok(())
            } else {
                Err(format!("expected below {} ms, got {ms:.1} ms", max.as_millis()))
            }
        }
        Assertion::BodyContains(needle) => {
            if contains(&obs.body, needle.as_bytes()) {
                Ok(())
            } else {
                Err(format!("expected to contain {needle:?}, got {}", shown_body(&obs.body)))
            }
        }
        Assertion::BodyMatches(re) => {
            if re.is_match(&String::from_utf8_lossy(&obs.body)) {
                Ok(())
            } else {
                Err(format!("expected to match /{}/, got {}", re.as_str(), shown_body(&obs.body)))
            }
        }
        Assertion::CertDaysLeftAbove(min) => match obs.cert_days_left {
            Some(d) if d > *min => Ok(()),
            Some(d) => Err(format!("expected more than {min} days left, got {d:.1}")),
            None => Err("expected a TLS certificate, got none (not https?)".into()),
        },
        Assertion::Rcode(_) | Assertion::AnswersContain(_) | Assertion::AnswersEqual(_) | Assertion::AnswerCount(..) => match &obs.dns {
            Some(answer) => dns(a, answer),
            None => Err("expected a DNS answer, got none (not a dns endpoint?)".into()),
        },
        Assertion::TlsVersionAtLeast(_) | Assertion::IssuerContains(_) | Assertion::OcspStapled(_) => match &obs.tls {
            Some(info) => tls(a, info),
            None => Err("expected a TLS handshake, got none (not https?)".into()),
        },
        Assertion::DomainDaysLeftAbove(min) => match obs.domain_days_left {
            Some(d) if d > *min => Ok(()),
            Some(d) => Err(format!("expected more than {min} days left, got {d:.1}")),
            None => Err("expected a domain registration, got none (not a domain endpoint?)".into()),
        },
        Assertion::PacketLossBelow(max) => match &obs.ping {
            Some(p) if p.loss_percent() < *max => Ok(()),
            Some(p) => Err(format!("expected below {max}%, got {}% ({} of {} replies)", p.loss_percent(), p.received, p.sent)),
            None => Err("expected ICMP replies, got none (not an icmp endpoint?)".into()),
        },
        Assertion::Header { name, check } => {
            let values: Vec<Value> = obs
                .headers
                .as_ref()
                .map(|h| h.get_all(name).iter().map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())).collect())
                .unwrap_or_default();
            apply(check, values.first(), ctx)
        }
        Assertion::JsonSchema { schema, .. } => match body_json(obs, json) {
            None => Err(format!("expected a JSON body, got {}", shown_body(&obs.body))),
            Some(doc) => {
                // The first three violations, each at its place in the body: enough to fix the API or the schema.
                let found: Vec<String> = schema
                    .iter_errors(doc)
                    .take(3)
                    .map(|e| {
                        let at = e.instance_path().to_string();
                        short(&format!("{}: {e}", if at.is_empty() { "/" } else { &at }))
                    })
                    .collect();
                if found.is_empty() {
                    Ok(())
                } else {
                    Err(found.join("; "))
                }
            }
        },
        Assertion::Json { path, check, nodes: which, .. } => match body_json(obs, json) {
            None => Err(format!("expected a JSON body, got {}", shown_body(&obs.body))),
            Some(doc) => {
                let nodes = path.query(doc).all();
                match which {
                    Nodes::First => apply(check, nodes.first().copied(), ctx),
                    Nodes::All if nodes.is_empty() => Err("expected nodes, got none selected".into()),
                    // The first node that fails says why.
                    Nodes::All => {
                        nodes.iter().enumerate().try_for_each(|(i, n)| apply(check, Some(n), ctx).map_err(|e| format!("node {i}: {e}")))
                    }
                    Nodes::Any => match nodes.iter().map(|n| apply(check, Some(n), ctx)).find(Result::is_ok) {
                        Some(ok) => ok,
                        None => Err(format!(
                            "expected a node to pass, got none of {} ({})",
                            nodes.len(),
                            short(&Value::Array(nodes.iter().map(|n| (*n).clone()).collect()).to_string())
                        )),
                    },
                }
            }
        },
    };
    // A response code is DNS's status: the same class as an HTTP status mismatch.
    let class = if matches!(a, Assertion::Status(_) | Assertion::Rcode(_)) { ErrorClass::Status } else { ErrorClass::Assertion };
    match result {
        Ok(()) => Outcome { what, passed: true, detail: String::new(), class },
        Err(detail) => Outcome { what, passed: false, detail, class },
    }
}

fn tls(a: &Assertion, info: &super::tls_probe::TlsInfo) -> Result<(), String> {
    match a {
        Assertion::TlsVersionAtLeast(minor) if info.version_minor >= *minor => Ok(()),
        Assertion::TlsVersionAtLeast(minor) => Err(format!("expected TLSv1.{minor} or later, got {}", info.version)),
        Assertion::IssuerContains(s) if info.issuer.contains(s.as_str()) => Ok(()),
        Assertion::IssuerContains(s) => Err(format!("expected the issuer to contain {s:?}, got {:?}", info.issuer)),
        Assertion::OcspStapled(want) if info.ocsp_stapled == *want => Ok(()),
        Assertion::OcspStapled(want) => Err(format!("expected stapled = {want}, got {}", info.ocsp_stapled)),
        _ => Ok(()),
    }
}

fn dns(a: &Assertion, answer: &super::dns::DnsAnswer) -> Result<(), String> {
    let got = || if answer.answers.is_empty() { "none".to_string() } else { format!("[{}]", answer.answers.join(", ")) };
    match a {
        Assertion::Rcode(codes) if codes.contains(&answer.rcode) => Ok(()),
        Assertion::Rcode(codes) => Err(format!("expected {}, got {}", codes.join(" or "), answer.rcode)),
        Assertion::AnswersContain(want) => match want.iter().filter(|w| !answer.has(w)).collect::<Vec<_>>() {
            missing if missing.is_empty() => Ok(()),
            missing => Err(format!("expected {missing:?} among the answers, got {}", got())),
        },
        Assertion::AnswersEqual(want) => {
            let want_set = super::dns::DnsAnswer { answers: want.clone(), ..answer.clone() }.normalized();
            if want_set == answer.normalized() {
                Ok(())
            } else {
                Err(format!("expected exactly [{}], got {}", want.join(", "), got()))
            }
        }
        Assertion::AnswerCount(op, n) => {
            let count = answer.answers.len() as u64;
            let ok = match op {
                CmpOp::Eq => count == *n,
                CmpOp::Ne => count != *n,
                CmpOp::Lt => count < *n,
                CmpOp::Le => count <= *n,
                CmpOp::Gt => count > *n,
                CmpOp::Ge => count >= *n,
            };
            if ok {
                Ok(())
            } else {
                Err(format!("expected {} {n}, got {count} ({})", op.as_str(), got()))
            }
        }
        _ => Ok(()),
    }
}

/// Applies `check` to the selected value (`None`: nothing was selected).
fn apply(check: &Check, actual: Option<&Value>, ctx: &dyn Lookup) -> Result<(), String> {
    let got = || actual.map_or_else(|| "nothing".to_string(), |v| short(&v.to_string()));
    match check {
        Check::Exists => actual.map(|_| ()).ok_or_else(|| "expected a value, got nothing".into()),
        Check::NotExists => match actual {
            None => Ok(()),
            Some(_) => Err(format!("expected nothing, got {}", got())),
        },
        Check::Empty => {
            if actual.is_none_or(is_empty) {
                Ok(())
            } else {
                Err(format!("expected empty, got {}", got()))
            }
        }
        Check::NotEmpty => {
            if actual.is_some_and(|v| !is_empty(v)) {
                Ok(())
            } else {
                Err(format!("expected a non-empty value, got {}", got()))
            }
        }
        Check::Length(op, n) => {
            let len = match actual {
                Some(Value::Array(a)) => a.len(),
                Some(Value::String(s)) => s.chars().count(),
                Some(Value::Object(m)) => m.len(),
                _ => return Err(format!("expected something with a length, got {}", got())),
            };
            if op.holds((len as f64).total_cmp(n)) {
                Ok(())
            } else {
                Err(format!("expected length {} {n}, got {len}", op.as_str()))
            }
        }
        Check::Type(want) => {
            let got_type = match actual {
                Some(Value::String(_)) => "string",
                Some(Value::Number(_)) => "number",
                Some(Value::Bool(_)) => "boolean",
                Some(Value::Array(_)) => "array",
                Some(Value::Object(_)) => "object",
                Some(Value::Null) => "null",
                None => "nothing",
            };
            if got_type == want {
                Ok(())
            } else {
                Err(format!("expected type {want}, got {got_type} ({})", got()))
            }
        }
        Check::OneOf(options) => match actual {
            Some(v) if options.iter().any(|o| equal(v, o)) => Ok(()),
            _ => Err(format!("expected one of {}, got {}", short(&Value::Array(options.clone()).to_string()), got())),
        },
        Check::Matches(re) => match actual {
            Some(v) if re.is_match(&value_text(v)) => Ok(()),
            _ => Err(format!("expected to match /{}/, got {}", re.as_str(), got())),
        },
        Check::Contains(op) => {
            let want = operand(op, ctx)?;
            let ok = match actual {
                Some(Value::String(s)) => s.contains(&value_text(&want)),
                Some(Value::Array(items)) => items.iter().any(|i| equal(i, &want)),
                Some(Value::Object(m)) => m.contains_key(&value_text(&want)),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!("expected to contain {}, got {}", short(&want.to_string()), got()))
            }
        }
        Check::Compare(op, rhs) => {
            let want = operand(rhs, ctx)?;
            let Some(actual) = actual else {
                return Err(format!("expected {} {}, got nothing", op.as_str(), short(&want.to_string())));
            };
            let ok = match op {
                CmpOp::Eq => equal(actual, &want),
                CmpOp::Ne => !equal(actual, &want),
                _ => match order(actual, &want) {
                    Some(ord) => match op {
                        CmpOp::Lt => ord == Ordering::Less,
                        CmpOp::Le => ord != Ordering::Greater,
                        CmpOp::Gt => ord == Ordering::Greater,
                        _ => ord != Ordering::Less,
                    },
                    None => {
                        return Err(format!(
                            "expected {} {}, got {} (not comparable as numbers)",
                            op.as_str(),
                            short(&want.to_string()),
                            got()
                        ))
                    }
                },
            };
            if ok {
                Ok(())
            } else {
                Err(format!("expected {} {}, got {}", op.as_str(), short(&want.to_string()), got()))
            }
        }
    }
}

fn operand(op: &Operand, ctx: &dyn Lookup) -> Result<Value, String> {
    match op {
        Operand::Value(v) => Ok(v.clone()),
        Operand::Template(t) => t.render_json(ctx).map_err(|e| format!("cannot compare: {e}")),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// A number, or a string that holds one: headers and templated values are text, JSON numbers are not, and
/// `"42" == 42` is what a user comparing a saved id means.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a, b) {
            // A string compared with a non-string: compare the text forms (`true` == "true").
            (Value::String(_), _) | (_, Value::String(_)) => value_text(a) == value_text(b),
            _ => false,
        },
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    number(a)?.partial_cmp(&number(b)?)
}

fn short(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

fn shown_body(body: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(&body[..body.len().min(80)]).chars().filter(|c| !c.is_control()).collect();
    format!("{shown:?} ({} bytes)", body.len())
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchpost_core::config::{Config, Format, ProbeConfig, StatusMatcher};

    fn obs(status: u16, body: &'static str) -> Observation {
        Observation { status: Some(status), body: bytes::Bytes::from_static(body.as_bytes()), ..Default::default() }
    }

    #[test]
    fn status_classes_lists_and_exact() {
        let ms = Duration::from_millis(1);
        assert!(evaluate(&[Assertion::Status(StatusMatcher::Class(2))], &obs(204, ""), ms).is_ok());
        let err = evaluate(&[Assertion::Status(StatusMatcher::Class(2))], &obs(503, ""), ms).unwrap_err();
        assert_eq!(err.0, ErrorClass::Status);
        assert!(err.1.contains("expected 2xx, got 503"), "{}", err.1);
        assert!(evaluate(&[Assertion::Status(StatusMatcher::OneOf(vec![200, 301]))], &obs(301, ""), ms).is_ok());
        assert!(evaluate(&[Assertion::Status(StatusMatcher::Exact(200))], &obs(201, ""), ms).is_err());
    }

    #[test]
    fn latency_and_body() {
        let a = [Assertion::LatencyBelow(Duration::from_millis(300)), Assertion::BodyContains("ok".into())];
        assert!(evaluate(&a, &obs(200, "all ok"), Duration::from_millis(10)).is_ok());
        let (c, d) = evaluate(&a, &obs(200, "all ok"), Duration::from_millis(400)).unwrap_err();
        assert_eq!(c, ErrorClass::Assertion);
        assert!(d.contains("expected below 300 ms, got 400.0 ms"), "{d}");
        let (_, d) = evaluate(&a, &obs(200, "nope"), Duration::from_millis(1)).unwrap_err();
        assert!(d.contains("expected to contain \"ok\", got \"nope\""), "{d}");
    }

    /// Assertions as a user writes them, through the configuration, so the table tests the whole language.
    fn assertions(list: &str) -> Vec<Assertion> {
        let text = format!("[[endpoints]]\nid = \"e\"\nurl = \"http://x/\"\nassert = [{list}]\n");
        let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
        assert!(matches!(cfg.endpoints[0].probe, ProbeConfig::Http(_)));
        cfg.endpoints[0].assertions.clone()
    }

    #[test]
    fn json_path_operators_against_a_body() {
        let body = r#"{"id": 42, "name": "cam-1", "tags": ["live", "hd"], "empty": [], "none": null, "n": "7",
                       "items": [{"url": "rtmp://a/1"}, {"url": "rtmp://a/2"}]}"#;
        let o = Observation {
            status: Some(200),
            body: bytes::Bytes::from(body),
            headers: Some({
                let mut h = http::HeaderMap::new();
                h.insert("content-type", http::HeaderValue::from_static("application/json; charset=utf-8"));
                h
            }),
            ..Default::default()
        };
        let cases: &[(&str, bool)] = &[
            (r#"{ json = "$.id" }"#, true),
            (r#"{ json = "$.missing" }"#, false),
            (r#"{ json = "$.missing", op = "not_exists" }"#, true),
            (r#"{ json = "$.id", op = "==", value = 42 }"#, true),
            (r#"{ json = "$.id", value = "42" }"#, true),
            (r#"{ json = "$.id", op = "!=", value = 42 }"#, false),
            (r#"{ json = "$.id", op = ">", value = 41 }"#, true),
            (r#"{ json = "$.id", op = ">=", value = 43 }"#, false),
            (r#"{ json = "$.id", op = "<", value = 100 }"#, true),
            (r#"{ json = "$.n", op = "<=", value = 7 }"#, true),
            (r#"{ json = "$.name", op = "<", value = 1 }"#, false),
            (r#"{ json = "$.empty", op = "empty" }"#, true),
            (r#"{ json = "$.none", op = "empty" }"#, true),
            (r#"{ json = "$.tags", op = "not_empty" }"#, true),
            (r#"{ json = "$.empty", op = "not_empty" }"#, false),
            (r#"{ json = "$.tags", op = "contains", value = "hd" }"#, true),
            (r#"{ json = "$.name", op = "matches", value = "^cam-[0-9]+$" }"#, true),
            (r#"{ json = "$.items[?@.url == 'rtmp://a/2']" }"#, true),
            (r#"{ json = "$.items[1].url", value = "rtmp://a/2" }"#, true),
            (r#"{ header = "content-type", op = "contains", value = "json" }"#, true),
            (r#"{ header = "Content-Type", op = "matches", value = "^text/" }"#, false),
            (r#"{ header = "x-missing" }"#, false),
            (r#"{ header = "x-missing", op = "not_exists" }"#, true),
            (r#"{ body_matches = "\"id\":\\s*42" }"#, true),
            (r#"{ json = "$.tags", op = "length", value = 2 }"#, true),
            (r#"{ json = "$.tags", op = "length", value = ">= 3" }"#, false),
            (r#"{ json = "$.items", op = "length", value = "< 3" }"#, true),
            (r#"{ json = "$.name", op = "length", value = 5 }"#, true),
            (r#"{ json = "$.id", op = "length", value = 2 }"#, false),
            (r#"{ cert_days_left_above = 10 }"#, false),
        ];
        for (text, expect) in cases {
            let a = assertions(text);
            let last = a.last().unwrap();
            let out = evaluate_all(std::slice::from_ref(last), &o, Duration::from_millis(5), &NoValues, &mut None);
            assert_eq!(out[0].passed, *expect, "{text}: {out:?}");
            if !out[0].passed {
                assert!(out[0].detail.contains("expected") && out[0].detail.contains("got"), "{text}: {}", out[0].detail);
            }
        }
        let out = evaluate_all(&assertions(r#"{ json = "$.id", op = "==", value = 41 }"#)[1..], &o, Duration::ZERO, &NoValues, &mut None);
        assert_eq!(out[0].detail, "expected == 41, got 42");
        assert_eq!(out[0].line(), "✗ json $.id == 41: expected == 41, got 42");
    }

    /// A JSON Schema split over two files (`$ref` to the one beside it), with a format, against good and
    /// bad bodies; the failure names where in the body and what.
    #[test]
    fn json_schema_file_with_a_ref_to_a_file_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("schemas")).unwrap();
        std::fs::write(
            dir.path().join("schemas/order.json"),
            r#"{"type": "object", "required": ["id", "items", "contact"],
                "properties": {"id": {"type": "integer"}, "items": {"type": "array", "items": {"$ref": "item.json"}},
                               "contact": {"type": "string", "format": "email"}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("schemas/item.json"),
            r#"{"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string", "minLength": 3}}}"#,
        )
        .unwrap();
        let config = dir.path().join("watchpost.toml");
        let text = "[[endpoints]]\nid = \"e\"\nurl = \"http://x/\"\nassert = [{ json_schema_file = \"schemas/order.json\" }]\n";
        std::fs::write(&config, text).unwrap();
        let cfg = Config::load_with_env(&config, &Default::default()).unwrap();
        let a = &cfg.endpoints[0].assertions[1..];
        let check = |body: &'static str| {
            let o = Observation { status: Some(200), body: bytes::Bytes::from(body), ..Default::default() };
            evaluate_all(a, &o, Duration::ZERO, &NoValues, &mut None).remove(0)
        };
        let good = check(r#"{"id": 7, "items": [{"sku": "abc"}], "contact": "ops@example.com"}"#);
        assert!(good.passed, "{good:?}");
        let bad = check(r#"{"id": "7", "items": [{"sku": "ab"}], "contact": "nobody"}"#);
        assert!(!bad.passed);
        for part in ["/id", "/items/0/sku", "/contact", "email"] {
            assert!(bad.detail.contains(part), "{part} in {}", bad.detail);
        }
        assert!(bad.what.contains("schemas/order.json"), "{}", bad.what);
        let not_json = check("<html>");
        assert!(not_json.detail.contains("expected a JSON body"), "{}", not_json.detail);
    }
}
