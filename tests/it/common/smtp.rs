//! A real SMTP server process for the email tests: `smtp_sink.py` (Python's aiosmtpd) on a loopback port,
//! writing every message it accepts to a directory. Fails loudly, saying how to install it, when missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl SmtpSink {
    pub fn start(dir: &Path) -> SmtpSink {
        let port = super::free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/common/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 is needed for the SMTP server");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            let out = child.wait_with_output().expect("smtp sink output");
            panic!(
                "the SMTP server did not start (run scripts/test.sh, or `pip install aiosmtpd`):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        SmtpSink { port, dir: dir.to_path_buf(), child }
    }

    /// The messages received so far, in order, as raw text.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "eml")).collect())
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
    }

    /// Waits (bounded) until at least `n` messages arrived; returns them all.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<String> {
        super::wait_for(limit, || self.messages().len() >= n);
        self.messages()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Quoted-printable soft breaks and escapes, as mail bodies carry long links.
pub fn decode_qp(s: &str) -> String {
    let joined = s.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
