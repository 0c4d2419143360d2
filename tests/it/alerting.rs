//! Alerting end to end, through the real binary: rules over real probes, the on-call rota and escalation,
//! acknowledgements (admin API, CLI, signed link), every notifier against stand-ins that validate each
//! request against the provider's published schema (PagerDuty, OpsGenie) or a real SMTP server, and the
//! faults of issue 8: SIGKILL around a delivery, restarts with alerts firing, a recovery while alerting is
//! down, a provider failing with 500 and then 429.

#![allow(clippy::disallowed_methods)] // reads the SQLite files directly and keeps its own clock: an independent check

use crate::common;

use common::providers::{Mode, Providers};
use common::smtp::{decode_qp, SmtpSink};
use common::{fast_agent, free_port, http_get, http_request, kill9, run, terminate, wait_for, write_config, Toggle};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "admin-token-0123456789abcdef0123";
const SECRET: &str = "ack-secret-0123456789abcdef0123456789";

/// Starts `watchpost ARGS` with its log in `log` (a pipe nobody reads would fill and stall it).
fn spawn_logged(args: &[&str], log: &Path, env: &[(&str, String)]) -> Child {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    let mut c = common::watchpost();
    c.args(args).stdout(Stdio::null()).stderr(file);
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().expect("start watchpost")
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The common part of every configuration: fast probes, a SQLite store, the process server, the page.
fn base(dir: &Path, listen: u16, page: u16) -> String {
    fast_agent("eu")
        + &format!(
            r#"
[store]
type = "sqlite"
path = "{db}"

[server]
listen = "127.0.0.1:{listen}"

[statuspage]
listen = "127.0.0.1:{page}"
url = "http://127.0.0.1:{page}"
admin_token = "{TOKEN}"
"#,
            db = dir.join("w.db").display()
        )
}

fn endpoint(id: &str, url: &str) -> String {
    format!("\n[[endpoints]]\nid = \"{id}\"\nurl = \"{url}\"\n")
}

/// `n` endpoints `svc-00`… on a port nobody listens on: every probe is refused.
fn refused_endpoints(n: usize) -> String {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    (0..n).map(|i| endpoint(&format!("svc-{i:02}"), &format!("http://127.0.0.1:{dead}/{i}"))).collect()
}

/// A PagerDuty-only alerting section: one rule on every endpoint, retries at most `retry` apart.
fn pagerduty_only(providers: &Providers, retry: &str) -> String {
    format!(
        "\n[alerting]\nevaluation_interval = \"200ms\"\nretry_max_delay = \"{retry}\"\n{}\n[[alerting.rules]]\nname = \"down\"\nwhen = \"availability < 100\"\n",
        providers.pagerduty_paging()
    )
}

fn pd_actions(p: &Providers) -> Vec<(String, String)> {
    p.received_on("/v2/enqueue")
        .into_iter()
        .map(|r| (r.body["event_action"].as_str().unwrap_or("").to_string(), r.body["dedup_key"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn count(p: &Providers, action: &str) -> usize {
    pd_actions(p).iter().filter(|(a, _)| a == action).count()
}

fn admin(page: u16, method: &str, path: &str, body: &str) -> (String, String) {
    let auth = format!("Authorization: Bearer {TOKEN}");
    http_request(page, method, path, &[&auth, "Content-Type: application/json"], body).expect("admin request")
}

/// Reads the outbox of the state database: (action, notifier, attempts, sent) per delivery, in order.
fn outbox(state: &Path) -> Vec<(String, String, i64, bool)> {
    let Ok(c) = rusqlite::Connection::open(state) else { return vec![] };
    let Ok(mut s) = c.prepare("SELECT action, notifier, attempts, sent_at IS NOT NULL FROM alert_delivery ORDER BY id") else {
        return vec![];
    };
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).map(|rows| rows.flatten().collect()).unwrap_or_default()
}

fn state_db(dir: &Path) -> PathBuf {
    dir.join("state.db")
}

#[test]
fn pages_escalate_are_acknowledged_three_ways_and_resolve_through_every_notifier() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(&dir.path().join("mail"));
    let (api, web, db, queue) = (Toggle::start(true), Toggle::start(true), Toggle::start(true), Toggle::start(true));
    let (listen, page) = (free_port(), free_port());
    let mut text = base(dir.path(), listen, page);
    for (id, t) in [("api", &api), ("web", &web), ("db", &db), ("queue", &queue)] {
        text.push_str(&endpoint(id, &t.url()));
    }
    text.push_str(&format!(
        r#"
[oncall.schedules.primary]
members = ["alice", "bob", "carol"]
rotation = "daily"

[oncall.people.alice]
email = "alice@example.com"
slack = "U0ALICE"
opsgenie = "alice@example.com"
[oncall.people.bob]
email = "bob@example.com"
slack = "U0BOB"
opsgenie = "bob@example.com"
[oncall.people.carol]
email = "carol@example.com"
slack = "U0CAROL"
opsgenie = "carol@example.com"

[alerting]
evaluation_interval = "200ms"
secret = "{SECRET}"

[alerting.notifiers.pd]
type = "pagerduty"
url = "{url}"
routing_key = "R0123456789ABCDEF0123456789ABCDEF"

[alerting.notifiers.og]
type = "opsgenie"
url = "{url}"
api_key = "eb243592-faa2-4ba2-a551-1afdf565c889"

[alerting.notifiers.chat]
type = "slack"
webhook_url = "{url}/slack/T000/B000/XXXX"

[alerting.notifiers.mail]
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp}
smtp_tls = "none"
from = "Watchpost <alerts@example.com>"

[alerting.notifiers.hook]
type = "webhook"
url = "{url}/hook"
secret = "hook-secret"

[alerting.policies.default]
notifiers = ["pd", "og", "chat", "mail", "hook"]
levels = [{{ targets = ["oncall:primary"] }}, {{ after = "5s", targets = ["next:primary"] }}, {{ after = "9s", targets = ["team:primary"] }}]

[[alerting.rules]]
name = "down"
when = "availability < 100"
severity = "critical"
"#,
        url = providers.url(),
        smtp = smtp.port
    ));
    let cfg = write_config(dir.path(), &text);
    let cfg_s = cfg.to_str().unwrap();
    let log = dir.path().join("run.log");
    let child = spawn_logged(&["run", "--config", cfg_s], &log, &[]);
    assert!(wait_for(Duration::from_secs(15), || http_request(page, "GET", "/healthz", &[], "").is_some()), "{}", log_of(&log));

    // All four go down together; the on-call person is paged everywhere at once.
    let down_at = Instant::now();
    for t in [&api, &web, &db, &queue] {
        t.set(false);
    }
    assert!(
        wait_for(Duration::from_secs(15), || count(&providers, "trigger") == 4),
        "no PagerDuty triggers: {:?}\n{}",
        pd_actions(&providers),
        log_of(&log)
    );
    assert!(wait_for(Duration::from_secs(10), || providers.og_alerts().len() == 4));
    let on_call = run(&["oncall", "--config", cfg_s]);
    let on_call = String::from_utf8_lossy(&on_call.stdout).to_string();
    let slack = providers.received_on("/slack/");
    let first = slack.iter().find(|r| r.body["text"].as_str().unwrap_or("").contains("[FIRING] web")).expect("a Slack message for web");
    let link = first.body["blocks"][2]["elements"][0]["url"].as_str().expect("an acknowledge button").to_string();
    assert!(link.starts_with(&format!("http://127.0.0.1:{page}/ack?alert=down%2Fweb%2Fproduction&episode=1&by=slack")), "{link}");

    // Three acknowledgements before level 2 (5 s): web by the signed link (GET shows a form, POST acts),
    // db through the admin API, queue with the CLI. api stays unacknowledged.
    let path = link.trim_start_matches(&format!("http://127.0.0.1:{page}"));
    let (status, body) = http_request(page, "GET", path, &[], "").unwrap();
    assert!(status.contains("200") && body.contains("<form method=\"post\""), "{status}\n{body}");
    assert_eq!(outbox(&state_db(dir.path())).iter().filter(|d| d.0 == "acknowledge").count(), 0, "GET alone acknowledges nothing");
    let (status, body) = http_request(page, "POST", path, &["Content-Type: application/x-www-form-urlencoded"], "").unwrap();
    assert!(status.contains("200") && body.contains("acknowledged"), "{status}\n{body}");
    let tampered = path.replace("episode=1", "episode=2");
    assert!(http_request(page, "POST", &tampered, &["Content-Type: application/x-www-form-urlencoded"], "").unwrap().0.contains("400"));
    let (status, body) = admin(page, "POST", "/api/v1/admin/alerts/ack", r#"{"alert":"down/db/production","by":"bob"}"#);
    assert!(status.contains("200"), "{status} {body}");
    let out = run(&["ack", "--config", cfg_s, "down/queue/production", "--by", "carol"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(down_at.elapsed() < Duration::from_secs(5), "the acknowledgements must land before level 2; took {:?}", down_at.elapsed());
    assert!(wait_for(Duration::from_secs(5), || count(&providers, "acknowledge") == 3), "{:?}", pd_actions(&providers));

    // api escalates: the next in the rotation after 5 s, the whole team after 9 s; the others do not.
    assert!(wait_for(Duration::from_secs(15), || outbox(&state_db(dir.path())).iter().filter(|d| d.0 == "escalate").count() >= 8));
    std::thread::sleep(Duration::from_secs(1));
    let escalations: Vec<_> = outbox(&state_db(dir.path())).into_iter().filter(|d| d.0 == "escalate").collect();
    assert_eq!(escalations.len(), 8, "two levels x (og, chat, mail, hook) for api only: {escalations:?}");
    let responders = providers.received_on("/v2/alerts/down%2Fapi%2Fproduction/responders");
    assert!(!responders.is_empty(), "OpsGenie is told of the next levels");

    for t in [&api, &web, &db, &queue] {
        t.set(true);
    }
    assert!(wait_for(Duration::from_secs(15), || count(&providers, "resolve") == 4), "{:?}", pd_actions(&providers));
    assert!(wait_for(Duration::from_secs(10), || providers.og_open() == 0));
    assert!(wait_for(Duration::from_secs(10), || outbox(&state_db(dir.path())).iter().all(|d| d.3)), "{:?}", outbox(&state_db(dir.path())));

    // Email: the on-call person for each trigger, the next and the team for api's levels, and api's
    // resolution to all three.
    let mails: Vec<String> = smtp.wait_for(4 + 2 + 4, Duration::from_secs(10)).iter().map(|m| decode_qp(m)).collect();
    let api_resolved =
        mails.iter().find(|m| m.contains("[RESOLVED] API") || m.contains("Subject: [RESOLVED] api")).expect("api's resolution mail");
    for who in ["alice@example.com", "bob@example.com", "carol@example.com"] {
        assert!(api_resolved.contains(who), "resolution goes to everyone paged: {api_resolved}");
    }
    let trigger = mails.iter().find(|m| m.contains("[FIRING] web")).expect("web's trigger mail");
    assert!(trigger.contains("/ack?alert=down%2Fweb%2Fproduction"), "an acknowledge link in the mail: {trigger}");
    assert!(on_call.contains("on call:"), "{on_call}");

    // The webhook is signed over its timestamp and body.
    let hooks = providers.received_on("/hook");
    assert_eq!(hooks.len(), 4 + 3 + 2 + 4, "triggers, acknowledgements, api's two escalations, resolutions");
    for h in &hooks {
        let sig = h.headers.get("x-watchpost-signature").expect("signed");
        let (t, v1) = sig.split_once(",v1=").unwrap();
        let t = t.trim_start_matches("t=");
        let body = &h.raw;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"hook-secret");
        let expected: String =
            ring::hmac::sign(&key, format!("{t}.{body}").as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(v1, expected, "signature over the body as sent");
        assert!(h.headers.contains_key("idempotency-key"));
    }
    // Exactly one PagerDuty incident and one OpsGenie alert per endpoint, and not one request off-schema.
    assert_eq!(providers.pd_incidents().len(), 4);
    assert_eq!(providers.og_alerts().len(), 4);
    assert_eq!(providers.violations(), Vec::<String>::new());
    // The rota as a calendar feed, behind the admin token (as a header or, for calendar apps, in the URL).
    let (status, body) =
        http_request(page, "GET", &format!("/api/v1/admin/oncall/primary/calendar.ics?token={TOKEN}&days=3"), &[], "").unwrap();
    assert!(status.contains("200") && body.starts_with("BEGIN:VCALENDAR") && body.matches("BEGIN:VEVENT").count() >= 3, "{status}\n{body}");
    let (status, _) = admin(page, "GET", "/api/v1/admin/oncall/primary/calendar.ics", "");
    assert!(status.contains("200"), "{status}");
    assert!(http_request(page, "GET", "/api/v1/admin/oncall/primary/calendar.ics?token=wrong", &[], "").unwrap().0.contains("401"));
    assert!(admin(page, "GET", "/api/v1/admin/oncall/nope/calendar.ics", "").0.contains("404"));
    let (status, body) = admin(page, "GET", "/api/v1/admin/alerts", "");
    assert!(status.contains("200") && body.contains("\"key\":\"down/api/production\""), "{status} {body}");
    // No secret in the log.
    let _ = terminate(child);
    let log = log_of(&log);
    for secret in [SECRET, "R0123456789ABCDEF0123456789ABCDEF", "eb243592-faa2-4ba2-a551-1afdf565c889", "hook-secret", TOKEN] {
        assert!(!log.contains(secret), "a secret in the log");
    }
    let listing = run(&["alerts", "--config", cfg_s]);
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("down/queue/production") && listing.contains("carol"), "{listing}");
}

/// Issue 8, fault 1: SIGKILL before the request reached the provider, after it did but before the answer
/// was recorded, and after it was recorded. The provider sees one incident each time, and at most one
/// repeated request, with the same dedup key.
#[test]
fn sigkill_around_a_delivery_loses_no_page_and_repeats_none() {
    let cases = [(Some(Mode::HangBefore), 1usize), (Some(Mode::HangAfter), 2), (None, 1)];
    std::thread::scope(|s| {
        for (mode, expected_requests) in cases {
            s.spawn(move || sigkill_case(mode, expected_requests));
        }
    });
}

fn sigkill_case(mode: Option<Mode>, expected_requests: usize) {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let target = Toggle::start(false);
    let (listen, page) = (free_port(), free_port());
    let text = base(dir.path(), listen, page) + &endpoint("api", &target.url()) + &pagerduty_only(&providers, "2s");
    let cfg = write_config(dir.path(), &text);
    let log = dir.path().join("run.log");
    if let Some(m) = mode {
        providers.set(m);
    }
    let child = spawn_logged(&["run", "--config", cfg.to_str().unwrap()], &log, &[]);
    match mode {
        // The request reached the stand-in (it hangs before processing, or after): kill now.
        Some(Mode::HangBefore) => {
            assert!(wait_for(Duration::from_secs(20), || outbox(&state_db(dir.path())).len() == 1
                && log_of(&log).contains("watchpost starting")));
            std::thread::sleep(Duration::from_millis(800));
        }
        Some(_) => assert!(wait_for(Duration::from_secs(20), || count(&providers, "trigger") == 1), "{}", log_of(&log)),
        // Sent and recorded.
        None => {
            assert!(wait_for(Duration::from_secs(20), || outbox(&state_db(dir.path())).first().is_some_and(|d| d.3)), "{}", log_of(&log))
        }
    }
    kill9(child);
    providers.set(Mode::Ok);
    let child = spawn_logged(&["run", "--config", cfg.to_str().unwrap()], &log, &[]);
    // A claimed delivery is taken over when its claim (30 s) runs out.
    assert!(
        wait_for(Duration::from_secs(45), || outbox(&state_db(dir.path())).first().is_some_and(|d| d.3)),
        "{mode:?}: {:?}\n{}",
        outbox(&state_db(dir.path())),
        log_of(&log)
    );
    std::thread::sleep(Duration::from_secs(2));
    let _ = terminate(child);
    let triggers: Vec<_> = pd_actions(&providers).into_iter().filter(|(a, _)| a == "trigger").collect();
    assert_eq!(triggers.len(), expected_requests, "{mode:?}: {triggers:?}");
    assert!(triggers.iter().all(|(_, k)| k == "down/api/production"));
    assert_eq!(providers.pd_incidents().len(), 1, "{mode:?}: one incident");
    assert_eq!(outbox(&state_db(dir.path())).len(), 1, "{mode:?}: one delivery, never enqueued twice");
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// Fault 2: restarted (SIGKILL, then SIGTERM) while 50 alerts fire: no new page.
#[test]
fn a_restart_with_fifty_alerts_firing_pages_nobody_again() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let (listen, page) = (free_port(), free_port());
    let text = base(dir.path(), listen, page) + &refused_endpoints(50) + &pagerduty_only(&providers, "2s");
    let cfg = write_config(dir.path(), &text);
    let log = dir.path().join("run.log");
    let child = spawn_logged(&["run", "--config", cfg.to_str().unwrap()], &log, &[]);
    assert!(wait_for(Duration::from_secs(30), || count(&providers, "trigger") == 50), "{}", log_of(&log));
    kill9(child);
    let child = spawn_logged(&["run", "--config", cfg.to_str().unwrap()], &log, &[]);
    std::thread::sleep(Duration::from_secs(5));
    let child2 = {
        let _ = terminate(child);
        spawn_logged(&["run", "--config", cfg.to_str().unwrap()], &log, &[])
    };
    std::thread::sleep(Duration::from_secs(5));
    let _ = terminate(child2);
    assert!(log_of(&log).matches("alerting started").count() == 3, "{}", log_of(&log));
    assert_eq!(count(&providers, "trigger"), 50, "no new page after two restarts");
    assert_eq!(providers.pd_incidents().len(), 50);
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// Issue 17, defect 2: SIGKILL right after a page loses the failing points still in the agent's batch (a
/// 2 s batch here, so they are surely lost); the restarted process read the store's newest point (healthy,
/// from before the outage), resolved the alert, and paged it again as a new incident.
#[test]
fn regression_a_restart_right_after_a_page_neither_resolves_nor_pages_again() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let target = Toggle::start(true);
    let (listen, page) = (free_port(), free_port());
    let text = base(dir.path(), listen, page) + &endpoint("api", &target.url()) + &pagerduty_only(&providers, "2s");
    let cfg = write_config(dir.path(), &text);
    let c = cfg.to_str().unwrap();
    let log = dir.path().join("run.log");
    let slow_batches = [("WATCHPOST__AGENT__BATCH_MAX_AGE", "2s".to_string())];
    let child = spawn_logged(&["run", "--config", c], &log, &slow_batches);
    // Healthy points reach the store first.
    let stored = || {
        rusqlite::Connection::open(dir.path().join("w.db"))
            .ok()
            .and_then(|db| db.query_row("SELECT count(*) FROM probe", [], |r| r.get::<_, i64>(0)).ok())
    };
    assert!(wait_for(Duration::from_secs(20), || stored().unwrap_or(0) > 0), "{}", log_of(&log));
    target.set(false);
    // The page is sent and recorded; the process dies at once, its failing points still in the batch.
    assert!(wait_for(Duration::from_secs(20), || outbox(&state_db(dir.path())).first().is_some_and(|d| d.3)), "{}", log_of(&log));
    kill9(child);
    let child = spawn_logged(&["run", "--config", c], &log, &slow_batches);
    assert!(wait_for(Duration::from_secs(20), || log_of(&log).matches("alerting started").count() == 2));
    // Still down: for a while after the restart nothing may be resolved, nothing paged again.
    std::thread::sleep(Duration::from_secs(6));
    let actions: Vec<String> = outbox(&state_db(dir.path())).into_iter().map(|d| d.0).collect();
    assert_eq!(actions, vec!["trigger"], "after the restart: {actions:?}\n{}", log_of(&log));
    // Then the target recovers: exactly one resolve, of the same incident.
    target.set(true);
    assert!(wait_for(Duration::from_secs(20), || count(&providers, "resolve") == 1), "{:?}\n{}", pd_actions(&providers), log_of(&log));
    std::thread::sleep(Duration::from_secs(1));
    let _ = terminate(child);
    assert_eq!(
        pd_actions(&providers),
        vec![("trigger".into(), "down/api/production".into()), ("resolve".into(), "down/api/production".into())]
    );
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// Fault 3: the endpoint recovers while alerting (its own process, reading the store the agent writes) is
/// down; on restart exactly one resolve is sent.
#[test]
fn a_recovery_while_alerting_is_down_is_resolved_once_on_restart() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let target = Toggle::start(false);
    let (listen, page, listen2) = (free_port(), free_port(), free_port());
    let text = base(dir.path(), listen, page) + &endpoint("api", &target.url()) + &pagerduty_only(&providers, "2s");
    let cfg = write_config(dir.path(), &text);
    let c = cfg.to_str().unwrap();
    let (agent_log, alert_log) = (dir.path().join("agent.log"), dir.path().join("alerting.log"));
    let agent = spawn_logged(&["agent", "--config", c], &agent_log, &[]);
    let other_port = [("WATCHPOST__SERVER__LISTEN", format!("127.0.0.1:{listen2}"))];
    let alerting = spawn_logged(&["alerting", "--config", c], &alert_log, &other_port);
    assert!(wait_for(Duration::from_secs(20), || count(&providers, "trigger") == 1), "{}\n{}", log_of(&agent_log), log_of(&alert_log));
    kill9(alerting);
    target.set(true);
    // The agent writes the recovery while nobody evaluates.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&providers, "resolve"), 0);
    let alerting = spawn_logged(&["alerting", "--config", c], &alert_log, &other_port);
    assert!(wait_for(Duration::from_secs(15), || count(&providers, "resolve") == 1), "{}", log_of(&alert_log));
    std::thread::sleep(Duration::from_secs(3));
    // Issue 19: the raw points it read back are counted as alerting's; the agent's process reads none back.
    let (_, m) = http_get(listen2, "/metrics").expect("GET /metrics of alerting");
    let read: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("watchpost_store_points_read_total{consumer=\"alerting\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no read count for alerting:\n{m}"));
    assert!(read > 0, "{m}");
    let (_, m) = http_get(listen, "/metrics").expect("GET /metrics of the agent");
    assert!(!m.contains("consumer=\"alerting\""), "{m}");
    let _ = terminate(alerting);
    let _ = terminate(agent);
    assert_eq!(
        pd_actions(&providers),
        vec![("trigger".into(), "down/api/production".into()), ("resolve".into(), "down/api/production".into())]
    );
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// Fault 4: the provider answers 500 for two minutes, then 429 with `Retry-After`; the page arrives after
/// the recovery, followed by its resolve, never the other way round.
#[test]
fn a_provider_failing_for_two_minutes_then_rate_limiting_gets_the_page_then_the_resolve() {
    let providers = Providers::start();
    providers.set(Mode::Fail500);
    let dir = tempfile::tempdir().unwrap();
    let target = Toggle::start(false);
    let (listen, page) = (free_port(), free_port());
    let text = base(dir.path(), listen, page) + &endpoint("api", &target.url()) + &pagerduty_only(&providers, "5s");
    let cfg = write_config(dir.path(), &text);
    let log = dir.path().join("run.log");
    let start = Instant::now();
    let child = spawn_logged(&["run", "--config", cfg.to_str().unwrap()], &log, &[]);
    assert!(wait_for(Duration::from_secs(20), || !outbox(&state_db(dir.path())).is_empty()), "{}", log_of(&log));
    std::thread::sleep(Duration::from_secs(20));
    // The endpoint recovers while the provider is still down: the resolve queues behind its trigger.
    target.set(true);
    assert!(wait_for(Duration::from_secs(20), || outbox(&state_db(dir.path())).len() == 2));
    while start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let rate_limited_at = Instant::now();
    providers.set(Mode::TooMany(4));
    assert!(
        wait_for(Duration::from_secs(15), || outbox(&state_db(dir.path()))[0].2 > 0 && log_of(&log).contains("HTTP 429")),
        "no attempt met the 429"
    );
    std::thread::sleep(Duration::from_secs(2));
    providers.set(Mode::Ok);
    let ok_at = Instant::now();
    assert!(
        wait_for(Duration::from_secs(20), || count(&providers, "resolve") == 1),
        "{:?}\n{}",
        outbox(&state_db(dir.path())),
        log_of(&log)
    );
    let _ = terminate(child);
    let received = providers.received_on("/v2/enqueue");
    assert_eq!(
        pd_actions(&providers),
        vec![("trigger".into(), "down/api/production".into()), ("resolve".into(), "down/api/production".into())]
    );
    assert!(received[0].at >= ok_at && received[1].at >= received[0].at);
    assert!(received[0].at.duration_since(rate_limited_at) >= Duration::from_secs(4), "Retry-After: 4 was honoured");
    let d = outbox(&state_db(dir.path()));
    assert!(d[0].2 >= 10, "the trigger was retried through the outage: {d:?}");
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// Two alerting processes side by side on one store and one state database (high availability): every
/// alert pages once, not twice.
#[test]
fn two_alerting_instances_on_one_state_database_page_once() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let (listen, page) = (free_port(), free_port());
    let text = base(dir.path(), listen, page) + &refused_endpoints(10) + &pagerduty_only(&providers, "2s");
    let cfg = write_config(dir.path(), &text);
    let c = cfg.to_str().unwrap();
    let logs: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("{i}.log"))).collect();
    let agent = spawn_logged(&["agent", "--config", c], &logs[0], &[]);
    let a = spawn_logged(&["alerting", "--config", c], &logs[1], &[("WATCHPOST__SERVER__LISTEN", format!("127.0.0.1:{}", free_port()))]);
    let b = spawn_logged(&["alerting", "--config", c], &logs[2], &[("WATCHPOST__SERVER__LISTEN", format!("127.0.0.1:{}", free_port()))]);
    assert!(wait_for(Duration::from_secs(30), || count(&providers, "trigger") >= 10), "{}", log_of(&logs[1]));
    std::thread::sleep(Duration::from_secs(4));
    for p in [a, b, agent] {
        let _ = terminate(p);
    }
    assert_eq!(count(&providers, "trigger"), 10, "{:?}", pd_actions(&providers));
    assert_eq!(outbox(&state_db(dir.path())).len(), 10);
    // Both evaluated: each instance logged some of the transitions, or one lost every race and saw them.
    assert!(log_of(&logs[1]).contains("alerting started") && log_of(&logs[2]).contains("alerting started"));
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// A maintenance window that begins while an alert fires resolves it, with a note, and pages nobody more.
#[test]
fn a_maintenance_window_resolves_a_firing_alert_with_a_note() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let target = Toggle::start(false);
    let (listen, page) = (free_port(), free_port());
    let text = base(dir.path(), listen, page) + &endpoint("api", &target.url()) + &pagerduty_only(&providers, "2s");
    let cfg = write_config(dir.path(), &text);
    let c = cfg.to_str().unwrap();
    let log = dir.path().join("run.log");
    let child = spawn_logged(&["run", "--config", c], &log, &[]);
    assert!(wait_for(Duration::from_secs(20), || count(&providers, "trigger") == 1), "{}", log_of(&log));
    let out = run(&["maintenance", "--config", c, "start", "--title", "Database upgrade", "--endpoint", "api", "--duration", "1h"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(wait_for(Duration::from_secs(15), || count(&providers, "resolve") == 1), "{}", log_of(&log));
    std::thread::sleep(Duration::from_secs(2));
    let _ = terminate(child);
    assert_eq!(count(&providers, "trigger"), 1, "still down under maintenance, but silent");
    let listing = run(&["alerts", "--config", c]);
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("resolved") && listing.contains("a maintenance window began"), "{listing}");
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// Issue 17, defect 15: the stand-ins' validator ignored `maxLength`, `minimum` and `maximum`. It enforces the
/// bounds the published documents give (and the stand-ins the documented limits the documents leave out, such
/// as OpsGenie's 130-character message: see `common::providers`).
#[test]
fn the_schema_validator_enforces_the_documents_bounds() {
    let og = common::jsonschema::Schemas::load_strict("opsgenie.swagger.json");
    let long = "u".repeat(101);
    let e = og.validate("UpdateUserPayload", &serde_json::json!({ "username": long }), &[]);
    assert!(e.iter().any(|e| e.contains("$.username") && e.contains("maxLength")), "{e:?}");
    assert!(og.validate("UpdateUserPayload", &serde_json::json!({ "username": "u".repeat(100) }), &[]).is_empty());
    let e = og.validate("DelayAction", &serde_json::json!({ "untilHour": 24, "untilMinute": -1 }), &[]);
    assert!(e.iter().any(|e| e.contains("$.untilHour") && e.contains("maximum")), "{e:?}");
    assert!(e.iter().any(|e| e.contains("$.untilMinute") && e.contains("minimum")), "{e:?}");
}

/// The chat and push channels (issue 21): one alert fires and resolves through every one of them, against
/// stand-ins that validate each request against the schema written from the provider's documentation; each
/// message carries the acknowledge link signed for its channel, and no credential reaches the log.
#[test]
fn every_chat_and_push_channel_pages_with_its_own_link_and_resolves() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let target = Toggle::start(true);
    let (listen, page) = (free_port(), free_port());
    let secrets = [
        "dc-9f8e7d6c5b",
        "123456:tg-AAEhBOweik6ad",
        "gc-c0ffee42",
        "tk_ntfy5ecret",
        "mm-h00k5ecret",
        "sig-teams-5ecret",
        "gotify-app-5ecret",
        "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
        "uQiRzpo4DXghDmr9QzzfQu27cmVRsG",
        "syt_matrix_5ecret",
        "am-proxy-5ecret",
        "vo-api-5ecret",
        "twilio-auth-5ecret",
        "template-hdr-5ecret",
    ];
    let [dc, tg, gc, nt, mm, teams, gotify, po_token, po_user, mx, am, vo, tw, tpl] = secrets;
    let text = base(dir.path(), listen, page)
        + &endpoint("api", &target.url())
        + &format!(
            r#"
[oncall.schedules.primary]
members = ["alice"]

[oncall.people.alice]
phone = "+4915112345678"

[alerting]
evaluation_interval = "200ms"
secret = "{SECRET}"

[alerting.notifiers.tpl]
type = "template"
url = "{url}/hook"
headers = {{ X-Token = "{tpl}", Content-Type = "application/json" }}
body = '{{"text": {{{{text | json}}}}, "severity": "{{{{severity}}}}", "action": "{{{{action}}}}"}}'

[alerting.notifiers.vo]
type = "splunk_oncall"
url = "{url}/victorops"
api_key = "{vo}"
routing_key = "ops"

[alerting.notifiers.sms]
type = "twilio"
url = "{url}"
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "{tw}"
from = "+14155550100"

[alerting.notifiers.dc]
type = "discord"
webhook_url = "{url}/api/webhooks/42/{dc}"

[alerting.notifiers.tg]
type = "telegram"
bot_token = "{tg}"
chat_id = -1001234567890
api_url = "{url}"

[alerting.notifiers.gc]
type = "googlechat"
webhook_url = "{url}/v1/spaces/AAAA/messages?key=k&token={gc}"

[alerting.notifiers.push]
type = "ntfy"
url = "{url}"
topic = "watchpost-alerts"
token = "{nt}"

[alerting.notifiers.mm]
type = "mattermost"
webhook_url = "{url}/hooks/{mm}"
channel = "ops"

[alerting.notifiers.teams]
type = "teams"
webhook_url = "{url}/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig={teams}"

[alerting.notifiers.gotify]
type = "gotify"
url = "{url}"
token = "{gotify}"

[alerting.notifiers.po]
type = "pushover"
url = "{url}"
token = "{po_token}"
user_key = "{po_user}"

[alerting.notifiers.mx]
type = "matrix"
homeserver = "{url}"
room_id = "!ops:example.org"
access_token = "{mx}"

[alerting.notifiers.am]
type = "alertmanager"
url = "{url}"
token = "{am}"

[alerting.policies.default]
notifiers = ["dc", "tg", "gc", "push", "mm", "teams", "gotify", "po", "mx", "am", "vo", "sms", "tpl"]
levels = [{{ targets = ["oncall:primary"] }}]

[[alerting.rules]]
name = "down"
when = "availability < 100"
"#,
            url = providers.url()
        );
    let cfg = write_config(dir.path(), &text);
    let log = dir.path().join("run.log");
    let child = spawn_logged(&["run", "--config", cfg.to_str().unwrap()], &log, &[]);
    assert!(wait_for(Duration::from_secs(15), || http_request(page, "GET", "/healthz", &[], "").is_some()), "{}", log_of(&log));
    // (path prefix, channel kind); ntfy publishes to the server's root and the template goes to `/hook`: their
    // requests are those on exactly that path.
    let routes = [
        ("/api/webhooks/", "discord"),
        ("/bot", "telegram"),
        ("/v1/spaces/", "googlechat"),
        ("/", "ntfy"),
        ("/hooks/", "mattermost"),
        ("/workflows/", "teams"),
        ("/message", "gotify"),
        ("/1/messages.json", "pushover"),
        ("/_matrix/", "matrix"),
        ("/api/v2/alerts", "alertmanager"),
        ("/victorops/", "splunk_oncall"),
        ("/2010-04-01/", "twilio"),
        ("/hook", "template"),
    ];
    let on = |p: &Providers, route: &str| -> Vec<common::providers::Received> {
        p.received_on(route).into_iter().filter(|x| !matches!(route, "/" | "/hook") || x.path == route).collect()
    };
    // Alertmanager's alert is labels and annotations, Twilio's a form; every other channel shows the headline.
    let firing = |raw: &str, kind: &str| match kind {
        "alertmanager" => !raw.contains("endsAt"),
        "twilio" => raw.contains("%5BFIRING%5D%20api"),
        _ => raw.contains("[FIRING] api"),
    };
    let resolved = |raw: &str, kind: &str| match kind {
        "alertmanager" => raw.contains("endsAt"),
        "twilio" => raw.contains("%5BRESOLVED%5D"),
        _ => raw.contains("[RESOLVED] "),
    };
    target.set(false);
    let all = |p: &Providers, f: &dyn Fn(&str, &str) -> bool| routes.iter().all(|(r, k)| on(p, r).iter().any(|x| f(&x.raw, k)));
    assert!(wait_for(Duration::from_secs(20), || all(&providers, &firing)), "{:?}\n{}", providers.received(), log_of(&log));
    // Each message has the acknowledge link signed for its own channel (Splunk On-Call acknowledges in its
    // own app; a text message links as Twilio's form encodes it).
    for (route, kind) in routes.iter().filter(|(_, k)| *k != "splunk_oncall") {
        let first = on(&providers, route).into_iter().find(|x| firing(&x.raw, kind)).unwrap();
        let link = format!("/ack?alert=down%2Fapi%2Fproduction&episode=1&by={kind}");
        let link = if *kind == "twilio" { watchpost_core::template::percent_encode(&link) } else { link };
        assert!(first.raw.contains(&link), "{kind}: {}", first.raw);
    }
    let sms = on(&providers, "/2010-04-01/").remove(0);
    assert_eq!(sms.body["To"], "+4915112345678");
    assert!(sms.path.ends_with("/Messages.json"), "{}", sms.path);
    let hook = on(&providers, "/hook").remove(0);
    assert_eq!((hook.body["severity"].as_str(), hook.body["action"].as_str()), (Some("critical"), Some("trigger")), "{}", hook.raw);
    assert_eq!(hook.headers.get("x-token").map(String::as_str), Some(tpl));
    let ntfy = on(&providers, "/").remove(0);
    assert_eq!(ntfy.headers.get("authorization").map(String::as_str), Some(&*format!("Bearer {nt}")));
    assert!(on(&providers, "/bot").iter().all(|x| x.path == format!("/bot{tg}/sendMessage")));
    assert!(on(&providers, "/_matrix/")
        .iter()
        .all(|x| x.path.starts_with("/_matrix/client/v3/rooms/%21ops%3Aexample.org/send/m.room.message/down%2Fapi")));
    target.set(true);
    assert!(wait_for(Duration::from_secs(20), || all(&providers, &resolved)), "{:?}\n{}", providers.received(), log_of(&log));
    let _ = terminate(child);
    assert_eq!(providers.violations(), Vec::<String>::new());
    let logged = log_of(&log);
    for secret in secrets {
        assert!(!logged.contains(secret), "{secret} in the log");
    }
}

/// Issue 21 through the binary: 30 endpoints in three components failing at once page three times (one
/// PagerDuty incident per component, `group_by = ["component"]`); `alerting test-route` says where an alert
/// goes; SIGKILL, a silence added by the CLI while alerting is down, restart: the silenced group's incident
/// resolves, the others page nobody again; the silence expired through the admin API: that group pages
/// again, once, as a new episode; `watchpost alerts` shows the groups and what holds alerts back.
#[test]
fn grouped_alerts_page_once_per_component_and_silences_hold_across_a_sigkill() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let (listen, page) = (free_port(), free_port());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut text = base(dir.path(), listen, page);
    for i in 0..30 {
        text += &format!("\n[[endpoints]]\nid = \"svc-{i:02}\"\ncomponent = \"c{}\"\nurl = \"http://127.0.0.1:{dead}/{i}\"\n", i % 3);
    }
    text += &format!(
        "\n[alerting]\nevaluation_interval = \"200ms\"\nretry_max_delay = \"2s\"\n{}\n\
         [alerting.route]\npolicy = \"default\"\ngroup_by = [\"component\"]\ngroup_wait = \"2s\"\ngroup_interval = \"1m\"\n\n\
         [[alerting.rules]]\nname = \"down\"\nwhen = \"availability < 100\"\n",
        providers.pagerduty_paging()
    );
    let cfg = write_config(dir.path(), &text);
    let c = cfg.to_str().unwrap();
    let routed =
        run(&["alerting", "test-route", "--config", c, "--labels", "rule=down,endpoint=svc-00,component=c0,environment=production"]);
    let shown = String::from_utf8_lossy(&routed.stdout);
    assert!(
        routed.status.success() && shown.contains("route route: policy default") && shown.contains("group group:route/component=c0"),
        "{shown}"
    );

    let log = dir.path().join("run.log");
    let child = spawn_logged(&["run", "--config", c], &log, &[]);
    assert!(wait_for(Duration::from_secs(30), || count(&providers, "trigger") >= 3), "{}", log_of(&log));
    std::thread::sleep(Duration::from_secs(3));
    let mut keys: Vec<String> = pd_actions(&providers).into_iter().map(|(_, k)| k).collect();
    keys.sort();
    assert_eq!(keys, ["group:route/component=c0", "group:route/component=c1", "group:route/component=c2"], "30 endpoints, 3 pages");
    kill9(child);

    let added =
        run(&["silence", "add", "--config", c, "--matcher", "component=c0", "--for", "2h", "--comment", "known, fixing", "--by", "alice"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let id = String::from_utf8_lossy(&added.stdout).trim().to_string();
    let routed =
        run(&["alerting", "test-route", "--config", c, "--labels", "rule=down,endpoint=svc-00,component=c0,environment=production"]);
    let shown = String::from_utf8_lossy(&routed.stdout);
    assert!(shown.contains(&format!("held now: silenced by {id}")), "{shown}");
    let listed = run(&["silence", "list", "--config", c]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&format!("{id}  active")), "{}", String::from_utf8_lossy(&listed.stdout));
    let bad = run(&["silence", "add", "--config", c, "--matcher", "component=~(", "--for", "1h", "--comment", "x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a regular expression"), "{}", String::from_utf8_lossy(&bad.stderr));

    let child = spawn_logged(&["run", "--config", c], &log, &[]);
    assert!(wait_for(Duration::from_secs(30), || count(&providers, "resolve") == 1), "{:?}\n{}", pd_actions(&providers), log_of(&log));
    std::thread::sleep(Duration::from_secs(3));
    let actions = pd_actions(&providers);
    assert_eq!(count(&providers, "trigger"), 3, "nothing paged again after the restart: {actions:?}");
    assert!(actions.contains(&("resolve".into(), "group:route/component=c0".into())), "{actions:?}");
    let alerts = run(&["alerts", "--config", c]);
    let out = String::from_utf8_lossy(&alerts.stdout);
    assert!(out.contains(&format!("held: silenced by {id}")) && out.contains("group:route/component=c1"), "{out}");

    let (status, body) = admin(page, "DELETE", &format!("/api/v1/admin/silences/{id}"), "");
    assert!(status.contains("200"), "{status} {body}");
    assert!(wait_for(Duration::from_secs(20), || count(&providers, "trigger") == 4), "{:?}\n{}", pd_actions(&providers), log_of(&log));
    // The admin API adds silences too, and refuses a bad matcher naming it.
    let (status, body) =
        admin(page, "POST", "/api/v1/admin/silences", r#"{"matchers": ["component=~("], "for": "1h", "comment": "x", "by": "bob"}"#);
    assert!(status.contains("422") && body.contains("matchers[0]"), "{status} {body}");
    let many: Vec<String> = (0..51).map(|i| format!("\"a{i}=b\"")).collect();
    let (status, body) = admin(
        page,
        "POST",
        "/api/v1/admin/silences",
        &format!(r#"{{"matchers": [{}], "for": "1h", "comment": "x", "by": "bob"}}"#, many.join(",")),
    );
    assert!(status.contains("422") && body.contains("1 to 50 matchers"), "{status} {body}");
    let (status, body) =
        admin(page, "POST", "/api/v1/admin/silences", r#"{"matchers": ["component=c9"], "for": "1h", "comment": "later", "by": "bob"}"#);
    assert!(status.contains("201"), "{status} {body}");
    let (_, body) = admin(page, "GET", "/api/v1/admin/silences", "");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let listed: Vec<&str> = listed["silences"].as_array().unwrap().iter().map(|s| s["matchers"][0].as_str().unwrap()).collect();
    assert_eq!(listed, ["component=c9"], "the expired one is no longer listed");
    std::thread::sleep(Duration::from_secs(3));
    let _ = terminate(child);
    let actions = pd_actions(&providers);
    assert_eq!(count(&providers, "trigger"), 4, "{actions:?}");
    assert_eq!(
        actions.last(),
        Some(&("trigger".into(), "group:route/component=c0".into())),
        "the silenced group pages again when the silence ends"
    );
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// Issue 21, two-way acknowledgement: an acknowledgement made in PagerDuty (a signed v3 webhook) stops the
/// escalation, also across a SIGKILL and restart; a forged one is refused; `watchpost unack` takes it back
/// and the escalation goes on; OpsGenie closing the alert while the checks still fail is recorded and shown,
/// and the alert keeps firing.
#[test]
fn acknowledgements_from_pagerduty_and_opsgenie_come_back_and_survive_a_sigkill() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let (listen, page) = (free_port(), free_port());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (pd_secret, og_token) = ("pd-webhook-s3cret", "og-callback-t0ken");
    let text = base(dir.path(), listen, page)
        + &endpoint("api", &format!("http://127.0.0.1:{dead}/"))
        + &format!(
            r#"
[oncall.schedules.primary]
members = ["alice", "bob"]
[oncall.people.alice]
opsgenie = "alice@example.com"
[oncall.people.bob]
opsgenie = "bob@example.com"

[alerting]
evaluation_interval = "200ms"
retry_max_delay = "2s"

[alerting.notifiers.pd]
type = "pagerduty"
url = "{url}"
routing_key = "R0123456789ABCDEF0123456789ABCDEF"
webhook_secret = "{pd_secret}"

[alerting.notifiers.og]
type = "opsgenie"
url = "{url}"
api_key = "eb243592-faa2-4ba2-a551-1afdf565c889"
callback_token = "{og_token}"

[alerting.policies.default]
notifiers = ["pd", "og"]
levels = [{{ targets = ["oncall:primary"] }}, {{ after = "4s", targets = ["next:primary"] }}]

[[alerting.rules]]
name = "down"
when = "availability < 100"
"#,
            url = providers.url()
        );
    let cfg = write_config(dir.path(), &text);
    let c = cfg.to_str().unwrap();
    let log = dir.path().join("run.log");
    let escalations = || outbox(&state_db(dir.path())).iter().filter(|d| d.0 == "escalate").count();
    let child = spawn_logged(&["run", "--config", c], &log, &[]);
    assert!(wait_for(Duration::from_secs(30), || count(&providers, "trigger") == 1), "{}", log_of(&log));

    let body = r#"{"event":{"id":"01","event_type":"incident.acknowledged","resource_type":"incident","agent":{"summary":"Alice Doe","type":"user_reference"},"data":{"id":"PT4KHLK","type":"incident","status":"acknowledged","incident_key":"down/api/production"}}}"#;
    let sig = format!("X-PagerDuty-Signature: v1={}", watchpost_core::sign::hmac_hex(pd_secret, body));
    let forged = http_request(
        page,
        "POST",
        "/api/v1/inbound/pagerduty",
        &["X-PagerDuty-Signature: v1=00ff", "Content-Type: application/json"],
        body,
    )
    .expect("answer");
    assert!(forged.0.contains("401"), "{forged:?}");
    let (status, answer) =
        http_request(page, "POST", "/api/v1/inbound/pagerduty", &[&sig, "Content-Type: application/json"], body).expect("answer");
    assert!(status.contains("200") && answer.contains("\"acknowledged\""), "{status} {answer}");
    kill9(child);
    let child = spawn_logged(&["run", "--config", c], &log, &[]);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(escalations(), 0, "acknowledged in PagerDuty: level 2 (due at 4 s) never pages, after a restart too");
    assert_eq!(count(&providers, "trigger"), 1);
    let alerts = String::from_utf8_lossy(&run(&["alerts", "--config", c]).stdout).to_string();
    assert!(alerts.contains("Alice Doe (PagerDuty)"), "{alerts}");

    let unack = run(&["unack", "--config", c, "down/api/production"]);
    assert!(unack.status.success(), "{}", String::from_utf8_lossy(&unack.stderr));
    assert!(wait_for(Duration::from_secs(10), || escalations() == 1), "{:?}\n{}", outbox(&state_db(dir.path())), log_of(&log));

    let close = r#"{"action":"Close","alert":{"alertId":"a1","alias":"down/api/production","username":"bob@example.com"},"source":{"name":"web","type":"web"}}"#;
    let refused = http_request(page, "POST", "/api/v1/inbound/opsgenie", &["Content-Type: application/json"], close).expect("answer");
    assert!(refused.0.contains("401"), "{refused:?}");
    let (status, answer) =
        http_request(page, "POST", &format!("/api/v1/inbound/opsgenie?token={og_token}"), &["Content-Type: application/json"], close)
            .expect("answer");
    assert!(status.contains("200") && answer.contains("still firing"), "{status} {answer}");
    assert!(wait_for(Duration::from_secs(5), || {
        String::from_utf8_lossy(&run(&["alerts", "--config", c]).stdout).contains("closed in OpsGenie by bob@example.com (OpsGenie)")
    }));
    let _ = terminate(child);
    let row = rusqlite::Connection::open(state_db(dir.path()))
        .unwrap()
        .query_row("SELECT state FROM alert WHERE key = 'down/api/production'", [], |r| r.get::<_, String>(0))
        .unwrap();
    assert_eq!(row, "firing", "a close at the provider is shown, not obeyed");
    assert!(!log_of(&log).contains(pd_secret) && !log_of(&log).contains(og_token), "no secret in the log");
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// Issue 21, alerts from other systems: Alertmanager's webhook and generic JSON events page through the
/// routes (two DiskFull alerts are one group, one page), a resend after a SIGKILL and restart pages nobody
/// again, resolving them resolves the incident; without the admin token nothing is accepted.
#[test]
fn alertmanager_webhooks_and_json_events_page_through_the_routes_once_across_a_sigkill() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let target = Toggle::start(true);
    let (listen, page) = (free_port(), free_port());
    let text = base(dir.path(), listen, page)
        + &endpoint("api", &target.url())
        + &format!(
            "\n[alerting]\nevaluation_interval = \"200ms\"\nretry_max_delay = \"2s\"\n{}\n\
             [alerting.route]\npolicy = \"default\"\ngroup_by = [\"rule\"]\ngroup_wait = \"1s\"\n",
            providers.pagerduty_paging()
        );
    let cfg = write_config(dir.path(), &text);
    let c = cfg.to_str().unwrap();
    let log = dir.path().join("run.log");
    let am = |status: &str| {
        format!(
            r#"{{"version":"4","status":"{status}","receiver":"watchpost","groupLabels":{{}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://am","alerts":[
            {{"status":"{status}","labels":{{"alertname":"DiskFull","instance":"db1"}},"annotations":{{"summary":"disk 95 % full"}},"startsAt":"2026-12-03T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"f1"}},
            {{"status":"{status}","labels":{{"alertname":"DiskFull","instance":"db2"}},"annotations":{{"summary":"disk 97 % full"}},"startsAt":"2026-12-03T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"f2"}}]}}"#
        )
    };
    let child = spawn_logged(&["run", "--config", c], &log, &[]);
    assert!(wait_for(Duration::from_secs(20), || http_get(page, "/healthz").is_some_and(|(s, _)| s.contains("200"))), "{}", log_of(&log));
    let anonymous =
        http_request(page, "POST", "/api/v1/alerts/alertmanager", &["Content-Type: application/json"], &am("firing")).expect("answer");
    assert!(anonymous.0.contains("401"), "{anonymous:?}");
    let (status, body) = admin(page, "POST", "/api/v1/alerts/alertmanager", &am("firing"));
    assert!(status.contains("200") && body.contains("\"changed\":2"), "{status} {body}");
    assert!(wait_for(Duration::from_secs(20), || count(&providers, "trigger") == 1), "{:?}\n{}", pd_actions(&providers), log_of(&log));
    assert_eq!(pd_actions(&providers)[0].1, "group:route/rule=DiskFull", "two alerts, one group");
    kill9(child);

    let child = spawn_logged(&["run", "--config", c], &log, &[]);
    assert!(wait_for(Duration::from_secs(20), || http_get(page, "/healthz").is_some_and(|(s, _)| s.contains("200"))));
    let (status, body) = admin(page, "POST", "/api/v1/alerts/alertmanager", &am("firing"));
    assert!(status.contains("200") && body.contains("\"changed\":0"), "a resend changes nothing: {status} {body}");
    let (status, body) = admin(
        page,
        "POST",
        "/api/v1/alerts/events",
        r#"{"key": "backup/db1", "status": "firing", "summary": "nightly backup failed", "severity": "error", "source": "cron"}"#,
    );
    assert!(status.contains("200"), "{status} {body}");
    let (status, body) = admin(page, "POST", "/api/v1/alerts/events", r#"{"key": "x", "status": "maybe"}"#);
    assert!(status.contains("422") && body.contains("status"), "{status} {body}");
    assert!(wait_for(Duration::from_secs(20), || count(&providers, "trigger") == 2), "{:?}\n{}", pd_actions(&providers), log_of(&log));
    assert_eq!(pd_actions(&providers)[1].1, "group:route/rule=backup/db1");
    let (status, _) = admin(page, "POST", "/api/v1/alerts/alertmanager", &am("resolved"));
    assert!(status.contains("200"));
    assert!(wait_for(Duration::from_secs(20), || count(&providers, "resolve") == 1), "{:?}\n{}", pd_actions(&providers), log_of(&log));
    std::thread::sleep(Duration::from_secs(2));
    let _ = terminate(child);
    assert_eq!(count(&providers, "trigger"), 2, "{:?}", pd_actions(&providers));
    assert_eq!(providers.violations(), Vec::<String>::new());
}

/// Issue 21, dependencies and inhibition through the binary: the database and the API that depends on it
/// fail together; only the database pages (its own `flaky` alert inhibited by `down`), across a SIGKILL
/// and restart too, and `watchpost alerts` says what the API waits on. The database recovers with the API
/// still down: the API pages then, saying what held it (the database's `flaky` warning, no longer
/// inhibited, pages too: a warning does not keep dependants waiting).
#[test]
fn a_dependency_pages_alone_its_dependants_wait_and_page_when_it_recovers() {
    let providers = Providers::start();
    let dir = tempfile::tempdir().unwrap();
    let db = Toggle::start(false);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (listen, page) = (free_port(), free_port());
    let text = base(dir.path(), listen, page)
        + &format!("\n[[endpoints]]\nid = \"db\"\ncomponent = \"data\"\nurl = \"{}\"\n", db.url())
        + &format!("\n[[endpoints]]\nid = \"api\"\ndepends_on = [\"data\"]\nurl = \"http://127.0.0.1:{dead}/\"\n")
        + &format!(
            "\n[alerting]\nevaluation_interval = \"200ms\"\nretry_max_delay = \"2s\"\n{}\n\
             [[alerting.inhibit]]\nsource = [\"rule=down\"]\ntarget = [\"rule=flaky\"]\nequal = [\"endpoint\", \"environment\"]\n\n\
             [[alerting.rules]]\nname = \"down\"\nwhen = \"availability < 100\"\n\n\
             [[alerting.rules]]\nname = \"flaky\"\nwhen = \"availability < 99\"\nwindow = \"1m\"\nseverity = \"warning\"\n",
            providers.pagerduty_paging()
        );
    let cfg = write_config(dir.path(), &text);
    let c = cfg.to_str().unwrap();
    let log = dir.path().join("run.log");
    let keys = || {
        let mut k: Vec<String> = pd_actions(&providers).into_iter().filter(|(a, _)| a == "trigger").map(|(_, k)| k).collect();
        k.sort();
        k
    };
    let child = spawn_logged(&["run", "--config", c], &log, &[]);
    assert!(wait_for(Duration::from_secs(30), || !keys().is_empty()), "{}", log_of(&log));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(keys(), ["down/db/production"], "only the dependency pages; its flaky alert is inhibited");
    kill9(child);
    let child = spawn_logged(&["run", "--config", c], &log, &[]);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(keys(), ["down/db/production"], "nothing more after a restart");
    let alerts = String::from_utf8_lossy(&run(&["alerts", "--config", c]).stdout).to_string();
    assert!(alerts.contains("[held: waits on data ("), "{alerts}");
    assert!(alerts.contains("held: inhibited by down/db/production"), "{alerts}");

    db.set(true);
    assert!(
        wait_for(Duration::from_secs(30), || keys().contains(&"down/api/production".to_string())),
        "{:?}\n{}",
        pd_actions(&providers),
        log_of(&log)
    );
    let _ = terminate(child);
    assert!(count(&providers, "resolve") >= 1, "the database's alert resolved: {:?}", pd_actions(&providers));
    assert!(!keys().iter().any(|k| k.starts_with("flaky/api")), "the API's flaky alert stays inhibited by its down alert: {:?}", keys());
    let api = providers.received_on("/v2/enqueue").into_iter().find(|r| r.body["dedup_key"] == "down/api/production").unwrap();
    let shown = api.body["payload"]["custom_details"].to_string();
    assert!(shown.contains("held back until now (waits on data"), "the page says what held it: {shown}");
    assert_eq!(providers.violations(), Vec::<String>::new());
}
