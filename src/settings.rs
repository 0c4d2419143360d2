//! One configuration file, every part's section: core reads the shared sections (endpoints, store,
//! components, people…) into [`Config`], then each part reads its own from the same [`Document`], checked
//! against those shared names. Every error of every part is reported together, in line order, exactly as
//! if one validator had read the file.
//!
//! Architecture invariant: no part reads another part's section. What one part needs of another is passed
//! here: the status page's URL to alerting (acknowledge links point there), alerting's secret to the
//! status page (which verifies those links).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use watchpost_aggregator::config::AggregatorParts;
use watchpost_alerting::config::{AlertingConfig, Page};
use watchpost_core::config::{Config, ConfigErrors, Document, Format};
use watchpost_statuspage::config::StatusPageConfig;

/// A validated configuration: the shared sections and each part's own.
#[derive(Debug, Clone)]
pub struct Settings {
    pub core: Arc<Config>,
    /// `[statuspage]`.
    pub page: StatusPageConfig,
    /// `[alerting]`.
    pub alerting: AlertingConfig,
    /// `[publishers]`, `[sla]`.
    pub aggregator: AggregatorParts,
}

impl Settings {
    /// Reads, parses and validates `path` with the process environment.
    pub fn load(path: &Path) -> Result<Settings, ConfigErrors> {
        Self::from_document(&Document::load(path)?)
    }

    /// As [`Settings::load`], with the environment given explicitly (tests).
    pub fn load_with_env(path: &Path, env: &HashMap<String, String>) -> Result<Settings, ConfigErrors> {
        Self::from_document(&Document::load_with_env(path, env)?)
    }

    /// Parses and validates configuration text named `file` in messages.
    pub fn from_str_with_env(file: &str, format: Format, text: &str, env: &HashMap<String, String>) -> Result<Settings, ConfigErrors> {
        Self::from_document(&Document::parse(file, format, text, env)?)
    }

    pub fn from_document(doc: &Document) -> Result<Settings, ConfigErrors> {
        let (core, mut errors) = Config::from_document(doc)?;
        let page = StatusPageConfig::from_document(doc, &core, &mut errors);
        let link = Page { url: page.url.clone(), served: page.configured };
        let alerting = AlertingConfig::from_document(doc, &core, &link, &mut errors);
        let aggregator = AggregatorParts::from_document(doc, &core, &mut errors);
        errors.into_result(Settings { core: Arc::new(core), page, alerting, aggregator })
    }

    /// What the status page's alert endpoints need of `[alerting]`: the link secret and the providers'
    /// callback secrets.
    pub fn doors(&self) -> watchpost_statuspage::AlertDoors {
        let mut doors = watchpost_statuspage::AlertDoors { ack_secret: self.alerting.secret.clone(), ..Default::default() };
        for (kind, secret) in self.alerting.notifiers.values().filter_map(|n| n.inbound()) {
            match kind {
                "pagerduty" => doors.pagerduty.push(secret),
                _ => doors.opsgenie.push(secret),
            }
        }
        doors
    }

    /// What alerting runs on.
    pub fn alerting(&self) -> watchpost_alerting::Settings {
        watchpost_alerting::Settings { shared: self.core.clone(), alerting: self.alerting.clone() }
    }

    /// The summary `watchpost check-config` prints: core's, with each part's lines in it.
    pub fn summary(&self) -> String {
        self.core.summary(&[self.aggregator.summary(), self.page.summary(), self.alerting.summary(&self.core)])
    }
}
