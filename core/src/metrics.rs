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
    sample_raw(out, name, &self::labels(labels), None, value);
}

/// Labels as they go between a sample's braces, `k="v",…`, values escaped: rendered once for a series
/// written at every scrape.
pub fn labels(labels: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_label(&mut out, v);
        out.push('"');
    }
    out
}

/// Writes one sample line whose labels are rendered already (see [`labels`]), with one more label (its
/// value written as is: a name of ours, not of the operator).
pub fn sample_raw(out: &mut String, name: &str, labels: &str, extra: Option<(&str, &str)>, value: f64) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some((k, v)) = extra {
            if !labels.is_empty() {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{v}\"");
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

fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The standard `process_*` metrics of the Prometheus client libraries, read from `/proc/self` (Linux; on
/// other systems none are written): CPU seconds, resident and virtual memory, open and maximum file
/// descriptors, start time.
pub fn process(out: &mut String) {
    // /proc reports times in USER_HZ, 100 on every Linux architecture Watchpost is built for.
    const USER_HZ: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(11), field(12)) {
        header(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
        sample(out, "process_cpu_seconds_total", &[], (utime + stime) / USER_HZ);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    };
    if let Some(rss) = kib("VmRSS:") {
        gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", rss * 1024.0);
    }
    if let Some(vm) = kib("VmSize:") {
        gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", vm * 1024.0);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(out, "process_open_fds", "Number of open file descriptors.", fds.count() as f64);
    }
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let max_fds = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<f64>().ok());
    if let Some(max) = max_fds {
        gauge(out, "process_max_fds", "Maximum number of open file descriptors.", max);
    }
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse::<f64>().ok()));
    if let (Some(boot), Some(start)) = (boot, field(19)) {
        gauge(out, "process_start_time_seconds", "Start time of the process since the UNIX epoch in seconds.", boot + start / USER_HZ);
    }
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
        sample(&mut out, "m", &[("k", "a\"b"), ("path", "C:\\x\ny")], 1.0);
        assert_eq!(out, "m{k=\"a\\\"b\",path=\"C:\\\\x\\ny\"} 1\n");
    }
}
