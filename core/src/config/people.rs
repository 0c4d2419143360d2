//! `[oncall.people.NAME]`: who can be paged, and how to reach them.
//!
//! ```toml
//! [oncall.people.alice]
//! email = "alice@example.com"
//! chat = "U024BE7LH"   # read by a notifier whose contact key is `chat`
//! ```
//!
//! Why the contacts are an open table: each notifier names the contact key it reads (the alerting crate's
//! notifier files), so a new channel needs no change here. The keys are checked against the notifiers there;
//! only `email`, which the status page and email notifier share, is checked here.

use super::check::{check_name, section};
use super::{ConfigErrors, Document};
use serde_json::Value;
use std::collections::BTreeMap;

/// Someone who can be paged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    /// Contact key → address (`email`, or the key a notifier reads: a chat member id, a username…).
    pub contacts: BTreeMap<String, String>,
}

impl Person {
    /// The address under `key`, if given.
    pub fn contact(&self, key: &str) -> Option<&str> {
        self.contacts.get(key).map(String::as_str)
    }
}

pub(super) fn people(doc: &Document, oncall: Option<&Value>, errors: &mut ConfigErrors) -> BTreeMap<String, Person> {
    let mut out = BTreeMap::new();
    let Some(raw) = oncall.and_then(|v| v.get("people")) else { return out };
    let raw: BTreeMap<String, Value> = section(doc, "oncall.people", raw, errors).unwrap_or_default();
    for (name, v) in raw {
        let path = format!("oncall.people.{name}");
        check_name(doc, &path, &name, errors);
        let Some(contacts) = section::<BTreeMap<String, String>>(doc, &path, &v, errors) else { continue };
        if let Some(e) = contacts.get("email") {
            if !e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty()) {
                errors.push(doc.error(&format!("{path}.email"), format!("{e:?} is not an email address")));
            }
        }
        out.insert(name.clone(), Person { name, contacts });
    }
    out
}
