//! The agent's view of maintenance windows: a snapshot of the windows active now or soon, refreshed from the
//! `MaintenanceSource`s every [`REFRESH`], which the endpoint tasks consult at every slot. A slot inside a
//! window is not probed; a `maintenance` point records it (DESIGN.md §5.3), so rollups count the time exactly.

use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use watchpost_core::maintenance::{self, MaintenanceSource, Window};
use watchpost_core::time::{duration_nanos, now_nanos, Nanos, TimeRange};

/// How often the sources are asked; a window added through a source (the admin API) takes effect within
/// this, so it must stay below the shortest usual probe interval (DESIGN: "within one interval"). Both
/// sources answer from memory or one indexed SQLite query.
pub const REFRESH: Duration = Duration::from_secs(2);
/// How far ahead each snapshot looks: more than the refresh period, so no window starts unseen.
const AHEAD: Duration = Duration::from_secs(600);

/// The windows that matter now. Cheap to consult: one read lock and a short scan.
#[derive(Default)]
pub struct Schedule {
    windows: RwLock<Arc<Vec<Window>>>,
}

impl Schedule {
    /// Whether a window covers `endpoint` (of `component`, empty for none) at `ts`. Runs at every slot of
    /// every endpoint: no allocation, and nothing to scan when no window is near.
    pub fn covers(&self, endpoint: &str, component: &str, ts: Nanos) -> bool {
        let windows = self.windows.read().unwrap_or_else(|p| p.into_inner());
        !windows.is_empty() && windows.iter().any(|w| w.contains(ts) && w.scope.covers(endpoint, component))
    }

    fn snapshot(&self) -> Vec<Window> {
        self.windows.read().unwrap_or_else(|p| p.into_inner()).to_vec()
    }

    pub fn replace(&self, windows: Vec<Window>) {
        *self.windows.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(windows);
    }

    /// Loads the windows now (the agent calls this before its first probe).
    pub async fn refresh(&self, sources: &[Arc<dyn MaintenanceSource>]) -> Vec<Window> {
        let now = now_nanos();
        let windows = maintenance::windows(sources, TimeRange::new(now, now + duration_nanos(AHEAD))).await;
        self.replace(windows.clone());
        windows
    }
}

/// Refreshes `schedule` every [`REFRESH`] until `stop`, and logs each window as it starts and ends (checked
/// every second against the snapshot, so a short window is logged too).
pub async fn keep_fresh(schedule: Arc<Schedule>, sources: Vec<Arc<dyn MaintenanceSource>>, mut stop: watch::Receiver<bool>) {
    let mut active: Vec<(String, Nanos)> = Vec::new();
    let mut windows = schedule.snapshot();
    let mut refreshed = tokio::time::Instant::now();
    loop {
        if refreshed.elapsed() >= REFRESH {
            windows = schedule.refresh(&sources).await;
            refreshed = tokio::time::Instant::now();
        }
        let now = now_nanos();
        let current: Vec<&Window> = windows.iter().filter(|w| w.contains(now)).collect();
        for w in &current {
            if !active.iter().any(|(id, start)| *id == w.id && *start == w.start) {
                tracing::info!(window = %w.id, title = %w.title, scope = %w.scope.describe(), source = %w.source,
                    until = %watchpost_core::time::format_rfc3339(w.end), "maintenance window started: those endpoints are not probed");
            }
        }
        for (id, _) in active.iter().filter(|(id, start)| !current.iter().any(|w| &w.id == id && w.start == *start)) {
            tracing::info!(window = %id, "maintenance window ended: probing resumes");
        }
        active = current.iter().map(|w| (w.id.clone(), w.start)).collect();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
