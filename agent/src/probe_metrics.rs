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
    /// The endpoint's labels as they go between the braces, escaped once at start: a scrape of 50,000
    /// endpoints writes 500,000 lines, and escaping four labels afresh for each was most of its cost.
    labels: Box<str>,
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
    pub fn register(&self, series: &SeriesKey, kind: &'static str) -> Arc<Slot> {
        let labels = [
            ("endpoint", series.endpoint.as_str()),
            ("region", &series.region),
            ("component", &series.component),
            ("environment", &series.environment),
        ];
        let slot = Arc::new(Slot { labels: m::labels(&labels).into_boxed_str(), kind, last: Mutex::new(None) });
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).push(slot.clone());
        slot
    }

    /// Every endpoint's last attempt as it is now, to be written out part by part
    /// ([`Scrape::next_part`]): a response of tens of megabytes is never held whole, and the slots are
    /// locked only while copied (each endpoint's families then come from the same attempt).
    pub fn scrape(&self) -> Scrape {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let rows = slots
            .into_iter()
            .filter_map(|s| {
                let last = *s.last.lock().unwrap_or_else(|p| p.into_inner());
                last.map(|l| (s, l))
            })
            .collect();
        Scrape { rows, family: 0, next: 0 }
    }
}

/// A scrape of every endpoint's families being written out: the families in order, each family's samples
/// together (the text format wants them so), an endpoint not yet probed with none.
#[derive(Debug)]
pub struct Scrape {
    rows: Vec<(Arc<Slot>, Last)>,
    /// Where the next part starts: the family, and the row within it.
    family: usize,
    next: usize,
}

impl Scrape {
    /// Appends the next part of the scrape, about `budget` bytes (whole rows, at least one); false once the
    /// scrape is complete and nothing was appended.
    pub fn next_part(&mut self, out: &mut String, budget: usize) -> bool {
        let start = out.len();
        while let Some(family) = FAMILIES.get(self.family) {
            if self.next == 0 {
                if !self.rows.iter().any(|(_, l)| family.has(l)) {
                    self.family += 1;
                    continue;
                }
                m::header(out, family.name, "gauge", family.help);
            }
            while let Some((slot, last)) = self.rows.get(self.next) {
                family.write(out, &slot.labels, last);
                self.next += 1;
                if out.len() - start >= budget {
                    return true;
                }
            }
            self.family += 1;
            self.next = 0;
        }
        out.len() > start
    }
}

/// One probe's result as `GET /probe` answers it (blackbox_exporter's families, without labels: Prometheus
/// adds the target's).
pub fn render_probe(out: &mut String, a: &Attempt, kind: &str) {
    let last = Last::of(a, kind, false);
    for family in FAMILIES.iter().filter(|f| !f.state && f.has(&last)) {
        m::header(out, family.name, "gauge", family.help);
        family.write(out, "", &last);
    }
}

/// One family of gauges over the endpoints.
struct Family {
    name: &'static str,
    help: &'static str,
    /// Watchpost's confirmed state: on `/metrics`, not in `/probe`'s answer (one probe confirms nothing).
    state: bool,
    values: Values,
}

enum Values {
    One(fn(&Last) -> Option<f64>),
    /// A sample per phase, labelled `phase`.
    Phased(&'static [&'static str], fn(&Last) -> Option<&[f64]>),
}

impl Family {
    fn has(&self, l: &Last) -> bool {
        match self.values {
            Values::One(pick) => pick(l).is_some(),
            Values::Phased(_, pick) => pick(l).is_some(),
        }
    }

    /// The endpoint's samples of this family (none when it has no value), `labels` escaped already.
    fn write(&self, out: &mut String, labels: &str, l: &Last) {
        match self.values {
            Values::One(pick) => {
                if let Some(v) = pick(l) {
                    m::sample_raw(out, self.name, labels, None, v);
                }
            }
            Values::Phased(names, pick) => {
                for (phase, v) in names.iter().zip(pick(l).unwrap_or_default()) {
                    m::sample_raw(out, self.name, labels, Some(("phase", phase)), *v);
                }
            }
        }
    }
}

/// blackbox_exporter's families, then Watchpost's confirmed state.
static FAMILIES: [Family; 10] = [
    Family {
        name: "probe_success",
        help: "Whether the last probe succeeded (assertions included).",
        state: false,
        values: Values::One(|l| Some(f64::from(u8::from(l.success)))),
    },
    Family {
        name: "probe_duration_seconds",
        help: "How long the last probe took.",
        state: false,
        values: Values::One(|l| Some(l.duration_s)),
    },
    Family {
        name: "probe_http_status_code",
        help: "The last probe's final HTTP status code.",
        state: false,
        values: Values::One(|l| l.status.map(f64::from)),
    },
    Family {
        name: "probe_ssl_earliest_cert_expiry",
        help: "When the first certificate of the chain the server sent expires (UNIX seconds).",
        state: false,
        values: Values::One(|l| l.cert_expiry),
    },
    Family {
        name: "probe_dns_lookup_time_seconds",
        help: "How long the last probe's DNS lookup took.",
        state: false,
        values: Values::One(|l| l.dns_s),
    },
    Family {
        name: "watchpost_domain_expiry_timestamp_seconds",
        help: "When the domain's registration expires, from its registry's RDAP service (UNIX seconds).",
        state: false,
        values: Values::One(|l| l.domain_expiry),
    },
    Family {
        name: "watchpost_endpoint_up",
        help: "1 while the endpoint is confirmed up in this region (Watchpost's confirmation: one miss is not an outage).",
        state: true,
        values: Values::One(|l| Some(f64::from(u8::from(!l.confirmed_down)))),
    },
    Family {
        name: "watchpost_endpoint_confirmed_down",
        help: "1 while the endpoint is confirmed down in this region (failure_threshold misses in a row).",
        state: true,
        values: Values::One(|l| Some(f64::from(u8::from(l.confirmed_down)))),
    },
    Family {
        name: "probe_http_duration_seconds",
        help: "The last HTTP probe's duration by phase (summed over redirects).",
        state: false,
        values: Values::Phased(&["resolve", "connect", "tls", "processing", "transfer"], |l| l.phases.as_ref().map(|p| &p[..])),
    },
    Family {
        name: "probe_icmp_duration_seconds",
        help: "The last ICMP probe's duration by phase (rtt: the replies' average).",
        state: false,
        values: Values::Phased(&["resolve", "rtt"], |l| l.icmp.as_ref().map(|p| &p[..])),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Attempt, Timings};

    fn key(endpoint: &str) -> SeriesKey {
        SeriesKey { endpoint: endpoint.into(), region: "eu".into(), component: "api".into(), environment: "production".into() }
    }

    /// Three endpoints of different kinds, one of them never probed, and a name that needs escaping.
    fn metrics() -> ProbeMetrics {
        let m = ProbeMetrics::default();
        let http = Attempt {
            ok: true,
            latency_ms: 12.0,
            status_code: Some(200),
            timings: Timings { dns_ms: Some(1.0), connect_ms: Some(2.0), tls_ms: Some(3.0), ttfb_ms: Some(10.0) },
            ..Attempt::at(1_700_000_000_000_000_000)
        };
        m.register(&key("web \"main\""), "http").record(&http, false);
        m.register(&key("never"), "http");
        let icmp = Attempt { ok: false, latency_ms: 0.0, ..Attempt::at(1_700_000_000_000_000_000) };
        m.register(&key("ping"), "icmp").record(&icmp, true);
        m
    }

    #[test]
    fn a_scrape_written_in_parts_is_the_scrape_written_whole() {
        let m = metrics();
        let mut whole = String::new();
        let mut one = m.scrape();
        while one.next_part(&mut whole, usize::MAX) {}
        let mut scrape = m.scrape();
        let (mut parts, mut count) = (String::new(), 0);
        // A budget of one byte: every row is a part of its own.
        while scrape.next_part(&mut parts, 1) {
            count += 1;
        }
        assert_eq!(parts, whole);
        assert!(count > 10, "{count} parts");
        assert!(!scrape.next_part(&mut parts, 1), "a finished scrape stays finished");

        // Each family once, its samples together; the endpoint never probed has none.
        let mut seen: Vec<&str> = Vec::new();
        for line in whole.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            if seen.last() != Some(&name) {
                assert!(!seen.contains(&name), "{name} is split:\n{whole}");
                seen.push(name);
            }
        }
        assert_eq!(whole.matches("# TYPE probe_success gauge\n").count(), 1, "{whole}");
        assert!(!whole.contains("never"), "{whole}");
        let labels = r#"endpoint="web \"main\"",region="eu",component="api",environment="production""#;
        for line in [
            format!("probe_success{{{labels}}} 1\n"),
            format!("probe_http_status_code{{{labels}}} 200\n"),
            format!("probe_http_duration_seconds{{{labels},phase=\"connect\"}} 0.002\n"),
            format!("watchpost_endpoint_confirmed_down{{{labels}}} 0\n"),
            "watchpost_endpoint_confirmed_down{endpoint=\"ping\",region=\"eu\",component=\"api\",environment=\"production\"} 1\n".into(),
            "probe_icmp_duration_seconds{endpoint=\"ping\",region=\"eu\",component=\"api\",environment=\"production\",phase=\"rtt\"} NaN\n"
                .into(),
        ] {
            assert!(whole.contains(&line), "no {line} in:\n{whole}");
        }
    }

    #[test]
    fn a_scrape_of_no_probed_endpoint_is_empty() {
        let m = ProbeMetrics::default();
        m.register(&key("never"), "http");
        let mut out = String::new();
        assert!(!m.scrape().next_part(&mut out, usize::MAX));
        assert_eq!(out, "");
    }

    #[test]
    fn probe_answers_have_no_labels_and_no_confirmed_state() {
        let a = Attempt { ok: true, latency_ms: 5.0, status_code: Some(204), ..Attempt::at(0) };
        let mut out = String::new();
        render_probe(&mut out, &a, "http");
        assert!(out.contains("probe_success 1\n") && out.contains("probe_http_status_code 204\n"), "{out}");
        assert!(!out.contains("watchpost_endpoint") && !out.contains("endpoint="), "{out}");
    }
}
