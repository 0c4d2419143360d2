//! Twilio: an SMS (`Messages.json`) or a voice call reading the alert aloud (`Calls.json` with inline
//! TwiML) to each paged person's `phone` (`[oncall.people.NAME] phone = "+4915…"`, E.164), from the
//! account's number, authenticated with the account SID and auth token. One request per person; the
//! attempt is retried when any of them may succeed later, which can text someone twice: SMS has no
//! idempotency key. Twilio answers 201.

use super::message::Message;
use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::{truncate, Action, AlertEvent};
use serde::Deserialize;
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;
use watchpost_core::template::percent_encode;

/// The `[oncall.people.NAME]` key holding a phone number.
const CONTACT: &str = "phone";

/// `type = "twilio"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The account SID (`AC…`).
    account_sid: Option<String>,
    /// The auth token. Use `${ENV_VAR}` or `auth_token_file`.
    auth_token: Option<Secret>,
    auth_token_file: Option<String>,
    /// The number messages come from (E.164, `+1415…`).
    from: Option<String>,
    /// `sms` (default) or `call`.
    mode: Option<String>,
    /// The API (default `https://api.twilio.com`; tests).
    url: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = t.url("url", self.url, Some("https://api.twilio.com"));
        let token = t.required_secret("auth_token", self.auth_token, self.auth_token_file);
        let sid = t.required("account_sid", self.account_sid);
        if sid.as_ref().is_some_and(|s| !(s.starts_with("AC") && s.len() == 34 && s.bytes().all(|b| b.is_ascii_alphanumeric()))) {
            t.error("account_sid", "is not an account SID (AC followed by 32 letters and digits)");
        }
        let from = t.required("from", self.from);
        if from.as_ref().is_some_and(|f| !is_e164(f)) {
            t.error("from", "is not a phone number in E.164 form (+ and up to 15 digits, e.g. +14155550100)");
        }
        let call = match self.mode.as_deref() {
            None | Some("sms") => false,
            Some("call") => true,
            Some(other) => {
                t.error("mode", format!("unknown mode {other:?}: expected \"sms\" or \"call\""));
                false
            }
        };
        Some(Arc::new(Settings { url: url?, account_sid: sid?, auth_token: token?, from: from?, call }))
    }
}

pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'))
}

#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub account_sid: String,
    pub auth_token: Secret,
    pub from: String,
    pub call: bool,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "twilio"
    }

    fn contact(&self) -> Option<&'static str> {
        Some(CONTACT)
    }

    fn needs_contact(&self) -> bool {
        true
    }

    /// A text carries the link (a call does not read it out).
    fn shows_links(&self) -> bool {
        !self.call
    }

    /// A call or a text for an acknowledgement, or for a group's update, would wake someone for nothing.
    fn carries(&self, action: Action) -> bool {
        !matches!(action, Action::Acknowledge | Action::Update)
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        let resource = if self.call { "Calls" } else { "Messages" };
        let url = format!("{}/2010-04-01/Accounts/{}/{resource}.json", self.url.trim_end_matches('/'), self.account_sid);
        Ok(Arc::new(Twilio {
            http: http.clone(),
            url,
            sid: self.account_sid.clone(),
            token: self.auth_token.clone(),
            from: self.from.clone(),
            call: self.call,
        }))
    }
}

pub struct Twilio {
    http: reqwest::Client,
    url: String,
    sid: String,
    token: Secret,
    from: String,
    call: bool,
}

/// The form fields for one person: `Body` for an SMS, `Twiml` saying the alert for a call.
pub fn fields(e: &AlertEvent, from: &str, to: &str, call: bool) -> Vec<(&'static str, String)> {
    let m = Message::of(e, "twilio");
    let content = if call {
        // Said twice: the first words of a call are often missed.
        let said =
            watchpost_core::markup::escape(&truncate(&format!("{}. {}", m.title, m.lines.first().cloned().unwrap_or_default()), 1500));
        ("Twiml", format!("<Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>"))
    } else {
        ("Body", truncate(&m.text(), 1600))
    };
    vec![("To", to.to_string()), ("From", from.to_string()), content]
}

fn form(fields: &[(&str, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect::<Vec<_>>().join("&")
}

#[async_trait::async_trait]
impl Notifier for Twilio {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        let numbers: Vec<&str> = e.people.iter().filter_map(|p| p.contact(CONTACT)).collect();
        if numbers.is_empty() {
            return Outcome::Failed("nobody paged has a phone number ([oncall.people.NAME] phone)".into());
        }
        let mut answers = Vec::new();
        let mut retry = None;
        for to in numbers {
            let req = self
                .http
                .post(&self.url)
                .basic_auth(&self.sid, Some(self.token.expose()))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&fields(e, &self.from, to, self.call)));
            match post(req).await {
                Outcome::Sent(a) => answers.push(a),
                Outcome::Retry { answer, after } => {
                    answers.push(answer);
                    retry = Some(after);
                }
                Outcome::Failed(a) => return Outcome::Failed(a),
            }
        }
        match retry {
            Some(after) => Outcome::Retry { answer: answers.join("; "), after },
            None => Outcome::Sent(answers.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{events, schema_errors};
    use super::*;

    #[test]
    fn every_event_matches_the_documented_parameters_for_texts_and_calls() {
        for e in events() {
            for call in [false, true] {
                let f: serde_json::Map<String, serde_json::Value> =
                    fields(&e, "+14155550100", "+4915112345678", call).into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
                let v = serde_json::Value::Object(f);
                assert_eq!(schema_errors("twilio", &v), Vec::<String>::new(), "{v}");
            }
        }
        assert!(is_e164("+14155550100") && !is_e164("004915112345678") && !is_e164("+0123456789"));
    }
}
