//! `watchpost alerts`, `watchpost ack`, `watchpost silence` and `watchpost alerting test-route`: read and
//! change alerts and silences in the state database directly (run them on the machine that holds it;
//! elsewhere, the status page's admin API: `/api/v1/admin/alerts`, `/api/v1/admin/silences`).

use anyhow::Context as _;
use std::process::ExitCode;
use watchpost::settings::Settings;
use watchpost_alerting::config::AlertingConfig;
use watchpost_alerting::is_group;
use watchpost_core::config::{format_duration, Config};
use watchpost_core::labels::{self, Matcher};
use watchpost_core::state::{AlertState, NewSilence, StateDb, StateError};
use watchpost_core::time::{format_rfc3339, now_nanos, Nanos};

pub enum Command {
    List { limit: usize },
    Ack { alert: String, by: String },
    Unack { alert: String },
    TestRoute { labels: String },
    Silence(SilenceCommand),
}

#[derive(clap::Subcommand)]
pub enum SilenceCommand {
    /// Silence the alerts that match every `--matcher`: they fire but page nobody until it ends; one still
    /// firing then pages at once.
    Add {
        /// `name=value`, `name!=value`, `name=~regex` or `name!~regex` (repeat for more; all must hold).
        #[arg(long = "matcher", short = 'm', required = true)]
        matchers: Vec<String>,
        /// How long from now (`2h`, `30m`, `1d`).
        #[arg(long = "for", value_parser = watchpost_core::config::parse_duration)]
        duration: std::time::Duration,
        /// Why (shown in `watchpost alerts` and `silence list`).
        #[arg(long)]
        comment: String,
        /// Who silences.
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// List the silences that have not ended.
    List,
    /// End a silence now.
    Expire {
        /// Its id, as `silence add` and `silence list` print it.
        id: String,
    },
}

/// Opens the state database, which must exist: reading (or writing to) one that does not would create an
/// empty one and answer "no alerts" for a mistyped path.
async fn open(cfg: &Config) -> anyhow::Result<StateDb> {
    anyhow::ensure!(
        cfg.state.path.exists(),
        "{}: state: no state database at {}: nothing has been recorded there yet (is `state.path` right? `watchpost run` or `watchpost alerting` creates it)",
        cfg.file,
        cfg.state.path.display()
    );
    StateDb::open(&cfg.state.path).await.with_context(|| format!("{}: state", cfg.file))
}

pub async fn main(settings: &Settings, command: Command) -> anyhow::Result<ExitCode> {
    let cfg = &settings.core;
    match command {
        Command::TestRoute { labels } => test_route(settings, &labels).await,
        Command::List { limit } => list(&open(cfg).await?, cfg, limit).await,
        Command::Ack { alert, by } => ack(&open(cfg).await?, &alert, &by).await,
        Command::Unack { alert } => match open(cfg).await?.unacknowledge_alert(&alert).await {
            Ok(_) => {
                println!("{alert}: acknowledgement taken back; its escalation goes on within a second");
                Ok(ExitCode::SUCCESS)
            }
            Err(e @ (StateError::NotFound { .. } | StateError::Conflict(_))) => {
                eprintln!("error: {e}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        },
        Command::Silence(c) => silence(&open(cfg).await?, c).await,
    }
}

async fn list(db: &StateDb, cfg: &Config, limit: usize) -> anyhow::Result<ExitCode> {
    let rows = db.recent_alerts(limit).await?;
    let now = now_nanos();
    let silences = db.silences(now).await?;
    if rows.is_empty() && silences.is_empty() {
        println!("no alerts in {}", cfg.state.path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let (groups, alerts): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| is_group(&r.key));
    if !alerts.is_empty() {
        println!("{:<40} {:<9} {:<25} {:<6} {:<18} DETAIL", "ALERT", "STATE", "SINCE", "LEVEL", "ACKNOWLEDGED");
        for r in &alerts {
            let acked = r.acked_by.as_deref().unwrap_or("-");
            let mut detail = if r.note.is_empty() { r.detail.clone() } else { format!("{} ({})", r.detail, r.note) };
            if !r.held.is_empty() {
                detail = format!("{detail} [held: {}]", r.held);
            }
            println!("{:<40} {:<9} {:<25} {:<6} {:<18} {detail}", r.key, r.state.as_str(), format_rfc3339(r.since), r.level, acked);
        }
    }
    if !groups.is_empty() {
        println!("\n{:<40} {:<9} {:<25} {:<6} {:<18} ALERTS", "GROUP", "STATE", "SINCE", "LEVEL", "ACKNOWLEDGED");
        for g in &groups {
            let acked = g.acked_by.as_deref().unwrap_or("-");
            let members = if g.members.is_empty() { "-".to_string() } else { g.members.join(", ") };
            println!("{:<40} {:<9} {:<25} {:<6} {:<18} {members}", g.key, g.state.as_str(), format_rfc3339(g.since), g.level, acked);
        }
    }
    if !silences.is_empty() {
        println!("\n{:<14} {:<25} {:<25} {:<12} MATCHERS (COMMENT)", "SILENCE", "STARTS", "ENDS", "BY");
        for s in &silences {
            let state = if s.active_at(now) { "" } else { " (not started)" };
            println!(
                "{:<14} {:<25} {:<25} {:<12} {} ({}){state}",
                s.id,
                format_rfc3339(s.starts_at),
                format_rfc3339(s.ends_at),
                s.created_by,
                s.matchers.join(" "),
                s.comment
            );
        }
    }
    let counts = db.delivery_counts().await?;
    println!("\noutbox: {} waiting, {} sent, {} failed", counts.waiting, counts.sent, counts.failed);
    Ok(ExitCode::SUCCESS)
}

async fn ack(db: &StateDb, alert: &str, by: &str) -> anyhow::Result<ExitCode> {
    match db.acknowledge_alert(alert, by, now_nanos()).await {
        Ok(r) if r.acked_by.as_deref() == Some(by) => {
            println!("{alert}: acknowledged by {by}; escalation stops, notifiers are told within a second");
            Ok(ExitCode::SUCCESS)
        }
        Ok(r) => {
            println!("{alert}: already acknowledged by {}", r.acked_by.unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Err(StateError::NotFound { .. }) => {
            eprintln!("{alert}: no such alert (`watchpost alerts` lists them)");
            Ok(ExitCode::FAILURE)
        }
        Err(StateError::Conflict(m)) => {
            let firing = AlertState::Firing.as_str();
            eprintln!("{m}: only a {firing} alert can be acknowledged");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// Parses every matcher, reporting all that do not parse.
pub fn matchers(list: &[String]) -> Result<Vec<Matcher>, Vec<String>> {
    let (ok, bad): (Vec<_>, Vec<_>) = list.iter().map(|m| Matcher::parse(m)).partition(Result::is_ok);
    if bad.is_empty() {
        Ok(ok.into_iter().flatten().collect())
    } else {
        Err(bad.into_iter().filter_map(Result::err).collect())
    }
}

async fn silence(db: &StateDb, command: SilenceCommand) -> anyhow::Result<ExitCode> {
    let now = now_nanos();
    match command {
        SilenceCommand::Add { matchers: list, duration, comment, by } => {
            let parsed = match matchers(&list) {
                Ok(m) => m,
                Err(errors) => {
                    for e in errors {
                        eprintln!("error: --matcher {e}");
                    }
                    return Ok(ExitCode::from(crate::EXIT_INVALID));
                }
            };
            if duration.is_zero() || comment.trim().is_empty() {
                eprintln!("error: a silence needs a --for longer than zero and a --comment saying why");
                return Ok(ExitCode::from(crate::EXIT_INVALID));
            }
            let ends = now.saturating_add(watchpost_core::time::duration_nanos(duration));
            let s = db
                .create_silence(
                    NewSilence { matchers: parsed, starts_at: now, ends_at: ends, created_by: by, comment: comment.trim().into() },
                    now,
                )
                .await?;
            println!("{}", s.id);
            eprintln!("silence {} until {} ({}): {}", s.id, format_rfc3339(s.ends_at), format_duration(duration), s.matchers.join(" "));
            Ok(ExitCode::SUCCESS)
        }
        SilenceCommand::List => {
            let list = db.silences(now).await?;
            if list.is_empty() {
                println!("no silences");
            }
            for s in list {
                let state = if s.active_at(now) { "active" } else { "pending" };
                println!(
                    "{}  {state}  until {}  by {}  {}  ({})",
                    s.id,
                    format_rfc3339(s.ends_at),
                    s.created_by,
                    s.matchers.join(" "),
                    s.comment
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SilenceCommand::Expire { id } => match db.expire_silence(&id, now).await {
            Ok(s) => {
                println!("silence {} expired; alerts it held that still fire page now", s.id);
                Ok(ExitCode::SUCCESS)
            }
            Err(e @ (StateError::NotFound { .. } | StateError::Conflict(_))) => {
                eprintln!("error: {e}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// `watchpost alerting test-route --labels …`.
async fn test_route(settings: &Settings, text: &str) -> anyhow::Result<ExitCode> {
    let labels = match labels::parse_list(text) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: --labels {e}");
            return Ok(ExitCode::from(crate::EXIT_INVALID));
        }
    };
    let a: &AlertingConfig = &settings.alerting;
    let rule = labels.get("rule").and_then(|r| a.rules.iter().find(|x| &x.name == r));
    match (rule.and_then(|r| r.policy.as_deref()), &a.route) {
        (Some(p), _) => {
            let via = a.policies.get(p).map(|p| p.notifiers.join(", ")).unwrap_or_default();
            println!("rule `{}` pages policy {p} via {via} directly, each alert on its own (no routing)", labels["rule"]);
        }
        (None, None) => println!("no routes configured ([alerting.route]): rules page their own policy"),
        (None, Some(root)) => {
            let mut routes = Vec::new();
            root.resolve(&labels, &mut routes);
            for r in routes {
                let key = format!(
                    "{}/{}/{}",
                    labels.get("rule").map_or("RULE", String::as_str),
                    labels.get("endpoint").map_or("ENDPOINT", String::as_str),
                    labels.get("environment").map_or("ENV", String::as_str)
                );
                let (group, _) = watchpost_alerting::group::key(r, &key, &labels);
                println!("route {}: {}", r.name, r.describe());
                println!("  group {group}");
            }
        }
    }
    // What would hold it back now (the evaluator's own reasoning), when this machine has the state database.
    if settings.core.state.path.exists() {
        let db = open(&settings.core).await?;
        let now: Nanos = now_nanos();
        let silences = db.silences(now).await?;
        let open = db.open_alerts().await?;
        let alerting = settings.alerting();
        let depends = watchpost_alerting::hold::dependencies(&alerting);
        let firing = open.iter().filter(|f| f.state == AlertState::Firing && !is_group(&f.key)).map(|f| (f.key.as_str(), &f.labels));
        let held = watchpost_alerting::hold::Holds::new(&alerting, &silences, &depends, firing, now).reason(&labels);
        if !held.is_empty() {
            println!("held now: {held}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
