//! Generic webhook: the event as JSON, signed when a secret is set: `X-Watchpost-Signature: t=<unix>,v1=<hex>`,
//! HMAC-SHA256 over `<unix>.<body>` (a receiver checks the signature and refuses old timestamps, so a
//! captured request cannot be replayed later). `Idempotency-Key` names the event, stable across retries.

use super::{post, BuildError, Channel, Notifier, Outcome};
use crate::event::AlertEvent;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use watchpost_core::config::check::Table;
use watchpost_core::config::Secret;

/// `type = "webhook"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the events are posted (required).
    url: Option<String>,
    /// Key for the `X-Watchpost-Signature` HMAC. Use `${ENV_VAR}` or `secret_file`.
    secret: Option<Secret>,
    secret_file: Option<String>,
}

impl Config {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Arc<dyn Channel>> {
        let url = t.url("url", self.url, None);
        let secret = t.optional_secret("secret", self.secret, self.secret_file);
        Some(Arc::new(Settings { url: url?, secret }))
    }
}

#[derive(Debug)]
pub struct Settings {
    pub url: String,
    pub secret: Option<Secret>,
}

impl Channel for Settings {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn Notifier>, BuildError> {
        Ok(Arc::new(Webhook::new(http.clone(), &self.url, self.secret.clone())))
    }
}

pub struct Webhook {
    http: reqwest::Client,
    url: String,
    secret: Option<Secret>,
}

impl Webhook {
    pub fn new(http: reqwest::Client, url: &str, secret: Option<Secret>) -> Self {
        Webhook { http, url: url.to_string(), secret }
    }
}

pub fn body(e: &AlertEvent) -> Value {
    let mut v = json!({ "version": 1 });
    if let (Some(obj), Ok(Value::Object(event))) = (v.as_object_mut(), serde_json::to_value(e)) {
        obj.extend(event);
    }
    v
}

pub fn idempotency_key(e: &AlertEvent) -> String {
    format!("{}/{}/{}/{}", e.key, e.episode, e.action.as_str(), e.level)
}

#[async_trait::async_trait]
impl Notifier for Webhook {
    async fn send(&self, e: &AlertEvent) -> Outcome {
        let text = body(e).to_string();
        let mut req = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Watchpost-Event", e.action.as_str())
            .header("Idempotency-Key", idempotency_key(e));
        if let Some(secret) = &self.secret {
            let unix = jiff::Timestamp::now().as_second();
            req = req.header("X-Watchpost-Signature", watchpost_core::sign::webhook_signature(secret.expose(), unix, &text));
        }
        post(req.body(text)).await
    }
}
