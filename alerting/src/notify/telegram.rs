//! Telegram: the Bot API's `sendMessage` (`POST {api_url}/bot{token}/sendMessage`) to one chat, plain text
//! (no parse mode: an endpoint name with `_` or `*` cannot break the message), with the acknowledge link
//! and the status page as inline buttons. The bot token is in the path, so it is never shown: errors
//! carry the answer, not the URL.

use super::message::Message;
use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, AlertEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "telegram"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The bot's token from @BotFather (`123456:ABC-…`). Use `${ENV_VAR}` or `bot_token_file`.
    bot_token: Option<Secret>,
    bot_token_file: Option<String>,
    /// The chat: a number (`-1001234567890` for a group) or `@channelname`.
    chat_id: Option<Value>,
    /// A topic of a forum group (optional).
    message_thread_id: Option<i64>,
    /// The Bot API's base URL (default `https://api.telegram.org`; a local Bot API server, or tests).
    api_url: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let token = t.required_secret("bot_token", self.bot_token, self.bot_token_file);
        if let Some(tok) = &token {
            // `id:secret`; checked without showing it.
            let ok = tok
                .expose()
                .split_once(':')
                .is_some_and(|(id, s)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty());
            if !ok {
                t.error("bot_token", "is not a bot token (expected the form 123456:ABC-DEF… that @BotFather gives)");
            }
        }
        let chat_id = match self.chat_id {
            None => {
                t.missing("chat_id", "missing key `chat_id` (the chat to post to: a number such as -1001234567890, or \"@channel\")");
                None
            }
            Some(Value::Number(n)) if n.is_i64() => Some(Value::Number(n)),
            Some(Value::String(s)) if s.starts_with('@') && s.len() > 5 => Some(Value::String(s)),
            Some(Value::String(s)) if s.parse::<i64>().is_ok() => s.parse::<i64>().ok().map(Value::from),
            Some(other) => {
                t.error("chat_id", format!("{other} is not a chat id: expected a number or \"@channelname\""));
                None
            }
        };
        let api = t.url("api_url", self.api_url, Some("https://api.telegram.org"));
        Some(Arc::new(Settings { bot_token: token?, chat_id: chat_id?, thread: self.message_thread_id, api_url: api? }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub bot_token: Secret,
    pub chat_id: Value,
    pub thread: Option<i64>,
    pub api_url: String,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "telegram"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        let url = Secret::new(format!("{}/bot{}/sendMessage", self.api_url.trim_end_matches('/'), self.bot_token.expose()));
        Ok(Arc::new(Telegram { http: http.clone(), url, chat_id: self.chat_id.clone(), thread: self.thread }))
    }
}

pub struct Telegram {
    http: reqwest::Client,
    /// The method's URL, with the token in it.
    url: Secret,
    chat_id: Value,
    thread: Option<i64>,
}

pub fn body(e: &AlertEvent, chat_id: &Value, thread: Option<i64>) -> Value {
    let m = Message::of(e, "telegram");
    let mut text = vec![m.title.clone()];
    text.extend(m.lines.iter().cloned());
    let mut b = json!({
        "chat_id": chat_id,
        "text": truncate(&text.join("\n"), 4096),
        "link_preview_options": { "is_disabled": true },
    });
    if let Some(t) = thread {
        b["message_thread_id"] = json!(t);
    }
    let buttons: Vec<Value> = [("Acknowledge", &m.ack_url), ("Status page", &m.page_url)]
        .into_iter()
        .filter_map(|(label, url)| url.as_ref().map(|u| json!({ "text": label, "url": u })))
        .collect();
    if !buttons.is_empty() {
        b["reply_markup"] = json!({ "inline_keyboard": [buttons] });
    }
    b
}

#[async_trait::async_trait]
impl Notifier for Telegram {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        post(self.http.post(self.url.expose()).json(&body(e, &self.chat_id, self.thread))).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_documented_schema_and_limits() {
        for e in events() {
            for chat in [json!(-1001234567890_i64), json!("@watchpost_alerts")] {
                let b = body(&e, &chat, Some(7));
                assert_eq!(schema_errors("telegram", &b), Vec::<String>::new(), "{b}");
            }
        }
    }
}
