//! The domain probe against a local RDAP service that answers as registries do (RFC 9083 domain objects,
//! error objects, redirects) and publishes an RFC 9224 bootstrap registry naming itself for `.test`.

mod common;

use common::{attempt, python_server, Served};
use std::sync::Arc;
use watchpost_agent::probe::{self, run_attempt, Shared};
use watchpost_core::config::{Config, Format};
use watchpost_core::model::ErrorClass;

/// Domain objects expiring `days` from now (negative: already expired), the way registries write them.
const RDAP: &str = r#"
import http.server, json, sys, datetime
DAYS = {"example.test": 400, "soon.test": 10, "shop.example.co.test": 90}
fetches = {"bootstrap": 0}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, doc, extra=()):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/rdap+json")
        for k, v in extra: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        base = "http://127.0.0.1:%d" % self.server.server_port
        if self.path == "/bootstrap/dns.json":
            fetches["bootstrap"] += 1
            return self.send(200, {"version": "1.0", "publication": "2026-12-01T00:00:00Z",
                "description": "RDAP bootstrap file for Domain Name System registrations",
                "services": [[["test", "co.test"], [base + "/rdap/", "ftp://ignored/"]]]})
        if self.path == "/stats":
            return self.send(200, fetches)
        if self.path == "/rdap/domain/moved.test":
            return self.send(301, {}, [("Location", base + "/rdap/domain/example.test")])
        name = self.path.rsplit("/", 1)[-1]
        if not self.path.startswith("/rdap/domain/") or self.headers.get("Accept", "").find("application/rdap+json") < 0:
            return self.send(400, {"errorCode": 400, "title": "bad request"})
        if name == "noexp.test":
            return self.send(200, {"rdapConformance": ["rdap_level_0"], "objectClassName": "domain", "ldhName": name,
                "events": [{"eventAction": "registration", "eventDate": "2001-05-01T00:00:00Z"}]})
        if name not in DAYS:
            return self.send(404, {"rdapConformance": ["rdap_level_0"], "errorCode": 404, "title": "Not Found",
                "description": ["The domain is not registered."]})
        exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=DAYS[name])
        self.send(200, {"rdapConformance": ["rdap_level_0", "icann_rdap_response_profile_0"],
            "objectClassName": "domain", "handle": "D1-TEST", "ldhName": name.upper(), "status": ["active"],
            "events": [{"eventAction": "registration", "eventDate": "2001-05-01T00:00:00Z"},
                       {"eventAction": "expiration", "eventDate": exp.strftime("%Y-%m-%dT%H:%M:%SZ")},
                       {"eventAction": "last update of RDAP database", "eventDate": "2026-12-01T00:00:00Z"}],
            "links": [{"value": base + self.path, "rel": "self", "href": base + self.path, "type": "application/rdap+json"}]})
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_port, flush=True)
s.serve_forever()
"#;

fn rdap() -> Served {
    python_server(RDAP, "install python3")
}

#[tokio::test]
async fn days_left_from_the_registry_named_directly() {
    let s = rdap();
    let server = format!("rdap_server = \"http://127.0.0.1:{}/rdap\"", s.port);
    let a =
        attempt(&format!("type = \"domain\"\ndomain = \"example.test\"\n{server}\nassert = [{{ domain_days_left_above = 30 }}]\n")).await;
    assert!(a.ok, "{a:?}");
    let days = a.domain_days_left.unwrap();
    assert!((399.0..=400.1).contains(&days), "{days}");

    let a = attempt(&format!("type = \"domain\"\ndomain = \"soon.test\"\n{server}\nassert = [{{ domain_days_left_above = 30 }}]\n")).await;
    assert!(!a.ok);
    assert_eq!(a.error, Some(ErrorClass::Assertion));
    assert!(a.detail.contains("expected more than 30 days left, got 10.0") || a.detail.contains("got 9.9"), "{}", a.detail);

    let a = attempt(&format!("type = \"domain\"\ndomain = \"gone.test\"\n{server}\n")).await;
    assert_eq!((a.error, a.status_code), (Some(ErrorClass::Status), Some(404)), "{a:?}");
    assert!(a.detail.contains("does not know gone.test"), "{}", a.detail);

    let a = attempt(&format!("type = \"domain\"\ndomain = \"noexp.test\"\n{server}\n")).await;
    assert_eq!(a.error, Some(ErrorClass::Protocol), "{a:?}");
    assert!(a.detail.contains("no expiration event"), "{}", a.detail);

    // A redirect is followed (RFC 7480 §5.2).
    let a = attempt(&format!("type = \"domain\"\ndomain = \"moved.test\"\n{server}\n")).await;
    assert!(a.ok && a.domain_days_left.is_some_and(|d| d > 399.0), "{a:?}");

    // Nobody listening.
    let a =
        attempt(&format!("type = \"domain\"\ndomain = \"example.test\"\nrdap_server = \"http://127.0.0.1:{}/\"\n", common::free_port()))
            .await;
    assert_eq!(a.error, Some(ErrorClass::ConnectRefused), "{a:?}");
}

/// The service is found in the bootstrap registry by the longest suffix, the registry is fetched once for
/// every domain endpoint of the agent, and a TLD it does not list is a clear error.
#[tokio::test]
async fn the_bootstrap_registry_finds_the_service_and_is_fetched_once() {
    let s = rdap();
    let text = format!(
        "[[endpoints]]\nid = \"a\"\ntype = \"domain\"\ndomain = \"example.test\"\nrdap_bootstrap = \"http://127.0.0.1:{p}/bootstrap/dns.json\"\n\
         [[endpoints]]\nid = \"b\"\ntype = \"domain\"\ndomain = \"shop.example.co.test\"\nrdap_bootstrap = \"http://127.0.0.1:{p}/bootstrap/dns.json\"\n\
         [[endpoints]]\nid = \"c\"\ntype = \"domain\"\ndomain = \"example.org\"\nrdap_bootstrap = \"http://127.0.0.1:{p}/bootstrap/dns.json\"\n",
        p = s.port
    );
    let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
    assert_eq!(cfg.endpoints[0].interval, std::time::Duration::from_secs(86_400), "once a day by default");
    let shared: Arc<Shared> = Shared::new();
    let mut results = Vec::new();
    for e in cfg.endpoints.iter().chain(cfg.endpoints.iter()) {
        let p = probe::build(e, &shared, &probe::push::Registry::default());
        results.push(run_attempt(&*p, &e.assertions, e.timeout).await);
    }
    assert!(results[0].ok && results[1].ok, "{results:?}");
    assert!((89.0..=90.1).contains(&results[1].domain_days_left.unwrap()));
    assert_eq!(results[2].error, Some(ErrorClass::Internal));
    assert!(results[2].detail.contains("no RDAP service for example.org"), "{}", results[2].detail);
    assert!(get(s.port, "/stats").ends_with(r#"{"bootstrap": 1}"#), "six probes, one fetch of the registry");

    // A bootstrap file on disk works the same way.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dns.json");
    std::fs::write(&file, format!(r#"{{"version":"1.0","services":[[["test"],["http://127.0.0.1:{}/rdap/"]]]}}"#, s.port)).unwrap();
    let a = attempt(&format!("type = \"domain\"\ndomain = \"example.test\"\nrdap_bootstrap = {:?}\n", file.display())).await;
    assert!(a.ok, "{a:?}");
    let a = attempt("type = \"domain\"\ndomain = \"example.test\"\nrdap_bootstrap = \"/nonexistent/dns.json\"\n").await;
    assert_eq!(a.error, Some(ErrorClass::Internal));
    assert!(a.detail.contains("cannot read the bootstrap registry /nonexistent/dns.json"), "{}", a.detail);
}

/// A plain HTTP/1.0 GET on loopback: the whole answer, head and body.
fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}
