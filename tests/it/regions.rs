//! Several regions, one store (DESIGN.md §5.4), end to end on a real `influxd`: two agents (`eu`, `us`) probe
//! the same endpoint, each through its own path to it (two targets standing for what each region sees).
//!
//! 1. Both see it up: `up` everywhere.
//! 2. It fails for `eu` only: `degraded` in `watchpost status` and on the status page, and no page (one of
//!    two regions is no majority).
//! 3. It fails for both: `DOWN`, `major_outage`, and PagerDuty is paged.
//! 4. It recovers, then the `us` agent dies: `us` is reported silent (`watchpost status`, `/metrics`, a
//!    `regions_reporting < 2` page) and its stale state does not vote: the endpoint is `up`.

use crate::common;

use common::influxd::Influxd;
use common::providers::Providers;
use common::{fast_agent, free_port, http_get, run, terminate, wait_for, write_config, Toggle};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

/// `dir` holds the part's spool and the state database they share (alerts, the page's incidents).
fn config(dir: &Path, influx: &str, region: &str, target: &Toggle, listen: u16, page: u16, providers: &Providers) -> String {
    fast_agent(region)
        + &format!(
            r#"
[state]
path = "{state}"

[agent.spool]
dir = "{spool}"

[store]
type = "influxdb"
url = "{influx}"
database = "watchpost"

[server]
listen = "127.0.0.1:{listen}"

[regions]
stale_after = "3s"

[statuspage]
listen = "127.0.0.1:{page}"

[[statuspage.components]]
id = "api"

[[endpoints]]
id = "api"
url = "{url}"
component = "api"

[alerting]
evaluation_interval = "200ms"
lookback = "2s"

{paging}
[[alerting.rules]]
name = "down"
when = "availability < 100"

[[alerting.rules]]
name = "region-silent"
when = "regions_reporting < 2"
for = "4s"
"#,
            url = target.url(),
            paging = providers.pagerduty_paging(),
            state = dir.join("state.db").display(),
            spool = dir.join(format!("spool-{region}-{listen}")).display(),
        )
}

/// The processes of the test, killed when it ends however it ends (a failed assertion must not leave agents
/// probing and writing behind it).
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(args: &[&str], log: &Path) -> Child {
    common::watchpost().args(args).stdout(Stdio::null()).stderr(std::fs::File::create(log).expect("log")).spawn().expect("start watchpost")
}

/// `watchpost status --format json`: (endpoint_state of `api`, regions marked silent).
fn status(cfg: &str) -> (String, Vec<String>) {
    let out = run(&["status", "--config", cfg, "--format", "json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let rows = rows.as_array().cloned().unwrap_or_default();
    let state = rows.iter().find(|r| r["endpoint"] == "api").and_then(|r| r["endpoint_state"].as_str()).unwrap_or("").to_string();
    let silent = rows.iter().filter(|r| r["region_silent"] == true).filter_map(|r| r["region"].as_str().map(str::to_string)).collect();
    (state, silent)
}

fn page_status(page: u16) -> String {
    let body = http_get(page, "/api/v2/components.json").map(|(_, b)| b).unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["components"].as_array().and_then(|c| c.first()).and_then(|c| c["status"].as_str()).unwrap_or("").to_string()
}

fn triggers(p: &Providers, dedup_prefix: &str) -> usize {
    p.received_on("/v2/enqueue")
        .iter()
        .filter(|r| r.body["event_action"] == "trigger" && r.body["dedup_key"].as_str().is_some_and(|k| k.starts_with(dedup_prefix)))
        .count()
}

#[test]
fn two_regions_vote_and_a_silent_region_is_reported_not_read_as_an_outage() {
    let influxd = Influxd::start();
    let providers = Providers::start();
    let dir = tempfile::tempdir().expect("temporary directory");
    let (seen_from_eu, seen_from_us) = (Toggle::start(true), Toggle::start(true));
    let (l_eu, l_us, l_rest, page) = (free_port(), free_port(), free_port(), free_port());
    let eu = write_config(dir.path(), &config(dir.path(), &influxd.url(), "eu", &seen_from_eu, l_eu, page, &providers));
    let us_dir = dir.path().join("us");
    std::fs::create_dir_all(&us_dir).expect("us dir");
    let us = write_config(&us_dir, &config(dir.path(), &influxd.url(), "us", &seen_from_us, l_us, page, &providers));
    let rest_dir = dir.path().join("rest");
    std::fs::create_dir_all(&rest_dir).expect("rest dir");
    let rest = write_config(&rest_dir, &config(dir.path(), &influxd.url(), "eu", &seen_from_eu, l_rest, page, &providers));
    let (eu, us, rest) = (eu.to_str().unwrap(), us.to_str().unwrap(), rest.to_str().unwrap());
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let agent_eu = spawn(&["agent", "--config", eu], &log("eu"));
    let agent_us = spawn(&["agent", "--config", us], &log("us"));
    // The parts that read the store, in one process of their own: aggregator (region gauges), alerting, page.
    let readers = spawn(&["aggregator", "--config", rest], &log("aggregator"));
    let alerting = {
        let mut c = common::watchpost();
        c.args(["alerting", "--config", rest]).env("WATCHPOST__SERVER__LISTEN", format!("127.0.0.1:{}", free_port()));
        c.stdout(Stdio::null()).stderr(std::fs::File::create(log("alerting")).expect("log")).spawn().expect("start alerting")
    };
    let page_proc = spawn(&["statuspage", "--config", rest], &log("statuspage"));
    let mut procs = Procs(vec![agent_eu, agent_us, readers, alerting, page_proc]);
    let logs = || {
        ["eu", "us", "aggregator", "alerting", "statuspage"]
            .iter()
            .map(|n| format!("--- {n}\n{}", std::fs::read_to_string(log(n)).unwrap_or_default()))
            .collect::<String>()
    };

    // 1. Up from both regions.
    assert!(
        wait_for(Duration::from_secs(30), || status(eu).0 == "up" && page_status(page) == "operational"),
        "{:?}\n{}",
        status(eu),
        logs()
    );

    // 2. Failing as seen from eu only: degraded, nobody paged.
    seen_from_eu.set(false);
    assert!(
        wait_for(Duration::from_secs(20), || status(eu).0 == "degraded" && page_status(page) == "degraded_performance"),
        "{:?} {}\n{}",
        status(eu),
        page_status(page),
        logs()
    );
    let out = run(&["status", "--config", eu]);
    assert!(out.status.success(), "degraded is not down: exit 0");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(triggers(&providers, "down/"), 0, "one region of two is no majority");

    // 3. Failing for both: down, and paged.
    seen_from_us.set(false);
    assert!(wait_for(Duration::from_secs(20), || status(eu).0 == "DOWN" && page_status(page) == "major_outage"), "{}", logs());
    assert!(wait_for(Duration::from_secs(15), || triggers(&providers, "down/") == 1), "{}", logs());
    assert!(!run(&["status", "--config", eu]).status.success(), "down: exit 1");

    // 4. Recovered, then the us agent dies: us is silent, reported, and does not vote.
    seen_from_eu.set(true);
    seen_from_us.set(true);
    assert!(wait_for(Duration::from_secs(20), || status(eu).0 == "up"), "{}", logs());
    assert_eq!(
        triggers(&providers, "region-silent/"),
        0,
        "both regions report: {:?}\n{}",
        providers.received_on("/v2/enqueue").iter().map(|r| r.body["payload"]["summary"].clone()).collect::<Vec<_>>(),
        logs()
    );
    let _ = procs.0[1].kill(); // SIGKILL: the us agent dies without a word
    let _ = procs.0[1].wait();
    assert!(wait_for(Duration::from_secs(20), || status(eu).1 == vec!["us".to_string()]), "{:?}\n{}", status(eu), logs());
    assert_eq!(status(eu).0, "up", "a silent region is not an outage");
    let table = String::from_utf8_lossy(&run(&["status", "--config", eu]).stdout).into_owned();
    assert!(table.contains("region us: SILENT") && table.contains("(silent)"), "{table}");
    assert!(
        wait_for(Duration::from_secs(20), || http_get(l_rest, "/metrics").is_some_and(|(_, m)| m
            .contains("watchpost_region_silent{region=\"us\"} 1")
            && m.contains("watchpost_region_silent{region=\"eu\"} 0"))),
        "{}",
        http_get(l_rest, "/metrics").map(|(_, m)| m).unwrap_or_default()
    );
    assert!(wait_for(Duration::from_secs(20), || triggers(&providers, "region-silent/") == 1), "{}", logs());
    let silent_page = providers
        .received_on("/v2/enqueue")
        .into_iter()
        .find(|r| r.body["dedup_key"].as_str().is_some_and(|k| k.starts_with("region-silent/")));
    let summary = silent_page.map(|r| r.body["payload"]["summary"].as_str().unwrap_or("").to_string()).unwrap_or_default();
    assert!(summary.contains("silent: us"), "{summary}");
    assert_eq!(page_status(page), "operational", "the page follows the reporting region");
    assert_eq!(triggers(&providers, "down/"), 1, "no new outage page");
    assert!(providers.violations().is_empty(), "{:?}", providers.violations());

    for c in procs.0.drain(..).enumerate().filter(|(i, _)| *i != 1).map(|(_, c)| c) {
        let _ = terminate(c);
    }
}
