//! Assertions and templates, shared by endpoints and the steps of checks.

use super::*;

/// Variable names: what `{{vars.NAME}}` and `{{env.NAME}}` can spell.
pub(super) fn check_var_name(doc: &Document, path: &str, name: &str, errors: &mut ConfigErrors) {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) {
        errors.push(doc.error(path, format!("invalid variable name {name:?}: use letters, digits, `_` and `-`")));
    }
}

pub(super) fn template(doc: &Document, path: &str, text: &str, scope: &Scope, errors: &mut ConfigErrors) -> Template {
    Template::parse(text, scope).unwrap_or_else(|e| {
        errors.push(doc.error(path, e.to_string()));
        Template::literal(text)
    })
}

/// One assertion: exactly one subject key, and `op`/`value` where the subject takes them.
pub(super) fn assertion(doc: &Document, path: &str, raw: RawAssertion, scope: &Scope, errors: &mut ConfigErrors) -> Option<Assertion> {
    let subjects: Vec<&str> = [
        ("status", raw.status.is_some()),
        ("latency_below", raw.latency_below.is_some()),
        ("body_contains", raw.body_contains.is_some()),
        ("body_matches", raw.body_matches.is_some()),
        ("header", raw.header.is_some()),
        ("json", raw.json.is_some()),
        ("json_schema_file", raw.json_schema_file.is_some()),
        ("cert_days_left_above", raw.cert_days_left_above.is_some()),
        ("rcode", raw.rcode.is_some()),
        ("answers_contain", raw.answers_contain.is_some()),
        ("answers_equal", raw.answers_equal.is_some()),
        ("answer_count", raw.answer_count.is_some()),
        ("tls_version_at_least", raw.tls_version_at_least.is_some()),
        ("issuer_contains", raw.issuer_contains.is_some()),
        ("ocsp_stapled", raw.ocsp_stapled.is_some()),
        ("packet_loss_below", raw.packet_loss_below.is_some()),
        ("domain_days_left_above", raw.domain_days_left_above.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    let subject = match subjects.as_slice() {
        [one] => *one,
        [] => {
            errors.push(doc.error(
                path,
                "an assertion needs one of status, latency_below, body_contains, body_matches, header, json, json_schema_file, cert_days_left_above, \
                 rcode, answers_contain, answers_equal, answer_count, tls_version_at_least, issuer_contains, ocsp_stapled, packet_loss_below, \
                 domain_days_left_above",
            ));
            return None;
        }
        many => {
            errors.push(doc.error(path, format!("one assertion checks one thing; split {} into separate assertions", many.join(" and "))));
            return None;
        }
    };
    let takes_op = matches!(subject, "header" | "json");
    if raw.nodes.is_some() && subject != "json" {
        errors.push(doc.error(&format!("{path}.nodes"), format!("`nodes` applies to `json` assertions, not `{subject}`")));
    }
    for (k, set) in [("op", raw.op.is_some() && subject != "answer_count"), ("value", raw.value.is_some())] {
        if set && !takes_op {
            errors.push(doc.error(&format!("{path}.{k}"), format!("`{k}` applies to `header` and `json` assertions, not `{subject}`")));
        }
    }
    let regex = |key: &str, pattern: &str, errors: &mut ConfigErrors| match regex::RegexBuilder::new(pattern).size_limit(1 << 20).build() {
        Ok(r) => Some(r),
        Err(e) => {
            errors.push(doc.error(&format!("{path}.{key}"), format!("invalid regular expression: {e}")));
            None
        }
    };
    match subject {
        "status" => match status_matcher(raw.status.as_ref()?) {
            Ok(m) => Some(Assertion::Status(m)),
            Err(msg) => {
                errors.push(doc.error(&format!("{path}.status"), msg));
                None
            }
        },
        "latency_below" => {
            let v = raw.latency_below?.0;
            if v.is_zero() {
                errors.push(doc.error(&format!("{path}.latency_below"), "must be longer than zero"));
            }
            Some(Assertion::LatencyBelow(v))
        }
        "body_contains" => raw.body_contains.map(Assertion::BodyContains),
        "body_matches" => regex("body_matches", raw.body_matches.as_deref()?, errors).map(Assertion::BodyMatches),
        "cert_days_left_above" => raw.cert_days_left_above.map(Assertion::CertDaysLeftAbove),
        "domain_days_left_above" => raw.domain_days_left_above.map(Assertion::DomainDaysLeftAbove),
        "json_schema_file" => {
            let file = raw.json_schema_file?;
            match json_schema(doc, &file) {
                Ok(schema) => Some(Assertion::JsonSchema { file, schema: std::sync::Arc::new(schema) }),
                Err(e) => {
                    errors.push(doc.error(&format!("{path}.json_schema_file"), e));
                    None
                }
            }
        }
        "rcode" => {
            let codes: Vec<String> = raw.rcode?.0.iter().map(|c| c.to_ascii_uppercase()).collect();
            let unknown: Vec<&String> = codes.iter().filter(|c| !crate::config::probe::dns::RCODES.contains(&c.as_str())).collect();
            if codes.is_empty() || !unknown.is_empty() {
                let known = crate::config::probe::dns::RCODES.join(", ");
                errors.push(
                    doc.error(&format!("{path}.rcode"), format!("unknown response code {unknown:?}: expected one or a list of {known}")),
                );
                return None;
            }
            Some(Assertion::Rcode(codes))
        }
        "tls_version_at_least" => {
            let v = raw.tls_version_at_least?;
            match v.trim_start_matches("TLSv").trim_start_matches("tls").trim() {
                "1.2" => Some(Assertion::TlsVersionAtLeast(2)),
                "1.3" => Some(Assertion::TlsVersionAtLeast(3)),
                _ => {
                    // rustls speaks 1.2 and 1.3 only: an older server fails the handshake itself.
                    errors.push(
                        doc.error(
                            &format!("{path}.tls_version_at_least"),
                            format!("unknown TLS version {v:?}: expected \"1.2\" or \"1.3\""),
                        ),
                    );
                    None
                }
            }
        }
        "issuer_contains" => raw.issuer_contains.map(Assertion::IssuerContains),
        "ocsp_stapled" => raw.ocsp_stapled.map(Assertion::OcspStapled),
        "packet_loss_below" => {
            let p = raw.packet_loss_below?;
            if !(p > 0.0 && p <= 100.0) {
                errors.push(doc.error(&format!("{path}.packet_loss_below"), "must be a percentage above 0 and at most 100"));
                return None;
            }
            Some(Assertion::PacketLossBelow(p))
        }
        "answers_contain" | "answers_equal" => {
            let (list, contain) = match raw.answers_contain {
                Some(l) => (l.0, true),
                None => (raw.answers_equal?.0, false),
            };
            if contain && list.is_empty() {
                errors.push(doc.error(&format!("{path}.{subject}"), "the list is empty: name at least one answer"));
                return None;
            }
            Some(if contain { Assertion::AnswersContain(list) } else { Assertion::AnswersEqual(list) })
        }
        "answer_count" => {
            let op = match raw.op.as_deref().unwrap_or("==") {
                "==" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                ">=" => CmpOp::Ge,
                other => {
                    errors.push(
                        doc.error(&format!("{path}.op"), format!("unknown op {other:?} for answer_count: expected ==, !=, <, <=, > or >=")),
                    );
                    return None;
                }
            };
            Some(Assertion::AnswerCount(op, raw.answer_count?))
        }
        "header" => {
            let name_raw = raw.header?;
            let name = match http::HeaderName::from_bytes(name_raw.to_ascii_lowercase().as_bytes()) {
                Ok(n) => n,
                Err(_) => {
                    errors.push(doc.error(&format!("{path}.header"), format!("invalid header name {name_raw:?}")));
                    return None;
                }
            };
            let check = value_check(doc, path, raw.op, raw.value, scope, errors)?;
            Some(Assertion::Header { name, check })
        }
        _ => {
            let source = raw.json?;
            let json_path = match serde_json_path::JsonPath::parse(&source) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(
                        doc.error(&format!("{path}.json"), format!("invalid JSON path {source:?} (RFC 9535, e.g. \"$.items[0].id\"): {e}")),
                    );
                    return None;
                }
            };
            let nodes = match raw.nodes.as_deref() {
                None | Some("first") => Nodes::First,
                Some("all") => Nodes::All,
                Some("any") => Nodes::Any,
                Some(other) => {
                    errors.push(
                        doc.error(&format!("{path}.nodes"), format!("unknown value {other:?}: expected \"first\", \"all\" or \"any\"")),
                    );
                    return None;
                }
            };
            let check = value_check(doc, path, raw.op, raw.value, scope, errors)?;
            Some(Assertion::Json { path: json_path, source, check, nodes })
        }
    }
}

pub(super) fn value_check(
    doc: &Document,
    path: &str,
    op: Option<String>,
    value: Option<Value>,
    scope: &Scope,
    errors: &mut ConfigErrors,
) -> Option<Check> {
    let op = op.unwrap_or_else(|| if value.is_some() { "==".into() } else { "exists".into() });
    let operand = |value: Option<Value>, errors: &mut ConfigErrors| -> Option<Operand> {
        match value {
            None => {
                errors.push(doc.error(path, format!("`op = \"{op}\"` needs a `value`")));
                None
            }
            Some(Value::String(s)) => {
                let t = template(doc, &format!("{path}.value"), &s, scope, errors);
                Some(if t.is_literal() { Operand::Value(Value::String(s)) } else { Operand::Template(t) })
            }
            Some(v) => Some(Operand::Value(v)),
        }
    };
    let no_value = |check: Check, value: &Option<Value>, errors: &mut ConfigErrors| {
        if value.is_some() {
            errors.push(doc.error(&format!("{path}.value"), format!("`op = \"{op}\"` takes no `value`")));
        }
        Some(check)
    };
    let cmp = |c: CmpOp, value: Option<Value>, errors: &mut ConfigErrors| operand(value, errors).map(|o| Check::Compare(c, o));
    match op.as_str() {
        "exists" => no_value(Check::Exists, &value, errors),
        "not_exists" => no_value(Check::NotExists, &value, errors),
        "empty" => no_value(Check::Empty, &value, errors),
        "not_empty" => no_value(Check::NotEmpty, &value, errors),
        "==" => cmp(CmpOp::Eq, value, errors),
        "!=" => cmp(CmpOp::Ne, value, errors),
        "<" => cmp(CmpOp::Lt, value, errors),
        "<=" => cmp(CmpOp::Le, value, errors),
        ">" => cmp(CmpOp::Gt, value, errors),
        ">=" => cmp(CmpOp::Ge, value, errors),
        "contains" => operand(value, errors).map(Check::Contains),
        "matches" => match value {
            Some(Value::String(p)) => match regex::RegexBuilder::new(&p).size_limit(1 << 20).build() {
                Ok(r) => Some(Check::Matches(r)),
                Err(e) => {
                    errors.push(doc.error(&format!("{path}.value"), format!("invalid regular expression: {e}")));
                    None
                }
            },
            _ => {
                errors.push(doc.error(path, "`op = \"matches\"` needs a `value` that is a regular expression"));
                None
            }
        },
        "one_of" => match value {
            Some(Value::Array(options)) if !options.is_empty() => Some(Check::OneOf(options)),
            _ => {
                errors.push(doc.error(path, "`op = \"one_of\"` needs a `value` that is a non-empty list"));
                None
            }
        },
        "length" => match value.as_ref().and_then(length) {
            Some((c, n)) => Some(Check::Length(c, n)),
            None => {
                errors.push(doc.error(
                    &format!("{path}.value"),
                    "`op = \"length\"` needs a `value` that is a count (3) or a comparison with one (\">= 1\", \"< 100\")",
                ));
                None
            }
        },
        "type" => match value.as_ref().and_then(Value::as_str) {
            Some(t @ ("string" | "number" | "boolean" | "array" | "object" | "null")) => Some(Check::Type(t.to_string())),
            _ => {
                errors.push(doc.error(
                    path,
                    "`op = \"type\"` needs a `value` of \"string\", \"number\", \"boolean\", \"array\", \"object\" or \"null\"",
                ));
                None
            }
        },
        other => {
            errors.push(doc.error(
                &format!("{path}.op"),
                format!("unknown op {other:?}; expected ==, !=, <, <=, >, >=, exists, not_exists, empty, not_empty, contains, matches, one_of, length or type"),
            ));
            None
        }
    }
}

/// A length check's value: `3` (equal) or `">= 1"`.
fn length(value: &Value) -> Option<(CmpOp, f64)> {
    if let Some(n) = value.as_f64() {
        return (n >= 0.0).then_some((CmpOp::Eq, n));
    }
    let text = value.as_str()?.trim();
    let (op, rest) = [("==", CmpOp::Eq), ("!=", CmpOp::Ne), ("<=", CmpOp::Le), (">=", CmpOp::Ge), ("<", CmpOp::Lt), (">", CmpOp::Gt)]
        .into_iter()
        .find_map(|(s, op)| text.strip_prefix(s).map(|rest| (op, rest)))?;
    let n: f64 = rest.trim().parse().ok()?;
    (n.is_finite() && n >= 0.0).then_some((op, n))
}

/// Reads and compiles a JSON Schema file (relative to the configuration file). `$ref`s resolve against the
/// file's own location, so a schema split over files beside it works; an unknown `format` is refused
/// rather than ignored, so a typo cannot make the assertion pass everything.
fn json_schema(doc: &Document, file: &str) -> Result<jsonschema::Validator, String> {
    let path = doc.path(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {file}: {e}"))?;
    let schema: Value = serde_json::from_str(&text).map_err(|e| format!("{file} is not JSON: {e}"))?;
    let absolute = std::path::absolute(&path).map_err(|e| format!("cannot resolve {file}: {e}"))?;
    let base = format!("file://{}", absolute.display());
    jsonschema::options()
        .with_base_uri(base)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(&schema)
        .map_err(|e| format!("{file} is not a valid JSON Schema: {e}"))
}
