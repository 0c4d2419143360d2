//! Writes: gzip bodies of line protocol, posted once each and classified.

use super::*;

/// Why one request failed, before it becomes a [`StoreError`].
#[derive(Debug)]
pub(super) enum Failure {
    /// The server answered 429 or 5xx: worth a few quick retries.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// No answer (refused, reset, timed out): the server is down; retrying in place only delays the spool.
    Unreachable {
        reason: String,
    },
    Final {
        reason: String,
    },
    Rejected {
        lines: u64,
        message: String,
    },
}

impl InfluxStore {
    /// Posts one gzip body of `lines` lines, once.
    pub(super) async fn post(&self, body: Vec<u8>, lines: u64) -> Result<(), Failure> {
        let req = self
            .client
            .post(&self.write_url)
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("Accept", "application/json")
            .body(body);
        let resp = self.authorize(req).send().await.map_err(|e| Failure::Unreachable { reason: crate::http::error_text(&e) })?;
        let status = resp.status().as_u16();
        if status == 204 || status == 200 {
            return Ok(());
        }
        let after = crate::http::retry_after(resp.headers());
        let message = resp.text().await.unwrap_or_default();
        let message = message.trim().chars().take(500).collect::<String>();
        match status {
            // A field type conflict or a malformed line: sending the same batch again cannot succeed. InfluxDB
            // 1.x writes the rest of a partially bad batch and says how many lines it dropped.
            400 | 422 => Err(Failure::Rejected { lines: dropped_lines(&message).unwrap_or(lines), message }),
            429 | 500..=599 => Err(Failure::Retry { reason: format!("HTTP {status}: {message}"), after }),
            _ => Err(Failure::Final { reason: format!("HTTP {status}: {message}") }),
        }
    }
}

/// A gzip body. Level 1: most of gzip's saving for a fraction of its CPU on repetitive line protocol.
pub(super) fn gzip(buf: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(buf.len() / 8 + 64), flate2::Compression::fast());
    let _ = gz.write_all(buf);
    gz.finish().unwrap_or_default()
}

/// Encodes points into gzip bodies of at most [`MAX_LINES`] lines and [`MAX_BYTES`] uncompressed bytes.
pub fn encode_batches(points: &[Point]) -> Vec<(Vec<u8>, u64)> {
    let mut bodies = Vec::new();
    let mut buf = Vec::with_capacity(points.len().min(MAX_LINES) * 200);
    let mut lines = 0u64;
    let flush = |buf: &mut Vec<u8>, lines: &mut u64, bodies: &mut Vec<(Vec<u8>, u64)>| {
        if *lines > 0 {
            bodies.push((gzip(buf), *lines));
            buf.clear();
            *lines = 0;
        }
    };
    for p in points {
        let before = buf.len();
        if crate::lineproto::write_point(&mut buf, p) {
            lines += 1;
            if buf.len() > MAX_BYTES {
                // This line would overflow the body: send what came before, start the next with it.
                let line = buf.split_off(before);
                lines -= 1;
                flush(&mut buf, &mut lines, &mut bodies);
                buf.extend_from_slice(&line);
                lines = 1;
            }
            if lines as usize == MAX_LINES {
                flush(&mut buf, &mut lines, &mut bodies);
            }
        }
    }
    flush(&mut buf, &mut lines, &mut bodies);
    bodies
}

/// `partial write: field type conflict: ... dropped=3`
pub(super) fn dropped_lines(message: &str) -> Option<u64> {
    let rest = message.split("dropped=").nth(1)?;
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}
