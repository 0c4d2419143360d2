//! An alert's life, as a pure function of its stored row, the rule's verdict and the time: `ok → pending →
//! firing → resolved`, escalation levels paged while nobody acknowledges, the acknowledgement passed on, and
//! the deliveries each step causes. No I/O and no clock, so every path is tested with plain numbers; the
//! caller stores the new row and its deliveries in one transaction.

use crate::config::{alert_labels, PolicyConfig, RuleConfig, Target};
use crate::evaluate::Verdict;
use crate::event::{Action, AlertEvent, Paged};
use crate::Settings;
use watchpost_core::config::EndpointConfig;
use watchpost_core::labels::Labels;
use watchpost_core::state::{AlertRow, AlertState, NewDelivery};
use watchpost_core::time::{duration_nanos, Nanos};
use watchpost_oncall::links;
use watchpost_oncall::rota as oncall;

/// The alert's identity: PagerDuty's `dedup_key` (at most 255 characters), OpsGenie's `alias` (512).
/// Names are at most 128 characters each, so a key of three long names is shortened, stably, to a prefix
/// and a hash.
pub fn key(rule: &str, endpoint: &str, environment: &str) -> String {
    shorten(format!("{rule}/{endpoint}/{environment}"))
}

/// A key of at most 255 bytes: longer ones become a prefix and a hash of the whole.
pub fn shorten(k: String) -> String {
    if k.len() <= 255 {
        return k;
    }
    let hash = watchpost_core::sign::sha256_hex(&k);
    let mut cut = 200;
    while !k.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{}", &k[..cut], &hash[..32])
}

/// The people `targets` name at `now`, each once, in order.
pub fn people(cfg: &Settings, targets: &[Target], now: Nanos) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in targets {
        let names = match t {
            Target::OnCall(s) => cfg.shared.oncall.get(s).map(|s| oncall::on_call_at(s, now).0).unwrap_or_default(),
            Target::Next(s) => cfg.shared.oncall.get(s).and_then(|s| oncall::next_on_call(s, now)).into_iter().collect(),
            Target::Team(s) => cfg.shared.oncall.get(s).map(|s| s.members.clone()).unwrap_or_default(),
            Target::Person(p) => vec![p.clone()],
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

fn contacts(cfg: &Settings, names: &[String]) -> Vec<Paged> {
    names
        .iter()
        .map(|n| match cfg.shared.people.get(n) {
            Some(p) => Paged { name: n.clone(), contacts: p.contacts.clone() },
            None => Paged { name: n.clone(), contacts: Default::default() },
        })
        .collect()
}

fn fresh(rule: &RuleConfig, e: &EndpointConfig) -> AlertRow {
    AlertRow::new(key(&rule.name, &e.id, &e.environment), rule.name.clone(), e.id.clone(), e.environment.clone())
}

/// `API [production]: availability 0 % (< 100 %) in eu, us`.
pub fn summary(rule: &RuleConfig, e: &EndpointConfig, v: &Verdict) -> String {
    let unit = rule.metric.unit();
    let value = if v.value.is_nan() { "no data".to_string() } else { format!("{}{unit}", (v.value * 100.0).round() / 100.0) };
    let over = rule.window.map(|w| format!(" over {}", watchpost_core::config::format_duration(w))).unwrap_or_default();
    let regions = match (rule.metric, v.breaching.is_empty()) {
        (_, true) => String::new(),
        (crate::config::Metric::RegionsReporting, false) => format!("; silent: {}", v.breaching.join(", ")),
        _ => format!(" in {}", v.breaching.join(", ")),
    };
    format!(
        "{} [{}]: {} {value}{over} ({} {}{unit}){regions}",
        e.name,
        e.environment,
        rule.metric.as_str(),
        rule.cmp.as_str(),
        rule.threshold
    )
}

/// What happens to the alert of `rule` on `e` at `now`, given its stored row and the verdict (`None`: no region
/// reports). `hold` says why a firing alert must not page now (a silence, an inhibition, a dependency), or
/// nothing; it is asked only of firing alerts. Returns the new row (version bumped) and its deliveries,
/// or `None` when nothing changes. Alerts of a rule without a `policy` never page themselves: their
/// groups do (`group::decide`).
pub fn decide(
    cfg: &Settings,
    rule: &RuleConfig,
    e: &EndpointConfig,
    prev: Option<&AlertRow>,
    v: Option<&Verdict>,
    hold: &dyn Fn(&Labels) -> String,
    now: Nanos,
) -> Option<(AlertRow, Vec<NewDelivery>)> {
    let base = prev.cloned().unwrap_or_else(|| fresh(rule, e));
    let mut row = base.clone();
    let mut actions: Vec<(Action, i64, Vec<String>)> = Vec::new();
    let maintenance = v.is_some_and(|v| v.maintenance);
    // Labels are fixed when the alert leaves `ok`: a restart or a region joining the breach does not move
    // an episode to another group.
    let label = |row: &mut AlertRow, v: &Verdict| {
        row.labels = alert_labels(rule, e, &cfg.shared);
        if !v.breaching.is_empty() {
            row.labels.insert("region".into(), v.breaching.join(","));
        }
    };

    let fire = |row: &mut AlertRow, v: &Verdict| {
        if row.state == AlertState::Resolved {
            label(row, v);
        }
        row.start_episode(now);
        row.value = if v.value.is_finite() { v.value } else { 0.0 };
        row.detail = summary(rule, e, v);
    };
    if let Some(v) = v {
        let breach = v.breach && !maintenance;
        match row.state {
            AlertState::Resolved if breach => {
                if rule.for_.is_zero() {
                    fire(&mut row, v);
                } else {
                    label(&mut row, v);
                    row.state = AlertState::Pending;
                    row.since = now;
                    row.value = if v.value.is_finite() { v.value } else { 0.0 };
                    row.detail = summary(rule, e, v);
                }
            }
            AlertState::Resolved => {}
            // Clears only on evidence newer than the breach (or a maintenance window): after a restart the
            // store's newest point may be older than what made it pending (lost with the agent's batch).
            AlertState::Pending if !breach && (maintenance || v.newest > row.since) => {
                // Back to ok before it fired: nobody was told, nobody needs to be.
                row.state = AlertState::Resolved;
                row.since = now;
            }
            AlertState::Pending => {
                if breach && now - row.since >= duration_nanos(rule.for_) {
                    fire(&mut row, v);
                }
            }
            // A firing alert resolves only on evidence newer than its firing. A restart right after a page can
            // lose the failing points still in the agent's batch (SIGKILL): the store's newest point is then the
            // healthy one from before the outage, and resolving on it would tell on-call the outage is over and
            // page it again as a new incident moments later.
            // `resolve_for`: the checks must pass this long before the alert resolves (flapping endpoints
            // page once per outage, not once per flap). The wait starts on the first clear evidence and
            // ends with any breach; it is kept in the row, so a restart neither resolves early nor waits again.
            AlertState::Firing
                if !rule.resolve_for.is_zero()
                    && !v.breach
                    && !maintenance
                    && v.newest > row.fired_at.unwrap_or(Nanos::MIN)
                    && row.clear_since.is_none_or(|c| now - c < duration_nanos(rule.resolve_for)) =>
            {
                if row.clear_since.is_none() {
                    row.clear_since = Some(now);
                }
            }
            AlertState::Firing if v.breach && row.clear_since.is_some() => {
                row.clear_since = None;
            }
            AlertState::Firing
                if (maintenance && cfg.alerting.resolve_in_maintenance)
                    || (!v.breach && !maintenance && v.newest > row.fired_at.unwrap_or(Nanos::MIN)) =>
            {
                row.clear_since = None;
                row.state = AlertState::Resolved;
                row.since = now;
                row.resolved_at = Some(now);
                // Under maintenance no region reports a value (NaN): keep the last one measured.
                if v.value.is_finite() {
                    row.value = v.value;
                }
                if maintenance {
                    row.note = "a maintenance window began".into();
                } else {
                    row.note.clear();
                    row.detail = summary(rule, e, v);
                }
                if row.level > 0 {
                    actions.push((Action::Resolve, row.level - 1, row.paged.clone()));
                }
            }
            AlertState::Firing => {}
        }
    }

    if row.state == AlertState::Firing {
        let held = hold(&row.labels);
        if held.is_empty() && !row.held.is_empty() {
            // The hold ended with the alert still firing: it pages now, saying what held it, and its
            // escalation runs from now (levels due during the hold do not all page at once).
            row.note = format!("held back until now ({})", row.held);
            row.page_from = Some(now);
        }
        row.held = held;
    } else {
        row.held.clear();
    }

    let policy = rule.policy.as_ref().and_then(|p| cfg.alerting.policies.get(p));
    if row.state == AlertState::Firing {
        if let Some(policy) = policy {
            if !maintenance && row.held.is_empty() {
                escalate(cfg, policy, &mut row, now, &mut actions);
            }
        }
        if row.acked_at.is_some() && !row.ack_sent {
            row.ack_sent = true;
            if row.level > 0 {
                actions.push((Action::Acknowledge, row.level - 1, vec![]));
            }
        }
    }

    if row == base {
        return None;
    }
    row.version = base.version + 1;
    let deliveries = match policy {
        Some(p) => deliveries(cfg, &p.notifiers, &event(rule, e, &row, now), &row, &actions, now),
        None => vec![],
    };
    Some((row, deliveries))
}

/// Pages each level of `policy` whose time has come, unless someone acknowledged. Levels are due from the
/// firing, or from the end of a hold (`page_from`); `row.level` counts the pages of the episode across the
/// policy's passes (`repeat`).
pub(crate) fn escalate(
    cfg: &Settings,
    policy: &PolicyConfig,
    row: &mut AlertRow,
    now: Nanos,
    actions: &mut Vec<(Action, i64, Vec<String>)>,
) {
    // `ack_timeout`: an acknowledgement of an alert that still fires lapses; the next page of the policy is
    // due at once (the escalation clock is moved so), or, past the last, the last level pages again.
    if let (Some(timeout), Some(acked)) = (policy.ack_timeout, row.acked_at) {
        if now - acked >= duration_nanos(timeout) {
            row.note = format!(
                "the acknowledgement by {} lapsed after {}",
                row.acked_by.as_deref().unwrap_or("someone"),
                watchpost_core::config::format_duration(timeout)
            );
            row.acked_at = None;
            row.acked_by = None;
            row.ack_sent = false;
            match policy.page(row.level) {
                Some((_, due)) => row.page_from = Some(now - duration_nanos(due)),
                None => {
                    if let Some(last) = policy.levels.last() {
                        let who = people(cfg, &last.targets, now);
                        actions.push((Action::Escalate, row.level, who));
                        row.level += 1;
                    }
                    return;
                }
            }
        }
    }
    let Some(from) = row.page_from.or(row.fired_at) else { return };
    while row.acked_at.is_none() {
        let Some((level, due)) = policy.page(row.level) else { break };
        if now < from + duration_nanos(due) {
            break;
        }
        let who = people(cfg, &level.targets, now);
        for p in &who {
            if !row.paged.contains(p) {
                row.paged.push(p.clone());
            }
        }
        actions.push((if row.level == 0 { Action::Trigger } else { Action::Escalate }, row.level, who));
        row.level += 1;
    }
}

/// The event of an alert of `rule` on `e`, before its action, level and people are filled in.
fn event(rule: &RuleConfig, e: &EndpointConfig, row: &AlertRow, now: Nanos) -> AlertEvent {
    AlertEvent {
        action: Action::Trigger,
        key: row.key.clone(),
        episode: row.episode,
        rule: rule.name.clone(),
        endpoint: e.id.clone(),
        endpoint_name: e.name.clone(),
        environment: e.environment.clone(),
        component: e.component.clone().unwrap_or_default(),
        severity: rule.severity.as_str().into(),
        summary: row.detail.clone(),
        condition: rule.describe(),
        value: if row.value.is_finite() { row.value } else { 0.0 },
        at: now,
        fired_at: row.fired_at.unwrap_or(now),
        level: 0,
        people: vec![],
        acked_by: None,
        note: String::new(),
        page_url: None,
        ack_links: vec![],
        labels: row.labels.clone(),
        alerts: vec![],
        message: None,
    }
}

/// The deliveries `actions` cause, one per notifier of `notifiers` that carries the action, each an event
/// made from `base`.
pub(crate) fn deliveries(
    cfg: &Settings,
    notifiers: &[String],
    base: &AlertEvent,
    row: &AlertRow,
    actions: &[(Action, i64, Vec<String>)],
    now: Nanos,
) -> Vec<NewDelivery> {
    let mut out = Vec::new();
    for (action, level, who) in actions {
        // A signed link for each kind of channel that shows one (named in the link, so the acknowledgement
        // says where it came from); email and Slack always, for events queued before other channels had any.
        let mut linked: Vec<&str> = vec!["email", "slack"];
        for n in notifiers.iter().filter_map(|name| cfg.alerting.notifiers.get(name)) {
            if n.shows_links() && !linked.contains(&n.kind()) {
                linked.push(n.kind());
            }
        }
        let ack_links = match (&cfg.alerting.secret, action) {
            (Some(secret), Action::Trigger | Action::Escalate | Action::Update) if row.acked_at.is_none() => linked
                .iter()
                .map(|by| {
                    let link =
                        links::ack_link(&cfg.alerting.ack_url, secret.expose(), &row.key, row.episode, by, now, cfg.alerting.ack_link_ttl);
                    (by.to_string(), link)
                })
                .collect(),
            _ => vec![],
        };
        let event = AlertEvent {
            action: *action,
            at: now,
            level: *level,
            people: contacts(cfg, who),
            acked_by: row.acked_by.clone(),
            note: row.note.clone(),
            page_url: cfg.alerting.page_url.clone(),
            ack_links,
            ..base.clone()
        };
        let Ok(json) = serde_json::to_string(&event) else { continue };
        // A notifier with its own `message` gets the event with that text rendered in.
        let own = |name: &str, kind: &str| {
            let t = cfg.alerting.messages.get(name)?;
            serde_json::to_string(&AlertEvent { message: Some(t.render(&event, kind)), ..event.clone() }).ok()
        };
        // Updates are many per level: the time tells them apart.
        let nth = if *action == Action::Update { format!("{level}@{now}") } else { level.to_string() };
        for name in notifiers {
            let Some(n) = cfg.alerting.notifiers.get(name) else { continue };
            if !n.carries(*action) {
                continue;
            }
            out.push(NewDelivery {
                notifier: name.clone(),
                action: action.as_str().into(),
                idempotency: format!("{}/{}/{}/{nth}/{name}", row.key, row.episode, action.as_str()),
                event: own(name, n.kind()).unwrap_or_else(|| json.clone()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;
    const MIN: Nanos = 60 * S;

    fn config(extra: &str) -> Settings {
        crate::test_settings(&config_text(extra))
    }

    /// The configuration `config` reads: one endpoint, a rota of three, PagerDuty and email, a policy of
    /// three levels, the rule `down` with `extra`.
    fn config_text(extra: &str) -> String {
        format!(
            r#"
[[endpoints]]
id = "api"
name = "API"
url = "http://127.0.0.1:1/"

[oncall.schedules.primary]
members = ["alice", "bob", "carol"]
start = "2026-01-05"

[oncall.people.alice]
email = "alice@example.com"
[oncall.people.bob]
email = "bob@example.com"
[oncall.people.carol]
email = "carol@example.com"

[alerting]
secret = "0123456789abcdef0123456789abcdef"
ack_url = "https://status.example.com"

[alerting.notifiers.pd]
type = "pagerduty"
routing_key = "R0123456789"

[alerting.notifiers.mail]
type = "email"
smtp_host = "127.0.0.1"
smtp_tls = "none"
from = "alerts@example.com"

[alerting.policies.default]
notifiers = ["pd", "mail"]
levels = [{{ targets = ["oncall:primary"] }}, {{ after = "15m", targets = ["next:primary"] }}, {{ after = "30m", targets = ["team:primary"] }}]

[[alerting.rules]]
name = "down"
when = "availability < 100"
{extra}
"#
        )
    }

    /// A verdict on fresh evidence (newer than anything the tests fire at).
    fn v(breach: bool) -> Verdict {
        v_at(breach, Nanos::MAX)
    }

    /// A verdict whose newest probe is at `newest`.
    fn v_at(breach: bool, newest: Nanos) -> Verdict {
        Verdict { breach, value: if breach { 0.0 } else { 100.0 }, breaching: vec![], reporting: 1, maintenance: false, newest }
    }

    /// (action, notifier, people paged) of one delivery.
    type Sent = (String, String, Vec<String>);

    /// Runs `decide` and returns the new row and its deliveries.
    fn step(cfg: &Settings, prev: Option<&AlertRow>, verdict: Option<Verdict>, now: Nanos) -> Option<(AlertRow, Vec<Sent>)> {
        let (row, d) = decide(cfg, &cfg.alerting.rules[0], &cfg.shared.endpoints[0], prev, verdict.as_ref(), &|_| String::new(), now)?;
        let d = d
            .into_iter()
            .map(|d| {
                let e: AlertEvent = serde_json::from_str(&d.event).unwrap();
                (d.action, d.notifier, e.people.into_iter().map(|p| p.name).collect())
            })
            .collect();
        Some((row, d))
    }

    // 2026-11-16 (a Monday) 12:00 UTC: rotation week 45 from 2026-01-05, so bob is on call and carol is next.
    const T0: Nanos = 1_763_294_400 * S;

    #[test]
    fn fires_pages_escalates_and_resolves_to_everyone_paged() {
        let cfg = config("");
        assert!(step(&cfg, None, Some(v(false)), T0).is_none(), "ok stays ok without a row");
        assert!(step(&cfg, None, None, T0).is_none());
        let (fired, d) = step(&cfg, None, Some(v(true)), T0).unwrap();
        assert_eq!((fired.state, fired.episode, fired.level, fired.version), (AlertState::Firing, 1, 1, 1));
        let on_call = people(&cfg, &[Target::OnCall("primary".into())], T0);
        let next = people(&cfg, &[Target::Next("primary".into())], T0);
        assert_eq!(d, vec![("trigger".into(), "pd".into(), on_call.clone()), ("trigger".into(), "mail".into(), on_call.clone())]);
        // Still down, before `after`: nothing changes, nothing is written.
        assert!(step(&cfg, Some(&fired), Some(v(true)), T0 + 14 * MIN).is_none());
        // Level 2 after 15 minutes: mail only (PagerDuty escalates on its own side).
        let (l2, d) = step(&cfg, Some(&fired), Some(v(true)), T0 + 15 * MIN).unwrap();
        assert_eq!(d, vec![("escalate".into(), "mail".into(), next.clone())]);
        assert_eq!(l2.level, 2);
        let (l3, d) = step(&cfg, Some(&l2), None, T0 + 30 * MIN).unwrap();
        assert_eq!(d[0].2.len(), 3, "the whole team: {d:?}");
        assert_eq!(l3.paged.len(), 3);
        let (resolved, d) = step(&cfg, Some(&l3), Some(v(false)), T0 + 31 * MIN).unwrap();
        assert_eq!(resolved.state, AlertState::Resolved);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|(a, _, who)| a == "resolve" && who.len() == 3), "{d:?}");
        // Firing again is a new episode: new idempotency keys, the same dedup key.
        let (again, _) = step(&cfg, Some(&resolved), Some(v(true)), T0 + 40 * MIN).unwrap();
        assert_eq!((again.episode, again.key.as_str(), again.paged.len()), (2, "down/api/production", 1));
    }

    #[test]
    fn an_acknowledgement_stops_escalation_and_is_passed_on_once() {
        let cfg = config("");
        let (mut fired, _) = step(&cfg, None, Some(v(true)), T0).unwrap();
        fired.acked_at = Some(T0 + MIN);
        fired.acked_by = Some("bob".into());
        fired.version += 1; // as `StateDb::acknowledge_alert` does
        let (acked, d) = step(&cfg, Some(&fired), Some(v(true)), T0 + 2 * MIN).unwrap();
        assert_eq!(d, vec![("acknowledge".into(), "pd".into(), vec![])]);
        assert!(step(&cfg, Some(&acked), Some(v(true)), T0 + 60 * MIN).is_none(), "no level 2 after an acknowledgement");
    }

    /// `repeat = 1`: the levels at 0, 15 and 30 minutes page again from 45 minutes (the last level plus the
    /// last gap), as later escalations of the same episode; then nothing more, and an acknowledgement at
    /// any point stops the rest.
    #[test]
    fn a_repeated_policy_goes_through_its_levels_again() {
        let text = config_text("").replace(
            "levels = [{ targets = [\"oncall:primary\"] }, { after = \"15m\", targets = [\"next:primary\"] }, { after = \"30m\", targets = [\"team:primary\"] }]",
            "levels = [{ targets = [\"oncall:primary\"] }, { after = \"15m\", targets = [\"next:primary\"] }, { after = \"30m\", targets = [\"team:primary\"] }]\nrepeat = 1",
        );
        let cfg = crate::test_settings(&text);
        assert_eq!(cfg.alerting.policies["default"].repeat_after, std::time::Duration::from_secs(45 * 60));
        let (mut row, d) = step(&cfg, None, Some(v(true)), T0).unwrap();
        assert_eq!(d.len(), 2);
        let mut actions = Vec::new();
        for m in [15, 30, 44, 45, 60, 75, 90, 120] {
            if let Some((next, d)) = step(&cfg, Some(&row), Some(v(true)), T0 + m * MIN) {
                actions.extend(d.into_iter().filter(|(_, n, _)| n == "mail").map(|(a, _, _)| format!("{a}@{m}")));
                row = next;
            }
        }
        assert_eq!(actions, ["escalate@15", "escalate@30", "escalate@45", "escalate@60", "escalate@75"], "a second pass, then no more");
        assert_eq!(row.level, 6);
    }

    /// A notifier's own `message` template is rendered into its deliveries (and only its): the lines under
    /// the title, with the labels and the signed link it asks for.
    #[test]
    fn a_notifiers_message_template_is_rendered_into_its_deliveries_only() {
        let text = config_text("").replace(
            "[alerting.policies.default]\nnotifiers = [\"pd\", \"mail\"]",
            "[alerting.notifiers.dc]\ntype = \"discord\"\nwebhook_url = \"https://discord.com/api/webhooks/1/x\"\n\
             message = \"{{severity}}: {{summary}}\\nlabels {{labels}}\\nack {{ack_url}}\"\n\n\
             [alerting.policies.default]\nnotifiers = [\"pd\", \"mail\", \"dc\"]",
        );
        let cfg = crate::test_settings(&text);
        let (_, d) = decide(&cfg, &cfg.alerting.rules[0], &cfg.shared.endpoints[0], None, Some(&v(true)), &|_| String::new(), T0).unwrap();
        let event = |n: &str| -> AlertEvent { serde_json::from_str(&d.iter().find(|x| x.notifier == n).unwrap().event).unwrap() };
        assert_eq!(event("pd").message, None);
        let dc = event("dc");
        let m = crate::notify::message::Message::of(&dc, "discord");
        assert_eq!(m.lines.len(), 3, "{:?}", m.lines);
        assert!(m.lines[0].starts_with("critical: API [production]: availability 0"), "{:?}", m.lines);
        assert!(m.lines[1].contains("rule=down") && m.lines[1].contains("endpoint=api"), "{:?}", m.lines);
        assert!(m.lines[2].starts_with("ack https://status.example.com/ack?") && m.lines[2].contains("by=discord"), "{:?}", m.lines);
        assert!(m.title.starts_with("[FIRING]"), "the title stays");
    }

    /// `ack_timeout`: an acknowledgement lapses while the alert still fires; the next level pages at once
    /// (not at its own time), and past the last level the last pages again; each lapse once.
    #[test]
    fn an_acknowledgement_lapses_after_ack_timeout_and_the_next_level_pages() {
        let text = config_text("").replace("levels = [{ targets", "ack_timeout = \"10m\"\nlevels = [{ targets");
        let cfg = crate::test_settings(&text);
        let (fired, _) = step(&cfg, None, Some(v(true)), T0).unwrap();
        let mut acked = fired.clone();
        (acked.acked_at, acked.acked_by, acked.version) = (Some(T0 + MIN), Some("alice".into()), fired.version + 1);
        let (acked, d) = step(&cfg, Some(&acked), Some(v(true)), T0 + 2 * MIN).unwrap();
        assert!(d.iter().all(|(a, _, _)| a == "acknowledge"));
        assert!(step(&cfg, Some(&acked), Some(v(true)), T0 + 10 * MIN).is_none(), "acknowledged: nothing at 10 minutes");
        let (lapsed, d) = step(&cfg, Some(&acked), Some(v(true)), T0 + 11 * MIN).unwrap();
        let next = people(&cfg, &cfg.alerting.policies["default"].levels[1].targets, T0 + 11 * MIN);
        assert_eq!(
            d,
            vec![("escalate".to_string(), "mail".to_string(), next)],
            "level 2 (the next in the rotation) at once, at 11 minutes"
        );
        assert_eq!((lapsed.acked_at, lapsed.level), (None, 2));
        assert!(lapsed.note.contains("acknowledgement by alice lapsed after 10m"), "{}", lapsed.note);
        // Level 3 follows at its own offset from there (15 minutes after level 2's).
        assert!(step(&cfg, Some(&lapsed), Some(v(true)), T0 + 20 * MIN).is_none());
        let (_, d) = step(&cfg, Some(&lapsed), Some(v(true)), T0 + 26 * MIN).unwrap();
        assert_eq!(d.len(), 1, "{d:?}");
    }

    /// `resolve_for`: a flapping endpoint pages once and resolves once, after the checks have passed for
    /// the whole wait; a breach during the wait starts it again. The wait is in the row (the state
    /// database), so a restart resumes it rather than resolving early or waiting anew.
    #[test]
    fn resolve_for_holds_the_resolve_until_the_checks_pass_long_enough() {
        let cfg = config("resolve_for = \"2m\"");
        let (fired, d) = step(&cfg, None, Some(v(true)), T0).unwrap();
        assert_eq!(d.len(), 2);
        let mut row = fired;
        let mut sent = Vec::new();
        // Clear and breach in turn, every 30 s, for five minutes: never two minutes clear.
        for i in 1..=10 {
            let breach = i % 2 == 0;
            if let Some((next, d)) = step(&cfg, Some(&row), Some(v(breach)), T0 + i * MIN / 2) {
                assert_eq!(next.state, AlertState::Firing, "flap {i}");
                sent.extend(d);
                row = next;
            }
        }
        assert_eq!(sent, vec![], "no resolve and no new page while it flaps");
        assert_eq!(row.clear_since, None, "the last flap was a breach");
        let (waiting, d) = step(&cfg, Some(&row), Some(v(false)), T0 + 6 * MIN).unwrap();
        assert_eq!((waiting.state, waiting.clear_since, d.len()), (AlertState::Firing, Some(T0 + 6 * MIN), 0));
        assert!(step(&cfg, Some(&waiting), Some(v(false)), T0 + 7 * MIN).is_none(), "still waiting: nothing to write");
        let (resolved, d) = step(&cfg, Some(&waiting), Some(v(false)), T0 + 8 * MIN).unwrap();
        assert_eq!((resolved.state, resolved.clear_since), (AlertState::Resolved, None));
        assert!(d.iter().all(|(a, _, _)| a == "resolve") && d.len() == 2, "{d:?}");
    }

    #[test]
    fn pending_for_a_while_before_firing_and_quiet_when_it_clears() {
        let cfg = config("for = \"2m\"");
        let (pending, d) = step(&cfg, None, Some(v(true)), T0).unwrap();
        assert_eq!((pending.state, d.len()), (AlertState::Pending, 0));
        assert!(step(&cfg, Some(&pending), Some(v(true)), T0 + MIN).is_none());
        let (ok, d) = step(&cfg, Some(&pending), Some(v(false)), T0 + MIN).unwrap();
        assert_eq!((ok.state, ok.episode, d.len()), (AlertState::Resolved, 0, 0));
        let (fired, d) = step(&cfg, Some(&pending), Some(v(true)), T0 + 2 * MIN).unwrap();
        assert_eq!((fired.state, d.len()), (AlertState::Firing, 2));
    }

    #[test]
    fn maintenance_resolves_with_a_note_or_holds_without_escalating() {
        let cfg = config("");
        // As `verdict` gives it: no region reports a value while all are in maintenance.
        let m = Verdict { breach: false, value: f64::NAN, breaching: vec![], reporting: 0, maintenance: true, newest: 0 };
        assert!(step(&cfg, None, Some(m.clone()), T0).is_none(), "maintenance silences a new breach");
        let (fired, _) = step(&cfg, None, Some(v(true)), T0).unwrap();
        let (resolved, d) = step(&cfg, Some(&fired), Some(m.clone()), T0 + MIN).unwrap();
        assert_eq!((resolved.state, resolved.note.as_str()), (AlertState::Resolved, "a maintenance window began"));
        assert!(resolved.value.is_finite(), "SQLite stores NaN as NULL: the value must stay a number");
        assert!(d.iter().all(|(a, _, _)| a == "resolve"));

        let mut hold = config("");
        hold.alerting.resolve_in_maintenance = false;
        let (fired, _) = step(&hold, None, Some(v(true)), T0).unwrap();
        assert!(step(&hold, Some(&fired), Some(m), T0 + 20 * MIN).is_none(), "held open, no escalation");
    }

    /// Issue 17, defect 2: SIGKILL right after a page lost the failing points in the agent's batch; the
    /// restarted evaluator saw the last stored point (healthy, from before the outage), resolved the alert at
    /// once and paged it again as a new episode.
    #[test]
    fn regression_a_restart_after_a_page_never_resolves_on_older_points() {
        let cfg = config("");
        let (fired, _) = step(&cfg, None, Some(v_at(true, T0 - S)), T0).unwrap();
        // After the restart the newest point is the healthy one from before the outage: nothing changes.
        for later in [T0 + S, T0 + 30 * S, T0 + 10 * MIN] {
            assert!(step(&cfg, Some(&fired), Some(v_at(false, T0 - 20 * S)), later).is_none(), "resolved on old points at {later}");
        }
        // A probe after the firing that passes resolves it: one episode, one trigger, one resolve.
        let (resolved, d) = step(&cfg, Some(&fired), Some(v_at(false, T0 + 2 * S)), T0 + 3 * S).unwrap();
        assert_eq!((resolved.state, resolved.episode), (AlertState::Resolved, 1));
        assert!(d.iter().all(|(a, _, _)| a == "resolve") && !d.is_empty());
        // The same holds for a pending alert: old points do not clear it, nor does it fire on them.
        let cfg = config("for = \"2m\"");
        let (pending, _) = step(&cfg, None, Some(v_at(true, T0 - S)), T0).unwrap();
        assert!(step(&cfg, Some(&pending), Some(v_at(false, T0 - 20 * S)), T0 + MIN).is_none());
        assert!(step(&cfg, Some(&pending), Some(v_at(false, T0 - 20 * S)), T0 + 3 * MIN).is_none(), "no page on healthy points");
        let (cleared, _) = step(&cfg, Some(&pending), Some(v_at(false, T0 + MIN)), T0 + MIN).unwrap();
        assert_eq!(cleared.state, AlertState::Resolved);
    }

    #[test]
    fn long_keys_are_shortened_stably() {
        let long = "x".repeat(128);
        let k = key(&long, &long, "production");
        assert!(k.len() <= 255);
        assert_eq!(k, key(&long, &long, "production"));
        assert_ne!(k, key(&long, &long, "staging"));
    }

    #[test]
    fn events_carry_signed_ack_links_and_the_rota_contacts() {
        let cfg = config("");
        let (_, d) = decide(&cfg, &cfg.alerting.rules[0], &cfg.shared.endpoints[0], None, Some(&v(true)), &|_| String::new(), T0).unwrap();
        let e: AlertEvent = serde_json::from_str(&d[0].event).unwrap();
        assert_eq!(e.key, "down/api/production");
        assert!(e
            .ack_link("email")
            .unwrap()
            .starts_with("https://status.example.com/ack?alert=down%2Fapi%2Fproduction&episode=1&by=email"));
        assert!(e.people[0].contact("email").unwrap().ends_with("@example.com"));
        assert_eq!(d[0].idempotency, "down/api/production/1/trigger/0/pd");
        assert!(!d[0].event.contains("R0123456789"), "no credential is stored with an event");
    }
}
