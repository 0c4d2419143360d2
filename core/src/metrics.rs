//! A small Prometheus text-format toolkit: lock-free counters, gauges and fixed-bucket histograms, and the
//! writers that render them (format 0.0.4). Each part keeps its own metrics struct and renders it.
//!
//! Why not a metrics crate: the process exposes a few dozen series, and atomics plus a text writer keep the
//! probe loop's cost to one relaxed atomic add per update with no registry, macro or global state.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram of seconds with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Writes `# HELP` and `# TYPE` lines.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line with labels.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

pub fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    sample(out, name, &[], value as f64);
}

pub fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    header(out, name, "gauge", help);
    sample(out, name, &[], value);
}

pub fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    header(out, name, "histogram", help);
    let mut cumulative = 0;
    let bucket = format!("{name}_bucket");
    for (b, n) in h.bounds.iter().zip(&h.buckets) {
        cumulative += n.load(Ordering::Relaxed);
        sample(out, &bucket, &[("le", &b.to_string())], cumulative as f64);
    }
    sample(out, &bucket, &[("le", "+Inf")], h.count() as f64);
    sample(out, &format!("{name}_sum"), &[], h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9);
    sample(out, &format!("{name}_count"), &[], h.count() as f64);
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_cumulative_buckets() {
        static BOUNDS: [f64; 3] = [0.01, 0.1, 1.0];
        let h = Histogram::new(&BOUNDS);
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_secs(5));
        let mut out = String::new();
        histogram(&mut out, "lat_seconds", "help", &h);
        assert!(out.contains("lat_seconds_bucket{le=\"0.01\"} 1\n"), "{out}");
        assert!(out.contains("lat_seconds_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("lat_seconds_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("lat_seconds_count 3\n"), "{out}");
    }

    #[test]
    fn escapes_label_values() {
        let mut out = String::new();
        sample(&mut out, "m", &[("k", "a\"b")], 1.0);
        assert_eq!(out, "m{k=\"a\\\"b\"} 1\n");
    }
}
