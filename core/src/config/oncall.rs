//! `[oncall.schedules.NAME]`: who is on call (DESIGN.md §5.8). Raw structs and their validation side by
//! side; the rota arithmetic lives in the alerting crate.

use super::check::{check_name, section};
use super::{ConfigErrors, Document};
use crate::time::Nanos;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// `[oncall.schedules.NAME]`: a rotation of members.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// The people on the rota, in order (at least one).
    pub members: Vec<String>,
    /// `weekly` (default) or `daily`.
    pub rotation: Option<String>,
    /// When shifts change hands: `"monday 09:00"` for weekly rotations (default), `"09:00"` for daily ones.
    pub handoff: Option<String>,
    /// IANA time zone of the handoff (default `UTC`); handoffs stay at the same local time across
    /// daylight-saving changes.
    pub timezone: Option<String>,
    /// A date (`2026-11-02`) on which the first member's shift began; the rotation counts from there
    /// (default `2026-01-05`, a Monday).
    pub start: Option<String>,
    /// Exceptions, the last matching one wins: `{ start, end, member = "bob" }` swaps a shift,
    /// `{ start, end, all = true }` pages the whole team (holidays).
    pub overrides: Option<Vec<RawOverride>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOverride {
    /// RFC 3339 with an offset.
    pub start: String,
    pub end: String,
    pub member: Option<String>,
    pub all: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    Weekly(jiff::civil::Weekday),
    Daily,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OverrideWho {
    Member(String),
    All,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub start: Nanos,
    pub end: Nanos,
    pub who: OverrideWho,
}

#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    pub name: String,
    pub members: Vec<String>,
    pub rotation: Rotation,
    pub handoff: jiff::civil::Time,
    pub tz: jiff::tz::TimeZone,
    pub tz_name: String,
    /// The first shift's start date (local); for weekly rotations, on the handoff weekday.
    pub start: jiff::civil::Date,
    pub overrides: Vec<Override>,
}

fn weekday(s: &str) -> Option<jiff::civil::Weekday> {
    use jiff::civil::Weekday::*;
    Some(match s.to_ascii_lowercase().get(..3)? {
        "mon" => Monday,
        "tue" => Tuesday,
        "wed" => Wednesday,
        "thu" => Thursday,
        "fri" => Friday,
        "sat" => Saturday,
        "sun" => Sunday,
        _ => return None,
    })
}

fn instant(s: &str) -> Option<Nanos> {
    s.parse::<jiff::Timestamp>().ok().and_then(|t| i64::try_from(t.as_nanosecond()).ok())
}

pub(super) fn schedules(doc: &Document, value: Option<&Value>, errors: &mut ConfigErrors) -> BTreeMap<String, ScheduleConfig> {
    let mut out = BTreeMap::new();
    let Some(value) = value else { return out };
    let Some(root) = value.as_object() else {
        errors.push(doc.error("oncall", "expected a table with `[oncall.schedules.NAME]` tables"));
        return out;
    };
    for key in root.keys().filter(|k| *k != "schedules" && *k != "people") {
        errors.push(doc.error(&format!("oncall.{key}"), "unknown key; expected `schedules` or `people`"));
    }
    let raw: BTreeMap<String, Value> = root.get("schedules").and_then(|v| section(doc, "oncall.schedules", v, errors)).unwrap_or_default();
    for (name, v) in raw {
        let path = format!("oncall.schedules.{name}");
        check_name(doc, &path, &name, errors);
        let Some(r) = section::<RawSchedule>(doc, &path, &v, errors) else { continue };
        if r.members.is_empty() {
            errors.push(doc.error(&format!("{path}.members"), "is empty: name at least one person"));
        }
        let handoff_raw =
            r.handoff
                .clone()
                .unwrap_or_else(|| if r.rotation.as_deref() == Some("daily") { "09:00".into() } else { "monday 09:00".into() });
        let (day, time) = match handoff_raw.rsplit_once(' ') {
            Some((d, t)) => (Some(d.trim()), t.trim()),
            None => (None, handoff_raw.trim()),
        };
        let handoff = time.parse::<jiff::civil::Time>().unwrap_or_else(|_| {
            errors.push(
                doc.error(&format!("{path}.handoff"), format!("{handoff_raw:?}: expected \"monday 09:00\" (weekly) or \"09:00\" (daily)")),
            );
            jiff::civil::Time::midnight()
        });
        let rotation = match (r.rotation.as_deref().unwrap_or("weekly"), day) {
            ("weekly", Some(d)) => Rotation::Weekly(weekday(d).unwrap_or_else(|| {
                errors.push(doc.error(&format!("{path}.handoff"), format!("{d:?} is not a weekday")));
                jiff::civil::Weekday::Monday
            })),
            ("weekly", None) => {
                errors.push(doc.error(&format!("{path}.handoff"), "a weekly rotation hands off on a weekday: \"monday 09:00\""));
                Rotation::Weekly(jiff::civil::Weekday::Monday)
            }
            ("daily", None) => Rotation::Daily,
            ("daily", Some(_)) => {
                errors.push(doc.error(&format!("{path}.handoff"), "a daily rotation hands off at a time of day: \"09:00\""));
                Rotation::Daily
            }
            (other, _) => {
                errors.push(doc.error(&format!("{path}.rotation"), format!("`{other}` is not one of weekly, daily")));
                Rotation::Daily
            }
        };
        let tz_name = r.timezone.clone().unwrap_or_else(|| "UTC".into());
        let tz =
            jiff::tz::TimeZone::get(&tz_name).unwrap_or_else(|_| {
                errors.push(doc.error(
                    &format!("{path}.timezone"),
                    format!("unknown time zone {tz_name:?}: use an IANA name such as \"Europe/Berlin\""),
                ));
                jiff::tz::TimeZone::UTC
            });
        let start = match r.start.as_deref() {
            None => jiff::civil::date(2026, 1, 5),
            Some(s) => s.parse::<jiff::civil::Date>().unwrap_or_else(|_| {
                errors.push(doc.error(&format!("{path}.start"), format!("{s:?} is not a date like 2026-11-02")));
                jiff::civil::date(2026, 1, 5)
            }),
        };
        if let Rotation::Weekly(wd) = rotation {
            if start.weekday() != wd {
                errors
                    .push(doc.error(&format!("{path}.start"), format!("{start} is a {:?}, not the handoff day ({wd:?})", start.weekday())));
            }
        }
        let mut overrides = Vec::new();
        for (i, o) in r.overrides.unwrap_or_default().into_iter().enumerate() {
            let p = format!("{path}.overrides[{i}]");
            let (s, e) = (instant(&o.start), instant(&o.end));
            if s.is_none() {
                errors.push(doc.error(&format!("{p}.start"), format!("{:?} is not RFC 3339 with an offset", o.start)));
            }
            if e.is_none() {
                errors.push(doc.error(&format!("{p}.end"), format!("{:?} is not RFC 3339 with an offset", o.end)));
            }
            let who = match (o.member, o.all.unwrap_or(false)) {
                (Some(m), false) => {
                    if !r.members.contains(&m) {
                        errors.push(
                            doc.error(&format!("{p}.member"), format!("`{m}` is not a member of the schedule ({})", r.members.join(", "))),
                        );
                    }
                    OverrideWho::Member(m)
                }
                (None, true) => OverrideWho::All,
                _ => {
                    errors.push(doc.error(&p, "give either `member` or `all = true`"));
                    OverrideWho::All
                }
            };
            if let (Some(s), Some(e)) = (s, e) {
                if e <= s {
                    errors.push(doc.error(&format!("{p}.end"), "is not after `start`"));
                }
                overrides.push(Override { start: s, end: e, who });
            }
        }
        out.insert(name.clone(), ScheduleConfig { name, members: r.members, rotation, handoff, tz, tz_name, start, overrides });
    }
    out
}
