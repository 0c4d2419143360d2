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
    /// Posts one gzip body of `lines` lines to the write `url`, once.
    pub(super) async fn post(&self, url: &str, body: Vec<u8>, lines: u64) -> Result<(), Failure> {
        let req = self
            .client
            .post(url)
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

/// A write's packed parts in the write log: the writer's name, the log time of the first part (the others
/// follow one nanosecond apart), and each part with its share of the points (see `feed`).
pub type FeedParts<'a> = (&'a str, Nanos, &'a [(String, i64)]);

/// Encodes points into gzip bodies of at most [`MAX_LINES`] lines and [`MAX_BYTES`] uncompressed bytes.
/// With `feed`, the write log's parts follow the points, in the same body when they fit: one request
/// usually carries both.
pub fn encode_batches(points: &[Point], feed: Option<FeedParts<'_>>) -> Bodies {
    let mut bodies = Bodies::new();
    let mut buf = Vec::with_capacity(points.len().min(MAX_LINES) * 200);
    let mut lines = 0u64;
    let mut push = |write: &mut dyn FnMut(&mut Vec<u8>) -> bool, last: bool| {
        let before = buf.len();
        if write(&mut buf) {
            lines += 1;
            if buf.len() > MAX_BYTES && lines > 1 {
                // This line would overflow the body: send what came before, start the next with it.
                let tail = buf.split_off(before);
                bodies.push((gzip(&buf), lines - 1));
                buf = tail;
                lines = 1;
            }
        }
        if (last || lines as usize >= MAX_LINES) && lines > 0 {
            bodies.push((gzip(&buf), lines));
            buf.clear();
            lines = 0;
        }
    };
    let parts = feed.map_or(&[][..], |(_, _, parts)| parts);
    let total = points.len() + parts.len();
    for (i, p) in points.iter().enumerate() {
        push(&mut |buf| crate::lineproto::write_point(buf, p), i + 1 == total);
    }
    if let Some((writer, first, _)) = feed {
        for (i, ((data, share), ts)) in parts.iter().zip(first..).enumerate() {
            push(&mut |buf| crate::lineproto::write_feed_part(buf, writer, ts, data, *share), points.len() + i + 1 == total);
        }
    }
    bodies
}

/// `partial write: field type conflict: ... dropped=3`
pub(super) fn dropped_lines(message: &str) -> Option<u64> {
    let rest = message.split("dropped=").nth(1)?;
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}
