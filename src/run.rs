//! `watchpost run` and the one-part commands: bind, open the store, start the parts, stop them on SIGTERM
//! or Ctrl-C.

use crate::server;
use anyhow::Context as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use watchpost::settings::Settings;
use watchpost_agent::metrics::AgentMetrics;
use watchpost_agent::Agent;
use watchpost_core::config::StoreConfig;
use watchpost_core::store::reads::{self, Consumer};

/// Which long-running parts a command starts (`run` starts them all).
#[derive(Clone, Copy)]
pub(crate) struct Parts {
    pub agent: bool,
    pub aggregator: bool,
    pub statuspage: bool,
    pub alerting: bool,
}

impl Parts {
    pub const NONE: Parts = Parts { agent: false, aggregator: false, statuspage: false, alerting: false };
}

pub(crate) async fn run(settings: Settings, parts: Parts) -> anyhow::Result<ExitCode> {
    let (cfg, page_cfg) = (settings.core.clone(), &settings.page);
    // Bind first: a port in use should stop us before any probe runs.
    // The status page alone serves its own /healthz; the process server (metrics, push) is for the others.
    let listener = if parts.agent || parts.aggregator || parts.alerting {
        Some(
            tokio::net::TcpListener::bind(cfg.server.listen)
                .await
                .map_err(|e| anyhow::anyhow!("{}: server.listen: cannot listen on {}: {e}", cfg.file, cfg.server.listen))?,
        )
    } else {
        None
    };
    // `run` starts the public page only when the file asks for one; `watchpost statuspage` always does.
    let alone = !(parts.agent || parts.aggregator || parts.alerting);
    if parts.statuspage && !alone && !page_cfg.configured {
        tracing::info!("no [statuspage] section: the status page is off (add one, or run `watchpost statuspage`)");
    }
    let page_listener = if parts.statuspage && (alone || page_cfg.configured) {
        Some(
            tokio::net::TcpListener::bind(page_cfg.listen)
                .await
                .map_err(|e| anyhow::anyhow!("{}: statuspage.listen: cannot listen on {}: {e}", cfg.file, page_cfg.listen))?,
        )
    } else {
        None
    };
    let store = watchpost_core::store::open(&cfg.store).await.with_context(|| format!("{}: store", cfg.file))?;
    tracing::info!(store = %store.describe(), listen = %cfg.server.listen, agent = parts.agent, aggregator = parts.aggregator,
        statuspage = parts.statuspage, alerting = parts.alerting && settings.alerting.configured, "watchpost starting");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut state = server::AppState { store: Some(store.clone()), ..Default::default() };
    let mut tasks = Vec::new();
    // InfluxDB keeps its own retention (the database's retention policy or the bucket's); with SQLite the part
    // that writes raw points runs the retention job.
    if let (StoreConfig::Sqlite(sqlite), true) = (&cfg.store, parts.agent) {
        tasks.push(tokio::spawn(watchpost_core::store::retention_loop(
            store.clone(),
            sqlite.retention,
            Duration::from_secs(3600),
            stop_rx.clone(),
        )));
    }
    if parts.aggregator {
        let metrics = Arc::new(watchpost_aggregator::metrics::AggregatorMetrics::default());
        state.aggregator = Some(metrics.clone());
        let aggregator = watchpost_aggregator::Aggregator::new(&cfg, store.clone(), metrics.clone());
        tasks.push(tokio::spawn(reads::scope(Consumer::Aggregator, watchpost_aggregator::run(aggregator, stop_rx.clone()))));
        // Component statuses for hosted status pages, and the region gauges of /metrics.
        let publishers = settings.aggregator.publishers.clone();
        let board = watchpost_aggregator::publish::run(cfg.clone(), publishers, store.clone(), metrics, stop_rx.clone());
        tasks.push(tokio::spawn(reads::scope(Consumer::Publishers, board)));
    }
    let agent = if parts.agent {
        if cfg.endpoints.is_empty() {
            tracing::warn!("the configuration has no endpoints: nothing will be probed");
        }
        raise_open_file_limit(cfg.agent.concurrency);
        let metrics = Arc::new(AgentMetrics::default());
        let agent = Agent::start(&cfg, store.clone(), metrics.clone()).await.map_err(|e| anyhow::anyhow!("{}: {e}", cfg.file))?;
        state.agent = Some(metrics);
        state.pushes = agent.pushes();
        if !cfg.modules.is_empty() {
            state.prober = Some(Arc::new(watchpost_agent::blackbox::Prober::new(cfg.modules.clone())));
        }
        Some(agent)
    } else {
        None
    };
    // `run` evaluates alerts only when the file has rules; `watchpost alerting` insists on them.
    let alerting_alone = parts.alerting && !parts.agent;
    if alerting_alone && !settings.alerting.configured {
        anyhow::bail!("{}: no [[alerting.rules]]: there is nothing to evaluate", cfg.file);
    }
    let alerting = if parts.alerting && settings.alerting.configured {
        let state_db =
            Arc::new(watchpost_core::state::StateDb::open(&cfg.state.path).await.with_context(|| format!("{}: state", cfg.file))?);
        let tap = agent.as_ref().map(|a| a.tap());
        let alerting = watchpost_alerting::Alerting::start(Arc::new(settings.alerting()), store.clone(), state_db, tap, stop_rx.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.file))?;
        state.alerting = Some(alerting.metrics.clone());
        Some(alerting)
    } else {
        None
    };
    if let Some(page_listener) = page_listener {
        let page = watchpost_statuspage::StatusPage::new(&cfg, page_cfg, settings.doors(), store.clone())
            .await
            .with_context(|| format!("{}: status page", cfg.file))?;
        tracing::info!(url = %page_cfg.url, listen = %page_cfg.listen, state = %cfg.state.path.display(),
            admin_api = page_cfg.admin_token.is_some(), "status page serving");
        tasks.push(tokio::spawn(reads::scope(Consumer::StatusPage, watchpost_statuspage::refresh_loop(page.clone(), stop_rx.clone()))));
        tasks.push(tokio::spawn(watchpost_statuspage::deliver::run(page.clone(), stop_rx.clone())));
        tasks.push(tokio::spawn(server::serve(page_listener, watchpost_statuspage::server::app(page), stop_rx.clone())));
    }
    if let Some(listener) = listener {
        tasks.push(tokio::spawn(server::serve(listener, server::app(state), stop_rx.clone())));
    }

    shutdown_signal().await;
    tracing::info!("shutting down: flushing points");
    if let Some(agent) = agent {
        agent.shutdown().await;
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    if let Some(a) = alerting {
        a.join().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every probe in flight holds a socket. Many systems start processes with a soft limit of 1,024 open files,
/// below the default concurrency; running out would show up as connect failures of healthy targets. Raise the
/// soft limit to the hard limit, and say so when even that is below what the configuration may use.
fn raise_open_file_limit(concurrency: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!(error = %e, "could not raise the open-file limit");
        }
    }
    let current = getrlimit(Resource::Nofile).current;
    // Headroom for the store, the server and the resolver.
    let needed = concurrency as u64 + 256;
    if let Some(n) = current.filter(|n| *n < needed) {
        tracing::warn!(
            open_file_limit = n,
            concurrency,
            "the open-file limit is below agent.concurrency + 256: raise it (ulimit -n, LimitNOFILE=) or lower agent.concurrency"
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
