//! The public page: server-rendered HTML that needs no JavaScript. Charts are inline SVG styled by the
//! page's stylesheet (classes and presentation attributes only: the Content-Security-Policy allows no
//! inline style or script). Every colour has text beside it: a status label, a bar's `<title>`, a chart's
//! `aria-label`.

use super::{duration, escape, human_date, human_time, percent};
use crate::config::StatusPageConfig;
use crate::history::DayUptime;
use crate::snapshot::{ComponentView, MaintenanceStatus, MaintenanceView, Snapshot};
use std::fmt::Write as _;
use watchpost_core::model::ComponentStatus;
use watchpost_core::state::Incident;
use watchpost_core::time::Nanos;

/// The stylesheet, served at `/assets/style.css`.
pub const STYLE: &str = include_str!("style.css");

fn status_class(s: ComponentStatus) -> &'static str {
    s.as_str()
}

/// The colour class of a day's bar.
fn bar_class(d: &DayUptime) -> &'static str {
    match d.percent {
        None if d.maintenance_s > 0.0 => "u-maint",
        None => "u-none",
        Some(p) if p >= 99.95 => "u-ok",
        Some(p) if p >= 99.0 => "u-minor",
        Some(p) if p >= 95.0 => "u-partial",
        Some(_) => "u-major",
    }
}

pub fn page(cfg: &StatusPageConfig, s: &Snapshot, has_logo: bool) -> String {
    let email_subscriptions = cfg.subscriptions.as_ref().is_some_and(|x| x.smtp.is_some());
    let mut h = String::with_capacity(64 * 1024 + s.components.len() * 12 * 1024);
    let title = escape(&cfg.title);
    let _ = write!(
        h,
        concat!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<meta name=\"color-scheme\" content=\"light dark\">\n<title>{t}</title>\n",
            "<link rel=\"stylesheet\" href=\"/assets/style.css\">\n",
            "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"{t}: incidents\" href=\"/feed.atom\">\n",
            "<link rel=\"alternate\" type=\"application/rss+xml\" title=\"{t}: incidents\" href=\"/feed.rss\">\n",
            "</head>\n<body>\n<header class=\"top\">\n<div class=\"brand\">"
        ),
        t = title
    );
    if has_logo {
        h.push_str("<img class=\"logo\" src=\"/assets/logo\" alt=\"\" width=\"40\" height=\"40\">");
    }
    let _ = writeln!(h, "<h1>{title}</h1></div>");
    if !cfg.description.is_empty() {
        let _ = writeln!(h, "<p class=\"description\">{}</p>", escape(&cfg.description));
    }
    if !cfg.links.is_empty() {
        h.push_str("<nav aria-label=\"Links\"><ul>");
        for (t, url) in &cfg.links {
            let _ = write!(h, "<li><a href=\"{}\" rel=\"noopener\">{}</a></li>", escape(url), escape(t));
        }
        h.push_str("</ul></nav>\n");
    }
    h.push_str("</header>\n<main>\n");

    match s.unavailable_since {
        // The states below are as old as the last good read (or there are none): never present them as now.
        Some(since) => {
            let _ = write!(
                h,
                "<section class=\"banner banner-unavailable\" role=\"status\" id=\"overall\" data-indicator=\"unavailable\">\n<h2>{desc}</h2>\n<p>Live status cannot be read since <time datetime=\"{since_iso}\">{since_human}</time>; what follows is as of <time datetime=\"{iso}\">{human}</time> and may be out of date.</p>\n</section>\n",
                desc = escape(s.overall_description),
                since_iso = super::rfc3339(since),
                since_human = human_time(since, &cfg.tz),
                iso = super::rfc3339(s.now),
                human = human_time(s.now, &cfg.tz),
            );
        }
        None => {
            let _ = write!(
                h,
                "<section class=\"banner banner-{ind}\" role=\"status\" id=\"overall\" data-indicator=\"{ind}\">\n<h2>{desc}</h2>\n<p>Updated <time datetime=\"{iso}\">{human}</time></p>\n</section>\n",
                ind = s.overall_indicator,
                desc = escape(s.overall_description),
                iso = super::rfc3339(s.now),
                human = human_time(s.now, &cfg.tz),
            );
        }
    }

    let active: Vec<&Incident> = s.incidents.iter().filter(|x| !x.is_resolved()).collect();
    if !active.is_empty() {
        h.push_str(
            "<section aria-labelledby=\"active-incidents\" class=\"incidents\">\n<h2 id=\"active-incidents\">Active incidents</h2>\n",
        );
        for x in active {
            incident(&mut h, cfg, s, x, true);
        }
        h.push_str("</section>\n");
    }
    let upcoming: Vec<&MaintenanceView> = s.maintenances.iter().filter(|m| m.status != MaintenanceStatus::Completed).collect();
    if !upcoming.is_empty() {
        h.push_str("<section aria-labelledby=\"maintenance-h\" class=\"maintenance\">\n<h2 id=\"maintenance-h\">Maintenance</h2>\n");
        for m in upcoming {
            maintenance(&mut h, cfg, s, m);
        }
        h.push_str("</section>\n");
    }

    let _ = write!(
        h,
        "<section aria-labelledby=\"components-h\" class=\"components\">\n<h2 id=\"components-h\">Components</h2>\n<p class=\"note\">Uptime over the last {} days in {}: a minute of major outage counts fully, a minute of partial outage counts {:.0}%, maintenance counts as up. SLA reports count each endpoint exactly.</p>\n",
        cfg.history_days,
        escape(&cfg.tz_name),
        cfg.partial_outage_weight * 100.0
    );
    for c in s.components.iter().filter(|c| c.group.is_none()) {
        component(&mut h, cfg, s, c);
    }
    for g in &s.groups {
        let _ = write!(
            h,
            "<section class=\"group\" id=\"group-{id}\" aria-labelledby=\"group-{id}-h\">\n<div class=\"row\"><h3 id=\"group-{id}-h\">{name}</h3><span class=\"status {cls}\">{label}</span></div>\n",
            id = escape(&g.id),
            name = escape(&g.name),
            cls = status_class(g.status),
            label = g.status.label(),
        );
        if let Some(p) = g.uptime_percent {
            let _ = writeln!(h, "<p class=\"note\">Group uptime {} (the mean of its components)</p>", percent(p));
        }
        for c in s.components.iter().filter(|c| c.group.as_deref() == Some(&g.id)) {
            component(&mut h, cfg, s, c);
        }
        h.push_str("</section>\n");
    }
    h.push_str("</section>\n");

    h.push_str("<section aria-labelledby=\"history-h\" class=\"history\">\n<h2 id=\"history-h\">Past incidents</h2>\n");
    let by_day = s.incidents_by_day(&cfg.tz);
    // The last week day by day, as visitors expect, then only the days that had incidents.
    let recent: Vec<Nanos> = s.day_starts.iter().rev().take(7).copied().collect();
    for start in &recent {
        let Ok(date) = jiff::Timestamp::from_nanosecond(i128::from(*start)).map(|t| t.to_zoned(cfg.tz.clone()).date()) else { continue };
        let _ = write!(h, "<div class=\"day\"><h3>{}</h3>", human_date(*start, &cfg.tz));
        match by_day.get(&date) {
            Some(list) => list.iter().for_each(|x| incident(&mut h, cfg, s, x, false)),
            None => h.push_str("<p class=\"quiet\">No incidents reported.</p>"),
        }
        h.push_str("</div>\n");
    }
    let oldest_recent = recent.last().copied().unwrap_or(s.now);
    for (date, list) in by_day.iter().rev() {
        let Ok(start) = date.to_zoned(cfg.tz.clone()).map(|z| z.timestamp().as_nanosecond() as Nanos) else { continue };
        if start >= oldest_recent {
            continue;
        }
        let _ = write!(h, "<div class=\"day\"><h3>{}</h3>", human_date(start, &cfg.tz));
        list.iter().for_each(|x| incident(&mut h, cfg, s, x, false));
        h.push_str("</div>\n");
    }
    let past: Vec<&MaintenanceView> = s.maintenances.iter().rev().filter(|m| m.status == MaintenanceStatus::Completed).take(20).collect();
    if !past.is_empty() {
        h.push_str("<h3>Completed maintenance</h3>\n");
        for m in past {
            maintenance(&mut h, cfg, s, m);
        }
    }
    h.push_str("</section>\n</main>\n");
    if email_subscriptions {
        h.push_str(concat!(
            "<section aria-labelledby=\"subscribe-h\" class=\"subscribe\">\n<h2 id=\"subscribe-h\">Get updates</h2>\n",
            "<form method=\"post\" action=\"/subscribe\"><label for=\"subscribe-email\">Email</label> ",
            "<input id=\"subscribe-email\" type=\"email\" name=\"email\" required autocomplete=\"email\" maxlength=\"254\"> ",
            "<button type=\"submit\">Subscribe</button></form>\n",
            "<p class=\"note\">We send a confirmation link first; every message has an unsubscribe link.</p>\n</section>\n"
        ));
    }
    let _ = write!(
        h,
        "<footer>\n<p>Times in {tz}. Subscribe: <a href=\"/feed.atom\">Atom</a> · <a href=\"/feed.rss\">RSS</a> · <a href=\"/api/v2/summary.json\">JSON API</a></p>\n<p>Powered by Watchpost</p>\n</footer>\n</body>\n</html>\n",
        tz = escape(&cfg.tz_name)
    );
    h
}

fn component(h: &mut String, cfg: &StatusPageConfig, s: &Snapshot, c: &ComponentView) {
    let id = escape(&c.id);
    let name = escape(&c.name);
    let _ = write!(
        h,
        "<article class=\"component\" id=\"component-{id}\" data-status=\"{st}\">\n<div class=\"row\"><h4>{name}</h4><span class=\"status {st}\">{label}</span></div>\n",
        st = status_class(c.status),
        label = c.status.label(),
    );
    if !c.description.is_empty() {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(&c.description));
    }
    if !c.targets.is_empty() {
        let list: Vec<String> = c.targets.iter().map(|t| format!("<code>{}</code>", escape(t))).collect();
        let _ = writeln!(h, "<p class=\"note\">Checks {}</p>", list.join(", "));
    }
    let total = c.total.percent.map_or_else(|| "no data".to_string(), |p| format!("{} uptime", percent(p)));
    let n = c.days.len();
    let _ = writeln!(
        h,
        "<svg class=\"bars\" viewBox=\"0 0 {w} 34\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{name}: {total} over {n} days\">",
        w = n * 5,
    );
    for (i, (start, d)) in s.day_starts.iter().zip(&c.days).enumerate() {
        let end = s.day_starts.get(i + 1).copied().unwrap_or(s.now);
        let mut tip = format!("{}: ", human_date(*start, &cfg.tz));
        match d.percent {
            Some(p) => {
                let _ = write!(tip, "{} uptime", percent(p));
            }
            None => tip.push_str("no data"),
        }
        if d.major_s >= 0.5 {
            let _ = write!(tip, "; major outage {}", duration(d.major_s));
        }
        if d.partial_s >= 0.5 {
            let _ = write!(tip, "; partial outage {}", duration(d.partial_s));
        }
        if d.maintenance_s >= 0.5 {
            let _ = write!(tip, "; maintenance {}", duration(d.maintenance_s));
        }
        let names: Vec<&str> = s.incidents_between(&c.id, *start, end).map(|x| x.name.as_str()).collect();
        if !names.is_empty() {
            let _ = write!(tip, "; incidents: {}", names.join(", "));
        }
        let _ = writeln!(
            h,
            "<rect class=\"{}\" x=\"{}\" y=\"0\" width=\"4\" height=\"34\"><title>{}</title></rect>",
            bar_class(d),
            i * 5,
            escape(&tip)
        );
    }
    h.push_str("</svg>\n");
    let _ = writeln!(h, "<div class=\"bar-legend\"><span>{n} days ago</span><span>{total}</span><span>Today</span></div>");
    h.push_str("<details class=\"latency\"><summary>Response time</summary>\n");
    chart(h, &format!("{} response time, last 24 hours", c.name), &c.latency_24h, s.now - 86_400_000_000_000, s.now);
    chart(h, &format!("{} response time, last 30 days", c.name), &c.latency_30d, s.now - 30 * 86_400_000_000_000, s.now);
    h.push_str("</details>\n</article>\n");
}

/// A line chart of mean response time over `[from, to)`.
fn chart(h: &mut String, label: &str, points: &[(Nanos, f64)], from: Nanos, to: Nanos) {
    let (w, ht, left, bottom) = (600.0, 140.0, 44.0, 20.0);
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let top = if max <= 0.0 { 1.0 } else { nice_ceiling(max) };
    let mean = if points.is_empty() { None } else { Some(points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64) };
    let summary = match mean {
        Some(m) => format!("{label}: mean {} ms, highest {} ms", m.round(), max.round()),
        None => format!("{label}: no data"),
    };
    let _ = write!(h, "<figure class=\"chart\"><svg viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"{}\">", escape(&summary));
    for frac in [0.0, 0.5, 1.0] {
        let y = (ht - bottom) * (1.0 - frac);
        let _ = write!(
            h,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{w}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} ms</text>",
            left - 4.0,
            y + 4.0,
            (top * frac).round()
        );
    }
    let span = (to - from).max(1) as f64;
    let coords: Vec<String> = points
        .iter()
        .map(|(t, ms)| {
            let x = left + (w - left) * ((t - from) as f64 / span);
            let y = (ht - bottom) * (1.0 - ms / top);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    if !coords.is_empty() {
        let _ = write!(h, "<polyline class=\"line\" fill=\"none\" points=\"{}\"/>", coords.join(" "));
    }
    let _ = writeln!(h, "</svg><figcaption>{}</figcaption></figure>", escape(&summary));
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|c| *c >= v).unwrap_or(10.0 * mag)
}

fn incident(h: &mut String, cfg: &StatusPageConfig, s: &Snapshot, x: &Incident, full: bool) {
    let _ = write!(
        h,
        "<article class=\"incident impact-{imp}\" id=\"incident-{id}\">\n<h4>{name}</h4>\n",
        imp = x.impact.as_str(),
        id = escape(&x.id),
        name = escape(&x.name),
    );
    let names: Vec<String> = x.components.iter().filter_map(|(c, _)| s.component(c)).map(|c| escape(&c.name)).collect();
    if !names.is_empty() {
        let _ = writeln!(h, "<p class=\"note\">Affects {}</p>", names.join(", "));
    }
    let updates: Vec<_> = if full { x.updates.iter().collect() } else { x.updates.iter().take(3).collect() };
    h.push_str("<ol class=\"updates\">");
    for u in updates {
        let _ = write!(
            h,
            "<li><strong>{}</strong> — {} <time datetime=\"{}\">{}</time></li>",
            u.status.label(),
            escape(&u.body),
            super::rfc3339(u.created_at),
            human_time(u.created_at, &cfg.tz)
        );
    }
    h.push_str("</ol>\n</article>\n");
}

fn maintenance(h: &mut String, cfg: &StatusPageConfig, s: &Snapshot, m: &MaintenanceView) {
    let names: Vec<String> = m.components.iter().filter_map(|c| s.component(c)).map(|c| escape(&c.name)).collect();
    let _ = write!(
        h,
        "<article class=\"maint m-{st}\" id=\"maintenance-{id}\">\n<h4>{title}</h4>\n<p><strong>{label}</strong>: <time datetime=\"{fi}\">{from}</time> to <time datetime=\"{ui}\">{until}</time></p>\n{body}<p class=\"note\">Affects {names}</p>\n</article>\n",
        st = m.status.as_str(),
        id = escape(&m.id),
        title = escape(&m.title),
        label = m.status.label(),
        fi = super::rfc3339(m.start),
        from = human_time(m.start, &cfg.tz),
        ui = super::rfc3339(m.end),
        until = human_time(m.end, &cfg.tz),
        names = names.join(", "),
        body = if m.body.is_empty() { String::new() } else { format!("<p>{}</p>\n", escape(&m.body)) },
    );
}
