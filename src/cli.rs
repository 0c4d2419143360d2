//! The command line: every subcommand and option, with the help text `--help` shows.

use crate::{admin, checks, maintenance, oncall, report, status};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "watchpost",
    version,
    about = "Service health: probes, API checks, confirmed outages, availability and latency.",
    long_about = "Watchpost probes HTTP(S) and TCP endpoints on a fixed schedule, counts an endpoint as down only after \
    consecutive misses (three by default), and stores availability and latency points in an embedded SQLite \
    database (or InfluxDB).\n\nStart with `watchpost run --config examples/local.toml`, then `watchpost status`."
)]
pub(crate) struct Cli {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WATCHPOST_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    /// Log filter, e.g. `info`, `debug`, `watchpost_agent=debug` (also RUST_LOG).
    #[arg(long, global = true, env = "WATCHPOST_LOG", default_value = "info")]
    pub(crate) log: String,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    Alerting {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: Option<AlertingCommand>,
    },
    /// Silences: hold back the alerts whose labels match, for a while (kept in the state database).
    Silence {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: crate::alerts::SilenceCommand,
    },
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
    /// Take an acknowledgement back: the alert's escalation goes on where it stopped.
    Unack {
        #[command(flatten)]
        config: ConfigArg,
        /// The alert's (or group's) key as `watchpost alerts` prints it.
        alert: String,
    },
    /// Validate a configuration file and print a summary, or every error with its key and line (exit 2).
    CheckConfig {
        /// The configuration file (.toml, .yaml or .yml); the same as `--config FILE`.
        file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print every endpoint's confirmed state from the store: since when, last latency, availability over the
    /// last hour and day (to the aggregator's last closed minute, from the sums it saves; summed from the store
    /// when no aggregator is running).
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
    /// Convert a Gatus or blackbox_exporter configuration into Watchpost's, listing what could not be carried
    /// over (also as comments at the top of what is written). What is written passes `check-config`.
    Import {
        /// Whose configuration FILE is.
        #[arg(value_enum)]
        from: ImportFrom,
        /// The other tool's configuration (YAML).
        file: PathBuf,
        /// Write here instead of standard output (refused if it exists, unless --force).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace --output if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Multi-step API checks: run them now (for CI, with a JUnit report) or show their history.
    Checks {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: checks::ChecksCommand,
    },
}

/// The tools `watchpost import` reads.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ImportFrom {
    /// Gatus's `endpoints:` (conditions kept as written: Watchpost compiles them).
    Gatus,
    /// blackbox_exporter's `modules:` (as `[modules.NAME]`, for `/probe`).
    Blackbox,
}

#[derive(Subcommand)]
pub(crate) enum AlertingCommand {
    /// Print where an alert with these labels would go: its routes, policy, notifiers and group, and
    /// what would hold it back now (like `amtool config routes test`).
    TestRoute {
        /// The alert's labels, `k=v,k=v` (rule, endpoint, component, environment, severity, region and
        /// any configured ones).
        #[arg(long)]
        labels: String,
    },
}

#[derive(clap::Subcommand)]
pub(crate) enum StatuspageCommand {
    /// Write the page, its JSON API, feeds and badges into DIR as static files for any web server.
    Export {
        /// The directory to write (created if missing; files in it are replaced).
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
pub(crate) struct ConfigArg {
    /// The configuration file (.toml, .yaml or .yml). Accepted before or after a subcommand's own
    /// subcommand (`maintenance list --config F`).
    #[arg(short, long, env = "WATCHPOST_CONFIG", default_value = "watchpost.toml", global = true)]
    pub(crate) config: PathBuf,
}
