//! `[alerting.route]`, `[[alerting.routes]]` and `[[alerting.inhibit]]`: where an alert goes by its labels
//! (a tree walked as Alertmanager walks its routes), how alerts are grouped into one page, and which alerts
//! hold others back.
//!
//! ```toml
//! [alerting.route]                  # the default route: alerts no child route takes
//! policy = "default"
//! group_by = ["component"]
//!
//! [[alerting.routes]]
//! match = ["team=payments"]
//! policy = "payments"
//!
//! [[alerting.inhibit]]
//! source = ["rule=down"]
//! target = ["rule=slow"]
//! equal = ["endpoint", "environment"]
//! ```

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use watchpost_core::config::check::section;
use watchpost_core::config::{format_duration, ConfigErrors, Document, HumanDuration};
use watchpost_core::labels::{all_match, Labels, Matcher};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Shown in `watchpost alerts`, `test-route` and pages (default: its place, `routes[0].routes[1]`).
    pub name: Option<String>,
    /// Label matchers, all of which must hold: `component=checkout`, `severity=~"critical|error"`,
    /// `region!=eu`, `team!~"ops|sre"`. The default route has none.
    #[serde(rename = "match")]
    pub matchers: Option<Vec<String>>,
    /// The escalation policy of the alerts it takes (default: its parent's).
    pub policy: Option<String>,
    /// Notifiers instead of the policy's (default: its parent's, else the policy's).
    pub notifiers: Option<Vec<String>>,
    /// Labels that make a group: alerts with the same values page once, together. `[]`: one group for the
    /// route; `["..."]`: every alert alone. Default: its parent's, and every alert alone at the top.
    pub group_by: Option<Vec<String>>,
    /// How long a new group waits for more alerts before its first notification (default 30s; 0 when
    /// alerts are not grouped).
    pub group_wait: Option<HumanDuration>,
    /// The least time between two notifications of a group's changes (default 5m).
    pub group_interval: Option<HumanDuration>,
    /// How long after its last notification an unacknowledged, unchanged group is notified again
    /// (default 4h).
    pub repeat_interval: Option<HumanDuration>,
    /// Go on to the next sibling route after this one matched (default false: the first match takes it).
    #[serde(rename = "continue")]
    pub continue_: Option<bool>,
    /// Child routes, tried in order before this one takes the alert.
    pub routes: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInhibit {
    /// Matchers of the alert that holds others back (it must be firing).
    pub source: Vec<String>,
    /// Matchers of the alerts it holds back.
    pub target: Vec<String>,
    /// Labels that must have the same value on both (absent on both counts as the same).
    pub equal: Option<Vec<String>>,
}

/// How a route groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// Every alert is its own group (`["..."]`, and the default).
    Each,
    /// By the values of these labels (`[]`: one group).
    Labels(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Route {
    /// `route`, `routes[0]`, `routes[0].routes[1]`, or its `name`.
    pub name: String,
    pub matchers: Vec<Matcher>,
    pub policy: String,
    /// The notifiers its pages go through (the policy's unless the route names its own).
    pub notifiers: Option<Vec<String>>,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub continue_: bool,
    pub routes: Vec<Route>,
}

impl Route {
    /// The routes that take an alert with `labels`, walked from this one (which matches): each child in
    /// order, into the first that matches and on past it when it says `continue`; this route itself when
    /// no child takes the alert.
    pub fn resolve<'a>(&'a self, labels: &Labels, out: &mut Vec<&'a Route>) {
        let before = out.len();
        for child in &self.routes {
            if all_match(&child.matchers, labels) {
                child.resolve(labels, out);
                if !child.continue_ {
                    break;
                }
            }
        }
        if out.len() == before {
            out.push(self);
        }
    }

    /// The group an alert with `labels` belongs to on this route: its labels, and its key (the
    /// deduplication key PagerDuty and OpsGenie see), `group:ROUTE/k=v,…` or `group:ROUTE/ALERT-KEY`.
    pub fn group(&self, alert_key: &str, labels: &Labels) -> (String, Labels) {
        match &self.group_by {
            GroupBy::Each => (format!("group:{}/{alert_key}", self.name), labels.clone()),
            GroupBy::Labels(names) => {
                let own: Labels = names.iter().map(|n| (n.clone(), labels.get(n).cloned().unwrap_or_default())).collect();
                (format!("group:{}/{}", self.name, watchpost_core::labels::describe(&own).replace(", ", ",")), own)
            }
        }
    }

    /// Every route of the tree, this one first.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for c in &self.routes {
            out.extend(c.walk());
        }
        out
    }

    /// `policy P via N, M; group by component (wait 30s, every 5m, repeat 4h)`.
    pub fn describe(&self) -> String {
        let via = self.notifiers.as_ref().map(|n| format!(" via {}", n.join(", "))).unwrap_or_default();
        let grouping = match &self.group_by {
            GroupBy::Each => "each alert alone".to_string(),
            GroupBy::Labels(l) if l.is_empty() => "one group".to_string(),
            GroupBy::Labels(l) => format!("grouped by {}", l.join(", ")),
        };
        format!(
            "policy {}{via}; {grouping} (wait {}, changes every {}, repeat {})",
            self.policy,
            format_duration(self.group_wait),
            format_duration(self.group_interval),
            format_duration(self.repeat_interval)
        )
    }
}

#[derive(Debug, Clone)]
pub struct Inhibit {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

impl Inhibit {
    /// Whether a firing `source` alert holds back `target` (never itself).
    pub fn holds(&self, source: &Labels, target: &Labels) -> bool {
        all_match(&self.source, source)
            && all_match(&self.target, target)
            && self.equal.iter().all(|l| source.get(l).map_or("", String::as_str) == target.get(l).map_or("", String::as_str))
    }
}

struct Inherited {
    policy: Option<String>,
    notifiers: Option<Vec<String>>,
    group_by: Option<GroupBy>,
    group_wait: Option<Duration>,
    group_interval: Duration,
    repeat_interval: Duration,
}

fn matchers(doc: &Document, path: &str, list: &[String], errors: &mut ConfigErrors) -> Vec<Matcher> {
    let mut out = Vec::new();
    for (i, m) in list.iter().enumerate() {
        match Matcher::parse(m) {
            Ok(m) => out.push(m),
            Err(e) => errors.push(doc.error(&format!("{path}[{i}]"), e)),
        }
    }
    out
}

/// The routing tree: `[alerting.route]` (the default route) with `[[alerting.routes]]` under it. `None`
/// when the file has neither: rules then page their own policy.
pub(super) fn routes(
    doc: &Document,
    root: Option<&Value>,
    children: Option<&Value>,
    policies: &BTreeSet<&str>,
    notifiers: &BTreeSet<&str>,
    errors: &mut ConfigErrors,
) -> Option<Route> {
    if root.is_none() && children.is_none() {
        return None;
    }
    let mut raw: RawRoute = root.and_then(|v| section(doc, "alerting.route", v, errors)).unwrap_or_default();
    if raw.matchers.as_ref().is_some_and(|m| !m.is_empty()) {
        errors.push(doc.error("alerting.route.match", "the default route takes every alert: it has no matchers"));
    }
    if raw.continue_.is_some() {
        errors.push(doc.error("alerting.route.continue", "the default route has no siblings to continue to"));
    }
    if raw.routes.is_some() {
        errors.push(doc.error("alerting.route.routes", "write child routes as [[alerting.routes]]"));
    }
    raw.routes = children.and_then(|v| section(doc, "alerting.routes", v, errors));
    if raw.policy.is_none() && policies.len() == 1 {
        raw.policy = policies.iter().next().map(|p| p.to_string());
    }
    let top = Inherited {
        policy: None,
        notifiers: None,
        group_by: None,
        group_wait: None,
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
    };
    let mut names = BTreeSet::new();
    Some(route(doc, "alerting.route", "route", raw, &top, policies, notifiers, &mut names, errors))
}

#[allow(clippy::too_many_arguments)]
fn route(
    doc: &Document,
    path: &str,
    place: &str,
    raw: RawRoute,
    parent: &Inherited,
    policies: &BTreeSet<&str>,
    notifiers: &BTreeSet<&str>,
    names: &mut BTreeSet<String>,
    errors: &mut ConfigErrors,
) -> Route {
    let name = raw.name.clone().unwrap_or_else(|| place.to_string());
    if raw.name.is_some() {
        watchpost_core::config::check::check_name(doc, &format!("{path}.name"), &name, errors);
    }
    if !names.insert(name.clone()) {
        errors.push(doc.error(&format!("{path}.name"), format!("`{name}` names another route too")));
    }
    let policy = raw.policy.clone().or_else(|| parent.policy.clone());
    match &policy {
        Some(p) if !policies.contains(p.as_str()) => {
            errors.push(doc.error(&format!("{path}.policy"), format!("no policy `{p}` in [alerting.policies]")))
        }
        None => errors.push(doc.error(&format!("{path}.policy"), "missing: name one of [alerting.policies] (child routes inherit it)")),
        _ => {}
    }
    if let Some(list) = &raw.notifiers {
        for (i, n) in list.iter().enumerate() {
            if !notifiers.contains(n.as_str()) {
                errors.push(doc.error(&format!("{path}.notifiers[{i}]"), format!("no notifier `{n}` in [alerting.notifiers]")));
            }
        }
        if list.is_empty() {
            errors.push(doc.error(&format!("{path}.notifiers"), "is empty: leave it out to use the policy's"));
        }
    }
    let group_by = match &raw.group_by {
        Some(l) if l.iter().any(|x| x == "...") => {
            if l.len() > 1 {
                errors.push(doc.error(&format!("{path}.group_by"), "\"...\" (every alert alone) goes alone"));
            }
            Some(GroupBy::Each)
        }
        Some(l) => {
            for (i, n) in l.iter().enumerate() {
                if !watchpost_core::labels::valid_name(n) {
                    errors.push(doc.error(&format!("{path}.group_by[{i}]"), format!("`{n}` is not a label name")));
                }
            }
            Some(GroupBy::Labels(l.clone()))
        }
        None => parent.group_by.clone(),
    };
    let d = |v: Option<HumanDuration>| v.map(HumanDuration::as_duration);
    let mine = Inherited {
        policy: policy.clone(),
        notifiers: raw.notifiers.clone().or_else(|| parent.notifiers.clone()),
        group_wait: d(raw.group_wait).or(parent.group_wait),
        group_interval: d(raw.group_interval).unwrap_or(parent.group_interval),
        repeat_interval: d(raw.repeat_interval).unwrap_or(parent.repeat_interval),
        group_by,
    };
    if mine.group_interval < Duration::from_secs(1) {
        errors.push(doc.error(&format!("{path}.group_interval"), "is below 1s"));
    }
    if mine.repeat_interval < mine.group_interval {
        errors.push(doc.error(&format!("{path}.repeat_interval"), "is shorter than `group_interval`"));
    }
    let group_by = mine.group_by.clone().unwrap_or(GroupBy::Each);
    let group_wait = mine.group_wait.unwrap_or(if group_by == GroupBy::Each { Duration::ZERO } else { Duration::from_secs(30) });
    let mut routes = Vec::new();
    for (i, v) in raw.routes.unwrap_or_default().iter().enumerate() {
        let (cpath, cplace) = if path == "alerting.route" {
            (format!("alerting.routes[{i}]"), format!("routes[{i}]"))
        } else {
            (format!("{path}.routes[{i}]"), format!("{place}.routes[{i}]"))
        };
        let Some(child) = section::<RawRoute>(doc, &cpath, v, errors) else { continue };
        if child.matchers.as_ref().is_none_or(|m| m.is_empty()) {
            errors
                .push(doc.error(&format!("{cpath}.match"), "is missing: a child route needs matchers (the default route takes the rest)"));
        }
        routes.push(route(doc, &cpath, &cplace, child, &mine, policies, notifiers, names, errors));
    }
    Route {
        name,
        matchers: matchers(doc, &format!("{path}.match"), raw.matchers.as_deref().unwrap_or_default(), errors),
        policy: policy.unwrap_or_default(),
        notifiers: mine.notifiers,
        group_by,
        group_wait,
        group_interval: mine.group_interval,
        repeat_interval: mine.repeat_interval,
        continue_: raw.continue_.unwrap_or(false),
        routes,
    }
}

/// `[[alerting.inhibit]]`.
pub(super) fn inhibits(doc: &Document, raw: Option<&Value>, errors: &mut ConfigErrors) -> Vec<Inhibit> {
    let list: Vec<RawInhibit> = raw.and_then(|v| section(doc, "alerting.inhibit", v, errors)).unwrap_or_default();
    let mut out = Vec::new();
    for (i, r) in list.into_iter().enumerate() {
        let path = format!("alerting.inhibit[{i}]");
        if r.source.is_empty() {
            errors.push(doc.error(&format!("{path}.source"), "is empty: an alert of any kind would hold back the targets"));
        }
        if r.target.is_empty() {
            errors.push(doc.error(&format!("{path}.target"), "is empty: every alert would be held back"));
        }
        let equal = r.equal.unwrap_or_default();
        for (j, n) in equal.iter().enumerate() {
            if !watchpost_core::labels::valid_name(n) {
                errors.push(doc.error(&format!("{path}.equal[{j}]"), format!("`{n}` is not a label name")));
            }
        }
        out.push(Inhibit {
            source: matchers(doc, &format!("{path}.source"), &r.source, errors),
            target: matchers(doc, &format!("{path}.target"), &r.target, errors),
            equal,
        });
    }
    out
}

/// The labels of the alert of `rule` on endpoint `e`: the built-in ones, then the component's, then the
/// endpoint's own (`region` is added when it fires: the regions that breach).
pub fn alert_labels(
    rule: &super::RuleConfig,
    e: &watchpost_core::config::EndpointConfig,
    shared: &watchpost_core::config::Config,
) -> Labels {
    let mut l = Labels::new();
    if let Some(c) = e.component.as_deref().and_then(|c| shared.components.iter().find(|x| x.id == c)) {
        l.extend(c.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    l.extend(e.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    l.insert("rule".into(), rule.name.clone());
    l.insert("endpoint".into(), e.id.clone());
    if let Some(c) = &e.component {
        l.insert("component".into(), c.clone());
    }
    l.insert("environment".into(), e.environment.clone());
    l.insert("severity".into(), rule.severity.as_str().into());
    l
}
