//! Probes against hostile or broken targets: each yields a classified error, bounded memory and no panic.

use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use watchpost_agent::probe::{self, run_attempt, Attempt, Shared};
use watchpost_core::config::{Config, Format};
use watchpost_core::model::ErrorClass;

/// Serves every connection with `respond(request path)` after reading the request head.
async fn serve(respond: fn(&str) -> Vec<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&seen);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                for chunk in respond(&path) {
                    if chunk.is_empty() {
                        tokio::time::sleep(Duration::from_millis(200)).await; // an empty chunk is a pause
                    } else if s.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

async fn attempt(endpoint_toml: &str) -> Attempt {
    let text = format!("[[endpoints]]\nid = \"t\"\ntimeout = \"1s\"\n{endpoint_toml}");
    let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
    let shared: Arc<Shared> = Shared::new();
    let e = &cfg.endpoints[0];
    let p = probe::build(e, &shared, &probe::push::Registry::default());
    run_attempt(&*p, &e.assertions, e.timeout).await
}

fn ok_response(_: &str) -> Vec<Vec<u8>> {
    vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()]
}

#[tokio::test]
async fn a_healthy_target_is_ok_with_phase_timings() {
    let port = serve(ok_response).await;
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\nassert = [{{ body_contains = \"ok\" }}]\n")).await;
    assert!(a.ok, "{a:?}");
    assert_eq!(a.status_code, Some(200));
    assert!(a.timings.connect_ms.is_some() && a.timings.ttfb_ms.is_some());
    assert_eq!(a.timings.dns_ms, None, "an IP literal needs no DNS");
    assert!(a.latency_ms >= a.timings.ttfb_ms.unwrap());
}

#[tokio::test]
async fn localhost_resolves_through_the_hosts_file() {
    let port = serve(ok_response).await;
    let a = attempt(&format!("url = \"http://localhost:{port}/\"\n")).await;
    assert!(a.ok || a.error == Some(ErrorClass::ConnectRefused), "{a:?}"); // localhost may resolve to ::1 first
    assert!(a.timings.dns_ms.is_some(), "{a:?}");
}

#[tokio::test]
async fn a_closed_port_is_connect_refused() {
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port(); // dropped: closed
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::ConnectRefused), "{a:?}");
    let a = attempt(&format!("type = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::ConnectRefused), "{a:?}");
}

#[tokio::test]
async fn garbage_is_a_protocol_error() {
    let port = serve(|_: &str| vec![b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec()]).await;
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::Protocol), "{a:?}");
}

#[tokio::test]
async fn an_endless_body_stops_at_the_cap() {
    fn endless(_: &str) -> Vec<Vec<u8>> {
        let mut v = vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()];
        v.extend(std::iter::repeat_n(
            b"4000\r\n".iter().copied().chain(std::iter::repeat_n(b'x', 0x4000)).chain(*b"\r\n").collect::<Vec<u8>>(),
            200,
        ));
        v
    }
    let port = serve(endless).await;
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\nmax_body = \"64KiB\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::BodyTooLarge), "{a:?}");
    assert_eq!(a.status_code, Some(200));
}

#[tokio::test]
async fn compressed_bodies_are_decoded_and_broken_ones_are_protocol_errors() {
    use std::io::Write;
    fn coded(path: &str) -> Vec<Vec<u8>> {
        let text = b"{\"status\": \"UP\"}";
        let (coding, body): (&str, Vec<u8>) = match path {
            "/gzip" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(text).unwrap();
                ("gzip", e.finish().unwrap())
            }
            "/deflate" => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(text).unwrap();
                ("deflate", e.finish().unwrap())
            }
            // Brotli's uncompressed meta-block (RFC 7932 §9.2), as encoders write short texts.
            "/br" => ("br", [&[0x8b, 0x07, 0x80][..], text, &[0x03]].concat()),
            _ => ("gzip", b"this is not gzip".to_vec()),
        };
        vec![[format!("HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes(), body]
            .concat()]
    }
    let port = serve(coded).await;
    for path in ["gzip", "deflate", "br"] {
        let a = attempt(&format!("url = \"http://127.0.0.1:{port}/{path}\"\nassert = [{{ json = \"$.status\", value = \"UP\" }}]\n")).await;
        assert!(a.ok, "{path}: {a:?}");
    }
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/broken\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::Protocol), "{a:?}");
    assert_eq!(a.status_code, Some(200));
}

#[tokio::test]
async fn gatus_conditions_pass_and_fail_as_gatus_reads_them() {
    fn health(_: &str) -> Vec<Vec<u8>> {
        let body = br#"{"status": "UP", "name": "watchpost-api", "items": [1, 2, 3], "version": 7}"#;
        vec![[
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes(),
            body.to_vec(),
        ]
        .concat()]
    }
    let port = serve(health).await;
    let url = format!("url = \"http://127.0.0.1:{port}/\"");
    let passing = r#"conditions = ["[STATUS] == 200", "[STATUS] < 300", "[RESPONSE_TIME] < 900", "[BODY].status == UP", "len([BODY].items) > 2",
        "[BODY].name == pat(*watch*)", "[BODY].version >= 7", "has([BODY].errors) == false", "[BODY].status == any(UP, DEGRADED)", "[CONNECTED] == true"]"#;
    let a = attempt(&format!("{url}\n{passing}\n")).await;
    assert!(a.ok, "{a:?}");
    for (condition, fragment) in [
        ("[BODY].status == DOWN", "expected == \"DOWN\", got \"UP\""),
        ("len([BODY].items) == 1", "expected length == 1, got 3"),
        ("[BODY].name == pat(api*)", "expected to match"),
        ("[STATUS] > 200", "expected > 200, got 200"),
        ("has([BODY].status) == false", "expected nothing"),
    ] {
        let a = attempt(&format!("{url}\nconditions = [{condition:?}]\n")).await;
        assert!(!a.ok && a.detail.contains(fragment), "{condition}: {a:?}");
    }
}

#[tokio::test]
async fn json_assertions_on_every_node_any_node_types_and_lists() {
    fn items(_: &str) -> Vec<Vec<u8>> {
        let body = br#"{"items": [{"state": "live", "id": 1}, {"state": "live", "id": 2}, {"state": "draining", "id": "3"}]}"#;
        vec![[format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes(), body.to_vec()].concat()]
    }
    let port = serve(items).await;
    let url = format!("url = \"http://127.0.0.1:{port}/\"");
    let pass = [
        r#"{ json = "$.items[*].state", nodes = "all", op = "one_of", value = ["live", "draining"] }"#,
        r#"{ json = "$.items[*].state", nodes = "any", value = "draining" }"#,
        r#"{ json = "$.items", op = "type", value = "array" }"#,
        r#"{ json = "$.items[0].id", op = "type", value = "number" }"#,
    ];
    for a in pass {
        let got = attempt(&format!("{url}\nassert = [{a}]\n")).await;
        assert!(got.ok, "{a}: {got:?}");
    }
    for (a, fragment) in [
        (r#"{ json = "$.items[*].state", nodes = "all", value = "live" }"#, "node 2: expected == \"live\", got \"draining\""),
        (r#"{ json = "$.items[*].id", nodes = "all", op = "type", value = "number" }"#, "node 2: expected type number, got string"),
        (r#"{ json = "$.items[*].state", nodes = "any", value = "gone" }"#, "expected a node to pass, got none of 3"),
        (r#"{ json = "$.missing[*]", nodes = "all", op = "exists" }"#, "got none selected"),
    ] {
        let got = attempt(&format!("{url}\nassert = [{a}]\n")).await;
        assert!(!got.ok && got.detail.contains(fragment), "{a}: {got:?}");
    }
}

#[tokio::test]
async fn a_declared_oversized_body_fails_before_reading() {
    let port = serve(|_: &str| vec![b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n".to_vec()]).await;
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::BodyTooLarge), "{a:?}");
}

#[tokio::test]
async fn a_slow_drip_times_out() {
    fn drip(_: &str) -> Vec<Vec<u8>> {
        let mut v = vec![b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec()];
        for _ in 0..20 {
            v.push(Vec::new());
            v.push(b"x".to_vec());
        }
        v
    }
    let port = serve(drip).await;
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::Timeout), "{a:?}");
    assert!(a.latency_ms < 1500.0, "the timeout bounds the probe: {a:?}");
}

#[tokio::test]
async fn a_redirect_loop_is_classified() {
    let port = serve(|_: &str| vec![b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n".to_vec()]).await;
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\nfollow_redirects = 3\n")).await;
    assert_eq!(a.error, Some(ErrorClass::Redirects), "{a:?}");
    // With redirects off, the 302 itself is the response and fails the default 2xx status assertion.
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\nfollow_redirects = 0\n")).await;
    assert_eq!((a.error, a.status_code), (Some(ErrorClass::Status), Some(302)), "{a:?}");
}

#[tokio::test]
async fn a_redirect_is_followed_to_its_target() {
    fn moved(path: &str) -> Vec<Vec<u8>> {
        match path {
            "/final" => vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal".to_vec()],
            _ => vec![b"HTTP/1.1 301 Moved\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n".to_vec()],
        }
    }
    let port = serve(moved).await;
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\nassert = [{{ status = 200 }}, {{ body_contains = \"final\" }}]\n")).await;
    assert!(a.ok, "{a:?}");
    assert!(a.timings.connect_ms.is_some());
}

#[tokio::test]
async fn tls_to_a_plain_server_is_a_tls_error() {
    // A plain HTTP server answers the ClientHello with an HTTP error at once, as a misconfigured port does.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    let a = attempt(&format!("url = \"https://127.0.0.1:{port}/\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::Tls), "{a:?}");
    assert!(a.timings.connect_ms.is_some(), "connect was measured before TLS failed: {a:?}");
}

#[tokio::test]
async fn a_status_mismatch_reports_expected_and_actual() {
    let port = serve(|_: &str| vec![b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec()]).await;
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\n")).await;
    assert_eq!((a.error, a.status_code), (Some(ErrorClass::Status), Some(503)));
    assert!(a.detail.contains("expected 2xx, got 503"), "{}", a.detail);
}

#[tokio::test]
async fn tcp_send_and_expect() {
    let port = serve(|_: &str| vec![b"+PONG\r\n".to_vec()]).await;
    // The server answers after the request head, so send one.
    let a = attempt(&format!("type = \"tcp\"\naddress = \"127.0.0.1:{port}\"\nsend = \"PING\\r\\n\\r\\n\"\nexpect = \"PONG\"\n")).await;
    assert!(a.ok, "{a:?}");
    let a = attempt(&format!("type = \"tcp\"\naddress = \"127.0.0.1:{port}\"\nsend = \"PING\\r\\n\\r\\n\"\nexpect = \"HELLO\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::Assertion), "{a:?}");
}

#[tokio::test]
async fn huge_headers_are_a_protocol_error_not_a_buffer() {
    fn huge(_: &str) -> Vec<Vec<u8>> {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..2_000 {
            head.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(100)).as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
        vec![head]
    }
    let port = serve(huge).await;
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::Protocol), "{a:?}");
    assert!(a.detail.contains("HTTP"), "{a:?}");
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s); // read nothing, answer nothing, close nothing
        }
    });
    let a = attempt(&format!("url = \"http://127.0.0.1:{port}/\"\n")).await;
    assert_eq!(a.error, Some(ErrorClass::Timeout), "{a:?}");
    assert!(a.latency_ms < 1500.0, "the timeout bounds the probe: {a:?}");
}

/// A TLS server on loopback presenting `cert` (PEM fixtures made with openssl: a self-signed certificate for
/// 127.0.0.1 valid until 2125, and one that expired in February 2020), answering `ok`.
async fn tls_server(cert: &str, key: &str) -> u16 {
    tls_server_counting(cert, key).await.0
}

/// As [`tls_server`], with session resumption on (tickets, as nginx's default) and a count of the resumed
/// handshakes it served.
async fn tls_server_counting(cert: &str, key: &str) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    let certs = vec![CertificateDer::from_pem_file(format!("{dir}{cert}")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(format!("{dir}{key}")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let resumed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = resumed.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else { return };
                if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                let mut buf = vec![0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, resumed)
}

/// Issue 17, defect 17: probes shared rustls's session cache, so against a server with tickets every probe after
/// the first measured a resumed handshake (no certificate sent, nothing verified). A full handshake per probe
/// is the default; `tls_resume = true` asks for resumption.
#[tokio::test]
async fn regression_every_probe_makes_a_full_tls_handshake_unless_resumption_is_asked_for() {
    for (resume, want_resumed) in [(false, false), (true, true)] {
        let (port, resumed) = tls_server_counting("self.crt", "self.key").await;
        let text = format!(
            "[[endpoints]]\nid = \"t\"\ntimeout = \"1s\"\nurl = \"https://127.0.0.1:{port}/\"\ntls_skip_verify = true\ntls_resume = {resume}\n"
        );
        let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
        let (shared, e) = (Shared::new(), &cfg.endpoints[0]);
        let p = probe::build(e, &shared, &probe::push::Registry::default());
        for i in 0..4 {
            let a = run_attempt(&*p, &e.assertions, e.timeout).await;
            assert!(a.ok && a.timings.tls_ms.is_some() && a.cert_days_left.is_some(), "probe {i}: {a:?}");
        }
        let n = resumed.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(n > 0, want_resumed, "tls_resume = {resume}: {n} of 4 handshakes resumed");
    }
}

#[tokio::test]
async fn bad_and_expired_certificates_are_tls_errors_unless_verification_is_off() {
    for (cert, key, expired) in [("self.crt", "self.key", false), ("expired.crt", "expired.key", true)] {
        let port = tls_server(cert, key).await;
        let a = attempt(&format!("url = \"https://127.0.0.1:{port}/\"\n")).await;
        assert_eq!(a.error, Some(ErrorClass::Tls), "{cert}: {a:?}");
        // `insecure_skip_verify` accepts it; the expiry is still recorded and can be asserted on.
        let a = attempt(&format!("url = \"https://127.0.0.1:{port}/\"\ninsecure_skip_verify = true\n")).await;
        assert!(a.ok, "{cert}: {a:?}");
        let days = a.cert_days_left.expect("days left recorded");
        assert_eq!(days < 0.0, expired, "{cert}: {days}");
        let a =
            attempt(&format!("url = \"https://127.0.0.1:{port}/\"\ntls_skip_verify = true\nassert = [{{ cert_days_left_above = 14 }}]\n"))
                .await;
        assert_eq!(a.ok, !expired, "{cert}: {a:?}");
        if expired {
            assert!(a.detail.contains("expected more than 14 days left, got -"), "{a:?}");
        }
    }
}

#[tokio::test]
async fn a_check_step_against_a_hostile_target_fails_that_step_with_its_class() {
    fn endless(_: &str) -> Vec<Vec<u8>> {
        let mut v = vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()];
        v.extend(std::iter::repeat_n(
            b"4000\r\n".iter().copied().chain(std::iter::repeat_n(b'x', 0x4000)).chain(*b"\r\n").collect::<Vec<u8>>(),
            100,
        ));
        v
    }
    let port = serve(endless).await;
    let ok = serve(ok_response).await;
    let text = format!(
        "[[checks]]\nid = \"c\"\ntimeout = \"1s\"\nmax_body = \"64KiB\"\n\
         [[checks.steps]]\nname = \"big\"\nurl = \"http://127.0.0.1:{port}/\"\n\
         [[checks.steps]]\nname = \"after\"\nurl = \"http://127.0.0.1:{ok}/\"\n\
         [[checks.steps]]\nname = \"cleanup\"\nurl = \"http://127.0.0.1:{ok}/\"\nfinally = true\n"
    );
    let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
    let e = &cfg.endpoints[0];
    let p = probe::build(e, &Shared::new(), &probe::push::Registry::default());
    let a = run_attempt(&*p, &e.assertions, e.timeout).await;
    assert_eq!(a.error, Some(ErrorClass::BodyTooLarge), "{a:?}");
    let run = a.run.expect("step results");
    assert_eq!(run.failed_step.as_deref(), Some("big"));
    let states: Vec<(bool, bool)> = run.steps.iter().map(|s| (s.ran, s.ok())).collect();
    assert_eq!(states, vec![(true, false), (false, false), (true, true)], "after is skipped, cleanup runs");
}

#[tokio::test]
async fn a_pause_lets_a_step_see_what_the_previous_one_started() {
    use std::sync::Mutex;
    // `/create` starts a job that is ready 300 ms later; `/status` says whether it is.
    static CREATED: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    fn job(path: &str) -> Vec<Vec<u8>> {
        let mut created = CREATED.lock().unwrap();
        let body = if path == "/create" {
            *created = Some(std::time::Instant::now());
            "created".to_string()
        } else {
            let ready = created.is_some_and(|t| t.elapsed() >= Duration::from_millis(300));
            format!("{{\"ready\": {ready}}}")
        };
        vec![format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()]
    }
    let port = serve(job).await;
    let check = |pause: &str| {
        format!(
            "[[checks]]\nid = \"c\"\ninterval = \"5s\"\ntimeout = \"1s\"\n\
             [[checks.steps]]\nname = \"create\"\nmethod = \"POST\"\nurl = \"http://127.0.0.1:{port}/create\"\n\
             [[checks.steps]]\nname = \"ready\"\nurl = \"http://127.0.0.1:{port}/status\"\n{pause}\
             assert = [{{ json = \"$.ready\", value = true }}]\n"
        )
    };
    let run = |text: String| async move {
        let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
        let e = &cfg.endpoints[0];
        let p = probe::build(e, &Shared::new(), &probe::push::Registry::default());
        run_attempt(&*p, &e.assertions, e.timeout).await
    };
    let a = run(check("")).await;
    assert!(!a.ok, "without a pause the job is not ready yet: {a:?}");
    let a = run(check("pause = \"500ms\"\n")).await;
    assert!(a.ok, "{a:?}");
    let steps = &a.run.as_ref().expect("steps").steps;
    assert!(steps[1].latency_ms < 500.0, "the pause is not the step's latency: {:?}", steps[1]);
    // A pause that with the step's timeout does not fit the interval is refused with its key.
    let errs = Config::from_str_with_env("t.toml", Format::Toml, &check("pause = \"4500ms\"\n"), &Default::default()).unwrap_err();
    assert!(errs.to_string().contains("checks[0].steps[1].pause"), "{errs}");
}
