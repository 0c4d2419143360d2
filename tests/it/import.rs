//! `watchpost import gatus|blackbox FILE`: configurations as those tools' documentation writes them become
//! files that `check-config` accepts, what cannot come across is listed, and an imported blackbox module
//! answers `/probe` on a running agent.

use crate::common::{self, free_port, http_get, run, terminate, wait_for, watchpost, write_config, Toggle};
use std::path::{Path, PathBuf};
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures");

fn import(from: &str, file: &str, out: &Path) -> (Option<i32>, String) {
    let o = run(&["import", from, &format!("{FIXTURES}/{file}"), "--output", out.to_str().unwrap()]);
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// `check-config` on `path` with `env` set: exit code and output.
fn check(path: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let o = watchpost().args(["check-config", path.to_str().unwrap()]).envs(env.iter().copied()).output().unwrap();
    (o.status.code(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn a_gatus_configuration_becomes_one_check_config_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("watchpost.toml");
    let (code, notes) = import("gatus", "gatus.yaml", &out);
    assert_eq!(code, Some(0), "{notes}");
    let text = std::fs::read_to_string(&out).unwrap();
    let (code, summary) = check(&out, &[("API_TOKEN", "t0ken-from-the-environment")]);
    assert_eq!(code, Some(0), "{summary}\n{text}");
    // Every probe type Gatus's URL schemes map to, each endpoint's id from its group and name.
    for shown in ["core-website", "core-website-domain", "api-with-token", "make-sure-header-is-rendering", "check-dns", "ping", "smtp"] {
        assert!(summary.contains(shown), "{shown} in\n{summary}");
    }
    for written in [
        "type = \"domain\"\ndomain = \"twin.sh\"",
        "type = \"tls\"\naddress = \"smtp.gmail.com:587\"\nstarttls = \"smtp\"",
        "type = \"dns\"\nserver = \"8.8.8.8\"\nquery_name = \"example.com\"",
        "interval = \"5m\"",
        "interval = \"1m\"", // Gatus's default pace, not Watchpost's 5 s
        "tls_skip_verify = true\ntimeout = \"10s\"",
        "Authorization = \"Bearer ${API_TOKEN}\"", // the variable stays a variable
        "\"len([BODY].items) > 0\"",
    ] {
        assert!(text.contains(written), "{written:?} in\n{text}");
    }
    // What did not come across: on stderr and at the top of the file.
    for dropped in [
        "`alerting:`",
        "`storage:`",
        "\"ssh\": not imported (ssh:// endpoints",
        "\"off\": disabled in Gatus",
        "[IP] == 127.0.0.1",
        "`alerts:`",
    ] {
        assert!(notes.contains(dropped), "{dropped} in\n{notes}");
        assert!(text.lines().take_while(|l| l.starts_with('#')).any(|l| l.contains(dropped)), "{dropped} in the file's head");
    }
    assert!(notes.contains("7 endpoint(s) imported"), "{notes}");
    assert!(!text.lines().filter(|l| !l.starts_with('#')).any(|l| l.contains("[IP]")), "the refused condition is not written");
}

#[test]
fn blackbox_modules_are_imported_and_answer_probe_on_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let modules = dir.path().join("modules.toml");
    let (code, notes) = import("blackbox", "blackbox.yml", &modules);
    assert_eq!(code, Some(0), "{notes}");
    let (code, summary) = check(&modules, &[]);
    assert_eq!(code, Some(0), "{summary}");
    assert!(notes.contains("9 module(s) imported"), "{notes}");
    for dropped in
        ["modules.dns_udp: dns.validate_answer_rrs", "modules.http_post_2xx: http.fail_if_body_matches_regexp", "query_response[1]"]
    {
        assert!(notes.contains(dropped), "{dropped} in\n{notes}");
    }
    let text = std::fs::read_to_string(&modules).unwrap();
    assert!(text.contains("[modules.http_post_2xx]\nmethod = \"POST\""), "{text}");
    assert!(text.contains("assert = [{ status = [200, 201] }, { body_matches = \"ok\" }]"), "{text}");

    // The imported modules on a running agent, asked as Prometheus asks blackbox_exporter.
    let (up, down) = (Toggle::start(true), Toggle::start(false));
    let listen = free_port();
    let cfg = write_config(
        dir.path(),
        &format!(
            "{}\n[store]\ntype = \"sqlite\"\npath = \"{}\"\n[server]\nlisten = \"127.0.0.1:{listen}\"\n{text}",
            common::fast_agent("eu"),
            dir.path().join("w.db").display()
        ),
    );
    let agent = common::spawn(&["agent", "--config", cfg.to_str().unwrap()]);
    assert!(wait_for(Duration::from_secs(20), || http_get(listen, "/healthz").is_some()), "the agent did not listen");
    let probe =
        |module: &str, target: &str| http_get(listen, &format!("/probe?module={module}&target={}", common::url_encode(target))).unwrap();
    let (status, body) = probe("http_2xx", &up.url());
    assert!(status.contains("200") && body.contains("probe_success 1\n"), "{body}");
    let (_, body) = probe("http_2xx", &down.url());
    assert!(body.contains("probe_success 0\n") && body.contains("probe_http_status_code 503\n"), "{body}");
    let (_, body) = probe("tcp_connect", &format!("127.0.0.1:{}", up.port));
    assert!(body.contains("probe_success 1\n"), "{body}");
    terminate(agent);
}

#[test]
fn files_that_are_not_the_tools_configuration_are_refused_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.toml");
    let (code, notes) = import("gatus", "blackbox.yml", &out);
    assert_eq!(code, Some(2), "{notes}");
    assert!(notes.contains("no `endpoints:` list: is this a Gatus configuration?"), "{notes}");
    let (code, notes) = import("blackbox", "gatus.yaml", &out);
    assert_eq!(code, Some(2));
    assert!(notes.contains("no `modules:` map"), "{notes}");
    assert!(!out.exists(), "nothing written on a refusal");
    let o = run(&["import", "gatus", "/nonexistent/gatus.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read /nonexistent/gatus.yaml"));
    // Damaged YAML: an error with its line, no panic.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "endpoints:\n  - name: [unclosed\n").unwrap();
    let o = run(&["import", "gatus", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.yaml:"), "{}", String::from_utf8_lossy(&o.stderr));
    // An existing output is kept unless --force.
    std::fs::write(&out, "keep me").unwrap();
    let (code, notes) = import("gatus", "gatus.yaml", &out);
    assert_eq!(code, Some(1), "{notes}");
    assert!(notes.contains("--force replaces it"), "{notes}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let o = run(&["import", "gatus", &format!("{FIXTURES}/gatus.yaml"), "--output", out.to_str().unwrap(), "--force"]);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("# Imported by `watchpost import`"));
}
