//! HTTPS probes speak HTTP/2 when the server chooses it by ALPN, against a real nginx with the private test
//! chain: the response comes over h2 (nginx says which protocol it served), phases and assertions work as
//! over HTTP/1.1, and `http2 = false` keeps to HTTP/1.1.

mod common;

use common::{attempt, free_port};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A foreground nginx (no master, no user switch) serving TLS with HTTP/2, stopped when dropped.
struct Nginx {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx() -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chain: String = ["leaf.crt", "inter.crt"].iter().map(|f| std::fs::read_to_string(format!("{FIXTURES}/{f}")).unwrap()).collect();
    std::fs::write(dir.path().join("chain.crt"), chain).unwrap();
    let d = dir.path().display();
    let conf = format!(
        r#"daemon off; master_process off; worker_processes 1; error_log {d}/error.log; pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {d}/chain.crt; ssl_certificate_key {FIXTURES}/leaf.key;
    location / {{ default_type application/json; return 200 '{{"protocol":"$server_protocol","host":"$host"}}'; }}
    location /redirect {{ return 302 /final; }}
    location /final {{ default_type text/plain; return 200 'final over $server_protocol'; }}
  }}
}}
"#
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx is needed for the HTTP/2 test (apt install nginx-light, or run scripts/test.sh)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { port, child, _dir: dir }
}

#[tokio::test]
async fn https_speaks_http2_when_the_server_chooses_it() {
    let n = nginx();
    let ca = format!("tls_ca_file = \"{FIXTURES}/ca.crt\"");
    let a = attempt(&format!(
        "url = \"https://localhost:{}/\"\n{ca}\nheaders = {{ X-Probe = \"1\" }}\nassert = [{{ json = \"$.protocol\", value = \"HTTP/2.0\" }}, {{ json = \"$.host\", value = \"localhost\" }}, {{ header = \"content-type\", op = \"contains\", value = \"json\" }}]\n",
        n.port
    ))
    .await;
    assert!(a.ok, "{a:?}");
    assert_eq!(a.status_code, Some(200));
    for (phase, v) in [("connect", a.timings.connect_ms), ("tls", a.timings.tls_ms), ("ttfb", a.timings.ttfb_ms)] {
        assert!(v.is_some_and(|v| v > 0.0), "{phase}: {:?}", a.timings);
    }
    assert!(a.cert_days_left.is_some_and(|d| d > 20_000.0), "the chain's earliest expiry over h2 too: {:?}", a.cert_days_left);

    // Redirects are followed over h2.
    let a = attempt(&format!(
        "url = \"https://localhost:{}/redirect\"\n{ca}\nassert = [{{ body_contains = \"final over HTTP/2.0\" }}]\n",
        n.port
    ))
    .await;
    assert!(a.ok, "{a:?}");

    // http2 = false: HTTP/1.1 only.
    let a = attempt(&format!(
        "url = \"https://localhost:{}/\"\n{ca}\nhttp2 = false\nassert = [{{ json = \"$.protocol\", value = \"HTTP/1.1\" }}]\n",
        n.port
    ))
    .await;
    assert!(a.ok, "{a:?}");

    // A body larger than max_body is refused over h2 as over HTTP/1.1.
    let a = attempt(&format!("url = \"https://localhost:{}/\"\n{ca}\nmax_body = \"8B\"\n", n.port)).await;
    assert_eq!(a.error, Some(watchpost_core::model::ErrorClass::BodyTooLarge), "{a:?}");
}
