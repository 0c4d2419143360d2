//! Report periods (DESIGN.md §5.6): a month (`2026-10`), a quarter (`2026-Q4`) or a custom range, each
//! beginning and ending at midnight in the report's time zone, so an October report for Berlin runs from
//! 2026-09-30T22:00Z to 2026-10-31T23:00Z (summer time ended on the 25th).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use watchpost_core::time::Nanos;

/// A resolved period: `[from, to)` in UTC nanoseconds, and how to name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub from: Nanos,
    pub to: Nanos,
}

/// Resolves `--period` or `--from`/`--to` in `tz`. A date in `--to` includes that whole day; an RFC 3339
/// instant is the exclusive end.
pub fn resolve(period: Option<&str>, from: Option<&str>, to: Option<&str>, tz: &TimeZone) -> Result<Period, String> {
    match (period, from, to) {
        (Some(p), None, None) => named(p, tz),
        (None, Some(f), Some(t)) => {
            let (from, from_label) = instant(f, tz, false)?;
            let (to, to_label) = instant(t, tz, true)?;
            if to <= from {
                return Err(format!("--to {t} is not after --from {f}"));
            }
            Ok(Period { label: format!("{from_label} to {to_label}"), from, to })
        }
        (None, None, None) => Err("give a period: --period 2026-10 (a month), --period 2026-Q4 (a quarter), or --from and --to".into()),
        (Some(_), _, _) => Err("--period and --from/--to exclude each other".into()),
        (None, _, _) => Err("--from and --to go together".into()),
    }
}

fn named(p: &str, tz: &TimeZone) -> Result<Period, String> {
    let bad = || format!("invalid period {p:?}: expected a month (2026-10) or a quarter (2026-Q4)");
    let (year, rest) = p.split_once('-').ok_or_else(bad)?;
    let year: i16 = year.parse().map_err(|_| bad())?;
    let (first_month, months) = match rest.strip_prefix(['Q', 'q']) {
        Some(q) => match q.parse::<i8>() {
            Ok(q @ 1..=4) => ((q - 1) * 3 + 1, 3),
            _ => return Err(bad()),
        },
        None => match rest.parse::<i8>() {
            Ok(m @ 1..=12) if rest.len() == 2 => (m, 1),
            _ => return Err(bad()),
        },
    };
    let start = Date::new(year, first_month, 1).map_err(|_| bad())?;
    let end = start.checked_add(jiff::Span::new().months(months)).map_err(|_| bad())?;
    let label = if months == 3 { format!("{year}-Q{}", (first_month - 1) / 3 + 1) } else { format!("{year}-{first_month:02}") };
    Ok(Period { label, from: midnight(start, tz)?, to: midnight(end, tz)? })
}

/// Midnight of `date` in `tz` (or the first instant of the day where a transition skips midnight).
fn midnight(date: Date, tz: &TimeZone) -> Result<Nanos, String> {
    let z = date.to_zoned(tz.clone()).map_err(|e| format!("{date} in the report's time zone: {e}"))?;
    i64::try_from(z.timestamp().as_nanosecond()).map_err(|_| format!("{date} is out of range"))
}

/// A date (start of day; with `end_of_day`, start of the next) or an RFC 3339 instant.
fn instant(text: &str, tz: &TimeZone, end_of_day: bool) -> Result<(Nanos, String), String> {
    if let Ok(date) = text.parse::<Date>() {
        let day = if end_of_day { date.tomorrow().map_err(|e| e.to_string())? } else { date };
        return Ok((midnight(day, tz)?, date.to_string()));
    }
    match text.parse::<jiff::Timestamp>() {
        Ok(t) => Ok((i64::try_from(t.as_nanosecond()).map_err(|_| format!("{text} is out of range"))?, text.to_string())),
        Err(_) => Err(format!("invalid time {text:?}: expected a date (2026-10-01) or RFC 3339 with an offset (2026-10-01T08:00:00Z)")),
    }
}

/// `ts` in `tz` as RFC 3339 with the zone's offset (`2026-10-25T02:30:00+01:00`).
pub fn local_rfc3339(ts: Nanos, tz: &TimeZone) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ts)) {
        Ok(t) => t.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => format!("{ts}ns"),
    }
}

/// `ts` in `tz` for people: `2026-10-25 02:30:00 CET`.
pub fn local_human(ts: Nanos, tz: &TimeZone) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ts)) {
        Ok(t) => t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
        Err(_) => format!("{ts}ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Nanos {
        s.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as Nanos
    }

    #[test]
    fn months_and_quarters_begin_at_local_midnight() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let oct = resolve(Some("2026-10"), None, None, &berlin).unwrap();
        assert_eq!((oct.from, oct.to), (utc("2026-09-30T22:00:00Z"), utc("2026-10-31T23:00:00Z")));
        assert_eq!(oct.label, "2026-10");
        let q4 = resolve(Some("2026-Q4"), None, None, &TimeZone::UTC).unwrap();
        assert_eq!((q4.from, q4.to, q4.label.as_str()), (utc("2026-10-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"), "2026-Q4"));
        let range = resolve(None, Some("2026-10-01"), Some("2026-10-15"), &TimeZone::UTC).unwrap();
        assert_eq!((range.from, range.to), (utc("2026-10-01T00:00:00Z"), utc("2026-10-16T00:00:00Z")), "a --to date includes its day");
        let exact = resolve(None, Some("2026-10-01T08:00:00Z"), Some("2026-10-01T09:30:00Z"), &TimeZone::UTC).unwrap();
        assert_eq!(exact.to - exact.from, 5_400_000_000_000);
    }

    #[test]
    fn bad_periods_say_what_is_expected() {
        for p in ["2026-13", "2026-Q5", "2026", "26-1", "2026-1", "october"] {
            let e = resolve(Some(p), None, None, &TimeZone::UTC).unwrap_err();
            assert!(e.contains("expected a month (2026-10) or a quarter (2026-Q4)"), "{p}: {e}");
        }
        assert!(resolve(None, Some("2026-10-05"), Some("2026-10-01"), &TimeZone::UTC).unwrap_err().contains("not after"));
        assert!(resolve(None, Some("yesterday"), Some("2026-10-01"), &TimeZone::UTC).unwrap_err().contains("invalid time"));
        assert!(resolve(None, None, None, &TimeZone::UTC).unwrap_err().contains("give a period"));
        assert!(resolve(Some("2026-10"), Some("2026-10-01"), None, &TimeZone::UTC).unwrap_err().contains("exclude"));
    }
}
