//! Each endpoint's last probe on `/metrics`, under blackbox_exporter's names and meanings, so the dashboards
//! and alert rules written for it work against an agent: `probe_success`, `probe_duration_seconds`,
//! `probe_http_duration_seconds{phase}`, `probe_http_status_code`, `probe_ssl_earliest_cert_expiry`,
//! `probe_dns_lookup_time_seconds`, `probe_icmp_duration_seconds{phase}`; and Watchpost's confirmed state (`watchpost_endpoint_up`,
//! `watchpost_endpoint_confirmed_down`), which blackbox_exporter does not have: one miss is not an outage.
//!
//! Labelled by `endpoint`, `region`, `component` and `environment`, the tags of the endpoint's points.

use crate::probe::Attempt;
use std::sync::{Arc, Mutex};
use watchpost_core::metrics as m;
use watchpost_core::model::SeriesKey;

/// What the last attempt of one endpoint showed.
#[derive(Debug, Clone, Copy, Default)]
struct Last {
    success: bool,
    duration_s: f64,
    /// blackbox_exporter's phases: resolve, connect, tls, processing (request sent to first byte), transfer.
    phases: Option<[f64; 5]>,
    status: Option<u16>,
    /// UNIX seconds when the chain's first certificate expires.
    cert_expiry: Option<f64>,
    /// UNIX seconds when the domain's registration expires.
    domain_expiry: Option<f64>,
    dns_s: Option<f64>,
    /// blackbox_exporter's icmp phases: resolve, rtt.
    icmp: Option<[f64; 2]>,
    confirmed_down: bool,
}

/// One endpoint's slot, written by its task after each attempt.
#[derive(Debug)]
pub struct Slot {
    series: Arc<SeriesKey>,
    /// The probe type (`ProbeConfig::kind`): which families apply.
    kind: &'static str,
    last: Mutex<Option<Last>>,
}

impl Last {
    fn of(a: &Attempt, kind: &str, confirmed_down: bool) -> Last {
        let http = kind == "http";
        let ms = |v: Option<f64>| v.unwrap_or(0.0) / 1e3;
        let t = &a.timings;
        let phases = (http && a.status_code.is_some()).then(|| {
            let (resolve, connect, tls) = (ms(t.dns_ms), ms(t.connect_ms), ms(t.tls_ms));
            let ttfb = ms(t.ttfb_ms);
            let processing = (ttfb - resolve - connect - tls).max(0.0);
            [resolve, connect, tls, processing, (a.latency_ms / 1e3 - ttfb).max(0.0)]
        });
        Last {
            success: a.ok,
            duration_s: a.latency_ms / 1e3,
            phases,
            status: a.status_code,
            cert_expiry: a.cert_days_left.map(|d| a.start as f64 / 1e9 + d * 86_400.0),
            domain_expiry: a.domain_days_left.map(|d| a.start as f64 / 1e9 + d * 86_400.0),
            // The lookup of the target's name; for a dns endpoint, its own query.
            dns_s: if kind == "dns" { t.dns_ms.or(t.ttfb_ms) } else { t.dns_ms }.map(|v| v / 1e3),
            // The average round trip of the replies (a miss has none).
            icmp: (kind == "icmp").then(|| [ms(t.dns_ms), if a.ok { a.latency_ms / 1e3 } else { f64::NAN }]),
            confirmed_down,
        }
    }
}

impl Slot {
    /// Records an attempt of the endpoint and its confirmed state after it.
    pub fn record(&self, a: &Attempt, confirmed_down: bool) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Last::of(a, self.kind, confirmed_down));
    }

    /// Only the confirmed state changed (a decision without a new attempt of its own).
    pub fn set_confirmed_down(&self, down: bool) {
        if let Some(l) = self.last.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            l.confirmed_down = down;
        }
    }
}

/// Every endpoint's slot, in configuration order.
#[derive(Debug, Default)]
pub struct ProbeMetrics {
    slots: Mutex<Vec<Arc<Slot>>>,
}

impl ProbeMetrics {
    /// A slot for an endpoint whose probe is of `kind` (`ProbeConfig::kind`).
    pub fn register(&self, series: Arc<SeriesKey>, kind: &'static str) -> Arc<Slot> {
        let slot = Arc::new(Slot { series, kind, last: Mutex::new(None) });
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).push(slot.clone());
        slot
    }

    /// The families in Prometheus's text format, each family's samples together; an endpoint not yet probed
    /// has none.
    pub fn render(&self, out: &mut String) {
        let rows: Vec<(Vec<(&'static str, String)>, Last)> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|s| {
                let last = (*s.last.lock().unwrap_or_else(|p| p.into_inner()))?;
                let k = &s.series;
                let labels = vec![
                    ("endpoint", k.endpoint.clone()),
                    ("region", k.region.clone()),
                    ("component", k.component.clone()),
                    ("environment", k.environment.clone()),
                ];
                Some((labels, last))
            })
            .collect();
        render_rows(out, &rows, true);
    }
}

/// One probe's result as `GET /probe` answers it (blackbox_exporter's families, without labels: Prometheus
/// adds the target's).
pub fn render_probe(out: &mut String, a: &Attempt, kind: &str) {
    render_rows(out, &[(Vec::new(), Last::of(a, kind, false))], false);
}

type Pick = fn(&Last) -> Option<f64>;

/// blackbox_exporter's families; Watchpost's confirmed state where `state`.
fn render_rows(out: &mut String, rows: &[(Vec<(&'static str, String)>, Last)], state: bool) {
    let mut families: Vec<(&str, &str, Pick)> = vec![
        ("probe_success", "Whether the last probe succeeded (assertions included).", |l| Some(f64::from(u8::from(l.success)))),
        ("probe_duration_seconds", "How long the last probe took.", |l| Some(l.duration_s)),
        ("probe_http_status_code", "The last probe's final HTTP status code.", |l| l.status.map(f64::from)),
        ("probe_ssl_earliest_cert_expiry", "When the first certificate of the chain the server sent expires (UNIX seconds).", |l| {
            l.cert_expiry
        }),
        ("probe_dns_lookup_time_seconds", "How long the last probe's DNS lookup took.", |l| l.dns_s),
        (
            "watchpost_domain_expiry_timestamp_seconds",
            "When the domain's registration expires, from its registry's RDAP service (UNIX seconds).",
            |l| l.domain_expiry,
        ),
    ];
    if state {
        families.push((
            "watchpost_endpoint_up",
            "1 while the endpoint is confirmed up in this region (Watchpost's confirmation: one miss is not an outage).",
            |l| Some(f64::from(u8::from(!l.confirmed_down))),
        ));
        families.push((
            "watchpost_endpoint_confirmed_down",
            "1 while the endpoint is confirmed down in this region (failure_threshold misses in a row).",
            |l| Some(f64::from(u8::from(l.confirmed_down))),
        ));
    }
    for (name, help, pick) in families {
        if !rows.iter().any(|(_, l)| pick(l).is_some()) {
            continue;
        }
        m::header(out, name, "gauge", help);
        for (labels, l) in rows {
            if let Some(v) = pick(l) {
                let borrowed: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                m::sample(out, name, &borrowed, v);
            }
        }
    }
    phased(
        out,
        rows,
        "probe_http_duration_seconds",
        "The last HTTP probe's duration by phase (summed over redirects).",
        &HTTP_PHASES,
        |l| l.phases.as_ref().map(|p| &p[..]),
    );
    phased(
        out,
        rows,
        "probe_icmp_duration_seconds",
        "The last ICMP probe's duration by phase (rtt: the replies' average).",
        &["resolve", "rtt"],
        |l| l.icmp.as_ref().map(|p| &p[..]),
    );
}

const HTTP_PHASES: [&str; 5] = ["resolve", "connect", "tls", "processing", "transfer"];

/// A family with a `phase` label.
fn phased(
    out: &mut String,
    rows: &[(Vec<(&'static str, String)>, Last)],
    name: &str,
    help: &str,
    names: &[&str],
    pick: fn(&Last) -> Option<&[f64]>,
) {
    if !rows.iter().any(|(_, l)| pick(l).is_some()) {
        return;
    }
    m::header(out, name, "gauge", help);
    for (labels, l) in rows {
        let Some(values) = pick(l) else { continue };
        for (phase, v) in names.iter().zip(values) {
            let mut borrowed: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            borrowed.push(("phase", phase));
            m::sample(out, name, &borrowed, *v);
        }
    }
}
