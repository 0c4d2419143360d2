//! The deployment files, checked without a Docker engine: `docker-compose.yml` through Debian's
//! `docker-compose config` (which resolves and validates the file offline), the `Dockerfile`'s promises
//! (multi-stage, non-root, a health check that works: `watchpost healthcheck` against a real `/healthz`), and
//! the systemd unit through `systemd-analyze verify`.

use crate::common;

use common::{bin, free_port, run, spawn, terminate, wait_for, write_config};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compose(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new("docker-compose");
    c.current_dir(root()).args(["-f", "docker-compose.yml"]).args(args);
    // Only what is given: a developer's own .env or shell must not make the test pass.
    for k in ["WATCHPOST_ADMIN_TOKEN", "ALERT_SECRET", "PAGERDUTY_ROUTING_KEY", "GRAFANA_ADMIN_PASSWORD"] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    c.output().unwrap_or_else(|e| {
        panic!("docker-compose: {e}: run scripts/test.sh, or `apt-get install docker-compose` (Debian's, no engine needed)")
    })
}

const ENV: [(&str, &str); 4] = [
    ("WATCHPOST_ADMIN_TOKEN", "token-0123456789abcdef0123456789"),
    ("ALERT_SECRET", "secret-0123456789abcdef0123456789abcdef"),
    ("PAGERDUTY_ROUTING_KEY", "R0123456789ABCDEF0123456789ABCDEF"),
    ("GRAFANA_ADMIN_PASSWORD", "admin"),
];

#[test]
fn the_compose_file_validates_and_runs_every_part() {
    let out = compose(&["config"], &ENV);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "docker-compose config failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let services = compose(&["config", "--services"], &ENV);
    let mut names: Vec<String> = String::from_utf8_lossy(&services.stdout).lines().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, ["agent-eu", "agent-us", "aggregator", "alerting", "grafana", "influxdb", "prometheus", "statuspage"]);
    // Two agents as two regions; every part on the one image with its subcommand; Grafana provisioned.
    for needle in [
        "WATCHPOST__AGENT__REGION: eu-west",
        "WATCHPOST__AGENT__REGION: us-east",
        "- aggregator",
        "- alerting",
        "- statuspage",
        "/etc/grafana/provisioning:ro",
        "/var/lib/grafana/dashboards:ro",
        "WATCHPOST_INFLUX_URL: http://influxdb:8086",
        "INFLUXDB_DB: watchpost",
        // Issue 19: the cache size at which influxd's consumers cost it under twice the writes alone.
        "INFLUXDB_DATA_CACHE_SNAPSHOT_MEMORY_SIZE: 256m",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from the resolved file:\n{text}");
    }
    // The mounted configuration is valid (its secrets come from the same environment).
    let mut check = Command::new(bin());
    check.args(["check-config", root().join("examples/compose/watchpost.toml").to_str().unwrap()]).envs(ENV);
    let out = check.output().expect("check-config");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("influxdb") && summary.contains("http://influxdb:8086"), "{summary}");
    // What the services mount exists.
    for p in ["examples/compose/watchpost.toml", "examples/compose/prometheus.yml", "grafana/provisioning", "grafana/dashboards"] {
        assert!(root().join(p).exists(), "{p}");
    }
}

#[test]
fn the_compose_file_refuses_to_start_without_its_secrets() {
    let out = compose(&["config"], &ENV[1..]);
    assert!(!out.status.success(), "a missing WATCHPOST_ADMIN_TOKEN must stop it");
    assert!(String::from_utf8_lossy(&out.stderr).contains("WATCHPOST_ADMIN_TOKEN"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_with_a_working_healthcheck() {
    let d = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = d.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage: {froms:?}");
    assert!(froms[1].contains("distroless") && froms[1].contains("nonroot"), "a small runtime image: {}", froms[1]);
    assert!(d.lines().any(|l| l.trim() == "USER nonroot:nonroot"), "runs as non-root");
    assert!(d.contains("cargo build --release --locked"), "builds exactly Cargo.lock");
    let hc = d.lines().find(|l| l.starts_with("HEALTHCHECK")).expect("a HEALTHCHECK");
    assert!(hc.contains("\"/usr/local/bin/watchpost\", \"healthcheck\""), "{hc}");
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "target"), "the build context leaves target/ out");

    // The health check itself: 0 against a live /healthz, 1 against a dead port, without any configuration.
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let text = format!(
        "[store]\ntype = \"sqlite\"\npath = \"{}\"\n[server]\nlisten = \"127.0.0.1:{listen}\"\n",
        dir.path().join("w.db").display()
    );
    let cfg = write_config(dir.path(), &text);
    let child = spawn(&["agent", "--config", cfg.to_str().unwrap()]);
    let url = format!("http://127.0.0.1:{listen}/healthz");
    assert!(wait_for(Duration::from_secs(20), || run(&["healthcheck", &url]).status.success()), "healthcheck never passed");
    let _ = terminate(child);
    let dead = format!("http://127.0.0.1:{}/healthz", free_port());
    let out = run(&["healthcheck", &dead]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&dead), "says what failed");
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(root().join("examples/systemd/watchpost@.service")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The unit as installed, with the paths of this checkout, for every part it is meant to run.
    let local = unit
        .replace("/usr/local/bin/watchpost", bin())
        .replace("/etc/watchpost/watchpost.toml", root().join("examples/local.toml").to_str().unwrap());
    for part in ["run", "agent", "aggregator", "alerting", "statuspage"] {
        let file = dir.path().join(format!("watchpost@{part}.service"));
        std::fs::write(&file, &local).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", file.to_str().unwrap()])
            .output()
            .unwrap_or_else(|e| panic!("systemd-analyze: {e}: run scripts/test.sh, or `apt-get install systemd`"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !stderr.contains("watchpost@"), "{part}: {stderr}");
        // The subcommand the instance name becomes exists.
        assert!(run(&[part, "--help"]).status.success(), "watchpost {part}");
    }
}
