//! CSV: one table for spreadsheets. The first column says what a row is: `summary` (one per component and
//! environment), `incident` or `maintenance`; each kind fills the columns that apply to it.

use super::round;
use crate::report::period::local_rfc3339;
use crate::report::Report;

const HEADER: &str = "kind,component,environment,start,end,duration_s,availability_pct,target_pct,met,downtime_min,\
error_budget_left_min,under_objective_pct,p50_ms,p95_ms,p99_ms,samples,failures,maintenance_min,regions,endpoints,title";

pub fn render(r: &Report) -> String {
    let t = |ts| local_rfc3339(ts, &r.tz);
    let opt = |v: Option<f64>, d: i32| v.map(|v| round(v, d).to_string()).unwrap_or_default();
    let mut out = String::from(HEADER);
    out.push('\n');
    let mut line = |cells: Vec<String>| {
        let cells: Vec<String> = cells.iter().map(|c| field(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    };
    for s in &r.sections {
        let tt = &s.totals;
        line(vec![
            "summary".into(),
            s.component.clone(),
            s.environment.clone(),
            t(r.period.from),
            t(r.data_until),
            ((r.data_until - r.period.from) as f64 / 1e9).to_string(),
            opt(tt.availability, 6),
            r.target.to_string(),
            s.met.map(|m| m.to_string()).unwrap_or_default(),
            round(tt.down_s / 60.0, 3).to_string(),
            round(s.error_budget_left_s / 60.0, 3).to_string(),
            opt(tt.under_objective, 4),
            opt(tt.p50_ms, 3),
            opt(tt.p95_ms, 3),
            opt(tt.p99_ms, 3),
            tt.samples.to_string(),
            tt.failures.to_string(),
            round(tt.maintenance_s / 60.0, 3).to_string(),
            String::new(),
            s.endpoints.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>().join(" "),
            r.title.clone(),
        ]);
        for i in &s.incidents {
            let mut cells = vec![String::new(); 21];
            cells[0] = "incident".into();
            cells[1] = s.component.clone();
            cells[2] = s.environment.clone();
            cells[3] = t(i.start);
            cells[4] = t(i.end);
            cells[5] = i.duration_s().to_string();
            cells[18] = i.regions.iter().cloned().collect::<Vec<_>>().join(" ");
            cells[19] = i.endpoints.iter().cloned().collect::<Vec<_>>().join(" ");
            line(cells);
        }
        for w in &s.maintenance {
            let mut cells = vec![String::new(); 21];
            cells[0] = "maintenance".into();
            cells[1] = s.component.clone();
            cells[2] = s.environment.clone();
            cells[3] = t(w.start);
            cells[4] = t(w.end);
            cells[5] = ((w.end - w.start) as f64 / 1e9).to_string();
            cells[20] = w.title.clone();
            line(cells);
        }
    }
    out
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` in text is prefixed with `'` so spreadsheets do not run
/// it as a formula (titles come from configuration files, which partners do not write, but may paste).
fn field(text: &str) -> String {
    let numeric = text.parse::<f64>().is_ok();
    let text = if !numeric && text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(super::field("a,b"), "\"a,b\"");
        assert_eq!(super::field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(super::field("-12.5"), "-12.5");
    }
}
