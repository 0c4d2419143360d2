//! `watchpost alerts` and `watchpost ack`: read and acknowledge alerts in the state database directly (run
//! them on the machine that holds it; elsewhere, `POST /api/v1/admin/alerts/{key}/ack` on the status page).

use anyhow::Context as _;
use std::process::ExitCode;
use watchpost_core::config::Config;
use watchpost_core::state::{AlertState, StateDb, StateError};
use watchpost_core::time::{format_rfc3339, now_nanos};

pub enum Command {
    List { limit: usize },
    Ack { alert: String, by: String },
}

pub async fn main(cfg: &Config, command: Command) -> anyhow::Result<ExitCode> {
    // Reading (or acknowledging in) a state database that does not exist would create an empty one and
    // answer "no alerts" for a mistyped path.
    anyhow::ensure!(
        cfg.state.path.exists(),
        "{}: state: no state database at {}: nothing has been recorded there yet (is `state.path` right? `watchpost run` or `watchpost alerting` creates it)",
        cfg.file,
        cfg.state.path.display()
    );
    let db = StateDb::open(&cfg.state.path).await.with_context(|| format!("{}: state", cfg.file))?;
    match command {
        Command::List { limit } => {
            let rows = db.recent_alerts(limit).await?;
            if rows.is_empty() {
                println!("no alerts in {}", cfg.state.path.display());
                return Ok(ExitCode::SUCCESS);
            }
            println!("{:<40} {:<9} {:<25} {:<6} {:<18} DETAIL", "ALERT", "STATE", "SINCE", "LEVEL", "ACKNOWLEDGED");
            for r in rows {
                let acked = r.acked_by.as_deref().map_or("-".to_string(), |b| b.to_string());
                let detail = if r.note.is_empty() { r.detail.clone() } else { format!("{} ({})", r.detail, r.note) };
                println!("{:<40} {:<9} {:<25} {:<6} {:<18} {detail}", r.key, r.state.as_str(), format_rfc3339(r.since), r.level, acked);
            }
            let counts = db.delivery_counts().await?;
            println!("\noutbox: {} waiting, {} sent, {} failed", counts.waiting, counts.sent, counts.failed);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ack { alert, by } => match db.acknowledge_alert(&alert, &by, now_nanos()).await {
            Ok(r) if r.acked_by.as_deref() == Some(by.as_str()) => {
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
        },
    }
}
