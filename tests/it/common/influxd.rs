//! A real `influxd` (Debian package `influxdb`, 1.6) for tests: free loopback ports, a temporary data and meta
//! directory, started and stopped by its pid. A test that needs it fails, saying how to install it, when the
//! binary is missing; it never skips.

use super::{free_port, wait_for};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const DATABASE: &str = "watchpost";

pub struct Influxd {
    pub port: u16,
    dir: tempfile::TempDir,
    config: PathBuf,
    child: Option<Child>,
}

impl Influxd {
    /// Starts a fresh server with database `watchpost` created.
    pub fn start() -> Influxd {
        let binary = super::which("influxd").unwrap_or_else(|| {
            panic!("influxd is not installed: run scripts/test.sh, or `apt-get install influxdb` (Debian's InfluxDB 1.6)")
        });
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let config = dir.path().join("influxd.conf");
        let d = dir.path().display();
        std::fs::write(
            &config,
            format!(
                "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
                 [meta]\n  dir = \"{d}/meta\"\n\
                 [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n  wal-fsync-delay = \"0s\"\n\
                 [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
                 [monitor]\n  store-enabled = false\n\
                 [continuous_queries]\n  enabled = false\n\
                 [logging]\n  level = \"warn\"\n",
                rpc = free_port()
            ),
        )
        .expect("write influxd.conf");
        let mut me = Influxd { port, dir, config, child: None };
        me.spawn(&binary);
        me.post_query(&format!("CREATE DATABASE {DATABASE}"));
        me
    }

    fn spawn(&mut self, binary: &PathBuf) {
        let log = std::fs::File::create(self.dir.path().join("influxd.log")).expect("influxd log");
        let child = Command::new(binary)
            .args(["run", "-config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start influxd");
        self.child = Some(child);
        let port = self.port;
        assert!(
            wait_for(Duration::from_secs(30), || ping(port)),
            "influxd did not answer /ping within 30 s; its log:\n{}",
            std::fs::read_to_string(self.dir.path().join("influxd.log")).unwrap_or_default()
        );
    }

    /// A Watchpost store on this server (v1 API, database [`DATABASE`], no authentication).
    pub fn store(&self) -> watchpost_core::store::influx::InfluxStore {
        watchpost_core::store::influx::InfluxStore::new(&self.config()).expect("an InfluxDB store for the test server")
    }

    /// The configuration of [`Self::store`], for tests that change a setting.
    pub fn config(&self) -> watchpost_core::config::InfluxConfig {
        use watchpost_core::config::{InfluxApi, InfluxAuth, InfluxConfig};
        InfluxConfig {
            url: self.url(),
            api: InfluxApi::V1,
            database: DATABASE.into(),
            retention_policy: None,
            rollup_retention_policy: None,
            org: None,
            bucket: None,
            auth: InfluxAuth::None,
            timeout: Duration::from_secs(30),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM by pid, then SIGKILL after 10 s); its data stays for [`Influxd::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let stopped = wait_for(Duration::from_secs(10), || matches!(child.try_wait(), Ok(Some(_))));
            if !stopped {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    pub fn restart(&mut self) {
        let binary = super::which("influxd").expect("influxd");
        self.spawn(&binary);
    }

    /// Runs an InfluxQL query against `watchpost` and returns the JSON answer.
    pub fn query(&self, q: &str) -> serde_json::Value {
        let path = format!("/query?db={DATABASE}&epoch=ns&q={}", super::url_encode(q));
        let body = request(self.port, "GET", &path).expect("query influxd");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad JSON from influxd ({e}): {body}"))
    }

    /// Writes line protocol as it is, bypassing Watchpost (to set up conflicts).
    pub fn write_raw(&self, lines: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            s,
            "POST /write?db={DATABASE}&precision=ns HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{lines}",
            lines.len()
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.lines().next().map(str::to_string)
    }

    /// Runs an administrative InfluxQL statement (`CREATE RETENTION POLICY …`), which needs a POST.
    pub fn post_query(&self, q: &str) {
        request(self.port, "POST", &format!("/query?q={}", super::url_encode(q))).expect("POST /query");
    }

    /// How many `probe` points the database holds (each point has `latency_ms`).
    pub fn count_probe_points(&self) -> u64 {
        let v = self.query("SELECT count(\"latency_ms\") FROM \"probe\"");
        v["results"][0]["series"][0]["values"][0][1].as_u64().unwrap_or(0)
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ping(port: u16) -> bool {
    request(port, "GET", "/ping").is_some()
}

/// A minimal HTTP/1.1 request on loopback; returns the body of a 2xx answer.
fn request(port: u16, method: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    if !(200..300).contains(&status) {
        return None;
    }
    // influxd answers queries with chunked encoding.
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(after.get(..n)?);
            rest = after.get(n + 2..)?;
        }
        return Some(out);
    }
    Some(body.to_string())
}
