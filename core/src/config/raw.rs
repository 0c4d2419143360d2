//! Phase one: the configuration exactly as the user wrote it. Every field is optional here where it has a
//! default; [`super::validate`] turns these into the domain types and fills in [`super::defaults`].
//!
//! Each field's doc comment is the user documentation; the README's tables use the same words.

use super::duration::{ByteSize, HumanDuration};
use super::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[agent]`: how this agent probes and where its points go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    /// Region tag written on every point (default `local`). One agent per region.
    pub region: Option<String>,
    /// Default interval between two probes of an endpoint (default `5s`).
    pub interval: Option<HumanDuration>,
    /// Default time a probe may take before it counts as a `timeout` miss (default `2s`).
    pub timeout: Option<HumanDuration>,
    /// Default delay before the retry that follows a miss (default `1s`).
    pub retry_interval: Option<HumanDuration>,
    /// Default number of consecutive misses that confirm an outage (default 3).
    pub failure_threshold: Option<u32>,
    /// Default number of consecutive successes that confirm recovery (default 1).
    pub success_threshold: Option<u32>,
    /// Default `environment` tag of endpoints that name none (default `production`).
    pub environment: Option<String>,
    /// Probes in flight at once across all endpoints (default 4096).
    pub concurrency: Option<usize>,
    /// Points that may wait between the probe loop and the writer (default 200000).
    pub queue_capacity: Option<usize>,
    /// Largest batch the writer sends to the store (default 5000 points).
    pub batch_max_points: Option<usize>,
    /// Longest a point waits in the writer before its batch is flushed (default `1s`).
    pub batch_max_age: Option<HumanDuration>,
    /// `[agent.spool]`: where batches wait while the store is down.
    pub spool: Option<RawSpool>,
    /// Base URL of the status page whose admin maintenance windows apply, for an agent on another machine
    /// (default: read them from the local state database, `[state] path`).
    pub maintenance_from: Option<String>,
    /// The status page's admin token, for `maintenance_from`. Use `${ENV_VAR}` or `maintenance_token_file`.
    pub maintenance_token: Option<Secret>,
    pub maintenance_token_file: Option<String>,
}

/// `[agent.spool]`: the disk spool that keeps batches while the store is unreachable or failing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpool {
    /// Directory of the spool (default `data/spool`); one per agent.
    pub dir: Option<String>,
    /// Most disk the spool may use (default `1GiB`); beyond it the oldest batches are dropped, logged and counted.
    pub max_bytes: Option<ByteSize>,
    /// Points per second replayed once the store is back, leaving room for live points (default 50000).
    pub replay_rate: Option<u64>,
}

/// `[store]`: where points are kept. `type = "sqlite"` (embedded, the default) or `type = "influxdb"`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // read once at start; boxing would only obscure the schema
pub enum RawStore {
    Sqlite {
        /// Database file (default `data/watchpost.db`); parent directories are created.
        path: Option<String>,
        /// How long raw points are kept (default `30d`).
        retention: Option<HumanDuration>,
        /// How long the step results of multi-step checks are kept for `watchpost checks history` (default `14d`).
        check_history: Option<HumanDuration>,
    },
    Influxdb {
        /// Base URL of InfluxDB, e.g. `http://influxdb:8086` (required).
        url: Option<String>,
        /// Write API: `v1` (`/write`, every InfluxDB; the default) or `v2` (`/api/v2/write`: 1.8+, 2.x, 3.x, Cloud).
        api: Option<String>,
        /// v1: database to write to; both: database that InfluxQL queries read (v2: default the bucket).
        database: Option<String>,
        /// v1: retention policy to write into (default: the database's default).
        retention_policy: Option<String>,
        /// v1: retention policy the rollups are written into and read from (default: `retention_policy`).
        rollup_retention_policy: Option<String>,
        /// v2: organization.
        org: Option<String>,
        /// v2: bucket.
        bucket: Option<String>,
        /// v2 (and v1 on 1.8+): API token, sent as `Authorization: Token …`. Use `${ENV_VAR}` or `token_file`.
        token: Option<Secret>,
        /// A file holding the token (instead of `token`).
        token_file: Option<String>,
        /// v1: user for Basic authentication.
        username: Option<String>,
        /// v1: password for Basic authentication. Use `${ENV_VAR}` or `password_file`.
        password: Option<Secret>,
        /// A file holding the password (instead of `password`).
        password_file: Option<String>,
        /// Time limit of every request (default `10s`).
        timeout: Option<HumanDuration>,
    },
}

/// `[server]`: the process's own `/healthz` and `/metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address to listen on (default `127.0.0.1:9090`).
    pub listen: Option<String>,
}

/// One `[[endpoints]]` entry: something to probe. These are the keys every endpoint has; the rest of the
/// table (`type`, default `http`, and that type's keys) is the probe's, read by `config::probe`.
///
/// Why no `deny_unknown_fields`: this struct is read from the whole table, in place (copying every
/// endpoint's keys to split the table cost a sixth of loading 100,000 endpoints); the keys it does not
/// name are the probe's, whose struct refuses what it does not know, so an unknown key is still an error.
#[derive(Debug, Default, Deserialize)]
pub struct RawEndpoint {
    /// Stable identifier, written as the `endpoint` tag: letters, digits, `_`, `-`, `.`.
    pub id: Option<String>,
    /// Human name for tables and pages (default: the id).
    pub name: Option<String>,
    /// Interval between probes (default: `agent.interval`).
    pub interval: Option<HumanDuration>,
    /// Probe timeout (default: `agent.timeout`); at most the interval.
    pub timeout: Option<HumanDuration>,
    /// Delay of the retry after a miss (default: `agent.retry_interval`).
    pub retry_interval: Option<HumanDuration>,
    /// Consecutive misses that confirm an outage (default: `agent.failure_threshold`).
    pub failure_threshold: Option<u32>,
    /// Consecutive successes that confirm recovery (default: `agent.success_threshold`).
    pub success_threshold: Option<u32>,
    /// Status page component this endpoint belongs to (tag `component`).
    pub component: Option<String>,
    /// Labels alert rules select on (`tags = ["payments", "tier-1"]`); not written to the store.
    pub tags: Option<Vec<String>>,
    /// Labels its alerts carry (`labels = { team = "payments", tier = "1" }`), for routes, inhibition and
    /// silences; not written to the store.
    pub labels: Option<BTreeMap<String, String>>,
    /// Endpoint, check or component ids it needs: while one of them is alerting, its own alerts wait.
    pub depends_on: Option<Vec<String>>,
    /// Deployment environment (tag `environment`, default: `agent.environment`).
    pub environment: Option<String>,
    /// Assertions, all of which must pass. HTTP endpoints without any expect a `2xx` status.
    #[serde(rename = "assert")]
    pub assertions: Option<Vec<RawAssertion>>,
    /// Gatus-style conditions (`"[STATUS] == 200"`), compiled into assertions beside `assert`.
    pub conditions: Option<Vec<String>>,
}

/// One assertion. Exactly one subject key says what is checked; `op` and `value` say how, where the subject
/// takes them:
///
/// - `{ status = 200 }`, `{ status = [200, 204] }`, `{ status = "2xx" }`
/// - `{ latency_below = "300ms" }`
/// - `{ body_contains = "ok" }`, `{ body_matches = "^v[0-9]+" }` (a regular expression)
/// - `{ header = "content-type", op = "contains", value = "json" }` (`op` default `exists`)
/// - `{ json = "$.items[0].id", op = "==", value = "{{steps.create.body.id}}" }` (RFC 9535 JSON path; `op`
///   default `exists`)
/// - `{ json_schema_file = "schemas/order.json" }` (the body is JSON the schema accepts; the path is
///   relative to the configuration file, `$ref`s to files beside it resolve)
/// - `{ cert_days_left_above = 14 }`
/// - dns: `{ rcode = "NOERROR" }` (or a list), `{ answers_contain = "10.0.0.1" }` (or a list: each must be
///   among the answers), `{ answers_equal = ["10.0.0.1", "10.0.0.2"] }` (the answers, in any order),
///   `{ answer_count = 2 }` (`op` default `==`)
/// - tls (and https): `{ tls_version_at_least = "1.2" }`, `{ issuer_contains = "Let's Encrypt" }`; tls only:
///   `{ ocsp_stapled = true }`
/// - icmp: `{ packet_loss_below = 20 }` (percent)
/// - domain: `{ domain_days_left_above = 30 }`
///
/// `op` is one of `==`, `!=`, `<`, `<=`, `>`, `>=`, `exists`, `not_exists`, `empty`, `not_empty`, `contains`,
/// `matches`, `one_of` (a list), `length` (a number, or a comparison such as `">= 1"`) and `type` (`string`, `number`, `boolean`, `array`, `object`, `null`); a json
/// assertion's `nodes` says which selected nodes must pass (`first`, `all`, `any`). A `value` that is a string is a template.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssertion {
    pub status: Option<StatusSpec>,
    pub latency_below: Option<HumanDuration>,
    pub body_contains: Option<String>,
    pub body_matches: Option<String>,
    pub header: Option<String>,
    pub json: Option<String>,
    pub json_schema_file: Option<String>,
    pub cert_days_left_above: Option<f64>,
    pub rcode: Option<Texts>,
    pub answers_contain: Option<Texts>,
    pub answers_equal: Option<Texts>,
    pub answer_count: Option<u64>,
    pub tls_version_at_least: Option<String>,
    pub issuer_contains: Option<String>,
    pub ocsp_stapled: Option<bool>,
    pub packet_loss_below: Option<f64>,
    pub domain_days_left_above: Option<f64>,
    /// json: which selected nodes must pass, `first` (default), `all` or `any`.
    pub nodes: Option<String>,
    pub op: Option<String>,
    pub value: Option<serde_json::Value>,
}

/// One `[[checks]]` entry: a multi-step API check (DESIGN.md §5.1).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// Stable identifier, written as the `endpoint` tag: letters, digits, `_`, `-`, `.`.
    pub id: Option<String>,
    /// Human name for reports (default: the id).
    pub name: Option<String>,
    /// Environments (from `[environments.NAME]`) to run in: once per environment, tagged `environment`.
    /// Default: one run in `agent.environment`, without `env.*` variables.
    pub environments: Option<Vec<String>>,
    /// Variables of this check, `{{vars.NAME}}`; they shadow `[vars]`.
    pub vars: Option<BTreeMap<String, String>>,
    /// Interval between runs (default `1m`: API checks create things; check as often as you need, not more).
    pub interval: Option<HumanDuration>,
    /// Default time limit of each step (default: `agent.timeout`).
    pub timeout: Option<HumanDuration>,
    /// Delay of the retry after a failed run (default: `agent.retry_interval`).
    pub retry_interval: Option<HumanDuration>,
    /// Consecutive failed runs that confirm an outage (default: `agent.failure_threshold`).
    pub failure_threshold: Option<u32>,
    /// Consecutive passed runs that confirm recovery (default: `agent.success_threshold`).
    pub success_threshold: Option<u32>,
    /// Status page component (tag `component`).
    pub component: Option<String>,
    /// Labels alert rules select on; not written to the store.
    pub tags: Option<Vec<String>>,
    /// Labels its alerts carry; not written to the store.
    pub labels: Option<BTreeMap<String, String>>,
    /// Endpoint, check or component ids it needs: while one of them is alerting, its own alerts wait.
    pub depends_on: Option<Vec<String>>,
    /// Accept any TLS certificate in every step (default false; also spelled `insecure_skip_verify`).
    #[serde(alias = "insecure_skip_verify")]
    pub tls_skip_verify: Option<bool>,
    /// Resume TLS sessions between requests (default false: a full handshake each time).
    pub tls_resume: Option<bool>,
    /// The most of each response body that is read (default `1MiB`).
    pub max_body: Option<ByteSize>,
    /// Redirects each step follows (default 5; 0 treats a redirect as the response).
    pub follow_redirects: Option<u32>,
    /// The requests, run in order.
    pub steps: Option<Vec<RawStep>>,
}

/// One `[[checks.steps]]` entry: a request, what to save from its response, and what must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Name, unique in the check; later steps refer to it as `{{steps.NAME.…}}`.
    pub name: Option<String>,
    /// Request method (default `GET`).
    pub method: Option<String>,
    /// URL (template).
    pub url: Option<String>,
    /// Query parameters added to the URL (values are templates, percent-encoded).
    pub query: Option<BTreeMap<String, String>>,
    /// Request headers (values are templates).
    pub headers: Option<BTreeMap<String, String>>,
    /// Raw request body (template).
    pub body: Option<String>,
    /// JSON request body; its strings are templates. Sets `content-type: application/json`.
    pub json: Option<serde_json::Value>,
    /// Form request body (values are templates). Sets `content-type: application/x-www-form-urlencoded`.
    pub form: Option<BTreeMap<String, String>>,
    /// Time limit of this step (default: the check's `timeout`).
    pub timeout: Option<HumanDuration>,
    /// Wait this long before sending the step (a change the previous step made takes time to show).
    pub pause: Option<HumanDuration>,
    /// Values to save for later steps as `{{vars.NAME}}`: `{ json = "$.id" }`, `{ header = "location" }` or
    /// `{ regex = "token=(\\w+)" }` (the first capture group, or the whole match).
    pub extract: Option<BTreeMap<String, RawExtract>>,
    /// Assertions on the response; without a `status` assertion a step expects `2xx`.
    #[serde(rename = "assert")]
    pub assertions: Option<Vec<RawAssertion>>,
    /// Run this step even when an earlier one failed (cleanup). Its failure is reported, not counted as the
    /// check's failure.
    pub finally: Option<bool>,
    /// Attempts after a failed one (default 0); only for requests that are safe to repeat.
    pub retries: Option<u32>,
    /// Wait between attempts (default `1s`).
    pub retry_delay: Option<HumanDuration>,
    /// Run the step only when this condition holds: `"{{env.region}} == eu"`, `"{{steps.create.status}} >= 400"`,
    /// `"{{vars.id}}"` (non-empty, not `false` or `0`); `==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`.
    pub run_if: Option<String>,
    /// Skip the step when this condition holds (same syntax as `run_if`).
    pub skip_if: Option<String>,
    /// An OAuth2 client-credentials token request (RFC 6749 §4.4) instead of `method`/`url`/body: later
    /// steps send `Authorization = "Bearer {{steps.NAME.body.access_token}}"`.
    pub oauth2: Option<RawOAuth2>,
}

/// `oauth2 = { token_url = "…", client_id = "…", client_secret = "{{env.secret}}", scope = "…" }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth2 {
    /// The token endpoint (template).
    pub token_url: Option<String>,
    /// Client id and secret (templates: keep the secret in an environment's variables or `${ENV}`).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated scopes (optional).
    pub scope: Option<String>,
    /// `audience` (Auth0, Okta and others ask for one; optional).
    pub audience: Option<String>,
    /// How the client authenticates: `basic` (HTTP Basic, the RFC's default) or `body` (form fields).
    pub client_auth: Option<String>,
}

/// Where an extracted value comes from; exactly one key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtract {
    pub json: Option<String>,
    pub header: Option<String>,
    pub regex: Option<String>,
}

/// One string or a list of them, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts(pub Vec<String>);

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Texts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Texts, E> {
                Ok(Texts(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Texts, A::Error> {
                let mut all = Vec::new();
                while let Some(t) = seq.next_element::<String>()? {
                    all.push(t);
                }
                Ok(Texts(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// What a status assertion accepts, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSpec {
    Exact(i64),
    OneOf(Vec<i64>),
    Class(String),
}

impl<'de> Deserialize<'de> for StatusSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StatusSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a status code (200), a list of codes ([200, 204]) or a class (\"2xx\")")
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<StatusSpec, E> {
                Ok(StatusSpec::Exact(v))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<StatusSpec, E> {
                Ok(StatusSpec::Exact(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<StatusSpec, E> {
                Ok(StatusSpec::Class(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusSpec, A::Error> {
                let mut codes = Vec::new();
                while let Some(c) = seq.next_element::<i64>()? {
                    codes.push(c);
                }
                Ok(StatusSpec::OneOf(codes))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `[[maintenance]]` window: one-off (`start` and `end`) or recurring (`cron`, or `days` and `at`, with a
/// `duration` and a `timezone`), naming `endpoints`, `components` or `all = true`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMaintenance {
    /// Identifier for lists and logs (default `maintenance-N`).
    pub id: Option<String>,
    /// What is done, for lists, the status page and reports.
    pub title: Option<String>,
    /// One-off: start, RFC 3339 with an offset (`2026-12-01T02:00:00Z`).
    pub start: Option<String>,
    /// One-off: end, RFC 3339 with an offset.
    pub end: Option<String>,
    /// Recurring: a five-field cron expression in `timezone` (`0 3 * * sun`).
    pub cron: Option<String>,
    /// Recurring: weekdays (`["sat", "sun"]`), with `at`; instead of `cron`.
    pub days: Option<Vec<String>>,
    /// Recurring: the local start time (`"03:00"`), with `days`.
    pub at: Option<String>,
    /// Recurring: how long each occurrence lasts (elapsed time).
    pub duration: Option<HumanDuration>,
    /// Recurring: IANA time zone of `cron`/`at` (default `UTC`).
    pub timezone: Option<String>,
    /// The endpoint (and check) ids it silences.
    pub endpoints: Option<Vec<String>>,
    /// The components it silences.
    pub components: Option<Vec<String>>,
    /// Silence everything.
    pub all: Option<bool>,
}

/// `[aggregator]`: rollups (DESIGN.md §5.5).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAggregator {
    /// How long after a minute ends it is closed, so late points still count (default `90s`).
    pub lateness: Option<HumanDuration>,
    /// On the first start, how much existing history is rolled up (default `1d`).
    pub backfill: Option<HumanDuration>,
    /// Latency objective for the rollups' `under_threshold` count (default `300ms`).
    pub latency_objective: Option<HumanDuration>,
    /// `"K/N"`: roll up only shard K of N of the endpoints (run N aggregators, K = 1..N). Default: all.
    pub shard: Option<String>,
}
