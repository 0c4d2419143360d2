//! `/probe` as blackbox_exporter answers it, scraped by a real Prometheus with the scrape configuration
//! blackbox_exporter's documentation gives (targets relabelled into `?target=`), and its refusals.

use crate::common::{self, free_port, http_get, http_request, terminate, wait_for, write_config, Toggle};
use std::time::Duration;

#[test]
fn a_blackbox_scrape_configuration_works_unchanged_against_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (up, down) = (Toggle::start(true), Toggle::start(false));
    let closed = free_port();
    let listen = free_port();
    let text = common::fast_agent("eu")
        + &format!(
            r#"
[store]
type = "sqlite"
path = "{db}"
[server]
listen = "127.0.0.1:{listen}"
[[endpoints]]
id = "self"
url = "http://127.0.0.1:{listen}/healthz"

[modules.http_2xx]
type = "http"
assert = [{{ status = "2xx" }}]

[modules.tcp_connect]
type = "tcp"
timeout = "1s"
"#,
            db = dir.path().join("w.db").display()
        );
    let cfg = write_config(dir.path(), &text);
    let watchpost = common::spawn(&["agent", "--config", cfg.to_str().unwrap()]);
    assert!(wait_for(Duration::from_secs(20), || http_get(listen, "/healthz").is_some()), "the agent did not listen");

    // Refusals, in blackbox_exporter's words.
    let (status, body) = http_get(listen, "/probe?module=http_2xx").unwrap();
    assert!(status.contains("400") && body.contains("Target parameter is missing"), "{status} {body}");
    let (status, body) = http_get(listen, "/probe?module=icmp&target=127.0.0.1").unwrap();
    assert!(status.contains("400") && body.contains("Unknown module \"icmp\""), "{status} {body}");
    let (status, body) = http_get(listen, &format!("/probe?module=tcp_connect&target={}", common::url_encode("no port"))).unwrap();
    assert!(status.contains("400") && body.contains("invalid target"), "{status} {body}");
    // Without `module`, blackbox_exporter's default module name; the scrape's timeout header is taken.
    let (status, body) = http_request(
        listen,
        "GET",
        &format!("/probe?target={}", common::url_encode(&up.url())),
        &["X-Prometheus-Scrape-Timeout-Seconds: 2"],
        "",
    )
    .unwrap();
    assert!(status.contains("200") && body.contains("probe_success 1\n") && body.contains("probe_http_status_code 200\n"), "{body}");

    let job = |name: &str, module: &str, targets: &str| {
        format!(
            r#"  - job_name: {name}
    metrics_path: /probe
    params:
      module: [{module}]
    static_configs:
      - targets: [{targets}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{listen}
"#
        )
    };
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
        job("blackbox", "http_2xx", &format!("'{}', '{}'", up.url(), down.url())),
        job("blackbox_tcp", "tcp_connect", &format!("'127.0.0.1:{closed}', '127.0.0.1:{listen}'"))
    );
    let prom = common::Prometheus::start(dir.path(), &yaml);
    let value = |q: &str| prom.value(q);
    let checks = [
        (format!("probe_success{{job=\"blackbox\",instance=\"{}\"}}", up.url()), "1"),
        (format!("probe_success{{job=\"blackbox\",instance=\"{}\"}}", down.url()), "0"),
        (format!("probe_http_status_code{{instance=\"{}\"}}", down.url()), "503"),
        (format!("count(probe_http_duration_seconds{{instance=\"{}\"}})", up.url()), "5"),
        (format!("probe_success{{job=\"blackbox_tcp\",instance=\"127.0.0.1:{closed}\"}}"), "0"),
        (format!("probe_success{{job=\"blackbox_tcp\",instance=\"127.0.0.1:{listen}\"}}"), "1"),
        ("up{job=\"blackbox\"}".to_string(), "1"),
    ];
    let mut failures = Vec::new();
    for (q, want) in &checks {
        if !wait_for(Duration::from_secs(30), || value(q).as_deref() == Some(*want)) {
            failures.push(format!("{q}: expected {want}, got {:?}", value(q)));
        }
    }
    let log = prom.log_tail();
    drop(prom);
    let _ = terminate(watchpost);
    assert!(failures.is_empty(), "{}\n{log}", failures.join("\n"));
}

#[test]
fn modules_are_checked_like_endpoints_and_take_no_target() {
    use watchpost::settings::Settings;
    use watchpost_core::config::Format;
    let load = |t: &str| Settings::from_str_with_env("w.toml", Format::Toml, t, &Default::default());
    let errs = load("[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\n[modules.web]\nurl = \"http://x/\"\ninterval = \"5s\"\n[modules.dns]\ntype = \"dns\"\n[modules.push]\ntype = \"push\"\ntoken = \"0123456789abcdef0123\"\nexpect_every = \"1m\"\n")
        .unwrap_err()
        .to_string();
    for want in [
        "w.toml:5: modules.web.url: a module takes no `url`",
        "w.toml:6: modules.web.interval: a module has no interval",
        "modules.dns: missing key `query_name`",
        "a push endpoint cannot be a module",
    ] {
        assert!(errs.contains(want), "{want:?} not in:\n{errs}");
    }
    let ok = load("[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\n[modules.dns_soa]\ntype = \"dns\"\nquery_name = \"example.com\"\nrecord_type = \"SOA\"\n").unwrap();
    let m = &ok.core.modules["dns_soa"];
    let aimed = m.probe.with_target("10.0.0.53:5353").unwrap();
    assert!(matches!(aimed, watchpost_core::config::ProbeConfig::Dns(d) if d.server == Some(("10.0.0.53".into(), 5353))));
    assert_eq!(m.timeout, Duration::from_secs(5), "a module's default timeout");
}
