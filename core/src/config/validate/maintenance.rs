//! `[[maintenance]]`: one-off and recurring windows from the file.

use super::*;

/// One `[[maintenance]]` window; endpoint ids and components must exist (a typo would silence nothing).
pub(super) fn maintenance_window(
    doc: &Document,
    path: &str,
    index: usize,
    raw: RawMaintenance,
    endpoints: &[EndpointConfig],
    errors: &mut ConfigErrors,
) -> Option<MaintenanceConfig> {
    use crate::maintenance::{cron::Cron, Scope};
    let before = errors.len();
    let key = |k: &str| format!("{path}.{k}");
    let id = raw.id.unwrap_or_else(|| format!("maintenance-{}", index + 1));
    check_name(doc, &key("id"), &id, errors);
    let instant = |k: &str, v: &str, errors: &mut ConfigErrors| match v.parse::<jiff::Timestamp>() {
        Ok(t) => Some(t.as_nanosecond() as crate::time::Nanos),
        Err(e) => {
            errors.push(
                doc.error(&key(k), format!("invalid time {v:?}: expected RFC 3339 with an offset, like \"2026-12-01T02:00:00Z\" ({e})")),
            );
            None
        }
    };
    let once = raw.start.is_some() || raw.end.is_some();
    let recurring = raw.cron.is_some() || raw.days.is_some() || raw.at.is_some();
    let schedule = match (once, recurring) {
        (true, true) => {
            errors.push(doc.error(path, "a window is one-off (start, end) or recurring (cron, or days and at), not both"));
            None
        }
        (false, false) => {
            errors.push(doc.error(path, "missing `start` and `end` (one-off) or `cron` / `days` and `at` (recurring)"));
            None
        }
        (true, false) => {
            for k in ["duration", "timezone"] {
                let set = if k == "duration" { raw.duration.is_some() } else { raw.timezone.is_some() };
                if set {
                    errors.push(doc.error(&key(k), format!("`{k}` applies to recurring windows; a one-off window has `start` and `end`")));
                }
            }
            match (raw.start.as_deref(), raw.end.as_deref()) {
                (Some(s), Some(e)) => match (instant("start", s, errors), instant("end", e, errors)) {
                    (Some(start), Some(end)) if end > start => Some(Schedule::Once { start, end }),
                    (Some(_), Some(_)) => {
                        errors.push(doc.error(&key("end"), "must be after `start`"));
                        None
                    }
                    _ => None,
                },
                _ => {
                    errors.push(doc.error(path, "a one-off window needs both `start` and `end`"));
                    None
                }
            }
        }
        (false, true) => {
            let cron_text = match (raw.cron, raw.days, raw.at) {
                (Some(c), None, None) => Some((c, "cron")),
                (None, Some(days), Some(at)) => {
                    let hm = at
                        .split_once(':')
                        .and_then(|(h, m)| Some((h.parse::<u32>().ok().filter(|h| *h < 24)?, m.parse::<u32>().ok().filter(|m| *m < 60)?)));
                    match hm {
                        Some((h, m)) if !days.is_empty() => Some((format!("{m} {h} * * {}", days.join(",")), "days")),
                        Some(_) => {
                            errors.push(doc.error(&key("days"), "is empty"));
                            None
                        }
                        None => {
                            errors.push(doc.error(&key("at"), format!("invalid time of day {at:?}: expected HH:MM such as \"03:00\"")));
                            None
                        }
                    }
                }
                _ => {
                    errors.push(doc.error(path, "a recurring window has `cron`, or `days` and `at`"));
                    None
                }
            };
            let cron = cron_text.and_then(|(text, k)| {
                Cron::parse(&text).map_err(|e| errors.push(doc.error(&key(k), format!("invalid schedule: {e}")))).ok()
            });
            let duration = match raw.duration {
                Some(d) if !d.0.is_zero() => Some(d.0),
                Some(_) => {
                    errors.push(doc.error(&key("duration"), "must be longer than zero"));
                    None
                }
                None => {
                    errors.push(doc.error(path, "missing key `duration` (required for a recurring window)"));
                    None
                }
            };
            let tz_name = raw.timezone.unwrap_or_else(|| "UTC".into());
            let tz = jiff::tz::TimeZone::get(&tz_name)
                .map_err(|_| {
                    errors.push(
                        doc.error(&key("timezone"), format!("unknown time zone {tz_name:?}: use an IANA name such as \"Europe/Berlin\"")),
                    )
                })
                .ok();
            match (cron, duration, tz) {
                (Some(cron), Some(duration), Some(tz)) => Some(Schedule::Recurring { cron, duration, tz, tz_name }),
                _ => None,
            }
        }
    };
    let scope = match (raw.endpoints, raw.components, raw.all) {
        (Some(ids), None, None | Some(false)) if !ids.is_empty() => {
            for (i, id) in ids.iter().enumerate() {
                if !endpoints.iter().any(|e| &e.id == id) {
                    errors.push(doc.error(&format!("{path}.endpoints[{i}]"), format!("no endpoint or check has id `{id}`")));
                }
            }
            Some(Scope::Endpoints(ids.into_iter().collect()))
        }
        (None, Some(cs), None | Some(false)) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                if !endpoints.iter().any(|e| e.component.as_deref() == Some(c.as_str())) {
                    errors.push(doc.error(&format!("{path}.components[{i}]"), format!("no endpoint or check belongs to component `{c}`")));
                }
            }
            Some(Scope::Components(cs.into_iter().collect()))
        }
        (None, None, Some(true)) => Some(Scope::All),
        _ => {
            errors.push(
                doc.error(path, "name what the window silences: `endpoints = [...]`, `components = [...]` or `all = true` (one of them)"),
            );
            None
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(MaintenanceConfig { title: raw.title.unwrap_or_else(|| id.clone()), id, schedule: schedule?, scope: scope? })
}
