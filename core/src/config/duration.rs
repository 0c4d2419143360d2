//! Human durations in configuration files: `"250ms"`, `"5s"`, `"1m30s"`, `"2h"`, `"30d"`.
//!
//! Written as strings on purpose: a bare number is ambiguous (seconds? milliseconds?), so it is rejected with
//! a message that shows the expected form.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::time::Duration;

/// A duration read from configuration. Zero is representable; callers that forbid it say so in validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// Formats a duration in the same syntax [`parse_duration`] reads (`1m30s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// Parses `"1h30m"`, `"250ms"`, `"5s"`. Units: `ms`, `s`, `m`, `h`, `d`. Fractions are not accepted.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration; expected a value like \"5s\" or \"250ms\"".into());
    }
    if s.contains(['.', ',']) {
        return Err(decimal_hint(s));
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {s:?}; expected a number followed by a unit (ms, s, m, h, d), like \"5s\""));
        }
        let n: u128 = rest[..digits].parse().map_err(|_| format!("number too large in duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms_per = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("duration {s:?} has no unit; write \"{n}s\" or \"{n}ms\"")),
            other => return Err(format!("unknown unit {other:?} in duration {s:?}; use ms, s, m, h or d")),
        };
        total = total.checked_add(n * ms_per).ok_or_else(|| format!("duration {s:?} is too large"))?;
    }
    let ms = u64::try_from(total).map_err(|_| format!("duration {s:?} is too large"))?;
    Ok(Duration::from_millis(ms))
}

/// The message for `"1.5s"`: decimals are not read (one way to write each duration), so say what to write.
fn decimal_hint(s: &str) -> String {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let ms_per = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => 0.0,
    };
    match number.replace(',', ".").parse::<f64>().map(|n| n * ms_per) {
        Ok(ms) if ms >= 1.0 && ms.fract() == 0.0 && ms < 1e15 => {
            // In the largest unit that divides it: 1.5s is 1500ms, 1.5h is 90m.
            let ms = ms as u64;
            let (n, unit) = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")]
                .into_iter()
                .find(|(size, _)| ms % size == 0)
                .map_or((ms, "ms"), |(size, unit)| (ms / size, unit));
            format!("decimals are not supported in durations: write \"{n}{unit}\" instead of {s:?}")
        }
        _ => format!("decimals are not supported in durations ({s:?}): write whole numbers of a smaller unit, like \"1500ms\""),
    }
}

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string like \"5s\", \"250ms\" or \"1m30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v).map(HumanDuration).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(format!("a bare number ({v}) is ambiguous; write a duration with a unit, like \"{v}s\" or \"{v}ms\"")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Err(E::custom(format!("a bare number ({v}) is ambiguous; write a duration with a unit, like \"{v}s\" or \"{v}ms\"")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!("a bare number ({v}) is ambiguous; write a duration with a unit, like \"5s\" or \"250ms\"")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A byte size: `"1MiB"`, `"512KiB"`, `"10MB"`, or a plain integer number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if split == 0 {
        return Err(format!("invalid size {s:?}; expected a number with an optional unit, like \"1MiB\""));
    }
    let n: u64 = s[..split].parse().map_err(|_| format!("size {s:?} is too large"))?;
    let mult: u64 = match s[split..].trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {s:?}; use B, KB, KiB, MB, MiB, GB or GiB")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} is too large"))
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size like \"1MiB\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_bytes(v).map(ByteSize).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v).map(ByteSize).map_err(|_| E::custom("a size cannot be negative"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_refused_with_what_to_write() {
        for (input, hint) in [("1.5s", "\"1500ms\""), ("0.5m", "\"30s\""), ("1.5h", "\"90m\""), ("2,5s", "\"2500ms\""), ("0.5ms", "1500ms")]
        {
            let err = parse_duration(input).unwrap_err();
            assert!(err.starts_with("decimals are not supported") && err.contains(hint), "{input}: {err}");
        }
    }

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_what_is_ambiguous_or_wrong() {
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("-5s").unwrap_err().contains("invalid duration"));
        assert!(parse_duration("5 fortnights").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999999d").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["250ms", "5s", "1m30s", "2h", "1d2h3m4s5ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("512"), Ok(512));
        assert!(parse_bytes("1XB").is_err());
    }
}
