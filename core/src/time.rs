//! Wall-clock time as Watchpost stores it: nanoseconds since the UNIX epoch, UTC.
//!
//! Points carry `i64` nanoseconds (InfluxDB's native precision) so that both stores and the line protocol
//! share one representation with no conversion loss.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the UNIX epoch (UTC).
pub type Nanos = i64;

/// The current wall-clock time in nanoseconds.
pub fn now_nanos() -> Nanos {
    #[allow(clippy::disallowed_methods)] // the one clock (clippy.toml)
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        // A clock before 1970 is a broken host; clamp rather than panic.
        Err(_) => 0,
    }
}

/// A duration as nanoseconds, saturating.
pub fn duration_nanos(d: Duration) -> Nanos {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// A half-open time range `[from, to)` in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Nanos,
    pub to: Nanos,
}

impl TimeRange {
    pub fn new(from: Nanos, to: Nanos) -> Self {
        Self { from, to }
    }

    /// Whether `ts` is in the range (`from` included, `to` not).
    pub fn contains(&self, ts: Nanos) -> bool {
        self.from <= ts && ts < self.to
    }

    /// The range that ends now and lasts `d`.
    pub fn last(d: Duration) -> Self {
        let to = now_nanos();
        Self { from: to.saturating_sub(duration_nanos(d)), to }
    }
}

/// Parses an RFC 3339 timestamp with an offset (`2027-08-13T04:00:00Z`), as RDAP and most APIs write them.
pub fn parse_rfc3339(text: &str) -> Option<Nanos> {
    let t: jiff::Timestamp = text.trim().parse().ok()?;
    i64::try_from(t.as_nanosecond()).ok()
}

/// Formats nanoseconds as RFC 3339 UTC with second precision, for tables and logs.
pub fn format_rfc3339(ts: Nanos) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ts)) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => format!("{ts}ns"),
    }
}
