//! Secrets (tokens, passwords, keys): a newtype whose `Debug` and `Display` print `***`, so that no log line,
//! error message or `check-config` summary can leak one by accident.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A secret string. Read it with [`Secret::expose`] only where it is sent to its provider.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret value, for the one place that sends it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares a presented credential with the secret in time that depends only on their lengths, so the
    /// response time does not tell an attacker how many leading bytes were right.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        // `black_box` keeps the optimiser from turning the fold into an early-exit comparison.
        std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn matches_only_the_exact_value() {
        let s = Secret::new("hunter2");
        assert!(s.matches("hunter2"));
        for wrong in ["hunter3", "hunter", "hunter22", "", "Hunter2"] {
            assert!(!s.matches(wrong), "{wrong}");
        }
    }
}

/// Values that must never be shown: every value the configuration took from the environment (`${NAME}`
/// interpolation and `WATCHPOST__…` overrides), since that is where secrets come from. Check results (step
/// details, assertion lines, the run's error) are masked with it before they are printed, stored or logged: an
/// assertion whose expected value is `{{env.token}}` must not print the token when it fails.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Masks(std::sync::Arc<[String]>);

impl Masks {
    /// Values shorter than this are not masked: they cannot be secrets, and masking `eu` or `1` everywhere
    /// would make every report unreadable.
    pub const MIN_LEN: usize = 4;

    pub fn new(values: impl IntoIterator<Item = String>) -> Masks {
        let mut v: Vec<String> = values.into_iter().filter(|s| s.chars().count() >= Self::MIN_LEN).collect();
        // Longest first, so a value that contains another is masked whole.
        v.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        v.dedup();
        Masks(v.into())
    }

    /// `text` with every masked value replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in self.0.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "***");
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Masks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Masks({} value(s))", self.0.len())
    }
}
