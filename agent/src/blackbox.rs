//! `GET /probe?target=…&module=…`, as blackbox_exporter answers it: the module (`[modules.NAME]`) aimed at
//! the target, run once now, its result in blackbox_exporter's metric families. So a Prometheus scrape
//! configuration written for blackbox_exporter (relabelling `__address__` into `target`) works unchanged
//! against an agent.

use crate::probe::{self, run_attempt, Shared};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::config::{EndpointConfig, ModuleConfig};

/// What blackbox_exporter takes off the scrape's timeout, so the answer arrives before Prometheus gives up.
const SCRAPE_MARGIN: Duration = Duration::from_millis(500);

/// Why a request is refused (answered 400, as blackbox_exporter does).
#[derive(Debug, thiserror::Error)]
pub enum ProbeRequestError {
    #[error("Target parameter is missing")]
    NoTarget,
    #[error("Unknown module {0:?}")]
    UnknownModule(String),
    #[error("invalid target: {0}")]
    BadTarget(String),
}

pub struct Prober {
    modules: BTreeMap<String, ModuleConfig>,
    shared: Arc<Shared>,
}

impl Prober {
    pub fn new(modules: BTreeMap<String, ModuleConfig>) -> Prober {
        Prober { modules, shared: Shared::new() }
    }

    /// Runs `module` (blackbox_exporter's default `http_2xx` when not given) against `target` within the
    /// module's timeout, or the scrape's (`X-Prometheus-Scrape-Timeout-Seconds`) less half a second when that
    /// is shorter; returns the metrics text.
    pub async fn probe(
        &self,
        module: Option<&str>,
        target: Option<&str>,
        scrape_timeout: Option<f64>,
    ) -> Result<String, ProbeRequestError> {
        let target = target.filter(|t| !t.is_empty()).ok_or(ProbeRequestError::NoTarget)?;
        let name = module.unwrap_or("http_2xx");
        let m = self.modules.get(name).ok_or_else(|| ProbeRequestError::UnknownModule(name.to_string()))?;
        let probe = m.probe.with_target(target).map_err(ProbeRequestError::BadTarget)?;
        let scrape = scrape_timeout.filter(|s| s.is_finite() && *s > 0.0).map(|s| Duration::from_secs_f64(s).saturating_sub(SCRAPE_MARGIN));
        let timeout = scrape.map_or(m.timeout, |s| s.min(m.timeout)).max(Duration::from_millis(100));
        let kind = probe.kind();
        let endpoint = EndpointConfig {
            id: name.to_string(),
            name: name.to_string(),
            component: None,
            tags: Vec::new(),
            labels: Default::default(),
            depends_on: Vec::new(),
            environment: String::new(),
            interval: timeout,
            timeout,
            retry_interval: timeout,
            failure_threshold: 1,
            success_threshold: 1,
            probe,
            assertions: m.assertions.clone(),
        };
        let p = probe::build(&endpoint, &self.shared, &probe::push::Registry::default());
        let attempt = run_attempt(&*p, &endpoint.assertions, timeout).await;
        tracing::debug!(module = name, target = %watchpost_core::http::redact_url(target), ok = attempt.ok,
            error = attempt.error.map(|c| c.as_str()).unwrap_or(""), detail = %attempt.detail, "probe requested");
        let mut out = String::new();
        crate::probe_metrics::render_probe(&mut out, &attempt, kind);
        Ok(out)
    }
}
