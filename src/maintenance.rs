//! `watchpost maintenance list`: past, active and upcoming maintenance windows from every source; `start` and
//! `end` go through the status page's admin API (see `admin.rs`).

use std::process::ExitCode;
use watchpost::settings::Settings;
use watchpost_core::time::{format_rfc3339, now_nanos, Nanos, TimeRange};

#[derive(clap::Subcommand)]
pub enum MaintenanceCommand {
    /// List the windows that overlap a range (default: the last 7 days and the next 30), with their state.
    List {
        /// Start of the range: RFC 3339 (`2026-12-01T00:00:00Z`), a UTC date (`2026-12-01`), or a duration ago (`7d`).
        #[arg(long, default_value = "7d", value_parser = parse_when_past)]
        from: Nanos,
        /// End of the range: RFC 3339, a UTC date, or a duration ahead (`30d`).
        #[arg(long, default_value = "30d", value_parser = parse_when_future)]
        to: Nanos,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::status::Format::Table)]
        format: crate::status::Format,
    },
    /// Start (or schedule) a window now through the status page's admin API: the agents stop probing what it
    /// covers within seconds, and the page shows it.
    Start(crate::admin::StartArgs),
    /// End a window started through the admin API (or cancel one not yet begun).
    End {
        #[command(flatten)]
        target: crate::admin::Target,
        /// The window's id (printed by `start`, listed by `list`).
        id: String,
    },
}

fn parse_when(s: &str, sign: i64) -> Result<Nanos, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_nanosecond() as Nanos);
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp().as_nanosecond() as Nanos).map_err(|e| format!("{s:?}: {e}"));
    }
    match watchpost_core::config::parse_duration(s) {
        Ok(d) => Ok(now_nanos() + sign * watchpost_core::time::duration_nanos(d)),
        Err(_) => Err(format!("{s:?}: expected RFC 3339 (2026-12-01T00:00:00Z), a date (2026-12-01) or a duration (7d)")),
    }
}

fn parse_when_past(s: &str) -> Result<Nanos, String> {
    parse_when(s, -1)
}

fn parse_when_future(s: &str) -> Result<Nanos, String> {
    parse_when(s, 1)
}

pub async fn main(settings: &Settings, cmd: MaintenanceCommand) -> anyhow::Result<ExitCode> {
    let cfg = &*settings.core;
    let (from, to, format) = match cmd {
        MaintenanceCommand::List { from, to, format } => (from, to, format),
        MaintenanceCommand::Start(args) => return crate::admin::start_maintenance(settings, args).await,
        MaintenanceCommand::End { target, id } => return crate::admin::end_maintenance(settings, target, &id).await,
    };
    if to <= from {
        eprintln!("error: --to must be after --from");
        return Ok(ExitCode::from(crate::EXIT_INVALID));
    }
    let sources = watchpost_core::maintenance::sources(cfg);
    let windows = watchpost_core::maintenance::windows(&sources, TimeRange::new(from, to)).await;
    let now = now_nanos();
    let state = |w: &watchpost_core::maintenance::Window| {
        if w.end <= now {
            "past"
        } else if w.start <= now {
            "ACTIVE"
        } else {
            "upcoming"
        }
    };
    match format {
        crate::status::Format::Json => {
            let items: Vec<serde_json::Value> = windows
                .iter()
                .map(|w| {
                    serde_json::json!({
                        "id": w.id, "title": w.title, "state": state(w).to_ascii_lowercase(),
                        "start": format_rfc3339(w.start), "end": format_rfc3339(w.end),
                        "scope": w.scope.describe(), "source": w.source,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        crate::status::Format::Table => {
            if windows.is_empty() {
                println!("no maintenance windows between {} and {}", format_rfc3339(from), format_rfc3339(to));
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = windows
                .iter()
                .map(|w| {
                    vec![
                        w.id.clone(),
                        state(w).into(),
                        format_rfc3339(w.start),
                        format_rfc3339(w.end),
                        watchpost_core::config::format_duration(std::time::Duration::from_nanos((w.end - w.start).max(0) as u64)),
                        w.scope.describe(),
                        w.title.clone(),
                    ]
                })
                .collect();
            crate::status::print_rows(&["WINDOW", "STATE", "START (UTC)", "END (UTC)", "LASTS", "SILENCES", "TITLE"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}
