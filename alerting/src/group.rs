//! A group's life, as a pure function like `lifecycle::decide`: alerts that a route groups together (by
//! its `group_by` labels) page once, as one incident, through a row of their own in the state database.
//! Its key is the deduplication key the providers see, so PagerDuty and OpsGenie open one incident for a
//! component with fifty failing endpoints; its row and deliveries are written in the transaction that
//! writes its alerts, so a crash never pages a group episode twice or not at all.
//!
//! `ok → pending` (the first alert arrived: wait `group_wait` for the others) `→ firing` (one notification
//! listing them; the route's policy escalates it) `→ resolved` (no alert of it fires, or every one is held
//! back). While firing: an update when its alerts changed, at most every `group_interval`, and again
//! after `repeat_interval` while nobody acknowledges.

use crate::config::{GroupBy, Route, Severity};
use crate::event::{Action, AlertEvent, GroupedAlert};
use crate::lifecycle::{deliveries, escalate, shorten};
use crate::Settings;
use std::collections::HashMap;
use watchpost_core::labels::{describe, Labels};
use watchpost_core::state::{AlertRow, AlertState, NewDelivery};
use watchpost_core::time::{duration_nanos, Nanos};

/// Most alerts a notification lists one by one; the rest are counted.
const LISTED: usize = 20;

/// The key of the group an alert with `labels` and `key` joins on `route` (see [`Route::group`]), at most
/// 255 bytes.
pub fn key(route: &Route, alert_key: &str, labels: &Labels) -> (String, Labels) {
    let (k, l) = route.group(alert_key, labels);
    (shorten(k), l)
}

fn fresh(key: &str, route: &Route, labels: &Labels) -> AlertRow {
    AlertRow { labels: labels.clone(), ..AlertRow::new(key.to_string(), route.name.clone(), String::new(), String::new()) }
}

/// What happens to group `key` of `route` at `now`, given its stored row and `active`: the keys of its
/// alerts that fire and are not held back, sorted. `alerts` gives their rows (and those of alerts that
/// left), for the summaries. Returns the new row and its deliveries, or `None` when nothing changes.
pub fn decide(
    cfg: &Settings,
    route: &Route,
    (key, labels): (&str, &Labels),
    prev: Option<&AlertRow>,
    active: &[String],
    alerts: &HashMap<&str, &AlertRow>,
    now: Nanos,
) -> Option<(AlertRow, Vec<NewDelivery>)> {
    let base = prev.cloned().unwrap_or_else(|| fresh(key, route, labels));
    let mut row = base.clone();
    let mut actions: Vec<(Action, i64, Vec<String>)> = Vec::new();
    let before = row.members.clone();
    match row.state {
        AlertState::Resolved if !active.is_empty() => {
            row.state = AlertState::Pending;
            row.since = now;
            row.labels = labels.clone();
        }
        AlertState::Pending if active.is_empty() => {
            // Its alerts left before anyone was told: nobody needs to be.
            row.state = AlertState::Resolved;
            row.since = now;
        }
        AlertState::Firing if active.is_empty() => {
            row.state = AlertState::Resolved;
            row.since = now;
            row.resolved_at = Some(now);
            row.note = format!("{} alert(s) of the group resolved or held back", before.len());
            if row.level > 0 {
                actions.push((Action::Resolve, row.level - 1, row.paged.clone()));
            }
            row.members.clear();
            row.notified_at = Some(now);
        }
        _ => {}
    }
    if row.state == AlertState::Pending && now - row.since >= duration_nanos(route.group_wait) {
        row.start_episode(now);
    }
    let policy = cfg.alerting.policies.get(&route.policy);
    if row.state == AlertState::Firing {
        if let Some(policy) = policy {
            escalate(cfg, policy, &mut row, now, &mut actions);
        }
        let paged_now = !actions.is_empty();
        let since_last = row.notified_at.map_or(Nanos::MAX, |t| now - t);
        if !paged_now && row.level > 0 {
            if row.members != active && since_last >= duration_nanos(route.group_interval) {
                let added = active.iter().filter(|k| !row.members.contains(k)).count();
                let gone = row.members.iter().filter(|k| !active.contains(k)).count();
                row.note = format!("{added} new, {gone} resolved");
                actions.push((Action::Update, row.level - 1, vec![]));
            } else if row.acked_at.is_none() && since_last >= duration_nanos(route.repeat_interval) {
                row.note = format!("still firing, unacknowledged after {}", watchpost_core::config::format_duration(route.repeat_interval));
                actions.push((Action::Update, row.level - 1, vec![]));
            }
        }
        if !actions.is_empty() {
            row.members = active.to_vec();
            row.notified_at = Some(now);
        }
        if row.acked_at.is_some() && !row.ack_sent {
            row.ack_sent = true;
            if row.level > 0 {
                actions.push((Action::Acknowledge, row.level - 1, vec![]));
            }
        }
    }
    // What its notifications say: the alerts firing (and new ones), and those resolved since the last.
    let listed = if row.state == AlertState::Resolved { &[][..] } else { active };
    let (value, summary, severity) = describe_group(route, &row.labels, listed, alerts);
    row.value = value;
    if row.state != AlertState::Resolved || row.detail.is_empty() {
        row.detail = summary;
    }
    if row == base {
        return None;
    }
    row.version = base.version + 1;
    let mut list: Vec<GroupedAlert> = listed
        .iter()
        .map(|k| GroupedAlert {
            key: k.clone(),
            summary: alerts.get(k.as_str()).map(|a| a.detail.clone()).unwrap_or_default(),
            state: if before.contains(k) || before.is_empty() { "firing" } else { "new" }.into(),
        })
        .collect();
    list.extend(before.iter().filter(|k| !listed.contains(k)).map(|k| GroupedAlert {
        key: k.clone(),
        summary: alerts.get(k.as_str()).map(|a| a.detail.clone()).unwrap_or_default(),
        state: "resolved".into(),
    }));
    let event = AlertEvent {
        action: Action::Trigger,
        key: row.key.clone(),
        episode: row.episode,
        rule: route.name.clone(),
        endpoint: String::new(),
        endpoint_name: group_name(route, &row.labels),
        environment: row.labels.get("environment").cloned().unwrap_or_default(),
        component: row.labels.get("component").cloned().unwrap_or_default(),
        severity: severity.as_str().into(),
        summary: row.detail.clone(),
        condition: format!("{} alert(s) firing", listed.len()),
        value: row.value,
        at: now,
        fired_at: row.fired_at.unwrap_or(now),
        level: 0,
        people: vec![],
        acked_by: None,
        note: String::new(),
        page_url: None,
        ack_links: vec![],
        labels: row.labels.clone(),
        alerts: list,
        message: None,
    };
    let notifiers = route.notifiers.clone().or_else(|| policy.map(|p| p.notifiers.clone())).unwrap_or_default();
    let d = deliveries(cfg, &notifiers, &event, &row, &actions, now);
    Some((row, d))
}

/// `component=checkout (route payments)`, or the route's name for a group of everything.
fn group_name(route: &Route, labels: &Labels) -> String {
    match &route.group_by {
        GroupBy::Labels(l) if l.is_empty() => format!("route {}", route.name),
        GroupBy::Labels(_) => describe(labels),
        GroupBy::Each => {
            format!("{} / {}", labels.get("rule").map_or("", String::as_str), labels.get("endpoint").map_or("", String::as_str))
        }
    }
}

/// The group's value (how many alerts fire), its summary, and its severity (the worst of its alerts').
fn describe_group(route: &Route, labels: &Labels, active: &[String], alerts: &HashMap<&str, &AlertRow>) -> (f64, String, Severity) {
    let rows: Vec<&AlertRow> = active.iter().filter_map(|k| alerts.get(k.as_str()).copied()).collect();
    let severity =
        rows.iter().filter_map(|r| r.labels.get("severity").and_then(|s| Severity::parse(s))).max().unwrap_or(Severity::Critical);
    let summary = match rows.as_slice() {
        [] => format!("{}: no alert firing", group_name(route, labels)),
        [one] => one.detail.clone(),
        [first, rest @ ..] => {
            let shown: Vec<&str> = std::iter::once(first).chain(rest.iter()).take(3).map(|r| r.detail.as_str()).collect();
            let more = rows.len().saturating_sub(3);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            format!("{}: {} alerts firing: {}{more}", group_name(route, labels), rows.len(), shown.join("; "))
        }
    };
    (rows.len() as f64, summary, severity)
}

/// The lines a message lists for a group's alerts: at most [`LISTED`], then a count.
pub fn listed(alerts: &[GroupedAlert]) -> Vec<String> {
    let mut out: Vec<String> = alerts
        .iter()
        .take(LISTED)
        .map(|a| match a.state.as_str() {
            "firing" => format!("• {}", a.summary),
            s => format!("• [{s}] {}", a.summary),
        })
        .collect();
    if alerts.len() > LISTED {
        out.push(format!("… and {} more", alerts.len() - LISTED));
    }
    out
}
