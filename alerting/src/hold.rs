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

/// A snapshot for one evaluation cycle.
pub struct Holds<'a> {
    silences: Vec<(&'a Silence, Vec<Matcher>)>,
    inhibit: &'a [Inhibit],
    /// What each endpoint (and check) waits on: its own `depends_on` and its component's.
    depends: &'a HashMap<String, Vec<String>>,
    /// Firing alerts (key, labels): the possible sources of inhibitions and dependencies.
    firing: Vec<(String, Labels)>,
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

fn same_alert(a: &Labels, b: &Labels) -> bool {
    ["rule", "endpoint", "environment"].iter().all(|k| a.get(*k) == b.get(*k))
}

impl<'a> Holds<'a> {
    pub fn new(
        cfg: &'a Settings,
        silences: &'a [Silence],
        depends: &'a HashMap<String, Vec<String>>,
        firing: Vec<(String, Labels)>,
        now: Nanos,
    ) -> Holds<'a> {
        let silences = silences.iter().filter(|s| s.active_at(now)).filter_map(|s| s.parsed().map(|m| (s, m))).collect();
        Holds { silences, inhibit: &cfg.alerting.inhibit, depends, firing }
    }

    /// Whether alerts can hold each other back at all (inhibition or dependencies configured).
    pub fn between_alerts(&self) -> bool {
        !self.inhibit.is_empty() || !self.depends.is_empty()
    }

    /// Adds alerts that fire as of this cycle, so that a dependency failing in the same cycle as its
    /// dependants holds them back before they page.
    pub fn add_firing(&mut self, more: impl IntoIterator<Item = (String, Labels)>) {
        for (k, l) in more {
            if !self.firing.iter().any(|(x, _)| *x == k) {
                self.firing.push((k, l));
            }
        }
    }

    /// Why the alert with `labels` is held back, or empty.
    pub fn reason(&self, labels: &Labels) -> String {
        if let Some((s, _)) = self.silences.iter().find(|(_, m)| all_match(m, labels)) {
            return format!("silenced by {} ({})", s.id, s.created_by);
        }
        for (key, source) in &self.firing {
            if same_alert(source, labels) {
                continue;
            }
            if self.inhibit.iter().any(|i| i.holds(source, labels)) {
                return format!("inhibited by {key}");
            }
        }
        if let Some(deps) = labels.get("endpoint").and_then(|e| self.depends.get(e)) {
            for d in deps {
                let down = self.firing.iter().find(|(_, s)| {
                    !same_alert(s, labels)
                        && s.get("environment") == labels.get("environment")
                        && (s.get("endpoint") == Some(d) || s.get("component") == Some(d))
                });
                if let Some((key, _)) = down {
                    return format!("waits on {d} ({key})");
                }
            }
        }
        String::new()
    }
}
