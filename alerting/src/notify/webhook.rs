//! Generic webhook: the event as JSON, signed when a secret is set: `X-Watchpost-Signature: t=<unix>,v1=<hex>`,
//! HMAC-SHA256 over `<unix>.<body>` (a receiver checks the signature and refuses old timestamps, so a
//! captured request cannot be replayed later). `Idempotency-Key` names the event, stable across retries.

use super::{post, Notifier, Outcome};
use crate::event::AlertEvent;
use serde_json::{json, Value};
use watchpost_core::config::Secret;

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
