//! HMAC-SHA256 signatures for links that act without a login (unsubscribe, acknowledge) and for webhook
//! bodies. Hex-encoded; verification compares in constant time.

/// The signature of `message` under `secret`, lowercase hex.
pub fn hmac_hex(secret: &str, message: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, message.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `sig` (hex) is `message`'s signature under `secret`.
pub fn verify_hex(secret: &str, message: &str, sig: &str) -> bool {
    let Some(bytes) =
        (0..sig.len()).step_by(2).map(|i| sig.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    // ring compares in constant time.
    ring::hmac::verify(&key, message.as_bytes(), &bytes).is_ok()
}

/// SHA-256 of `data`, lowercase hex: for identifiers that must stay short and stable.
pub fn sha256_hex(data: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, data.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A webhook body's signature header value, `t=<unix>,v1=<hex>` over `<unix>.<body>`: the timestamp lets a
/// receiver refuse replays of an old body.
pub fn webhook_signature(secret: &str, unix: i64, body: &str) -> String {
    format!("t={unix},v1={}", hmac_hex(secret, &format!("{unix}.{body}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_their_own_message_and_key() {
        let s = hmac_hex("k1", "m");
        assert!(verify_hex("k1", "m", &s));
        assert!(!verify_hex("k2", "m", &s));
        assert!(!verify_hex("k1", "n", &s));
        assert!(!verify_hex("k1", "m", &s[1..]));
        assert!(!verify_hex("k1", "m", "zz"));
        assert!(webhook_signature("k", 5, "{}").starts_with("t=5,v1="));
    }
}
