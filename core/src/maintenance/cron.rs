//! Five-field cron expressions (`minute hour day-of-month month day-of-week`), as crontab(5) reads them:
//! `*`, lists `1,15`, ranges `1-5`, steps `*/15` and `8-18/2`, month and weekday names (`jan`, `mon`), 7 as
//! Sunday, the macros `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly`,
//! and the rule that when both day fields are restricted a day matching either one matches. As in Vixie
//! cron and cronie, a day field that *starts* with `*` (`*`, `*/2`) counts as unrestricted for that rule.
//! Times are wall-clock times in the window's time zone; turning them into instants is the caller's job
//! (`super::Recurring::starts`), which is where daylight-saving changes are handled.

/// A parsed expression: one bit per allowed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Whether the day-of-month and day-of-week fields started with `*` (crontab's OR rule needs to know).
    any_day: bool,
    any_weekday: bool,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Why an expression is not a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("@reboot has no times: a maintenance window needs a schedule such as @daily")]
    Reboot,
    #[error("unknown macro {0:?}: expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly")]
    UnknownMacro(String),
    #[error("expected five fields (minute hour day-of-month month day-of-week), got {got}: {expr:?}")]
    FieldCount { got: usize, expr: String },
    #[error("{field} field {text:?}: {reason}")]
    Field { field: &'static str, text: String, reason: FieldError },
}

/// What is wrong inside one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{0:?} is not a number or a name")]
    NotANumberOrName(String),
    #[error("{value} is outside {lo}-{hi}")]
    OutOfRange { value: u32, lo: u32, hi: u32 },
    #[error("invalid step {0:?}")]
    Step(String),
    #[error("the range {0}-{1} is backwards")]
    Backwards(u32, u32),
}

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let expr = match expr.trim().to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            "@reboot" => return Err(CronError::Reboot),
            m if m.starts_with('@') => return Err(CronError::UnknownMacro(m.to_string())),
            _ => expr,
        };
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields.as_slice() else {
            return Err(CronError::FieldCount { got: fields.len(), expr: expr.to_string() });
        };
        let field = |text: &str, field: &'static str, lo: u32, hi: u32, names: &[&str]| {
            bits(text, lo, hi, names).map_err(|reason| CronError::Field { field, text: text.to_string(), reason })
        };
        let weekdays = field(dow, "day-of-week", 0, 7, &WEEKDAYS)?;
        Ok(Cron {
            minutes: field(m, "minute", 0, 59, &[])?,
            hours: field(h, "hour", 0, 23, &[])? as u32,
            days: field(dom, "day-of-month", 1, 31, &[])? as u32,
            months: field(mon, "month", 1, 12, &MONTHS)? as u16,
            // 7 is Sunday too.
            weekdays: ((weekdays | (weekdays >> 7)) & 0x7f) as u8,
            // crontab(5): the OR rule applies when both fields are restricted, and a field whose first
            // character is `*` is not (cron's DOM_STAR / DOW_STAR), so `*/2` with `mon` is odd days that are Mondays.
            any_day: dom.starts_with('*'),
            any_weekday: dow.starts_with('*'),
        })
    }

    /// Whether the expression allows this date (`weekday`: 0 = Sunday).
    pub fn matches_date(&self, month: u32, day: u32, weekday: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let by_day = self.days & (1 << day) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        match (self.any_day, self.any_weekday) {
            (false, false) => by_day || by_weekday,
            _ => by_day && by_weekday,
        }
    }

    /// The allowed (hour, minute) pairs of a matching day, in order.
    pub fn times(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..24u32)
            .filter(|h| self.hours & (1 << h) != 0)
            .flat_map(move |h| (0..60u32).filter(|m| self.minutes & (1 << m) != 0).map(move |m| (h, m)))
    }
}

fn bits(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u64, FieldError> {
    let value = |s: &str| -> Result<u32, FieldError> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            // Month names count from 1, weekday names from 0 (Sunday).
            return Ok(i as u32 + if names.len() == 12 { 1 } else { 0 });
        }
        let v: u32 = s.parse().map_err(|_| {
            if names.is_empty() {
                FieldError::NotANumber(s.to_string())
            } else {
                FieldError::NotANumberOrName(s.to_string())
            }
        })?;
        if v < lo || v > hi {
            return Err(FieldError::OutOfRange { value: v, lo, hi });
        }
        Ok(v)
    };
    let mut out = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| FieldError::Step(s.to_string()))?),
            None => (part, 1),
        };
        let (a, b) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `5/15` means from 5 to the end in steps of 15.
                None if step > 1 => (value(r)?, hi),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if a > b {
            return Err(FieldError::Backwards(a, b));
        }
        let mut v = a;
        while v <= b {
            out |= 1 << v;
            v += step;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        let c = Cron::parse("*/15 8-18/2 * jan,jul mon-fri").unwrap();
        assert_eq!(c.times().take(5).collect::<Vec<_>>(), vec![(8, 0), (8, 15), (8, 30), (8, 45), (10, 0)]);
        assert!(c.matches_date(1, 5, 1));
        assert!(!c.matches_date(1, 4, 0), "Sunday");
        assert!(!c.matches_date(2, 5, 1), "February");
        let sunday = Cron::parse("0 3 * * 7").unwrap();
        assert!(sunday.matches_date(3, 1, 0), "7 is Sunday");
        assert_eq!(sunday.times().collect::<Vec<_>>(), vec![(3, 0)]);
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        let c = Cron::parse("0 0 1 * mon").unwrap();
        assert!(c.matches_date(6, 1, 3), "the 1st, a Wednesday");
        assert!(c.matches_date(6, 8, 1), "a Monday");
        assert!(!c.matches_date(6, 9, 2));
    }

    /// Issue 17, defect 12: a day field starting with `*` (such as `*/2`) must count as unrestricted, and the
    /// `@` macros were missing. Vectors from crontab(5) (cronie) and Vixie cron's DOM_STAR/DOW_STAR rule.
    #[test]
    fn regression_star_step_day_fields_and_macros() {
        // 2026-06-01 is a Monday. "30 4 1,15 * 5": 4:30 on the 1st and 15th and every Friday.
        let c = Cron::parse("30 4 1,15 * 5").unwrap();
        assert!(c.matches_date(6, 1, 1) && c.matches_date(6, 15, 1) && c.matches_date(6, 5, 5));
        assert!(!c.matches_date(6, 2, 2));
        // "0 0 */2 * mon": odd days that are Mondays (AND, since the day-of-month field starts with `*`).
        let c = Cron::parse("0 0 */2 * mon").unwrap();
        assert!(c.matches_date(6, 1, 1), "the 1st, a Monday");
        assert!(!c.matches_date(6, 8, 1), "the 8th is a Monday but even");
        assert!(!c.matches_date(6, 3, 3), "the 3rd is odd but a Wednesday");
        // "0 0 1 * */2": the 1st and, as the weekday field starts with `*`, only when it is Sun/Tue/Thu/Sat.
        let c = Cron::parse("0 0 1 * */2").unwrap();
        assert!(!c.matches_date(6, 1, 1), "a Monday the 1st");
        assert!(c.matches_date(9, 1, 2), "a Tuesday the 1st");
        assert!(!c.matches_date(9, 8, 2), "a Tuesday that is not the 1st");
        for (mac, same) in [
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@HOURLY", "0 * * * *"),
        ] {
            assert_eq!(Cron::parse(mac).unwrap(), Cron::parse(same).unwrap(), "{mac}");
        }
        assert_eq!(Cron::parse("@hourly").unwrap().times().count(), 24);
        assert_eq!(Cron::parse("@reboot").unwrap_err(), CronError::Reboot);
        assert!(matches!(Cron::parse("@fortnightly"), Err(CronError::UnknownMacro(m)) if m == "@fortnightly"));
    }

    #[test]
    fn errors_name_the_field() {
        assert!(matches!(Cron::parse("0 3 * *"), Err(CronError::FieldCount { got: 4, .. })));
        let err = Cron::parse("60 3 * * *").unwrap_err();
        assert_eq!(
            err,
            CronError::Field { field: "minute", text: "60".into(), reason: FieldError::OutOfRange { value: 60, lo: 0, hi: 59 } }
        );
        assert_eq!(err.to_string(), "minute field \"60\": 60 is outside 0-59");
        assert!(matches!(
            Cron::parse("0 3 * * funday"),
            Err(CronError::Field { field: "day-of-week", reason: FieldError::NotANumberOrName(_), .. })
        ));
        assert!(matches!(Cron::parse("0 5-3 * * *"), Err(CronError::Field { reason: FieldError::Backwards(5, 3), .. })));
        assert!(matches!(Cron::parse("*/0 * * * *"), Err(CronError::Field { reason: FieldError::Step(_), .. })));
    }
}
