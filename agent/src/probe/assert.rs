//! Assertions on an observation. The first failing assertion decides the error class: a status mismatch is
//! `status`, anything else `assertion`, and the detail names the expected and the actual value.

use super::Observation;
use std::time::Duration;
use watchpost_core::config::Assertion;
use watchpost_core::model::ErrorClass;

pub(super) fn evaluate(assertions: &[Assertion], obs: &Observation, latency: Duration) -> Result<(), (ErrorClass, String)> {
    for a in assertions {
        match a {
            Assertion::Status(m) => match obs.status {
                Some(code) if m.matches(code) => {}
                Some(code) => return Err((ErrorClass::Status, format!("status: expected {m}, got {code}"))),
                None => return Err((ErrorClass::Status, format!("status: expected {m}, got no status"))),
            },
            Assertion::LatencyBelow(max) => {
                if latency >= *max {
                    return Err((
                        ErrorClass::Assertion,
                        format!("latency: expected below {} ms, got {:.1} ms", max.as_millis(), latency.as_secs_f64() * 1e3),
                    ));
                }
            }
            Assertion::BodyContains(needle) => {
                if !contains(&obs.body, needle.as_bytes()) {
                    let shown: String =
                        String::from_utf8_lossy(&obs.body[..obs.body.len().min(80)]).chars().filter(|c| !c.is_control()).collect();
                    return Err((
                        ErrorClass::Assertion,
                        format!("body: expected to contain {needle:?}, got {shown:?} ({} bytes)", obs.body.len()),
                    ));
                }
            }
        }
    }
    Ok(())
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchpost_core::config::StatusMatcher;

    fn obs(status: u16, body: &'static str) -> Observation {
        Observation { status: Some(status), body: bytes::Bytes::from_static(body.as_bytes()), ..Default::default() }
    }

    #[test]
    fn status_classes_lists_and_exact() {
        let ms = Duration::from_millis(1);
        assert!(evaluate(&[Assertion::Status(StatusMatcher::Class(2))], &obs(204, ""), ms).is_ok());
        let err = evaluate(&[Assertion::Status(StatusMatcher::Class(2))], &obs(503, ""), ms).unwrap_err();
        assert_eq!(err.0, ErrorClass::Status);
        assert!(err.1.contains("expected 2xx, got 503"), "{}", err.1);
        assert!(evaluate(&[Assertion::Status(StatusMatcher::OneOf(vec![200, 301]))], &obs(301, ""), ms).is_ok());
        assert!(evaluate(&[Assertion::Status(StatusMatcher::Exact(200))], &obs(201, ""), ms).is_err());
    }

    #[test]
    fn latency_and_body() {
        let a = [Assertion::LatencyBelow(Duration::from_millis(300)), Assertion::BodyContains("ok".into())];
        assert!(evaluate(&a, &obs(200, "all ok"), Duration::from_millis(10)).is_ok());
        let (c, d) = evaluate(&a, &obs(200, "all ok"), Duration::from_millis(400)).unwrap_err();
        assert_eq!(c, ErrorClass::Assertion);
        assert!(d.contains("expected below 300 ms, got 400.0 ms"), "{d}");
        let (_, d) = evaluate(&a, &obs(200, "nope"), Duration::from_millis(1)).unwrap_err();
        assert!(d.contains("expected to contain \"ok\", got \"nope\""), "{d}");
    }
}
