//! The outbound HTTP client every part builds the same way (reqwest on the shared rustls configuration of
//! [`crate::tls`]), and error text that never carries a URL.

use std::time::Duration;

/// A reqwest client builder with the shared TLS configuration and `timeout` for whole requests and for
/// connecting.
pub fn client(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(crate::tls::verified_config()).timeout(timeout).connect_timeout(timeout)
}

/// What went wrong with a request, without the URL reqwest puts in its message: URLs may carry tokens
/// (webhooks), database names, or a proxy's credentials. The innermost cause says why.
pub fn error_text(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}
