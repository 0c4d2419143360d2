//! End to end: the real `watchpost run` against a scripted local target; afterwards the SQLite file must
//! hold exactly the points the confirmation semantics (DESIGN.md §5.2) require.

#![allow(clippy::disallowed_methods)] // reads the SQLite files directly and keeps its own clock: an independent check

use crate::common;

use common::*;
use std::time::Duration;

#[test]
fn run_writes_exactly_the_points_the_semantics_require() {
    // 1-3 up; 4 a transient miss; 5-7 up; 8-10 three misses (an outage from 8); 11-13 up (recovery at 11).
    let target = Target::start("+++-+++---+++");
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let db = dir.path().join("w.db");
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[agent]
region = "test-region"
interval = "300ms"
timeout = "200ms"
retry_interval = "100ms"
batch_max_age = "100ms"

[store]
type = "sqlite"
path = "{}"

[server]
listen = "127.0.0.1:{listen}"

[[endpoints]]
id = "flappy"
url = "http://127.0.0.1:{}/health"
component = "api"
"#,
            db.display(),
            target.port
        ),
    );
    let child = spawn(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(wait_for(Duration::from_secs(30), || target.count() >= 14), "target saw only {} requests", target.count());

    // The process serves its own health and metrics while it runs.
    let (status, body) = http_get(listen, "/healthz").expect("GET /healthz");
    assert!(status.contains("200"), "{status}");
    assert_eq!(body.trim(), "ok");
    let (_, metrics) = http_get(listen, "/metrics").expect("GET /metrics");
    assert!(metrics.contains("watchpost_probe_failures_total{class=\"status\"} 4"), "{metrics}");
    assert!(metrics.contains("# TYPE watchpost_scheduler_lateness_seconds histogram"), "{metrics}");
    assert!(metrics.contains("watchpost_endpoints 1"), "{metrics}");
    // Each endpoint's last probe comes streamed after the process's own series; `?per_endpoint=false` leaves
    // it out and keeps the rest.
    assert!(metrics.contains("probe_success{endpoint=\"flappy\""), "{metrics}");
    let (_, own) = http_get(listen, "/metrics?per_endpoint=false").expect("GET /metrics?per_endpoint=false");
    assert!(own.contains("watchpost_endpoints 1") && own.contains("process_resident_memory_bytes"), "{own}");
    assert!(!own.contains("probe_success") && !own.contains("endpoint=\"flappy\""), "{own}");

    let out = terminate(child);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "watchpost exited with {:?}:\n{log}", out.status);
    assert!(log.contains("endpoint confirmed down"), "{log}");
    assert!(log.contains("endpoint recovered"), "{log}");

    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT p.ts, p.availability, p.ok, p.confirmed_down, p.status_code, p.error, s.region, s.component
             FROM probe p JOIN series s ON s.id = p.series WHERE s.endpoint = 'flappy' ORDER BY p.ts",
        )
        .unwrap();
    type Row = (i64, f64, bool, bool, Option<i64>, Option<String>, String, String);
    let rows: Vec<Row> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Every request the target answered is one point (none lost at shutdown, none duplicated).
    assert_eq!(rows.len(), target.count(), "one point per attempt");
    let shape: Vec<(u8, bool, bool)> = rows.iter().take(13).map(|r| (r.1 as u8, r.2, r.3)).collect();
    let up = (100, true, false);
    let transient = (100, false, false);
    let down = (0, false, true);
    assert_eq!(shape, vec![up, up, up, transient, up, up, up, down, down, down, up, up, up]);
    assert!(rows.iter().skip(13).all(|r| (r.1 as u8, r.2, r.3) == up));
    // The misses carry the status class and code; every point carries the region and component tags.
    assert_eq!((rows[3].4, rows[3].5.as_deref()), (Some(503), Some("status")));
    assert_eq!((rows[8].4, rows[8].5.as_deref()), (Some(503), Some("status")));
    assert_eq!((rows[0].4, rows[0].5.as_deref()), (Some(200), None));
    assert!(rows.iter().all(|r| r.6 == "test-region" && r.7 == "api"));
    // A miss is retried after retry_interval (100 ms), not after the interval (300 ms).
    let gap_ms = |a: usize, b: usize| (rows[b].0 - rows[a].0) / 1_000_000;
    assert!((90..200).contains(&gap_ms(3, 4)), "retry after a transient miss came after {} ms", gap_ms(3, 4));
    assert!((90..200).contains(&gap_ms(7, 8)), "retry came after {} ms", gap_ms(7, 8));
    assert!((250..450).contains(&gap_ms(0, 1)), "interval was {} ms", gap_ms(0, 1));

    // `watchpost status` reads the same store: the endpoint is up again, since the recovery point.
    let out = run(&["status", "--config", cfg.to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["endpoint"], "flappy");
    assert_eq!(v[0]["state"], "up");
    let recovered = watchpost_core::time::format_rfc3339(rows[10].0);
    assert_eq!(v[0]["since"], recovered.as_str());
    let a = v[0]["availability_1h"].as_f64().unwrap();
    assert!(a > 50.0 && a < 100.0, "availability over the hour counts the outage: {a}");
}
