//! The multi-step check probe (DESIGN.md §5.1): ordered requests sharing variables, Runscope/Skopos style.
//!
//! - Steps run in order; each renders its templates from the environment, the variables, and what earlier
//!   steps saved, then makes one request through the HTTP probe (same phases, caps and error classes).
//! - Each step enforces its own timeout, so a hung step cannot keep the `finally` steps from cleaning up.
//! - After the first failing step the others are skipped, except `finally` steps, which always run. A
//!   `finally` step that uses a value the failed step never produced (`{{steps.create.body.id}}` when `create`
//!   failed) has nothing to clean up: it is skipped, and says why. A failing `finally` step fails the run
//!   (what the check created may be left behind; it is logged too), as the JUnit report says.
//! - The run's result carries every step's outcome ([`CheckRun`]) for the history and one-shot reports.

use super::assert::{body_json, evaluate_all, Outcome};
use super::http::HttpProbe;
use super::{Observation, Probe, ProbeFailure, Shared, Timings};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use watchpost_core::config::{ExtractFrom, HttpProbeConfig, JsonTemplate, StepBody, StepConfig, StepsProbeConfig};
use watchpost_core::model::ErrorClass;
use watchpost_core::template::{percent_encode, value_text, walk, Lookup, PathSeg};

/// What one run of a check did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckRun {
    pub steps: Vec<StepResult>,
    /// The first non-`finally` step that failed.
    pub failed_step: Option<String>,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepResult {
    pub name: String,
    pub finally: bool,
    /// False when skipped because an earlier step failed.
    pub ran: bool,
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub error: Option<ErrorClass>,
    /// Why the step failed: the first failed assertion (expected and actual) or the error.
    pub detail: String,
    pub outcomes: Vec<Outcome>,
}

impl StepResult {
    pub fn ok(&self) -> bool {
        self.ran && self.error.is_none()
    }
}

pub struct StepsProbe {
    cfg: StepsProbeConfig,
    shared: Arc<Shared>,
}

/// What a later step may read of an earlier one.
struct Saved {
    status: u16,
    headers: HeaderMap,
    json: Option<Value>,
}

/// The values of one run, as templates see them.
struct Run<'a> {
    cfg: &'a StepsProbeConfig,
    vars: BTreeMap<String, String>,
    saved: Vec<Option<Saved>>,
}

impl Lookup for Run<'_> {
    fn env(&self, name: &str) -> Option<&str> {
        self.cfg.env.get(name).map(String::as_str)
    }
    fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
    fn step_body(&self, step: usize, path: &[PathSeg]) -> Option<Value> {
        walk(self.saved.get(step)?.as_ref()?.json.as_ref()?, path).cloned()
    }
    fn step_header(&self, step: usize, name: &str) -> Option<String> {
        let v = self.saved.get(step)?.as_ref()?.headers.get(name)?;
        Some(String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
    fn step_status(&self, step: usize) -> Option<u16> {
        Some(self.saved.get(step)?.as_ref()?.status)
    }
    fn step_name(&self, step: usize) -> &str {
        self.cfg.steps.get(step).map_or("?", |s| s.name.as_str())
    }
}

impl StepsProbe {
    pub fn new(cfg: StepsProbeConfig, shared: Arc<Shared>) -> Self {
        StepsProbe { cfg, shared }
    }

    /// The request of `step`, rendered for this run.
    fn request(&self, step: &StepConfig, run: &Run) -> Result<HttpProbeConfig, String> {
        let mut url = step.url.render(run)?;
        if !step.query.is_empty() {
            let mut sep = if url.contains('?') { '&' } else { '?' };
            for (k, v) in &step.query {
                url.push(sep);
                url.push_str(&percent_encode(k));
                url.push('=');
                url.push_str(&percent_encode(&v.render(run)?));
                sep = '&';
            }
        }
        // Messages show the URL without its query and credentials: templates often put tokens there.
        let uri = watchpost_core::http::parse_http_url(&url)?;
        let mut headers = HeaderMap::new();
        for (name, t) in &step.headers {
            let mut v = HeaderValue::from_str(&t.render(run)?).map_err(|_| format!("header {name}: the value has control characters"))?;
            v.set_sensitive(true);
            headers.insert(name.clone(), v);
        }
        let (body, content_type) = match &step.body {
            StepBody::None => (None, None),
            StepBody::Raw(t) => (Some(t.render(run)?), None),
            StepBody::Json(j) => (Some(render_json(j, run)?.to_string()), Some("application/json")),
            StepBody::Form(fields) => {
                let mut out = String::new();
                for (k, v) in fields {
                    if !out.is_empty() {
                        out.push('&');
                    }
                    out.push_str(&percent_encode(k));
                    out.push('=');
                    out.push_str(&percent_encode(&v.render(run)?));
                }
                (Some(out), Some("application/x-www-form-urlencoded"))
            }
        };
        if let Some(ct) = content_type {
            headers.entry(CONTENT_TYPE).or_insert(HeaderValue::from_static(ct));
        }
        Ok(HttpProbeConfig {
            url: uri,
            method: step.method.clone(),
            headers,
            body,
            follow_redirects: self.cfg.follow_redirects,
            max_body: self.cfg.max_body,
            tls: watchpost_core::config::TlsClientOptions { skip_verify: self.cfg.tls_skip_verify, ..Default::default() },
            tls_resume: self.cfg.tls_resume,
        })
    }

    /// Runs one step: request, extraction, assertions. Saves what later steps may read into `run`.
    async fn step(&self, step: &StepConfig, run: &mut Run<'_>, timings: &mut Timings) -> StepResult {
        let mut result = StepResult { name: step.name.clone(), finally: step.finally, ran: true, ..Default::default() };
        let t0 = Instant::now();
        let req = match self.request(step, run) {
            Ok(r) => r,
            Err(e) => {
                result.error = Some(ErrorClass::Assertion);
                result.detail = format!("cannot build the request: {e}");
                run.saved.push(None);
                return result;
            }
        };
        let observed = tokio::time::timeout(step.timeout, HttpProbe::new(req, self.shared.clone()).observe()).await;
        let elapsed = t0.elapsed();
        result.latency_ms = elapsed.as_secs_f64() * 1e3;
        let obs = match observed {
            Err(_) => {
                result.error = Some(ErrorClass::Timeout);
                result.detail = format!("no complete answer within {} ms", step.timeout.as_millis());
                run.saved.push(None);
                return result;
            }
            Ok(Err(f)) => {
                add_timings(timings, &f.timings);
                result.error = Some(f.class);
                result.detail = f.detail;
                result.status = f.status;
                run.saved.push(None);
                return result;
            }
            Ok(Ok(obs)) => obs,
        };
        add_timings(timings, &obs.timings);
        result.status = obs.status;
        let mut json: Option<Option<Value>> = None;
        // Extract first: the step's own assertions may compare with what it saved.
        let mut extract_error = None;
        for ex in &step.extract {
            match extract(&ex.from, &obs, &mut json) {
                Ok(v) => {
                    run.vars.insert(ex.name.clone(), v);
                }
                Err(e) => {
                    extract_error.get_or_insert_with(|| format!("extract {}: {e}", ex.name));
                }
            }
        }
        body_json(&obs, &mut json);
        run.saved.push(Some(Saved {
            status: obs.status.unwrap_or(0),
            headers: obs.headers.clone().unwrap_or_default(),
            json: json.clone().flatten(),
        }));
        result.outcomes = evaluate_all(&step.assertions, &obs, elapsed, run, &mut json);
        if let Some(failed) = result.outcomes.iter().find(|o| !o.passed) {
            result.error = Some(failed.class);
            result.detail = format!("{}: {}", failed.what, failed.detail);
        } else if let Some(e) = extract_error {
            result.error = Some(ErrorClass::Assertion);
            result.detail = e;
        }
        result
    }
}

#[async_trait::async_trait]
impl Probe for StepsProbe {
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let mut run = Run { cfg: &self.cfg, vars: self.cfg.vars.clone(), saved: Vec::with_capacity(self.cfg.steps.len()) };
        let mut out = CheckRun::default();
        let mut timings = Timings::default();
        let mut failure: Option<(ErrorClass, String, Option<u16>)> = None;
        let mut last_status = None;
        for step in &self.cfg.steps {
            if failure.is_some() && !step.finally {
                out.steps.push(StepResult { name: step.name.clone(), finally: false, ran: false, ..Default::default() });
                run.saved.push(None);
                continue;
            }
            if failure.is_some() {
                // A `finally` step after a failure: if its request needs what the failed step never produced,
                // there is nothing to clean up, and a second failure would hide the first.
                if let Err(e) = self.request(step, &run) {
                    out.steps.push(StepResult {
                        name: step.name.clone(),
                        finally: true,
                        ran: false,
                        detail: format!("skipped: {e}"),
                        ..Default::default()
                    });
                    run.saved.push(None);
                    continue;
                }
            }
            if !step.pause.is_zero() {
                tokio::time::sleep(step.pause).await;
            }
            let r = self.step(step, &mut run, &mut timings).await;
            match r.error {
                Some(class) if failure.is_none() => {
                    if step.finally {
                        tracing::warn!(step = %step.name, error = %class, detail = %r.detail,
                            "a finally step failed: what the check created may be left behind");
                    }
                    out.failed_step = Some(step.name.clone());
                    failure = Some((class, format!("step {}: {}", step.name, r.detail), r.status));
                }
                Some(class) if step.finally => {
                    tracing::warn!(step = %step.name, error = %class, detail = %r.detail,
                        "a finally step failed: what the check created may be left behind");
                }
                _ => {}
            }
            if !step.finally {
                last_status = r.status.or(last_status);
            }
            out.steps.push(r);
        }
        let run = Some(Arc::new(out));
        match failure {
            Some((class, detail, status)) => Err(ProbeFailure { timings, status, run, ..ProbeFailure::new(class, detail) }),
            None => Ok(Observation { status: last_status, timings, run, ..Observation::default() }),
        }
    }
}

fn add_timings(sum: &mut Timings, t: &Timings) {
    for (s, v) in [(&mut sum.dns_ms, t.dns_ms), (&mut sum.connect_ms, t.connect_ms), (&mut sum.tls_ms, t.tls_ms)] {
        if let Some(v) = v {
            *s = Some(s.unwrap_or(0.0) + v);
        }
    }
}

fn extract(from: &ExtractFrom, obs: &Observation, json: &mut Option<Option<Value>>) -> Result<String, String> {
    match from {
        ExtractFrom::Json { path, source } => {
            let doc = body_json(obs, json).ok_or("the body is not JSON")?;
            path.query(doc).first().map(value_text).ok_or_else(|| format!("{source} matched nothing"))
        }
        ExtractFrom::Header(name) => obs
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .ok_or_else(|| format!("no {name} header")),
        ExtractFrom::Regex(re) => {
            let text = String::from_utf8_lossy(&obs.body);
            let caps = re.captures(&text).ok_or_else(|| format!("/{}/ matched nothing", re.as_str()))?;
            Ok(caps.get(1).or_else(|| caps.get(0)).map(|m| m.as_str().to_string()).unwrap_or_default())
        }
    }
}

fn render_json(j: &JsonTemplate, run: &Run) -> Result<Value, String> {
    Ok(match j {
        JsonTemplate::Value(v) => v.clone(),
        JsonTemplate::String(t) => t.render_json(run)?,
        JsonTemplate::Array(items) => Value::Array(items.iter().map(|i| render_json(i, run)).collect::<Result<_, _>>()?),
        JsonTemplate::Object(fields) => {
            Value::Object(fields.iter().map(|(k, v)| Ok((k.clone(), render_json(v, run)?))).collect::<Result<_, String>>()?)
        }
    })
}
