//! Windows started or scheduled through the status page's admin API (`watchpost maintenance start`), read
//! from the local state database. The database is opened on first use, so an agent whose status page has
//! never run simply sees no windows.

use super::{MaintenanceError, MaintenanceSource, Window};
use crate::state::StateDb;
use crate::time::TimeRange;
use std::path::PathBuf;
use tokio::sync::OnceCell;

pub struct StateSource {
    path: PathBuf,
    db: OnceCell<StateDb>,
}

impl StateSource {
    pub fn new(path: PathBuf) -> Self {
        StateSource { path, db: OnceCell::new() }
    }
}

#[async_trait::async_trait]
impl MaintenanceSource for StateSource {
    async fn windows(&self, range: TimeRange) -> Result<Vec<Window>, MaintenanceError> {
        let fail = |reason: String| MaintenanceError::Unavailable { source_name: self.describe(), reason };
        // No database yet (no status page has run): no windows, and no empty database created by a reader
        // (`watchpost maintenance list` must not leave one behind). Checked again on every call until it exists.
        if self.db.get().is_none() && !self.path.exists() {
            return Ok(Vec::new());
        }
        let db = self.db.get_or_try_init(|| StateDb::open(&self.path)).await.map_err(|e| fail(e.to_string()))?;
        let list = db.maintenances(range).await.map_err(|e| fail(e.to_string()))?;
        Ok(list
            .into_iter()
            // A window cancelled before it began has no length and silences nothing.
            .filter(|m| m.ends_at > m.starts_at)
            .map(|m| Window {
                id: m.id,
                title: m.title,
                detail: m.body,
                start: m.starts_at,
                end: m.ends_at,
                scope: m.scope,
                source: m.origin,
            })
            .collect())
    }

    fn describe(&self) -> String {
        format!("admin API windows in {}", self.path.display())
    }
}
