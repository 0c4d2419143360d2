//! Renderers: pure functions from a [`crate::snapshot::Snapshot`] to bytes. HTML, feeds and badges escape
//! every user-supplied string through [`escape`] (`core::markup`) (titles, messages and names come from the configuration
//! and the admin API, and the admin API is one leaked token away from an attacker).

pub mod badge;
pub mod feed;
pub mod html;
pub mod json;

use watchpost_core::time::Nanos;

pub use watchpost_core::markup::escape;

fn zoned(ts: Nanos, tz: &jiff::tz::TimeZone) -> Option<jiff::Zoned> {
    jiff::Timestamp::from_nanosecond(i128::from(ts)).ok().map(|t| t.to_zoned(tz.clone()))
}

/// Statuspage's timestamp form, `2026-11-23T17:21:27.418+01:00`: milliseconds and a numeric offset in the
/// page's time zone. Clients parse exactly this (some with `%Y-%m-%dT%H:%M:%S.%f%z`), so not `Z`.
pub fn api_time(ts: Nanos, tz: &jiff::tz::TimeZone) -> String {
    zoned(ts, tz).map(|z| z.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()).unwrap_or_default()
}

/// For people: `23 Nov 2026, 17:21 CET`.
pub fn human_time(ts: Nanos, tz: &jiff::tz::TimeZone) -> String {
    zoned(ts, tz).map(|z| z.strftime("%-d %b %Y, %H:%M %Z").to_string()).unwrap_or_default()
}

/// `23 Nov 2026`.
pub fn human_date(ts: Nanos, tz: &jiff::tz::TimeZone) -> String {
    zoned(ts, tz).map(|z| z.strftime("%-d %b %Y").to_string()).unwrap_or_default()
}

/// RFC 3339 UTC, for Atom and machine-readable attributes.
pub fn rfc3339(ts: Nanos) -> String {
    watchpost_core::time::format_rfc3339(ts)
}

/// `1 h 5 min`, `42 s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as i64;
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => {
            if s % 3600 / 60 == 0 {
                format!("{} h", s / 3600)
            } else {
                format!("{} h {} min", s / 3600, s % 3600 / 60)
            }
        }
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// An uptime percentage as pages show it: `99.95%`, never rounded up to 100 unless it is.
pub fn percent(p: f64) -> String {
    if p >= 100.0 {
        "100%".into()
    } else {
        format!("{:.2}%", (p * 100.0).floor() / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_statuspages_form_in_the_page_zone() {
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(api_time(1_700_000_000_123_000_000, &tz), "2023-11-14T23:13:20.123+01:00");
        assert_eq!(api_time(0, &jiff::tz::TimeZone::UTC), "1970-01-01T00:00:00.000+00:00");
    }

    #[test]
    fn percentages_never_round_up_to_a_perfect_score() {
        assert_eq!(percent(99.999), "99.99%");
        assert_eq!(percent(100.0), "100%");
        assert_eq!(duration(3900.0), "1 h 5 min");
    }
}
