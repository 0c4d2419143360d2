//! `watchpost report`: a partner's SLA report (`[sla.NAME]`) for a month, a quarter or a range, as JSON,
//! CSV or printable HTML, read from the aggregator's rollups.

use anyhow::Context as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use watchpost_aggregator::config::AggregatorParts;
use watchpost_aggregator::report::{self, period, render, Inputs};
use watchpost_core::config::Config;
use watchpost_core::time::{now_nanos, TimeRange};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The report definition: NAME of an `[sla.NAME]` section.
    #[arg(long)]
    sla: String,
    /// A month (`2026-10`) or a quarter (`2026-Q4`), from midnight to midnight in the report's time zone.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    period: Option<String>,
    /// Start of a custom range: a date (`2026-10-01`, midnight in the report's time zone) or RFC 3339.
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// End of a custom range: a date (that whole day is included) or RFC 3339 (exclusive).
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Json)]
    format: ReportFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Json,
    Csv,
    Html,
}

pub async fn main(cfg: &Config, parts: &AggregatorParts, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let Some(sla) = parts.sla.get(&args.sla) else {
        let known: Vec<&str> = parts.sla.keys().map(String::as_str).collect();
        let hint = if known.is_empty() {
            "the configuration defines none (add an [sla.NAME] section)".to_string()
        } else {
            format!("defined: {}", known.join(", "))
        };
        eprintln!("error: {}: no SLA report named `{}`; {hint}", cfg.file, args.sla);
        return Ok(ExitCode::from(crate::EXIT_INVALID));
    };
    let period = match period::resolve(args.period.as_deref(), args.from.as_deref(), args.to.as_deref(), &sla.tz) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(crate::EXIT_INVALID));
        }
    };
    let store = watchpost_core::store::open_existing(&cfg.store).await.with_context(|| format!("{}: store", cfg.file))?;
    let sources = watchpost_core::maintenance::sources(cfg);
    let windows = watchpost_core::maintenance::windows(&sources, TimeRange::new(period.from, period.to)).await;
    let inputs = Inputs {
        sla,
        period,
        endpoints: &cfg.endpoints,
        windows,
        rollup_objective_ms: cfg.aggregator.latency_objective.as_secs_f64() * 1e3,
        now: now_nanos(),
    };
    // Progress on a terminal only: a report piped into a file or run by cron stays quiet.
    let tty = std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize| {
        if tty {
            eprint!("\rreading rollups: {done}/{total} ranges");
            let _ = std::io::stderr().flush();
        }
    };
    let report = report::build(&*store, inputs, &mut progress).await?;
    if tty {
        eprint!("\r\x1b[2K");
    }
    let format = match args.format {
        ReportFormat::Json => render::Format::Json,
        ReportFormat::Csv => render::Format::Csv,
        ReportFormat::Html => render::Format::Html,
    };
    let text = render::render(&report, format);
    if report.data_until < report.period.to {
        eprintln!("note: partial report: rollups cover the period up to {}", period::local_human(report.data_until, &report.tz));
    }
    if let Some(start) = report.rolled_up_from.filter(|s| *s > report.period.from) {
        eprintln!(
            "note: incomplete report: rollups exist from {} on only; roll up the history before it with \
             `watchpost aggregator --backfill {}`",
            period::local_human(start, &report.tz),
            watchpost_core::time::format_rfc3339(report.period.from)
        );
    }
    for s in report.sections.iter().filter(|s| !s.unmonitored_endpoints.is_empty()) {
        eprintln!(
            "note: incomplete report: no rollups at all for {} ({} {}) in this period; if their points are in the store, \
             roll them up with `watchpost aggregator --backfill FROM`",
            s.unmonitored_endpoints.join(", "),
            s.component,
            s.environment
        );
    }
    match args.out {
        Some(path) => {
            std::fs::write(&path, &text).with_context(|| format!("cannot write the report to {}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), text.len());
        }
        None => std::io::stdout().write_all(text.as_bytes()).context("cannot write the report to standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}
