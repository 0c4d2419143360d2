//! The spool's record payload: a compact binary encoding of a batch of points. Little-endian; strings as a
//! `u16` length and UTF-8 bytes; optional probe fields behind a presence bitmask. Decoding checks every
//! length, so a damaged record (which the checksum should already have caught) is an error, never a panic.

use std::sync::Arc;
use watchpost_core::model::{ErrorClass, MaintenancePoint, Point, ProbePoint, SeriesKey, StepPoint};

const PROBE: u8 = 1;
const MAINTENANCE: u8 = 2;
const STEP: u8 = 3;
/// A probe point with a failing step: PROBE's layout followed by the step's name.
const PROBE_FAILED_STEP: u8 = 4;

pub fn encode(points: &[Point], out: &mut Vec<u8>) {
    for p in points {
        match p {
            Point::Probe(p) => {
                out.push(if p.failed_step.is_some() { PROBE_FAILED_STEP } else { PROBE });
                series(out, &p.series);
                out.extend_from_slice(&p.ts.to_le_bytes());
                out.extend_from_slice(&p.availability.to_le_bytes());
                out.extend_from_slice(&p.latency_ms.to_le_bytes());
                let opts = [p.dns_ms, p.connect_ms, p.tls_ms, p.ttfb_ms, p.cert_days_left];
                let mut flags = u8::from(p.ok) | u8::from(p.confirmed_down) << 1;
                for (i, o) in opts.iter().enumerate() {
                    flags |= u8::from(o.is_some()) << (2 + i);
                }
                out.push(flags);
                for v in opts.into_iter().flatten() {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                out.extend_from_slice(&p.status_code.unwrap_or(i64::MIN).to_le_bytes());
                string(out, p.error.map_or("", ErrorClass::as_str));
                if let Some(step) = &p.failed_step {
                    string(out, step);
                }
            }
            Point::Step(st) => {
                out.push(STEP);
                series(out, &st.series);
                string(out, &st.step);
                out.extend_from_slice(&st.ts.to_le_bytes());
                out.extend_from_slice(&st.index.to_le_bytes());
                out.push(u8::from(st.ran) | u8::from(st.finally) << 1 | u8::from(st.ok) << 2);
                out.extend_from_slice(&st.status_code.unwrap_or(i64::MIN).to_le_bytes());
                out.extend_from_slice(&st.latency_ms.to_le_bytes());
                string(out, st.error.map_or("", ErrorClass::as_str));
                string(out, &st.detail);
                string(out, &st.assertions);
            }
            // Rollups are written by the aggregator straight to the store, never through an agent's spool.
            Point::Rollup(_) => {}
            Point::Maintenance(m) => {
                out.push(MAINTENANCE);
                string(out, &m.endpoint);
                string(out, &m.region);
                out.extend_from_slice(&m.ts.to_le_bytes());
                out.push(u8::from(m.active));
            }
        }
    }
}

fn series(out: &mut Vec<u8>, s: &SeriesKey) {
    for t in [&s.endpoint, &s.region, &s.component, &s.environment] {
        string(out, t);
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    // Tags and error classes are short; a longer string is cut at a character boundary rather than lost.
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.b.get(..n)?, self.b.get(n..)?);
        self.b = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8)?.try_into().ok().map(i64::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.take(8)?.try_into().ok().map(f64::from_le_bytes)
    }
    fn string(&mut self) -> Option<&'a str> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().ok()?) as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
    /// A series key; consecutive points of one series share one key, as they did when written.
    fn series(&mut self, last: &mut Option<Arc<SeriesKey>>) -> Option<Arc<SeriesKey>> {
        let (endpoint, region, component, environment) = (self.string()?, self.string()?, self.string()?, self.string()?);
        let series = match last {
            Some(s) if s.endpoint == endpoint && s.region == region && s.component == component && s.environment == environment => {
                s.clone()
            }
            _ => Arc::new(SeriesKey {
                endpoint: endpoint.into(),
                region: region.into(),
                component: component.into(),
                environment: environment.into(),
            }),
        };
        *last = Some(series.clone());
        Some(series)
    }
}

/// Decodes a payload written by [`encode`]; `None` if it is damaged.
pub fn decode(bytes: &[u8]) -> Option<Vec<Point>> {
    let mut r = Reader { b: bytes };
    let mut out = Vec::new();
    let mut last: Option<Arc<SeriesKey>> = None;
    while !r.b.is_empty() {
        match r.u8()? {
            kind @ (PROBE | PROBE_FAILED_STEP) => {
                let series = r.series(&mut last)?;
                let (ts, availability, latency_ms) = (r.i64()?, r.f64()?, r.f64()?);
                let flags = r.u8()?;
                let mut opt = |bit: u8| if flags & (1 << bit) != 0 { r.f64().map(Some) } else { Some(None) };
                let (dns_ms, connect_ms, tls_ms, ttfb_ms, cert_days_left) = (opt(2)?, opt(3)?, opt(4)?, opt(5)?, opt(6)?);
                let status = r.i64()?;
                let error = r.string()?;
                let failed_step = if kind == PROBE_FAILED_STEP { Some(r.string()?.to_string()) } else { None };
                out.push(Point::Probe(ProbePoint {
                    series,
                    ts,
                    availability,
                    ok: flags & 1 != 0,
                    latency_ms,
                    dns_ms,
                    connect_ms,
                    tls_ms,
                    ttfb_ms,
                    status_code: (status != i64::MIN).then_some(status),
                    cert_days_left,
                    error: ErrorClass::parse(error),
                    confirmed_down: flags & 2 != 0,
                    failed_step,
                }));
            }
            STEP => {
                let series = r.series(&mut last)?;
                let step = r.string()?.to_string();
                let ts = r.i64()?;
                let index = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
                let flags = r.u8()?;
                let (status, latency_ms) = (r.i64()?, r.f64()?);
                let (error, detail, assertions) = (r.string()?, r.string()?.to_string(), r.string()?.to_string());
                out.push(Point::Step(StepPoint {
                    series,
                    ts,
                    step,
                    index,
                    ran: flags & 1 != 0,
                    finally: flags & 2 != 0,
                    ok: flags & 4 != 0,
                    status_code: (status != i64::MIN).then_some(status),
                    latency_ms,
                    error: ErrorClass::parse(error),
                    detail,
                    assertions,
                }));
            }
            MAINTENANCE => {
                let (endpoint, region) = (r.string()?.to_string(), r.string()?.to_string());
                let (ts, active) = (r.i64()?, r.u8()? != 0);
                out.push(Point::Maintenance(MaintenancePoint { endpoint, region, ts, active }));
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(n: usize) -> Vec<Point> {
        let s = Arc::new(SeriesKey { endpoint: "api".into(), region: "eu".into(), component: String::new(), environment: "prod".into() });
        let mut v: Vec<Point> = (0..n as i64)
            .map(|i| {
                Point::Probe(ProbePoint {
                    series: s.clone(),
                    ts: 1_700_000_000_000_000_000 + i,
                    availability: if i % 3 == 0 { 0.0 } else { 100.0 },
                    ok: i % 2 == 0,
                    latency_ms: i as f64 * 1.5,
                    dns_ms: (i % 2 == 0).then_some(0.5),
                    connect_ms: Some(0.25),
                    tls_ms: None,
                    ttfb_ms: Some(3.0),
                    status_code: (i % 5 != 0).then_some(200),
                    cert_days_left: (i % 7 == 0).then_some(-1.5),
                    error: (i % 2 == 1).then_some(ErrorClass::Timeout),
                    confirmed_down: i % 3 == 0,
                    failed_step: (i % 4 == 1).then(|| "create".to_string()),
                })
            })
            .collect();
        v.push(Point::Step(StepPoint {
            series: s.clone(),
            ts: 1_700_000_000_000_000_000,
            step: "read ü".into(),
            index: 1,
            ran: true,
            finally: false,
            ok: false,
            status_code: Some(404),
            latency_ms: 12.5,
            error: Some(ErrorClass::Status),
            detail: "status 2xx: expected 2xx, got 404".into(),
            assertions: "✗ status 2xx: expected 2xx, got 404; ✓ latency below 300ms".into(),
        }));
        v.push(Point::Maintenance(MaintenancePoint { endpoint: "api".into(), region: "eu".into(), ts: 5, active: true }));
        v
    }

    #[test]
    fn round_trips_every_field() {
        let points = sample(50);
        let mut buf = Vec::new();
        encode(&points, &mut buf);
        assert_eq!(decode(&buf), Some(points));
    }

    #[test]
    fn damage_is_none_never_a_panic() {
        let mut buf = Vec::new();
        encode(&sample(10), &mut buf);
        for cut in 0..buf.len() {
            let _ = decode(&buf[..cut]); // any prefix: decodes or says no
        }
        let mut bad = buf.clone();
        bad[0] = 9;
        assert_eq!(decode(&bad), None);
    }
}
