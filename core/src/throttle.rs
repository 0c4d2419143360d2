//! Log lines that could repeat many times a second (rejected requests, shed probe slots) are written at most
//! once a minute per key, with how many there were since the last one: the log stays readable, and an agent
//! that is already overloaded does not add a line per event to its load.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a key may be logged.
pub const EVERY: Duration = Duration::from_secs(60);

/// Counts events per key; says when one should be logged, and for how many.
#[derive(Default)]
pub struct Throttle(Mutex<HashMap<String, (Instant, u64)>>);

impl Throttle {
    /// Counts an event for `key`; returns how many to log now (this one and those held back), or `None` to
    /// stay quiet. Keep the keys few (configured names, not what a stranger sends).
    pub fn note(&self, key: &str) -> Option<u64> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match map.get_mut(key) {
            Some((last, held)) if now.duration_since(*last) < EVERY => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                let n = *held + 1;
                *last = now;
                *held = 0;
                Some(n)
            }
            None => {
                map.insert(key.to_string(), (now, 0));
                Some(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_logged_once_a_minute_per_key_with_a_count() {
        let t = Throttle::default();
        assert_eq!(t.note("a"), Some(1), "the first is logged at once");
        assert_eq!((t.note("a"), t.note("a")), (None, None), "then held back");
        assert_eq!(t.note("b"), Some(1), "per key");
        // A minute later, the next one is logged with the two held back.
        t.0.lock().unwrap().get_mut("a").unwrap().0 -= EVERY;
        assert_eq!(t.note("a"), Some(3));
        assert_eq!(t.note("a"), None);
    }
}
