//! `watchpost oncall`: who is on call now (or at `--at`) and the next handoffs, per schedule; `watchpost
//! oncall export --ical` writes the shifts as an iCalendar feed for calendar apps.

use anyhow::Context as _;
use std::io::Write as _;
use std::process::ExitCode;
use watchpost_core::config::Config;
use watchpost_core::time::{now_nanos, Nanos};
use watchpost_oncall::{ical, rota as oncall};

#[derive(clap::Args)]
pub struct OncallArgs {
    /// The time to look at: RFC 3339 (default: now).
    #[arg(long)]
    at: Option<String>,
    /// Only this schedule (default: all).
    #[arg(long)]
    schedule: Option<String>,
    /// How many upcoming handoffs to list.
    #[arg(long, default_value_t = 4)]
    next: usize,
    #[command(subcommand)]
    command: Option<OncallCommand>,
}

#[derive(clap::Subcommand)]
enum OncallCommand {
    /// Write the shifts as a calendar.
    Export {
        /// iCalendar (RFC 5545), the one format (the flag says what you get).
        #[arg(long, required = true)]
        ical: bool,
        /// Days of shifts from now (or --at).
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

fn local(ts: Nanos, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ts))
        .map(|t| t.to_zoned(tz.clone()).strftime("%a %Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default()
}

pub fn main(cfg: &Config, args: OncallArgs) -> anyhow::Result<ExitCode> {
    let at = match &args.at {
        None => now_nanos(),
        Some(s) => match s.parse::<jiff::Timestamp>() {
            Ok(t) => t.as_nanosecond() as Nanos,
            Err(_) => {
                eprintln!("error: --at {s:?}: expected RFC 3339 with an offset, like 2026-12-24T18:00:00+01:00");
                return Ok(ExitCode::from(crate::EXIT_INVALID));
            }
        },
    };
    let schedules: Vec<_> = cfg.oncall.values().filter(|s| args.schedule.as_ref().is_none_or(|n| &s.name == n)).collect();
    if schedules.is_empty() {
        let known: Vec<&str> = cfg.oncall.keys().map(String::as_str).collect();
        eprintln!(
            "error: {}: {}",
            cfg.file,
            match &args.schedule {
                Some(n) => format!("no schedule `{n}`; schedules: {}", known.join(", ")),
                None => "no [oncall.schedules.NAME] in the configuration".to_string(),
            }
        );
        return Ok(ExitCode::from(crate::EXIT_INVALID));
    }
    if let Some(OncallCommand::Export { days, out, .. }) = args.command {
        let to = at + i64::from(days) * 86_400_000_000_000;
        let mut text = String::new();
        for s in &schedules {
            let cal = ical::calendar(&s.name, &oncall::shifts(s, at, to), now_nanos());
            // One calendar per schedule; several are concatenated (calendar apps import each).
            text.push_str(&cal);
        }
        match out {
            Some(path) => std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?,
            None => std::io::stdout().write_all(text.as_bytes()).context("cannot write to standard output")?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    for s in schedules {
        let now: Vec<oncall::Shift> = oncall::shifts(s, at, at + 1);
        let rotation = match s.rotation {
            watchpost_core::config::oncall::Rotation::Weekly(d) => format!("weekly, {d:?}s at {}", s.handoff.strftime("%H:%M")),
            watchpost_core::config::oncall::Rotation::Daily => format!("daily at {}", s.handoff.strftime("%H:%M")),
        };
        println!("{}: {} ({rotation}, {})", s.name, s.members.join(" → "), s.tz_name);
        if let Some(cur) = now.first() {
            let note = if cur.overridden { " (override)" } else { "" };
            println!("  on call: {}{note}, since {} until {}", cur.who.join(", "), local(cur.start, &s.tz), local(cur.end, &s.tz));
        }
        let horizon = at + 400 * 86_400_000_000_000;
        for next in oncall::shifts(s, at, horizon).iter().skip(1).take(args.next) {
            let note = if next.overridden { " (override)" } else { "" };
            println!("  from {}: {}{note}", local(next.start, &s.tz), next.who.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
