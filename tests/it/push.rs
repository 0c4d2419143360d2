//! Push endpoints end to end: a job reports to `POST /api/v1/push/{id}` on the running agent; reports on time
//! keep the endpoint up, a wrong token is refused and records nothing, and silence confirms an outage.

#![allow(clippy::disallowed_methods)] // reads the SQLite files directly and keeps its own clock: an independent check

use crate::common;

use common::*;
use std::time::Duration;

const TOKEN: &str = "ci-job-token-0123456789";

fn status_of(cfg: &str, id: &str) -> Option<serde_json::Value> {
    let o = run(&["status", "--config", cfg, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
    v.as_array()?.iter().find(|r| r["endpoint"] == id).cloned()
}

fn report(port: u16, token: &str, body: &str) -> String {
    let auth = format!("Authorization: Bearer {token}");
    http_request(port, "POST", "/api/v1/push/nightly", &[&auth, "Content-Type: application/x-www-form-urlencoded"], body)
        .map(|(status, _)| status)
        .unwrap_or_default()
}

#[test]
fn reports_keep_a_push_endpoint_up_a_wrong_token_records_nothing_and_silence_confirms_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let db = dir.path().join("w.db");
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[agent]
batch_max_age = "100ms"

[store]
type = "sqlite"
path = "{}"

[server]
listen = "127.0.0.1:{listen}"

[[endpoints]]
id = "nightly"
type = "push"
token = "{TOKEN}"
expect_every = "1s"
grace = "300ms"
failure_threshold = 2
"#,
            db.display()
        ),
    );
    let c = cfg.to_str().unwrap();
    let child = spawn(&["run", "--config", c]);
    assert!(wait_for(Duration::from_secs(20), || http_get(listen, "/healthz").is_some()), "the agent listens");

    // On time, every ~400 ms for 4 s; a stranger with the wrong token reports failures in between.
    let mut accepted = 0;
    for i in 0..10 {
        let s = report(listen, TOKEN, &format!("ok=true&latency_ms={}&message=run+{i}", 800 + i));
        accepted += usize::from(s.contains("202"));
        let s = report(listen, "not-the-token-at-all-0000", "ok=false&message=forged");
        assert!(s.contains("401"), "a wrong token is refused: {s}");
        std::thread::sleep(Duration::from_millis(400));
    }
    assert_eq!(accepted, 10);
    let st = status_of(c, "nightly").expect("a state for the push endpoint");
    assert_eq!(st["state"], "up", "{st}");
    assert_eq!(st["last_error"], "", "no forged failure was recorded: {st}");
    assert!(report(listen, TOKEN, "ok=maybe").contains("400"), "a malformed report is refused");
    // Issue 17, defect 11: an unknown id answered 404 before the token was checked (ids could be enumerated),
    // and the lower-case scheme `bearer` was refused.
    let wrong = http_request(listen, "POST", "/api/v1/push/nightly", &["Authorization: Bearer not-the-token-at-all-0000"], "").unwrap();
    let unknown = http_request(listen, "POST", "/api/v1/push/unknown", &[&format!("Authorization: Bearer {TOKEN}")], "").unwrap();
    assert!(unknown.0.contains("401"), "{unknown:?}");
    assert_eq!(unknown.1, wrong.1, "an unknown id is answered exactly as a wrong token");
    let lower = http_request(listen, "POST", "/api/v1/push/nightly", &[&format!("authorization: bearer {TOKEN}")], "ok=true").unwrap();
    assert!(lower.0.contains("202"), "the scheme is case-insensitive: {lower:?}");

    // Silence: two periods without a report confirm the outage.
    let down = wait_for(Duration::from_secs(15), || status_of(c, "nightly").is_some_and(|s| s["state"] == "DOWN"));
    let o = terminate(child);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(down, "silence confirmed the push endpoint down: {log}");
    // Eleven rejections for `nightly` within a few seconds: one WARN line, counted.
    let warns = log.lines().filter(|l| l.contains("push reports with a missing or wrong token rejected")).count();
    assert_eq!(warns, 2, "one line for `nightly`, one for the unknown id, however many were rejected:\n{log}");
    let db = rusqlite::Connection::open(&db).unwrap();
    let (ok, latency_max): (i64, f64) =
        db.query_row("SELECT count(*), max(latency_ms) FROM probe WHERE ok = 1", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert!(ok >= 3, "the on-time reports were recorded as successes ({ok})");
    assert!((800.0..=809.0).contains(&latency_max), "the reported latency is the point's latency: {latency_max}");
    let forged: i64 = db.query_row("SELECT count(*) FROM probe WHERE error = 'assertion'", [], |r| r.get(0)).unwrap();
    assert_eq!(forged, 0, "no report with the wrong token reached the store");
    let misses: i64 = db.query_row("SELECT count(*) FROM probe WHERE error = 'timeout' AND confirmed_down = 1", [], |r| r.get(0)).unwrap();
    assert!(misses >= 2, "silence is recorded as timeout misses that confirm the outage ({misses})");
}
