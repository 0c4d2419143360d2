//! What `watchpost checks run -v` prints of a step: the request as sent and the response as received, with
//! secrets masked. Recorded only when asked for (a running agent never keeps bodies).
//!
//! Masked, whatever the configuration says: credentials in the URL; the values of query parameters, form
//! fields, JSON members and headers whose names say they hold a secret (`authorization`, `cookie`,
//! `*token*`, `*secret*`, `*password*`, `*key*`, `*signature*`…). The configuration's own masks
//! (values that came from `${ENV}`) are applied on top by the caller, as for every report.

use http::HeaderMap;
use serde_json::Value;

/// The most of each body that is shown.
pub const BODY_SHOWN: usize = 1024;

/// One step's request and response, ready to print.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    /// The first KiB of the request body, masked; empty when there is none.
    pub request_body: String,
    /// None when no response arrived (the error says why).
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    /// The first KiB of the response body, masked.
    pub response_body: String,
    /// The response body's size in bytes (as read, at most `max_body`).
    pub response_size: usize,
}

/// Whether a header, parameter or member of this name carries a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if matches!(n.as_str(), "token_type" | "key_type") {
        return false;
    }
    matches!(n.as_str(), "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "code" | "sig")
        || ["token", "secret", "password", "passwd", "key", "signature", "credential", "session", "auth"].iter().any(|s| n.contains(s))
}

/// The URL without credentials, with secret query values replaced by `***`.
pub fn masked_url(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => base.to_string(),
    };
    if query.is_empty() {
        return base;
    }
    format!("{base}?{}", masked_pairs(query))
}

/// `a=1&token=x` with secret values masked.
fn masked_pairs(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_name(&percent_decoded(k)) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', ..) => {
                out.push(b' ');
                i += 1;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Headers in order, the values of those named like secrets replaced by `***`. (A check's request headers
/// are all marked sensitive, so that `Debug` never prints them; here the name decides, and values from
/// `${ENV}` are masked by the caller wherever they appear.)
pub fn masked_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown =
                if is_secret_name(name.as_str()) { "***".to_string() } else { String::from_utf8_lossy(value.as_bytes()).into_owned() };
            (name.as_str().to_string(), shown)
        })
        .collect()
}

/// A body as shown: JSON with secret members masked (re-serialised, then cut), a form with secret fields
/// masked, anything else as text; at most [`BODY_SHOWN`] bytes, cut at a character boundary with `…`.
pub fn masked_body(body: &[u8], content_type: Option<&str>) -> String {
    let text = if let Ok(mut v) = serde_json::from_slice::<Value>(body) {
        mask_json(&mut v);
        v.to_string()
    } else if content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        masked_pairs(&String::from_utf8_lossy(body))
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    if text.len() <= BODY_SHOWN {
        return text;
    }
    let mut cut = BODY_SHOWN;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

fn mask_json(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if is_secret_name(k) && !v.is_object() && !v.is_array() {
                    *v = Value::String("***".into());
                } else {
                    mask_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_secret_query_values() {
        assert_eq!(
            masked_url("https://u:p@api.example.com/v1?id=7&api_key=abc&access%5Ftoken=x"),
            "https://api.example.com/v1?id=7&api_key=***&access%5Ftoken=***"
        );
        assert_eq!(masked_url("http://h:8080/a/b"), "http://h:8080/a/b");
    }

    #[test]
    fn headers_and_bodies_keep_their_shape_without_secrets() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("x-api-key", "k".parse().unwrap());
        h.insert("set-cookie", "s=1".parse().unwrap());
        h.insert("x-session-id", "v".parse().unwrap());
        h.insert("x-timestamp", "1700000000".parse().unwrap());
        let shown = masked_headers(&h);
        assert!(shown.contains(&("content-type".into(), "application/json".into())));
        assert!(shown.contains(&("x-timestamp".into(), "1700000000".into())));
        for n in ["x-api-key", "set-cookie", "x-session-id"] {
            assert!(shown.contains(&(n.into(), "***".into())), "{n}: {shown:?}");
        }
        let body = br#"{"access_token":"eyJ","token_type":"Bearer","expires_in":3600,"user":{"password":"p","name":"n"}}"#;
        let b = masked_body(body, Some("application/json"));
        assert!(!b.contains("eyJ") && !b.contains("\"p\"") && b.contains("\"name\":\"n\"") && b.contains("3600"), "{b}");
        assert!(b.contains("\"token_type\":\"Bearer\""), "{b}");
        assert_eq!(
            masked_body(b"grant_type=client_credentials&client_secret=s3", Some("application/x-www-form-urlencoded")),
            "grant_type=client_credentials&client_secret=***"
        );
        let long = masked_body("é".repeat(2000).as_bytes(), None);
        assert!(long.ends_with('…') && long.len() <= BODY_SHOWN + 3, "{}", long.len());
    }
}
