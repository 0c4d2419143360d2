//! JSON: every figure at full precision (availability as a percentage, times in the report's zone with
//! their offset, durations in seconds), for scripts and for checking a report against raw data.

use crate::report::period::local_rfc3339;
use crate::report::{Report, Totals};
use serde_json::{json, Value};

pub fn render(r: &Report) -> String {
    let t = |ts| local_rfc3339(ts, &r.tz);
    let sections: Vec<Value> = r
        .sections
        .iter()
        .map(|s| {
            json!({
                "component": s.component,
                "environment": s.environment,
                "availability_pct": s.totals.availability,
                "target_pct": r.target,
                "met": s.met,
                "downtime_s": s.totals.down_s,
                "downtime_minutes": s.totals.down_s / 60.0,
                "error_budget_s": s.error_budget_s,
                "error_budget_left_s": s.error_budget_left_s,
                "maintenance_s": s.totals.maintenance_s,
                "unmonitored_s": s.unmonitored_s,
                "unmonitored_endpoints": s.unmonitored_endpoints,
                "latency": latency(&s.totals, r.latency_objective_ms),
                "samples": s.totals.samples,
                "failures": s.totals.failures,
                "incidents": s.incidents.iter().map(|i| json!({
                    "start": t(i.start),
                    "end": t(i.end),
                    "duration_s": i.duration_s(),
                    "regions": i.regions,
                    "endpoints": i.endpoints,
                    "began_before_period": i.began_before,
                    "continues_after": i.continues,
                })).collect::<Vec<_>>(),
                "maintenance": s.maintenance.iter().map(|w| json!({
                    "id": w.id,
                    "title": w.title,
                    "start": t(w.start),
                    "end": t(w.end),
                    "duration_s": (w.end - w.start) as f64 / 1e9,
                    "source": w.source,
                })).collect::<Vec<_>>(),
                "endpoints": s.endpoints.iter().map(|(id, e)| json!({
                    "endpoint": id,
                    "availability_pct": e.availability,
                    "downtime_s": e.down_s,
                    "maintenance_s": e.maintenance_s,
                    "samples": e.samples,
                    "failures": e.failures,
                    "latency": latency(e, r.latency_objective_ms),
                })).collect::<Vec<_>>(),
                "days": s.days.iter().map(|(d, e)| json!({
                    "start": t(*d),
                    "availability_pct": e.availability,
                    "downtime_s": e.down_s,
                    "p50_ms": e.p50_ms,
                    "p95_ms": e.p95_ms,
                    "p99_ms": e.p99_ms,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({
        "sla": r.sla,
        "title": r.title,
        "period": r.period.label,
        "from": t(r.period.from),
        "to": t(r.period.to),
        "timezone": r.tz_name,
        "complete": r.complete(),
        "data_until": t(r.data_until),
        "rolled_up_from": r.rolled_up_from.map(t),
        "target_pct": r.target,
        "latency_objective_ms": r.latency_objective_ms,
        "generated_at": t(r.generated_at),
        "sections": sections,
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

fn latency(t: &Totals, objective_ms: f64) -> Value {
    json!({
        "objective_ms": objective_ms,
        "under_objective_pct": t.under_objective,
        "mean_ms": t.latency_mean_ms,
        "p50_ms": t.p50_ms,
        "p95_ms": t.p95_ms,
        "p99_ms": t.p99_ms,
    })
}
