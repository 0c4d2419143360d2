//! `watchpost`: the command line. Parses arguments, loads the configuration, and starts the parts; the work
//! itself lives in the crates (`watchpost-core`, `watchpost-agent`).

mod admin;
mod alerts;
mod checks;
mod cli;
mod maintenance;
mod oncall;
mod report;
mod run;
mod server;
mod status;

use anyhow::Context as _;
use clap::Parser;
use cli::{Cli, Command, LogFormat, StatuspageCommand};
use run::{run, Parts};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use watchpost::settings::Settings;
use watchpost_core::config::Config;

/// mimalloc, not glibc's malloc. Why: glibc keeps what a burst freed. An agent starved of CPU for a few
/// seconds then runs thousands of connections at once, and glibc's per-thread arenas hold their pages for
/// the life of the process (`malloc_trim` would need `unsafe`, which the workspace forbids); mimalloc hands
/// them back. At 50,000 endpoints, 3 s after such a stall, the agent kept 362 MiB under glibc, 357 under
/// jemalloc (through `LD_PRELOAD`) and 290 under mimalloc (bench/README.md, figure 4).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for an invalid configuration or bad usage (clap uses 2 for usage errors too).
pub(crate) const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log);
    let (path, command) = match cli.command {
        Command::CheckConfig { file, config } => return check_config(&file.unwrap_or(config.config)),
        Command::Healthcheck { url } => return healthcheck(&url),
        Command::Import { from, file, output, force } => return import(from, &file, output.as_deref(), force),
        Command::Run(c) => (c.config, Work::Run(Parts { agent: true, aggregator: true, statuspage: true, alerting: true })),
        Command::Agent(c) => (c.config, Work::Run(Parts { agent: true, ..Parts::NONE })),
        Command::Aggregator { config, backfill: None, .. } => (config.config, Work::Run(Parts { aggregator: true, ..Parts::NONE })),
        Command::Aggregator { config, backfill: Some(from), to } => (config.config, Work::Backfill(from, to)),
        Command::Alerting { config, command: None } => (config.config, Work::Run(Parts { alerting: true, ..Parts::NONE })),
        Command::Alerting { config, command: Some(cli::AlertingCommand::TestRoute { labels }) } => {
            (config.config, Work::Alerts(alerts::Command::TestRoute { labels }))
        }
        Command::Silence { config, command } => (config.config, Work::Alerts(alerts::Command::Silence(command))),
        Command::Alerts { config, limit } => (config.config, Work::Alerts(alerts::Command::List { limit })),
        Command::Ack { config, alert, by } => (config.config, Work::Alerts(alerts::Command::Ack { alert, by })),
        Command::Unack { config, alert } => (config.config, Work::Alerts(alerts::Command::Unack { alert })),
        Command::Statuspage { config, command: None } => (config.config, Work::Run(Parts { statuspage: true, ..Parts::NONE })),
        Command::Statuspage { config, command: Some(StatuspageCommand::Export { dir }) } => (config.config, Work::Export(dir)),
        Command::Incident { config, command } => (config.config, Work::Incident(command)),
        Command::Oncall { config, args } => (config.config, Work::Oncall(args)),
        Command::Status { config, format } => (config.config, Work::Status(format)),
        Command::Checks { config, command } => (config.config, Work::Checks(command)),
        Command::Maintenance { config, command } => (config.config, Work::Maintenance(command)),
        Command::Report { config, args } => (config.config, Work::Report(args)),
    };
    let settings = match Settings::load(&path) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s); nothing was started", path.display(), errors.len());
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let cfg = settings.core.clone();
    let result = runtime().and_then(|rt| match command {
        Work::Run(parts) => rt.block_on(run(settings, parts)),
        Work::Status(format) => rt.block_on(status::print(&cfg, format)),
        Work::Checks(command) => rt.block_on(checks::main(&cfg, command)),
        Work::Maintenance(command) => rt.block_on(maintenance::main(&settings, command)),
        Work::Report(args) => rt.block_on(report::main(&cfg, &settings.aggregator, args)),
        Work::Incident(command) => rt.block_on(admin::incident(&settings, command)),
        Work::Oncall(args) => oncall::main(&cfg, args),
        Work::Alerts(command) => rt.block_on(alerts::main(&settings, command)),
        Work::Export(dir) => rt.block_on(export(&settings, &dir)),
        Work::Backfill(from, to) => rt.block_on(backfill(&cfg, &from, to.as_deref())),
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `watchpost import gatus|blackbox FILE`: the converted configuration on stdout (or `--output`), what was
/// not carried over on stderr; exit 2 when FILE cannot be read as that tool's configuration.
fn import(from: cli::ImportFrom, file: &std::path::Path, output: Option<&std::path::Path>, force: bool) -> ExitCode {
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {shown}: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let imported = match from {
        cli::ImportFrom::Gatus => watchpost_core::import::gatus(&shown, &text),
        cli::ImportFrom::Blackbox => watchpost_core::import::blackbox(&shown, &text),
    };
    let imported = match imported {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    match output {
        None => print!("{}", imported.toml),
        Some(path) => {
            let written = if force {
                std::fs::write(path, &imported.toml)
            } else {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, imported.toml.as_bytes()))
            };
            if let Err(e) = written {
                let hint = if e.kind() == std::io::ErrorKind::AlreadyExists { " (--force replaces it)" } else { "" };
                eprintln!("error: cannot write {}: {e}{hint}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let what = match from {
        cli::ImportFrom::Gatus => "endpoint(s)",
        cli::ImportFrom::Blackbox => "module(s)",
    };
    eprintln!("{shown}: {} {what} imported", imported.written);
    if !imported.dropped.is_empty() {
        eprintln!("not carried over ({}):", imported.dropped.len());
        for d in &imported.dropped {
            eprintln!("  - {d}");
        }
    }
    ExitCode::SUCCESS
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
async fn backfill(cfg: &Config, from: &str, to: Option<&str>) -> anyhow::Result<ExitCode> {
    let from = parse_time("--backfill", from)?;
    let to = to.map(|t| parse_time("--to", t)).transpose()?.unwrap_or(i64::MAX);
    anyhow::ensure!(from < to, "--backfill must be before --to");
    let store = watchpost_core::store::open(&cfg.store).await.with_context(|| format!("{}: store", cfg.file))?;
    let metrics = Arc::new(watchpost_aggregator::metrics::AggregatorMetrics::default());
    let mut aggregator = watchpost_aggregator::Aggregator::new(cfg, store, metrics);
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
    match Settings::load(path) {
        Ok(settings) => {
            println!("{}: valid", path.display());
            print!("{}", settings.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} error(s)", path.display(), errors.len());
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// `watchpost statuspage export DIR`: one snapshot from the store, written as files.
async fn export(settings: &Settings, dir: &Path) -> anyhow::Result<ExitCode> {
    let cfg = &settings.core;
    let store = watchpost_core::store::open_existing(&cfg.store).await.with_context(|| format!("{}: store", cfg.file))?;
    let page = watchpost_statuspage::StatusPage::new(cfg, &settings.page, Default::default(), store)
        .await
        .with_context(|| format!("{}: status page", cfg.file))?;
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
