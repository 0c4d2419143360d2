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
        let started = std::time::Instant::now();
        let resp = self.authorize(req).send().await.map_err(|e| Failure::Unreachable { reason: crate::http::error_text(&e) })?;
        let status = resp.status().as_u16();
        // What each write costs, beside the reads' (`RUST_LOG=watchpost_core::store=trace`).
        tracing::trace!(ms = started.elapsed().as_millis() as u64, lines, status, "influxdb write");
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

/// Gzip bodies of line protocol, each with its number of lines.
pub type Bodies = Vec<(Vec<u8>, u64)>;

/// Where a batch's probe points go in the write log: the writer's name and the log time of the first (the
/// others follow one nanosecond apart, in batch order; see `feed`).
pub type FeedPlace<'a> = (&'a str, Nanos);

/// Encodes points into gzip bodies of at most [`MAX_LINES`] lines (about: a probe point and its write-log
/// line stay together) and [`MAX_BYTES`] uncompressed bytes. With `feed`, each probe point's write-log line
/// follows its own, in the same body: one request carries both.
pub fn encode_batches(points: &[Point], feed: Option<FeedPlace<'_>>) -> Bodies {
    let mut bodies = Vec::new();
    let mut buf = Vec::with_capacity(points.len().min(MAX_LINES) * if feed.is_some() { 500 } else { 200 });
    let mut lines = 0u64;
    let flush = |buf: &mut Vec<u8>, lines: &mut u64, bodies: &mut Bodies| {
        if *lines > 0 {
            bodies.push((gzip(buf), *lines));
            buf.clear();
            *lines = 0;
        }
    };
    let mut next_feed = feed.map(|(_, first)| first);
    for p in points {
        let before = buf.len();
        let mut written = u64::from(crate::lineproto::write_point(&mut buf, p));
        if let (Point::Probe(probe), Some((writer, _)), Some(ts)) = (p, feed, next_feed.as_mut()) {
            written += u64::from(crate::lineproto::write_feed(&mut buf, probe, writer, *ts));
            *ts += 1;
        }
        if written == 0 {
            continue;
        }
        lines += written;
        if buf.len() > MAX_BYTES {
            // These lines would overflow the body: send what came before, start the next with them.
            let tail = buf.split_off(before);
            lines -= written;
            flush(&mut buf, &mut lines, &mut bodies);
            buf.extend_from_slice(&tail);
            lines = written;
        }
        if lines as usize >= MAX_LINES {
            flush(&mut buf, &mut lines, &mut bodies);
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
