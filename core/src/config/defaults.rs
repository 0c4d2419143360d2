//! Every default value of the configuration, in one place. The README's configuration tables quote these.

use std::time::Duration;

pub const REGION: &str = "local";
pub const ENVIRONMENT: &str = "production";
pub const INTERVAL: Duration = Duration::from_secs(5);
pub const TIMEOUT: Duration = Duration::from_secs(2);
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
pub const FAILURE_THRESHOLD: u32 = 3;
pub const SUCCESS_THRESHOLD: u32 = 1;
/// Probes in flight at once, across all endpoints.
pub const CONCURRENCY: usize = 4096;
/// Points waiting between the probe loop and the writer.
pub const QUEUE_CAPACITY: usize = 200_000;
pub const BATCH_MAX_POINTS: usize = 5_000;
pub const BATCH_MAX_AGE: Duration = Duration::from_secs(1);
pub const SQLITE_PATH: &str = "data/watchpost.db";
/// The spool's directory when the store is InfluxDB (with SQLite: `spool/` beside the database file).
pub const SPOOL_DIR: &str = "data/spool";
pub const SPOOL_MAX_BYTES: u64 = 1 << 30;
/// The smallest spool that holds a few full batches.
pub const SPOOL_MIN_BYTES: u64 = 64 << 10;
pub const SPOOL_REPLAY_RATE: u64 = 50_000;
pub const RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Time limit of every request to InfluxDB.
pub const INFLUX_TIMEOUT: Duration = Duration::from_secs(10);
pub const LISTEN: &str = "127.0.0.1:9090";
pub const FOLLOW_REDIRECTS: u32 = 5;
pub const MAX_BODY: u64 = 1 << 20;
pub const METHOD: &str = "GET";
/// A domain endpoint's schedule: registrations change slowly, and registries' RDAP services rate-limit, so
/// once a day, a slow answer allowed, and a retry after a miss ten minutes later (not `agent.*`).
pub const DOMAIN_INTERVAL: Duration = Duration::from_secs(86_400);
pub const DOMAIN_TIMEOUT: Duration = Duration::from_secs(10);
pub const DOMAIN_RETRY_INTERVAL: Duration = Duration::from_secs(600);
/// Wait between the attempts of a step with `retries`.
pub const STEP_RETRY_DELAY: Duration = Duration::from_secs(1);
/// A status assertion applied when an HTTP endpoint declares none of its own.
pub const STATUS_CLASS: u8 = 2;
/// Multi-step checks create and delete things: once a minute, not every few seconds.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// How late a push report may arrive and still count for its period.
pub const PUSH_GRACE: Duration = Duration::from_secs(30);
/// How long the step results of multi-step checks are kept (SQLite; InfluxDB keeps its retention policy's).
pub const CHECK_HISTORY: Duration = Duration::from_secs(14 * 86_400);
/// How long after a minute ends the aggregator closes it.
pub const LATENESS: Duration = Duration::from_secs(90);
/// How much existing history the aggregator rolls up on its first start.
pub const BACKFILL: Duration = Duration::from_secs(86_400);
/// The latency objective of the rollups' `under_threshold` count.
pub const LATENCY_OBJECTIVE: Duration = Duration::from_millis(300);
/// The state database when the store is InfluxDB (with SQLite: `state.db` beside the database file).
pub const STATE_PATH: &str = "data/state.db";
pub const STATUSPAGE_LISTEN: &str = "127.0.0.1:8080";
/// Share of a `partial_outage` second that counts against uptime (Statuspage's convention).
pub const PARTIAL_OUTAGE_WEIGHT: f64 = 0.3;
/// Days of uptime bars on the status page.
pub const HISTORY_DAYS: u32 = 90;
/// How often alert rules are evaluated against the store.
pub const EVALUATION_INTERVAL: Duration = Duration::from_secs(1);
/// How far before the last read each store read of the alerting evaluator reaches.
pub const ALERT_LOOKBACK: Duration = Duration::from_secs(10);
/// How long an acknowledge link in a page works.
pub const ACK_LINK_TTL: Duration = Duration::from_secs(86_400);
/// The longest wait between two attempts of a failing alert delivery.
pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(300);
/// A region whose newest point is older than this (and than three probe intervals) is silent.
pub const REGION_STALE_AFTER: Duration = Duration::from_secs(60);
/// Requests per second to a hosted status page (the providers' published limit).
pub const PUBLISH_REQUESTS_PER_SECOND: f64 = 1.0;
