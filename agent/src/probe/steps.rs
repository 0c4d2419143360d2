//! The multi-step check probe (DESIGN.md §5.1): ordered requests sharing variables, Runscope/Skopos style.
//!
//! - Steps run in order; each renders its templates from the environment, the variables, and what earlier
//!   steps saved, then makes one request through the HTTP probe (same phases, caps and error classes).
//! - Each step enforces its own timeout, so a hung step cannot keep the `finally` steps from cleaning up.
//! - After the first failing step the others are skipped, except `finally` steps, which always run. A
//!   `finally` step that uses a value the failed step never produced (`{{steps.create.body.id}}` when `create`
//!   failed) has nothing to clean up: it is skipped, and says why. A failing `finally` step fails the run
//!   (what the check created may be left behind; it is logged too), as the JUnit report says.
//! - A step with `run_if`/`skip_if` is decided just before it would run; a skipped step produces nothing,
//!   so a later step that uses its values fails saying which value is missing.
//! - A step with `retries` is attempted again after a failure (`retry_delay` apart); the last attempt's
//!   result is the step's, and it records how many attempts it took.
//! - The run's result carries every step's outcome ([`CheckRun`]) for the history and one-shot reports.

use super::assert::{body_json, evaluate_all, Outcome};
use super::exchange::{masked_body, masked_headers, masked_url, Exchange};
use super::http::HttpProbe;
use super::{Observation, Probe, ProbeFailure, Shared, Timings};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use watchpost_core::config::{ExtractFrom, HttpProbeConfig, JsonTemplate, StepBody, StepConfig, StepsProbeConfig};
use watchpost_core::model::{ErrorClass, SeriesKey, StepPoint};
use watchpost_core::template::{basic_credentials, percent_encode, value_text, walk, Lookup, PathSeg, RequestPart};
use watchpost_core::time::Nanos;

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
    /// False when skipped: an earlier step failed, or its `run_if`/`skip_if` said so.
    pub ran: bool,
    /// Attempts made (1 without retries; 0 when skipped).
    pub attempts: u32,
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub error: Option<ErrorClass>,
    /// Why the step failed: the first failed assertion (expected and actual) or the error.
    pub detail: String,
    pub outcomes: Vec<Outcome>,
    /// The last attempt's request and response, masked; only when the probe records them (`checks run -v`).
    pub exchange: Option<Box<Exchange>>,
}

impl StepResult {
    pub fn ok(&self) -> bool {
        self.ran && self.error.is_none()
    }

    /// The step as the history stores it: the `index`th step of the run that started at `ts`.
    pub fn point(&self, series: &Arc<SeriesKey>, ts: Nanos, index: usize) -> StepPoint {
        StepPoint {
            series: series.clone(),
            ts,
            step: self.name.clone(),
            index: u32::try_from(index).unwrap_or(u32::MAX),
            ran: self.ran,
            finally: self.finally,
            ok: self.ok(),
            status_code: self.status.map(i64::from),
            latency_ms: self.latency_ms,
            error: self.error,
            detail: self.detail.clone(),
            assertions: self.outcomes.iter().map(|o| o.line()).collect::<Vec<_>>().join("; "),
        }
    }
}

pub struct StepsProbe {
    cfg: StepsProbeConfig,
    shared: Arc<Shared>,
    /// Keep each step's request and response ([`StepResult::exchange`]).
    record: bool,
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
    /// `now` for the step being rendered: one instant per step, so a timestamp and its signature agree.
    now: i64,
}

/// The run as a step's headers see it: everything else, plus the request they belong to.
struct WithRequest<'a> {
    run: &'a Run<'a>,
    method: &'a str,
    url: &'a str,
    uri: &'a http::Uri,
    host: String,
    body: &'a str,
}

impl Lookup for WithRequest<'_> {
    fn env(&self, name: &str) -> Option<&str> {
        self.run.env(name)
    }
    fn var(&self, name: &str) -> Option<&str> {
        self.run.var(name)
    }
    fn step_body(&self, step: usize, path: &[PathSeg]) -> Option<Value> {
        self.run.step_body(step, path)
    }
    fn step_header(&self, step: usize, name: &str) -> Option<String> {
        self.run.step_header(step, name)
    }
    fn step_status(&self, step: usize) -> Option<u16> {
        self.run.step_status(step)
    }
    fn step_name(&self, step: usize) -> &str {
        self.run.step_name(step)
    }
    fn request(&self, part: RequestPart) -> Option<&str> {
        Some(match part {
            RequestPart::Method => self.method,
            RequestPart::Url => self.url,
            RequestPart::Path => self.uri.path(),
            RequestPart::Query => self.uri.query().unwrap_or(""),
            RequestPart::Host => &self.host,
            RequestPart::Body => self.body,
        })
    }
    fn now(&self) -> i64 {
        self.run.now
    }
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
    fn now(&self) -> i64 {
        self.now
    }
}

impl StepsProbe {
    pub fn new(cfg: StepsProbeConfig, shared: Arc<Shared>) -> Self {
        StepsProbe { cfg, shared, record: false }
    }

    /// The same probe, keeping each step's request and response for printing.
    pub fn recording(self) -> Self {
        StepsProbe { record: true, ..self }
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
        let mut headers = HeaderMap::new();
        let host = uri.authority().map_or("", |a| a.as_str()).rsplit('@').next().unwrap_or_default().to_string();
        let signing = WithRequest { run, method: step.method.as_str(), url: &url, uri: &uri, host, body: body.as_deref().unwrap_or("") };
        for (name, t) in &step.headers {
            let mut v =
                HeaderValue::from_str(&t.render(&signing)?).map_err(|_| format!("header {name}: the value has control characters"))?;
            v.set_sensitive(true);
            headers.insert(name.clone(), v);
        }
        if let Some((id, secret)) = &step.basic_auth {
            let mut v = HeaderValue::from_str(&basic_credentials(&id.render(run)?, &secret.render(run)?))
                .map_err(|_| "the client id or secret has control characters".to_string())?;
            v.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, v);
            headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/json"));
        }
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
            http2: true,
        })
    }

    /// Runs one step: request, extraction, assertions. Saves what later steps may read into `run`.
    /// Runs one step with its retries: the last attempt's result is the step's.
    async fn step_with_retries(&self, step: &StepConfig, run: &mut Run<'_>, timings: &mut Timings) -> StepResult {
        let mut attempt = 1;
        loop {
            run.now = watchpost_core::time::now_nanos();
            let mut r = self.step(step, run, timings).await;
            r.attempts = attempt;
            if r.error.is_none() || attempt > step.retries {
                return r;
            }
            tracing::debug!(step = %step.name, attempt, detail = %r.detail, "step failed; retrying");
            // The failed attempt's saved values are not the step's: the next attempt replaces them.
            run.saved.pop();
            attempt += 1;
            tokio::time::sleep(step.retry_delay).await;
        }
    }

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
        let content_type = |h: &HeaderMap| h.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        if self.record {
            result.exchange = Some(Box::new(Exchange {
                method: req.method.to_string(),
                url: masked_url(&req.url.to_string()),
                request_headers: masked_headers(&req.headers),
                request_body: req
                    .body
                    .as_deref()
                    .map_or(String::new(), |b| masked_body(b.as_bytes(), content_type(&req.headers).as_deref())),
                ..Default::default()
            }));
        }
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
                if let Some(x) = result.exchange.as_mut() {
                    x.status = f.status;
                }
                run.saved.push(None);
                return result;
            }
            Ok(Ok(obs)) => obs,
        };
        add_timings(timings, &obs.timings);
        result.status = obs.status;
        if let Some(x) = result.exchange.as_mut() {
            let headers = obs.headers.clone().unwrap_or_default();
            x.status = obs.status;
            x.response_headers = masked_headers(&headers);
            x.response_body = masked_body(&obs.body, content_type(&headers).as_deref());
            x.response_size = obs.body.len();
        }
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
        let mut run = Run {
            cfg: &self.cfg,
            vars: self.cfg.vars.clone(),
            saved: Vec::with_capacity(self.cfg.steps.len()),
            now: watchpost_core::time::now_nanos(),
        };
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
            if let Some(cond) = &step.condition {
                run.now = watchpost_core::time::now_nanos();
                match cond.runs(&run) {
                    Ok(true) => {}
                    Ok(false) => {
                        let detail = format!("skipped: {} {:?}", cond.key(), cond.to_string());
                        out.steps.push(StepResult {
                            name: step.name.clone(),
                            finally: step.finally,
                            ran: false,
                            detail,
                            ..Default::default()
                        });
                        run.saved.push(None);
                        continue;
                    }
                    Err(e) => {
                        // Shown as a failed step (it did not send anything, but the check is broken here).
                        let r = StepResult {
                            name: step.name.clone(),
                            finally: step.finally,
                            ran: true,
                            error: Some(ErrorClass::Assertion),
                            detail: format!("cannot decide {}: {e}", cond.key()),
                            ..Default::default()
                        };
                        if failure.is_none() && !step.finally {
                            out.failed_step = Some(step.name.clone());
                            failure = Some((ErrorClass::Assertion, format!("step {}: {}", step.name, r.detail), None));
                        }
                        out.steps.push(r);
                        run.saved.push(None);
                        continue;
                    }
                }
            }
            if !step.pause.is_zero() {
                tokio::time::sleep(step.pause).await;
            }
            let r = self.step_with_retries(step, &mut run, &mut timings).await;
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
