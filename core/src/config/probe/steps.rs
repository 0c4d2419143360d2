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
    /// Further attempts after a failed one, `retry_delay` apart; the last attempt's result counts.
    pub retries: u32,
    pub retry_delay: Duration,
    /// The step runs only when this holds (`run_if`), or is skipped when it holds (`skip_if`).
    pub condition: Option<StepCondition>,
    /// HTTP Basic client authentication (an OAuth2 token step): id and secret, percent-encoded then
    /// base64-encoded into `Authorization` when the step runs (RFC 6749 §2.3.1).
    pub basic_auth: Option<(Template, Template)>,
}

/// When a step runs: `run_if` or `skip_if` with a condition.
#[derive(Debug, Clone)]
pub struct StepCondition {
    /// True for `skip_if`: the step is skipped when the condition holds.
    pub skip: bool,
    pub left: Template,
    /// The comparison; without one the left side alone decides: empty, `false` and `0` are false.
    pub compare: Option<(ConditionOp, Template)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionOp {
    Cmp(crate::config::CmpOp),
    Contains,
}

impl std::fmt::Display for StepCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.compare {
            None => write!(f, "{}", self.left),
            Some((ConditionOp::Contains, right)) => write!(f, "{} contains {right}", self.left),
            Some((ConditionOp::Cmp(op), right)) => write!(f, "{} {} {right}", self.left, op.as_str()),
        }
    }
}

impl StepCondition {
    pub fn key(&self) -> &'static str {
        if self.skip {
            "skip_if"
        } else {
            "run_if"
        }
    }

    /// Whether the step runs. A value the condition needs that is missing (from a step that was skipped or
    /// failed) is an error: a check should not quietly take a branch on a value it never saw.
    pub fn runs(&self, ctx: &dyn crate::template::Lookup) -> Result<bool, String> {
        let left = self.left.render(ctx)?;
        let holds = match &self.compare {
            None => !matches!(left.trim(), "" | "false" | "0"),
            Some((ConditionOp::Contains, right)) => left.contains(right.render(ctx)?.as_str()),
            Some((ConditionOp::Cmp(op), right)) => {
                let right = right.render(ctx)?;
                // Numbers compare as numbers (`{{steps.create.status}} >= 400`), anything else as text.
                let ordering = match (left.trim().parse::<f64>(), right.trim().parse::<f64>()) {
                    (Ok(a), Ok(b)) => a.partial_cmp(&b),
                    _ => Some(left.cmp(&right)),
                };
                ordering.is_some_and(|o| op.holds(o))
            }
        };
        Ok(holds != self.skip)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CmpOp;
    use crate::template::{Lookup, PathSeg, Scope};

    struct Vars;
    impl Lookup for Vars {
        fn env(&self, _: &str) -> Option<&str> {
            None
        }
        fn var(&self, name: &str) -> Option<&str> {
            match name {
                "count" => Some("10"),
                "flag" => Some("false"),
                "name" => Some("cam-9"),
                _ => None,
            }
        }
        fn step_body(&self, _: usize, _: &[PathSeg]) -> Option<serde_json::Value> {
            None
        }
        fn step_header(&self, _: usize, _: &str) -> Option<String> {
            None
        }
        fn step_status(&self, _: usize) -> Option<u16> {
            None
        }
        fn step_name(&self, _: usize) -> &str {
            "s"
        }
    }

    fn cond(skip: bool, left: &str, compare: Option<(ConditionOp, &str)>) -> StepCondition {
        let scope = Scope { vars: ["count", "flag", "name", "gone"].map(String::from).into(), ..Default::default() };
        let t = |s: &str| Template::parse(s, &scope).unwrap();
        StepCondition { skip, left: t(left), compare: compare.map(|(op, r)| (op, t(r))) }
    }

    /// Numbers compare as numbers (10 > 9, where text would say otherwise), text as text; a bare value is
    /// true unless empty, `false` or `0`; `skip_if` inverts; a missing value is an error, not a branch.
    #[test]
    fn conditions_compare_numbers_as_numbers_and_refuse_missing_values() {
        assert!(cond(false, "{{vars.count}}", Some((ConditionOp::Cmp(CmpOp::Gt), "9"))).runs(&Vars).unwrap());
        assert!(!cond(false, "{{vars.name}}", Some((ConditionOp::Cmp(CmpOp::Eq), "cam-1"))).runs(&Vars).unwrap());
        assert!(cond(false, "{{vars.name}}", Some((ConditionOp::Contains, "cam"))).runs(&Vars).unwrap());
        assert!(!cond(false, "{{vars.flag}}", None).runs(&Vars).unwrap());
        assert!(cond(true, "{{vars.flag}}", None).runs(&Vars).unwrap());
        assert!(!cond(true, "{{vars.count}}", None).runs(&Vars).unwrap());
        let e = cond(false, "{{vars.gone}}", None).runs(&Vars).unwrap_err();
        assert!(e.contains("vars.gone"), "{e}");
        assert_eq!(cond(true, "{{vars.count}}", Some((ConditionOp::Cmp(CmpOp::Ge), "3"))).to_string(), "{{vars.count}} >= 3");
    }
}
