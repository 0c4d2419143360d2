//! The domain model: the points of DESIGN.md §4 and what is derived from them.

use crate::time::Nanos;
use std::fmt;

/// The short error class of a failed attempt (DESIGN.md §4 `error` field). Stable strings: they are stored,
/// counted in `/metrics` and matched by alert rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    Timeout,
    Dns,
    ConnectRefused,
    ConnectReset,
    Connect,
    Tls,
    Protocol,
    Redirects,
    BodyTooLarge,
    Status,
    Assertion,
    Internal,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 12] = [
        ErrorClass::Timeout,
        ErrorClass::Dns,
        ErrorClass::ConnectRefused,
        ErrorClass::ConnectReset,
        ErrorClass::Connect,
        ErrorClass::Tls,
        ErrorClass::Protocol,
        ErrorClass::Redirects,
        ErrorClass::BodyTooLarge,
        ErrorClass::Status,
        ErrorClass::Assertion,
        ErrorClass::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Dns => "dns",
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectReset => "connect_reset",
            ErrorClass::Connect => "connect",
            ErrorClass::Tls => "tls",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Redirects => "redirects",
            ErrorClass::BodyTooLarge => "body_too_large",
            ErrorClass::Status => "status",
            ErrorClass::Assertion => "assertion",
            ErrorClass::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorClass> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tags shared by every point of one endpoint from one agent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub endpoint: String,
    pub region: String,
    /// Empty when the endpoint belongs to no component (the tag is then omitted in InfluxDB).
    pub component: String,
    pub environment: String,
}

/// One probe attempt, measurement `probe` (DESIGN.md §4). `ts` is the attempt's start.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbePoint {
    pub series: std::sync::Arc<SeriesKey>,
    pub ts: Nanos,
    /// 100 or 0: the *confirmed* state at this attempt (§5.2).
    pub availability: f64,
    /// This attempt passed every assertion.
    pub ok: bool,
    pub latency_ms: f64,
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub ttfb_ms: Option<f64>,
    pub status_code: Option<i64>,
    /// Days until the TLS certificate expires (negative when expired); https only. An addition to §4.
    pub cert_days_left: Option<f64>,
    pub error: Option<ErrorClass>,
    pub confirmed_down: bool,
    /// Multi-step checks: the step that failed the run (field `failed_step`, written only when set).
    pub failed_step: Option<String>,
}

impl ProbePoint {
    /// A point with what every reader of raw points needs (the confirmed state as `availability`, the
    /// attempt's result and latency) and nothing else: what [`crate::store::Store::probe_samples`] may return.
    pub fn sample(series: std::sync::Arc<SeriesKey>, ts: Nanos, availability: f64, ok: bool, latency_ms: f64) -> ProbePoint {
        ProbePoint {
            series,
            ts,
            availability,
            ok,
            latency_ms,
            dns_ms: None,
            connect_ms: None,
            tls_ms: None,
            ttfb_ms: None,
            status_code: None,
            cert_days_left: None,
            error: None,
            confirmed_down: availability < 50.0,
            failed_step: None,
        }
    }
}

/// One step of one run of a multi-step check, measurement `check_step` (an addition to DESIGN.md §4): the
/// history `watchpost checks history` shows. Tags are the run's series plus `step`; `ts` is the run's start,
/// shared by every step of the run, so a run is read back as the steps with one timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct StepPoint {
    pub series: std::sync::Arc<SeriesKey>,
    pub ts: Nanos,
    pub step: String,
    /// Position in the check, from 0.
    pub index: u32,
    /// False when the step was skipped because an earlier step failed.
    pub ran: bool,
    pub finally: bool,
    /// The step passed every assertion.
    pub ok: bool,
    pub status_code: Option<i64>,
    pub latency_ms: f64,
    pub error: Option<ErrorClass>,
    /// Why it failed: the failed assertion with its expected and actual values, or the error.
    pub detail: String,
    /// Every assertion's outcome, `✓ status 2xx; ✗ json $.id exists (got nothing)`.
    pub assertions: String,
}

/// The resolution of a rollup: measurement `rollup_1m`, `rollup_1h` or `rollup_1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    pub fn measurement(self) -> &'static str {
        match self {
            Resolution::Minute => "rollup_1m",
            Resolution::Hour => "rollup_1h",
            Resolution::Day => "rollup_1d",
        }
    }

    /// The window's length in nanoseconds (days are UTC days).
    pub fn nanos(self) -> Nanos {
        match self {
            Resolution::Minute => 60_000_000_000,
            Resolution::Hour => 3_600_000_000_000,
            Resolution::Day => 86_400_000_000_000,
        }
    }

    /// The start of the window holding `ts`.
    pub fn floor(self, ts: Nanos) -> Nanos {
        ts.div_euclid(self.nanos()) * self.nanos()
    }

    pub fn parse(s: &str) -> Option<Resolution> {
        Self::ALL.into_iter().find(|r| r.measurement() == s)
    }
}

/// The region tag of the merge of every region in a rollup.
pub const ALL_REGIONS: &str = "all";

/// One closed window of one series (DESIGN.md §4 rollup points): counts, time by state, and the latency
/// histogram its percentiles come from. `ts` is the window's start.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupPoint {
    pub resolution: Resolution,
    /// Region [`ALL_REGIONS`] is the merge of every region.
    pub series: std::sync::Arc<SeriesKey>,
    pub ts: Nanos,
    pub up_s: f64,
    pub down_s: f64,
    pub maintenance_s: f64,
    /// Where the confirmed-down time lies: seconds from `ts` to the start of the first down stretch and to
    /// the end of the last (`None` without down time). When `down_until_s - down_from_s == down_s` the
    /// down time is one stretch, so a report places an incident to the second from this window alone
    /// instead of reading its children. In the `all` merge they bound the down time of every region.
    pub down_from_s: Option<f64>,
    pub down_until_s: Option<f64>,
    pub samples: u64,
    /// Attempts that were not ok.
    pub failures: u64,
    /// Latency of the ok attempts: count of those under the configured objective, and the histogram
    /// (microseconds, 3 significant digits; V2 + deflate, base64) with the figures read from it.
    pub under_threshold: u64,
    pub latency_mean_ms: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p90_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub hist: String,
}

impl RollupPoint {
    /// A window of `resolution` with the counts of `a` and nothing else: no maintenance, no down stretch,
    /// no latency figures or histogram (what a window without ok attempts has). Fixtures start from it.
    pub fn counts(resolution: Resolution, series: std::sync::Arc<SeriesKey>, ts: Nanos, a: Availability) -> RollupPoint {
        RollupPoint {
            resolution,
            series,
            ts,
            up_s: a.up_s,
            down_s: a.down_s,
            maintenance_s: 0.0,
            down_from_s: None,
            down_until_s: None,
            samples: a.samples,
            failures: a.failures,
            under_threshold: 0,
            latency_mean_ms: None,
            latency_p50_ms: None,
            latency_p90_ms: None,
            latency_p95_ms: None,
            latency_p99_ms: None,
            latency_max_ms: None,
            hist: String::new(),
        }
    }

    /// Percentage of confirmed-up time, maintenance excluded; `None` without probed time.
    pub fn availability(&self) -> Option<f64> {
        let total = self.up_s + self.down_s;
        // The ratio first: with no down time it is exactly 1, so a series never down reads exactly 100 (the
        // product first, `100 * up` then divided, came out as 99.99999999999999 for some `up`).
        (total > 0.0).then(|| 100.0 * (self.up_s / total))
    }

    /// The down time as one stretch `[from, until)` in nanoseconds, when it is one (see `down_from_s`).
    pub fn down_stretch(&self) -> Option<(Nanos, Nanos)> {
        let (from, until) = (self.down_from_s?, self.down_until_s?);
        ((until - from - self.down_s).abs() < 1e-6)
            .then(|| (self.ts + (from * 1e9).round() as Nanos, self.ts + (until * 1e9).round() as Nanos))
    }
}

/// A skipped slot in a maintenance window, measurement `maintenance`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenancePoint {
    pub endpoint: String,
    pub region: String,
    pub ts: Nanos,
    pub active: bool,
}

/// Anything the agent writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    Probe(ProbePoint),
    Maintenance(MaintenancePoint),
    Step(StepPoint),
    Rollup(RollupPoint),
}

impl Point {
    pub fn ts(&self) -> Nanos {
        match self {
            Point::Probe(p) => p.ts,
            Point::Maintenance(m) => m.ts,
            Point::Step(s) => s.ts,
            Point::Rollup(r) => r.ts,
        }
    }
}

/// The latest known state of one endpoint in one region, as `watchpost status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointState {
    pub endpoint: String,
    pub region: String,
    pub component: String,
    pub environment: String,
    pub confirmed_down: bool,
    /// When the current confirmed state began (the first point of the current run of equal states).
    pub since: Nanos,
    pub last_ts: Nanos,
    pub last_ok: bool,
    pub last_latency_ms: f64,
    pub last_error: Option<ErrorClass>,
}

/// The status of a status-page component (DESIGN.md §5.7): Statuspage's own values, so that its JSON and its
/// publishers speak them unchanged. Ordered by severity: [`ComponentStatus::worst`] of a set is its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] = [
        ComponentStatus::Operational,
        ComponentStatus::UnderMaintenance,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
    ];

    /// The wire name (`partial_outage`).
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::UnderMaintenance => "under_maintenance",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
        }
    }

    /// For people: `Partial outage`.
    pub fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "Operational",
            ComponentStatus::UnderMaintenance => "Under maintenance",
            ComponentStatus::DegradedPerformance => "Degraded performance",
            ComponentStatus::PartialOutage => "Partial outage",
            ComponentStatus::MajorOutage => "Major outage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn worst(items: impl IntoIterator<Item = Self>) -> Self {
        items.into_iter().max().unwrap_or(ComponentStatus::Operational)
    }
}

impl fmt::Display for ComponentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Up and down time over a period, attributed by probe slot (DESIGN.md §5.6).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Availability {
    pub up_s: f64,
    pub down_s: f64,
    pub samples: u64,
    pub failures: u64,
}

impl Availability {
    /// Percentage of confirmed-up time, or `None` when there is no data.
    pub fn percent(&self) -> Option<f64> {
        let total = self.up_s + self.down_s;
        // The ratio first: with no down time it is exactly 1, so a series never down reads exactly 100 (the
        // product first, `100 * up` then divided, came out as 99.99999999999999 for some `up`).
        (total > 0.0).then(|| 100.0 * (self.up_s / total))
    }

    /// Attributes time to `points` (sorted by `ts`, one series); see [`SlotAccumulator`].
    pub fn from_points(points: &[ProbePoint], slot: std::time::Duration, until: Nanos) -> Availability {
        let mut acc = SlotAccumulator::new(slot);
        for p in points {
            acc.push(p.ts, p.availability, p.ok);
        }
        acc.finish(until)
    }
}

/// Streaming slot attribution (DESIGN.md §5.6) for one series, fed points in time order: each point stands for
/// the time until the next point, capped at `slot` (the endpoint's interval), so a retry after a miss covers
/// only its own gap and a hole in the data counts as neither state. The last point stands for
/// `min(slot, until - ts)`. Memory is constant, so a day of points need not be held at once.
#[derive(Debug, Clone)]
pub struct SlotAccumulator {
    slot_ns: Nanos,
    last: Option<(Nanos, bool)>,
    acc: Availability,
}

impl SlotAccumulator {
    pub fn new(slot: std::time::Duration) -> Self {
        SlotAccumulator { slot_ns: crate::time::duration_nanos(slot), last: None, acc: Availability::default() }
    }

    pub fn push(&mut self, ts: Nanos, availability: f64, ok: bool) {
        self.close(ts);
        self.last = Some((ts, availability >= 50.0));
        self.acc.samples += 1;
        self.acc.failures += u64::from(!ok);
    }

    pub fn finish(mut self, until: Nanos) -> Availability {
        self.close(until);
        self.acc
    }

    fn close(&mut self, next: Nanos) {
        if let Some((ts, up)) = self.last {
            let secs = (next - ts).clamp(0, self.slot_ns) as f64 / 1e9;
            if up {
                self.acc.up_s += secs;
            } else {
                self.acc.down_s += secs;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    pub(crate) fn point(ts_s: i64, availability: f64, ok: bool) -> ProbePoint {
        let series = Arc::new(SeriesKey { endpoint: "e".into(), region: "r".into(), component: String::new(), environment: "p".into() });
        ProbePoint::sample(series, ts_s * 1_000_000_000, availability, ok, 1.0)
    }

    #[test]
    fn availability_is_time_weighted_by_slot() {
        // Up at 0, 5; miss at 10 retried at 11, 12 (confirmed down from 10); up again at 17.
        let pts = [
            point(0, 100.0, true),
            point(5, 100.0, true),
            point(10, 0.0, false),
            point(11, 0.0, false),
            point(12, 0.0, false),
            point(17, 100.0, true),
        ];
        let a = Availability::from_points(&pts, Duration::from_secs(5), 22 * 1_000_000_000);
        assert_eq!(a.down_s, 7.0);
        assert_eq!(a.up_s, 15.0);
        assert_eq!(a.samples, 6);
        assert_eq!(a.failures, 3);
        assert!((a.percent().unwrap() - 100.0 * 15.0 / 22.0).abs() < 1e-9);
    }

    #[test]
    fn a_gap_counts_as_neither_state() {
        let pts = [point(0, 100.0, true), point(100, 0.0, false)];
        let a = Availability::from_points(&pts, Duration::from_secs(5), 105 * 1_000_000_000);
        assert_eq!((a.up_s, a.down_s), (5.0, 5.0));
        assert_eq!(Availability::default().percent(), None);
    }

    #[test]
    fn error_classes_round_trip() {
        for c in ErrorClass::ALL {
            assert_eq!(ErrorClass::parse(c.as_str()), Some(c));
        }
    }
}
