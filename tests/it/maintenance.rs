//! Maintenance windows end to end: the running agent does not probe an endpoint inside its window and writes
//! a `maintenance` point for each skipped slot; `watchpost maintenance list` shows past, active and upcoming
//! windows.

#![allow(clippy::disallowed_methods)] // reads the SQLite files directly and keeps its own clock: an independent check

use crate::common;

use common::*;
use std::time::Duration;
use watchpost_core::time::now_nanos;

#[test]
fn the_agent_skips_probes_in_a_window_and_records_its_slots() {
    let target = Target::start("");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let s = 1_000_000_000i64;
    // The window opens 3 s after start and lasts 3 s; the config is written with those instants.
    let (open, close) = (now_nanos() + 3 * s, now_nanos() + 6 * s);
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[agent]
interval = "500ms"
timeout = "300ms"
batch_max_age = "100ms"

[store]
type = "sqlite"
path = "{db}"

[server]
listen = "127.0.0.1:{listen}"

[[endpoints]]
id = "api"
url = "http://127.0.0.1:{port}/"
component = "payments"

[[endpoints]]
id = "untouched"
url = "http://127.0.0.1:{port}/other"

[[maintenance]]
id = "deploy"
title = "Payments deploy"
start = "{open}"
end = "{close}"
components = ["payments"]

[[maintenance]]
id = "weekly"
title = "Weekly patching"
cron = "0 3 * * {weekday}"
duration = "2h"
timezone = "Europe/Berlin"
endpoints = ["untouched"]
"#,
            db = db.display(),
            listen = free_port(),
            port = target.port,
            open = rfc3339_nanos(open),
            close = rfc3339_nanos(close),
            // Three days from now: upcoming in the list, never active while the test runs.
            weekday = (jiff::Zoned::now().weekday().to_sunday_zero_offset() + 3) % 7,
        ),
    );
    let c = cfg.to_str().unwrap();
    let o = run(&["maintenance", "--config", c, "list", "--from", "1d", "--to", "8d"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{text}{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("deploy") && text.contains("upcoming") && text.contains("components payments"), "{text}");
    assert!(text.matches("weekly").count() >= 1 && text.contains("2h") && text.contains("endpoints untouched"), "{text}");

    let child = spawn(&["run", "--config", c]);
    std::thread::sleep(Duration::from_millis(4_500));
    let o = run(&["maintenance", "--config", c, "list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().iter().any(|w| w["id"] == "deploy" && w["state"] == "active"), "{v}");
    assert!(wait_for(Duration::from_secs(20), || now_nanos() > close + 2 * s));
    let o = terminate(child);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("maintenance window started") && log.contains("maintenance window ended"), "{log}");

    let db = rusqlite::Connection::open(&db).unwrap();
    let inside: i64 = db
        .query_row(
            "SELECT count(*) FROM probe p JOIN series s ON s.id = p.series WHERE s.endpoint = 'api' AND p.ts >= ?1 AND p.ts < ?2",
            [open, close],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(inside, 0, "no probe of `api` inside its window");
    let slots: Vec<i64> = db
        .prepare("SELECT ts FROM maintenance WHERE endpoint = 'api' ORDER BY ts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // One point per 500 ms slot of the 3 s window (give or take the slot the window's edges cut).
    assert!((5..=7).contains(&slots.len()), "{} maintenance points", slots.len());
    assert!(slots.iter().all(|t| *t >= open - s / 10 && *t < close + s / 10), "every maintenance point is inside the window");
    let around: i64 = db
        .query_row(
            "SELECT count(*) FROM probe p JOIN series s ON s.id = p.series WHERE s.endpoint = 'api' AND (p.ts < ?1 OR p.ts >= ?2)",
            [open, close],
            |r| r.get(0),
        )
        .unwrap();
    assert!(around >= 8, "probing ran before and after the window ({around})");
    let other: i64 = db.query_row("SELECT count(*) FROM maintenance WHERE endpoint = 'untouched'", [], |r| r.get(0)).unwrap();
    assert_eq!(other, 0, "a window for another component silences nothing here");
}

/// RFC 3339 with nanoseconds, so the window's edges are exact.
fn rfc3339_nanos(ts: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ts)).unwrap().to_string()
}
