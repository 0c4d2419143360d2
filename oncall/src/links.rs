//! Signed, expiring acknowledge links (DESIGN.md §7): `{ack_url}/ack?alert=…&episode=…&by=…&exp=…&sig=…`.
//! The signature covers the alert, the episode (a link from last week's firing cannot acknowledge today's),
//! the channel it was sent through and the expiry; nothing is stored per link. The status page serves the
//! link: GET shows a button, POST acknowledges (mail scanners follow links; they do not submit forms).

use watchpost_core::sign::{hmac_hex, verify_hex};
use watchpost_core::time::Nanos;

fn message(alert: &str, episode: i64, by: &str, exp: i64) -> String {
    format!("ack:{alert}:{episode}:{by}:{exp}")
}

/// Percent-encodes what a query value needs (alert keys hold `/`).
pub use watchpost_core::template::percent_encode as encode;

/// The link for `alert`'s `episode`, sent through channel `by`, valid until `now + ttl`.
pub fn ack_link(base: &str, secret: &str, alert: &str, episode: i64, by: &str, now: Nanos, ttl: std::time::Duration) -> String {
    let exp = now / 1_000_000_000 + ttl.as_secs() as i64;
    let sig = hmac_hex(secret, &message(alert, episode, by, exp));
    format!("{base}/ack?alert={}&episode={episode}&by={}&exp={exp}&sig={sig}", encode(alert), encode(by))
}

/// Why a link does not acknowledge.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    BadSignature,
    Expired,
}

pub fn verify(secret: &str, alert: &str, episode: i64, by: &str, exp: i64, sig: &str, now: Nanos) -> Result<(), LinkError> {
    if !verify_hex(secret, &message(alert, episode, by, exp), sig) {
        return Err(LinkError::BadSignature);
    }
    if now / 1_000_000_000 > exp {
        return Err(LinkError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn query(link: &str, key: &str) -> String {
        let q = link.split_once('?').unwrap().1;
        q.split('&').find_map(|kv| kv.strip_prefix(&format!("{key}="))).unwrap().to_string()
    }

    #[test]
    fn links_verify_until_they_expire_and_only_for_their_alert() {
        let secret = "s".repeat(32);
        let now = 1_000 * 1_000_000_000;
        let link = ack_link("https://status.example", &secret, "down/api/production", 3, "email", now, Duration::from_secs(60));
        assert!(link.starts_with("https://status.example/ack?alert=down%2Fapi%2Fproduction&episode=3&by=email&exp=1060&sig="));
        let sig = query(&link, "sig");
        assert_eq!(verify(&secret, "down/api/production", 3, "email", 1060, &sig, now), Ok(()));
        assert_eq!(verify(&secret, "down/api/production", 3, "email", 1060, &sig, 1061 * 1_000_000_000), Err(LinkError::Expired));
        assert_eq!(verify(&secret, "down/api/production", 4, "email", 1060, &sig, now), Err(LinkError::BadSignature));
        assert_eq!(verify(&secret, "down/web/production", 3, "email", 1060, &sig, now), Err(LinkError::BadSignature));
        assert_eq!(verify(&secret, "down/api/production", 3, "email", 99_999, &sig, now), Err(LinkError::BadSignature));
        assert_eq!(verify(&"t".repeat(32), "down/api/production", 3, "email", 1060, &sig, now), Err(LinkError::BadSignature));
    }
}
