//! Why a firing alert must not page now: a silence that matches it, a firing alert that inhibits it
//! (`[[alerting.inhibit]]`), or a dependency that is alerting (`depends_on`). Held alerts keep firing (they
//! are in `watchpost alerts`, with the reason) but page nobody and count in no group; when the hold ends
//! and they still fire, they page then.

use crate::config::Inhibit;
use crate::Settings;
use std::collections::HashMap;
use watchpost_core::labels::{all_match, Labels, Matcher};
use watchpost_core::state::Silence;
use watchpost_core::time::Nanos;

/// A snapshot for one evaluation cycle, indexed so that asking costs the same with 20,000 alerts firing as
/// with one: per inhibition rule, the `equal` values of its firing sources; per environment, the endpoints
/// and components with a firing alert.
pub struct Holds<'a> {
    silences: Vec<(&'a Silence, Vec<Matcher>)>,
    inhibit: &'a [Inhibit],
    /// What each endpoint (and check) waits on: its own `depends_on` and its component's.
    depends: &'a HashMap<String, Vec<String>>,
    /// Per inhibition rule: `equal` values → up to two firing sources (two, so that an alert matching both
    /// sides of a rule is not held back by itself alone).
    sources: Vec<HashMap<Vec<String>, Vec<String>>>,
    /// (environment, endpoint or component id) → a firing alert on it, up to two.
    down: HashMap<(String, String), Vec<String>>,
}

fn push_two(list: &mut Vec<String>, key: &str) {
    if list.len() < 2 && !list.iter().any(|k| k == key) {
        list.push(key.to_string());
    }
}

fn value<'l>(labels: &'l Labels, name: &str) -> &'l str {
    labels.get(name).map_or("", String::as_str)
}

/// `depends_on` by endpoint id, with its component's.
pub fn dependencies(cfg: &Settings) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for e in &cfg.shared.endpoints {
        let mut deps = e.depends_on.clone();
        if let Some(c) = e.component.as_deref().and_then(|c| cfg.shared.components.iter().find(|x| x.id == c)) {
            deps.extend(c.depends_on.iter().filter(|d| e.component.as_deref() != Some(d.as_str())).cloned());
        }
        if !deps.is_empty() {
            let list = out.entry(e.id.clone()).or_default();
            for d in deps {
                if !list.contains(&d) {
                    list.push(d);
                }
            }
        }
    }
    out
}

/// The alert's own key, as its labels make it.
fn own_key(labels: &Labels) -> String {
    crate::lifecycle::key(value(labels, "rule"), value(labels, "endpoint"), value(labels, "environment"))
}

impl<'a> Holds<'a> {
    /// `firing`: the alerts firing before this cycle (key and labels).
    pub fn new<'f>(
        cfg: &'a Settings,
        silences: &'a [Silence],
        depends: &'a HashMap<String, Vec<String>>,
        firing: impl IntoIterator<Item = (&'f str, &'f Labels)>,
        now: Nanos,
    ) -> Holds<'a> {
        let silences = silences.iter().filter(|s| s.active_at(now)).filter_map(|s| s.parsed().map(|m| (s, m))).collect();
        let mut h = Holds {
            silences,
            inhibit: &cfg.alerting.inhibit,
            depends,
            sources: vec![HashMap::new(); cfg.alerting.inhibit.len()],
            down: HashMap::new(),
        };
        h.add_firing(firing);
        h
    }

    /// Whether alerts can hold each other back at all (inhibition or dependencies configured).
    pub fn between_alerts(&self) -> bool {
        !self.inhibit.is_empty() || !self.depends.is_empty()
    }

    /// Adds firing alerts: before the cycle, and those that fire in it, so that a dependency failing in the
    /// same cycle as its dependants holds them back before they page.
    pub fn add_firing<'f>(&mut self, firing: impl IntoIterator<Item = (&'f str, &'f Labels)>) {
        if !self.between_alerts() {
            return;
        }
        for (key, labels) in firing {
            for (rule, sources) in self.inhibit.iter().zip(&mut self.sources) {
                if all_match(&rule.source, labels) {
                    let equal: Vec<String> = rule.equal.iter().map(|l| value(labels, l).to_string()).collect();
                    push_two(sources.entry(equal).or_default(), key);
                }
            }
            // A dependency is down while an alert of severity critical or error fires on it: a warning
            // (slow, flaky over a window that still holds the outage) does not keep its dependants waiting.
            if !self.depends.is_empty() && matches!(value(labels, "severity"), "critical" | "error") {
                let env = value(labels, "environment").to_string();
                for on in ["endpoint", "component"] {
                    if let Some(id) = labels.get(on) {
                        push_two(self.down.entry((env.clone(), id.clone())).or_default(), key);
                    }
                }
            }
        }
    }

    /// Why the alert with `labels` is held back, or empty.
    pub fn reason(&self, labels: &Labels) -> String {
        if let Some((s, _)) = self.silences.iter().find(|(_, m)| all_match(m, labels)) {
            return format!("silenced by {} ({})", s.id, s.created_by);
        }
        if !self.between_alerts() {
            return String::new();
        }
        let own = own_key(labels);
        let other = |keys: &Vec<String>| keys.iter().find(|k| **k != own).cloned();
        for (rule, sources) in self.inhibit.iter().zip(&self.sources) {
            if sources.is_empty() || !all_match(&rule.target, labels) {
                continue;
            }
            let equal: Vec<String> = rule.equal.iter().map(|l| value(labels, l).to_string()).collect();
            if let Some(source) = sources.get(&equal).and_then(other) {
                return format!("inhibited by {source}");
            }
        }
        if let Some(deps) = labels.get("endpoint").and_then(|e| self.depends.get(e)) {
            let env = value(labels, "environment").to_string();
            for d in deps {
                if let Some(source) = self.down.get(&(env.clone(), d.clone())).and_then(other) {
                    return format!("waits on {d} ({source})");
                }
            }
        }
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(rule: &str, endpoint: &str, env: &str, component: &str) -> Labels {
        [("rule", rule), ("endpoint", endpoint), ("environment", env), ("component", component), ("severity", "critical")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn inhibition_needs_a_firing_source_with_equal_labels_and_dependencies_their_environment() {
        let cfg = crate::test_settings(
            r#"
[[endpoints]]
id = "db"
component = "data"
url = "http://127.0.0.1:1/"
[[endpoints]]
id = "api"
component = "web"
depends_on = ["data"]
url = "http://127.0.0.1:1/"
[alerting.notifiers.hook]
type = "webhook"
url = "http://127.0.0.1:1/"
[oncall.schedules.primary]
members = ["alice"]
[alerting.policies.default]
notifiers = ["hook"]
levels = [{ targets = ["oncall:primary"] }]
[[alerting.inhibit]]
source = ["rule=down"]
target = ["rule=slow"]
equal = ["endpoint", "environment"]
[[alerting.rules]]
name = "down"
when = "availability < 100"
[[alerting.rules]]
name = "slow"
when = "latency_mean > 300ms"
"#,
        );
        let depends = dependencies(&cfg);
        assert_eq!(depends.get("api"), Some(&vec!["data".to_string()]));
        let down_db = labels("down", "db", "production", "data");
        let slow_db = labels("slow", "db", "production", "data");
        let slow_db_staging = labels("slow", "db", "staging", "data");
        let down_api = labels("down", "api", "production", "web");
        let h = Holds::new(&cfg, &[], &depends, [("down/db/production", &down_db)], 0);
        assert_eq!(h.reason(&slow_db), "inhibited by down/db/production");
        assert_eq!(h.reason(&slow_db_staging), "", "equal labels differ");
        assert_eq!(h.reason(&down_db), "", "a source does not hold itself back");
        assert_eq!(h.reason(&down_api), "waits on data (down/db/production)");
        assert_eq!(h.reason(&labels("down", "api", "staging", "web")), "", "the dependency is down in production only");
        let nothing = Holds::new(&cfg, &[], &depends, [], 0);
        assert_eq!(nothing.reason(&slow_db), "");

        let silence = Silence {
            id: "s1".into(),
            matchers: vec!["component=web".into()],
            starts_at: 10,
            ends_at: 20,
            created_by: "alice".into(),
            comment: "deploy".into(),
            created_at: 0,
            expired_at: None,
        };
        let silences = [silence];
        assert_eq!(Holds::new(&cfg, &silences, &depends, [], 15).reason(&down_api), "silenced by s1 (alice)");
        assert_eq!(Holds::new(&cfg, &silences, &depends, [], 20).reason(&down_api), "", "over");
    }
}
