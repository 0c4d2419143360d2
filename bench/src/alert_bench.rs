//! Evaluator cost (issue 8): 10,000 endpoints x 20 rules (every rule selects every endpoint: 200,000 alert
//! keys), ten minutes of history at a 5 s interval in the buffers, then one-second cycles in which a fifth
//! of the endpoints deliver a new point, as at steady state. Prints one JSON line: CPU and wall time per
//! cycle (median, p99), and per rule x endpoint evaluation.
//!
//! `--down N`: the first N endpoints fail from the first cycle on (their alerts fire and stay firing).
//! `--routing` (issue 21): the alerts go through `[alerting.route]` grouped by component, with a child
//! route, an inhibition rule and dependencies (the endpoints of one component in fifty wait on another's).
//!
//! Usage: alert_bench [--endpoints 10000] [--rules 20] [--cycles 60] [--down 0] [--routing]

use std::sync::Arc;
use std::time::Instant;
use watchpost_alerting::config::Page;
use watchpost_alerting::metrics::AlertingMetrics;
use watchpost_alerting::{Evaluator, Settings};
use watchpost_core::config::Format;
use watchpost_core::model::{Point, ProbePoint};
use watchpost_core::state::StateDb;

mod common;

const RULES: [&str; 10] = [
    "when = \"availability < 100\"",
    "when = \"availability < 99.9\"\nwindow = \"5m\"",
    "when = \"latency_mean > 300ms\"\nwindow = \"1m\"",
    "when = \"latency_p95 > 500ms\"\nwindow = \"5m\"",
    "when = \"latency_p99 > 1s\"\nwindow = \"10m\"",
    "when = \"check_failed > 2\"\nwindow = \"10m\"",
    "when = \"latency_mean > 250ms\"\nwindow = \"5m\"\nfor = \"2m\"",
    "when = \"availability < 99\"\nwindow = \"10m\"",
    "when = \"latency_p95 > 200ms\"\nwindow = \"1m\"\nfor = \"1m\"",
    "when = \"latency_mean > 1s\"",
];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(endpoints: usize, rules: usize, routing: bool) -> Settings {
    let mut t = String::from(
        "[oncall.schedules.primary]\nmembers = [\"alice\"]\n\n[alerting.notifiers.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\n\
         [alerting.policies.default]\nnotifiers = [\"hook\"]\nlevels = [{ targets = [\"oncall:primary\"] }]\n",
    );
    if routing {
        t.push_str(
            "\n[alerting.route]\npolicy = \"default\"\ngroup_by = [\"component\"]\ngroup_wait = \"10s\"\n\n\
             [[alerting.routes]]\nmatch = [\"severity=~warning|info\"]\ngroup_by = [\"component\", \"rule\"]\n\n\
             [[alerting.inhibit]]\nsource = [\"rule=rule-00\"]\ntarget = [\"rule!=rule-00\"]\nequal = [\"endpoint\", \"environment\"]\n",
        );
    }
    for i in 0..endpoints {
        let depends = if routing && i % 50 == 1 { "depends_on = [\"component-0\"]\n" } else { "" };
        t.push_str(&format!(
            "\n[[endpoints]]\nid = \"endpoint-{i:05}\"\ntype = \"tcp\"\naddress = \"127.0.0.1:9\"\ncomponent = \"component-{}\"\n{depends}",
            i % 50
        ));
    }
    for r in 0..rules {
        t.push_str(&format!("\n[[alerting.rules]]\nname = \"rule-{r:02}\"\n{}\n", RULES[r % RULES.len()]));
    }
    let page = Page { url: "http://127.0.0.1:8080".into(), served: false };
    match Settings::parse("bench.toml", Format::Toml, &t, &Default::default(), &page) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let (n, rules, cycles, down) = (arg("--endpoints", 10_000), arg("--rules", 20), arg("--cycles", 60), arg("--down", 0));
    let routing = std::env::args().any(|a| a == "--routing");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime"); // ok: a benchmark driver stops on its own setup failing
    rt.block_on(async move {
        let cfg = Arc::new(config(n, rules, routing));
        let dir = std::env::temp_dir().join(format!("watchpost-alert-bench-{}", std::process::id()));
        let state = Arc::new(StateDb::open(&dir.join("state.db")).await.expect("state db")); // ok: a benchmark driver stops on its own setup failing
        let mut ev = Evaluator::new(cfg.clone(), state, Arc::new(AlertingMetrics::default())).await.expect("evaluator"); // ok: a benchmark driver stops on its own setup failing
        let series = common::series(n);
        let s = 1_000_000_000i64;
        let t0 = watchpost_core::time::now_nanos() - 600 * s;
        // Ten minutes of history: 120 slots of 5 s per endpoint.
        let mut history: Vec<Point> = Vec::with_capacity(n * 120);
        for slot in 0..120 {
            for (i, k) in series.iter().enumerate() {
                history.push(common::point(k, i, slot, t0 + slot as i64 * 5 * s + (i as i64 % 5) * s));
            }
        }
        let load = Instant::now();
        ev.ingest(&history);
        let load_s = load.elapsed().as_secs_f64();
        drop(history);
        let mut cpu = Vec::with_capacity(cycles);
        let mut wall = Vec::with_capacity(cycles);
        let mut transitions = 0;
        for c in 0..cycles {
            let now = t0 + 600 * s + c as i64 * s;
            // Each second a fifth of the endpoints probe (5 s interval, phases spread).
            let fresh: Vec<Point> = series
                .iter()
                .enumerate()
                .filter(|(i, _)| (i + c) % 5 == 0)
                .map(|(i, k)| match common::point(k, i, 120 + c / 5, now - s / 2) {
                    Point::Probe(p) if i < down => Point::Probe(ProbePoint {
                        availability: 0.0,
                        ok: false,
                        confirmed_down: true,
                        latency_ms: 2000.0,
                        status_code: Some(503),
                        ..p
                    }),
                    p => p,
                })
                .collect();
            let (c0, w0) = (common::cpu_seconds(), Instant::now());
            ev.ingest(&fresh);
            ev.windows.prune(now);
            transitions += ev.cycle(None, now).await.expect("cycle"); // ok: a benchmark driver stops on its own setup failing
            wall.push(w0.elapsed().as_secs_f64());
            cpu.push(common::cpu_seconds() - c0);
        }
        let total_cpu: f64 = cpu.iter().sum();
        wall.sort_by(f64::total_cmp);
        let pct = |v: &[f64], q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
        let pairs = (n * rules) as f64;
        println!(
            "{}",
            serde_json::json!({
                "endpoints": n,
                "rules": rules,
                "alert_keys": n * rules,
                "cycles": cycles,
                "history_points": n * 120,
                "history_load_s": load_s,
                "cpu_ms_per_cycle_mean": 1000.0 * total_cpu / cycles as f64,
                "wall_ms_per_cycle_p50": 1000.0 * pct(&wall, 0.5),
                "wall_ms_per_cycle_p99": 1000.0 * pct(&wall, 0.99),
                "cpu_us_per_rule_endpoint": 1e6 * total_cpu / cycles as f64 / pairs,
                "transitions": transitions,
                "down": down,
                "routing": routing,
            })
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}
