//! `type = "push"`: results reported to `POST /api/v1/push/{id}`; a period without one is a miss.

use super::{Checked, Common, ProbeConfig};
use crate::config::check::Table;
use crate::config::defaults as d;
use crate::config::{format_duration, HumanDuration, Secret};
use serde::Deserialize;
use std::time::Duration;

/// How much longer than its grace a push endpoint's attempt may take (the wait itself is `grace`).
pub const PUSH_MARGIN: Duration = Duration::from_secs(1);

/// The keys of a push endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// The token a reporter sends as `Authorization: Bearer …` (required). Use `${ENV_VAR}` or `token_file`.
    token: Option<Secret>,
    /// A file holding the token (instead of `token`).
    token_file: Option<String>,
    /// How often a report is expected (required); a period without one is a miss.
    expect_every: Option<HumanDuration>,
    /// How late a report may arrive and still count for its period (default `30s`).
    grace: Option<HumanDuration>,
}

impl Raw {
    pub(super) fn check(self, t: &mut Table<'_>, common: Common) -> Option<Checked> {
        for (key, given, hint) in [("interval", common.interval, "expect_every"), ("timeout", common.timeout, "grace")] {
            if given {
                t.error(key, format!("`{key}` does not apply to a push endpoint; use `{hint}`"));
            }
        }
        let schedule = schedule(t, self.expect_every, self.grace, common.retry_interval);
        let token = t.optional_secret("token", self.token, self.token_file);
        if token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            t.error("token", "must be at least 16 characters (it is all that stands between the internet and your uptime)");
        }
        let Some(token) = token else {
            t.missing("token", "missing key `token` or `token_file` (required for a push endpoint)");
            return None;
        };
        let (expect_every, timeout, retry) = schedule?;
        let probe = ProbeConfig::Push(PushProbeConfig { token, expect_every, grace: timeout.saturating_sub(PUSH_MARGIN) });
        Some(Checked { probe, schedule: Some((expect_every, timeout, retry)) })
    }
}

/// A push endpoint's schedule: one check per `expect_every`, waiting up to `grace` for a late report; after a
/// miss the next check comes after `retry_interval` (default: `expect_every`, since reports come on the
/// reporter's schedule, not ours).
fn schedule(
    t: &mut Table<'_>,
    expect_every: Option<HumanDuration>,
    grace: Option<HumanDuration>,
    retry: Option<Duration>,
) -> Option<(Duration, Duration, Duration)> {
    let Some(every) = expect_every.map(HumanDuration::as_duration) else {
        t.missing("expect_every", "missing key `expect_every` (required for a push endpoint: how often a report is due)");
        return None;
    };
    let grace = grace.map_or(d::PUSH_GRACE, HumanDuration::as_duration);
    if every < Duration::from_secs(1) {
        t.error("expect_every", "must be at least 1s");
        return None;
    }
    if grace.is_zero() || grace >= every {
        t.error("grace", format!("must be longer than zero and shorter than expect_every ({})", format_duration(every)));
        return None;
    }
    Some((every, grace + PUSH_MARGIN, retry.unwrap_or(every)))
}

/// A push endpoint: reporters send results; silence is a miss.
#[derive(Debug, Clone)]
pub struct PushProbeConfig {
    pub token: Secret,
    pub expect_every: Duration,
    pub grace: Duration,
}
