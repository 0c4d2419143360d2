//! HTML: one printable, self-contained page (no script, no external asset) with an uptime chart and a
//! latency chart per component as inline SVG. Every text from configuration or data is escaped.

use super::round;
use crate::report::period::local_human;
use crate::report::{Report, Section, Totals};
use std::fmt::Write as _;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;margin:2rem auto;max-width:60rem;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.25rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de}
h3{font-size:1rem;margin:1.2rem 0 .4rem}.meta{color:#57606a}
table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eaeef2}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.met{color:#1a7f37;font-weight:600}.missed{color:#cf222e;font-weight:600}.note{color:#57606a;font-size:.9em}
.partial{background:#fff8c5;padding:.5rem;border:1px solid #d4a72c}
svg{display:block;max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#57606a}
section{break-inside:avoid-page}
@media print{body{margin:0;max-width:none}h2{break-before:auto}a{color:inherit}}
@page{size:A4;margin:15mm}
";

pub fn render(r: &Report) -> String {
    let t = |ts| local_human(ts, &r.tz);
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>SLA report {} {}</title><style>{STYLE}</style></head><body>",
        esc(&r.title),
        esc(&r.period.label)
    );
    let _ = writeln!(
        h,
        "<header><h1>Service level report: {}</h1><p class=\"meta\">Period {} ({} to {}, {}) · target {}&nbsp;% availability · latency objective {}&nbsp;ms · generated {}</p></header>",
        esc(&r.title),
        esc(&r.period.label),
        esc(&t(r.period.from)),
        esc(&t(r.period.to)),
        esc(&r.tz_name),
        r.target,
        round(r.latency_objective_ms, 3),
        esc(&t(r.generated_at))
    );
    if r.data_until < r.period.to {
        let _ = writeln!(h, "<p class=\"partial\">Partial report: rollups cover the period up to {} only.</p>", esc(&t(r.data_until)));
    }
    if let Some(start) = r.rolled_up_from.filter(|s| *s > r.period.from) {
        let _ = writeln!(h, "<p class=\"partial\">Incomplete report: rollups exist from {} on only.</p>", esc(&t(start)));
    }
    let never: Vec<&str> = r.sections.iter().flat_map(|s| s.unmonitored_endpoints.iter().map(String::as_str)).collect();
    if !never.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"partial\">Incomplete report: no data at all for {} in this period (not monitored, or not rolled up).</p>",
            esc(&never.join(", "))
        );
    }
    h.push_str("<main>\n<h2>Summary</h2>\n<table><thead><tr><th>Component</th><th>Environment</th><th class=\"n\">Availability</th><th>Target</th><th class=\"n\">Downtime</th><th class=\"n\">Error budget left</th><th class=\"n\">Incidents</th><th class=\"n\">Under objective</th><th class=\"n\">p95</th><th class=\"n\">p99</th></tr></thead><tbody>\n");
    for s in &r.sections {
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            anchor(s),
            esc(&s.component),
            esc(&s.environment),
            pct(s.totals.availability, 4),
            verdict(s.met),
            minutes(s.totals.down_s),
            minutes(s.error_budget_left_s),
            s.incidents.len(),
            pct(s.totals.under_objective, 2),
            ms(s.totals.p95_ms),
            ms(s.totals.p99_ms)
        );
    }
    h.push_str("</tbody></table>\n");
    for s in &r.sections {
        section(&mut h, r, s);
    }
    h.push_str(
        "<h2>How these figures are computed</h2><p class=\"note\">Availability is up time over probed time, by probe slot \
         (each probe stands for its interval), with maintenance excluded from both sides; an outage counts from the \
         first of the misses that confirmed it. Times add up over endpoints and regions, so availability, downtime and \
         error budget agree. Time no probe covered (an agent that was not reporting) is unmonitored: neither up nor \
         down. Percentiles are read from merged latency histograms of the successful probes (3 significant digits), \
         never averaged; the share under the objective counts failed probes as not under it. Incidents are stretches \
         in which an endpoint of the component was confirmed down in at least one region. Chart bars are UTC days; \
         where the report's time zone is not UTC the first and last are partial.</p>\n</main></body></html>\n",
    );
    h
}

fn section(h: &mut String, r: &Report, s: &Section) {
    let t = |ts| local_human(ts, &r.tz);
    let _ = writeln!(h, "<section id=\"{}\"><h2>{} · {}</h2>", anchor(s), esc(&s.component), esc(&s.environment));
    let _ = writeln!(
        h,
        "<p>Availability <strong>{}</strong> against a target of {}&nbsp;%: {}. Downtime {}, error budget {} of which {} left. \
         Maintenance {}; unmonitored {}. {} probes, {} failed; {} under {}&nbsp;ms; p50 {}, p95 {}, p99 {}.</p>",
        pct(s.totals.availability, 4),
        r.target,
        verdict(s.met),
        minutes(s.totals.down_s),
        minutes(s.error_budget_s),
        minutes(s.error_budget_left_s),
        minutes(s.totals.maintenance_s),
        minutes(s.unmonitored_s),
        s.totals.samples,
        s.totals.failures,
        pct(s.totals.under_objective, 2),
        round(r.latency_objective_ms, 3),
        ms(s.totals.p50_ms),
        ms(s.totals.p95_ms),
        ms(s.totals.p99_ms)
    );
    h.push_str("<h3>Uptime by day</h3>\n");
    uptime_chart(h, r, s);
    h.push_str("<h3>Latency by day</h3>\n");
    latency_chart(h, r, s);
    h.push_str("<h3>Incidents</h3>\n");
    if s.incidents.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str("<table><thead><tr><th>Start</th><th>End</th><th class=\"n\">Duration</th><th>Regions</th><th>Endpoints</th></tr></thead><tbody>\n");
        for i in &s.incidents {
            let _ = writeln!(
                h,
                "<tr><td>{}{}</td><td>{}{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t(i.start)),
                if i.began_before { " (began earlier)" } else { "" },
                esc(&t(i.end)),
                if i.continues { " (continues)" } else { "" },
                duration(i.duration_s()),
                esc(&i.regions.iter().cloned().collect::<Vec<_>>().join(", ")),
                esc(&i.endpoints.iter().cloned().collect::<Vec<_>>().join(", "))
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("<h3>Maintenance windows</h3>\n");
    if s.maintenance.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str("<table><thead><tr><th>Window</th><th>Start</th><th>End</th><th class=\"n\">Duration</th></tr></thead><tbody>\n");
        for w in &s.maintenance {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&w.title),
                esc(&t(w.start)),
                esc(&t(w.end)),
                duration((w.end - w.start) as f64 / 1e9)
            );
        }
        h.push_str("</tbody></table>\n");
    }
    if s.endpoints.len() > 1 {
        h.push_str("<h3>Endpoints</h3>\n<table><thead><tr><th>Endpoint</th><th class=\"n\">Availability</th><th class=\"n\">Downtime</th><th class=\"n\">p95</th></tr></thead><tbody>\n");
        for (id, e) in &s.endpoints {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(id),
                pct(e.availability, 4),
                minutes(e.down_s),
                ms(e.p95_ms)
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</section>\n");
}

const W: f64 = 720.0;
const H: f64 = 160.0;
/// Width of one character of an axis label (11px system-ui digits are about 6-7 px) and the gap to the axis.
const LABEL_CHAR: f64 = 7.0;
const LABEL_GAP: f64 = 8.0;
const BOTTOM: f64 = 20.0;

/// Daily availability as bars on a scale from just below the worst day (or the target) to 100 %, with the
/// target as a dashed line; each bar's title gives the day's figures.
fn uptime_chart(h: &mut String, r: &Report, s: &Section) {
    let days = &s.days;
    let worst = days.iter().filter_map(|(_, d)| d.availability).fold(r.target, f64::min);
    let lo = (worst - (100.0 - worst).max(0.01) * 0.25).clamp(0.0, 99.99);
    let y = |v: f64| (H - BOTTOM) * (1.0 - (v - lo) / (100.0 - lo));
    let _ = writeln!(
        h,
        "<svg class=\"uptime\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Daily availability of {} in {}, target {} %\">",
        esc(&s.component),
        esc(&s.environment),
        r.target
    );
    let left = axis(h, &[(lo, format!("{} %", round(lo, 3))), (100.0, "100 %".into())], y);
    let n = days.len().max(1) as f64;
    let bw = (W - left) / n;
    for (i, (day, d)) in days.iter().enumerate() {
        let x = left + i as f64 * bw;
        let (fill, top) = match d.availability {
            Some(a) if a + 1e-12 >= r.target => ("#2da44e", y(a)),
            Some(a) => ("#cf222e", y(a)),
            None => ("#afb8c1", 0.0),
        };
        let label = format!(
            "{}: availability {}, downtime {}, maintenance {}",
            local_human(*day, &r.tz).split(' ').next().unwrap_or_default(),
            pct(d.availability, 4),
            minutes(d.down_s),
            minutes(d.maintenance_s)
        );
        let _ = writeln!(
            h,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"><title>{}</title></rect>",
            x + 0.5,
            top,
            (bw - 1.0).max(0.5),
            (H - BOTTOM - top).max(1.0),
            esc(&label)
        );
    }
    let ty = y(r.target);
    let _ = writeln!(h, "<line x1=\"{left}\" x2=\"{W}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#1f2328\" stroke-dasharray=\"4 3\"><title>target {} %</title></line>", r.target);
    day_labels(h, days.iter().map(|(d, _)| *d), left, bw);
    h.push_str("</svg>\n");
}

/// Reads one figure of a day.
type Figure = fn(&Totals) -> Option<f64>;

/// Daily p50, p95 and p99 as lines, with the latency objective dashed.
fn latency_chart(h: &mut String, r: &Report, s: &Section) {
    let days = &s.days;
    let top = days.iter().filter_map(|(_, d)| d.p99_ms).fold(r.latency_objective_ms, f64::max) * 1.1;
    let y = |v: f64| (H - BOTTOM) * (1.0 - v / top);
    let _ = writeln!(
        h,
        "<svg class=\"latency\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Daily latency percentiles of {} in {}, objective {} ms\">",
        esc(&s.component),
        esc(&s.environment),
        round(r.latency_objective_ms, 3)
    );
    let left = axis(h, &[(0.0, "0 ms".into()), (top, format!("{} ms", round(top, 0)))], y);
    let n = days.len().max(1) as f64;
    let bw = (W - left) / n;
    let series: [(&str, &str, Figure); 3] =
        [("p50", "#0969da", |d| d.p50_ms), ("p95", "#bf8700", |d| d.p95_ms), ("p99", "#cf222e", |d| d.p99_ms)];
    for (k, (name, colour, get)) in series.iter().enumerate() {
        let points: Vec<String> = days
            .iter()
            .enumerate()
            .filter_map(|(i, (_, d))| get(d).map(|v| format!("{:.1},{:.1}", left + (i as f64 + 0.5) * bw, y(v))))
            .collect();
        let _ = writeln!(h, "<polyline class=\"{name}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"><title>{name}</title></polyline>", points.join(" "));
        let _ = writeln!(h, "<text x=\"{:.0}\" y=\"12\" fill=\"{colour}\">{name}</text>", W - 120.0 + k as f64 * 40.0);
    }
    let oy = y(r.latency_objective_ms);
    let _ = writeln!(
        h,
        "<line x1=\"{left}\" x2=\"{W}\" y1=\"{oy:.1}\" y2=\"{oy:.1}\" stroke=\"#57606a\" stroke-dasharray=\"4 3\"><title>objective {} ms</title></line>",
        round(r.latency_objective_ms, 3)
    );
    day_labels(h, days.iter().map(|(d, _)| *d), left, bw);
    h.push_str("</svg>\n");
}

/// Draws the y axis with its labels, right-aligned against it; returns the axis's x, sized from the longest
/// label so that none is cut off at the chart's left edge (`97.305 %` is wider than `100 %`).
fn axis(h: &mut String, ticks: &[(f64, String)], y: impl Fn(f64) -> f64) -> f64 {
    let widest = ticks.iter().map(|(_, l)| l.chars().count()).max().unwrap_or(0);
    let left = (widest as f64 * LABEL_CHAR + LABEL_GAP).max(40.0);
    let _ = writeln!(h, "<line x1=\"{left}\" x2=\"{left}\" y1=\"0\" y2=\"{}\" stroke=\"#d0d7de\"/>", H - BOTTOM);
    for (v, label) in ticks {
        let _ =
            writeln!(h, "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", left - 4.0, y(*v).clamp(10.0, H - BOTTOM), esc(label));
    }
    left
}

/// Date labels under a chart, thinned to about ten.
fn day_labels(h: &mut String, days: impl Iterator<Item = i64>, left: f64, bw: f64) {
    let days: Vec<i64> = days.collect();
    let every = days.len().div_ceil(10).max(1);
    for (i, d) in days.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let date = jiff::Timestamp::from_nanosecond(i128::from(*d)).map(|t| t.strftime("%m-%d").to_string()).unwrap_or_default();
        let _ =
            writeln!(h, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>", left + (i as f64 + 0.5) * bw, H - 5.0, esc(&date));
    }
}

fn anchor(s: &Section) -> String {
    let raw = format!("{}-{}", s.component, s.environment);
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "<span class=\"met\">met</span>",
        Some(false) => "<span class=\"missed\">missed</span>",
        None => "no data",
    }
}

fn pct(v: Option<f64>, digits: i32) -> String {
    v.map_or("–".into(), |v| format!("{}&nbsp;%", round(v, digits)))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{}&nbsp;ms", round(v, 1)))
}

fn minutes(s: f64) -> String {
    format!("{}&nbsp;min", round(s / 60.0, 2))
}

fn duration(s: f64) -> String {
    let total = s.round() as i64;
    let (d, h, m, sec) = (total / 86_400, total % 86_400 / 3600, total % 3600 / 60, total % 60);
    match (d, h) {
        (0, 0) => format!("{m}m {sec:02}s"),
        (0, _) => format!("{h}h {m:02}m {sec:02}s"),
        _ => format!("{d}d {h:02}h {m:02}m"),
    }
}

pub use watchpost_core::markup::escape as esc;

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped_and_durations_read_well() {
        assert_eq!(super::esc("<script>\"x\"&'"), "&lt;script&gt;&quot;x&quot;&amp;&#39;");
        assert_eq!(super::duration(75.0), "1m 15s");
        assert_eq!(super::duration(3_725.0), "1h 02m 05s");
        assert_eq!(super::duration(90_061.0), "1d 01h 01m");
    }

    /// Issue 17, defect 14: the y-axis label "97.305 %" showed as "7.305 %" (a fixed 48 px margin).
    #[test]
    fn regression_axis_labels_fit_their_margin() {
        let mut h = String::new();
        let label = "97.305 %".to_string();
        let left = super::axis(&mut h, &[(97.305, label.clone()), (100.0, "100 %".into())], |_| 50.0);
        // Right-aligned at left - 4: the label's start must be inside the picture at the chart's font.
        let width = label.chars().count() as f64 * super::LABEL_CHAR;
        assert!(left - 4.0 - width >= 0.0, "the label starts at {} px", left - 4.0 - width);
        assert!(h.contains(&format!("<line x1=\"{left}\" x2=\"{left}\"")), "{h}");
        // A wider label widens the margin.
        let wider = super::axis(&mut String::new(), &[(0.0, "99.99999 %".into())], |_| 0.0);
        assert!(wider > left);
    }
}
