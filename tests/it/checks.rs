//! Multi-step API checks end to end, against a local API that creates, serves and deletes streams: one-shot
//! runs with their report and JUnit XML, cleanup by `finally` steps, every way the API can break, and the
//! history the running agent keeps.

#![allow(clippy::disallowed_methods)] // reads the SQLite files directly and keeps its own clock: an independent check

use crate::common;

use common::api::{Api, Mode};
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOKENS: &[&str] = &["t-staging", "t-production"];

fn config(dir: &Path, api: &Api, listen: u16, interval: &str, step_timeout: &str) -> PathBuf {
    write_config(
        dir,
        &format!(
            r#"
[agent]
region = "test"
retry_interval = "300ms"
failure_threshold = 2
batch_max_age = "100ms"

[store]
type = "sqlite"
path = "{db}"

[server]
listen = "127.0.0.1:{listen}"

[vars]
prefix = "wp"

[environments.staging]
base = "http://127.0.0.1:{port}"
token = "t-staging"

[environments.production]
base = "http://127.0.0.1:{port}"
token = "t-production"

[[checks]]
id = "stream"
name = "Live stream lifecycle"
environments = ["staging", "production"]
interval = "{interval}"
timeout = "{step_timeout}"

[[checks.steps]]
name = "create"
method = "POST"
url = "{{{{env.base}}}}/streams"
headers = {{ Authorization = "Bearer {{{{env.token}}}}" }}
json = {{ name = "{{{{vars.prefix}}}}-{{{{uuid}}}}" }}
extract = {{ id = {{ json = "$.id" }} }}
assert = [
  {{ status = 201 }},
  {{ header = "location", op = "matches", value = "^/streams/[0-9]+$" }},
  {{ json = "$.playback_url", op = "matches", value = "^rtmp://" }},
]

[[checks.steps]]
name = "read"
url = "{{{{env.base}}}}{{{{steps.create.headers.location}}}}"
headers = {{ Authorization = "Bearer {{{{env.token}}}}" }}
assert = [
  {{ status = 200 }},
  {{ json = "$.playback_url", op = "==", value = "{{{{steps.create.body.playback_url}}}}" }},
  {{ json = "$.id", op = "==", value = "{{{{vars.id}}}}" }},
  {{ json = "$.state", op = "not_empty" }},
]

[[checks.steps]]
name = "delete"
method = "DELETE"
url = "{{{{env.base}}}}/streams/{{{{vars.id}}}}"
headers = {{ Authorization = "Bearer {{{{env.token}}}}" }}
finally = true
assert = [{{ status = [204, 404] }}]
"#,
            db = dir.join("w.db").display(),
            port = api.port,
        ),
    )
}

fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs `checks run` for staging with a JUnit report; returns the output and the parsed report's text.
fn run_once(cfg: &Path, dir: &Path, env: Option<&str>) -> (std::process::Output, String) {
    let junit = dir.join("junit.xml");
    let _ = std::fs::remove_file(&junit);
    let mut args = vec!["checks", "--config", cfg.to_str().unwrap(), "run", "--junit", junit.to_str().unwrap()];
    if let Some(e) = env {
        args.extend(["--env", e]);
    }
    let o = run(&args);
    let xml = std::fs::read_to_string(&junit).unwrap_or_else(|e| panic!("no JUnit report ({e}): {}", out(&o)));
    (o, xml)
}

/// (suite, case, failure type) of every failed test case, after checking the document's structure and counts.
fn junit_failures(xml: &str) -> Vec<(String, String, String)> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("the JUnit report is not XML: {e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let mut failures = Vec::new();
    let mut cases_total = 0;
    for suite in root.children().filter(|n| n.has_tag_name("testsuite")) {
        let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
        let count = |attr: &str| suite.attribute(attr).and_then(|v| v.parse::<usize>().ok()).unwrap();
        assert_eq!(count("tests"), cases.len(), "tests= matches the cases");
        let failed: Vec<_> = cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("failure"))).collect();
        assert_eq!(count("failures"), failed.len());
        assert_eq!(count("skipped"), cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("skipped"))).count());
        for c in cases.iter() {
            assert!(c.attribute("time").and_then(|t| t.parse::<f64>().ok()).is_some(), "every case has a time");
            assert!(c.attribute("classname").is_some() && c.attribute("name").is_some());
        }
        for c in failed {
            let f = c.children().find(|n| n.has_tag_name("failure")).unwrap();
            assert!(!f.attribute("message").unwrap_or_default().is_empty(), "a failure says why");
            failures.push((
                suite.attribute("name").unwrap().to_string(),
                c.attribute("name").unwrap().to_string(),
                f.attribute("type").unwrap().to_string(),
            ));
        }
        cases_total += cases.len();
    }
    let total: usize = root.attribute("tests").unwrap().parse().unwrap();
    assert_eq!(total, cases_total);
    failures
}

#[test]
fn a_three_step_check_passes_cleans_up_and_fails_at_the_right_step_for_each_breakage() {
    let api = Api::start(TOKENS);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &api, free_port(), "1m", "1s");

    // Healthy: both environments pass, every stream created is deleted again.
    let (o, xml) = run_once(&cfg, dir.path(), None);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("✓ stream [staging]") && text.contains("✓ stream [production]"), "{text}");
    assert!(text.contains("2 check run(s): 2 passed, 0 failed"), "{text}");
    assert_eq!(api.live(), 0, "the finally step deleted what the check created");
    assert_eq!(junit_failures(&xml), vec![]);
    assert_eq!(xml.matches("<testcase ").count(), 6, "two suites of three steps:\n{xml}");

    // Each breakage: (mode, failing step, error class, text the report must show, streams left behind).
    let cases: &[(Mode, &str, &str, &str, usize)] = &[
        (Mode::CreateFails, "create", "status", "status 201: expected 201, got 500", 0),
        (Mode::WrongPlaybackUrl, "read", "assertion", "got \"rtmp://other.test/", 0),
        (Mode::ReadMissing, "read", "status", "expected 200, got 404", 0),
        (Mode::ReadSlow, "read", "timeout", "no complete answer within 1000 ms", 0),
        // No id: nothing to extract, so the cleanup cannot name the stream either, and says so.
        (Mode::NoId, "create", "assertion", "extract id: $.id matched nothing", 1),
    ];
    for (mode, step, class, fragment, left) in cases {
        api.clear();
        api.set(*mode);
        let (o, xml) = run_once(&cfg, dir.path(), Some("staging"));
        let text = out(&o);
        assert_eq!(o.status.code(), Some(1), "{mode:?}: a failed check exits 1\n{text}");
        assert!(text.contains(&format!("✗ stream [staging]  FAILED: step {step}: ")), "{mode:?}\n{text}");
        assert!(text.contains(fragment), "{mode:?}: {fragment:?} in\n{text}");
        assert!(!text.contains("[production]"), "--env staging runs only staging\n{text}");
        assert_eq!(api.live(), *left, "{mode:?}: streams left behind\n{text}");
        let failures = junit_failures(&xml);
        assert_eq!(failures[0], ("stream [staging]".to_string(), step.to_string(), class.to_string()), "{mode:?}\n{xml}");
        if *step == "create" {
            assert!(xml.contains("<testcase classname=\"stream.staging\" name=\"read\"") && xml.contains("<skipped"), "{xml}");
        }
        if *mode == Mode::NoId {
            // Issue 17, defect 13: the cleanup that needs what the failed step never produced is skipped, and
            // says why; it is not a second failure.
            assert!(
                text.contains("- delete") && text.contains("skipped  (finally) (") && text.contains("vars.id is not available"),
                "{text}"
            );
            assert_eq!(failures.len(), 1, "one failure, the real one: {failures:?}\n{xml}");
            assert!(xml.contains("<skipped message=\"") && xml.contains("vars.id is not available"), "{xml}");
        }
    }

    // Issue 17, defect 13: a failing cleanup fails the run (exit 1), as the JUnit report says: what the check
    // created is left behind.
    api.clear();
    api.set(Mode::DeleteFails);
    let (o, xml) = run_once(&cfg, dir.path(), Some("staging"));
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED: step delete: ") && text.contains("✗ delete") && text.contains("(finally)"), "{text}");
    assert!(text.contains("expected one of [204, 404], got 500"), "{text}");
    assert_eq!(junit_failures(&xml), vec![("stream [staging]".to_string(), "delete (finally)".to_string(), "status".to_string())]);

    // Usage errors name what exists.
    let o = run(&["checks", "--config", cfg.to_str().unwrap(), "run", "strem"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("unknown check `strem`; configured: stream"), "{}", out(&o));
    let o = run(&["checks", "--config", cfg.to_str().unwrap(), "run", "--env", "qa"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("environments in use: production, staging"), "{}", out(&o));
}

#[test]
fn the_agent_keeps_each_runs_steps_and_confirms_a_broken_api_down() {
    let api = Api::start(TOKENS);
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let cfg = config(dir.path(), &api, listen, "1s", "300ms");
    let c = cfg.to_str().unwrap();
    let child = spawn(&["run", "--config", c]);
    // Two healthy runs per environment (three requests each), then the API serves the wrong playback URL.
    assert!(wait_for(Duration::from_secs(30), || api.requests.load(std::sync::atomic::Ordering::SeqCst) >= 12), "the checks ran");
    api.set(Mode::WrongPlaybackUrl);
    let down = wait_for(Duration::from_secs(30), || {
        let o = run(&["status", "--config", c, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v.as_array().is_some_and(|rows| rows.iter().filter(|r| r["endpoint"] == "stream" && r["state"] == "DOWN").count() == 2)
    });
    let o = terminate(child);
    assert!(down, "both environments confirmed down after two failed runs:\n{}", out(&o));
    assert_eq!(api.live(), 0, "every run cleaned up after itself");

    let o = run(&["checks", "--config", c, "history", "stream", "--env", "staging", "--limit", "50"]);
    let text = out(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("passed"), "{text}");
    assert!(text.contains("FAILED at step read: json $.playback_url =="), "{text}");
    assert!(text.contains("got \"rtmp://other.test/"), "the assertion's actual value is in the history\n{text}");
    assert!(!text.contains("production"), "{text}");

    // The probe points of failed runs name the failing step.
    let db = rusqlite::Connection::open(dir.path().join("w.db")).unwrap();
    let failed: Vec<String> = db
        .prepare("SELECT DISTINCT failed_step FROM probe WHERE failed_step IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(failed, vec!["read".to_string()]);
    let environments: i64 =
        db.query_row("SELECT count(DISTINCT environment) FROM series WHERE endpoint = 'stream'", [], |r| r.get(0)).unwrap();
    assert_eq!(environments, 2, "points carry the environment tag");
}

/// Issue 17, defect 7: a value from `${ENV}` used as an assertion's expected value appeared in `checks run`,
/// the JUnit report, `checks history`, the stored step detail and the "confirmed down" log line.
#[test]
fn regression_values_from_the_environment_never_appear_in_check_results() {
    const SECRET: &str = "expected-s3cret-from-env";
    let target = Toggle::start(true);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[agent]
region = "test"
retry_interval = "100ms"
failure_threshold = 2
batch_max_age = "100ms"

[store]
type = "sqlite"
path = "{db}"

[server]
listen = "127.0.0.1:{listen}"

[environments.production]
base = "{url}"
token = "${{API_TOKEN}}"

[[checks]]
id = "secretive"
environments = ["production"]
interval = "1s"
timeout = "900ms"

[[checks.steps]]
name = "probe"
url = "{{{{env.base}}}}"
assert = [{{ body_contains = "{{{{env.token}}}}" }}, {{ body_contains = "${{API_TOKEN}}-too" }}]
"#,
            db = db.display(),
            listen = free_port(),
            url = target.url(),
        ),
    );
    let c = cfg.to_str().unwrap();
    let cli = |args: &[&str]| watchpost().args(args).env("API_TOKEN", SECRET).output().unwrap();
    let junit = dir.path().join("junit.xml");
    let o = cli(&["checks", "--config", c, "run", "--junit", junit.to_str().unwrap()]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "the body does not contain the token: the check fails\n{text}");
    assert!(text.contains("body contains \"***\"") || text.contains("***"), "the failed assertion is shown, masked\n{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    for (what, shown) in [("checks run", &text), ("JUnit", &xml)] {
        assert!(!shown.contains(SECRET), "{what} shows the secret:\n{shown}");
    }
    // The running agent: stored step details, its log, and `checks history`.
    let mut child = watchpost()
        .args(["agent", "--config", c])
        .env("API_TOKEN", SECRET)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stored = || -> Vec<String> {
        let Ok(db) = rusqlite::Connection::open(&db) else { return vec![] };
        let Ok(mut s) = db.prepare("SELECT detail || ' ' || assertions FROM check_step") else { return vec![] };
        s.query_map([], |r| r.get::<_, String>(0)).map(|rows| rows.flatten().collect()).unwrap_or_default()
    };
    let confirmed = wait_for(Duration::from_secs(20), || {
        rusqlite::Connection::open(&db)
            .and_then(|db| db.query_row("SELECT count(*) FROM probe WHERE confirmed_down = 1", [], |r| r.get::<_, i64>(0)))
            .is_ok_and(|n| n > 0)
    });
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    let _ = child.wait();
    assert!(confirmed, "the check was confirmed down\n{log}");
    assert!(log.contains("endpoint confirmed down"), "{log}");
    let details = stored();
    assert!(!details.is_empty() && details.iter().all(|d| d.contains("***")), "{details:?}");
    let history = out(&cli(&["checks", "--config", c, "history", "secretive", "--verbose"]));
    for (what, shown) in [("the log", &log), ("the stored details", &details.join("\n")), ("checks history", &history)] {
        assert!(!shown.contains(SECRET), "{what} shows the secret:\n{shown}");
    }
}

/// An API that wants what real ones want: a client-credentials token (HTTP Basic with a secret that needs
/// percent-encoding), requests signed with HMAC over a timestamp, the method, the path and the body, and an
/// endpoint that fails twice before it answers. `checks run -v` shows every exchange without a secret,
/// `run_if`/`skip_if` decide, retries carry the flaky step, and the run is in `checks history`.
#[test]
fn oauth2_signed_requests_retries_conditions_and_verbose_runs() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CLIENT_SECRET: &str = "s3cr:et/x";
    const TOKEN: &str = "at-8f2e61";
    const SIGNING_KEY: &str = "sign-key-5521";
    let flaky = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = flaky.clone();
    let port = common::api::serve_each(move |mut conn| {
        let Some((method, path, headers, body)) = common::api::read(&mut conn) else { return };
        let basic = format!("Basic {}", base64_of(&format!("watchpost:{}", "s3cr%3Aet%2Fx")));
        let bearer = headers.get("authorization").is_some_and(|a| a == &format!("Bearer {TOKEN}"));
        let (status, body) = match (method.as_str(), path.as_str()) {
            ("POST", "/oauth/token")
                if headers.get("authorization") == Some(&basic)
                    && body.contains("grant_type=client_credentials")
                    && body.contains("scope=orders%3Aread") =>
            {
                (200, format!(r#"{{"access_token":"{TOKEN}","token_type":"Bearer","expires_in":3600}}"#))
            }
            ("POST", "/oauth/token") => (401, r#"{"error":"invalid_client"}"#.to_string()),
            ("POST", "/orders") if bearer => {
                let ts = headers.get("x-timestamp").cloned().unwrap_or_default();
                let want = watchpost_core::sign::hmac_hex(SIGNING_KEY, &format!("{ts}.POST./orders.{body}"));
                if headers.get("x-signature") == Some(&want) {
                    (200, r#"{"id":7,"state":"accepted"}"#.to_string())
                } else {
                    (401, r#"{"error":"bad signature"}"#.to_string())
                }
            }
            ("GET", "/flaky") if counter.fetch_add(1, Ordering::SeqCst) % 3 < 2 => (500, "{}".to_string()),
            ("GET", "/flaky") => (200, r#"{"ok":true}"#.to_string()),
            _ => (404, "{}".to_string()),
        };
        common::api::respond(&mut conn, status, "", &body);
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[agent]
region = "ci"

[store]
type = "sqlite"
path = "{db}"

[vars]
base = "http://127.0.0.1:{port}"
mode = "full"
client_secret = "${{CLIENT_SECRET}}"
signing_key = "${{SIGNING_KEY}}"

[[checks]]
id = "orders"

[[checks.steps]]
name = "token"
oauth2 = {{ token_url = "{{{{vars.base}}}}/oauth/token", client_id = "watchpost", client_secret = "{{{{vars.client_secret}}}}", scope = "orders:read" }}

[[checks.steps]]
name = "order"
method = "POST"
url = "{{{{vars.base}}}}/orders"
json = {{ sku = "abc-1" }}
headers = {{ Authorization = "Bearer {{{{steps.token.body.access_token}}}}", X-Timestamp = "{{{{now.unix}}}}", X-Signature = "{{{{hmac_sha256(vars.signing_key, now.unix, \".\", request.method, \".\", request.path, \".\", request.body)}}}}" }}
assert = [{{ json = "$.state", value = "accepted" }}]

[[checks.steps]]
name = "flaky"
url = "{{{{vars.base}}}}/flaky"
retries = 2
retry_delay = "100ms"
run_if = "{{{{vars.mode}}}} == full"

[[checks.steps]]
name = "only-when-created"
url = "{{{{vars.base}}}}/nowhere"
skip_if = "{{{{steps.order.status}}}} == 200"
"#,
            db = dir.path().join("w.db").display(),
        ),
    );
    let c = cfg.to_str().unwrap();
    let checks = |args: &[&str]| {
        let o = watchpost()
            .args(["checks", "--config", c])
            .args(args)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("SIGNING_KEY", SIGNING_KEY)
            .output()
            .expect("run watchpost");
        (o.status.code(), out(&o))
    };
    let (code, text) = checks(&["run", "-v"]);
    assert_eq!(code, Some(0), "{text}");
    for shown in [
        "✓ orders [production]  passed",
        &format!("> POST http://127.0.0.1:{port}/oauth/token"),
        "> authorization: ***",
        "> grant_type=client_credentials&scope=orders%3Aread",
        "< 200 (",
        r#""access_token":"***""#,
        r#""token_type":"Bearer""#,
        "> x-timestamp: 1",
        "> x-signature: ***",
        r#"> {"sku":"abc-1"}"#,
        r#"< {"id":7,"state":"accepted"}"#,
        "(3 attempts)",
        "- only-when-created",
        "skip_if",
    ] {
        assert!(text.contains(shown), "{shown:?} in\n{text}");
    }
    for secret in [CLIENT_SECRET, "s3cr%3Aet%2Fx", TOKEN, SIGNING_KEY] {
        assert!(!text.contains(secret), "{secret:?} shown in\n{text}");
    }
    assert_eq!(flaky.load(Ordering::SeqCst), 3, "two failed attempts and the one that passed");

    // The run is in the history, under the agent's region; --no-record leaves no second run.
    let (code, text) = checks(&["history", "orders", "-v"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("last 1 run(s)") && text.contains("ci") && text.contains("passed"), "{text}");
    let (code, text) = checks(&["run", "--no-record"]);
    assert_eq!(code, Some(0), "{text}");
    let (_, text) = checks(&["history", "orders"]);
    assert!(text.contains("last 1 run(s)"), "{text}");

    // A wrong secret: the token step fails, and says so without showing it.
    let (code, text) = {
        let o = watchpost()
            .args(["checks", "--config", c, "run", "-v"])
            .env("CLIENT_SECRET", "wrong-secret-99")
            .env("SIGNING_KEY", SIGNING_KEY)
            .output()
            .unwrap();
        (o.status.code(), out(&o))
    };
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FAILED: step token: status 2xx: expected 2xx, got 401"), "{text}");
    assert!(!text.contains("wrong-secret-99"), "{text}");
}

fn base64_of(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
