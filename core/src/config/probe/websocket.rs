//! `type = "websocket"`: the opening handshake (RFC 6455 §4), optionally a message and the first reply.

use super::{Checked, ProbeConfig};
use crate::config::check::Table;
use crate::config::duration::ByteSize;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The keys of a websocket endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// `ws://` or `wss://` URL.
    url: Option<String>,
    /// Headers of the opening request (values may use `${ENV_VAR}`).
    headers: Option<BTreeMap<String, String>>,
    /// A text message to send once open; the first message back is the body the assertions read.
    send: Option<String>,
    /// Wait for the server's first message without sending one (default false; true when `send` is set).
    receive: Option<bool>,
    /// The most of a reply that is read (default `64KiB`); more is a `body_too_large` miss.
    max_body: Option<ByteSize>,
    /// Accept any certificate (wss).
    #[serde(alias = "insecure_skip_verify")]
    tls_skip_verify: Option<bool>,
}

/// `Debug` by hand: header values often carry tokens.
#[derive(Clone)]
pub struct WebsocketProbeConfig {
    pub url: http::Uri,
    pub headers: http::HeaderMap,
    pub send: Option<String>,
    pub receive: bool,
    pub max_body: u64,
    pub tls_skip_verify: bool,
}

impl std::fmt::Debug for WebsocketProbeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebsocketProbeConfig")
            .field("url", &crate::http::redact_url(&self.url.to_string()))
            .field("headers", &self.headers)
            .field("send", &self.send.as_ref().map(|_| "…"))
            .field("receive", &self.receive)
            .field("max_body", &self.max_body)
            .field("tls_skip_verify", &self.tls_skip_verify)
            .finish()
    }
}

impl Raw {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Checked> {
        let Some(url_raw) = self.url else {
            t.missing("url", "missing key `url` (required for a websocket endpoint: ws://… or wss://…)");
            return None;
        };
        let url = match url_raw.parse::<http::Uri>() {
            Ok(u) if matches!(u.scheme_str(), Some("ws" | "wss")) && u.host().is_some_and(|h| !h.is_empty()) => Some(u),
            _ => {
                t.error("url", format!("invalid URL {:?}: expected ws://host/path or wss://host/path", crate::http::redact_url(&url_raw)));
                None
            }
        };
        let headers = super::http::header_map(t, self.headers.unwrap_or_default());
        let max_body = self.max_body.map_or(64 * 1024, |b| b.0);
        if max_body == 0 {
            t.error("max_body", "must be at least 1 byte");
        }
        let receive = self.receive.unwrap_or(false) || self.send.is_some();
        let probe = ProbeConfig::Websocket(WebsocketProbeConfig {
            url: url?,
            headers,
            send: self.send,
            receive,
            max_body,
            tls_skip_verify: self.tls_skip_verify.unwrap_or(false),
        });
        Some(Checked { probe, schedule: None })
    }
}
