//! The board: every component's status from the latest states, windows and incidents (the same rules as
//! the status page), recomputed every [`BOARD_INTERVAL`] and offered on a `watch` channel (newest wins).

use super::*;

/// What every component's status is now, and how the regions report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Board {
    pub at: Nanos,
    pub components: BTreeMap<String, ComponentStatus>,
    pub regions: Vec<RegionReport>,
}

/// The board from what was read: the same rules as the status page (`watchpost_core::health`).
pub fn board(cfg: &Config, voting: &Voting, states: &[EndpointState], windows: &[Window], incidents: &[Incident], now: Nanos) -> Board {
    let mut by_endpoint: HashMap<&str, Vec<&EndpointState>> = HashMap::new();
    for s in states {
        by_endpoint.entry(s.endpoint.as_str()).or_default().push(s);
    }
    let component_of: HashMap<&str, &str> =
        cfg.endpoints.iter().filter_map(|e| e.component.as_deref().map(|c| (e.id.as_str(), c))).collect();
    let active: Vec<&Window> = windows.iter().filter(|w| w.contains(now)).collect();
    let mut components = BTreeMap::new();
    for c in &cfg.components {
        let health: Vec<_> = c
            .endpoints
            .iter()
            .map(|e| {
                let component = component_of.get(e.as_str()).copied().unwrap_or("");
                let maint = active.iter().any(|w| w.scope.covers(e, component));
                (voting.health(e, by_endpoint.get(e.as_str()).into_iter().flatten().copied(), now), maint)
            })
            .collect();
        let declared = incidents
            .iter()
            .filter(|i| !i.is_resolved())
            .flat_map(|i| i.components.iter())
            .filter(|(id, _)| *id == c.id)
            .map(|(_, s)| *s)
            .max();
        components.insert(c.id.clone(), component_status(&health, declared));
    }
    Board { at: now, components, regions: voting.regions(states, now) }
}

pub(super) async fn keep_board(
    cfg: &Config,
    store: &dyn Store,
    state: Option<&StateDb>,
    metrics: &AggregatorMetrics,
    tx: &watch::Sender<Arc<Board>>,
    mut stop: watch::Receiver<bool>,
) {
    let voting = Voting::new(cfg);
    let sources: Vec<Arc<dyn MaintenanceSource>> = maintenance::sources(cfg);
    let mut failing = false;
    loop {
        let now = now_nanos();
        let read = async {
            let states = store.latest_states().await?;
            let windows = maintenance::windows(&sources, TimeRange::new(now - 1, now + 1)).await;
            let incidents = match state {
                Some(s) => s.incidents(now).await.unwrap_or_default(),
                None => vec![],
            };
            Ok::<_, StoreError>(board(cfg, &voting, &states, &windows, &incidents, now))
        };
        match read.await {
            Ok(b) => {
                if failing {
                    tracing::info!("component statuses are read again");
                    failing = false;
                }
                metrics.set_regions(&b.regions, now);
                tx.send_if_modified(|old| {
                    let changed = old.components != b.components || old.regions != b.regions;
                    *old = Arc::new(b);
                    changed
                });
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e, "cannot read the latest states; publishers keep the last statuses");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(BOARD_INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
