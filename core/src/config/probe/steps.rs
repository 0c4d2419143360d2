//! Multi-step checks (`[[checks]]`) as validated: a probe whose steps are requests, extractions and
//! assertions, one per environment it runs in. Validated by `validate/checks.rs`, run by the agent's
//! `probe/steps.rs`.

use crate::config::assertions::Assertion;
use crate::template::Template;
use std::collections::BTreeMap;
use std::time::Duration;

/// A multi-step check as it runs in one environment.
#[derive(Debug, Clone)]
pub struct StepsProbeConfig {
    /// The environment's variables (`{{env.NAME}}`).
    pub env: BTreeMap<String, String>,
    /// `[vars]` merged with the check's own `vars` (`{{vars.NAME}}`).
    pub vars: BTreeMap<String, String>,
    pub steps: Vec<StepConfig>,
    pub follow_redirects: u32,
    pub max_body: u64,
    pub tls_skip_verify: bool,
    pub tls_resume: bool,
}

/// One request of a check.
#[derive(Debug, Clone)]
pub struct StepConfig {
    pub name: String,
    pub method: http::Method,
    pub url: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(http::HeaderName, Template)>,
    pub body: StepBody,
    pub timeout: Duration,
    /// Waited before the request is sent; not part of the step's latency.
    pub pause: Duration,
    pub extract: Vec<Extract>,
    pub assertions: Vec<Assertion>,
    /// Runs whatever happened before (cleanup); its failure does not fail the check.
    pub finally: bool,
}

#[derive(Debug, Clone)]
pub enum StepBody {
    None,
    Raw(Template),
    Json(JsonTemplate),
    Form(Vec<(String, Template)>),
}

/// A JSON document whose strings are templates.
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    Value(serde_json::Value),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

/// A value saved from a response as `{{vars.NAME}}` for the later steps.
#[derive(Debug, Clone)]
pub struct Extract {
    pub name: String,
    pub from: ExtractFrom,
}

#[derive(Debug, Clone)]
pub enum ExtractFrom {
    Json { path: serde_json_path::JsonPath, source: String },
    Header(http::HeaderName),
    Regex(regex::Regex),
}
