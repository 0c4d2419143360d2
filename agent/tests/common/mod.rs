//! What the probe tests share: one attempt of an endpoint written in TOML, and local servers run as child
//! processes (Python's, for the protocols no Debian package here serves) that print their port when ready.

#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use watchpost_agent::probe::{self, run_attempt, Attempt, Shared};
use watchpost_core::config::{Config, Format};

/// One attempt of the endpoint `[[endpoints]] id = "t"` with `keys` (type, target, assertions…).
pub async fn attempt(keys: &str) -> Attempt {
    let text = format!("[[endpoints]]\nid = \"t\"\n{keys}");
    let cfg = Config::from_str_with_env("t.toml", Format::Toml, &text, &Default::default()).unwrap();
    let e = &cfg.endpoints[0];
    let p = probe::build(e, &Shared::new(), &probe::push::Registry::default());
    run_attempt(&*p, &e.assertions, e.timeout).await
}

/// A child process serving on loopback, killed when dropped.
pub struct Served {
    pub port: u16,
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Python server script that prints its port on its first line; fails loudly with `install` (how to
/// get what it needs) when it does not.
pub fn python_server(script: &str, install: &str) -> Served {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the test servers");
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
    let Ok(port) = line.trim().parse() else {
        let _ = child.kill();
        let out = child.wait_with_output().expect("server output");
        panic!("the test server did not start (run scripts/test.sh, or {install}): {}", String::from_utf8_lossy(&out.stderr));
    };
    Served { port, child }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}
