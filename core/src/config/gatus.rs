//! Gatus-style conditions (`conditions = ["[STATUS] == 200", "[BODY].status == UP"]`), compiled into the
//! same [`Assertion`]s `assert` takes, so a Gatus user can paste them. Pure: text in, assertion or a message
//! naming what is not understood out.
//!
//! The mapping (README.md, "Gatus conditions"):
//! - `[STATUS] == 200`, `!=`, `<`, `<=`, `>`, `>=`, `== any(200, 204)` → a status assertion;
//! - `[RESPONSE_TIME] < 300` (milliseconds; `<=` too) → `latency_below`;
//! - `[BODY] == pat(*ok*)`, `[BODY] == text` → `body_matches` (the pattern's `*` is any text);
//! - `[BODY].a.b[0] == value`, `!=`, `<`…, `== pat(…)`, `== any(a, b)` → a `json` assertion on `$.a.b[0]`;
//! - `len([BODY].items) > 0` (also `len([BODY])`) → a `json` length check;
//! - `has([BODY].x) == true` / `false` → `json` exists / not_exists;
//! - `[CERTIFICATE_EXPIRATION] > 48h` → `cert_days_left_above`;
//! - `[DNS_RCODE] == NOERROR` → `rcode`;
//! - `[DOMAIN_EXPIRATION] > 720h` → `domain_days_left_above` (domain endpoints);
//! - `[CONNECTED] == true` → nothing more than the probe's own success.

use super::{Assertion, Check, CmpOp, Operand, StatusMatcher};
use serde_json::Value;
use std::time::Duration;

/// One condition, compiled; `Ok(None)` for a condition the probe's success already means.
pub fn condition(text: &str) -> Result<Option<Assertion>, String> {
    let (left, op, right) = split(text)?;
    if let Some(inner) = call(left, "len") {
        let path = body_path(inner).ok_or_else(|| format!("len() takes [BODY] or a [BODY] path, not {inner:?}"))?;
        let n: f64 = right.parse().map_err(|_| format!("len(…) compares with a number, not {right:?}"))?;
        return json(&path, Check::Length(op, n)).map(Some);
    }
    if let Some(inner) = call(left, "has") {
        let path = body_path(inner).ok_or_else(|| format!("has() takes a [BODY] path, not {inner:?}"))?;
        let check = match (op, right) {
            (CmpOp::Eq, "true") | (CmpOp::Ne, "false") => Check::Exists,
            (CmpOp::Eq, "false") | (CmpOp::Ne, "true") => Check::NotExists,
            _ => return Err(format!("has(…) compares with == true or == false, not {} {right}", op.as_str())),
        };
        return json(&path, check).map(Some);
    }
    match left {
        "[STATUS]" => status(op, right).map(|m| Some(Assertion::Status(m))),
        "[RESPONSE_TIME]" => {
            let ms: u64 = right.parse().map_err(|_| format!("[RESPONSE_TIME] compares with milliseconds, not {right:?}"))?;
            match op {
                CmpOp::Lt => Ok(Some(Assertion::LatencyBelow(Duration::from_millis(ms)))),
                CmpOp::Le => Ok(Some(Assertion::LatencyBelow(Duration::from_millis(ms + 1)))),
                _ => Err(format!("[RESPONSE_TIME] takes < or <= (an upper bound), not {}", op.as_str())),
            }
        }
        "[BODY]" => match (op, pattern(right)) {
            (CmpOp::Eq, Some(glob)) => regex(&glob_regex(glob)).map(|r| Some(Assertion::BodyMatches(r))),
            (CmpOp::Eq, None) => regex(&format!("^{}$", regex::escape(unquote(right)))).map(|r| Some(Assertion::BodyMatches(r))),
            _ => Err(format!("[BODY] takes == (a text or pat(…)), not {}", op.as_str())),
        },
        "[CERTIFICATE_EXPIRATION]" => {
            let d = super::duration::parse_duration(right).map_err(|e| format!("[CERTIFICATE_EXPIRATION]: {e}"))?;
            match op {
                CmpOp::Gt | CmpOp::Ge => Ok(Some(Assertion::CertDaysLeftAbove(d.as_secs_f64() / 86_400.0))),
                _ => Err(format!("[CERTIFICATE_EXPIRATION] takes > (a lower bound such as > 48h), not {}", op.as_str())),
            }
        }
        "[DOMAIN_EXPIRATION]" => {
            let d = super::duration::parse_duration(right).map_err(|e| format!("[DOMAIN_EXPIRATION]: {e}"))?;
            match op {
                CmpOp::Gt | CmpOp::Ge => Ok(Some(Assertion::DomainDaysLeftAbove(d.as_secs_f64() / 86_400.0))),
                _ => Err(format!("[DOMAIN_EXPIRATION] takes > (a lower bound such as > 720h), not {}", op.as_str())),
            }
        }
        "[DNS_RCODE]" => match op {
            CmpOp::Eq => Ok(Some(Assertion::Rcode(vec![unquote(right).to_ascii_uppercase()]))),
            _ => Err(format!("[DNS_RCODE] takes ==, not {}", op.as_str())),
        },
        "[CONNECTED]" => match (op, right) {
            (CmpOp::Eq, "true") => Ok(None),
            _ => Err("[CONNECTED] takes only == true (a probe that cannot connect misses anyway)".into()),
        },
        _ => {
            if let Some(path) = body_path(left) {
                let check = match (op, pattern(right), call(right, "any")) {
                    (CmpOp::Eq, Some(glob), _) => Check::Matches(regex(&glob_regex(glob))?),
                    (CmpOp::Eq, _, Some(list)) => Check::OneOf(list.split(',').map(|v| literal(v.trim())).collect()),
                    (_, Some(_), _) | (_, _, Some(_)) => return Err(format!("pat(…) and any(…) take ==, not {}", op.as_str())),
                    _ => Check::Compare(op, Operand::Value(literal(right))),
                };
                return json(&path, check).map(Some);
            }
            let known =
                "[STATUS], [RESPONSE_TIME], [BODY], [BODY].path, len(…), has(…), [CERTIFICATE_EXPIRATION], [DOMAIN_EXPIRATION] (domain endpoints), [DNS_RCODE], [CONNECTED]";
            Err(format!("{left} is not supported here (supported: {known})"))
        }
    }
}

/// `left op right`, on the first comparison operator outside parentheses.
fn split(text: &str) -> Result<(&str, CmpOp, &str), String> {
    let mut depth = 0i32;
    let b = text.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'=' | b'!' | b'<' | b'>' if depth == 0 => {
                let two = text.get(i..i + 2).unwrap_or("");
                let (op, len) = match two {
                    "==" => (CmpOp::Eq, 2),
                    "!=" => (CmpOp::Ne, 2),
                    "<=" => (CmpOp::Le, 2),
                    ">=" => (CmpOp::Ge, 2),
                    _ if b[i] == b'<' => (CmpOp::Lt, 1),
                    _ if b[i] == b'>' => (CmpOp::Gt, 1),
                    _ => continue,
                };
                let (l, r) = (text[..i].trim(), text[i + len..].trim());
                if l.is_empty() || r.is_empty() {
                    break;
                }
                return Ok((l, op, r));
            }
            _ => {}
        }
    }
    Err(format!("{text:?} is not a condition: expected `PLACEHOLDER OPERATOR VALUE` such as \"[STATUS] == 200\""))
}

/// `name(inner)` → `inner`.
fn call<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.strip_prefix(name)?.trim_start().strip_prefix('(')?.strip_suffix(')').map(str::trim)
}

fn pattern(s: &str) -> Option<&str> {
    call(s, "pat")
}

/// `[BODY]` or `[BODY].a.b[0]` as an RFC 9535 path (`$`, `$.a.b[0]`); names that are not plain identifiers
/// in brackets.
fn body_path(s: &str) -> Option<String> {
    let rest = s.strip_prefix("[BODY]")?;
    if rest.is_empty() {
        return Some("$".into());
    }
    let rest = rest.strip_prefix('.')?;
    let mut out = String::from("$");
    for seg in rest.split('.') {
        let (name, indexes) = seg.find('[').map_or((seg, ""), |i| seg.split_at(i));
        if name.is_empty() && indexes.is_empty() {
            return None;
        }
        if !name.is_empty() {
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.starts_with(|c: char| c.is_ascii_digit()) {
                out.push('.');
                out.push_str(name);
            } else {
                out.push_str(&format!("['{}']", name.replace('\\', "\\\\").replace('\'', "\\'")));
            }
        }
        out.push_str(indexes);
    }
    Some(out)
}

fn json(path: &str, check: Check) -> Result<Assertion, String> {
    let parsed = serde_json_path::JsonPath::parse(path).map_err(|e| format!("invalid path {path}: {e}"))?;
    Ok(Assertion::Json { path: parsed, source: path.to_string(), check, nodes: super::Nodes::First })
}

/// A value as Gatus reads it: a number, `true`/`false`, else text (quotes optional).
fn literal(s: &str) -> Value {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Value::from(n);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Value::from(f);
    }
    match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(unquote(s).to_string()),
    }
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(s)
}

fn status(op: CmpOp, right: &str) -> Result<StatusMatcher, String> {
    let code =
        |v: &str| v.trim().parse::<u16>().ok().filter(|c| (100..=599).contains(c)).ok_or_else(|| format!("{v:?} is not a status code"));
    if let Some(list) = call(right, "any") {
        return match op {
            CmpOp::Eq => list.split(',').map(code).collect::<Result<_, _>>().map(StatusMatcher::OneOf),
            _ => Err("any(…) takes ==".into()),
        };
    }
    let c = code(right)?;
    Ok(match op {
        CmpOp::Eq => StatusMatcher::Exact(c),
        other => StatusMatcher::Compare(other, c),
    })
}

/// Gatus's `pat()`: `*` is any text, the rest literal, the whole value matched.
fn glob_regex(glob: &str) -> String {
    let parts: Vec<String> = unquote(glob).split('*').map(regex::escape).collect();
    format!("(?s)^{}$", parts.join(".*"))
}

fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(c: &str) -> String {
        condition(c).unwrap().map(|a| a.describe()).unwrap_or_else(|| "-".into())
    }

    #[test]
    fn the_conditions_of_gatus_documentation_compile_to_assertions() {
        assert_eq!(described("[STATUS] == 200"), "status 200");
        assert_eq!(described("[STATUS] < 300"), "status < 300");
        assert_eq!(described("[STATUS] == any(200, 204)"), "status one of [200, 204]");
        assert_eq!(described("[RESPONSE_TIME] < 300"), "latency below 300ms");
        assert_eq!(described("[BODY].status == UP"), "json $.status == \"UP\"");
        assert_eq!(described("[BODY].data[0].id == 1"), "json $.data[0].id == 1");
        assert_eq!(described("[BODY].my-key != false"), "json $['my-key'] != false");
        assert_eq!(described("len([BODY].items) > 0"), "json $.items length > 0");
        assert_eq!(described("has([BODY].errors) == false"), "json $.errors not_exists");
        assert_eq!(described("[BODY].name == pat(*watch*)"), "json $.name matches /(?s)^.*watch.*$/");
        assert_eq!(described("[BODY].state == any(live, ready)"), "json $.state one of [\"live\", \"ready\"]");
        assert_eq!(described("[BODY] == pat(*ok*)"), "body matches /(?s)^.*ok.*$/");
        assert_eq!(described("[CERTIFICATE_EXPIRATION] > 48h"), "certificate days left above 2");
        assert_eq!(described("[DNS_RCODE] == NXDOMAIN"), "rcode NXDOMAIN");
        assert_eq!(described("[DOMAIN_EXPIRATION] > 720h"), "domain registration days left above 30");
        assert_eq!(described("[CONNECTED] == true"), "-");
    }

    #[test]
    fn what_is_not_understood_is_said() {
        for (c, fragment) in [
            ("[IP] == 127.0.0.1", "[IP] is not supported here"),
            ("[STATUS] = 200", "is not a condition"),
            ("[STATUS] == 999", "is not a status code"),
            ("[RESPONSE_TIME] > 10", "takes < or <="),
            ("[BODY] != x", "[BODY] takes =="),
            ("[CERTIFICATE_EXPIRATION] > 2 days", "[CERTIFICATE_EXPIRATION]"),
            ("len([BODY].items) > many", "compares with a number"),
        ] {
            let e = condition(c).unwrap_err();
            assert!(e.contains(fragment), "{c}: {e}");
        }
    }
}
