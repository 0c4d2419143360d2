//! InfluxDB line protocol: `measurement,tag=v field=1.5,n=3i,s="x",b=true 1700000000000000000`.
//!
//! Escaping follows InfluxDB's rules: in measurements, commas and spaces; in tag keys, tag values and field
//! keys, commas, equals signs, spaces and backslashes (a name cannot end with a backslash: line protocol has
//! no way to say it, so a trailing one is dropped; validated names never contain one); in string field
//! values, double quotes and backslashes. Tags are
//! written sorted by key (InfluxDB's advice for write speed) and empty tag values are omitted (a tag may not
//! be empty). Floats that are not finite cannot be written and are left out of the line. Line protocol has no
//! escape for a newline: one in a name or value is written as a space, so a line stays a line.

use crate::model::{ErrorClass, MaintenancePoint, Point, ProbePoint, RollupPoint, SeriesKey, StepPoint};
use crate::time::Nanos;
use std::io::Write;

/// A field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(&'a str),
}

/// Appends one line (with its trailing `\n`). `tags` need not be sorted. A line needs at least one field;
/// with none (all `None` or non-finite) nothing is written and `false` is returned.
pub fn write_line(buf: &mut Vec<u8>, measurement: &str, tags: &[(&str, &str)], fields: &[(&str, Option<Field<'_>>)], ts: Nanos) -> bool {
    let present = |f: &Option<Field<'_>>| match f {
        Some(Field::Float(v)) => v.is_finite(),
        Some(_) => true,
        None => false,
    };
    if !fields.iter().any(|(_, f)| present(f)) {
        return false;
    }
    escape(buf, measurement, b", ");
    let mut sorted: Vec<&(&str, &str)> = tags.iter().filter(|(_, v)| !v.is_empty()).collect();
    sorted.sort_by_key(|(k, _)| *k);
    for (k, v) in sorted {
        buf.push(b',');
        escape(buf, k, b",= ");
        buf.push(b'=');
        escape(buf, v, b",= ");
    }
    let mut first = true;
    for (k, f) in fields {
        if !present(f) {
            continue;
        }
        buf.push(if first { b' ' } else { b',' });
        first = false;
        escape(buf, k, b",= ");
        buf.push(b'=');
        match f {
            Some(Field::Float(v)) => {
                // `{}` prints the shortest text that reads back as the same f64; without a suffix InfluxDB
                // reads it as a float.
                let _ = write!(buf, "{v}");
            }
            Some(Field::Int(v)) => {
                let _ = write!(buf, "{v}i");
            }
            Some(Field::Bool(v)) => buf.extend_from_slice(if *v { b"true" } else { b"false" }),
            Some(Field::Str(s)) => {
                buf.push(b'"');
                for c in s.bytes() {
                    match c {
                        b'"' | b'\\' => buf.extend_from_slice(&[b'\\', c]),
                        b'\n' => buf.push(b' '),
                        _ => buf.push(c),
                    }
                }
                buf.push(b'"');
            }
            None => {}
        }
    }
    let _ = writeln!(buf, " {ts}");
    true
}

fn escape(buf: &mut Vec<u8>, s: &str, special: &[u8]) {
    for c in s.trim_end_matches('\\').bytes() {
        if c == b'\n' {
            buf.push(b' ');
            continue;
        }
        // Two contiguous backslashes read as one, so a literal backslash is doubled; otherwise one before an
        // escaped special character would swallow the escape.
        if special.contains(&c) || c == b'\\' {
            buf.push(b'\\');
        }
        buf.push(c);
    }
}

/// Appends the line of a Watchpost point (schema of DESIGN.md §4). Returns whether a line was written.
pub fn write_point(buf: &mut Vec<u8>, point: &Point) -> bool {
    match point {
        Point::Probe(p) => write_probe(buf, p),
        Point::Maintenance(m) => write_maintenance(buf, m),
        Point::Step(st) => write_step(buf, st),
        Point::Rollup(r) => write_rollup(buf, r),
    }
}

fn write_rollup(buf: &mut Vec<u8>, r: &RollupPoint) -> bool {
    let tags = series_tags(&r.series);
    let int = |v: u64| Field::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let fields = [
        ("availability", r.availability().map(Field::Float)),
        ("up_s", Some(Field::Float(r.up_s))),
        ("down_s", Some(Field::Float(r.down_s))),
        ("maintenance_s", Some(Field::Float(r.maintenance_s))),
        ("down_from_s", r.down_from_s.map(Field::Float)),
        ("down_until_s", r.down_until_s.map(Field::Float)),
        ("samples", Some(int(r.samples))),
        ("failures", Some(int(r.failures))),
        ("under_threshold", Some(int(r.under_threshold))),
        ("latency_mean_ms", r.latency_mean_ms.map(Field::Float)),
        ("latency_p50_ms", r.latency_p50_ms.map(Field::Float)),
        ("latency_p90_ms", r.latency_p90_ms.map(Field::Float)),
        ("latency_p95_ms", r.latency_p95_ms.map(Field::Float)),
        ("latency_p99_ms", r.latency_p99_ms.map(Field::Float)),
        ("latency_max_ms", r.latency_max_ms.map(Field::Float)),
        ("hist", Some(Field::Str(&r.hist))),
    ];
    write_line(buf, r.resolution.measurement(), &tags, &fields, r.ts)
}

/// The tags of a series (an array, not a `Vec`: this runs for every point the writer encodes).
fn series_tags(s: &SeriesKey) -> [(&str, &str); 4] {
    [
        ("endpoint", s.endpoint.as_str()),
        ("region", s.region.as_str()),
        ("component", s.component.as_str()),
        ("environment", s.environment.as_str()),
    ]
}

fn write_probe(buf: &mut Vec<u8>, p: &ProbePoint) -> bool {
    write_line(buf, "probe", &series_tags(&p.series), &probe_fields(p), p.ts)
}

/// The fields of a probe point in `probe`.
fn probe_fields(p: &ProbePoint) -> [(&'static str, Option<Field<'_>>); 12] {
    [
        ("availability", Some(Field::Float(p.availability))),
        ("ok", Some(Field::Bool(p.ok))),
        ("latency_ms", Some(Field::Float(p.latency_ms))),
        ("dns_ms", p.dns_ms.map(Field::Float)),
        ("connect_ms", p.connect_ms.map(Field::Float)),
        ("tls_ms", p.tls_ms.map(Field::Float)),
        ("ttfb_ms", p.ttfb_ms.map(Field::Float)),
        ("status_code", p.status_code.map(Field::Int)),
        ("cert_days_left", p.cert_days_left.map(Field::Float)),
        // Always written, empty when ok: every point then has the same field set, and a query for the error
        // of the latest point needs no special case.
        ("error", Some(Field::Str(p.error.map_or("", ErrorClass::as_str)))),
        ("confirmed_down", Some(Field::Bool(p.confirmed_down))),
        ("failed_step", p.failed_step.as_deref().map(Field::Str)),
    ]
}

/// The write log's segments: each `feed` point carries a `seg` tag, its log time's second modulo
/// [`FEED_SEGMENTS`]. Why: influxd 1.6 answers a read of a series by copying (and, when needed, sorting)
/// every value its cache holds for that series, whatever the time range asked, so a read of a writer's
/// newest points cost it a copy of all it wrote since the last cache snapshot, for each field (17 when the
/// log held a line per point; now packed, two), and
/// the consumers read it several times a second (`bench/fullstack.py --profile`, issue 19). With segments a
/// read of the last second or two touches one or two sixtieths of that; the series stay bounded (60 per
/// writer).
pub const FEED_SEGMENTS: i64 = 60;
/// The span of log time one segment takes before the next begins.
pub const FEED_SEGMENT_NANOS: Nanos = 1_000_000_000;

/// The segment (`seg` tag value) of a write-log time.
pub fn feed_segment(ts: Nanos) -> i64 {
    ts.div_euclid(FEED_SEGMENT_NANOS).rem_euclid(FEED_SEGMENTS)
}

/// The fields of a `feed` point of an older version (one line per probe point), in the order a read
/// selects them (`SELECT` of these rather than `*`: the answer then carries no tag columns): the twelve of a
/// `probe` point, in the order a reader takes them (`ProbeColumns`), then the series and the probe time.
/// This version writes packed parts instead ([`write_feed_part`]) and reads these only from a write whose
/// commit names no encoding.
pub const FEED_FIELDS: [&str; 17] = [
    "availability",
    "ok",
    "latency_ms",
    "dns_ms",
    "connect_ms",
    "tls_ms",
    "ttfb_ms",
    "status_code",
    "cert_days_left",
    "error",
    "confirmed_down",
    "failed_step",
    "endpoint",
    "region",
    "component",
    "environment",
    "probed_at",
];

/// Appends one part of a packed write to the write log (ARCHITECTURE.md, "The read path"): a write's probe
/// points, encoded together (`store::influx` packs them), cut into parts of a string field each. `points`
/// is this part's share of the write's points, so a reader counts the points it read from the rows it read.
/// One series per writer and segment (`writer` and `seg` tags, see [`FEED_SEGMENTS`]), timestamped in the
/// order of writing: a read of the newest writes then touches a handful of series, not every endpoint's.
pub fn write_feed_part(buf: &mut Vec<u8>, writer: &str, ts: Nanos, data: &str, points: i64) -> bool {
    let seg = feed_segment(ts).to_string();
    let fields = [("data", Some(Field::Str(data))), ("points", Some(Field::Int(points)))];
    write_line(buf, "feed", &[("seg", seg.as_str()), ("writer", writer)], &fields, ts)
}

fn write_step(buf: &mut Vec<u8>, p: &StepPoint) -> bool {
    let [e, r, c, env] = series_tags(&p.series);
    let tags = [e, r, c, env, ("step", p.step.as_str())];
    let fields = [
        ("index", Some(Field::Int(i64::from(p.index)))),
        ("ran", Some(Field::Bool(p.ran))),
        ("finally", Some(Field::Bool(p.finally))),
        ("ok", Some(Field::Bool(p.ok))),
        ("status_code", p.status_code.map(Field::Int)),
        ("latency_ms", Some(Field::Float(p.latency_ms))),
        ("error", Some(Field::Str(p.error.map_or("", ErrorClass::as_str)))),
        ("detail", Some(Field::Str(&p.detail))),
        ("assertions", Some(Field::Str(&p.assertions))),
    ];
    write_line(buf, "check_step", &tags, &fields, p.ts)
}

fn write_maintenance(buf: &mut Vec<u8>, m: &MaintenancePoint) -> bool {
    write_line(buf, "maintenance", &[("endpoint", &m.endpoint), ("region", &m.region)], &[("active", Some(Field::Bool(m.active)))], m.ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SeriesKey;
    use std::sync::Arc;

    fn line(m: &str, tags: &[(&str, &str)], fields: &[(&str, Option<Field<'_>>)], ts: Nanos) -> String {
        let mut buf = Vec::new();
        write_line(&mut buf, m, tags, fields, ts);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn escapes_per_position() {
        assert_eq!(
            line("my probe,x", &[("b k", "v,1"), ("a", "x=y")], &[("f 1", Some(Field::Str("say \"hi\" \\o/")))], 5),
            "my\\ probe\\,x,a=x\\=y,b\\ k=v\\,1 f\\ 1=\"say \\\"hi\\\" \\\\o/\" 5\n"
        );
    }

    #[test]
    fn types_and_omissions() {
        let l = line(
            "m",
            &[("empty", ""), ("t", "v")],
            &[
                ("f", Some(Field::Float(1.0))),
                ("i", Some(Field::Int(-3))),
                ("b", Some(Field::Bool(false))),
                ("n", None),
                ("nan", Some(Field::Float(f64::NAN))),
            ],
            1,
        );
        assert_eq!(l, "m,t=v f=1,i=-3i,b=false 1\n");
        let mut buf = Vec::new();
        assert!(!write_line(&mut buf, "m", &[], &[("n", None)], 1), "a line needs a field");
        assert!(buf.is_empty());
    }

    #[test]
    fn a_probe_point() {
        let p = Point::Probe(ProbePoint {
            series: Arc::new(SeriesKey {
                endpoint: "api".into(),
                region: "eu-west".into(),
                component: String::new(),
                environment: "prod".into(),
            }),
            ts: 1_700_000_000_000_000_000,
            availability: 100.0,
            ok: false,
            latency_ms: 12.25,
            dns_ms: None,
            connect_ms: Some(0.5),
            tls_ms: None,
            ttfb_ms: Some(11.0),
            status_code: Some(503),
            cert_days_left: None,
            error: Some(ErrorClass::Status),
            confirmed_down: false,
            failed_step: None,
        });
        let mut buf = Vec::new();
        assert!(write_point(&mut buf, &p));
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "probe,endpoint=api,environment=prod,region=eu-west availability=100,ok=false,latency_ms=12.25,connect_ms=0.5,\
             ttfb_ms=11,status_code=503i,error=\"status\",confirmed_down=false 1700000000000000000\n"
        );
    }

    #[test]
    fn a_feed_part_names_its_segment_and_carries_its_data_and_its_share_of_points() {
        let at = 61 * FEED_SEGMENT_NANOS + 5;
        let mut buf = Vec::new();
        assert!(write_feed_part(&mut buf, "w1", at, "H4sI+/=", 17));
        assert_eq!(String::from_utf8(buf).unwrap(), format!("feed,seg=1,writer=w1 data=\"H4sI+/=\",points=17i {at}\n"));
        // Segments cycle, and times before 1970 still land in one.
        assert_eq!(feed_segment(FEED_SEGMENTS * FEED_SEGMENT_NANOS), 0);
        assert_eq!(feed_segment(-1), FEED_SEGMENTS - 1);
    }
}
