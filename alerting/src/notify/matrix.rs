//! Matrix: an `m.room.message` (`m.text`, with an HTML body) sent to a room through the client-server API,
//! `PUT {homeserver}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}` with the bot account's
//! access token. The transaction id is the delivery's idempotency key, so the homeserver drops a retry of
//! a message it already has: a crash between sending and recording cannot post twice.

use super::message::Message;
use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::AlertEvent;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;
use watchpost_core::template::percent_encode;

/// `type = "matrix"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The homeserver's client API base, e.g. `https://matrix.example.org`.
    homeserver: Option<String>,
    /// The room id (`!abc123:example.org`; the bot account must have joined it).
    room_id: Option<String>,
    /// The bot account's access token. Use `${ENV_VAR}` or `access_token_file`.
    access_token: Option<Secret>,
    access_token_file: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let homeserver = t.url("homeserver", self.homeserver, None);
        let token = t.required_secret("access_token", self.access_token, self.access_token_file);
        let room = t.required("room_id", self.room_id)?;
        if !(room.starts_with('!') && room.contains(':')) {
            t.error("room_id", format!("{room:?} is not a room id: expected `!opaque:server` (Room settings → Advanced), not an alias"));
        }
        Some(Arc::new(Settings { homeserver: homeserver?, room_id: room, access_token: token? }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub homeserver: String,
    pub room_id: String,
    pub access_token: Secret,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "matrix"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        let base = format!(
            "{}/_matrix/client/v3/rooms/{}/send/m.room.message/",
            self.homeserver.trim_end_matches('/'),
            percent_encode(&self.room_id)
        );
        Ok(Arc::new(Matrix { http: http.clone(), base, token: self.access_token.clone() }))
    }
}

pub struct Matrix {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

fn html(s: &str) -> String {
    watchpost_core::markup::escape(s)
}

pub fn body(e: &AlertEvent) -> Value {
    let m = Message::of(e, "matrix");
    let mut formatted = format!("<strong>{}</strong>", html(&m.title));
    for l in &m.lines {
        formatted.push_str(&format!("<br>{}", html(l)));
    }
    for (label, url) in [("Acknowledge", &m.ack_url), ("Status page", &m.page_url)] {
        if let Some(u) = url {
            formatted.push_str(&format!("<br><a href=\"{}\">{label}</a>", html(u)));
        }
    }
    json!({ "msgtype": "m.text", "body": m.text(), "format": "org.matrix.custom.html", "formatted_body": formatted })
}

/// The transaction id: one per delivery, the same on every retry of it.
pub fn transaction(e: &AlertEvent) -> String {
    percent_encode(&super::webhook::idempotency_key(e))
}

#[async_trait::async_trait]
impl Notifier for Matrix {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        let url = format!("{}{}", self.base, transaction(e));
        post(self.http.put(url).bearer_auth(self.token.expose()).json(&body(e))).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_spec_and_escapes_html() {
        for e in events() {
            let b = body(&e);
            assert_eq!(schema_errors("matrix", &b), Vec::<String>::new(), "{b}");
        }
        let b = body(&events()[0]);
        assert!(b["formatted_body"].as_str().unwrap().contains("Public API &lt;v2&gt; &amp;"), "{b}");
        assert_eq!(transaction(&events()[0]), "down%2Fapi%2Fproduction%2F3%2Ftrigger%2F0");
    }
}
