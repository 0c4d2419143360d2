//! One task per publisher: works through what differs between the board and what the provider last
//! accepted, worst first, paced; metrics once a minute; maintenances imported where asked.

use super::*;

/// One publisher's loop.
pub(super) struct Worker {
    cfg: PublisherConfig,
    publisher: Arc<dyn Publisher>,
    client: Option<reqwest::Client>,
    store: Arc<dyn Store>,
    metrics: Arc<AggregatorMetrics>,
    state: Option<StateDb>,
    pacer: Pacer,
    /// What the provider last accepted (or refused for good), per Watchpost component.
    accepted: HashMap<String, ComponentStatus>,
    /// Metric requests waiting for a slot; rebuilt each minute, so at most one round.
    pending: Vec<Outgoing>,
    next_metrics: Instant,
    next_import: Instant,
}

impl Worker {
    pub(super) fn new(
        cfg: &PublisherConfig,
        publisher: Arc<dyn Publisher>,
        store: Arc<dyn Store>,
        metrics: Arc<AggregatorMetrics>,
        state: Option<StateDb>,
    ) -> Self {
        Worker {
            pacer: Pacer::new(cfg.requests_per_second),
            cfg: cfg.clone(),
            publisher,
            client: watchpost_core::http::client(TIMEOUT).build().ok(),
            store,
            metrics,
            state,
            accepted: HashMap::new(),
            pending: Vec::new(),
            next_metrics: Instant::now(),
            next_import: Instant::now(),
        }
    }

    /// The next status change to send: the worst status first (an outage matters more than a recovery).
    fn next_change(&self, board: &Board) -> Option<(PublishedComponent, ComponentStatus)> {
        self.cfg
            .components
            .iter()
            .filter_map(|c| board.components.get(&c.component).map(|s| (c, *s)))
            .filter(|(c, s)| self.accepted.get(&c.component) != Some(s))
            .max_by_key(|(_, s)| *s)
            .map(|(c, s)| (c.clone(), s))
    }

    pub(super) async fn run(mut self, mut board: watch::Receiver<Arc<Board>>, mut stop: watch::Receiver<bool>) {
        let name = self.publisher.describe();
        tracing::info!(publisher = %name, components = self.cfg.components.len(), metrics = self.cfg.metrics.len(), "publishing");
        loop {
            let now = Instant::now();
            if now >= self.next_metrics && !self.cfg.metrics.is_empty() {
                self.next_metrics = now + METRICS_INTERVAL;
                match self.publisher.metric_requests(&*self.store, now_nanos()).await {
                    // Latest state wins: a round not yet sent is replaced by the new one.
                    Ok(reqs) => self.pending = reqs,
                    Err(e) => tracing::warn!(publisher = %name, error = %e, "cannot read the rollups for the metrics"),
                }
            }
            if now >= self.next_import && self.cfg.import_maintenance {
                self.next_import = now + IMPORT_INTERVAL;
                self.import(&name).await;
            }
            let current = board.borrow_and_update().clone();
            let work = self.next_change(&current).map(|(c, s)| (self.publisher.status_request(&c, s), Some((c.component, s))));
            let work = work.or_else(|| (!self.pending.is_empty()).then(|| (self.pending.remove(0), None)));
            let Some((request, status)) = work else {
                // Nothing to send: sleep until the board changes or a round of metrics or imports is due.
                let mut wake = Instant::now() + IMPORT_INTERVAL;
                if !self.cfg.metrics.is_empty() {
                    wake = wake.min(self.next_metrics);
                }
                if self.cfg.import_maintenance {
                    wake = wake.min(self.next_import);
                }
                tokio::select! {
                    _ = board.changed() => {}
                    _ = tokio::time::sleep_until(wake) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                continue;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(self.pacer.ready_at()) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            // Statuses may have changed while waiting for the slot: send the worst change there is now.
            let (request, status) = match status {
                Some(_) => {
                    let current = board.borrow().clone();
                    match self.next_change(&current) {
                        Some((c, s)) => (self.publisher.status_request(&c, s), Some((c.component, s))),
                        None => continue,
                    }
                }
                None => (request, None),
            };
            self.pacer.take();
            self.deliver(&name, request, status).await;
        }
    }

    async fn deliver(&mut self, name: &str, request: Outgoing, status: Option<(String, ComponentStatus)>) {
        let Some(client) = &self.client else {
            tracing::error!(publisher = %name, "cannot build an HTTP client");
            return;
        };
        let result = send(client, &self.cfg.url, &*self.publisher, &request).await;
        self.metrics.publish_requests.inc();
        match result {
            Ok(_) => {
                self.pacer.succeeded();
                match status {
                    Some((component, s)) => {
                        tracing::info!(publisher = %name, component = %component, status = %s, "component status published");
                        self.accepted.insert(component, s);
                    }
                    None => self.publisher.sent(&request),
                }
            }
            Err(PublishError::Rejected { status: code, body }) => {
                self.metrics.publish_failures.inc();
                tracing::warn!(publisher = %name, request = %request.what, status = code, answer = %body, "the provider refused a request; it is not repeated");
                if let Some((component, s)) = status {
                    self.accepted.insert(component, s);
                }
            }
            Err(e) => {
                self.metrics.publish_failures.inc();
                let retry_after = match &e {
                    PublishError::Throttled { retry_after } => *retry_after,
                    _ => None,
                };
                let wait = self.pacer.failed(retry_after);
                tracing::warn!(publisher = %name, request = %request.what, error = %e, retry_in_ms = wait.as_millis() as u64, "publishing failed; the current state is sent when the provider answers");
                if status.is_none() {
                    // Put it back at the front: the next round replaces it anyway.
                    self.pending.insert(0, request);
                }
            }
        }
    }

    async fn import(&mut self, name: &str) {
        let Some(client) = self.client.clone() else { return };
        let mut answers = Vec::new();
        for request in self.publisher.maintenance_requests() {
            tokio::time::sleep_until(self.pacer.ready_at()).await;
            self.pacer.take();
            self.metrics.publish_requests.inc();
            match send(&client, &self.cfg.url, &*self.publisher, &request).await {
                Ok(v) => answers.push(v),
                Err(e) => {
                    self.metrics.publish_failures.inc();
                    let retry_after = match &e {
                        PublishError::Throttled { retry_after } => *retry_after,
                        _ => None,
                    };
                    self.pacer.failed(retry_after);
                    // Until the provider answers, the windows imported last stay.
                    tracing::warn!(publisher = %name, error = %e, "cannot import scheduled maintenances; the last imported stay");
                    self.next_import = Instant::now() + Duration::from_secs(30);
                    return;
                }
            }
        }
        self.pacer.succeeded();
        let windows = match self.publisher.parse_maintenances(&answers) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(publisher = %name, error = %e, "the provider's maintenance list is not understood");
                return;
            }
        };
        let Some(state) = &self.state else { return };
        let n = windows.len();
        match state.sync_imported_maintenance(self.cfg.kind(), windows, now_nanos()).await {
            Ok(changed) => tracing::debug!(publisher = %name, windows = n, changed, "scheduled maintenances imported"),
            Err(e) => tracing::warn!(publisher = %name, error = %e, "cannot store the imported maintenances"),
        }
    }
}
