//! `[alerting]` (rules, escalation policies, notifiers) and `[oncall.people.NAME]` (who can be paged, and
//! how). Raw structs and their validation side by side; the evaluation lives in the alerting crate.
//!
//! ```toml
//! [oncall.people.alice]
//! email = "alice@example.com"
//! slack = "U024BE7LH"          # Slack member id, mentioned in the channel message
//! opsgenie = "alice@example.com"  # OpsGenie username, named as responder
//!
//! [alerting.notifiers.pd]
//! type = "pagerduty"
//! routing_key = "${PAGERDUTY_ROUTING_KEY}"
//!
//! [alerting.policies.default]
//! notifiers = ["pd"]
//! levels = [{ targets = ["oncall:primary"] }, { after = "15m", targets = ["next:primary"] }, { after = "30m", targets = ["team:primary"] }]
//!
//! [[alerting.rules]]
//! name = "down"
//! when = "availability < 100"
//! policy = "default"
//! ```

use super::check::{check_name, section};
use super::defaults as d;
use super::oncall::ScheduleConfig;
use super::secret::Secret;
use super::smtp::{smtp, RawSmtp, SmtpConfig};
use super::statuspage::StatusPageConfig;
use super::{ConfigErrors, Document, EndpointConfig, HumanDuration};
use crate::http::parse_http_url;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPerson {
    /// Where email pages go.
    pub email: Option<String>,
    /// Slack member id (`U024BE7LH`), mentioned in channel messages.
    pub slack: Option<String>,
    /// OpsGenie username (usually an email address), named in `responders`.
    pub opsgenie: Option<String>,
}

/// Someone who can be paged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: Option<String>,
    pub slack: Option<String>,
    pub opsgenie: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerting {
    /// How often rules are evaluated against the store (default 1s). In `watchpost run` new points are also
    /// evaluated the moment the agent produces them.
    pub evaluation_interval: Option<HumanDuration>,
    /// How far back each store read reaches before the last one, for points that reach the store late
    /// (default 10s, at least the agent's batch age).
    pub lookback: Option<HumanDuration>,
    /// Key that signs acknowledge links (at least 32 characters). Without it messages carry no link.
    pub secret: Option<Secret>,
    pub secret_file: Option<String>,
    /// Base URL of the status page that serves acknowledge links (default `statuspage.url`).
    pub ack_url: Option<String>,
    /// How long an acknowledge link works (default 24h).
    pub ack_link_ttl: Option<HumanDuration>,
    /// The longest wait between two attempts of a failing delivery (default 5m; backoff starts at 1s).
    pub retry_max_delay: Option<HumanDuration>,
    /// Moved to `regions.down_quorum`; kept only to say so.
    pub regions_down_quorum: Option<Value>,
    /// A maintenance window that starts while an alert fires resolves it, with a note (default true);
    /// false keeps it firing but stops its escalation.
    pub resolve_in_maintenance: Option<bool>,
    pub notifiers: Option<BTreeMap<String, Value>>,
    pub policies: Option<BTreeMap<String, Value>>,
    pub rules: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifier {
    /// `pagerduty`, `opsgenie`, `slack`, `email` or `webhook`.
    #[serde(rename = "type")]
    pub kind: String,
    /// pagerduty: Events API v2 integration key. Use `${ENV_VAR}` or `routing_key_file`.
    pub routing_key: Option<Secret>,
    pub routing_key_file: Option<String>,
    /// opsgenie: API key of an API integration. Use `${ENV_VAR}` or `api_key_file`.
    pub api_key: Option<Secret>,
    pub api_key_file: Option<String>,
    /// pagerduty (default `https://events.pagerduty.com`), opsgenie (default `https://api.opsgenie.com`; EU:
    /// `https://api.eu.opsgenie.com`), webhook (required): where requests go.
    pub url: Option<String>,
    /// slack: the incoming webhook URL (it is the credential). Use `${ENV_VAR}` or `webhook_url_file`.
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    /// webhook: key for the `X-Watchpost-Signature` HMAC. Use `${ENV_VAR}` or `secret_file`.
    pub secret: Option<Secret>,
    pub secret_file: Option<String>,
    /// email: SMTP settings, as in `[statuspage.subscriptions]`.
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_tls: Option<String>,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    pub smtp_password_file: Option<String>,
    pub from: Option<String>,
}

/// One notifier; one variant per `Notifier` implementation, matched in the alerting crate's `notify::build`.
#[derive(Debug, Clone)]
pub enum NotifierConfig {
    PagerDuty { url: String, routing_key: Secret },
    OpsGenie { url: String, api_key: Secret },
    Slack { webhook_url: Secret },
    Email(SmtpConfig),
    Webhook { url: String, secret: Option<Secret> },
}

impl NotifierConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            NotifierConfig::PagerDuty { .. } => "pagerduty",
            NotifierConfig::OpsGenie { .. } => "opsgenie",
            NotifierConfig::Slack { .. } => "slack",
            NotifierConfig::Email(_) => "email",
            NotifierConfig::Webhook { .. } => "webhook",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Notifiers (names from `[alerting.notifiers]`) that carry this policy's pages.
    pub notifiers: Vec<String>,
    /// Escalation levels, in order; the first pages at once unless it has an `after`.
    pub levels: Vec<RawLevel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLevel {
    /// How long after the alert fired this level pages, if nobody acknowledged (default 0).
    pub after: Option<HumanDuration>,
    /// `oncall:SCHEDULE`, `next:SCHEDULE` (the next in the rotation), `team:SCHEDULE`, `person:NAME`.
    pub targets: Vec<String>,
}

/// Whom a level pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    OnCall(String),
    Next(String),
    Team(String),
    Person(String),
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::OnCall(s) => format!("on call in {s}"),
            Target::Next(s) => format!("next in {s}"),
            Target::Team(s) => format!("all of {s}"),
            Target::Person(p) => p.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Level {
    pub after: Duration,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub name: String,
    pub notifiers: Vec<String>,
    pub levels: Vec<Level>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Unique; part of the alert's identity (`dedup_key`, `alias`).
    pub name: String,
    /// `METRIC OP THRESHOLD`: `availability < 100`, `latency_p95 > 300ms`, `check_failed > 0`,
    /// `cert_days_left < 14`.
    pub when: String,
    /// Aggregate over this much time (`5m`); without it the latest confirmed point decides.
    pub window: Option<HumanDuration>,
    /// The condition must hold this long before the alert fires (default 0: confirmation already took
    /// three misses).
    #[serde(rename = "for")]
    pub for_: Option<HumanDuration>,
    /// `critical` (default), `error`, `warning` or `info`.
    pub severity: Option<String>,
    /// The escalation policy (default: the only one, if there is exactly one).
    pub policy: Option<String>,
    /// Endpoint ids, `*` wildcards allowed. Every selector given must match (empty: any).
    pub endpoints: Option<Vec<String>>,
    /// Multi-step check ids.
    pub checks: Option<Vec<String>>,
    pub components: Option<Vec<String>>,
    pub environments: Option<Vec<String>>,
    /// Endpoints carrying any of these tags.
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Percent of slots up, 0 to 100.
    Availability,
    LatencyMean,
    LatencyP95,
    LatencyP99,
    /// Confirmed failed runs (or probes) in the window; the latest point: 1 or 0.
    CheckFailed,
    CertDaysLeft,
    /// Regions whose agents report the endpoint (a fresh point, DESIGN.md §5.4): `regions_reporting < 2`
    /// pages when a region goes silent.
    RegionsReporting,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Availability,
        Metric::LatencyMean,
        Metric::LatencyP95,
        Metric::LatencyP99,
        Metric::CheckFailed,
        Metric::CertDaysLeft,
        Metric::RegionsReporting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Availability => "availability",
            Metric::LatencyMean => "latency_mean",
            Metric::LatencyP95 => "latency_p95",
            Metric::LatencyP99 => "latency_p99",
            Metric::CheckFailed => "check_failed",
            Metric::CertDaysLeft => "cert_days_left",
            Metric::RegionsReporting => "regions_reporting",
        }
    }

    pub fn is_latency(self) -> bool {
        matches!(self, Metric::LatencyMean | Metric::LatencyP95 | Metric::LatencyP99)
    }

    /// The unit thresholds and values are shown in.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Availability => " %",
            Metric::LatencyMean | Metric::LatencyP95 | Metric::LatencyP99 => " ms",
            Metric::CheckFailed => "",
            Metric::CertDaysLeft => " days",
            Metric::RegionsReporting => " regions",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Cmp::Lt => value < threshold,
            Cmp::Le => value <= threshold,
            Cmp::Gt => value > threshold,
            Cmp::Ge => value >= threshold,
        }
    }
}

/// PagerDuty's four severities; OpsGenie priorities map from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Critical, Severity::Error, Severity::Warning, Severity::Info].into_iter().find(|v| v.as_str() == s)
    }
}

/// Which endpoints a rule watches; every non-empty list must match.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub endpoints: Vec<String>,
    pub checks: Vec<String>,
    pub components: Vec<String>,
    pub environments: Vec<String>,
    pub tags: Vec<String>,
}

/// `*` matches any run of characters; nothing else is special.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl Selector {
    pub fn matches(&self, e: &EndpointConfig) -> bool {
        let is_check = matches!(e.probe, super::ProbeConfig::Steps(_));
        let id_ok = match (self.endpoints.is_empty(), self.checks.is_empty()) {
            (true, true) => true,
            _ => {
                (!is_check && self.endpoints.iter().any(|p| glob_match(p, &e.id)))
                    || (is_check && self.checks.iter().any(|p| glob_match(p, &e.id)))
            }
        };
        id_ok
            && (self.components.is_empty() || e.component.as_ref().is_some_and(|c| self.components.contains(c)))
            && (self.environments.is_empty() || self.environments.contains(&e.environment))
            && (self.tags.is_empty() || e.tags.iter().any(|t| self.tags.contains(t)))
    }
}

#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub name: String,
    pub metric: Metric,
    pub cmp: Cmp,
    /// In the metric's unit (milliseconds for latency).
    pub threshold: f64,
    pub window: Option<Duration>,
    pub for_: Duration,
    pub severity: Severity,
    pub policy: String,
    pub selector: Selector,
}

impl RuleConfig {
    /// `latency_p95 > 300 ms over 5m`.
    pub fn describe(&self) -> String {
        let over = self.window.map(|w| format!(" over {}", super::format_duration(w))).unwrap_or_default();
        format!("{} {} {}{}{over}", self.metric.as_str(), self.cmp.as_str(), self.threshold, self.metric.unit())
    }
}

#[derive(Debug, Clone)]
pub struct AlertingConfig {
    /// Whether the file has an `[alerting]` section with rules: `watchpost run` evaluates only then.
    pub configured: bool,
    pub evaluation_interval: Duration,
    pub lookback: Duration,
    pub secret: Option<Secret>,
    /// Base URL for acknowledge links, without a trailing slash.
    pub ack_url: String,
    pub ack_link_ttl: Duration,
    pub retry_max_delay: Duration,
    pub resolve_in_maintenance: bool,
    pub notifiers: BTreeMap<String, NotifierConfig>,
    pub policies: BTreeMap<String, PolicyConfig>,
    pub rules: Vec<RuleConfig>,
}

pub(super) fn people(doc: &Document, oncall: Option<&Value>, errors: &mut ConfigErrors) -> BTreeMap<String, Person> {
    let mut out = BTreeMap::new();
    let Some(raw) = oncall.and_then(|v| v.get("people")) else { return out };
    let raw: BTreeMap<String, Value> = section(doc, "oncall.people", raw, errors).unwrap_or_default();
    for (name, v) in raw {
        let path = format!("oncall.people.{name}");
        check_name(doc, &path, &name, errors);
        let Some(p) = section::<RawPerson>(doc, &path, &v, errors) else { continue };
        if let Some(e) = &p.email {
            if !e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty()) {
                errors.push(doc.error(&format!("{path}.email"), format!("{e:?} is not an email address")));
            }
        }
        out.insert(name.clone(), Person { name, email: p.email, slack: p.slack, opsgenie: p.opsgenie });
    }
    out
}

fn secret(doc: &Document, key: &str, inline: Option<Secret>, file: Option<String>, errors: &mut ConfigErrors) -> Option<Secret> {
    super::check::secret_or_file(doc, key, inline, file, errors)
}

fn notifier(doc: &Document, path: &str, r: RawNotifier, errors: &mut ConfigErrors) -> Option<NotifierConfig> {
    let k = |s: &str| format!("{path}.{s}");
    // Keys that belong to another type are mistakes worth naming (a `routing_key` on a slack notifier).
    let given: Vec<(&str, bool)> = vec![
        ("routing_key", r.routing_key.is_some() || r.routing_key_file.is_some()),
        ("api_key", r.api_key.is_some() || r.api_key_file.is_some()),
        ("url", r.url.is_some()),
        ("webhook_url", r.webhook_url.is_some() || r.webhook_url_file.is_some()),
        ("secret", r.secret.is_some() || r.secret_file.is_some()),
        ("smtp_host", r.smtp_host.is_some()),
        ("from", r.from.is_some()),
    ];
    let allowed: &[&str] = match r.kind.as_str() {
        "pagerduty" => &["routing_key", "url"],
        "opsgenie" => &["api_key", "url"],
        "slack" => &["webhook_url"],
        "email" => &["smtp_host", "from"],
        "webhook" => &["url", "secret"],
        other => {
            errors.push(doc.error(&k("type"), format!("`{other}` is not one of pagerduty, opsgenie, slack, email, webhook")));
            return None;
        }
    };
    for (key, set) in given {
        if set && !allowed.contains(&key) {
            errors.push(doc.error(&k(key), format!("is not a key of a {} notifier", r.kind)));
        }
    }
    let url = |default: &str, errors: &mut ConfigErrors| -> String {
        let u = r.url.clone().unwrap_or_else(|| default.to_string());
        if let Err(e) = parse_http_url(&u) {
            errors.push(doc.error(&k("url"), e));
        }
        u.trim_end_matches('/').to_string()
    };
    let required = |s: Option<Secret>, key: &str, errors: &mut ConfigErrors| {
        if s.is_none() {
            errors.push(doc.error(path, format!("missing key `{key}` (or `{key}_file`)")));
        }
        s
    };
    Some(match r.kind.as_str() {
        "pagerduty" => {
            let url = url("https://events.pagerduty.com", errors);
            let key = secret(doc, &k("routing_key"), r.routing_key, r.routing_key_file, errors);
            NotifierConfig::PagerDuty { url, routing_key: required(key, "routing_key", errors)? }
        }
        "opsgenie" => {
            let url = url("https://api.opsgenie.com", errors);
            let key = secret(doc, &k("api_key"), r.api_key, r.api_key_file, errors);
            NotifierConfig::OpsGenie { url, api_key: required(key, "api_key", errors)? }
        }
        "slack" => {
            let hook = required(secret(doc, &k("webhook_url"), r.webhook_url, r.webhook_url_file, errors), "webhook_url", errors)?;
            if let Err(e) = parse_http_url(hook.expose()) {
                // The whole URL is the secret (its path is the token): only what is wrong with it.
                let why = e.rsplit_once(": ").map_or("invalid URL", |(_, why)| why);
                errors.push(doc.error(&k("webhook_url"), format!("is not a valid URL: {why}")));
            }
            NotifierConfig::Slack { webhook_url: hook }
        }
        "email" => {
            let raw = RawSmtp {
                host: r.smtp_host,
                port: r.smtp_port,
                tls: r.smtp_tls,
                username: r.smtp_username,
                password: r.smtp_password,
                password_file: r.smtp_password_file,
                from: r.from,
            };
            let Some(s) = smtp(doc, path, raw, errors) else {
                errors.push(doc.error(path, "missing key `smtp_host`"));
                return None;
            };
            NotifierConfig::Email(s)
        }
        _ => {
            if r.url.is_none() {
                errors.push(doc.error(path, "missing key `url`"));
                return None;
            }
            let url = url("", errors);
            NotifierConfig::Webhook { url, secret: secret(doc, &k("secret"), r.secret, r.secret_file, errors) }
        }
    })
}

fn target(s: &str) -> Option<Target> {
    let (kind, name) = s.split_once(':')?;
    let name = name.trim().to_string();
    Some(match kind.trim() {
        "oncall" => Target::OnCall(name),
        "next" => Target::Next(name),
        "team" => Target::Team(name),
        "person" => Target::Person(name),
        _ => return None,
    })
}

/// Why a rule's `when` is not a condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("{0:?}: expected `METRIC OP THRESHOLD`, e.g. \"availability < 100\" or \"latency_p95 > 300ms\"")]
    Shape(String),
    #[error("`{0}` is not a metric; expected one of {names}", names = Metric::ALL.map(|m| m.as_str()).join(", "))]
    UnknownMetric(String),
    #[error("`{0}` is not a comparison; expected <, <=, > or >=")]
    UnknownComparison(String),
    #[error("threshold {0:?} is not a number")]
    NotANumber(String),
    #[error("threshold {0:?}: {1}")]
    BadDuration(String, String),
}

/// `availability < 100`, `latency_mean > 300ms`: the metric, the comparison and the threshold in the metric's
/// unit.
pub fn parse_condition(s: &str) -> Result<(Metric, Cmp, f64), ConditionError> {
    let mut parts = s.split_whitespace();
    let (Some(m), Some(op), Some(t), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(ConditionError::Shape(s.to_string()));
    };
    let metric = Metric::ALL.into_iter().find(|x| x.as_str() == m).ok_or_else(|| ConditionError::UnknownMetric(m.to_string()))?;
    let cmp = match op {
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        ">" => Cmp::Gt,
        ">=" => Cmp::Ge,
        _ => return Err(ConditionError::UnknownComparison(op.to_string())),
    };
    let threshold = if metric.is_latency() {
        match t.parse::<f64>() {
            Ok(ms) => ms,
            Err(_) => {
                super::parse_duration(t).map(|d| d.as_secs_f64() * 1000.0).map_err(|e| ConditionError::BadDuration(t.to_string(), e))?
            }
        }
    } else {
        t.trim_end_matches('%').parse::<f64>().map_err(|_| ConditionError::NotANumber(t.to_string()))?
    };
    if !threshold.is_finite() {
        return Err(ConditionError::NotANumber(t.to_string()));
    }
    Ok((metric, cmp, threshold))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn alerting(
    doc: &Document,
    value: Option<&Value>,
    people: &BTreeMap<String, Person>,
    schedules: &BTreeMap<String, ScheduleConfig>,
    endpoints: &[EndpointConfig],
    statuspage: &StatusPageConfig,
    batch_age: Duration,
    errors: &mut ConfigErrors,
) -> AlertingConfig {
    let raw: RawAlerting = value.and_then(|v| section(doc, "alerting", v, errors)).unwrap_or_default();
    if raw.regions_down_quorum.is_some() {
        errors.push(doc.error(
            "alerting.regions_down_quorum",
            "moved to `regions.down_quorum` (it now decides the status page and `watchpost status` too)",
        ));
    }
    let dur = |v: Option<HumanDuration>, default: Duration| v.map(HumanDuration::as_duration).unwrap_or(default);
    let evaluation_interval = dur(raw.evaluation_interval, d::EVALUATION_INTERVAL);
    if evaluation_interval < Duration::from_millis(100) {
        errors.push(doc.error("alerting.evaluation_interval", "is below 100ms"));
    }
    let lookback = dur(raw.lookback, d::ALERT_LOOKBACK);
    if lookback < batch_age {
        errors.push(doc.error("alerting.lookback", "is shorter than `agent.batch_max_age`: points written late would be missed"));
    }
    let secret = secret(doc, "alerting.secret", raw.secret, raw.secret_file, errors);
    if secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
        errors.push(doc.error("alerting.secret", "is shorter than 32 characters: use `openssl rand -hex 32`"));
    }
    let ack_url = raw.ack_url.unwrap_or_else(|| statuspage.url.clone()).trim_end_matches('/').to_string();
    if let Err(e) = parse_http_url(&ack_url) {
        errors.push(doc.error("alerting.ack_url", e));
    }

    let mut notifiers = BTreeMap::new();
    for (name, v) in raw.notifiers.unwrap_or_default() {
        let path = format!("alerting.notifiers.{name}");
        check_name(doc, &path, &name, errors);
        if let Some(n) = section::<RawNotifier>(doc, &path, &v, errors).and_then(|r| notifier(doc, &path, r, errors)) {
            notifiers.insert(name, n);
        }
    }

    let mut policies = BTreeMap::new();
    for (name, v) in raw.policies.unwrap_or_default() {
        let path = format!("alerting.policies.{name}");
        check_name(doc, &path, &name, errors);
        let Some(r) = section::<RawPolicy>(doc, &path, &v, errors) else { continue };
        for (i, n) in r.notifiers.iter().enumerate() {
            if !notifiers.contains_key(n) && !errors.iter().any(|e| e.key.starts_with(&format!("alerting.notifiers.{n}"))) {
                errors.push(doc.error(&format!("{path}.notifiers[{i}]"), format!("no notifier `{n}` in [alerting.notifiers]")));
            }
        }
        if r.notifiers.is_empty() {
            errors.push(doc.error(&format!("{path}.notifiers"), "is empty: name at least one notifier"));
        }
        if r.levels.is_empty() {
            errors.push(doc.error(&format!("{path}.levels"), "is empty: give at least one level"));
        }
        let mut levels = Vec::new();
        let mut previous = Duration::ZERO;
        for (i, l) in r.levels.into_iter().enumerate() {
            let lp = format!("{path}.levels[{i}]");
            let after = dur(l.after, Duration::ZERO);
            if i > 0 && after <= previous {
                errors.push(doc.error(&format!("{lp}.after"), "is not later than the level before"));
            }
            previous = after;
            let mut targets = Vec::new();
            for (j, t) in l.targets.iter().enumerate() {
                let tp = format!("{lp}.targets[{j}]");
                match target(t) {
                    None => {
                        errors.push(doc.error(&tp, format!("{t:?}: expected oncall:SCHEDULE, next:SCHEDULE, team:SCHEDULE or person:NAME")))
                    }
                    Some(Target::Person(p)) if !people.contains_key(&p) => {
                        errors.push(doc.error(&tp, format!("no person `{p}` in [oncall.people]")))
                    }
                    Some(Target::OnCall(s) | Target::Next(s) | Target::Team(s)) if !schedules.contains_key(&s) => {
                        errors.push(doc.error(&tp, format!("no schedule `{s}` in [oncall.schedules]")))
                    }
                    Some(t) => targets.push(t),
                }
            }
            if l.targets.is_empty() {
                errors.push(doc.error(&format!("{lp}.targets"), "is empty"));
            }
            levels.push(Level { after, targets });
        }
        // Email needs an address for everyone the policy can page: better said now than at 2 am.
        if r.notifiers.iter().any(|n| matches!(notifiers.get(n), Some(NotifierConfig::Email(_)))) {
            let mut who = BTreeSet::new();
            for l in &levels {
                for t in &l.targets {
                    match t {
                        Target::Person(p) => {
                            who.insert(p.clone());
                        }
                        Target::OnCall(s) | Target::Next(s) | Target::Team(s) => {
                            if let Some(s) = schedules.get(s) {
                                who.extend(s.members.iter().cloned());
                            }
                        }
                    }
                }
            }
            for p in who.iter().filter(|p| people.get(*p).is_none_or(|p| p.email.is_none())) {
                errors.push(doc.error(
                    &format!("{path}.notifiers"),
                    format!("notifies by email, but `{p}`, whom it can page, has no `email` in [oncall.people.{p}]"),
                ));
            }
        }
        policies.insert(name.clone(), PolicyConfig { name, notifiers: r.notifiers, levels });
    }

    let mut rules = Vec::new();
    let mut names = BTreeSet::new();
    for (i, v) in raw.rules.unwrap_or_default().iter().enumerate() {
        let path = format!("alerting.rules[{i}]");
        let Some(r) = section::<RawRule>(doc, &path, v, errors) else { continue };
        check_name(doc, &format!("{path}.name"), &r.name, errors);
        if !names.insert(r.name.clone()) {
            errors.push(doc.error(&format!("{path}.name"), format!("`{}` is the name of an earlier rule", r.name)));
        }
        let (metric, cmp, threshold) = match parse_condition(&r.when) {
            Ok(c) => c,
            Err(e) => {
                errors.push(doc.error(&format!("{path}.when"), e.to_string()));
                continue;
            }
        };
        let severity = match r.severity.as_deref() {
            None => Severity::Critical,
            Some(s) => Severity::parse(s).unwrap_or_else(|| {
                errors.push(doc.error(&format!("{path}.severity"), format!("`{s}` is not one of critical, error, warning, info")));
                Severity::Critical
            }),
        };
        let policy = match r.policy {
            Some(p) => {
                if !policies.contains_key(&p) {
                    errors.push(doc.error(&format!("{path}.policy"), format!("no policy `{p}` in [alerting.policies]")));
                }
                p
            }
            None if policies.len() == 1 => policies.keys().next().cloned().unwrap_or_default(),
            None => {
                errors.push(doc.error(&format!("{path}.policy"), "missing: name one of [alerting.policies]"));
                String::new()
            }
        };
        let window = r.window.map(HumanDuration::as_duration);
        if window.is_some_and(|w| w.is_zero()) {
            errors.push(doc.error(&format!("{path}.window"), "is zero; leave it out to use the latest point"));
        }
        let selector = Selector {
            endpoints: r.endpoints.unwrap_or_default(),
            checks: r.checks.unwrap_or_default(),
            components: r.components.unwrap_or_default(),
            environments: r.environments.unwrap_or_default(),
            tags: r.tags.unwrap_or_default(),
        };
        if !endpoints.iter().any(|e| selector.matches(e)) {
            errors.push(doc.error(&path, "selects no endpoint or check of this file"));
        }
        rules.push(RuleConfig {
            name: r.name,
            metric,
            cmp,
            threshold,
            window,
            for_: dur(r.for_, Duration::ZERO),
            severity,
            policy,
            selector,
        });
    }
    AlertingConfig {
        configured: !rules.is_empty(),
        evaluation_interval,
        lookback,
        secret,
        ack_url,
        ack_link_ttl: dur(raw.ack_link_ttl, d::ACK_LINK_TTL),
        retry_max_delay: dur(raw.retry_max_delay, d::RETRY_MAX_DELAY).max(Duration::from_secs(1)),
        resolve_in_maintenance: raw.resolve_in_maintenance.unwrap_or(true),
        notifiers,
        policies,
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_with_units() {
        assert_eq!(parse_condition("availability < 100").unwrap(), (Metric::Availability, Cmp::Lt, 100.0));
        assert_eq!(parse_condition("latency_mean > 300ms").unwrap(), (Metric::LatencyMean, Cmp::Gt, 300.0));
        assert_eq!(parse_condition("latency_p99 >= 2s").unwrap(), (Metric::LatencyP99, Cmp::Ge, 2000.0));
        assert_eq!(parse_condition("cert_days_left < 14").unwrap(), (Metric::CertDaysLeft, Cmp::Lt, 14.0));
        assert_eq!(parse_condition("uptime < 1"), Err(ConditionError::UnknownMetric("uptime".into())));
        assert!(parse_condition("uptime < 1").unwrap_err().to_string().contains("expected one of availability"));
        assert_eq!(parse_condition("availability == 1"), Err(ConditionError::UnknownComparison("==".into())));
        assert_eq!(parse_condition("availability <"), Err(ConditionError::Shape("availability <".into())));
        assert_eq!(parse_condition("availability < many"), Err(ConditionError::NotANumber("many".into())));
    }

    #[test]
    fn globs() {
        assert!(glob_match("api-*", "api-eu"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("a*c*e", "abde"));
        assert!(!glob_match("api", "api-eu"));
        assert!(glob_match("*-eu", "api-eu"));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
