//! Faults the agent must survive, against a real `influxd` (loopback only, each bounded in time): a store
//! outage, a crash during the outage, a rejected batch, a full spool, and a spool torn by a crash.

#![allow(clippy::disallowed_methods)] // reads the SQLite files directly and keeps its own clock: an independent check

use crate::common;

use common::influxd::{Influxd, DATABASE};
use common::*;
use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

const ENDPOINTS: usize = 100;

/// A configuration: `ENDPOINTS` endpoints at 1 s against `target`, InfluxDB at `influx_port`.
fn config(dir: &Path, listen: u16, influx_port: u16, target: &str, spool_max: &str, extra: &str) -> std::path::PathBuf {
    let mut text = format!(
        "[agent]\nregion = \"fault\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nretry_interval = \"200ms\"\nbatch_max_age = \"200ms\"\n\n\
         [agent.spool]\ndir = \"{}/spool\"\nmax_bytes = \"{spool_max}\"\n\n\
         [store]\ntype = \"influxdb\"\nurl = \"http://127.0.0.1:{influx_port}\"\ndatabase = \"{DATABASE}\"\ntimeout = \"2s\"\n\n\
         [server]\nlisten = \"127.0.0.1:{listen}\"\n\n{extra}",
        dir.display()
    );
    for i in 0..ENDPOINTS {
        text.push_str(&format!("[[endpoints]]\nid = \"e{i:03}\"\nurl = \"{target}?id={i}\"\n\n"));
    }
    write_config(dir, &text)
}

fn start(cfg: &Path) -> Child {
    spawn(&["run", "--log-format", "json", "--config", cfg.to_str().unwrap()])
}

fn metrics(port: u16) -> HashMap<String, f64> {
    let (_, body) = http_get(port, "/metrics").unwrap_or_default();
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| Some((k.to_string(), v.parse().ok()?))))
        .collect()
}

fn metric(port: u16, name: &str) -> f64 {
    metrics(port).get(name).copied().unwrap_or(f64::NAN)
}

fn wait_metric(port: u16, name: &str, limit: Duration, cond: impl Fn(f64) -> bool) {
    let ok = wait_for(limit, || cond(metric(port, name)));
    assert!(ok, "{name} = {} after {limit:?}", metric(port, name));
}

/// The `agent stopped` accounting from the JSON log of a process that exited.
fn accounting(log: &str) -> HashMap<String, i64> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"].as_str().is_some_and(|m| m.starts_with("agent stopped")))
        .and_then(|v| v["fields"].as_object().cloned())
        .map(|f| f.iter().filter_map(|(k, v)| Some((k.clone(), v.as_i64()?))).collect())
        .unwrap_or_else(|| panic!("no `agent stopped` line in the log:\n{log}"))
}

fn stop(child: Child) -> String {
    let out = terminate(child);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "watchpost exited with {:?}:\n{log}", out.status);
    log
}

#[test]
fn a_30_s_outage_loses_nothing() {
    let mut influx = Influxd::start();
    let target = Target::start("");
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let cfg = config(dir.path(), listen, influx.port, &format!("http://127.0.0.1:{}/", target.port), "64MiB", "");
    let agent = start(&cfg);
    wait_metric(listen, "watchpost_points_written_total", Duration::from_secs(20), |v| v >= 200.0);

    let health = || http_get(listen, "/healthz").map(|(status, _)| status).unwrap_or_default();
    assert!(health().contains("200"), "{}", health());
    influx.stop();
    std::thread::sleep(Duration::from_secs(30));
    assert!(metric(listen, "watchpost_spool_pending_points") > 2000.0, "30 s of points wait in the spool");
    assert_eq!(metric(listen, "watchpost_store_up"), 0.0);
    // Issue 17, defect 4: /healthz said 200 while every write failed.
    assert!(health().contains("503"), "/healthz while the store is down: {}", health());
    influx.restart();
    wait_metric(listen, "watchpost_spool_pending_points", Duration::from_secs(60), |v| v == 0.0);
    assert_eq!(metric(listen, "watchpost_store_up"), 1.0);
    assert!(health().contains("200"), "/healthz once the store is back: {}", health());

    let acc = accounting(&stop(agent));
    assert_eq!(acc["points_lost"], 0);
    assert_eq!(acc["points_spooled"], 0);
    // Every point the agent produced is in InfluxDB, once (a point is its series and timestamp).
    assert_eq!(influx.count_probe_points() as i64, acc["points_produced"], "{acc:?}");
}

#[test]
fn a_crash_during_an_outage_loses_at_most_the_batch_not_yet_spooled() {
    let mut influx = Influxd::start();
    let target = Target::start("");
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let cfg = config(dir.path(), listen, influx.port, &format!("http://127.0.0.1:{}/", target.port), "64MiB", "");
    let mut first = start(&cfg);
    wait_metric(listen, "watchpost_points_written_total", Duration::from_secs(20), |v| v >= 200.0);
    influx.stop();
    wait_metric(listen, "watchpost_spool_appended_points_total", Duration::from_secs(20), |v| v >= 500.0);
    let m = metrics(listen);
    let (produced, written, spooled) =
        (m["watchpost_points_enqueued_total"], m["watchpost_points_written_total"], m["watchpost_spool_appended_points_total"]);
    first.kill().unwrap(); // SIGKILL: no flush, no goodbye
    let _ = first.wait();

    // The bound: what was produced but neither written nor spooled when the counters were read is the
    // writer's open batch, batch_max_age (200 ms) of points at 100 points/s = 20, plus what arrives while the
    // previous batch is being synced to the spool or the dead store probed (at most 300 ms = 30): 50 points.
    // (The store is refusing connections, so no write waits for a timeout.)
    assert!(produced - written - spooled <= 50.0, "produced {produced}, written {written}, spooled {spooled}");

    influx.restart();
    let second = start(&cfg);
    wait_metric(listen, "watchpost_spool_replayed_points_total", Duration::from_secs(60), |v| v >= spooled);
    wait_metric(listen, "watchpost_spool_pending_points", Duration::from_secs(60), |v| v == 0.0);
    let acc = accounting(&stop(second));
    let from_first = influx.count_probe_points() as f64 - acc["points_produced"] as f64;
    // Everything that reached the store or the spool before the crash is in InfluxDB.
    assert!(from_first >= written + spooled, "delivered {from_first} of the first run's {written} written + {spooled} spooled");
}

#[test]
fn a_rejected_batch_is_dropped_with_the_servers_reason_and_later_batches_arrive() {
    let influx = Influxd::start();
    let target = Target::start("");
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    // `dns_ms` was written as a string by someone else: our lines that carry it (endpoints by host name)
    // conflict; those by IP address carry no `dns_ms` and are accepted.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    assert!(influx.write_raw(&format!("probe,endpoint=other dns_ms=\"slow\" {now}\n")).is_some_and(|s| s.contains("204")));
    let by_name = format!("[[endpoints]]\nid = \"by-name\"\nurl = \"http://localhost:{}/\"\n\n", target.port);
    let cfg = config(dir.path(), listen, influx.port, &format!("http://127.0.0.1:{}/", target.port), "64MiB", &by_name);
    let agent = start(&cfg);
    wait_metric(listen, "watchpost_points_rejected_total", Duration::from_secs(20), |v| v >= 3.0);
    let written_then = metric(listen, "watchpost_points_written_total");
    wait_metric(listen, "watchpost_points_written_total", Duration::from_secs(20), |v| v >= written_then + 300.0);
    assert_eq!(metric(listen, "watchpost_store_up"), 1.0, "a rejection is not an outage");
    assert_eq!(metric(listen, "watchpost_spool_appended_points_total"), 0.0, "and is never spooled or retried");

    let log = stop(agent);
    assert!(log.contains("field type conflict"), "the server's reason is logged:\n{log}");
    let acc = accounting(&log);
    assert!(acc["points_rejected"] >= 3);
    assert_eq!(influx.count_probe_points() as i64, acc["points_produced"] - acc["points_rejected"], "{acc:?}");
}

#[test]
fn a_full_spool_drops_the_oldest_and_keeps_the_newest() {
    let mut influx = Influxd::start();
    influx.stop(); // down from the start
    let target = Target::start("");
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let cfg = config(dir.path(), listen, influx.port, &format!("http://127.0.0.1:{}/", target.port), "64KiB", "");
    let started = Instant::now();
    let started_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let agent = start(&cfg);
    wait_metric(listen, "watchpost_spool_dropped_points_total", Duration::from_secs(40), |v| v > 0.0);
    assert!(metric(listen, "watchpost_spool_bytes") <= 64.0 * 1024.0, "the bound holds");
    let elapsed = started.elapsed();
    influx.restart();
    wait_metric(listen, "watchpost_spool_pending_points", Duration::from_secs(60), |v| v == 0.0);
    let log = stop(agent);
    assert!(log.contains("the spool is full"), "the drop is logged:\n{log}");
    let acc = accounting(&log);
    assert!(acc["points_lost"] > 0);
    assert_eq!(influx.count_probe_points() as i64, acc["points_produced"] - acc["points_lost"], "{acc:?}");
    // The oldest points went: the first second of the run is not in InfluxDB, the end of the outage is.
    let v = influx.query("SELECT first(\"latency_ms\") FROM \"probe\"");
    let first_ts = v["results"][0]["series"][0]["values"][0][0].as_i64().unwrap();
    assert!(
        first_ts > started_ns + 1_000_000_000,
        "oldest delivered point is {} ms after the start ({elapsed:?} of outage)",
        (first_ts - started_ns) / 1_000_000
    );
}

#[test]
fn a_torn_spool_segment_is_reported_and_the_rest_replayed() {
    let mut influx = Influxd::start();
    influx.stop();
    let target = Target::start("");
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let cfg = config(dir.path(), listen, influx.port, &format!("http://127.0.0.1:{}/", target.port), "64MiB", "");
    let mut first = start(&cfg);
    wait_metric(listen, "watchpost_spool_appended_points_total", Duration::from_secs(20), |v| v >= 300.0);
    first.kill().unwrap();
    let _ = first.wait();
    // Power loss in the middle of the last record: cut the newest segment mid-record. The records are
    // `len: u32 | crc32: u32 | points: u32 | payload` (agent/src/spool/mod.rs); walk them to know exactly how
    // many points come before the torn one.
    let mut segments: Vec<_> = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    assert_eq!(segments.len(), 1, "{segments:?}");
    let bytes = std::fs::read(&segments[0]).unwrap();
    let (mut offset, mut records) = (0usize, Vec::new());
    while offset < bytes.len() {
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        let points = u32::from_le_bytes(bytes[offset + 8..offset + 12].try_into().unwrap()) as i64;
        records.push((offset, points));
        offset += 8 + len;
    }
    assert!(records.len() >= 3, "several records were spooled: {records:?}");
    let (last_offset, _) = *records.last().unwrap();
    let kept: i64 = records[..records.len() - 1].iter().map(|r| r.1).sum();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segments[0])
        .unwrap()
        .set_len((last_offset + (bytes.len() - last_offset) / 2) as u64)
        .unwrap();

    // Started while the store is still down: the first `/metrics` answer already counts what the earlier run
    // left (it said 0 until the writer first touched the spool, and a wait for "0 pending" passed at once).
    let second = start(&cfg);
    assert!(wait_for(Duration::from_secs(20), || http_get(listen, "/metrics").is_some()), "the second run did not start");
    assert_eq!(metric(listen, "watchpost_spool_pending_points"), kept as f64, "pending points at the first scrape");
    influx.restart();
    wait_metric(listen, "watchpost_spool_damaged_segments_total", Duration::from_secs(20), |v| v == 1.0);
    wait_metric(listen, "watchpost_spool_pending_points", Duration::from_secs(60), |v| v == 0.0);
    let log = stop(second);
    assert!(log.contains("the spool was damaged"), "{log}");
    let left = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"].as_str().is_some_and(|m| m.starts_with("replaying points an earlier run left")))
        .and_then(|v| v["fields"]["points"].as_i64())
        .expect("the start-up replay is logged");
    let acc = accounting(&log);
    assert_eq!(left, kept, "exactly the records before the torn one are kept");
    assert_eq!(influx.count_probe_points() as i64, left + acc["points_produced"], "{acc:?}");
}

/// Issue 17, defect 4: with bytes overwritten in the middle of the SQLite file, `run` started, spooled forever,
/// and the page said "All Systems Operational". A damaged or unwritable store now stops the start with an
/// error that names the file and says what to do.
#[test]
fn regression_a_damaged_or_unwritable_sqlite_store_refuses_to_start() {
    let target = Target::start("");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let listen = free_port();
    let text = format!(
        "[agent]\ninterval = \"200ms\"\ntimeout = \"150ms\"\nbatch_max_age = \"100ms\"\n\n[store]\ntype = \"sqlite\"\npath = \"{}\"\n\n[server]\nlisten = \"127.0.0.1:{listen}\"\n\n\
         [[endpoints]]\nid = \"api\"\nurl = \"http://127.0.0.1:{}/\"\n",
        db.display(),
        target.port
    );
    let cfg = write_config(dir.path(), &text);
    let c = cfg.to_str().unwrap();
    let child = spawn(&["run", "--config", c]);
    let points =
        || rusqlite::Connection::open(&db).ok().and_then(|d| d.query_row("SELECT count(*) FROM probe", [], |r| r.get::<_, i64>(0)).ok());
    assert!(wait_for(Duration::from_secs(20), || points().unwrap_or(0) >= 20), "points are written");
    stop(child);
    // Damage: overwrite everything between the first page (the header, so the file still opens) and the last.
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    assert!(len > 4 * 4096, "the database has pages to damage ({len} bytes)");
    for (i, b) in bytes[4096..len - 4096].iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(&db, &bytes).unwrap();
    for args in [vec!["run", "--config", c], vec!["status", "--config", c]] {
        let started = Instant::now();
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} must refuse a damaged store:\n{err}");
        assert!(started.elapsed() < Duration::from_secs(20), "{args:?} refuses at once");
        assert!(err.contains(&db.display().to_string()) && err.contains("damaged"), "{args:?}: names the file and the damage:\n{err}");
    }
    // A path that cannot be a database file (a directory): a clear error at start, not a spool forever.
    let unwritable = dir.path().join("a-directory");
    std::fs::create_dir(&unwritable).unwrap();
    let cfg = write_config(dir.path(), &text.replace(&db.display().to_string(), &unwritable.display().to_string()));
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("a-directory") && err.contains("needs to create and write"), "{err}");

    // A read-only database file. The tests run as root, whom file modes do not stop: the file is made
    // immutable instead (`chattr +i`), which stops root too.
    let readonly = dir.path().join("readonly.db");
    std::fs::File::create(&readonly).unwrap(); // an empty file is an empty SQLite database
    let _immutable = Immutable::set(&readonly);
    let cfg = write_config(dir.path(), &text.replace(&db.display().to_string(), &readonly.display().to_string()));
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("readonly.db") && (err.contains("read-only") || err.contains("needs to create and write")),
        "{err}"
    );
}

/// `chattr +i` on a file for as long as the guard lives (so the temporary directory can be removed after).
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: &Path) -> Immutable {
        let chattr =
            which("chattr").unwrap_or_else(|| panic!("chattr is not installed: run scripts/test.sh, or `apt-get install e2fsprogs`"));
        let ok = std::process::Command::new(&chattr).arg("+i").arg(path).status().is_ok_and(|s| s.success());
        assert!(ok, "chattr +i {} failed: the test needs a file system with immutable files (ext4, xfs) and root", path.display());
        Immutable(path.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// Issue 17, defect 4: a status page that cannot read its store must not present stale or empty states as
/// "All Systems Operational". It says the data is unavailable, its /healthz answers 503, and it recovers when
/// the store is back.
#[test]
fn regression_the_page_says_data_is_unavailable_while_the_store_cannot_be_read() {
    let mut influx = Influxd::start();
    influx.stop();
    let dir = tempfile::tempdir().unwrap();
    let page = free_port();
    let text = format!(
        "[store]\ntype = \"influxdb\"\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"{DATABASE}\"\ntimeout = \"1s\"\n\n\
         [state]\npath = \"{}/state.db\"\n\n[statuspage]\nlisten = \"127.0.0.1:{page}\"\n\n\
         [[statuspage.components]]\nid = \"api\"\nname = \"API\"\n\n\
         [[endpoints]]\nid = \"api\"\ncomponent = \"api\"\nurl = \"http://127.0.0.1:1/\"\n",
        influx.port,
        dir.path().display()
    );
    let cfg = write_config(dir.path(), &text);
    let child = spawn(&["statuspage", "--config", cfg.to_str().unwrap()]);
    let get = |path: &str| http_get(page, path).unwrap_or_default();
    assert!(wait_for(Duration::from_secs(20), || !get("/healthz").0.is_empty()), "the page listens");
    let (status, html) = get("/");
    assert!(status.contains("200") && html.contains("Status data unavailable"), "{status}\n{html}");
    assert!(!html.contains("All Systems Operational"), "{html}");
    assert!(get("/healthz").0.contains("503"), "{:?}", get("/healthz"));
    let summary: serde_json::Value = serde_json::from_str(&get("/api/v2/summary.json").1).unwrap();
    assert_eq!(summary["status"]["description"], "Status data unavailable");
    influx.restart();
    let back = wait_for(Duration::from_secs(20), || get("/healthz").0.contains("200"));
    let html = get("/").1;
    let _ = terminate(child);
    assert!(back, "/healthz recovers with the store");
    assert!(!html.contains("Status data unavailable"), "{html}");
}

/// Issue 17, defect 16: an agent starved of CPU turned its own slowness into outages of healthy targets. Here
/// the agent runs at the lowest priority on one core that two busy loops keep full, probing 300 endpoints of
/// a healthy target every second with a 150 ms timeout: it must shed slots and record its own timeouts as
/// `internal`, and confirm no outage.
#[test]
fn regression_a_starved_agent_confirms_no_outage_of_a_healthy_target() {
    let target = Toggle::start(true);
    let dir = tempfile::tempdir().unwrap();
    let (db, listen) = (dir.path().join("w.db"), free_port());
    let mut text = format!(
        "[agent]\ninterval = \"1s\"\ntimeout = \"150ms\"\nretry_interval = \"100ms\"\nbatch_max_age = \"200ms\"\n\n\
         [store]\ntype = \"sqlite\"\npath = \"{}\"\n\n[server]\nlisten = \"127.0.0.1:{listen}\"\n\n",
        db.display()
    );
    for i in 0..300 {
        text.push_str(&format!("[[endpoints]]\nid = \"e{i:03}\"\nurl = \"{}?{i}\"\n\n", target.url()));
    }
    let cfg = write_config(dir.path(), &text);
    // Two busy loops and the agent on core 0, the agent at nice 19: it gets a sliver of one core.
    let pinned = |args: &[&str]| {
        std::process::Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "taskset", "-c", "0"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("setpriv and taskset (util-linux)")
    };
    let hogs: Vec<Child> = (0..2).map(|_| pinned(&["sh", "-c", "while :; do :; done"])).collect();
    let bin = bin();
    let agent = pinned(&["nice", "-n", "19", bin, "agent", "--config", cfg.to_str().unwrap()]);
    assert!(wait_for(Duration::from_secs(30), || http_get(listen, "/healthz").is_some()), "the agent starts");
    std::thread::sleep(Duration::from_secs(25));
    let m = metrics(listen);
    for h in hogs {
        kill9(h);
    }
    let log = stop(agent);
    let starved = m.get("watchpost_scheduler_shed_slots_total").copied().unwrap_or(0.0)
        + m.get("watchpost_probes_inconclusive_total").copied().unwrap_or(0.0);
    let db = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    let (confirmed, internal, points) = (
        count("SELECT count(*) FROM probe WHERE confirmed_down = 1"),
        count("SELECT count(*) FROM probe WHERE error = 'internal'"),
        count("SELECT count(*) FROM probe"),
    );
    eprintln!("starved agent: {points} points, {internal} internal, shed + inconclusive {starved}, served {}", target.served());
    // Attempts the healthy target never answered, or slots shed: the agent was starved (else this proves nothing).
    let unanswered = points - target.served() as i64;
    assert!(unanswered > 0 || starved > 0.0, "the agent was not starved, so this proves nothing: {m:?}");
    assert_eq!(confirmed, 0, "a healthy target confirmed down by a starved agent ({internal} internal points)\n{log}");
    assert!(!log.contains("endpoint confirmed down"), "{log}");
}
