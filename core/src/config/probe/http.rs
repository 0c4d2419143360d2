//! `type = "http"` (the default): one HTTP(S) request, timed by phase.

use super::{Checked, ProbeConfig};
use crate::config::check::Table;
use crate::config::defaults as d;
use crate::config::duration::ByteSize;
use crate::http::parse_http_url;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The keys of an http endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// The URL to request (`http://` or `https://`).
    url: Option<String>,
    /// Request method (default `GET`).
    method: Option<String>,
    /// Request headers. Values may use `${ENV_VAR}` to keep tokens out of the file.
    headers: Option<BTreeMap<String, String>>,
    /// Request body.
    body: Option<String>,
    /// Redirects to follow (default 5; 0 treats a redirect as the response).
    follow_redirects: Option<u32>,
    /// The most of the body that is read (default `1MiB`); more is a `body_too_large` miss.
    max_body: Option<ByteSize>,
    /// Accept any certificate (default false; also spelled `insecure_skip_verify`). Expiry is still recorded.
    #[serde(alias = "insecure_skip_verify")]
    tls_skip_verify: Option<bool>,
    /// Resume TLS sessions between probes (default false: every probe makes a full handshake, as a new
    /// client does, so `tls_ms` and the certificate are measured and checked each time).
    tls_resume: Option<bool>,
    /// https: offer HTTP/2 in the handshake (ALPN) and speak it when the server chooses it (default true,
    /// as browsers); false speaks HTTP/1.1 only.
    http2: Option<bool>,
    /// PEM certificates to trust instead of Mozilla's roots (a private CA).
    tls_ca_file: Option<String>,
    /// PEM client certificate chain (mutual TLS), with `tls_key_file`.
    tls_cert_file: Option<String>,
    /// PEM private key of `tls_cert_file`.
    tls_key_file: Option<String>,
}

impl Raw {
    pub(super) fn check(self, t: &mut Table<'_>) -> Option<Checked> {
        let Some(url_raw) = self.url else {
            t.missing("url", "missing key `url` (required for an http endpoint)");
            return None;
        };
        let url = match parse_http_url(&url_raw) {
            Ok(u) => Some(u),
            Err(e) => {
                t.error("url", e);
                None
            }
        };
        let method_raw = self.method.unwrap_or_else(|| d::METHOD.into());
        let method = match http::Method::from_bytes(method_raw.to_ascii_uppercase().as_bytes()) {
            Ok(m) => Some(m),
            Err(_) => {
                t.error("method", format!("invalid HTTP method {method_raw:?}"));
                None
            }
        };
        let headers = header_map(t, self.headers.unwrap_or_default());
        let max_body = self.max_body.map(|b| b.0).unwrap_or(d::MAX_BODY);
        if max_body == 0 {
            t.error("max_body", "must be at least 1 byte");
        }
        let files =
            super::tls::RawTlsFiles { tls_ca_file: self.tls_ca_file, tls_cert_file: self.tls_cert_file, tls_key_file: self.tls_key_file };
        let tls = super::tls::load_files(t, files, self.tls_skip_verify.unwrap_or(false));
        let probe = ProbeConfig::Http(HttpProbeConfig {
            url: url?,
            method: method?,
            headers,
            body: self.body,
            follow_redirects: self.follow_redirects.unwrap_or(d::FOLLOW_REDIRECTS),
            max_body,
            tls: tls?,
            tls_resume: self.tls_resume.unwrap_or(false),
            http2: self.http2.unwrap_or(true),
        });
        Some(Checked { probe, schedule: None })
    }
}

/// `headers = { … }` as a header map, values marked sensitive (they often carry tokens, from `${ENV}`); each
/// bad name or value is an error under `headers.NAME`.
pub(super) fn header_map(t: &mut Table<'_>, given: BTreeMap<String, String>) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in given {
        let key = format!("headers.{name}");
        match (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(&value)) {
            (Ok(n), Ok(mut v)) => {
                v.set_sensitive(true);
                headers.append(n, v);
            }
            (Err(_), _) => t.error(&key, format!("invalid header name {name:?}")),
            (_, Err(_)) => t.error(&key, "invalid header value (control characters are not allowed)"),
        }
    }
    headers
}

/// `Debug` is written by hand below: the URL may carry credentials and tokens (often from `${ENV}`).
#[derive(Clone)]
pub struct HttpProbeConfig {
    pub url: http::Uri,
    pub method: http::Method,
    /// Header values are marked sensitive, so `Debug` does not print them (they often carry tokens).
    pub headers: http::HeaderMap,
    pub body: Option<String>,
    pub follow_redirects: u32,
    pub max_body: u64,
    /// Verification, a private CA, a client certificate.
    pub tls: super::TlsClientOptions,
    /// Resume TLS sessions between probes (off: a full handshake per probe).
    pub tls_resume: bool,
    /// https: offer `h2` by ALPN and use it when chosen.
    pub http2: bool,
}

impl std::fmt::Debug for HttpProbeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProbeConfig")
            .field("url", &crate::http::redact_url(&self.url.to_string()))
            .field("method", &self.method)
            .field("headers", &self.headers)
            .field("body", &self.body.as_ref().map(|_| "…"))
            .field("follow_redirects", &self.follow_redirects)
            .field("max_body", &self.max_body)
            .field("tls", &self.tls)
            .field("tls_resume", &self.tls_resume)
            .field("http2", &self.http2)
            .finish()
    }
}
