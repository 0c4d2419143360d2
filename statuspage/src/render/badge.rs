//! SVG badges in the shields.io "flat" look: a grey label and a coloured value, for READMEs and dashboards.
//! Text widths come from a small table of Verdana 11 px advances, close enough that badges look like
//! shields.io's without a font file.

use super::escape;
use watchpost_core::model::ComponentStatus;

const GREEN: &str = "#4c1";
const LIME: &str = "#97ca00";
const YELLOW: &str = "#dfb317";
const ORANGE: &str = "#fe7d37";
const RED: &str = "#e05d44";
const BLUE: &str = "#007ec6";
const GREY: &str = "#9f9f9f";

/// Approximate advance of `c` in Verdana 11 px, in pixels.
fn advance(c: char) -> f64 {
    match c {
        'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 3.5,
        ' ' | 'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '/' => 4.6,
        'm' | 'w' | 'M' | 'W' | '%' | '@' => 10.5,
        'A'..='Z' => 7.6,
        '0'..='9' => 7.0,
        _ => 6.5,
    }
}

fn text_width(s: &str) -> f64 {
    s.chars().map(advance).sum()
}

/// A flat badge `label | value` with the value on `color`.
pub fn badge(label: &str, value: &str, color: &str) -> String {
    let (lt, vt) = (text_width(label), text_width(value));
    let (lw, vw) = ((lt + 10.0).round(), (vt + 10.0).round());
    let w = lw + vw;
    let (label_e, value_e) = (escape(label), escape(value));
    format!(
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{l}: {v}">"##,
            r##"<title>{l}: {v}</title>"##,
            r##"<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>"##,
            r##"<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>"##,
            r##"<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{color}"/><rect width="{w}" height="20" fill="url(#s)"/></g>"##,
            r##"<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110">"##,
            r##"<text aria-hidden="true" x="{lx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="{ltl}">{l}</text>"##,
            r##"<text x="{lx}" y="140" transform="scale(.1)" fill="#fff" textLength="{ltl}">{l}</text>"##,
            r##"<text aria-hidden="true" x="{vx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="{vtl}">{v}</text>"##,
            r##"<text x="{vx}" y="140" transform="scale(.1)" fill="#fff" textLength="{vtl}">{v}</text></g></svg>"##
        ),
        w = w,
        lw = lw,
        vw = vw,
        color = color,
        l = label_e,
        v = value_e,
        lx = (lw * 5.0).round(),
        vx = ((lw + vw / 2.0) * 10.0).round(),
        ltl = (lt * 10.0).round(),
        vtl = (vt * 10.0).round(),
    )
}

pub fn status(label: &str, s: ComponentStatus) -> String {
    let (value, color) = match s {
        ComponentStatus::Operational => ("operational", GREEN),
        ComponentStatus::UnderMaintenance => ("maintenance", BLUE),
        ComponentStatus::DegradedPerformance => ("degraded", YELLOW),
        ComponentStatus::PartialOutage => ("partial outage", ORANGE),
        ComponentStatus::MajorOutage => ("major outage", RED),
    };
    badge(label, value, color)
}

pub fn uptime(label: &str, percent: Option<f64>) -> String {
    match percent {
        None => badge(label, "no data", GREY),
        Some(p) => {
            let color = match p {
                p if p >= 99.9 => GREEN,
                p if p >= 99.0 => LIME,
                p if p >= 97.0 => YELLOW,
                p if p >= 95.0 => ORANGE,
                _ => RED,
            };
            badge(label, &super::percent(p), color)
        }
    }
}

pub fn response_time(label: &str, ms: Option<f64>, objective_ms: f64) -> String {
    match ms {
        None => badge(label, "no data", GREY),
        Some(ms) => {
            let color = match ms / objective_ms {
                r if r <= 0.5 => GREEN,
                r if r <= 1.0 => LIME,
                r if r <= 2.0 => YELLOW,
                _ => RED,
            };
            badge(label, &format!("{} ms", ms.round()), color)
        }
    }
}

/// The badge `kind` (`status.svg`, `uptime.svg`, `response-time.svg`) of a component; `None` for another
/// kind. `label` replaces the default label; `days` narrows the uptime period to the last days.
pub fn for_component(
    kind: &str,
    c: &crate::snapshot::ComponentView,
    weight: f64,
    objective_ms: f64,
    label: Option<&str>,
    days: Option<usize>,
) -> Option<String> {
    Some(match kind {
        "status.svg" => status(label.unwrap_or(&c.name), c.status),
        "uptime.svg" => {
            let days = days.unwrap_or(c.days.len()).clamp(1, c.days.len().max(1));
            let from = c.days.len().saturating_sub(days);
            let total = crate::history::DayUptime::total(&c.days[from..], weight);
            uptime(label.unwrap_or(&format!("uptime {days}d")), total.percent)
        }
        "response-time.svg" => {
            let (sum, n) = c.latency_24h.iter().fold((0.0, 0usize), |(s, n), (_, ms)| (s + ms, n + 1));
            response_time(label.unwrap_or("response time"), (n > 0).then(|| sum / n as f64), objective_ms)
        }
        _ => return None,
    })
}

/// Every badge kind, for the static export.
pub const KINDS: [&str; 3] = ["status.svg", "uptime.svg", "response-time.svg"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_is_an_svg_with_both_texts_escaped_and_sized() {
        let b = badge("<api>", "99.9%", GREEN);
        assert!(b.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(b.contains("&lt;api&gt;") && !b.contains("<api>"));
        assert!(b.contains("fill=\"#4c1\""));
        let wide = badge("status", "major outage", RED);
        let narrow = badge("status", "ok", RED);
        let width = |s: &str| s.split("width=\"").nth(1).and_then(|r| r.split('"').next()).and_then(|w| w.parse::<f64>().ok()).unwrap();
        assert!(width(&wide) > width(&narrow) + 40.0);
    }

    #[test]
    fn colours_follow_the_value() {
        assert!(uptime("uptime", Some(99.95)).contains(GREEN));
        assert!(uptime("uptime", Some(90.0)).contains(RED));
        assert!(status("api", ComponentStatus::MajorOutage).contains("major outage"));
        assert!(response_time("latency", Some(120.0), 300.0).contains("120 ms"));
    }
}
