//! Who is on call: a rotation of members with a handoff at a local time in the schedule's time zone, and
//! overrides on top. Pure arithmetic on the configuration, so it is tested without a clock.
//!
//! Shift `k` begins at the handoff time on the start date plus `k` periods (weeks or days), as a local
//! (civil) date and time converted to an instant in the schedule's zone. Counting in local dates keeps the
//! handoff at 09:00 on both sides of a daylight-saving change (the shift around it is an hour shorter or
//! longer); a handoff time that does not exist that day begins at the first instant after the gap, one
//! that exists twice at the first of the two (RFC 5545's rule, as for maintenance windows).

use watchpost_core::config::oncall::{OverrideWho, Rotation, ScheduleConfig};
use watchpost_core::time::Nanos;

/// A stretch of time with the same people on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub start: Nanos,
    pub end: Nanos,
    /// One member, or the whole team during an `all` override.
    pub who: Vec<String>,
    /// Set by an override rather than the rotation.
    pub overridden: bool,
}

fn period_days(s: &ScheduleConfig) -> i64 {
    match s.rotation {
        Rotation::Weekly(_) => 7,
        Rotation::Daily => 1,
    }
}

/// When rotation shift `k` begins (`k` may be negative: shifts before the start date follow the same
/// order backwards).
pub fn shift_start(s: &ScheduleConfig, k: i64) -> Option<Nanos> {
    let date = s.start.checked_add(jiff::Span::new().days(k.checked_mul(period_days(s))?)).ok()?;
    let zoned = date.at(s.handoff.hour(), s.handoff.minute(), s.handoff.second(), 0).to_zoned(s.tz.clone()).ok()?;
    i64::try_from(zoned.timestamp().as_nanosecond()).ok()
}

/// The rotation shift containing `t`: its index, start and end.
pub fn rotation_at(s: &ScheduleConfig, t: Nanos) -> Option<(i64, Nanos, Nanos)> {
    let first = shift_start(s, 0)?;
    let period = period_days(s) * 86_400_000_000_000;
    // An estimate from elapsed time, then corrected by at most a step or two for DST-shortened shifts.
    let mut k = (t - first).div_euclid(period);
    while shift_start(s, k)? > t {
        k -= 1;
    }
    while shift_start(s, k + 1)? <= t {
        k += 1;
    }
    Some((k, shift_start(s, k)?, shift_start(s, k + 1)?))
}

fn member(s: &ScheduleConfig, k: i64) -> String {
    let n = s.members.len().max(1) as i64;
    s.members.get(k.rem_euclid(n) as usize).cloned().unwrap_or_default()
}

/// Who is on call at `t`, ignoring how long it lasts (see [`shifts`] for that).
pub fn on_call_at(s: &ScheduleConfig, t: Nanos) -> (Vec<String>, bool) {
    // The last matching override wins, so a later line in the file refines an earlier one.
    if let Some(o) = s.overrides.iter().rev().find(|o| o.start <= t && t < o.end) {
        return match &o.who {
            OverrideWho::Member(m) => (vec![m.clone()], true),
            OverrideWho::All => (s.members.clone(), true),
        };
    }
    match rotation_at(s, t) {
        Some((k, _, _)) => (vec![member(s, k)], false),
        None => (vec![], false),
    }
}

/// Who takes over from the rotation's current member at `t` (overrides aside): the next member in order.
pub fn next_on_call(s: &ScheduleConfig, t: Nanos) -> Option<String> {
    rotation_at(s, t).map(|(k, _, _)| member(s, k + 1))
}

/// The shifts that overlap `[from, to)`, in order, each with its full extent (the first may start before
/// `from`, the last end after `to`). Adjacent stretches with the same people are one shift.
pub fn shifts(s: &ScheduleConfig, from: Nanos, to: Nanos) -> Vec<Shift> {
    let Some((mut k, first_start, _)) = rotation_at(s, from) else { return vec![] };
    // Every instant at which the answer may change, from the start of the shift containing `from`.
    let mut edges = vec![first_start];
    while let Some(next) = shift_start(s, k + 1) {
        edges.push(next);
        if next >= to {
            break;
        }
        k += 1;
    }
    let last = edges.last().copied().unwrap_or(to);
    for o in &s.overrides {
        for e in [o.start, o.end] {
            if e > first_start && e < last {
                edges.push(e);
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let mut out: Vec<Shift> = Vec::new();
    for w in edges.windows(2) {
        let (who, overridden) = on_call_at(s, w[0]);
        match out.last_mut() {
            Some(prev) if prev.who == who && prev.overridden == overridden && prev.end == w[0] => prev.end = w[1],
            _ => out.push(Shift { start: w[0], end: w[1], who, overridden }),
        }
    }
    // A stretch that ends at an override edge inside `[from, to)` but starts before `from` is kept whole.
    out.retain(|x| x.end > from && x.start < to);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchpost_core::config::oncall::Override;

    fn ts(s: &str) -> Nanos {
        s.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as Nanos
    }

    fn weekly(overrides: Vec<Override>) -> ScheduleConfig {
        ScheduleConfig {
            name: "primary".into(),
            members: vec!["alice".into(), "bob".into(), "carol".into()],
            rotation: Rotation::Weekly(jiff::civil::Weekday::Monday),
            handoff: jiff::civil::time(9, 0, 0, 0),
            tz: jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
            tz_name: "Europe/Berlin".into(),
            start: jiff::civil::date(2026, 10, 5),
            overrides,
        }
    }

    #[test]
    fn weekly_handoffs_stay_at_nine_local_across_the_dst_change() {
        let s = weekly(vec![]);
        // 2026-10-25 is the end of summer time in Berlin: 09:00 is 07:00Z before, 08:00Z after.
        assert_eq!(shift_start(&s, 2), Some(ts("2026-10-19T07:00:00Z")));
        assert_eq!(shift_start(&s, 3), Some(ts("2026-10-26T08:00:00Z")));
        let (k, start, end) = rotation_at(&s, ts("2026-10-26T07:30:00Z")).unwrap();
        assert_eq!(
            (k, start, end),
            (2, ts("2026-10-19T07:00:00Z"), ts("2026-10-26T08:00:00Z")),
            "the shift over the change is an hour longer"
        );
        assert_eq!(on_call_at(&s, ts("2026-10-26T07:30:00Z")).0, vec!["carol"]);
        assert_eq!(on_call_at(&s, ts("2026-10-26T08:00:00Z")).0, vec!["alice"], "a new round");
        assert_eq!(on_call_at(&s, ts("2026-10-04T12:00:00Z")).0, vec!["carol"], "before the start, backwards");
        // Spring: 2027-03-28 09:00 CEST is 07:00Z.
        assert_eq!(rotation_at(&s, ts("2027-03-29T07:00:00Z")).unwrap().1, ts("2027-03-29T07:00:00Z"));
    }

    #[test]
    fn overrides_swap_a_shift_or_page_the_whole_team_and_the_last_one_wins() {
        let s = weekly(vec![
            Override { start: ts("2026-10-07T00:00:00Z"), end: ts("2026-10-09T00:00:00Z"), who: OverrideWho::Member("bob".into()) },
            Override { start: ts("2026-12-24T00:00:00Z"), end: ts("2026-12-27T00:00:00Z"), who: OverrideWho::All },
            Override { start: ts("2026-12-25T00:00:00Z"), end: ts("2026-12-26T00:00:00Z"), who: OverrideWho::Member("carol".into()) },
        ]);
        assert_eq!(on_call_at(&s, ts("2026-10-06T12:00:00Z")), (vec!["alice".to_string()], false));
        assert_eq!(on_call_at(&s, ts("2026-10-08T12:00:00Z")), (vec!["bob".to_string()], true));
        assert_eq!(on_call_at(&s, ts("2026-12-24T12:00:00Z")).0.len(), 3);
        assert_eq!(on_call_at(&s, ts("2026-12-25T12:00:00Z")).0, vec!["carol"]);
        let week = shifts(&s, ts("2026-10-05T07:00:00Z"), ts("2026-10-12T07:00:00Z"));
        let who: Vec<(&str, bool)> = week.iter().map(|x| (x.who[0].as_str(), x.overridden)).collect();
        assert_eq!(who, vec![("alice", false), ("bob", true), ("alice", false)]);
        assert_eq!(week[1].start, ts("2026-10-07T00:00:00Z"));
        assert_eq!(week[2].end, ts("2026-10-12T07:00:00Z"));
    }

    #[test]
    fn a_daily_rotation_and_a_timeline_without_gaps() {
        let mut s = weekly(vec![]);
        s.rotation = Rotation::Daily;
        s.start = jiff::civil::date(2026, 10, 1);
        let list = shifts(&s, ts("2026-10-01T12:00:00Z"), ts("2026-10-05T12:00:00Z"));
        assert_eq!(list.len(), 5);
        for w in list.windows(2) {
            assert_eq!(w[0].end, w[1].start, "no gap, no overlap");
        }
        let names: Vec<&str> = list.iter().map(|x| x.who[0].as_str()).collect();
        assert_eq!(names, vec!["alice", "bob", "carol", "alice", "bob"]);
    }
}
