//! One test per class of configuration error: each message must name the file, the line and the key path.

use std::collections::HashMap;
use watchpost::settings::Settings;
use watchpost_core::config::{ConfigErrors, Format, ProbeConfig, StatusMatcher};

/// The whole configuration, every part's section, as the binary loads it.
fn load(text: &str) -> Result<Settings, ConfigErrors> {
    Settings::from_str_with_env("w.toml", Format::Toml, text, &HashMap::new())
}

/// Asserts exactly one error, at `line`, naming `key`, whose message contains `fragment`.
fn assert_one(text: &str, line: usize, key: &str, fragment: &str) {
    let errs = load(text).expect_err("configuration must be rejected");
    assert_eq!(errs.len(), 1, "expected one error, got:\n{errs}");
    let e = &errs.0[0];
    let shown = e.to_string();
    assert_eq!(e.line(), Some(line), "{shown}");
    assert_eq!(e.key, key, "{shown}");
    assert!(shown.starts_with(&format!("w.toml:{line}: {key}: ")), "{shown}");
    assert!(shown.contains(fragment), "{shown:?} should contain {fragment:?}");
}

const HEAD: &str = "[agent]\nregion = \"eu\"\n\n";

#[test]
fn unknown_key_in_an_endpoint() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\nintervall = \"5s\"\n");
    assert_one(&text, 7, "endpoints[0].intervall", "unknown key `intervall`");
}

#[test]
fn unknown_section() {
    assert_one("[agnet]\nregion = \"x\"\n", 1, "agnet", "unknown section");
}

#[test]
fn invalid_url() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"not a url\"\n");
    assert_one(&text, 6, "endpoints[0].url", "invalid URL");
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"ftp://host/\"\n");
    assert_one(&text, 6, "endpoints[0].url", "http:// or https://");
}

/// Issue 17, defect 9: a URL with port 99999 or 65536 passed `check-config` and was probed on port 80.
#[test]
fn regression_out_of_range_port_is_refused() {
    for port in ["99999", "65536", "0"] {
        let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x:{port}/\"\n");
        assert_one(&text, 6, "endpoints[0].url", &format!("port {port} is out of range"));
    }
    let text = format!("{HEAD}[store]\ntype = \"influxdb\"\ndatabase = \"w\"\nurl = \"http://influx:86086\"\n");
    assert_one(&text, 7, "store.url", "out of range");
}

/// Issue 19: `rollup_retention_policy` names a retention policy of the v1 API.
#[test]
fn rollup_retention_policy_is_a_v1_name() {
    let store = "[store]\ntype = \"influxdb\"\nurl = \"http://influx:8086\"\n";
    assert_one(
        &format!("{HEAD}{store}database = \"w\"\nrollup_retention_policy = \"\"\n"),
        8,
        "store.rollup_retention_policy",
        "must not be empty",
    );
    let v2 = "api = \"v2\"\norg = \"o\"\nbucket = \"b\"\ntoken = \"t\"\n";
    assert_one(
        &format!("{HEAD}{store}{v2}rollup_retention_policy = \"r\"\n"),
        11,
        "store.rollup_retention_policy",
        "does not apply to api = \"v2\"",
    );
    load(&format!("{HEAD}{store}database = \"w\"\nretention_policy = \"raw\"\nrollup_retention_policy = \"rollups\"\n"))
        .expect("both policies");
}

/// Issue 17, defect 8: an invalid URL was echoed with its userinfo, values from `${ENV}` included.
#[test]
fn regression_url_errors_never_show_credentials() {
    let env = HashMap::from([("PW".to_string(), "hunter2-from-env".to_string())]);
    for url in ["ftp://admin:${PW}@x/", "http://admin:${PW}@x:70000/?token=${PW}", "http://admin:${PW}@x y/"] {
        let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"{url}\"\n");
        let errs = Settings::from_str_with_env("w.toml", Format::Toml, &text, &env).expect_err("must be rejected");
        let shown = errs.to_string();
        assert!(shown.contains("endpoints[0].url") && shown.contains("invalid URL"), "{shown}");
        assert!(!shown.contains("hunter2") && !shown.contains("admin"), "{url}: {shown}");
    }
    // Nor does the Debug form of a valid configuration (it is what a panic or a `{:?}` log would show).
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"https://admin:${{PW}}@x/?token=${{PW}}\"\n");
    let cfg = Settings::from_str_with_env("w.toml", Format::Toml, &text, &env).unwrap();
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("hunter2") && debug.contains("https://x/?…"), "{debug}");
}

#[test]
fn zero_interval() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\ninterval = \"0s\"\n");
    assert_one(&text, 7, "endpoints[0].interval", "longer than zero");
}

#[test]
fn negative_interval() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\ninterval = \"-5s\"\n");
    assert_one(&text, 7, "endpoints[0].interval", "invalid duration");
}

#[test]
fn bare_number_duration_is_ambiguous() {
    let text = "[agent]\ninterval = 5\n";
    assert_one(text, 2, "agent.interval", "write a duration with a unit, like \"5s\"");
}

#[test]
fn timeout_longer_than_interval() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\ninterval = \"5s\"\ntimeout = \"10s\"\n");
    assert_one(&text, 8, "endpoints[0].timeout", "timeout (10s) is longer than the interval (5s)");
}

#[test]
fn inherited_timeout_points_at_the_agent_default() {
    let text = "[agent]\ntimeout = \"10s\"\n\n[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\n";
    assert_one(text, 2, "agent.timeout", "longer than the interval");
}

#[test]
fn duplicate_endpoint_ids() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\n\n[[endpoints]]\nid = \"a\"\nurl = \"http://y/\"\n");
    assert_one(&text, 9, "endpoints[1].id", "duplicate endpoint id `a` (first defined at line 5)");
}

#[test]
fn wrong_type() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\nfailure_threshold = \"three\"\n");
    assert_one(&text, 7, "endpoints[0].failure_threshold", "this key wants a whole number, not the string \"three\"");
}

/// Issue 18: serde stopped at the first type error of a table, hiding the others and every later check of
/// the entry (here its URL).
#[test]
fn regression_every_type_error_of_a_table_is_reported_with_the_later_checks() {
    let text = format!(
        "{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"nope\"\nfailure_threshold = \"three\"\ninterval = \"1.5s\"\ntimeout = 2\nbogus = true\n"
    );
    let errs = load(&text).unwrap_err();
    let got: Vec<(Option<usize>, &str)> = errs.iter().map(|e| (e.line(), e.key.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (Some(6), "endpoints[0].url"),
            (Some(7), "endpoints[0].failure_threshold"),
            (Some(8), "endpoints[0].interval"),
            (Some(9), "endpoints[0].timeout"),
            (Some(10), "endpoints[0].bogus"),
        ],
        "{errs}"
    );
    let shown = errs.to_string();
    assert!(shown.contains("decimals are not supported in durations: write \"1500ms\" instead of \"1.5s\""), "{shown}");
}

#[test]
fn tcp_address_and_misplaced_keys() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\ntype = \"tcp\"\naddress = \"nohost\"\n");
    assert_one(&text, 7, "endpoints[0].address", "expected host:port");
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\ntype = \"tcp\"\naddress = \"h:1\"\nurl = \"http://x/\"\n");
    assert_one(&text, 8, "endpoints[0].url", "unknown key `url`; type tcp takes `address`, `send`, `expect`, besides");
}

#[test]
fn bad_status_assertion() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\nassert = [{{ status = \"9xx\" }}]\n");
    assert_one(&text, 7, "endpoints[0].assert[0].status", "invalid status");
}

#[test]
fn length_and_json_schema_assertions_name_their_key() {
    let assert = |a: &str| format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\nassert = [{a}]\n");
    assert_one(
        &assert(r#"{ json = "$.items", op = "length", value = "about 3" }"#),
        7,
        "endpoints[0].assert[0].value",
        "a count (3) or a comparison",
    );
    assert_one(&assert(r#"{ json = "$.items", op = "length", value = -1 }"#), 7, "endpoints[0].assert[0].value", "a count (3)");
    assert_one(
        &assert(r#"{ json_schema_file = "no/such.json" }"#),
        7,
        "endpoints[0].assert[0].json_schema_file",
        "cannot read no/such.json",
    );
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "{ type: object").unwrap();
    let text = assert(&format!("{{ json_schema_file = {:?} }}", not_json.display()));
    assert_one(&text, 7, "endpoints[0].assert[0].json_schema_file", "is not JSON");
    let invalid = dir.path().join("invalid.json");
    std::fs::write(&invalid, r#"{"type": "objekt"}"#).unwrap();
    let text = assert(&format!("{{ json_schema_file = {:?} }}", invalid.display()));
    assert_one(&text, 7, "endpoints[0].assert[0].json_schema_file", "is not a valid JSON Schema");
    std::fs::write(&invalid, r#"{"type": "string", "format": "emial"}"#).unwrap();
    assert_one(&text, 7, "endpoints[0].assert[0].json_schema_file", "emial");
    let valid = dir.path().join("valid.json");
    std::fs::write(&valid, r#"{"type": "object"}"#).unwrap();
    let text = format!(
        "{HEAD}[[endpoints]]\nid = \"db\"\ntype = \"tcp\"\naddress = \"db:5432\"\nassert = [{{ json_schema_file = {:?} }}]\n",
        valid.display()
    );
    assert_one(&text, 8, "endpoints[0].assert[0]", "does not apply to a tcp endpoint");
}

#[test]
fn domain_endpoints_name_their_key() {
    let domain = |keys: &str| format!("{HEAD}[[endpoints]]\nid = \"d\"\ntype = \"domain\"\n{keys}");
    assert_one(&domain("rdap_server = \"http://r/\"\n"), 4, "endpoints[0]", "missing key `domain`");
    assert_one(&domain("domain = \"localhost\"\n"), 7, "endpoints[0].domain", "invalid domain \"localhost\"");
    assert_one(&domain("domain = \"a.test\"\nrdap_server = \"ftp://r/\"\n"), 8, "endpoints[0].rdap_server", "http");
    assert_one(
        &domain("domain = \"a.test\"\nrdap_server = \"http://r/\"\nrdap_bootstrap = \"http://b/dns.json\"\n"),
        9,
        "endpoints[0].rdap_bootstrap",
        "give one",
    );
    assert_one(
        &domain("domain = \"a.test\"\nassert = [{ status = 200 }]\n"),
        8,
        "endpoints[0].assert[0]",
        "does not apply to a domain endpoint",
    );
    let cfg = load(&domain("domain = \"Example.COM.\"\n")).unwrap();
    let e = &cfg.core.endpoints[0];
    assert_eq!((e.interval.as_secs(), e.timeout.as_secs(), e.retry_interval.as_secs()), (86_400, 10, 600));
    assert!(matches!(&e.probe, ProbeConfig::Domain(d) if d.domain == "example.com"
        && d.rdap == watchpost_core::config::RdapSource::Bootstrap("https://data.iana.org/rdap/dns.json".into())));
}

#[test]
fn unknown_store_type() {
    assert_one("[store]\ntype = \"mongodb\"\n", 2, "store.type", "`mongodb`: expected sqlite or influxdb");
}

#[test]
fn invalid_listen_address() {
    assert_one("[server]\nlisten = \"localhost\"\n", 2, "server.listen", "expected host:port");
}

#[test]
fn every_error_is_reported_at_once() {
    let text = format!(
        "{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"nope\"\n\n[[endpoints]]\nid = \"b c\"\nurl = \"http://x/\"\ninterval = \"0s\"\n\n[[endpoints]]\nurl = \"http://x/\"\nbogus = 1\n"
    );
    let errs = load(&text).unwrap_err();
    let lines: Vec<Option<usize>> = errs.iter().map(|e| e.line()).collect();
    assert_eq!(errs.len(), 5, "{errs}");
    assert_eq!(lines, vec![Some(6), Some(9), Some(11), Some(13), Some(15)], "{errs}");
}

#[test]
fn yaml_errors_name_key_and_line_like_toml() {
    let yaml = "agent:\n  region: eu\nendpoints:\n  - id: a\n    url: http://x/\n    interval: 5s\n    timeout: 10s\n  - id: b\n    url: http://y/\n    intervall: 5s\n";
    let errs = Settings::from_str_with_env("w.yaml", Format::Yaml, yaml, &HashMap::new()).unwrap_err();
    let shown = errs.to_string();
    assert_eq!(errs.len(), 2, "{shown}");
    assert!(shown.contains("w.yaml:7: endpoints[0].timeout: timeout (10s) is longer than the interval (5s)"), "{shown}");
    assert!(shown.contains("w.yaml:10: endpoints[1].intervall: unknown key `intervall`"), "{shown}");
    let ok = "endpoints:\n  - id: a\n    url: http://x/\n    assert:\n      - status: [200, 204]\n      - body_contains: ok\n";
    let cfg = Settings::from_str_with_env("w.yaml", Format::Yaml, ok, &HashMap::new()).unwrap();
    assert_eq!(cfg.core.endpoints[0].assertions.len(), 2);
}

#[test]
fn syntax_error_names_the_line() {
    let errs = load("[agent]\nregion = \"eu\nx = 1\n").unwrap_err();
    assert!(errs.to_string().starts_with("w.toml:2: TOML syntax error"), "{errs}");
}

#[test]
fn unreadable_file_and_unsupported_format() {
    let errs = Settings::load(std::path::Path::new("/nonexistent/w.toml")).unwrap_err();
    assert!(errs.to_string().contains("/nonexistent/w.toml: cannot read the configuration file"), "{errs}");
    let errs = Settings::load(std::path::Path::new("w.ini")).unwrap_err();
    assert!(errs.to_string().contains("must end in .toml, .yaml or .yml"), "{errs}");
}

#[test]
fn env_override_and_interpolation_reach_the_typed_config() {
    let env: HashMap<String, String> =
        [("WATCHPOST__AGENT__REGION", "us-east"), ("TOKEN", "s3cr3t")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let text =
        "[agent]\nregion = \"eu\"\n[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\nheaders = { Authorization = \"Bearer ${TOKEN}\" }\n";
    let cfg = Settings::from_str_with_env("w.toml", Format::Toml, text, &env).unwrap();
    assert_eq!(cfg.core.agent.region, "us-east");
    let ProbeConfig::Http(h) = &cfg.core.endpoints[0].probe else { panic!("http expected") };
    assert_eq!(h.headers["authorization"], "Bearer s3cr3t");
    // Header values are sensitive: Debug output of the whole configuration never shows the token.
    assert!(!format!("{cfg:?}").contains("s3cr3t"));
    // An override that does not parse is reported against the variable.
    let env: HashMap<String, String> =
        [("WATCHPOST__AGENT__FAILURE_THRESHOLD", "many")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let errs = Settings::from_str_with_env("w.toml", Format::Toml, "[agent]\n", &env).unwrap_err();
    assert!(
        errs.to_string().starts_with(
            "environment variable WATCHPOST__AGENT__FAILURE_THRESHOLD: agent.failure_threshold: this key wants a whole number"
        ),
        "{errs}"
    );
}

#[test]
fn defaults_fill_in_and_http_expects_2xx() {
    let cfg = load("[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\n").unwrap();
    let e = &cfg.core.endpoints[0];
    assert_eq!((e.interval.as_secs(), e.timeout.as_secs(), e.retry_interval.as_secs(), e.failure_threshold), (5, 2, 1, 3));
    assert!(matches!(e.assertions.as_slice(), [watchpost_core::config::Assertion::Status(StatusMatcher::Class(2))]), "{:?}", e.assertions);
    assert_eq!(cfg.core.agent.region, "local");
}

#[test]
fn every_example_configuration_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    // examples/*.toml and one level down (examples/compose/).
    let mut paths: Vec<std::path::PathBuf> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // Only Watchpost's own files there (a compose directory also holds prometheus.yml).
            paths.extend(
                std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "toml")),
            );
        } else {
            paths.push(path);
        }
    }
    for path in paths {
        if path.extension().is_some_and(|e| e == "toml" || e == "yaml" || e == "yml") {
            // Examples reference secrets as ${VAR}; give each one a value, as the deployment would (long
            // enough for the keys that require a length).
            let text = std::fs::read_to_string(&path).unwrap();
            let env: HashMap<String, String> = text
                .split("${")
                .skip(1)
                .filter_map(|r| r.split('}').next())
                .map(|v| {
                    let value = if v.ends_with("_URL") {
                        "https://hooks.example.com/services/T0/B0/x"
                    } else {
                        "example-secret-value-0123456789abcdef"
                    };
                    (v.to_string(), value.to_string())
                })
                .collect();
            Settings::load_with_env(&path, &env).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 3, "example configurations missing in {}: found {seen}", dir.display());
}

#[test]
fn regression_a_file_without_endpoints_has_no_negative_load() {
    let summary = load("[modules.tcp]\ntype = \"tcp\"\n").unwrap().summary();
    assert!(summary.contains("load:      0.0 probes/s"), "{summary}");
}

#[test]
fn the_summary_never_prints_credentials_or_query_tokens() {
    let cfg = load("[[endpoints]]\nid = \"a\"\nurl = \"https://user:pa55@api.example:8443/health?token=t0k\"\n").unwrap();
    let summary = cfg.summary();
    assert!(summary.contains("https://api.example:8443/health?…"), "{summary}");
    assert!(!summary.contains("pa55") && !summary.contains("t0k"), "{summary}");
}

/// A three-step check over two environments, as the README shows it; the tests below break one thing each.
const CHECK: &str = r#"[vars]
prefix = "wp"

[environments.staging]
base = "http://staging.example"
token = "s"

[environments.production]
base = "http://api.example"
token = "p"

[[checks]]
id = "stream"
environments = ["staging", "production"]

[[checks.steps]]
name = "create"
method = "POST"
url = "{{env.base}}/streams"
headers = { Authorization = "Bearer {{env.token}}" }
json = { name = "{{vars.prefix}}-{{uuid}}" }
extract = { id = { json = "$.id" } }
assert = [{ status = 201 }, { json = "$.playback_url", op = "matches", value = "^rtmp://" }]

[[checks.steps]]
name = "read"
url = "{{env.base}}/streams/{{vars.id}}"
assert = [{ json = "$.playback_url", op = "==", value = "{{steps.create.body.playback_url}}" }]

[[checks.steps]]
name = "delete"
method = "DELETE"
url = "{{env.base}}/streams/{{steps.create.body.id}}"
finally = true
"#;

#[test]
fn a_check_runs_once_per_environment_with_its_variables() {
    let cfg = load(CHECK).unwrap();
    let runs: Vec<(&str, &str)> = cfg.core.checks().map(|c| (c.id.as_str(), c.environment.as_str())).collect();
    assert_eq!(runs, vec![("stream", "staging"), ("stream", "production")]);
    let ProbeConfig::Steps(s) = &cfg.core.checks().next().unwrap().probe else { panic!("a steps probe") };
    assert_eq!(s.env.get("base").map(String::as_str), Some("http://staging.example"));
    assert_eq!(s.steps.len(), 3);
    assert!(s.steps[2].finally);
    assert_eq!(cfg.core.checks().next().unwrap().interval, std::time::Duration::from_secs(60), "checks default to once a minute");
}

/// Issue 17, defect 13: with an error in its only ordinary step, a check was also told "every step is
/// `finally`" (the broken step was left out before that check).
#[test]
fn regression_an_error_in_a_step_is_not_followed_by_every_step_is_finally() {
    let text = "[[checks]]\nid = \"c\"\n\n[[checks.steps]]\nname = \"create\"\nmethod = \"P OST\"\nurl = \"http://x/\"\n\n[[checks.steps]]\nname = \"delete\"\nurl = \"http://x/\"\nfinally = true\n";
    assert_one(text, 6, "checks[0].steps[0].method", "method");
    // The error itself is still reported when it is the real one.
    let only_finally = "[[checks]]\nid = \"c\"\n\n[[checks.steps]]\nname = \"delete\"\nurl = \"http://x/\"\nfinally = true\n";
    assert_one(only_finally, 1, "checks[0]", "every step is `finally`");
}

/// Replaces `from` in the check (which must occur) and asserts the one error that follows.
fn assert_check_error(from: &str, to: &str, line: usize, key: &str, fragment: &str) {
    assert!(CHECK.contains(from), "{from}");
    assert_one(&CHECK.replacen(from, to, 1), line, key, fragment);
}

#[test]
fn unknown_template_names_are_errors_at_check_config() {
    assert_check_error(
        "{{env.token}}",
        "{{env.tokn}}",
        20,
        "checks[0].steps[0].headers.Authorization",
        "unknown environment variable `tokn`",
    );
    assert_check_error("{{vars.prefix}}", "{{vars.prefx}}", 21, "checks[0].steps[0].json.name", "unknown variable `prefx`");
    assert_check_error("{{vars.id}}", "{{vars.ident}}", 27, "checks[0].steps[1].url", "unknown variable `ident`");
    assert_check_error(
        "{{steps.create.body.playback_url}}",
        "{{steps.delete.body.playback_url}}",
        28,
        "checks[0].steps[1].assert[0].value",
        "unknown step `delete`",
    );
    assert_check_error("{{uuid}}", "{{uuidv7}}", 21, "checks[0].steps[0].json.name", "unknown name `uuidv7`");
}

#[test]
fn step_conditions_retries_oauth2_and_request_values_name_their_key() {
    assert_check_error("finally = true", "finally = true\nrun_if = \"always\"", 35, "checks[0].steps[2].run_if", "is always the same");
    assert_check_error(
        "name = \"read\"\n",
        "name = \"read\"\nrun_if = \"{{vars.prefix}} == wp\"\nskip_if = \"{{vars.prefix}}\"\n",
        28,
        "checks[0].steps[1].skip_if",
        "not both",
    );
    assert_check_error(
        "name = \"read\"\n",
        "name = \"read\"\nrun_if = \"{{vars.prefx}} == wp\"\n",
        27,
        "checks[0].steps[1].run_if",
        "unknown variable `prefx`",
    );
    assert_check_error("name = \"read\"\n", "name = \"read\"\nretries = 30\n", 27, "checks[0].steps[1].retries", "31 attempts of the step");
    assert_check_error(
        "/streams/{{vars.id}}\"",
        "/streams/{{request.method}}\"",
        27,
        "checks[0].steps[1].url",
        "only known in a step's headers",
    );
    let read_url = "url = \"{{env.base}}/streams/{{vars.id}}\"";
    assert_check_error(
        read_url,
        "oauth2 = { token_url = \"{{env.base}}/token\", client_id = \"c\" }",
        27,
        "checks[0].steps[1].oauth2",
        "missing key `client_secret`",
    );
    assert_check_error(
        read_url,
        &format!("{read_url}\noauth2 = {{ token_url = \"{{{{env.base}}}}/token\", client_id = \"c\", client_secret = \"s\" }}"),
        27,
        "checks[0].steps[1].url",
        "an `oauth2` step makes its own request: remove `url`",
    );
    assert_check_error(
        read_url,
        "oauth2 = { token_url = \"{{env.base}}/token\", client_id = \"c\", client_secret = \"s\", client_auth = \"jwt\" }",
        27,
        "checks[0].steps[1].oauth2.client_auth",
        "expected \"basic\" or \"body\"",
    );
}

#[test]
fn an_environment_variable_must_exist_in_every_environment_of_the_check() {
    assert_check_error(
        "token = \"p\"\n",
        "tokn = \"p\"\n",
        20,
        "checks[0].steps[0].headers.Authorization",
        "unknown environment variable `token`",
    );
}

#[test]
fn check_errors_name_the_key() {
    assert_check_error(
        "\"staging\", \"production\"]",
        "\"staging\", \"prod\"]",
        14,
        "checks[0].environments[1]",
        "unknown environment `prod`",
    );
    assert_check_error("json = \"$.id\"", "json = \"$.id[\"", 22, "checks[0].steps[0].extract.id.json", "invalid JSON path");
    assert_check_error("op = \"matches\"", "op = \"resembles\"", 23, "checks[0].steps[0].assert[1].op", "unknown op");
    assert_check_error(
        "value = \"^rtmp://\"",
        "value = \"^(rtmp\"",
        23,
        "checks[0].steps[0].assert[1].value",
        "invalid regular expression",
    );
    assert_check_error("name = \"read\"", "name = \"create\"", 26, "checks[0].steps[1].name", "duplicate step name");
    assert_check_error(
        "{ status = 201 }",
        "{ status = 201, body_contains = \"x\" }",
        23,
        "checks[0].steps[0].assert[0]",
        "one assertion checks one thing",
    );
    assert_check_error(
        "finally = true",
        "finally = true\ntimeout = \"2m\"",
        35,
        "checks[0].steps[2].timeout",
        "longer than the check's interval",
    );
}

#[test]
fn push_endpoints_need_a_strong_token_and_a_period() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"ci\"\ntype = \"push\"\ntoken = \"0123456789abcdef\"\n");
    assert_one(&text, 4, "endpoints[0]", "missing key `expect_every`");
    let text = format!("{HEAD}[[endpoints]]\nid = \"ci\"\ntype = \"push\"\ntoken = \"short\"\nexpect_every = \"3m\"\n");
    assert_one(&text, 7, "endpoints[0].token", "at least 16 characters");
    let text =
        format!("{HEAD}[[endpoints]]\nid = \"ci\"\ntype = \"push\"\ntoken = \"0123456789abcdef\"\nexpect_every = \"3m\"\ngrace = \"5m\"\n");
    assert_one(&text, 9, "endpoints[0].grace", "shorter than expect_every");
    let text = format!(
        "{HEAD}[[endpoints]]\nid = \"ci\"\ntype = \"push\"\ntoken = \"0123456789abcdef\"\nexpect_every = \"3m\"\ninterval = \"1m\"\n"
    );
    assert_one(&text, 9, "endpoints[0].interval", "use `expect_every`");
    let ok = format!("{HEAD}[[endpoints]]\nid = \"ci\"\ntype = \"push\"\ntoken = \"0123456789abcdef\"\nexpect_every = \"3m\"\n");
    let cfg = load(&ok).unwrap();
    let e = &cfg.core.endpoints[0];
    assert_eq!((e.interval, e.retry_interval), (std::time::Duration::from_secs(180), std::time::Duration::from_secs(180)));
    assert!(!format!("{cfg:?}").contains("0123456789abcdef"), "the token never shows in Debug");
}

#[test]
fn endpoint_assertions_that_do_not_fit_the_probe() {
    let text = format!("{HEAD}[[endpoints]]\nid = \"db\"\ntype = \"tcp\"\naddress = \"db:5432\"\nassert = [{{ json = \"$.x\" }}]\n");
    assert_one(&text, 8, "endpoints[0].assert[0]", "does not apply to a tcp endpoint");
}

#[test]
fn maintenance_windows_are_checked_with_their_keys() {
    let ep = format!("{HEAD}[[endpoints]]\nid = \"api\"\nurl = \"http://x/\"\ncomponent = \"payments\"\n\n[[maintenance]]\n");
    // Line 9 is `[[maintenance]]`; its keys follow.
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "start = \"2026-12-01T02:00:00Z\"\nend = \"2026-12-01T01:00:00Z\"\nall = true\n",
            11,
            "maintenance[0].end",
            "must be after `start`",
        ),
        ("start = \"tomorrow\"\nend = \"2026-12-01T01:00:00Z\"\nall = true\n", 10, "maintenance[0].start", "invalid time"),
        ("cron = \"0 3 * *\"\nduration = \"1h\"\nall = true\n", 10, "maintenance[0].cron", "five fields"),
        (
            "cron = \"0 3 * * sun\"\nduration = \"1h\"\ntimezone = \"Mars/Olympus\"\nall = true\n",
            12,
            "maintenance[0].timezone",
            "unknown time zone",
        ),
        ("days = [\"sat\"]\nat = \"25:00\"\nduration = \"1h\"\nall = true\n", 11, "maintenance[0].at", "invalid time of day"),
        ("cron = \"0 3 * * sun\"\nall = true\n", 9, "maintenance[0]", "missing key `duration`"),
        (
            "cron = \"0 3 * * sun\"\nduration = \"1h\"\nendpoints = [\"apii\"]\n",
            12,
            "maintenance[0].endpoints[0]",
            "no endpoint or check has id `apii`",
        ),
        (
            "cron = \"0 3 * * sun\"\nduration = \"1h\"\ncomponents = [\"payment\"]\n",
            12,
            "maintenance[0].components[0]",
            "no endpoint or check belongs to component `payment`",
        ),
        ("cron = \"0 3 * * sun\"\nduration = \"1h\"\n", 9, "maintenance[0]", "name what the window silences"),
        (
            "start = \"2026-12-01T02:00:00Z\"\nend = \"2026-12-01T03:00:00Z\"\ncron = \"0 3 * * *\"\nall = true\n",
            9,
            "maintenance[0]",
            "not both",
        ),
    ];
    for (body, line, key, fragment) in cases {
        assert_one(&format!("{ep}{body}"), *line, key, fragment);
    }
    let ok = load(&format!(
        "{ep}days = [\"sat\", \"sun\"]\nat = \"03:30\"\nduration = \"90m\"\ntimezone = \"Europe/Berlin\"\ncomponents = [\"payments\"]\n"
    ))
    .unwrap();
    assert_eq!(ok.core.maintenance.len(), 1);
    assert_eq!(ok.core.maintenance[0].id, "maintenance-1");
}

#[test]
fn sla_reports_are_checked_with_their_keys() {
    let ep = format!("{HEAD}[[endpoints]]\nid = \"api\"\nurl = \"http://x/\"\ncomponent = \"payments\"\n\n[sla.acme]\n");
    // Line 9 is `[sla.acme]`; its keys follow.
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "components = [\"payment\"]\ntarget = 99.9\n",
            10,
            "sla.acme.components[0]",
            "no endpoint or check belongs to component `payment`; components: payments",
        ),
        ("components = [\"payments\"]\ntarget = 100.5\n", 11, "sla.acme.target", "not a percentage"),
        ("components = [\"payments\"]\ntarget = 99.9\ntimezone = \"Europe/Berlinn\"\n", 12, "sla.acme.timezone", "unknown time zone"),
        (
            "components = [\"payments\"]\ntarget = 99.9\nenvironments = [\"staging\"]\n",
            12,
            "sla.acme.environments[0]",
            "run in: production",
        ),
        ("components = [\"payments\"]\ntarget = 99.9\ntarget_pct = 3\n", 12, "sla.acme.target_pct", "unknown key"),
        ("components = [\"payments\"]\n", 9, "sla.acme", "missing key `target`"),
    ];
    for (body, line, key, fragment) in cases {
        assert_one(&format!("{ep}{body}"), *line, key, fragment);
    }
    let ok = load(&format!("{ep}components = [\"payments\"]\ntarget = 99.95\ntimezone = \"Europe/Berlin\"\n")).expect("valid");
    let sla = &ok.aggregator.sla["acme"];
    assert_eq!((sla.title.as_str(), sla.target, sla.tz_name.as_str()), ("acme", 99.95, "Europe/Berlin"));
    assert_eq!(sla.latency_objective, std::time::Duration::from_millis(300), "defaults to the aggregator's objective");
}

#[test]
fn status_page_errors_name_their_key_and_line() {
    let ep = "[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\ncomponent = \"api\"\n\n";
    assert_one(&format!("{ep}[statuspage]\ntimezone = \"Mars/Olympus\"\n"), 7, "statuspage.timezone", "unknown time zone");
    assert_one(&format!("{ep}[statuspage]\nadmin_token = \"short\"\n"), 7, "statuspage.admin_token", "shorter than 16");
    assert_one(&format!("{ep}[statuspage]\npartial_outage_weight = 1.5\n"), 7, "statuspage.partial_outage_weight", "between 0 and 1");
    assert_one(
        &format!("{ep}[[statuspage.components]]\nid = \"apii\"\n"),
        7,
        "statuspage.components[0].id",
        "no endpoint or check has component `apii`",
    );
    assert_one(
        &format!("{ep}[[statuspage.components]]\nid = \"api\"\ngroup = \"core\"\n"),
        8,
        "statuspage.components[0].group",
        "no group `core`",
    );
    assert_one(
        &format!("{ep}[statuspage.subscriptions]\nsecret = \"too-short\"\n"),
        7,
        "statuspage.subscriptions.secret",
        "shorter than 32",
    );
    let secret = "s".repeat(32);
    assert_one(
        &format!("{ep}[statuspage.subscriptions]\nsecret = \"{secret}\"\nsmtp_host = \"mail\"\nfrom = \"nobody\"\n"),
        9,
        "statuspage.subscriptions.from",
        "is not a sender address",
    );
    assert_one(
        &format!(
            "{ep}[statuspage.subscriptions]\nsecret = \"{secret}\"\nsmtp_host = \"mail\"\nsmtp_tls = \"ssl\"\nfrom = \"a@b.example\"\n"
        ),
        9,
        "statuspage.subscriptions.smtp_tls",
        "not one of starttls, tls, none",
    );
}

#[test]
fn oncall_errors_name_their_key_and_line() {
    let s = "[oncall.schedules.primary]\nmembers = [\"alice\", \"bob\"]\n";
    assert_one(&format!("{s}handoff = \"someday 09:00\"\n"), 3, "oncall.schedules.primary.handoff", "is not a weekday");
    assert_one(
        &format!("{s}rotation = \"hourly\"\nhandoff = \"09:00\"\n"),
        3,
        "oncall.schedules.primary.rotation",
        "not one of weekly, daily",
    );
    assert_one(&format!("{s}start = \"2026-11-03\"\n"), 3, "oncall.schedules.primary.start", "not the handoff day (Monday)");
    assert_one(&format!("{s}timezone = \"Europe/Berlim\"\n"), 3, "oncall.schedules.primary.timezone", "unknown time zone");
    assert_one(
        &format!("{s}overrides = [{{ start = \"2026-12-24T00:00:00Z\", end = \"2026-12-25T00:00:00Z\", member = \"zed\" }}]\n"),
        3,
        "oncall.schedules.primary.overrides[0].member",
        "`zed` is not a member",
    );
    assert_one("[oncall.schedules.empty]\nmembers = []\n", 2, "oncall.schedules.empty.members", "is empty");
}

#[test]
fn alerting_errors_name_their_key_and_line() {
    // Lines 1-13: an endpoint, a rota, a person, a PagerDuty notifier and a policy; rules follow.
    let base = "[[endpoints]]\nid = \"api\"\nurl = \"http://127.0.0.1:1/\"\n\
                [oncall.schedules.primary]\nmembers = [\"alice\"]\n\
                [oncall.people.alice]\nemail = \"alice@example.com\"\n\
                [alerting.notifiers.pd]\ntype = \"pagerduty\"\nrouting_key = \"R1\"\n\
                [alerting.policies.default]\nnotifiers = [\"pd\"]\nlevels = [{ targets = [\"oncall:primary\"] }]\n";
    let rule = |extra: &str| format!("{base}[[alerting.rules]]\nname = \"down\"\n{extra}");
    let ok = load(&rule("when = \"availability < 100\"\n")).expect("the base is valid");
    assert_eq!(ok.alerting.rules[0].policy.as_deref(), Some("default"), "the only policy is the default");
    assert!(ok.alerting.configured);
    assert_one(&rule("when = \"availability <> 100\"\n"), 16, "alerting.rules[0].when", "not a comparison");
    assert_one(&rule("when = \"uptime < 100\"\n"), 16, "alerting.rules[0].when", "`uptime` is not a metric");
    assert_one(&rule("when = \"latency_p95 > fast\"\n"), 16, "alerting.rules[0].when", "threshold \"fast\"");
    assert_one(&rule("when = \"availability < 100\"\nseverity = \"fatal\"\n"), 17, "alerting.rules[0].severity", "not one of critical");
    assert_one(&rule("when = \"availability < 100\"\npolicy = \"nope\"\n"), 17, "alerting.rules[0].policy", "no policy `nope`");
    assert_one(&rule("when = \"availability < 100\"\nendpoints = [\"web-*\"]\n"), 14, "alerting.rules[0]", "selects no endpoint");
    assert_one(&rule("when = \"availability < 100\"\nwindows = \"5m\"\n"), 17, "alerting.rules[0].windows", "unknown key");
    assert_one(
        &format!("{}\n[[alerting.rules]]\nname = \"down\"\nwhen = \"availability < 99\"\n", rule("when = \"availability < 100\"\n")),
        19,
        "alerting.rules[1].name",
        "name of an earlier rule",
    );
    let valid_rule = "[[alerting.rules]]\nname = \"down\"\nwhen = \"availability < 100\"\n";
    assert_one(
        &format!("{}{valid_rule}", base.replace("type = \"pagerduty\"", "type = \"pager\"")),
        9,
        "alerting.notifiers.pd.type",
        "`pager`: expected one of pagerduty, opsgenie, slack, email, webhook",
    );
    assert_one(
        &format!("{}{valid_rule}", base.replace("type = \"pagerduty\"", "type = \"slack\"\nwebhook_url = \"https://hooks.example/x\"")),
        11,
        "alerting.notifiers.pd.routing_key",
        "unknown key `routing_key`; type slack takes `webhook_url` or `webhook_url_file`",
    );
    assert_one(
        &format!("{}{valid_rule}", base.replace("\"oncall:primary\"", "\"person:zed\"")),
        13,
        "alerting.policies.default.levels[0].targets[0]",
        "no person `zed`",
    );
    assert_one(
        &format!("{}{valid_rule}", base.replace("\"oncall:primary\"", "\"oncall:secondary\"")),
        13,
        "alerting.policies.default.levels[0].targets[0]",
        "no schedule `secondary`",
    );
    let mail = base.replace("members = [\"alice\"]", "members = [\"alice\", \"bob\"]").replace(
        "[alerting.policies.default]\nnotifiers = [\"pd\"]",
        "[alerting.notifiers.mail]\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nfrom = \"a@example.com\"\n[alerting.policies.default]\nnotifiers = [\"pd\", \"mail\"]",
    );
    assert_one(&format!("{mail}{valid_rule}"), 16, "alerting.policies.default.notifiers", "`bob`, whom it can page, has no `email`");
    assert_one(&format!("[alerting]\nsecret = \"short\"\n{base}{valid_rule}"), 2, "alerting.secret", "shorter than 32 characters");
}

#[test]
fn publisher_and_region_errors_name_the_key() {
    let base =
        "[[statuspage.components]]\nid = \"payments\"\n\n[[endpoints]]\nid = \"api\"\nurl = \"http://x/\"\ncomponent = \"payments\"\n\n";
    let sp = "[publishers.hosted]\ntype = \"statuspage\"\npage_id = \"p1\"\napi_key = \"k\"\n";
    // Lines: 9 [publishers.hosted], 10 type, 11 page_id, 12 api_key, 13 the line under test.
    let ok = format!("{base}{sp}components = {{ payments = \"c1\" }}\n");
    let cfg = load(&ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.aggregator.publishers.len(), 1);
    assert_one(
        &format!("{base}{sp}components = {{ billing = \"c1\" }}\n"),
        13,
        "publishers.hosted.components.billing",
        "no component `billing`",
    );
    assert_one(
        &format!("{base}{sp}components = {{ payments = 7 }}\n"),
        13,
        "publishers.hosted.components.payments",
        "wants a string (in quotes), not the number `7`",
    );
    assert_one(
        &format!("{base}{sp}metrics = [{{ id = \"m\", endpoint = \"nope\" }}]\n"),
        13,
        "publishers.hosted.metrics[0].endpoint",
        "no endpoint or check `nope`",
    );
    assert_one(
        &format!("{base}{sp}metrics = [{{ id = \"m\", endpoint = \"api\", value = \"p42\" }}]\n"),
        13,
        "publishers.hosted.metrics[0].value",
        "not one of availability",
    );
    assert_one(&format!("{base}{sp}"), 9, "publishers.hosted", "publishes nothing");
    assert_one(
        &format!(
            "{base}{}components = {{ payments = {{ component = \"c1\", container = \"k1\" }} }}\n",
            sp.replace("statuspage\"", "statusio\"\nstatuspage_id = \"s\"\napi_id = \"i\"")
        ),
        13,
        "publishers.hosted.page_id",
        "unknown key `page_id`; type statusio takes `statuspage_id`",
    );
    assert_one(&format!("{base}[regions]\ndown_quorum = 0\n"), 10, "regions.down_quorum", "at least 1");
    assert_one(&format!("{base}[aggregator]\nshard = \"3/2\"\n"), 10, "aggregator.shard", "is not K/N");
    assert_one(
        &format!("{base}[alerting]\nregions_down_quorum = 2\n"),
        10,
        "alerting.regions_down_quorum",
        "moved to `regions.down_quorum`",
    );
}

/// Issue 18: an empty file ran, probing nothing while looking healthy.
#[test]
fn an_empty_file_is_an_error() {
    for text in ["", "\n# only a comment\n"] {
        let errs = load(text).unwrap_err();
        assert!(errs.to_string().contains("the configuration is empty"), "{errs}");
    }
}

/// Issue 18: `[store]` without `type` means the embedded store, as the README says.
#[test]
fn a_store_without_type_is_sqlite() {
    let cfg = load("[store]\npath = \"/tmp/w/points.db\"\n\n[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\n").unwrap();
    let watchpost_core::config::StoreConfig::Sqlite(s) = &cfg.core.store else { panic!("sqlite expected") };
    assert_eq!(s.path, std::path::Path::new("/tmp/w/points.db"));
}

/// Issue 18: the status page and the server on one address passed `check-config`, then `run` failed to bind.
#[test]
fn two_parts_on_one_listen_address() {
    let text = "[server]\nlisten = \"127.0.0.1:9000\"\n\n[statuspage]\nlisten = \"127.0.0.1:9000\"\n";
    assert_one(text, 5, "statuspage.listen", "127.0.0.1:9000 is also `server.listen` (line 2)");
    // All addresses and one of them: the same port still clashes.
    let text = "[server]\nlisten = \"0.0.0.0:9000\"\n\n[statuspage]\nlisten = \"127.0.0.1:9000\"\n";
    assert_one(text, 5, "statuspage.listen", "also `server.listen`");
    // The server's default port.
    assert_one("[statuspage]\nlisten = \"127.0.0.1:9090\"\n", 2, "statuspage.listen", "(its default)");
    assert!(load("[server]\nlisten = \"127.0.0.1:9000\"\n\n[statuspage]\nlisten = \"127.0.0.2:9000\"\n").is_ok());
}

/// Issue 18: relative paths resolve against the configuration file's directory, not the working directory.
#[test]
fn relative_paths_resolve_against_the_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("conf/secrets")).unwrap();
    std::fs::write(dir.path().join("conf/secrets/token"), "t0k3n-long-enough-for-a-push\n").unwrap();
    let file = dir.path().join("conf/w.toml");
    std::fs::write(
        &file,
        "[store]\npath = \"data/points.db\"\n\n[state]\npath = \"state/alerts.db\"\n\n[agent.spool]\ndir = \"/abs/spool\"\n\n\
         [[endpoints]]\nid = \"hb\"\ntype = \"push\"\ntoken_file = \"secrets/token\"\nexpect_every = \"1m\"\n",
    )
    .unwrap();
    let cfg = Settings::load_with_env(&file, &HashMap::new()).unwrap();
    let conf = std::path::absolute(dir.path().join("conf")).unwrap();
    let watchpost_core::config::StoreConfig::Sqlite(s) = &cfg.core.store else { panic!("sqlite expected") };
    assert_eq!(s.path, conf.join("data/points.db"));
    assert_eq!(cfg.core.state.path, conf.join("state/alerts.db"));
    assert_eq!(cfg.core.agent.spool.dir, std::path::Path::new("/abs/spool"));
    let ProbeConfig::Push(p) = &cfg.core.endpoints[0].probe else { panic!("push expected") };
    assert_eq!(p.token.expose(), "t0k3n-long-enough-for-a-push");
}

/// Issue 18: a file over the documented size is refused before it is read, saying so.
#[test]
fn a_file_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.toml");
    // Sparse: the size is what is checked, nothing is written.
    std::fs::File::create(&file).unwrap().set_len(watchpost_core::config::MAX_FILE_BYTES + 1).unwrap();
    let errs = Settings::load_with_env(&file, &HashMap::new()).unwrap_err();
    assert!(errs.to_string().contains("more than the 64 MiB Watchpost reads"), "{errs}");
}

/// TOML integers beyond 64 bits are errors with their key and line, never a panic or a silent null.
#[test]
fn an_integer_out_of_range_names_its_key() {
    let errs = load("[agent]\nregion = \"eu\"\nconcurrency = 99999999999999999999\n").unwrap_err();
    let shown = errs.to_string();
    assert!(shown.contains("w.toml:3") && shown.contains("agent.concurrency") && shown.contains("out of range"), "{shown}");
}

/// Issue 18: a notifier, publisher or probe type is a table chosen by its `type`; an error inside it names
/// the key and its line like any other (serde's internally tagged enums lose the key path), a `type` that
/// nothing handles is an error at `type`, and a missing `type` says so.
#[test]
fn regression_errors_inside_a_typed_table_name_their_key_and_line() {
    let head = "[[endpoints]]\nid = \"api\"\nurl = \"http://127.0.0.1:1/\"\ncomponent = \"api\"\n";
    // Line 5 onwards: one notifier.
    let notifier = |body: &str| format!("{head}[alerting.notifiers.pd]\n{body}");
    assert_one(&notifier("type = \"pagerduty\"\nrouting_key = 5\n"), 7, "alerting.notifiers.pd.routing_key", "wants a string");
    assert_one(&notifier("type = \"pager\"\nrouting_key = \"R1\"\n"), 6, "alerting.notifiers.pd.type", "`pager`: expected one of");
    assert_one(&notifier("routing_key = \"R1\"\n"), 5, "alerting.notifiers.pd", "missing key `type`");
    // Every type error of the table at once, the later keys still checked.
    let errs = load(&notifier("type = \"opsgenie\"\napi_key = 5\nurl = 7\n")).expect_err("rejected");
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["alerting.notifiers.pd.api_key", "alerting.notifiers.pd.url"], "{errs}");
    // A publisher's components: the key inside the provider's map.
    let publisher = format!(
        "{head}[publishers.hosted]\ntype = \"statusio\"\nstatuspage_id = \"s\"\napi_id = \"i\"\napi_key = \"k\"\n\
         components = {{ api = {{ component = \"c\", container = 3 }} }}\n"
    );
    assert_one(&publisher, 10, "publishers.hosted.components.api.container", "wants a string");
    // A probe's key, and one that belongs to another probe type.
    let probe = |body: &str| format!("[[endpoints]]\nid = \"db\"\n{body}");
    assert_one(&probe("type = \"tcp\"\naddress = \"db:5432\"\nsend = 5\n"), 5, "endpoints[0].send", "wants a string");
    assert_one(
        &probe("type = \"ftp\"\n"),
        3,
        "endpoints[0].type",
        "`ftp`: expected one of http, tcp, dns, tls, icmp, websocket, grpc, domain, push",
    );
}

#[test]
fn dns_endpoints_name_the_key_and_line_of_each_mistake() {
    let dns = format!("{HEAD}[[endpoints]]\nid = \"ns\"\ntype = \"dns\"\n");
    // Line 7 is the first key after `type`.
    let cases: &[(&str, usize, &str, &str)] = &[
        ("record_type = \"A\"\n", 4, "endpoints[0]", "missing key `query_name`"),
        ("query_name = \"a..b\"\n", 7, "endpoints[0].query_name", "label \"\" must be 1 to 63 characters"),
        ("query_name = \"example.com\"\nrecord_type = \"AXFR\"\n", 8, "endpoints[0].record_type", "expected one of A, AAAA, CNAME, MX"),
        ("query_name = \"example.com\"\nserver = \"10.0.0.2:0\"\n", 8, "endpoints[0].server", "invalid server"),
        ("query_name = \"example.com\"\ntransport = \"doh\"\n", 8, "endpoints[0].transport", "expected \"udp\" or \"tcp\""),
        ("query_name = \"example.com\"\nassert = [{ rcode = \"NOPE\" }]\n", 8, "endpoints[0].assert[0].rcode", "unknown response code"),
        (
            "query_name = \"example.com\"\nassert = [{ answer_count = 1, op = \"contains\" }]\n",
            8,
            "endpoints[0].assert[0].op",
            "unknown op",
        ),
        ("query_name = \"example.com\"\nassert = [{ status = 200 }]\n", 8, "endpoints[0].assert[0]", "does not apply to a dns endpoint"),
        (
            "query_name = \"example.com\"\nurl = \"http://x/\"\n",
            8,
            "endpoints[0].url",
            "type dns takes `query_name`, `record_type`, `server`",
        ),
    ];
    for (keys, line, key, fragment) in cases {
        assert_one(&format!("{dns}{keys}"), *line, key, fragment);
    }
    // DNS assertions belong to dns endpoints only.
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\nassert = [{{ rcode = \"NOERROR\" }}]\n");
    assert_one(&text, 7, "endpoints[0].assert[0]", "does not apply to an http endpoint");
    // A dns endpoint expects NOERROR unless it says otherwise.
    let cfg = load(&format!("{dns}query_name = \"example.com\"\n")).unwrap();
    let e = &cfg.core.endpoints[0];
    assert!(matches!(&e.probe, ProbeConfig::Dns(d) if d.name == "example.com." && d.server.is_none()));
    assert_eq!(e.assertions.iter().map(|a| a.describe()).collect::<Vec<_>>(), ["rcode NOERROR"]);
}

#[test]
fn tls_endpoints_and_tls_files_name_the_key_and_line_of_each_mistake() {
    let tls = format!("{HEAD}[[endpoints]]\nid = \"mx\"\ntype = \"tls\"\n");
    let cases: &[(&str, usize, &str, &str)] = &[
        ("starttls = \"smtp\"\n", 4, "endpoints[0]", "missing key `address`"),
        ("address = \"mx:25\"\nstarttls = \"xmpp\"\n", 8, "endpoints[0].starttls", "expected \"smtp\", \"imap\", \"pop3\" or \"ldap\""),
        ("address = \"mx:25\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n", 8, "endpoints[0].tls_ca_file", "cannot read /nonexistent/ca.pem"),
        ("address = \"mx:25\"\ntls_cert_file = \"c.pem\"\n", 8, "endpoints[0].tls_cert_file", "needs `tls_key_file`"),
        (
            "address = \"mx:25\"\nassert = [{ tls_version_at_least = \"1.1\" }]\n",
            8,
            "endpoints[0].assert[0].tls_version_at_least",
            "expected \"1.2\" or \"1.3\"",
        ),
        ("address = \"mx:25\"\nassert = [{ status = 200 }]\n", 8, "endpoints[0].assert[0]", "does not apply to a tls endpoint"),
    ];
    for (keys, line, key, fragment) in cases {
        assert_one(&format!("{tls}{keys}"), *line, key, fragment);
    }
    // A file that is not PEM, for an http endpoint too; the key file's content is never shown.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "secret-looking junk\n").unwrap();
    let junk = junk.to_str().unwrap();
    let http = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"https://x/\"\n");
    assert_one(&format!("{http}tls_ca_file = \"{junk}\"\n"), 7, "endpoints[0].tls_ca_file", "holds no PEM certificate");
    let errs = load(&format!("{http}tls_cert_file = \"{junk}\"\ntls_key_file = \"{junk}\"\n")).unwrap_err().to_string();
    assert!(errs.contains("endpoints[0].tls_key_file") && errs.contains("holds no PEM private key"), "{errs}");
    assert!(!errs.contains("secret-looking"), "{errs}");
    // Stapling is seen by tls endpoints only; DNS assertions do not apply to a check's HTTP steps.
    assert_one(&format!("{http}assert = [{{ ocsp_stapled = true }}]\n"), 7, "endpoints[0].assert[0]", "does not apply to an http endpoint");
    let check = "[[checks]]\nid = \"c\"\n[[checks.steps]]\nname = \"s\"\nurl = \"http://x/\"\nassert = [{ rcode = \"NOERROR\" }]\n";
    let errs = load(check).unwrap_err().to_string();
    assert!(errs.contains("checks[0].steps[0].assert[0]") && errs.contains("does not apply to a step"), "{errs}");
}

#[test]
fn icmp_endpoints_name_the_key_and_line_of_each_mistake() {
    let icmp = format!("{HEAD}[[endpoints]]\nid = \"gw\"\ntype = \"icmp\"\n");
    let cases: &[(&str, usize, &str, &str)] = &[
        ("count = 2\n", 4, "endpoints[0]", "missing key `host`"),
        ("host = \"gw\"\ncount = 0\n", 8, "endpoints[0].count", "between 1 and 100"),
        ("host = \"gw\"\ncount = 20\npacket_interval = \"200ms\"\n", 8, "endpoints[0].count", "not less than the timeout"),
        ("host = \"gw\"\nsize = 9000\n", 8, "endpoints[0].size", "at most 1452"),
        ("host = \"gw\"\nip_protocol = \"ipx\"\n", 8, "endpoints[0].ip_protocol", "\"ip4\", \"ip6\" or \"auto\""),
        ("host = \"gw\"\nassert = [{ packet_loss_below = 0 }]\n", 8, "endpoints[0].assert[0].packet_loss_below", "above 0"),
        ("host = \"gw\"\nassert = [{ status = 200 }]\n", 8, "endpoints[0].assert[0]", "does not apply to an icmp endpoint"),
    ];
    for (keys, line, key, fragment) in cases {
        assert_one(&format!("{icmp}{keys}"), *line, key, fragment);
    }
}

#[test]
fn gatus_conditions_that_are_not_understood_name_their_line() {
    let text = format!(
        "{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\nconditions = [\n  \"[STATUS] == 200\",\n  \"[IP] == 127.0.0.1\",\n]\n"
    );
    assert_one(&text, 9, "endpoints[0].conditions[1]", "[IP] is not supported here (supported: [STATUS]");
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\ntype = \"tcp\"\naddress = \"h:1\"\nconditions = [\"[STATUS] == 200\"]\n");
    assert_one(&text, 8, "endpoints[0].conditions[0]", "does not apply to a tcp endpoint");
    // Compiled beside `assert`, in order, with http's default status assertion only when neither sets one.
    let cfg = load(&format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\nassert = [{{ body_contains = \"ok\" }}]\nconditions = [\"[STATUS] == 201\", \"[BODY].id == 7\"]\n")).unwrap();
    let got: Vec<String> = cfg.core.endpoints[0].assertions.iter().map(|a| a.describe()).collect();
    assert_eq!(got, ["body contains \"ok\"", "status 201", "json $.id == 7"]);
}

#[test]
fn websocket_endpoints_and_modules_name_the_key_and_line_of_each_mistake() {
    let ws = format!("{HEAD}[[endpoints]]\nid = \"feed\"\ntype = \"websocket\"\n");
    assert_one(&format!("{ws}send = \"x\"\n"), 4, "endpoints[0]", "missing key `url`");
    assert_one(&format!("{ws}url = \"https://x/\"\n"), 7, "endpoints[0].url", "expected ws://host/path or wss://host/path");
    assert_one(
        &format!("{ws}url = \"ws://x/\"\nassert = [{{ status = 101 }}]\n"),
        8,
        "endpoints[0].assert[0]",
        "does not apply to a websocket endpoint",
    );
    // As modules, icmp and websocket take their target from the request too.
    let text = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\n[modules.ping]\ntype = \"icmp\"\nhost = \"x\"\n[modules.ws]\ntype = \"websocket\"\nsend = \"hi\"\n");
    assert_one(&text, 9, "modules.ping.host", "a module takes no `host`");
    let ok = load(&format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\n[modules.ws]\ntype = \"websocket\"\nsend = \"hi\"\n"))
        .unwrap();
    let aimed = ok.core.modules["ws"].probe.with_target("wss://feed.example.com/live").unwrap();
    assert!(matches!(aimed, ProbeConfig::Websocket(w) if w.url.host() == Some("feed.example.com") && w.send.as_deref() == Some("hi")));
}

#[test]
fn grpc_endpoints_name_the_key_and_line_of_each_mistake() {
    let g = format!("{HEAD}[[endpoints]]\nid = \"orders\"\ntype = \"grpc\"\n");
    assert_one(&format!("{g}service = \"x\"\n"), 4, "endpoints[0]", "missing key `address`");
    assert_one(&format!("{g}address = \"orders\"\n"), 7, "endpoints[0].address", "expected host:port");
    assert_one(&format!("{g}address = \"orders:50051\"\ntls_skip_verify = true\n"), 8, "endpoints[0].tls_skip_verify", "add `tls = true`");
    assert_one(
        &format!("{g}address = \"orders:50051\"\nassert = [{{ json = \"$.x\" }}]\n"),
        8,
        "endpoints[0].assert[0]",
        "does not apply to a grpc endpoint",
    );
}

#[test]
fn json_node_quantifiers_and_the_one_of_and_type_ops_are_checked() {
    let ep = format!("{HEAD}[[endpoints]]\nid = \"a\"\nurl = \"http://x/\"\n");
    assert_one(
        &format!("{ep}assert = [{{ json = \"$.x\", nodes = \"most\" }}]\n"),
        7,
        "endpoints[0].assert[0].nodes",
        "\"first\", \"all\" or \"any\"",
    );
    assert_one(
        &format!("{ep}assert = [{{ body_contains = \"x\", nodes = \"all\" }}]\n"),
        7,
        "endpoints[0].assert[0].nodes",
        "applies to `json` assertions",
    );
    assert_one(
        &format!("{ep}assert = [{{ json = \"$.x\", op = \"one_of\", value = 3 }}]\n"),
        7,
        "endpoints[0].assert[0]",
        "non-empty list",
    );
    assert_one(
        &format!("{ep}assert = [{{ json = \"$.x\", op = \"type\", value = \"int\" }}]\n"),
        7,
        "endpoints[0].assert[0]",
        "\"number\"",
    );
}

/// The chat and push notifiers: each mistake names its key and line, and never shows a credential.
#[test]
fn chat_and_push_notifier_errors_name_their_key_and_line() {
    // Lines 1-11: an endpoint, a rota, a policy through the notifier `n`, a rule. Line 12 is the notifier's
    // table, 13 its `type`, then its keys from line 14.
    let base = "[[endpoints]]\nid = \"api\"\nurl = \"http://127.0.0.1:1/\"\n[oncall.schedules.primary]\nmembers = [\"alice\"]\n\
                [alerting.policies.default]\nnotifiers = [\"n\"]\nlevels = [{ targets = [\"oncall:primary\"] }]\n\
                [[alerting.rules]]\nname = \"down\"\nwhen = \"availability < 100\"\n";
    let notifier = |kind: &str, keys: &str| format!("{base}[alerting.notifiers.n]\ntype = \"{kind}\"\n{keys}");
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        ("telegram", "bot_token = \"123:abc\"\nchat_id = \"general\"\n", 15, "chat_id", "not a chat id"),
        ("telegram", "bot_token = \"not-a-token-s3cr3t\"\nchat_id = -100\n", 14, "bot_token", "is not a bot token"),
        ("telegram", "bot_token = \"123:abc\"\n", 12, "", "missing key `chat_id`"),
        ("ntfy", "topic = \"has spaces\"\n", 14, "topic", "is not a topic name"),
        ("discord", "webhook_url = \"discord.com/api/webhooks/1/s3cr3t\"\n", 14, "webhook_url", "is not a valid URL"),
        ("discord", "webhook_url = \"https://discord.com/api/webhooks/1/x\"\nusername = \"\"\n", 15, "username", "1 to 80"),
        (
            "matrix",
            "homeserver = \"https://m.example.org\"\nroom_id = \"#ops:example.org\"\naccess_token = \"t\"\n",
            15,
            "room_id",
            "not a room id",
        ),
        ("pushover", "token = \"short-s3cr3t\"\nuser_key = \"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\"\n", 14, "token", "30 letters and digits"),
        ("gotify", "token = \"t\"\n", 12, "", "missing key `url`"),
        ("mattermost", "webhook_url = \"https://chat.example.com/hooks/k\"\nchannel = \"\"\n", 15, "channel", "is empty"),
        ("teams", "webhook_url = \"https://x.logic.azure.com/workflows/1\"\ncard = true\n", 15, "card", "unknown key"),
        ("alertmanager", "", 12, "", "missing key `url`"),
        (
            "discord",
            "webhook_url = \"https://discord.com/api/webhooks/1/x\"\nmessage = \"{{sumary}}\"\n",
            15,
            "message",
            "unknown field `sumary`",
        ),
        ("pagerduty", "routing_key = \"R0123456789\"\nmessage = \"{{summary}}\"\n", 15, "message", "builds its own payload"),
        ("splunk_oncall", "api_key = \"k\"\nrouting_key = \"a/b\"\n", 15, "routing_key", "no `/`"),
        ("template", "url = \"http://hooks.example.com/x\"\nbody = \"{{sumary}}\"\n", 15, "body", "unknown field `sumary`"),
        (
            "template",
            "url = \"http://hooks.example.com/x\"\nbody = \"{{summary}}\"\nmethod = \"GET\"\n",
            16,
            "method",
            "expected \"POST\" or \"PUT\"",
        ),
    ];
    for (kind, keys, line, key, fragment) in cases {
        let text = notifier(kind, keys);
        let shown = load(&text).expect_err("rejected").to_string();
        assert!(!shown.contains("s3cr3t"), "a credential in the error: {shown}");
        let key = if key.is_empty() { "alerting.notifiers.n".to_string() } else { format!("alerting.notifiers.n.{key}") };
        assert_one(&text, *line, &key, fragment);
    }
    // A policy's `repeat_after` must leave each pass room for its levels, and means nothing without `repeat`.
    let repeated = |keys: &str| {
        base.replace(
            "levels = [{ targets = [\"oncall:primary\"] }]\n",
            &format!("levels = [{{ targets = [\"oncall:primary\"] }}, {{ after = \"10m\", targets = [\"oncall:primary\"] }}]\n{keys}"),
        ) + "[alerting.notifiers.n]\ntype = \"ntfy\"\ntopic = \"t\"\n"
    };
    assert_one(
        &repeated("repeat = 1\nrepeat_after = \"5m\"\n"),
        10,
        "alerting.policies.default.repeat_after",
        "not later than the last level (10m)",
    );
    assert_one(&repeated("repeat_after = \"1h\"\n"), 9, "alerting.policies.default.repeat_after", "no effect without `repeat`");
    load(&repeated("repeat = 3\n")).expect("repeat with the default pass length");
    // Twilio reaches people by `phone`: with one for alice (lines 12-13), the table starts at line 14.
    let twilio =
        |keys: &str| format!("{base}[oncall.people.alice]\nphone = \"+4915112345678\"\n[alerting.notifiers.n]\ntype = \"twilio\"\n{keys}");
    let sid = "account_sid = \"AC0123456789abcdef0123456789abcdef\"\n";
    assert_one(
        &twilio("account_sid = \"AC1\"\nauth_token = \"s3cr3t\"\nfrom = \"+14155550100\"\n"),
        16,
        "alerting.notifiers.n.account_sid",
        "not an account SID",
    );
    assert_one(&twilio(&format!("{sid}auth_token = \"t\"\nfrom = \"04155550100\"\n")), 18, "alerting.notifiers.n.from", "E.164");
    assert_one(
        &twilio(&format!("{sid}auth_token = \"t\"\nfrom = \"+14155550100\"\nmode = \"fax\"\n")),
        19,
        "alerting.notifiers.n.mode",
        "\"sms\" or \"call\"",
    );
    load(&twilio(&format!("{sid}auth_token = \"t\"\nfrom = \"+14155550100\"\nmode = \"call\"\n"))).expect("a valid twilio notifier");
    // Without a phone for everyone it can page, a Twilio policy is refused at start, not at 2 am.
    let errs = load(&notifier("twilio", &format!("{sid}auth_token = \"t\"\nfrom = \"+14155550100\"\n"))).expect_err("rejected");
    assert!(errs.to_string().contains("has no `phone` in [oncall.people.alice]"), "{errs}");
    // Each type with its documented keys is accepted.
    for (kind, keys) in [
        ("discord", "webhook_url = \"https://discord.com/api/webhooks/1/x\"\n"),
        ("telegram", "bot_token = \"123:abc\"\nchat_id = \"@watchpost_ops\"\n"),
        ("googlechat", "webhook_url = \"https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t\"\n"),
        ("ntfy", "topic = \"acme-oncall\"\n"),
        ("mattermost", "webhook_url = \"https://chat.example.com/hooks/k\"\n"),
        ("teams", "webhook_url = \"https://x.logic.azure.com/workflows/1\"\n"),
        ("gotify", "url = \"https://gotify.example.com\"\ntoken = \"t\"\n"),
        ("pushover", "token = \"azGDORePK8gMaC0QOYAMyEEuzJnyUi\"\nuser_key = \"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\"\n"),
        ("matrix", "homeserver = \"https://m.example.org\"\nroom_id = \"!ops:example.org\"\naccess_token = \"t\"\n"),
        ("alertmanager", "url = \"http://alertmanager:9093\"\n"),
        ("splunk_oncall", "api_key = \"k\"\nrouting_key = \"ops\"\n"),
        ("template", "url = \"http://hooks.example.com/x\"\nbody = \"{{text | json}}\"\nheaders = { X-Severity = \"{{severity}}\" }\n"),
    ] {
        load(&notifier(kind, keys)).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

/// Issue 21: routes, inhibition rules, labels and dependencies are checked with the rest, each error at its
/// key and line.
#[test]
fn routing_inhibition_label_and_dependency_errors_name_their_key_and_line() {
    // Lines 1-3: an endpoint; 4-16: a rota, a notifier, a policy, a rule, the default route; 17 on: `extra`.
    let text = |endpoint_keys: &str, extra: &str| {
        format!(
            "[[endpoints]]\nid = \"api\"\nurl = \"http://127.0.0.1:1/\"\n{endpoint_keys}[oncall.schedules.primary]\nmembers = [\"alice\"]\n\
             [alerting.notifiers.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/hook\"\n\
             [alerting.policies.default]\nnotifiers = [\"hook\"]\nlevels = [{{ targets = [\"oncall:primary\"] }}]\n\
             [[alerting.rules]]\nname = \"down\"\nwhen = \"availability < 100\"\n[alerting.route]\npolicy = \"default\"\n{extra}"
        )
    };
    let ok =
        load(&text("labels = { team = \"payments\" }\n", "group_by = [\"component\"]\n[[alerting.routes]]\nmatch = [\"team=payments\"]\n"))
            .expect("valid");
    assert!(ok.alerting.route.is_some() && ok.alerting.rules[0].policy.is_none(), "a rule without a policy is routed");
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        ("", "[[alerting.routes]]\nmatch = [\"team~payments\"]\n", 18, "alerting.routes[0].match[0]", "expected"),
        ("", "[[alerting.routes]]\nmatch = [\"team=x\"]\npolicy = \"nope\"\n", 19, "alerting.routes[0].policy", "no policy `nope`"),
        ("", "group_by = [\"...\", \"component\"]\n", 17, "alerting.route.group_by", "goes alone"),
        ("", "repeat_interval = \"1m\"\n", 17, "alerting.route.repeat_interval", "shorter than `group_interval`"),
        ("", "[[alerting.routes]]\nmatch = [\"a=~(\"]\n", 18, "alerting.routes[0].match[0]", "not a regular expression"),
        (
            "",
            "[[alerting.inhibit]]\nsource = [\"rule=down\"]\ntarget = [\"rule=slow\"]\nequal = [\"9x\"]\n",
            20,
            "alerting.inhibit[0].equal[0]",
            "not a label name",
        ),
        ("labels = { severity = \"low\" }\n", "", 4, "endpoints[0].labels.severity", "set by Watchpost"),
        ("depends_on = [\"nothing\"]\n", "", 4, "endpoints[0].depends_on[0]", "no endpoint, check or component `nothing`"),
        ("depends_on = [\"api\"]\n", "", 4, "endpoints[0].depends_on[0]", "names itself"),
    ];
    for (endpoint_keys, extra, line, key, fragment) in cases {
        assert_one(&text(endpoint_keys, extra), *line, key, fragment);
    }
}
