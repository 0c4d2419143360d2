//! Reading probe rows back.

use super::*;

pub(super) const PROBE_COLUMNS: &str = "s.endpoint, s.region, s.component, s.environment, p.ts, p.availability, p.ok, p.latency_ms, \
                             p.dns_ms, p.connect_ms, p.tls_ms, p.ttfb_ms, p.status_code, p.cert_days_left, p.error, p.confirmed_down, \
                             p.failed_step";

/// Reads probe rows, sharing one `Arc<SeriesKey>` per series.
pub(super) fn read_probes(stmt: &mut rusqlite::Statement<'_>, params: impl rusqlite::Params) -> rusqlite::Result<Vec<ProbePoint>> {
    let mut series: HashMap<(String, String, String, String), Arc<SeriesKey>> = HashMap::new();
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let key: (String, String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let s = series
            .entry(key)
            .or_insert_with_key(|k| {
                Arc::new(SeriesKey { endpoint: k.0.clone(), region: k.1.clone(), component: k.2.clone(), environment: k.3.clone() })
            })
            .clone();
        let error: Option<String> = r.get(14)?;
        out.push(ProbePoint {
            series: s,
            ts: r.get(4)?,
            availability: r.get(5)?,
            ok: r.get(6)?,
            latency_ms: r.get(7)?,
            dns_ms: r.get(8)?,
            connect_ms: r.get(9)?,
            tls_ms: r.get(10)?,
            ttfb_ms: r.get(11)?,
            status_code: r.get(12)?,
            cert_days_left: r.get(13)?,
            error: error.as_deref().and_then(ErrorClass::parse),
            confirmed_down: r.get(15)?,
            failed_step: r.get(16)?,
        });
    }
    Ok(out)
}
