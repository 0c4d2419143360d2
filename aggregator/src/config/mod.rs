//! The aggregator's own sections: `[publishers.NAME]` (hosted status pages that get Watchpost's component
//! statuses and metrics, DESIGN.md §5.9) and `[sla.NAME]` (partners' SLA reports, §5.6), checked against the
//! shared names (components, endpoints) of the core configuration.
//!
//! ```toml
//! [publishers.hosted]
//! type = "statuspage"
//! page_id = "kctbh9vrtdwd"
//! api_key = "${STATUSPAGE_API_KEY}"
//! components = { payments = "8kbf7d35c070" }
//! metrics = [{ id = "ltw9kmrfyglk", endpoint = "payments-api", value = "latency_p95" }]
//! import_maintenance = true
//! ```
//!
//! Each publisher type's keys are its own file's `Config` (under `publish/`), registered in
//! [`publish::PublisherSpec`]; the keys every type has are checked once, in `publish::spec::Common`.

mod sla;

pub use sla::SlaConfig;

use crate::publish::{self, PublisherConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use watchpost_core::config::{Config, ConfigErrors, Document};

/// The aggregator's sections, validated.
#[derive(Debug, Clone, Default)]
pub struct AggregatorParts {
    /// `[publishers.NAME]`, by name.
    pub publishers: Vec<PublisherConfig>,
    /// `[sla.NAME]`: SLA report definitions by name.
    pub sla: BTreeMap<String, SlaConfig>,
}

impl AggregatorParts {
    /// The `sla:` lines of `watchpost check-config`'s summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for sla in self.sla.values() {
            out.push_str(&format!(
                "sla:       {} ({}): {} % for {}, latency objective {}, periods in {}\n",
                sla.name,
                sla.title,
                sla.target,
                sla.components.join(", "),
                watchpost_core::config::format_duration(sla.latency_objective),
                sla.tz_name
            ));
        }
        out
    }

    /// Parses configuration text, shared sections and the aggregator's, with every error of both (tools and
    /// tests; the binary assembles all parts the same way).
    pub fn parse(
        file: &str,
        format: watchpost_core::config::Format,
        text: &str,
        env: &std::collections::HashMap<String, String>,
    ) -> Result<(Config, AggregatorParts), ConfigErrors> {
        let doc = Document::parse(file, format, text, env)?;
        let (shared, mut errors) = Config::from_document(&doc)?;
        let parts = AggregatorParts::from_document(&doc, &shared, &mut errors);
        errors.into_result((shared, parts))
    }

    /// Phase two of `[publishers]` and `[sla]`: every error goes to `errors`, with its key path and line.
    pub fn from_document(doc: &Document, shared: &Config, errors: &mut ConfigErrors) -> AggregatorParts {
        let root = match &doc.tree {
            Value::Object(root) => Some(root),
            _ => None,
        };
        let get = |key: &str| root.and_then(|r| r.get(key));
        AggregatorParts {
            publishers: publish::publishers(doc, get("publishers"), shared, errors),
            sla: sla::reports(doc, get("sla"), shared, errors),
        }
    }
}
