//! Property test: every line our encoder writes parses back, with influxdata's own parser
//! (`influxdb-line-protocol`, from InfluxDB IOx), to the same measurement, tags, fields and timestamp.

use influxdb_line_protocol::{parse_lines, FieldValue};
use proptest::prelude::*;
use watchpost_core::lineproto::{write_line, Field};

/// Names with every character line protocol must escape (space, comma, equals) and the ones it must not
/// (quote, a backslash inside), but not starting with `#` (a comment line), not ending with a backslash (line
/// protocol cannot say that) and without newlines (which it cannot carry either).
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_]([A-Za-z0-9 ,=\"\\\\_.é-]{0,12}[A-Za-z0-9 ,=_])?"
}

#[derive(Debug, Clone)]
enum V {
    F(f64),
    I(i64),
    B(bool),
    S(String),
}

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        (-1e12f64..1e12).prop_map(V::F),
        any::<i64>().prop_map(V::I),
        any::<bool>().prop_map(V::B),
        "[A-Za-z0-9 ,=\"\\\\{}é]{0,20}".prop_map(V::S),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn encoded_lines_parse_back_to_the_same_point(
        measurement in name(),
        tags in proptest::collection::btree_map(name(), name(), 0..4),
        fields in proptest::collection::btree_map(name(), value(), 1..5),
        ts in any::<i64>(),
    ) {
        let tag_refs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let field_refs: Vec<(&str, Option<Field<'_>>)> = fields
            .iter()
            .map(|(k, v)| {
                let f = match v {
                    V::F(x) => Field::Float(*x),
                    V::I(x) => Field::Int(*x),
                    V::B(x) => Field::Bool(*x),
                    V::S(x) => Field::Str(x),
                };
                (k.as_str(), Some(f))
            })
            .collect();
        let mut buf = Vec::new();
        prop_assert!(write_line(&mut buf, &measurement, &tag_refs, &field_refs, ts));
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<_> = parse_lines(&text).collect();
        prop_assert_eq!(lines.len(), 1, "{}", text);
        let line = lines.into_iter().next().unwrap().map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(line.series.measurement.to_string(), measurement.clone());
        let got_tags: Vec<(String, String)> =
            line.series.tag_set.iter().flatten().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let want_tags: Vec<(String, String)> = tags.into_iter().collect();
        prop_assert_eq!(got_tags, want_tags, "{}", text);
        prop_assert_eq!(line.field_set.len(), fields.len(), "{}", text);
        for ((k, got), (wk, want)) in line.field_set.iter().zip(fields.iter()) {
            prop_assert_eq!(k.to_string(), wk.clone());
            match (got, want) {
                (FieldValue::F64(g), V::F(w)) => prop_assert_eq!(g.to_bits(), w.to_bits(), "{}", text),
                (FieldValue::I64(g), V::I(w)) => prop_assert_eq!(g, w),
                (FieldValue::Boolean(g), V::B(w)) => prop_assert_eq!(g, w),
                (FieldValue::String(g), V::S(w)) => prop_assert_eq!(g.to_string(), w.clone(), "{}", text),
                (g, w) => prop_assert!(false, "type changed: {:?} vs {:?} in {}", g, w, text),
            }
        }
        prop_assert_eq!(line.timestamp, Some(ts));
    }
}
