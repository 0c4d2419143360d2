//! The command line on bad input: clear messages naming file, line and key; exit codes; never a panic.

use crate::common;

use common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_no_panic(o: &std::process::Output) {
    let e = stderr(o);
    assert!(!e.contains("panicked") && !e.contains("RUST_BACKTRACE"), "{e}");
}

#[test]
fn check_config_prints_a_summary_for_a_valid_file() {
    let o = run(&["check-config", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/local.toml")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("valid")
            && out.contains("endpoints: 3 (1 http, 1 push, 1 tcp)")
            && out.contains("checks:    1 (1 run(s)")
            && out.contains("region:    local")
            && out.contains("status:    http://127.0.0.1:8080 \"Watchpost demo\": 2 component(s) (0 private) in 1 group(s)"),
        "{out}"
    );
}

#[test]
fn check_config_reports_every_error_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "[agent]\ninterval = \"0s\"\n\n[[endpoints]]\nid = \"a\"\nurl = \"nope\"\n");
    let o = run(&["check-config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("watchpost.toml:2: agent.interval: must be longer than zero"), "{e}");
    assert!(e.contains("watchpost.toml:6: endpoints[0].url: invalid URL"), "{e}");
    assert!(e.contains("2 error(s)"), "{e}");
    assert_no_panic(&o);
}

#[test]
fn run_with_an_invalid_file_exits_2_before_starting() {
    let o = run(&["run", "--config", "/nonexistent/watchpost.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/watchpost.toml: cannot read the configuration file"), "{}", stderr(&o));
    assert_no_panic(&o);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let cfg = write_config(
        dir.path(),
        &format!("[store]\ntype = \"sqlite\"\npath = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n", db.display()),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("server.listen: cannot listen on 127.0.0.1:") && e.contains("in use"), "{e}");
    assert_no_panic(&o);
}

#[test]
fn an_unreachable_sqlite_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_config(
        dir.path(),
        &format!("[store]\ntype = \"sqlite\"\npath = \"/proc/no/such/w.db\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let o = run(&["run", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("store") && e.contains("cannot open the store at /proc/no/such/w.db"), "{e}");
    assert_no_panic(&o);
}

/// Issue 18: read-only commands created an empty store (or state database) at a mistyped path and answered
/// "no data"; they now say there is none and exit non-zero, creating nothing.
#[test]
fn read_only_commands_never_create_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let listen = free_port();
    let cfg = write_config(
        dir.path(),
        &format!(
            "[server]\nlisten = \"127.0.0.1:{listen}\"\n[store]\npath = \"{}\"\n[[endpoints]]\nid = \"api\"\nurl = \"http://127.0.0.1:1/\"\ncomponent = \"api\"\n\n[sla.p]\ncomponents = [\"api\"]\ntarget = 99.9\n\n[[checks]]\nid = \"flow\"\n[[checks.steps]]\nname = \"s\"\nurl = \"http://127.0.0.1:1/\"\n",
            db.display()
        ),
    );
    let cfg = cfg.to_str().unwrap();
    for args in [
        vec!["status", "--config", cfg],
        vec!["report", "--config", cfg, "--period", "2026-10", "--sla", "p"],
        vec!["alerts", "--config", cfg],
        vec!["checks", "history", "flow", "--config", cfg],
        vec!["statuspage", "export", dir.path().join("out").to_str().unwrap(), "--config", cfg],
    ] {
        let o = run(&args);
        assert_no_panic(&o);
        assert!(!o.status.success(), "{args:?} succeeded on a missing store");
        let e = stderr(&o);
        assert!(e.contains("no such file") || e.contains("no state database"), "{args:?}: {e}");
    }
    // Listing maintenance windows reads the file's and the state database's: none there yet, and none made.
    let o = run(&["maintenance", "list", "--config", cfg]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!db.exists() && !dir.path().join("state.db").exists(), "a read-only command created a database");

    // Once `run` has created it, `status` lists the configured endpoints, without data yet.
    let child = watchpost().args(["run", "--config", cfg]).stderr(std::process::Stdio::null()).spawn().unwrap();
    let started = wait_for(std::time::Duration::from_secs(20), || http_get(listen, "/healthz").is_some());
    let _ = terminate(child);
    assert!(started, "watchpost run did not start");
    let o = run(&["status", "--config", cfg]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.lines().next().unwrap_or_default().starts_with("ENDPOINT"), "{out}");
    assert!(out.contains("api"), "{out}");
}

/// Issue 18: `--config` in the same place for every subcommand, and `check-config F` as well as
/// `check-config --config F`.
#[test]
fn config_is_accepted_the_same_way_by_every_subcommand() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/local.toml");
    for args in [vec!["check-config", file], vec!["check-config", "--config", file], vec!["check-config", "-c", file]] {
        let o = run(&args);
        assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("valid"), "{args:?}: {}", stderr(&o));
    }
    let o = run(&["maintenance", "list", "--config", file, "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn help_explains_the_subcommands() {
    let o = run(&["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for sub in ["run", "agent", "check-config", "status"] {
        assert!(out.contains(sub), "{out}");
    }
}

#[test]
fn run_raises_a_low_open_file_limit() {
    // Many systems start services with 1,024 open files, below the default concurrency of 4,096.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db = dir.path().join("w.db");
    let cfg = write_config(
        dir.path(),
        &format!("[store]\ntype = \"sqlite\"\npath = \"{}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n", db.display()),
    );
    let child = std::process::Command::new("prlimit")
        .args(["--nofile=256:8192", bin(), "run", "--config", cfg.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) is needed for this test: apt-get install util-linux");
    assert!(wait_for(std::time::Duration::from_secs(10), || http_get(port, "/healthz").is_some()), "watchpost did not start");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
    let out = terminate(child);
    assert!(out.status.success(), "{}", stderr(&out));
    let soft: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(soft[3], "8192", "soft limit raised to the hard limit: {line}");
}
