//! What the templates' helpers produce that is not a lookup: random numbers and ids, and percent-encoding.
//! A leaf: pure functions over bytes and the OS random source.

pub(super) fn random_u64() -> u64 {
    // The OS generator only fails on systems without one; a clock-derived value still varies between runs.
    getrandom::u64().unwrap_or_else(|_| crate::time::now_nanos() as u64)
}

/// A random (version 4) UUID, RFC 9562 §5.4.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&random_u64().to_le_bytes());
    b[8..].copy_from_slice(&random_u64().to_le_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// An `Authorization` value for OAuth2 client authentication: id and secret form-encoded, joined by `:`,
/// base64-encoded (RFC 6749 §2.3.1; a secret with `:` or non-ASCII survives).
pub fn basic_credentials(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", percent_encode(id), percent_encode(secret))))
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (query values, form fields).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
