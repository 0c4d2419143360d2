//! `watchpost checks run` (one-shot runs for CI, with a JUnit report) and `watchpost checks history` (the last
//! runs from the store).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use watchpost_agent::probe::exchange::Exchange;
use watchpost_agent::probe::steps::{CheckRun, StepsProbe};
use watchpost_agent::probe::{mask_attempt, run_attempt, Attempt, Shared};
use watchpost_core::config::{format_duration, parse_duration, Config, EndpointConfig, ProbeConfig};
use watchpost_core::model::{Point, SeriesKey, StepPoint};
use watchpost_core::time::{format_rfc3339, TimeRange};

#[derive(clap::Subcommand)]
pub enum ChecksCommand {
    /// Run checks now and print a report; exit 1 if any failed (for CI and deployment gates).
    Run {
        /// Only this environment (default: every environment each check names).
        #[arg(long = "env", value_name = "NAME")]
        env: Option<String>,
        /// Also write a JUnit XML report here (one test suite per check and environment, one test case per step).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Print each step's request (method, URL, headers, body) and response (status, headers, the first KiB
        /// of the body), secrets masked.
        #[arg(short, long)]
        verbose: bool,
        /// Do not record the runs in the store (by default `checks history` shows them, under the agent's region).
        #[arg(long)]
        no_record: bool,
        /// Checks to run (default: all).
        ids: Vec<String>,
    },
    /// Show the last runs of a check from the store: when, where, the failing step and the assertion that failed.
    History {
        /// The check's id.
        id: String,
        /// Only this environment.
        #[arg(long = "env", value_name = "NAME")]
        env: Option<String>,
        /// How many runs to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// How far back to look, e.g. `6h`, `7d`.
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        since: Duration,
        /// Show every step of every run, not only the failing ones.
        #[arg(short, long)]
        verbose: bool,
    },
}

pub async fn main(cfg: &Config, cmd: ChecksCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ChecksCommand::Run { env, junit, ids, verbose, no_record } => {
            run(cfg, env.as_deref(), &ids, junit, RunOptions { verbose, record: !no_record }).await
        }
        ChecksCommand::History { id, env, limit, since, verbose } => history(cfg, &id, env.as_deref(), limit, since, verbose).await,
    }
}

/// The check runs `ids` and `env` select; an unknown id or environment is a usage error that lists what exists.
fn select<'a>(cfg: &'a Config, env: Option<&str>, ids: &[String]) -> Result<Vec<&'a EndpointConfig>, String> {
    let known: Vec<&str> = {
        let mut v: Vec<&str> = cfg.checks().map(|c| c.id.as_str()).collect();
        v.dedup();
        v
    };
    if known.is_empty() {
        return Err(format!("{}: no [[checks]] are configured", cfg.file));
    }
    for id in ids {
        if !known.contains(&id.as_str()) {
            return Err(format!("unknown check `{id}`; configured: {}", known.join(", ")));
        }
    }
    let selected: Vec<&EndpointConfig> =
        cfg.checks().filter(|c| ids.is_empty() || ids.contains(&c.id)).filter(|c| env.is_none_or(|e| c.environment == e)).collect();
    if selected.is_empty() {
        let envs: std::collections::BTreeSet<&str> = cfg.checks().map(|c| c.environment.as_str()).collect();
        return Err(format!(
            "no selected check runs in environment `{}`; environments in use: {}",
            env.unwrap_or_default(),
            envs.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(selected)
}

struct RunOptions {
    verbose: bool,
    record: bool,
}

async fn run(cfg: &Config, env: Option<&str>, ids: &[String], junit: Option<PathBuf>, opts: RunOptions) -> anyhow::Result<ExitCode> {
    let selected = match select(cfg, env, ids) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(crate::EXIT_INVALID));
        }
    };
    let shared = Shared::new();
    let started = std::time::Instant::now();
    // Independent checks run in parallel, within the agent's concurrency limit; each run's steps in sequence.
    let permits = Arc::new(tokio::sync::Semaphore::new(cfg.agent.concurrency));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, c) in selected.iter().enumerate() {
        let ProbeConfig::Steps(steps) = &c.probe else { continue };
        let probe = StepsProbe::new((**steps).clone(), shared.clone());
        let probe = if opts.verbose { probe.recording() } else { probe };
        let (tx, permits, timeout, masks) = (tx.clone(), permits.clone(), c.timeout, cfg.masks.clone());
        tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let attempt = mask_attempt(run_attempt(&probe, &[], timeout).await, &masks);
            let _ = tx.send((i, attempt));
        });
    }
    drop(tx);
    let mut results: Vec<Option<Attempt>> = vec![None; selected.len()];
    let mut out = std::io::stdout().lock();
    let colour = std::io::stdout().is_terminal();
    // Print each check as it finishes: a long suite shows progress, and the order follows completion.
    while let Some((i, attempt)) = rx.recv().await {
        let text = report(selected[i], &attempt, colour, opts.verbose);
        use std::io::Write as _;
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        results[i] = Some(attempt);
    }
    drop(out);
    let finished: Vec<(&EndpointConfig, Attempt)> = selected.iter().zip(results).filter_map(|(c, a)| a.map(|a| (*c, a))).collect();
    let failed = finished.iter().filter(|(_, a)| !a.ok).count();
    println!(
        "{} check run(s): {} passed, {} failed ({:.1} s)",
        finished.len(),
        finished.len() - failed,
        failed,
        started.elapsed().as_secs_f64()
    );
    if opts.record {
        record(cfg, &finished).await;
    }
    if let Some(path) = junit {
        std::fs::write(&path, junit_xml(&finished, started.elapsed()))
            .map_err(|e| anyhow::anyhow!("cannot write the JUnit report {}: {e}", path.display()))?;
        println!("JUnit report: {}", path.display());
    }
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn mark(ok: bool, colour: bool) -> &'static str {
    match (ok, colour) {
        (true, true) => "\x1b[32m✓\x1b[0m",
        (false, true) => "\x1b[31m✗\x1b[0m",
        (true, false) => "✓",
        (false, false) => "✗",
    }
}

/// Writes the runs' steps to the store, for `checks history`. A store that cannot be reached does not fail
/// the command (a CI job may have none): it is said on stderr, with how to skip recording.
async fn record(cfg: &Config, runs: &[(&EndpointConfig, Attempt)]) {
    let points: Vec<Point> = runs
        .iter()
        .flat_map(|(c, a)| {
            let series = Arc::new(SeriesKey {
                endpoint: c.id.clone(),
                region: cfg.agent.region.clone(),
                component: c.component.clone().unwrap_or_default(),
                environment: c.environment.clone(),
            });
            let steps = a.run.as_deref().map(|r| r.steps.as_slice()).unwrap_or_default();
            steps.iter().enumerate().map(move |(i, st)| Point::Step(st.point(&series, a.start, i))).collect::<Vec<_>>()
        })
        .collect();
    let written = async {
        let store = watchpost_core::store::open(&cfg.store).await?;
        store.write(&points).await
    };
    match tokio::time::timeout(Duration::from_secs(10), written).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("warning: the runs were not recorded for `checks history`: {e} (--no-record skips recording)"),
        Err(_) => eprintln!(
            "warning: the runs were not recorded for `checks history`: the store did not answer within 10 s (--no-record skips recording)"
        ),
    }
}

/// The readable report of one run; `verbose` adds each step's request and response.
fn report(c: &EndpointConfig, a: &Attempt, colour: bool, verbose: bool) -> String {
    let mut s = String::new();
    let head = format!("{} [{}]", c.id, c.environment);
    if a.ok {
        let _ = writeln!(s, "{} {head}  passed in {:.0} ms", mark(true, colour), a.latency_ms);
    } else {
        let _ = writeln!(s, "{} {head}  FAILED: {}", mark(false, colour), a.detail);
    }
    let empty = CheckRun::default();
    let run = a.run.as_deref().unwrap_or(&empty);
    for st in &run.steps {
        let fin = if st.finally { "  (finally)" } else { "" };
        if !st.ran {
            let why = if st.detail.is_empty() { String::new() } else { format!(" ({})", st.detail.trim_start_matches("skipped: ")) };
            let _ = writeln!(s, "    - {:<16} skipped{fin}{why}", st.name);
            continue;
        }
        let status = st.status.map_or("-".to_string(), |c| c.to_string());
        let tries = if st.attempts > 1 { format!("  ({} attempts)", st.attempts) } else { String::new() };
        let _ = writeln!(s, "    {} {:<16} {status:>3}  {:>7.1} ms{fin}{tries}", mark(st.ok(), colour), st.name, st.latency_ms);
        if let Some(x) = st.exchange.as_deref().filter(|_| verbose) {
            exchange(&mut s, x);
        }
        if !st.ok() {
            for o in st.outcomes.iter().filter(|o| !o.passed) {
                let _ = writeln!(s, "        {}", o.line());
            }
            if st.outcomes.iter().all(|o| o.passed) {
                let _ = writeln!(s, "        {}: {}", st.error.map_or("error", |e| e.as_str()), st.detail);
            }
        }
    }
    s
}

/// A step's request (`>`) and response (`<`), as curl -v shows them.
fn exchange(s: &mut String, x: &Exchange) {
    let _ = writeln!(s, "        > {} {}", x.method, x.url);
    for (k, v) in &x.request_headers {
        let _ = writeln!(s, "        > {k}: {v}");
    }
    for line in x.request_body.lines() {
        let _ = writeln!(s, "        > {line}");
    }
    match x.status {
        None => {
            let _ = writeln!(s, "        < (no response)");
        }
        Some(code) => {
            let _ = writeln!(s, "        < {code} ({} bytes)", x.response_size);
            for (k, v) in &x.response_headers {
                let _ = writeln!(s, "        < {k}: {v}");
            }
            for line in x.response_body.lines() {
                let _ = writeln!(s, "        < {line}");
            }
        }
    }
}

/// JUnit XML as Jenkins, GitLab and GitHub test reporters read it: one `<testsuite>` per check and environment,
/// one `<testcase>` per step; a failed step has `<failure>`, a skipped one `<skipped/>`.
pub fn junit_xml(runs: &[(&EndpointConfig, Attempt)], total: Duration) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let count = |f: &dyn Fn(&watchpost_agent::probe::steps::StepResult) -> bool| -> usize {
        runs.iter().map(|(_, a)| a.run.as_ref().map_or(0, |r| r.steps.iter().filter(|s| f(s)).count())).sum()
    };
    let (tests, failures) = (count(&|_| true), count(&|s| s.ran && !s.ok()));
    let _ = writeln!(
        x,
        "<testsuites name=\"watchpost checks\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        total.as_secs_f64()
    );
    for (c, a) in runs {
        let steps = a.run.as_ref().map(|r| r.steps.as_slice()).unwrap_or_default();
        let suite = format!("{} [{}]", c.id, c.environment);
        let fails = steps.iter().filter(|s| s.ran && !s.ok()).count();
        let skipped = steps.iter().filter(|s| !s.ran).count();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\" timestamp=\"{}\">",
            watchpost_core::markup::escape(&suite),
            steps.len().max(1),
            a.latency_ms / 1e3,
            format_rfc3339(a.start)
        );
        let class = watchpost_core::markup::escape(&format!("{}.{}", c.id, c.environment));
        if steps.is_empty() {
            // The run ended before any step reported (its overall time limit): one case says so.
            let _ = writeln!(x, "    <testcase classname=\"{class}\" name=\"run\" time=\"{:.3}\">", a.latency_ms / 1e3);
            let _ = writeln!(
                x,
                "      <failure message=\"{}\" type=\"{}\"/>",
                watchpost_core::markup::escape(&a.detail),
                a.error.map_or("error", |e| e.as_str())
            );
            let _ = writeln!(x, "    </testcase>");
        }
        for st in steps {
            let name = if st.finally { format!("{} (finally)", st.name) } else { st.name.clone() };
            let _ = write!(
                x,
                "    <testcase classname=\"{class}\" name=\"{}\" time=\"{:.3}\"",
                watchpost_core::markup::escape(&name),
                st.latency_ms / 1e3
            );
            if !st.ran {
                let why = if st.detail.is_empty() { "an earlier step failed".to_string() } else { st.detail.clone() };
                let _ = writeln!(x, ">\n      <skipped message=\"{}\"/>\n    </testcase>", watchpost_core::markup::escape(&why));
            } else if !st.ok() {
                let body: Vec<String> = st.outcomes.iter().map(|o| o.line()).collect();
                let _ = writeln!(
                    x,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    watchpost_core::markup::escape(&st.detail),
                    st.error.map_or("error", |e| e.as_str()),
                    watchpost_core::markup::escape(&body.join("\n"))
                );
            } else {
                let _ = writeln!(x, "/>");
            }
        }
        let _ = writeln!(x, "  </testsuite>");
    }
    x.push_str("</testsuites>\n");
    x
}

async fn history(cfg: &Config, id: &str, env: Option<&str>, limit: usize, since: Duration, verbose: bool) -> anyhow::Result<ExitCode> {
    if let Err(e) = select(cfg, env, &[id.to_string()]) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(crate::EXIT_INVALID));
    }
    let store = watchpost_core::store::open_existing(&cfg.store).await?;
    let steps = store.check_runs(id, env, TimeRange::last(since)).await?;
    // The steps of one run share its timestamp, region and environment.
    let mut runs: BTreeMap<(i64, String, String), Vec<StepPoint>> = BTreeMap::new();
    for s in steps {
        runs.entry((s.ts, s.series.region.clone(), s.series.environment.clone())).or_default().push(s);
    }
    if runs.is_empty() {
        println!("{id}: no runs in the last {}", format_duration(since));
        return Ok(ExitCode::SUCCESS);
    }
    let colour = std::io::stdout().is_terminal();
    let shown: Vec<_> = runs.into_iter().rev().take(limit).collect();
    let failed = shown.iter().filter(|(_, st)| st.iter().any(|s| !s.ok && s.ran)).count();
    println!("{id}: last {} run(s) in {}, newest first ({failed} failed)", shown.len(), format_duration(since));
    for ((ts, region, environment), mut steps) in shown {
        steps.sort_by_key(|s| s.index);
        let total: f64 = steps.iter().map(|s| s.latency_ms).sum();
        let failing = steps.iter().find(|s| s.ran && !s.ok);
        match failing {
            None => println!("{} {}  {environment:<12} {region:<10} passed  {total:.0} ms", mark(true, colour), format_rfc3339(ts)),
            Some(f) => println!(
                "{} {}  {environment:<12} {region:<10} FAILED at step {}: {}",
                mark(false, colour),
                format_rfc3339(ts),
                f.step,
                f.detail
            ),
        }
        if verbose || failing.is_some() {
            for s in &steps {
                let status = s.status_code.map_or("-".into(), |c| c.to_string());
                let state = if !s.ran {
                    "skipped"
                } else if s.ok {
                    "ok"
                } else {
                    s.error.map_or("failed", |e| e.as_str())
                };
                let fin = if s.finally { " (finally)" } else { "" };
                println!("      {:<16} {status:>3} {:>8.1} ms  {state}{fin}", s.step, s.latency_ms);
                if verbose && !s.assertions.is_empty() {
                    for a in s.assertions.split("; ") {
                        println!("          {a}");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
