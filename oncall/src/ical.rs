//! An iCalendar (RFC 5545) feed of on-call shifts, for calendar apps: one event per shift, times in UTC,
//! text escaped and lines folded at 75 octets as the RFC requires.

use crate::rota::Shift;
use watchpost_core::time::Nanos;

fn utc(ts: Nanos) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ts)).map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string()).unwrap_or_default()
}

/// RFC 5545 §3.3.11: backslash, semicolon, comma and newlines are escaped in TEXT values.
fn text(s: &str) -> String {
    s.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace('\n', "\\n").replace('\r', "")
}

/// RFC 5545 §3.1: lines longer than 75 octets continue on the next line after CRLF and a space, never
/// splitting a UTF-8 character.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// The calendar of `shifts` of schedule `name`; `stamp` is the time of the export (DTSTAMP).
pub fn calendar(name: &str, shifts: &[Shift], stamp: Nanos) -> String {
    let mut out = String::with_capacity(256 + shifts.len() * 256);
    for l in ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Watchpost//on-call//EN", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"] {
        fold(l, &mut out);
    }
    fold(&format!("X-WR-CALNAME:{}", text(&format!("On call: {name}"))), &mut out);
    for s in shifts {
        let who = s.who.join(", ");
        let summary = if s.overridden { format!("On call ({name}): {who} (override)") } else { format!("On call ({name}): {who}") };
        fold("BEGIN:VEVENT", &mut out);
        fold(&format!("UID:{}-{}@watchpost", text(name), s.start / 1_000_000_000), &mut out);
        fold(&format!("DTSTAMP:{}", utc(stamp)), &mut out);
        fold(&format!("DTSTART:{}", utc(s.start)), &mut out);
        fold(&format!("DTEND:{}", utc(s.end)), &mut out);
        fold(&format!("SUMMARY:{}", text(&summary)), &mut out);
        fold("TRANSP:TRANSPARENT", &mut out);
        fold("END:VEVENT", &mut out);
    }
    fold("END:VCALENDAR", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_escaped_folded_and_in_utc() {
        let shifts = vec![Shift {
            start: 1_700_000_000_000_000_000,
            end: 1_700_604_800_000_000_000,
            who: vec!["Ann; O'Neil, Jr".into()],
            overridden: true,
        }];
        let cal = calendar("primary", &shifts, 1_700_000_000_000_000_000);
        assert!(cal.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(cal.contains("DTSTART:20231114T221320Z\r\n"));
        assert!(cal.contains("SUMMARY:On call (primary): Ann\\; O'Neil\\, Jr (override)"));
        assert!(cal.lines().all(|l| l.len() <= 76), "folded");
        assert_eq!(cal.matches("BEGIN:VEVENT").count(), 1);
        let mut long = String::new();
        fold(&"é".repeat(60), &mut long);
        assert!(long.split("\r\n").all(|l| l.len() <= 75), "{long}");
    }
}
