//! Components and their groups: what the status page lists, the publishers mirror and SLA reports cover.
//! Shared vocabulary, written under `[statuspage]` (`[[statuspage.groups]]`, `[[statuspage.components]]`)
//! where users look for them; each endpoint's `component` decides which endpoints back which component.

use super::check::{check_name, section};
use super::{ConfigErrors, Document, EndpointConfig};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    /// Identifier used by components' `group`.
    pub id: String,
    /// Heading shown on the page (default: the id).
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    /// The component: endpoints and checks with this `component` back it.
    pub id: String,
    /// Name on the page (default: the id).
    pub name: Option<String>,
    pub description: Option<String>,
    /// The group it is listed under.
    pub group: Option<String>,
    /// Never shown publicly: not on the page, in the JSON, feeds or badges (default false).
    pub private: Option<bool>,
    /// Show the probed URLs and addresses on the page (default false: the public page never reveals them).
    pub show_targets: Option<bool>,
    /// Labels the alerts of its endpoints carry (an endpoint's own labels win).
    pub labels: Option<BTreeMap<String, String>>,
    /// Endpoint, check or component ids it needs: while one of them is alerting, its endpoints' alerts wait.
    pub depends_on: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    pub id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentConfig {
    pub id: String,
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    pub private: bool,
    pub show_targets: bool,
    /// The endpoint and check ids whose points decide its status (from their `component`).
    pub endpoints: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub depends_on: Vec<String>,
}

/// `[[statuspage.groups]]` and `[[statuspage.components]]` (default: one component per endpoint `component`,
/// in the order they first appear).
pub(super) fn components(
    doc: &Document,
    statuspage: Option<&Value>,
    endpoints: &[EndpointConfig],
    errors: &mut ConfigErrors,
) -> (Vec<GroupConfig>, Vec<ComponentConfig>) {
    let groups_raw: Vec<RawGroup> =
        statuspage.and_then(|v| v.get("groups")).and_then(|v| section(doc, "statuspage.groups", v, errors)).unwrap_or_default();
    let components_raw: Option<Vec<RawComponent>> =
        statuspage.and_then(|v| v.get("components")).and_then(|v| section(doc, "statuspage.components", v, errors));
    let mut by_component: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for e in endpoints {
        if let Some(c) = e.component.as_deref() {
            let list = by_component.entry(c).or_insert_with(|| {
                order.push(c);
                Vec::new()
            });
            // A check runs once per environment, under one id.
            if !list.contains(&e.id) {
                list.push(e.id.clone());
            }
        }
    }
    let mut groups = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, g) in groups_raw.into_iter().enumerate() {
        let path = format!("statuspage.groups[{i}]");
        check_name(doc, &format!("{path}.id"), &g.id, errors);
        if !ids.insert(g.id.clone()) {
            errors.push(doc.error(&format!("{path}.id"), format!("duplicate group id `{}`", g.id)));
        }
        groups.push(GroupConfig { name: g.name.unwrap_or_else(|| g.id.clone()), description: g.description.unwrap_or_default(), id: g.id });
    }
    let components = match components_raw {
        None => order
            .iter()
            .map(|c| ComponentConfig {
                id: c.to_string(),
                name: c.to_string(),
                description: String::new(),
                group: None,
                private: false,
                show_targets: false,
                endpoints: by_component.get(c).cloned().unwrap_or_default(),
                labels: BTreeMap::new(),
                depends_on: vec![],
            })
            .collect(),
        Some(list) => {
            let mut out = Vec::new();
            for (i, c) in list.into_iter().enumerate() {
                let path = format!("statuspage.components[{i}]");
                if !ids.insert(c.id.clone()) {
                    errors.push(
                        doc.error(&format!("{path}.id"), format!("duplicate id `{}` (groups and components share one namespace)", c.id)),
                    );
                }
                let backing = by_component.get(c.id.as_str()).cloned().unwrap_or_default();
                if backing.is_empty() {
                    let known = if order.is_empty() { "(none: give endpoints a `component`)".to_string() } else { order.join(", ") };
                    errors.push(doc.error(
                        &format!("{path}.id"),
                        format!("no endpoint or check has component `{}`, so nothing decides its status; components: {known}", c.id),
                    ));
                }
                if let Some(g) = &c.group {
                    if !groups.iter().any(|x| &x.id == g) {
                        let known: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
                        errors.push(doc.error(
                            &format!("{path}.group"),
                            format!("no group `{g}` in [[statuspage.groups]]; groups: {}", known.join(", ")),
                        ));
                    }
                }
                out.push(ComponentConfig {
                    name: c.name.unwrap_or_else(|| c.id.clone()),
                    description: c.description.unwrap_or_default(),
                    group: c.group,
                    private: c.private.unwrap_or(false),
                    show_targets: c.show_targets.unwrap_or(false),
                    endpoints: backing,
                    labels: super::validate::alert_labels(doc, &path, c.labels, errors),
                    depends_on: c.depends_on.unwrap_or_default(),
                    id: c.id,
                });
            }
            out
        }
    };
    (groups, components)
}
