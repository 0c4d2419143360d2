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

/// The wait a `Retry-After` header asks for: delay-seconds, or an HTTP date (RFC 9110 §10.2.3) compared
/// with the clock. `None` without a readable header.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = http::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past: at once");
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let text = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&later).unwrap();
        h.insert(http::header::RETRY_AFTER, http::HeaderValue::from_str(&text).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(110) && d <= Duration::from_secs(120), "{d:?}");
        h.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
