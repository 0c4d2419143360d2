//! `watchpost oncall`: who is on call across a daylight-saving change and through overrides, and the
//! iCalendar export, through the real binary.

use crate::common;

use common::*;

const CONFIG: &str = r#"
[oncall.schedules.primary]
members = ["alice", "bob", "carol"]
handoff = "monday 09:00"
timezone = "Europe/Berlin"
start = "2026-10-05"
overrides = [
  { start = "2026-12-24T00:00:00+01:00", end = "2026-12-27T00:00:00+01:00", all = true },
  { start = "2026-10-28T00:00:00+01:00", end = "2026-10-29T00:00:00+01:00", member = "bob" },
]

[oncall.schedules.nights]
members = ["dave", "erin"]
rotation = "daily"
handoff = "20:00"
start = "2026-10-01"
"#;

fn oncall(args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), CONFIG);
    let mut all = vec!["oncall", "--config", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run(&all);
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn who_is_on_call_across_the_dst_change_and_overrides() {
    // Half an hour before the first handoff after summer time ends: still carol's week (09:00 CET = 08:00Z).
    let (ok, out, err) = oncall(&["--at", "2026-10-26T07:30:00Z", "--schedule", "primary"]);
    assert!(ok, "{err}");
    assert!(out.contains("on call: carol, since Mon 2026-10-19 09:00 CEST until Mon 2026-10-26 09:00 CET"), "{out}");
    assert!(out.contains("from Mon 2026-10-26 09:00 CET: alice"), "{out}");
    assert!(out.contains("from Wed 2026-10-28 00:00 CET: bob (override)"), "{out}");
    let (_, out, _) = oncall(&["--at", "2026-12-25T12:00:00+01:00", "--schedule", "primary"]);
    assert!(out.contains("on call: alice, bob, carol (override)"), "the holiday pages the whole team: {out}");
    let (_, out, _) = oncall(&["--at", "2026-10-02T21:00:00Z", "--schedule", "nights"]);
    assert!(out.contains("on call: erin, since Fri 2026-10-02 20:00 UTC"), "{out}");
    let (ok, _, err) = oncall(&["--schedule", "nope"]);
    assert!(!ok && err.contains("no schedule `nope`; schedules: nights, primary"), "{err}");
    let (ok, _, err) = oncall(&["--at", "tomorrow"]);
    assert!(!ok && err.contains("--at \"tomorrow\""), "{err}");
}

#[test]
fn the_ical_export_is_a_gapless_calendar_of_shifts() {
    let (ok, cal, err) = oncall(&["--at", "2026-10-19T12:00:00Z", "--schedule", "primary", "export", "--ical", "--days", "28"]);
    assert!(ok, "{err}");
    assert!(cal.starts_with("BEGIN:VCALENDAR\r\n") && cal.ends_with("END:VCALENDAR\r\n"), "{cal}");
    assert!(cal.split("\r\n").all(|l| l.len() <= 75), "lines are folded");
    let field = |name: &str| -> Vec<String> { cal.split("\r\n").filter_map(|l| l.strip_prefix(name)).map(str::to_string).collect() };
    let (starts, ends, summaries) = (field("DTSTART:"), field("DTEND:"), field("SUMMARY:"));
    assert_eq!(starts.len(), cal.matches("BEGIN:VEVENT").count());
    assert_eq!(starts[0], "20261019T070000Z", "the shift containing --at, from its start");
    for i in 1..starts.len() {
        assert_eq!(starts[i], ends[i - 1], "shifts follow each other without a gap");
    }
    assert!(starts.contains(&"20261026T080000Z".to_string()), "09:00 CET after the change");
    assert!(summaries.iter().any(|s| s == "On call (primary): bob (override)"), "{summaries:?}");
}
