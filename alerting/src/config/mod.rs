//! `[alerting]`: rules, escalation policies and notifiers, checked against the shared names (endpoints,
//! schedules, people) of the core configuration. Raw structs and their validation side by side; each
//! notifier type's keys are checked in its own file under `notify/`.
//!
//! ```toml
//! [alerting.notifiers.pd]
//! type = "pagerduty"
//! routing_key = "${PAGERDUTY_ROUTING_KEY}"
//!
//! [alerting.policies.default]
//! notifiers = ["pd"]
//! levels = [{ targets = ["oncall:primary"] }, { after = "15m", targets = ["next:primary"] }, { after = "30m", targets = ["team:primary"] }]
//!
//! [[alerting.rules]]
//! name = "down"
//! when = "availability < 100"
//! policy = "default"
//! ```

mod route;
mod rule;

pub use route::*;
pub use rule::*;

use crate::notify::{Channel, NotifierConfig};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::config::check::{check_name, secret_or_file, section, tagged, Table};
use watchpost_core::config::defaults as d;
use watchpost_core::config::{format_duration, Config, ConfigErrors, Document, HumanDuration, Secret};
use watchpost_core::http::parse_http_url;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerting {
    /// How often rules are evaluated against the store (default 1s). In `watchpost run` new points are also
    /// evaluated the moment the agent produces them.
    pub evaluation_interval: Option<HumanDuration>,
    /// How far back each store read reaches before the last one, for points that reach the store late
    /// (default 10s, at least the agent's batch age).
    pub lookback: Option<HumanDuration>,
    /// Key that signs acknowledge links (at least 32 characters). Without it messages carry no link.
    pub secret: Option<Secret>,
    pub secret_file: Option<String>,
    /// Base URL of the status page that serves acknowledge links (default `statuspage.url`).
    pub ack_url: Option<String>,
    /// How long an acknowledge link works (default 24h).
    pub ack_link_ttl: Option<HumanDuration>,
    /// The longest wait between two attempts of a failing delivery (default 5m; backoff starts at 1s).
    pub retry_max_delay: Option<HumanDuration>,
    /// Moved to `regions.down_quorum`; kept only to say so.
    pub regions_down_quorum: Option<Value>,
    /// A maintenance window that starts while an alert fires resolves it, with a note (default true);
    /// false keeps it firing but stops its escalation.
    pub resolve_in_maintenance: Option<bool>,
    pub notifiers: Option<BTreeMap<String, Value>>,
    pub policies: Option<BTreeMap<String, Value>>,
    pub rules: Option<Vec<Value>>,
    /// The default route (`[alerting.route]`) and the routes under it (`[[alerting.routes]]`).
    pub route: Option<Value>,
    pub routes: Option<Value>,
    pub inhibit: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Notifiers (names from `[alerting.notifiers]`) that carry this policy's pages.
    pub notifiers: Vec<String>,
    /// Escalation levels, in order; the first pages at once unless it has an `after`.
    pub levels: Vec<RawLevel>,
    /// Go through the levels again this many times while nobody acknowledges (default 0).
    pub repeat: Option<u32>,
    /// How long one pass takes: the next pass's first level pages this long after the pass began (default:
    /// the last level's `after` plus the time from the level before it, or 15m with one level).
    pub repeat_after: Option<HumanDuration>,
    /// An acknowledgement of a still-firing alert lasts this long; then it is taken back and the next
    /// level pages at once (default: it lasts until the alert resolves).
    pub ack_timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLevel {
    /// How long after the alert fired this level pages, if nobody acknowledged (default 0).
    pub after: Option<HumanDuration>,
    /// `oncall:SCHEDULE`, `next:SCHEDULE` (the next in the rotation), `team:SCHEDULE`, `person:NAME`.
    pub targets: Vec<String>,
}

/// Whom a level pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    OnCall(String),
    Next(String),
    Team(String),
    Person(String),
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::OnCall(s) => format!("on call in {s}"),
            Target::Next(s) => format!("next in {s}"),
            Target::Team(s) => format!("all of {s}"),
            Target::Person(p) => p.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Level {
    pub after: Duration,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub name: String,
    pub notifiers: Vec<String>,
    pub levels: Vec<Level>,
    /// Further passes through the levels while unacknowledged, each `repeat_after` after the one before.
    pub repeat: u32,
    pub repeat_after: Duration,
    pub ack_timeout: Option<Duration>,
}

impl PolicyConfig {
    /// The `k`th page of an episode (0 is the trigger): its level and how long after the firing it is due;
    /// `None` after the last pass.
    pub fn page(&self, k: i64) -> Option<(&Level, Duration)> {
        let n = self.levels.len() as i64;
        if n == 0 || k < 0 || k >= n * (i64::from(self.repeat) + 1) {
            return None;
        }
        let level = &self.levels[(k % n) as usize];
        let pass = u32::try_from(k / n).ok()?;
        Some((level, self.repeat_after * pass + level.after))
    }
}

#[derive(Debug, Clone)]
pub struct AlertingConfig {
    /// Whether the file has an `[alerting]` section with rules or routes: `watchpost run` evaluates only then.
    pub configured: bool,
    pub evaluation_interval: Duration,
    pub lookback: Duration,
    pub secret: Option<Secret>,
    /// Base URL for acknowledge links, without a trailing slash.
    pub ack_url: String,
    pub ack_link_ttl: Duration,
    pub retry_max_delay: Duration,
    pub resolve_in_maintenance: bool,
    /// The public status page's URL, for links in pages, when a page is served.
    pub page_url: Option<String>,
    pub notifiers: BTreeMap<String, Arc<dyn Channel>>,
    /// Notifiers' own `message` templates (the text under the title), by notifier name.
    pub messages: BTreeMap<String, crate::notify::template::Text>,
    pub policies: BTreeMap<String, PolicyConfig>,
    pub rules: Vec<RuleConfig>,
    /// The routing tree, when the file has one: rules without a `policy` of their own go through it.
    pub route: Option<Route>,
    pub inhibit: Vec<Inhibit>,
}

fn target(s: &str) -> Option<Target> {
    let (kind, name) = s.split_once(':')?;
    let name = name.trim().to_string();
    Some(match kind.trim() {
        "oncall" => Target::OnCall(name),
        "next" => Target::Next(name),
        "team" => Target::Team(name),
        "person" => Target::Person(name),
        _ => return None,
    })
}

/// Where the status page is, as the binary assembled it: acknowledge links point there.
#[derive(Debug, Clone)]
pub struct Page {
    /// Its public base URL (`statuspage.url`, or its default), without a trailing slash.
    pub url: String,
    /// Whether this configuration serves one (`[statuspage]`): only then do pages link to it.
    pub served: bool,
}

impl AlertingConfig {
    /// The `alerting:` lines of `watchpost check-config`'s summary.
    pub fn summary(&self, shared: &Config) -> String {
        let mut out = String::new();
        let a = self;
        if a.configured {
            let notifiers: Vec<String> = a.notifiers.iter().map(|(n, c)| format!("{n} ({})", c.kind())).collect();
            out.push_str(&format!(
                "alerting:  {} rule(s), {} policy(ies), notifiers {}; evaluated every {}, acknowledge links {}\n",
                a.rules.len(),
                a.policies.len(),
                notifiers.join(", "),
                watchpost_core::config::format_duration(a.evaluation_interval),
                if a.secret.is_some() { "on" } else { "off (no alerting.secret)" }
            ));
            for r in &a.rules {
                let selected = shared.endpoints.iter().filter(|e| r.selector.matches(e)).count();
                let to = r.policy.as_ref().map_or("the routes".to_string(), |p| format!("policy {p}"));
                out.push_str(&format!(
                    "  rule {:<19} {} ({}) on {selected} endpoint(s) → {to}\n",
                    r.name,
                    r.describe(),
                    r.severity.as_str()
                ));
            }
            if let Some(root) = &a.route {
                for r in root.walk() {
                    let matchers: Vec<String> = r.matchers.iter().map(|m| m.to_string()).collect();
                    let when = if matchers.is_empty() { "default".to_string() } else { matchers.join(" ") };
                    out.push_str(&format!(
                        "  route {:<18} {when}{} → {}\n",
                        r.name,
                        if r.continue_ { " (continue)" } else { "" },
                        r.describe()
                    ));
                }
            }
            for (i, inh) in a.inhibit.iter().enumerate() {
                let show = |m: &[watchpost_core::labels::Matcher]| m.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(" ");
                let equal = if inh.equal.is_empty() { String::new() } else { format!(" with equal {}", inh.equal.join(", ")) };
                out.push_str(&format!("  inhibit[{i}]         {} holds back {}{equal}\n", show(&inh.source), show(&inh.target)));
            }
            for p in a.policies.values() {
                let levels: Vec<String> = p
                    .levels
                    .iter()
                    .map(|l| {
                        let who: Vec<String> = l.targets.iter().map(|t| t.describe()).collect();
                        format!("after {}: {}", watchpost_core::config::format_duration(l.after), who.join(" + "))
                    })
                    .collect();
                out.push_str(&format!("  policy {:<17} {} via {}\n", p.name, levels.join("; "), p.notifiers.join(", ")));
            }
        } else {
            out.push_str("alerting:  no [[alerting.rules]] (`watchpost run` pages nobody)\n");
        }
        out
    }

    /// Phase two of `[alerting]`: every error goes to `errors`, with its key path and line.
    pub fn from_document(doc: &Document, shared: &Config, page: &Page, errors: &mut ConfigErrors) -> AlertingConfig {
        let value = match &doc.tree {
            Value::Object(root) => root.get("alerting"),
            _ => None,
        };
        alerting(doc, value, shared, page, errors)
    }
}

fn alerting(doc: &Document, value: Option<&Value>, shared: &Config, page: &Page, errors: &mut ConfigErrors) -> AlertingConfig {
    let (people, schedules, endpoints, batch_age) = (&shared.people, &shared.oncall, &shared.endpoints, shared.agent.batch_max_age);
    let raw: RawAlerting = value.and_then(|v| section(doc, "alerting", v, errors)).unwrap_or_default();
    if raw.regions_down_quorum.is_some() {
        errors.push(doc.error(
            "alerting.regions_down_quorum",
            "moved to `regions.down_quorum` (it now decides the status page and `watchpost status` too)",
        ));
    }
    let dur = |v: Option<HumanDuration>, default: Duration| v.map(HumanDuration::as_duration).unwrap_or(default);
    let evaluation_interval = dur(raw.evaluation_interval, d::EVALUATION_INTERVAL);
    if evaluation_interval < Duration::from_millis(100) {
        errors.push(doc.error("alerting.evaluation_interval", "is below 100ms"));
    }
    let lookback = dur(raw.lookback, d::ALERT_LOOKBACK);
    if lookback < batch_age {
        errors.push(doc.error("alerting.lookback", "is shorter than `agent.batch_max_age`: points written late would be missed"));
    }
    let secret = secret_or_file(doc, "alerting.secret", raw.secret, raw.secret_file, errors);
    if secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
        errors.push(doc.error("alerting.secret", "is shorter than 32 characters: use `openssl rand -hex 32`"));
    }
    let ack_url = raw.ack_url.unwrap_or_else(|| page.url.clone()).trim_end_matches('/').to_string();
    if let Err(e) = parse_http_url(&ack_url) {
        errors.push(doc.error("alerting.ack_url", e));
    }

    let mut notifiers = BTreeMap::new();
    let mut messages = BTreeMap::new();
    for (name, v) in raw.notifiers.unwrap_or_default() {
        let path = format!("alerting.notifiers.{name}");
        check_name(doc, &path, &name, errors);
        let Value::Object(mut keys) = v else {
            errors.push(doc.error(&path, "this key wants a table ({ … } or [section])"));
            continue;
        };
        // `message`, a key every channel that shows the one message text takes, is read here, not by each type.
        let message = keys.remove("message");
        let spec = tagged::<NotifierConfig>(doc, &path, keys, None, None, errors);
        let mut table = Table { doc, path: &path, errors };
        if let Some(n) = spec.and_then(|(_, r)| r.check(&mut table)) {
            match message {
                None => {}
                Some(_) if !MESSAGE_KINDS.contains(&n.kind()) => errors.push(doc.error(
                    &format!("{path}.message"),
                    format!("a {} notifier builds its own payload; `message` applies to {}", n.kind(), MESSAGE_KINDS.join(", ")),
                )),
                Some(Value::String(t)) => match crate::notify::template::Text::parse(&t) {
                    Ok(t) => {
                        messages.insert(name.clone(), t);
                    }
                    Err(e) => errors.push(doc.error(&format!("{path}.message"), e)),
                },
                Some(_) => errors.push(doc.error(&format!("{path}.message"), "expected a string (a template)")),
            }
            notifiers.insert(name, n);
        }
    }
    contacts(doc, people, &notifiers, errors);

    let mut policies = BTreeMap::new();
    for (name, v) in raw.policies.unwrap_or_default() {
        let path = format!("alerting.policies.{name}");
        check_name(doc, &path, &name, errors);
        let Some(r) = section::<RawPolicy>(doc, &path, &v, errors) else { continue };
        for (i, n) in r.notifiers.iter().enumerate() {
            if !notifiers.contains_key(n) && !errors.iter().any(|e| e.key.starts_with(&format!("alerting.notifiers.{n}"))) {
                errors.push(doc.error(&format!("{path}.notifiers[{i}]"), format!("no notifier `{n}` in [alerting.notifiers]")));
            }
        }
        if r.notifiers.is_empty() {
            errors.push(doc.error(&format!("{path}.notifiers"), "is empty: name at least one notifier"));
        }
        if r.levels.is_empty() {
            errors.push(doc.error(&format!("{path}.levels"), "is empty: give at least one level"));
        }
        let mut levels = Vec::new();
        let mut previous = Duration::ZERO;
        for (i, l) in r.levels.into_iter().enumerate() {
            let lp = format!("{path}.levels[{i}]");
            let after = dur(l.after, Duration::ZERO);
            if i > 0 && after <= previous {
                errors.push(doc.error(&format!("{lp}.after"), "is not later than the level before"));
            }
            previous = after;
            let mut targets = Vec::new();
            for (j, t) in l.targets.iter().enumerate() {
                let tp = format!("{lp}.targets[{j}]");
                match target(t) {
                    None => {
                        errors.push(doc.error(&tp, format!("{t:?}: expected oncall:SCHEDULE, next:SCHEDULE, team:SCHEDULE or person:NAME")))
                    }
                    Some(Target::Person(p)) if !people.contains_key(&p) => {
                        errors.push(doc.error(&tp, format!("no person `{p}` in [oncall.people]")))
                    }
                    Some(Target::OnCall(s) | Target::Next(s) | Target::Team(s)) if !schedules.contains_key(&s) => {
                        errors.push(doc.error(&tp, format!("no schedule `{s}` in [oncall.schedules]")))
                    }
                    Some(t) => targets.push(t),
                }
            }
            if l.targets.is_empty() {
                errors.push(doc.error(&format!("{lp}.targets"), "is empty"));
            }
            levels.push(Level { after, targets });
        }
        // A notifier that reaches people only by a contact (email) needs one for everyone the policy can
        // page: better said now than at 2 am.
        for channel in r.notifiers.iter().filter_map(|n| notifiers.get(n)).filter(|c| c.needs_contact()) {
            let Some(key) = channel.contact() else { continue };
            let mut who = BTreeSet::new();
            for l in &levels {
                for t in &l.targets {
                    match t {
                        Target::Person(p) => {
                            who.insert(p.clone());
                        }
                        Target::OnCall(s) | Target::Next(s) | Target::Team(s) => {
                            if let Some(s) = schedules.get(s) {
                                who.extend(s.members.iter().cloned());
                            }
                        }
                    }
                }
            }
            for p in who.iter().filter(|p| people.get(*p).is_none_or(|p| p.contact(key).is_none())) {
                errors.push(doc.error(
                    &format!("{path}.notifiers"),
                    format!("notifies by {}, but `{p}`, whom it can page, has no `{key}` in [oncall.people.{p}]", channel.kind()),
                ));
            }
        }
        let repeat = r.repeat.unwrap_or(0);
        // One pass: up to the last level, plus as long again as the last gap (15 min when there is one level).
        let gap = match levels.as_slice() {
            [.., a, b] => b.after - a.after,
            _ => Duration::from_secs(900),
        };
        let last = levels.last().map_or(Duration::ZERO, |l| l.after);
        let repeat_after = dur(r.repeat_after, last + gap);
        if r.repeat_after.is_some() && repeat > 0 && repeat_after <= last {
            errors.push(doc.error(
                &format!("{path}.repeat_after"),
                format!("is not later than the last level ({}): a pass must end before the next begins", format_duration(last)),
            ));
        }
        if r.repeat_after.is_some() && repeat == 0 {
            errors.push(doc.error(&format!("{path}.repeat_after"), "has no effect without `repeat`"));
        }
        let ack_timeout = r.ack_timeout.map(HumanDuration::as_duration);
        if ack_timeout.is_some_and(|t| t < Duration::from_secs(60)) {
            errors.push(doc.error(&format!("{path}.ack_timeout"), "is under 1m: nobody could act on an alert before it pages again"));
        }
        policies.insert(name.clone(), PolicyConfig { name, notifiers: r.notifiers, levels, repeat, repeat_after, ack_timeout });
    }

    let names: BTreeSet<&str> = policies.keys().map(String::as_str).collect();
    let notifier_names: BTreeSet<&str> = notifiers.keys().map(String::as_str).collect();
    let route = route::routes(doc, raw.route.as_ref(), raw.routes.as_ref(), &names, &notifier_names, errors);
    let inhibit = route::inhibits(doc, raw.inhibit.as_ref(), errors);
    let rules = rule::rules(doc, raw.rules.unwrap_or_default(), &names, route.is_some(), endpoints, errors);
    AlertingConfig {
        configured: !rules.is_empty() || route.is_some(),
        evaluation_interval,
        lookback,
        secret,
        ack_url,
        ack_link_ttl: dur(raw.ack_link_ttl, d::ACK_LINK_TTL),
        retry_max_delay: dur(raw.retry_max_delay, d::RETRY_MAX_DELAY).max(Duration::from_secs(1)),
        resolve_in_maintenance: raw.resolve_in_maintenance.unwrap_or(true),
        page_url: page.served.then(|| page.url.clone()),
        notifiers,
        messages,
        policies,
        rules,
        route,
        inhibit,
    }
}

/// The notifier types that send the one message text (`notify/message.rs`), which a `message` template
/// replaces.
pub const MESSAGE_KINDS: [&str; 12] = [
    "discord",
    "telegram",
    "googlechat",
    "ntfy",
    "mattermost",
    "teams",
    "gotify",
    "pushover",
    "matrix",
    "alertmanager",
    "splunk_oncall",
    "twilio",
];

/// Every key of `[oncall.people.NAME]` is `email` or the contact key of a configured notifier: a misspelt
/// key would otherwise leave someone unreachable without a word.
fn contacts(
    doc: &Document,
    people: &BTreeMap<String, watchpost_core::config::Person>,
    notifiers: &BTreeMap<String, Arc<dyn Channel>>,
    errors: &mut ConfigErrors,
) {
    let mut known: BTreeSet<&str> = notifiers.values().filter_map(|c| c.contact()).collect();
    known.insert("email");
    for p in people.values() {
        for key in p.contacts.keys().filter(|k| !known.contains(k.as_str())) {
            errors.push(doc.error(
                &format!("oncall.people.{}.{key}", p.name),
                format!(
                    "unknown key `{key}`: no notifier in [alerting.notifiers] reaches people by it (contact keys here: {})",
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
}
