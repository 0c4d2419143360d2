//! The outbound HTTP client every part builds the same way (reqwest on the shared rustls configuration of
//! [`crate::tls`]), error text that never carries a URL, and URLs as they may be shown: without credentials
//! or query.

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

/// The token of an `Authorization: Bearer …` header. The scheme name is case-insensitive (RFC 9110 §11.1,
/// RFC 6750 §2.1), so `bearer` and `BEARER` are accepted as well.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim_start();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// A URL as it may appear in an error, a log line or a table: scheme, host, port and path. Userinfo and the
/// query (which carry passwords and tokens, often from `${ENV}`) are left out, and so is a fragment. Works on
/// text that does not parse as a URL too, since that is when an error shows it.
pub fn redact_url(raw: &str) -> String {
    let (no_query, had_query) = match raw.find(['?', '#']) {
        Some(i) => (&raw[..i], raw[i..].starts_with('?')),
        None => (raw, false),
    };
    let (scheme, rest) = match no_query.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, no_query),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let mut out = String::with_capacity(raw.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    out.push_str(host);
    out.push_str(path);
    if had_query {
        out.push_str("?…");
    }
    out
}

/// Parses an absolute `http://` or `https://` URL with a host and, if one is given, a port from 1 to 65535
/// (the `http` crate accepts `:99999` and then reports no port, which would probe port 80). The error
/// explains what is wrong and shows the URL only through [`redact_url`].
pub fn parse_http_url(raw: &str) -> Result<http::Uri, String> {
    let shown = || redact_url(raw);
    let uri: http::Uri = raw.trim().parse().map_err(|e| format!("invalid URL {:?}: {e}", shown()))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Err(format!("invalid URL {:?}: expected an absolute http:// or https:// URL with a host", shown()));
    }
    // `Uri::port()` is `None` for a port that is not a u16, so the authority's text is read instead.
    let host_port = uri.authority().map_or("", |a| a.as_str().rsplit_once('@').map_or(a.as_str(), |(_, h)| h));
    let after_host = host_port.rsplit_once(']').map_or(host_port, |(_, rest)| rest); // past an IPv6 literal
    if let Some((_, port)) = after_host.rsplit_once(':') {
        if !port.is_empty() && !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(format!("invalid URL {:?}: port {port} is out of range (1-65535)", shown()));
        }
    }
    Ok(uri)
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

    /// Issue 17, defect 11: `Authorization: bearer` (lower case) was refused.
    #[test]
    fn regression_bearer_scheme_is_case_insensitive() {
        let mut h = http::HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        for (value, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer ", None),
            ("Bearerabc", None),
        ] {
            h.insert(http::header::AUTHORIZATION, http::HeaderValue::from_str(value).unwrap());
            assert_eq!(bearer_token(&h), token, "{value:?}");
        }
    }

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        for (raw, shown) in [
            ("https://user:hunter2@api.example.com:8443/v1/x?token=abc#frag", "https://api.example.com:8443/v1/x?…"),
            ("http://h/p#only-fragment", "http://h/p"),
            ("http://a@b@host/p", "http://host/p"),
            ("not a url :: user:pw@x?k=v", "x?…"),
            ("ftp://u:p@files", "ftp://files"),
            ("u:secret@host:99999/x", "host:99999/x"),
        ] {
            assert_eq!(redact_url(raw), shown, "{raw}");
        }
    }

    /// Issue 17, defects 8 and 9: a URL with port 99999 or 65536 passed and was probed on port 80; an invalid
    /// URL was echoed with its userinfo.
    #[test]
    fn regression_out_of_range_ports_and_credentials_in_url_errors() {
        for raw in ["http://h:99999/", "https://h:65536/x", "http://h:0/"] {
            let e = parse_http_url(raw).unwrap_err();
            assert!(e.contains("out of range"), "{raw}: {e}");
        }
        assert_eq!(parse_http_url("http://h:65535/").unwrap().port_u16(), Some(65535));
        assert_eq!(parse_http_url("http://h/").unwrap().port_u16(), None);
        for raw in [
            "ftp://admin:s3cr3t@h/",
            "http://admin:s3cr3t@h:70000/?key=s3cr3t",
            "http://admin:s3cr3t@/x?key=s3cr3t",
            "http://admin:s3cr3t@h /x",
        ] {
            let e = parse_http_url(raw).unwrap_err();
            assert!(!e.contains("s3cr3t") && !e.contains("admin"), "{raw}: {e}");
        }
    }

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
