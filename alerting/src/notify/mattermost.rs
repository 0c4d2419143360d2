//! Mattermost: an incoming webhook (`POST` the hook URL, a credential) with the message as Markdown
//! `text`: the title in bold, the links as Markdown links. Mattermost answers 200 `ok`.

use super::message::Message;
use super::{post, secret_url, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "mattermost"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The incoming webhook (`https://chat.example.com/hooks/KEY`; a credential). Use `${ENV_VAR}` or
    /// `webhook_url_file`.
    webhook_url: Option<Secret>,
    webhook_url_file: Option<String>,
    /// Post to this channel instead of the hook's own (`town-square`, `@username`; if the hook allows it).
    channel: Option<String>,
    /// The name posts show (default `Watchpost`; if the server allows overriding it).
    username: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let hook = secret_url(t, "webhook_url", self.webhook_url, self.webhook_url_file)?;
        if self.channel.as_deref() == Some("") {
            t.error("channel", "is empty: leave it out to post to the webhook's own channel");
        }
        Some(Arc::new(Settings { webhook_url: hook, channel: self.channel, username: self.username.unwrap_or_else(|| "Watchpost".into()) }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub webhook_url: Secret,
    pub channel: Option<String>,
    pub username: String,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "mattermost"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Mattermost {
            http: http.clone(),
            url: self.webhook_url.clone(),
            channel: self.channel.clone(),
            username: self.username.clone(),
        }))
    }
}

pub struct Mattermost {
    http: reqwest::Client,
    url: Secret,
    channel: Option<String>,
    username: String,
}

/// Markdown's emphasis and code characters, escaped so that `*_prod_*` shows as written (brackets stay:
/// they only make a link before `(`, and the headline's `[FIRING]` should read as it does elsewhere).
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '`' | '~') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub fn body(e: &AlertEvent, channel: Option<&str>, username: &str) -> Value {
    let m = Message::of(e, "mattermost");
    let mut lines = vec![format!("**{}**", md(&m.title))];
    lines.extend(m.lines.iter().map(|l| md(l)));
    let links: Vec<String> = [("Acknowledge", &m.ack_url), ("Status page", &m.page_url)]
        .into_iter()
        .filter_map(|(label, url)| url.as_ref().map(|u| format!("[{label}]({u})")))
        .collect();
    if !links.is_empty() {
        lines.push(links.join(" · "));
    }
    let mut b = json!({ "text": truncate(&lines.join("\n"), 16_383), "username": username });
    if let Some(c) = channel {
        b["channel"] = json!(c);
    }
    b
}

#[async_trait::async_trait]
impl Notifier for Mattermost {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(self.url.expose()).json(&body(e, self.channel.as_deref(), &self.username))).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_documented_schema_and_names_are_escaped() {
        for e in events() {
            let b = body(&e, Some("ops"), "Watchpost");
            assert_eq!(schema_errors("mattermost", &b), Vec::<String>::new(), "{b}");
        }
        let b = body(&events()[0], None, "W");
        assert!(b["text"].as_str().unwrap().contains(r"Public API <v2> & \*stars\*\_"), "{b}");
    }
}
