//! Windows from the configuration file: one-off ranges and recurring windows.
//!
//! A recurring window starts at each wall-clock time its cron expression allows, in its IANA time zone, and
//! lasts its duration of elapsed time. Across daylight-saving changes: a start time that does not exist
//! (skipped by a spring-forward) begins at the first instant after the gap, one that exists twice (a
//! fall-back) begins at the first of the two — jiff's "compatible" rule, the one RFC 5545 calendars use.

use super::{MaintenanceError, MaintenanceSource, Window};
use crate::config::{MaintenanceConfig, Schedule};
use crate::time::{duration_nanos, Nanos, TimeRange};

pub struct ConfigSource {
    windows: Vec<MaintenanceConfig>,
}

impl ConfigSource {
    pub fn new(windows: Vec<MaintenanceConfig>) -> Self {
        ConfigSource { windows }
    }
}

#[async_trait::async_trait]
impl MaintenanceSource for ConfigSource {
    async fn windows(&self, range: TimeRange) -> Result<Vec<Window>, MaintenanceError> {
        let mut out = Vec::new();
        for w in &self.windows {
            let occurrence = |start: Nanos, end: Nanos| Window {
                id: w.id.clone(),
                title: w.title.clone(),
                start,
                end,
                scope: w.scope.clone(),
                detail: String::new(),
                source: "config".into(),
            };
            match &w.schedule {
                Schedule::Once { start, end } => {
                    if *start < range.to && *end > range.from {
                        out.push(occurrence(*start, *end));
                    }
                }
                Schedule::Recurring { cron, duration, tz, .. } => {
                    let d = duration_nanos(*duration);
                    for start in starts(cron, tz, range.from.saturating_sub(d), range.to) {
                        if start + d > range.from {
                            out.push(occurrence(start, start + d));
                        }
                    }
                }
            }
        }
        out.sort_by_key(|w| w.start);
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("configuration ({} window(s))", self.windows.len())
    }
}

/// The instants in `[from, to)` at which `cron` fires in `tz`.
pub fn starts(cron: &super::cron::Cron, tz: &jiff::tz::TimeZone, from: Nanos, to: Nanos) -> Vec<Nanos> {
    let to_ts = |n: Nanos| jiff::Timestamp::from_nanosecond(i128::from(n)).ok();
    let (Some(a), Some(b)) = (to_ts(from), to_ts(to)) else { return vec![] };
    // Walk the local dates from the day before `from` to the day after `to`: a local date's times can fall
    // on either side of a UTC boundary.
    let (Ok(mut date), Ok(last)) = (a.to_zoned(tz.clone()).date().yesterday(), b.to_zoned(tz.clone()).date().tomorrow()) else {
        return vec![];
    };
    let mut out = Vec::new();
    while date <= last {
        let weekday = u32::from(date.weekday().to_sunday_zero_offset() as u8);
        if cron.matches_date(date.month() as u32, date.day() as u32, weekday) {
            for (h, m) in cron.times() {
                let local = date.at(h as i8, m as i8, 0, 0);
                if let Ok(z) = local.to_zoned(tz.clone()) {
                    let n = z.timestamp().as_nanosecond() as Nanos;
                    if n >= from && n < to && out.last() != Some(&n) {
                        out.push(n);
                    }
                }
            }
        }
        match date.tomorrow() {
            Ok(d) => date = d,
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::cron::Cron;

    fn ts(s: &str) -> Nanos {
        s.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as Nanos
    }

    #[test]
    fn a_weekly_window_follows_local_time_across_daylight_saving() {
        // Sundays 01:30 in Berlin. 2026-03-29 is the spring-forward Sunday (02:00 → 03:00), 2026-10-25 the
        // fall-back one (03:00 → 02:00).
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let cron = Cron::parse("30 1 * * sun").unwrap();
        let got = starts(&cron, &tz, ts("2026-03-20T00:00:00Z"), ts("2026-04-06T00:00:00Z"));
        // CET (+01) on the 22nd, CEST (+02) from the 29th: the same wall-clock time, an hour apart in UTC.
        // (01:30 on the 29th is still before the change at 02:00.)
        assert_eq!(got, vec![ts("2026-03-22T00:30:00Z"), ts("2026-03-29T00:30:00Z"), ts("2026-04-04T23:30:00Z")]);
        // 02:30 does not exist on 2026-03-29: the window starts right after the gap, at 03:00 CEST.
        let gap = Cron::parse("30 2 29 3 *").unwrap();
        assert_eq!(starts(&gap, &tz, ts("2026-03-28T00:00:00Z"), ts("2026-03-30T00:00:00Z")), vec![ts("2026-03-29T01:30:00Z")]);
        // 02:30 exists twice on 2026-10-25: once, at the first (CEST).
        let fold = Cron::parse("30 2 25 10 *").unwrap();
        assert_eq!(starts(&fold, &tz, ts("2026-10-24T00:00:00Z"), ts("2026-10-26T00:00:00Z")), vec![ts("2026-10-25T00:30:00Z")]);
    }

    #[tokio::test]
    async fn occurrences_that_overlap_the_range_are_returned() {
        use crate::config::MaintenanceConfig;
        use crate::maintenance::Scope;
        let tz = jiff::tz::TimeZone::UTC;
        let src = ConfigSource::new(vec![
            MaintenanceConfig {
                id: "nightly".into(),
                title: "Nightly".into(),
                schedule: Schedule::Recurring {
                    cron: Cron::parse("0 23 * * *").unwrap(),
                    duration: std::time::Duration::from_secs(7200),
                    tz,
                    tz_name: "UTC".into(),
                },
                scope: Scope::All,
            },
            MaintenanceConfig {
                id: "once".into(),
                title: "Once".into(),
                schedule: Schedule::Once { start: ts("2026-06-02T10:00:00Z"), end: ts("2026-06-02T11:00:00Z") },
                scope: Scope::Components(["db".to_string()].into()),
            },
        ]);
        // From 00:30 on the 2nd: the window that began at 23:00 on the 1st is still running.
        let w = src.windows(TimeRange::new(ts("2026-06-02T00:30:00Z"), ts("2026-06-02T12:00:00Z"))).await.unwrap();
        let got: Vec<(&str, Nanos, Nanos)> = w.iter().map(|w| (w.id.as_str(), w.start, w.end)).collect();
        assert_eq!(
            got,
            vec![
                ("nightly", ts("2026-06-01T23:00:00Z"), ts("2026-06-02T01:00:00Z")),
                ("once", ts("2026-06-02T10:00:00Z"), ts("2026-06-02T11:00:00Z"))
            ]
        );
        assert!(w[1].scope.covers("x", "db") && !w[1].scope.covers("x", "") && !w[1].scope.covers("x", "web"));
    }
}
