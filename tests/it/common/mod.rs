//! Helpers shared by the end-to-end tests: a scripted HTTP target, free ports, and running the real binary.

#![allow(dead_code)] // each test binary uses a different subset

pub mod api;
pub mod hosted;
pub mod influxd;
pub mod jsonschema;
pub mod openapi;
pub mod providers;
pub mod smtp;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `watchpost` binary under test: the one cargo built for this test, or `WATCHPOST_BIN` (the soak runs a
/// copy, so that a rebuild during an hour-long soak does not change the binary under it).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| std::env::var("WATCHPOST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_watchpost").to_string()))
}

/// A loopback port to listen on, free now and never handed to another test of this process.
///
/// Why not port 0: the kernel gives port 0 binds from the ephemeral range, the same range outgoing
/// connections use, and the agents under test open hundreds per second. A port chosen that way can be taken
/// by an outgoing connection before the server (re)binds it, or be handed to two tests in turn. Ports below
/// the ephemeral range (32768 on Linux), taken from one counter, avoid both.
/// An `[agent]` section that confirms an outage in about 1.5 s (three misses at 500 ms, retried after
/// 100 ms) and writes within 100 ms: end-to-end tests wait seconds, not minutes.
pub fn fast_agent(region: &str) -> String {
    format!(
        "\n[agent]\nregion = \"{region}\"\ninterval = \"500ms\"\ntimeout = \"300ms\"\nretry_interval = \"100ms\"\nbatch_max_age = \"100ms\"\n"
    )
}

/// A program on PATH, for servers the tests start (influxd, prometheus).
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|f| f.is_file()))
}

/// Percent-encoding of a query parameter's value (everything but RFC 3986's unreserved characters).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // Start where another test binary running right before is unlikely to have left sockets behind.
    let base = 20_000 + (std::process::id() as usize * 97) % 10_000;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (base + n % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
        assert!(n < 12_000, "no free loopback port below 32000");
    }
}

/// An HTTP target that answers request *n* (1-based) with 200 when `script[n-1]` is `+` and 503 when it is
/// `-`; past the end of the script it answers 200. Counts requests.
pub struct Target {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
}

impl Target {
    pub fn start(script: &'static str) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind target");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                if read_request(&mut conn).is_none() {
                    continue; // a connection without a request (e.g. a port check) is not counted
                }
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let ok = script.as_bytes().get(n).is_none_or(|c| *c == b'+');
                let (status, body) = if ok { ("200 OK", "ok") } else { ("503 Service Unavailable", "down") };
                let resp = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = conn.write_all(resp.as_bytes());
            }
        });
        Target { port, requests }
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// An HTTP target that answers 200 while `up` and 503 otherwise; flip it with [`Toggle::set`]. Counts the
/// requests it answered (an independent count of probe attempts).
pub struct Toggle {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    served: Arc<AtomicUsize>,
}

impl Toggle {
    pub fn start(up: bool) -> Toggle {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind target");
        let port = listener.local_addr().expect("addr").port();
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(up));
        let state = flag.clone();
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                if read_request(&mut conn).is_none() {
                    continue;
                }
                let (status, body) = if state.load(Ordering::SeqCst) { ("200 OK", "ok") } else { ("503 Service Unavailable", "down") };
                let resp = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                if conn.write_all(resp.as_bytes()).is_ok() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Toggle { port, up: flag, served }
    }

    /// Requests answered so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    pub fn set(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

fn read_request(conn: &mut TcpStream) -> Option<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(())
}

/// A plain HTTP GET on loopback; returns (status line, body).
pub fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    http_request(port, "GET", path, &[], "")
}

/// One HTTP/1.1 request on loopback with extra header lines; returns (status line, body).
pub fn http_request(port: u16, method: &str, path: &str, headers: &[&str], body: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    let body = if chunked { dechunk(body)? } else { body.to_string() };
    Some((head.lines().next()?.to_string(), body))
}

/// A body sent with `Transfer-Encoding: chunked` (a streamed `/metrics`), as the bytes it carries; None when
/// the chunks are malformed or the last one never came.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Waits until `cond` holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("watchpost.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `watchpost` as every test starts it: under `setpriv --pdeathsig KILL` (util-linux), so the process is
/// killed when the test thread that started it ends, however it ends. A failing test (a panic before its
/// `terminate`) must not leave servers running, holding ports and disks, for the rest of the suite.
pub fn watchpost() -> Command {
    let setpriv =
        which("setpriv").unwrap_or_else(|| panic!("setpriv is not installed: run scripts/test.sh, or `apt-get install util-linux`"));
    let mut c = Command::new(setpriv);
    c.args(["--pdeathsig", "KILL"]).arg(bin());
    c
}

pub fn spawn(args: &[&str]) -> Child {
    watchpost().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start watchpost")
}

pub fn run(args: &[&str]) -> Output {
    watchpost().args(args).output().expect("run watchpost")
}

/// Sends SIGKILL (no chance to clean up) and reaps the process.
pub fn kill9(mut child: Child) {
    let _ = Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
    let _ = child.wait();
}

/// Sends SIGTERM and waits (bounded) for the process to exit; returns its output.
pub fn terminate(child: Child) -> Output {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait_with_output().expect("wait for watchpost")
}

/// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
pub async fn sqlite_store() -> (tempfile::TempDir, watchpost_core::store::sqlite::SqliteStore) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let day = Duration::from_secs(86_400);
    let cfg = watchpost_core::config::SqliteConfig { path: dir.path().join("w.db"), retention: day * 30, check_history: day };
    let store = watchpost_core::store::sqlite::SqliteStore::open(&cfg).await.expect("open the SQLite store");
    (dir, store)
}

/// Headless Chromium with the flags this machine's closed network needs, in a fresh profile directory.
/// Fails loudly when Chromium is missing.
pub fn chromium(profile: &Path) -> Command {
    let bin = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists()).unwrap_or_else(|| {
        panic!("chromium is not installed: run scripts/test.sh, or `apt-get install chromium` (Debian's Chromium, for the HTML tests)")
    });
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .stdin(Stdio::null());
    c
}

/// A real Prometheus (Debian's) scraping with `yaml` as its configuration, its data and log under `dir`;
/// killed when dropped. Fails loudly, saying how to install it, when missing.
pub struct Prometheus {
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Prometheus {
    pub fn start(dir: &Path, yaml: &str) -> Prometheus {
        let program = which("prometheus")
            .unwrap_or_else(|| panic!("prometheus is not installed: run scripts/test.sh, or `apt-get install prometheus`"));
        let (config, log, port) = (dir.join("prometheus.yml"), dir.join("prometheus.log"), free_port());
        std::fs::write(&config, yaml).expect("write prometheus.yml");
        let child = Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("prometheus.log"))
            .spawn()
            .expect("start prometheus");
        Prometheus { port, child, log }
    }

    /// An instant query's answer (`Null` while Prometheus is not up).
    pub fn query(&self, q: &str) -> serde_json::Value {
        http_get(self.port, &format!("/api/v1/query?query={}", url_encode(q)))
            .and_then(|(_, b)| serde_json::from_str(&b).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// The first series' value of an instant query.
    pub fn value(&self, q: &str) -> Option<String> {
        self.query(q)["data"]["result"][0]["value"][1].as_str().map(str::to_string)
    }

    /// The end of its log, for a failure's message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
