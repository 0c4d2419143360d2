//! `watchpost`: the command line. Parses arguments, loads the configuration, and starts the parts; the work
//! itself lives in the crates (`watchpost-core`, `watchpost-agent`).

mod admin;
mod alerts;
mod checks;
mod maintenance;
mod oncall;
mod report;
mod server;
mod status;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use watchpost_agent::metrics::AgentMetrics;
use watchpost_agent::Agent;
use watchpost_core::config::{Config, StoreConfig};

/// Exit code for an invalid configuration or bad usage (clap uses 2 for usage errors too).
pub(crate) const EXIT_INVALID: u8 = 2;

#[derive(Parser)]
#[command(
    name = "watchpost",
    version,
    about = "Service health: probes, API checks, confirmed outages, availability and latency.",
    long_about = "Watchpost probes HTTP(S) and TCP endpoints on a fixed schedule, counts an endpoint as down only after \
    consecutive misses (three by default), and stores availability and latency points in an embedded SQLite \
    database (or InfluxDB).\n\nStart with `watchpost run --config examples/local.toml`, then `watchpost status`."
)]
struct Cli {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WATCHPOST_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter, e.g. `info`, `debug`, `watchpost_agent=debug` (also RUST_LOG).
    #[arg(long, global = true, env = "WATCHPOST_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run every part in one process on the configured store (the way to start on one machine).
    Run(ConfigArg),
    /// Run only the probing agent (one per region).
    Agent(ConfigArg),
    /// Run only the aggregator: minute, hour and day rollups of the store's raw points. With `--backfill`, roll
    /// up history already in the store (before the aggregator's watermarks) once, and exit.
    Aggregator {
        #[command(flatten)]
        config: ConfigArg,
        /// Roll up the raw points from this time on: a date (`2026-10-01`, UTC midnight) or RFC 3339. Writes only
        /// the rollups that are missing, so it can be run again; then exits.
        #[arg(long, value_name = "FROM")]
        backfill: Option<String>,
        /// End of the backfill (exclusive; default: where the aggregator's cycles are).
        #[arg(long, value_name = "TO", requires = "backfill")]
        to: Option<String>,
    },
    /// Run only alerting: evaluate `[[alerting.rules]]` against the store, page through the escalation
    /// policies' notifiers, and deliver from the outbox in the state database.
    Alerting(ConfigArg),
    /// List alerts that are firing or pending (and recently resolved ones) from the state database.
    Alerts {
        #[command(flatten)]
        config: ConfigArg,
        /// How many alerts to list at most.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Acknowledge a firing alert: its escalation stops, and PagerDuty, OpsGenie and Slack are told.
    Ack {
        #[command(flatten)]
        config: ConfigArg,
        /// The alert's key as `watchpost alerts` prints it (`rule/endpoint/environment`).
        alert: String,
        /// Who acknowledges (shown in the providers and the alert's history).
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Validate a configuration file and print a summary, or every error with its key and line (exit 2).
    CheckConfig {
        /// The configuration file (.toml, .yaml or .yml); the same as `--config FILE`.
        file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print every endpoint's confirmed state from the store: since when, last latency, availability.
    Status {
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = status::Format::Table)]
        format: status::Format,
    },
    /// Run only the public status page (and its admin API), or export it as static files.
    Statuspage {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: Option<StatuspageCommand>,
    },
    /// Incidents on the status page: open, update, resolve, list (through its admin API).
    Incident {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: admin::IncidentCommand,
    },
    /// Maintenance windows: list past, active and upcoming ones; start and end them through the status page.
    Maintenance {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: maintenance::MaintenanceCommand,
    },
    /// An SLA report for a partner (`[sla.NAME]`): availability against the target, downtime, error budget,
    /// incidents, latency and maintenance per component, as JSON, CSV or printable HTML.
    Report {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        args: report::ReportArgs,
    },
    /// Who is on call now (or --at a time) and the next handoffs; `export --ical` writes the rota as a calendar.
    Oncall {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        args: oncall::OncallArgs,
    },
    /// Exit 0 when URL answers 200 within 3 s, else 1: the container HEALTHCHECK (images need no curl).
    Healthcheck {
        /// What to ask: a part's `/healthz` (the process server's, or the status page's).
        #[arg(default_value = "http://127.0.0.1:9090/healthz")]
        url: String,
    },
    /// Multi-step API checks: run them now (for CI, with a JUnit report) or show their history.
    Checks {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: checks::ChecksCommand,
    },
}

#[derive(Subcommand)]
enum StatuspageCommand {
    /// Write the page, its JSON API, feeds and badges into DIR as static files for any web server.
    Export {
        /// The directory to write (created if missing; files in it are replaced).
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct ConfigArg {
    /// The configuration file (.toml, .yaml or .yml). Accepted before or after a subcommand's own
    /// subcommand (`maintenance list --config F`).
    #[arg(short, long, env = "WATCHPOST_CONFIG", default_value = "watchpost.toml", global = true)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log);
    let (path, command) = match cli.command {
        Command::CheckConfig { file, config } => return check_config(&file.unwrap_or(config.config)),
        Command::Healthcheck { url } => return healthcheck(&url),
        Command::Run(c) => (c.config, Work::Run(Parts { agent: true, aggregator: true, statuspage: true, alerting: true })),
        Command::Agent(c) => (c.config, Work::Run(Parts { agent: true, ..Parts::NONE })),
        Command::Aggregator { config, backfill: None, .. } => (config.config, Work::Run(Parts { aggregator: true, ..Parts::NONE })),
        Command::Aggregator { config, backfill: Some(from), to } => (config.config, Work::Backfill(from, to)),
        Command::Alerting(c) => (c.config, Work::Run(Parts { alerting: true, ..Parts::NONE })),
        Command::Alerts { config, limit } => (config.config, Work::Alerts(alerts::Command::List { limit })),
        Command::Ack { config, alert, by } => (config.config, Work::Alerts(alerts::Command::Ack { alert, by })),
        Command::Statuspage { config, command: None } => (config.config, Work::Run(Parts { statuspage: true, ..Parts::NONE })),
        Command::Statuspage { config, command: Some(StatuspageCommand::Export { dir }) } => (config.config, Work::Export(dir)),
        Command::Incident { config, command } => (config.config, Work::Incident(command)),
        Command::Oncall { config, args } => (config.config, Work::Oncall(args)),
        Command::Status { config, format } => (config.config, Work::Status(format)),
        Command::Checks { config, command } => (config.config, Work::Checks(command)),
        Command::Maintenance { config, command } => (config.config, Work::Maintenance(command)),
        Command::Report { config, args } => (config.config, Work::Report(args)),
    };
    let cfg = match Config::load(&path) {
        Ok(cfg) => cfg,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s); nothing was started", path.display(), errors.len());
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let result = runtime().and_then(|rt| match command {
        Work::Run(parts) => rt.block_on(run(cfg, parts)),
        Work::Status(format) => rt.block_on(status::print(&cfg, format)),
        Work::Checks(command) => rt.block_on(checks::main(&cfg, command)),
        Work::Maintenance(command) => rt.block_on(maintenance::main(&cfg, command)),
        Work::Report(args) => rt.block_on(report::main(&cfg, args)),
        Work::Incident(command) => rt.block_on(admin::incident(&cfg, command)),
        Work::Oncall(args) => oncall::main(&cfg, args),
        Work::Alerts(command) => rt.block_on(alerts::main(&cfg, command)),
        Work::Export(dir) => rt.block_on(export(cfg, &dir)),
        Work::Backfill(from, to) => rt.block_on(backfill(cfg, &from, to.as_deref())),
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn healthcheck(url: &str) -> ExitCode {
    let answer = runtime().and_then(|rt| {
        rt.block_on(async {
            let client = watchpost_core::http::client(Duration::from_secs(3)).build()?;
            Ok(client.get(url).send().await?.status())
        })
    });
    match answer {
        Ok(s) if s == reqwest::StatusCode::OK => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("{url}: {s}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{url}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What to do once the configuration is loaded.
enum Work {
    Run(Parts),
    Status(status::Format),
    Checks(checks::ChecksCommand),
    Maintenance(maintenance::MaintenanceCommand),
    Report(report::ReportArgs),
    Incident(admin::IncidentCommand),
    Oncall(oncall::OncallArgs),
    Alerts(alerts::Command),
    Export(PathBuf),
    Backfill(String, Option<String>),
}

/// A time given on the command line: a date (UTC midnight) or RFC 3339.
fn parse_time(flag: &str, s: &str) -> anyhow::Result<watchpost_core::time::Nanos> {
    let ts = match s.parse::<jiff::civil::Date>() {
        Ok(d) => d.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()),
        Err(_) => s.parse::<jiff::Timestamp>(),
    }
    .map_err(|_| anyhow::anyhow!("{flag} {s:?}: expected a date such as 2026-10-01 or an RFC 3339 time such as 2026-10-01T00:00:00Z"))?;
    Ok(i64::try_from(ts.as_nanosecond()).unwrap_or(i64::MAX))
}

/// `watchpost aggregator --backfill FROM [--to TO]`: rolls up history once, day by day, with progress.
async fn backfill(cfg: Config, from: &str, to: Option<&str>) -> anyhow::Result<ExitCode> {
    let from = parse_time("--backfill", from)?;
    let to = to.map(|t| parse_time("--to", t)).transpose()?.unwrap_or(i64::MAX);
    anyhow::ensure!(from < to, "--backfill must be before --to");
    let store = watchpost_core::store::open(&cfg.store).await.with_context(|| format!("{}: store", cfg.file))?;
    let metrics = Arc::new(watchpost_aggregator::metrics::AggregatorMetrics::default());
    let mut aggregator = watchpost_aggregator::Aggregator::new(&cfg, store, metrics);
    let started = std::time::Instant::now();
    let total = aggregator
        .backfill(from, to, &mut |day, done, days, s| {
            eprintln!(
                "backfill {} ({done}/{days}): {} minute, {} hour, {} day rollup(s) written from {} point(s)",
                watchpost_core::time::format_rfc3339(day).get(..10).unwrap_or_default(),
                s.minutes,
                s.hours,
                s.days,
                s.points_read
            );
        })
        .await?;
    println!(
        "backfill done in {:.1} s: {} rollup(s) written ({} minute, {} hour, {} day); existing rollups were kept",
        started.elapsed().as_secs_f64(),
        total.rollups_written,
        total.minutes,
        total.hours,
        total.days
    );
    Ok(ExitCode::SUCCESS)
}

/// Which long-running parts a command starts (`run` starts them all).
#[derive(Clone, Copy)]
struct Parts {
    agent: bool,
    aggregator: bool,
    statuspage: bool,
    alerting: bool,
}

impl Parts {
    const NONE: Parts = Parts { agent: false, aggregator: false, statuspage: false, alerting: false };
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn init_logging(format: LogFormat, filter: &str) {
    let filter = std::env::var("RUST_LOG").ok().unwrap_or_else(|| filter.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    // Colours only for a person at a terminal; log files and pipes get plain text.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(cfg) => {
            println!("{}: valid", path.display());
            print!("{}", cfg.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s)", path.display(), errors.len());
            ExitCode::from(EXIT_INVALID)
        }
    }
}

async fn run(cfg: Config, parts: Parts) -> anyhow::Result<ExitCode> {
    // Bind first: a port in use should stop us before any probe runs.
    // The status page alone serves its own /healthz; the process server (metrics, push) is for the others.
    let listener = if parts.agent || parts.aggregator || parts.alerting {
        Some(
            tokio::net::TcpListener::bind(cfg.server.listen)
                .await
                .map_err(|e| anyhow::anyhow!("{}: server.listen: cannot listen on {}: {e}", cfg.file, cfg.server.listen))?,
        )
    } else {
        None
    };
    // `run` starts the public page only when the file asks for one; `watchpost statuspage` always does.
    let alone = !(parts.agent || parts.aggregator || parts.alerting);
    if parts.statuspage && !alone && !cfg.statuspage.configured {
        tracing::info!("no [statuspage] section: the status page is off (add one, or run `watchpost statuspage`)");
    }
    let page_listener = if parts.statuspage && (alone || cfg.statuspage.configured) {
        Some(
            tokio::net::TcpListener::bind(cfg.statuspage.listen)
                .await
                .map_err(|e| anyhow::anyhow!("{}: statuspage.listen: cannot listen on {}: {e}", cfg.file, cfg.statuspage.listen))?,
        )
    } else {
        None
    };
    let store = watchpost_core::store::open(&cfg.store).await.with_context(|| format!("{}: store", cfg.file))?;
    tracing::info!(store = %store.describe(), listen = %cfg.server.listen, agent = parts.agent, aggregator = parts.aggregator,
        statuspage = parts.statuspage, alerting = parts.alerting && cfg.alerting.configured, "watchpost starting");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut state = server::AppState { store: Some(store.clone()), ..Default::default() };
    let mut tasks = Vec::new();
    // InfluxDB keeps its own retention (the database's retention policy or the bucket's); with SQLite the part
    // that writes raw points runs the retention job.
    if let (StoreConfig::Sqlite(sqlite), true) = (&cfg.store, parts.agent) {
        tasks.push(tokio::spawn(watchpost_core::store::retention_loop(
            store.clone(),
            sqlite.retention,
            Duration::from_secs(3600),
            stop_rx.clone(),
        )));
    }
    if parts.aggregator {
        let metrics = Arc::new(watchpost_aggregator::metrics::AggregatorMetrics::default());
        state.aggregator = Some(metrics.clone());
        let aggregator = watchpost_aggregator::Aggregator::new(&cfg, store.clone(), metrics.clone());
        tasks.push(tokio::spawn(watchpost_aggregator::run(aggregator, stop_rx.clone())));
        // Component statuses for hosted status pages, and the region gauges of /metrics.
        tasks.push(tokio::spawn(watchpost_aggregator::publish::run(Arc::new(cfg.clone()), store.clone(), metrics, stop_rx.clone())));
    }
    let agent = if parts.agent {
        if cfg.endpoints.is_empty() {
            tracing::warn!("the configuration has no endpoints: nothing will be probed");
        }
        raise_open_file_limit(cfg.agent.concurrency);
        let metrics = Arc::new(AgentMetrics::default());
        let agent = Agent::start(&cfg, store.clone(), metrics.clone()).await.map_err(|e| anyhow::anyhow!("{}: {e}", cfg.file))?;
        state.agent = Some(metrics);
        state.pushes = agent.pushes();
        Some(agent)
    } else {
        None
    };
    // `run` evaluates alerts only when the file has rules; `watchpost alerting` insists on them.
    let alerting_alone = parts.alerting && !parts.agent;
    if alerting_alone && !cfg.alerting.configured {
        anyhow::bail!("{}: no [[alerting.rules]]: there is nothing to evaluate", cfg.file);
    }
    let alerting = if parts.alerting && cfg.alerting.configured {
        let state_db =
            Arc::new(watchpost_core::state::StateDb::open(&cfg.state.path).await.with_context(|| format!("{}: state", cfg.file))?);
        let tap = agent.as_ref().map(|a| a.tap());
        let shared = Arc::new(cfg.clone());
        let alerting = watchpost_alerting::Alerting::start(shared, store.clone(), state_db, tap, stop_rx.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.file))?;
        state.alerting = Some(alerting.metrics.clone());
        Some(alerting)
    } else {
        None
    };
    if let Some(page_listener) = page_listener {
        let page =
            watchpost_statuspage::StatusPage::new(&cfg, store.clone()).await.with_context(|| format!("{}: status page", cfg.file))?;
        tracing::info!(url = %cfg.statuspage.url, listen = %cfg.statuspage.listen, state = %cfg.state.path.display(),
            admin_api = cfg.statuspage.admin_token.is_some(), "status page serving");
        tasks.push(tokio::spawn(watchpost_statuspage::refresh_loop(page.clone(), stop_rx.clone())));
        tasks.push(tokio::spawn(watchpost_statuspage::deliver::run(page.clone(), stop_rx.clone())));
        tasks.push(tokio::spawn(server::serve(page_listener, watchpost_statuspage::server::app(page), stop_rx.clone())));
    }
    if let Some(listener) = listener {
        tasks.push(tokio::spawn(server::serve(listener, server::app(state), stop_rx.clone())));
    }

    shutdown_signal().await;
    tracing::info!("shutting down: flushing points");
    if let Some(agent) = agent {
        agent.shutdown().await;
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    if let Some(a) = alerting {
        a.join().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `watchpost statuspage export DIR`: one snapshot from the store, written as files.
async fn export(cfg: Config, dir: &Path) -> anyhow::Result<ExitCode> {
    let store = watchpost_core::store::open_existing(&cfg.store).await.with_context(|| format!("{}: store", cfg.file))?;
    let page = watchpost_statuspage::StatusPage::new(&cfg, store).await.with_context(|| format!("{}: status page", cfg.file))?;
    let published = page.published();
    let files = watchpost_statuspage::export::export(&page, &published, dir).with_context(|| format!("cannot write {}", dir.display()))?;
    println!(
        "{}: {} files ({} components, overall: {})",
        dir.display(),
        files.len(),
        published.snapshot.components.len(),
        published.snapshot.overall_description
    );
    Ok(ExitCode::SUCCESS)
}

/// Every probe in flight holds a socket. Many systems start processes with a soft limit of 1,024 open files,
/// below the default concurrency; running out would show up as connect failures of healthy targets. Raise the
/// soft limit to the hard limit, and say so when even that is below what the configuration may use.
fn raise_open_file_limit(concurrency: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!(error = %e, "could not raise the open-file limit");
        }
    }
    let current = getrlimit(Resource::Nofile).current;
    // Headroom for the store, the server and the resolver.
    let needed = concurrency as u64 + 256;
    if let Some(n) = current.filter(|n| *n < needed) {
        tracing::warn!(
            open_file_limit = n,
            concurrency,
            "the open-file limit is below agent.concurrency + 256: raise it (ulimit -n, LimitNOFILE=) or lower agent.concurrency"
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
