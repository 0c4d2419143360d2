//! A webhook whose body and headers are templates over the alert's fields, for any service without a
//! notifier of its own: `{{summary}}`, `{{severity}}`, `{{ack_url}}`… as text, `{{summary | json}}` as a
//! JSON string (quoted and escaped, for bodies that are JSON), `{{summary | url}}` percent-encoded. A field
//! name that does not exist is a `check-config` error naming it, never an empty hole at 2 am.

use super::message::Message;
use super::{post, rfc3339, BuildError, Channel, Notifier, Outcome};
use crate::event::AlertEvent;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;
use watchpost_core::template::percent_encode;

/// The fields a template can use, each with what it holds (the README lists them from here).
pub const FIELDS: &[(&str, &str)] = &[
    ("action", "trigger, escalate, acknowledge or resolve"),
    ("key", "the alert's key, rule/endpoint/environment"),
    ("episode", "which firing of the alert"),
    ("rule", "the rule's name"),
    ("endpoint", "the endpoint's id"),
    ("endpoint_name", "the endpoint's name"),
    ("environment", "the environment"),
    ("component", "the component (empty when none)"),
    ("severity", "critical, error, warning or info"),
    ("summary", "what is wrong, with the value and the regions"),
    ("condition", "the rule's condition"),
    ("value", "the metric's value"),
    ("headline", "[FIRING] and the summary"),
    ("text", "the whole message as the chat channels send it"),
    ("people", "who this event pages, comma-separated"),
    ("acked_by", "who acknowledged (empty otherwise)"),
    ("note", "why it resolved, when not because the checks pass"),
    ("at", "when this happened, RFC 3339"),
    ("fired_at", "when the alert fired, RFC 3339"),
    ("level", "the escalation level, from 0"),
    ("ack_url", "the signed acknowledge link (firing, with alerting.secret)"),
    ("page_url", "the status page"),
    ("labels", "the alert's labels, k=v, comma-separated (a group's: its group labels)"),
    ("alerts", "a group's alerts, one line each (at most twenty)"),
];

/// `type = "template"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the request goes (a template too, e.g. a token in the query from `${ENV}`). Use `url_file` to
    /// keep a URL that is a credential out of the file.
    url: Option<Secret>,
    url_file: Option<String>,
    /// `POST` (default) or `PUT`.
    method: Option<String>,
    /// Header templates (values containing credentials: use `${ENV}`).
    headers: Option<BTreeMap<String, String>>,
    /// The body template (required).
    body: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = super::secret_url(t, "url", self.url, self.url_file);
        let method = match self.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("POST") => Some(reqwest::Method::POST),
            Some("PUT") => Some(reqwest::Method::PUT),
            Some(other) => {
                t.error("method", format!("unknown method {other:?}: expected \"POST\" or \"PUT\""));
                None
            }
        };
        let mut headers = Vec::new();
        for (name, value) in self.headers.unwrap_or_default() {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                t.error(&format!("headers.{name}"), format!("invalid header name {name:?}"));
                continue;
            }
            match Text::parse(&value) {
                Ok(v) => headers.push((name, v)),
                Err(e) => t.error(&format!("headers.{name}"), e),
            }
        }
        let body = match t.required("body", self.body).map(|b| Text::parse(&b)) {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => {
                t.error("body", e);
                None
            }
            None => None,
        };
        Some(Arc::new(Settings { url: url?, method: method?, headers, body: body? }))
    }
}

/// A parsed template: text and fields with their filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Text(Vec<Part>);

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Field(&'static str, Filter),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    None,
    Json,
    Url,
}

impl Text {
    pub fn parse(text: &str) -> Result<Text, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            parts.push(Part::Lit(rest[..open].to_string()));
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| format!("unclosed `{{{{` in {text:?}"))?;
            let inner = after[..close].trim();
            let (name, filter) = match inner.split_once('|') {
                None => (inner, Filter::None),
                Some((n, f)) => match f.trim() {
                    "json" => (n.trim(), Filter::Json),
                    "url" => (n.trim(), Filter::Url),
                    other => return Err(format!("unknown filter `{other}` in `{{{{{inner}}}}}`: expected json or url")),
                },
            };
            let field = FIELDS.iter().find(|(f, _)| *f == name).map(|(f, _)| *f).ok_or_else(|| {
                format!("unknown field `{name}`; the fields are {}", FIELDS.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", "))
            })?;
            parts.push(Part::Field(field, filter));
            rest = &after[close + 2..];
        }
        parts.push(Part::Lit(rest.to_string()));
        Ok(Text(parts))
    }

    pub fn render(&self, e: &AlertEvent, kind: &str) -> String {
        let m = Message::of(e, kind);
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Field(name, filter) => {
                    let v = field(e, &m, name);
                    match filter {
                        Filter::None => out.push_str(&v),
                        Filter::Json => out.push_str(&serde_json::Value::String(v).to_string()),
                        Filter::Url => out.push_str(&percent_encode(&v)),
                    }
                }
            }
        }
        out
    }
}

fn field(e: &AlertEvent, m: &Message, name: &str) -> String {
    match name {
        "action" => e.action.as_str().into(),
        "key" => e.key.clone(),
        "episode" => e.episode.to_string(),
        "rule" => e.rule.clone(),
        "endpoint" => e.endpoint.clone(),
        "endpoint_name" => e.endpoint_name.clone(),
        "environment" => e.environment.clone(),
        "component" => e.component.clone(),
        "severity" => e.severity.clone(),
        "summary" => e.summary.clone(),
        "condition" => e.condition.clone(),
        "value" => e.value.to_string(),
        "headline" => e.headline(),
        "text" => m.text(),
        "people" => e.people.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
        "acked_by" => e.acked_by.clone().unwrap_or_default(),
        "note" => e.note.clone(),
        "at" => rfc3339(e.at),
        "fired_at" => rfc3339(e.fired_at),
        "level" => e.level.to_string(),
        "ack_url" => m.ack_url.clone().unwrap_or_default(),
        "page_url" => m.page_url.clone().unwrap_or_default(),
        "labels" => watchpost_core::labels::describe(&e.labels),
        "alerts" => crate::group::listed(&e.alerts).join("\n"),
        _ => String::new(),
    }
}

#[derive(Debug)]
pub struct Settings {
    pub url: Secret,
    pub method: reqwest::Method,
    pub headers: Vec<(String, Text)>,
    pub body: Text,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "template"
    }

    fn shows_links(&self) -> bool {
        true
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Templated {
            http: http.clone(),
            url: self.url.clone(),
            method: self.method.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        }))
    }
}

pub struct Templated {
    http: reqwest::Client,
    url: Secret,
    method: reqwest::Method,
    headers: Vec<(String, Text)>,
    body: Text,
}

#[async_trait::async_trait]
impl Notifier for Templated {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        let mut req = self.http.request(self.method.clone(), self.url.expose()).body(self.body.render(e, "template"));
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.render(e, "template"));
        }
        post(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::events;
    use super::*;

    /// A JSON body built with `| json` stays valid JSON whatever the fields hold (quotes, newlines,
    /// `<`, 10,000 characters); `| url` encodes; unknown fields and filters are errors naming them.
    #[test]
    fn templates_render_every_field_and_json_stays_json() {
        let body =
            Text::parse(r#"{"title": {{headline | json}}, "text": {{text | json}}, "sev": "{{severity}}", "ack": {{ack_url | json}}}"#)
                .unwrap();
        for e in events() {
            let out = body.render(&e, "template");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"));
            assert_eq!(v["title"], e.headline());
            assert_eq!(v["sev"], "critical");
        }
        let q = Text::parse("q={{endpoint_name | url}}").unwrap().render(&events()[0], "template");
        assert_eq!(q, "q=Public%20API%20%3Cv2%3E%20%26%20%2Astars%2A_");
        let all: String = FIELDS.iter().map(|(f, _)| format!("{{{{{f}}}}}")).collect();
        assert!(Text::parse(&all).is_ok());
        assert!(Text::parse("{{sumary}}").unwrap_err().contains("unknown field `sumary`"));
        assert!(Text::parse("{{summary | yaml}}").unwrap_err().contains("unknown filter `yaml`"));
        assert!(Text::parse("{{summary").unwrap_err().contains("unclosed"));
    }
}
