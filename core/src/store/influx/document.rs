//! Named documents on InfluxDB (`Store::save_document`): the saved latest states and the aggregator's
//! availability windows.
//!
//! A string field holds at most 64 KB, so a document is cut into parts: points of `document` (tags `name`
//! and this store's `writer`, fields `part` and `data`) at consecutive times of the write log's clock, then
//! one `document_commit` point naming the block. A reader takes the newest commit and reads its block, one
//! series: a few milliseconds however many series the document describes (a read over 10,000 series costs
//! influxd 1.6 about half a second whatever it returns). A save cut short has no commit, so a reader sees the
//! previous document whole; two savers never mix parts, each writing under its own `writer`.
//!
//! The body is stored gzipped and base64-encoded (the commit's `encoding` field says so): the latest states
//! of 10,000 series are 2 MB of JSON saved every 20 s, and influxd spends its write path, WAL, cache and
//! compactions on every byte, then answers them again to every reader. Compressed they are a tenth of that.
//! A commit without `encoding` (saved by an older version) holds the body as it is, and still reads.

use super::*;
use crate::lineproto::{write_line, Field};
use base64::Engine as _;
use std::io::Read as _;

/// Characters of a document per part: well under the 64 KB of a string field once escaped.
const PART_CHARS: usize = 32 * 1024;

/// The commit's `encoding` of a body stored gzipped, then in base64 (string fields hold text).
pub(super) const GZIP_BASE64: &str = "gzip+base64";

/// The most a stored body may expand to: a damaged or hostile body must not take the reader's memory.
const MAX_BODY: u64 = 512 << 20;

impl InfluxStore {
    /// The body of [`Store::save_document`].
    pub(super) async fn save_document_now(&self, name: &str, body: &str) -> Result<(), StoreError> {
        let stored = base64::engine::general_purpose::STANDARD.encode(gzip(body.as_bytes()));
        let parts = split(&stored, PART_CHARS);
        let n = i64::try_from(parts.len()).map_err(|_| StoreError::Io {
            op: "save a document",
            reason: "too large".into(),
            retryable: false,
        })?;
        let first = self.feed_clock.take(n);
        let tags = [("name", name), ("writer", self.writer.as_str())];
        let mut buf = Vec::new();
        for (i, (part, ts)) in parts.iter().zip(first..).enumerate() {
            let index = i64::try_from(i).unwrap_or(i64::MAX);
            write_line(&mut buf, "document", &tags, &[("part", Some(Field::Int(index))), ("data", Some(Field::Str(part)))], ts);
        }
        self.send(vec![(gzip(&buf), parts.len() as u64)], "save a document").await?;
        let mut line = Vec::new();
        let fields = [
            ("writer", Some(Field::Str(&self.writer))),
            ("from", Some(Field::Int(first))),
            ("to", Some(Field::Int(first + n - 1))),
            ("saved_at", Some(Field::Int(now_nanos()))),
            ("encoding", Some(Field::Str(GZIP_BASE64))),
        ];
        write_line(&mut line, "document_commit", &[("name", name)], &fields, self.feed_clock.take(1));
        self.send(vec![(gzip(&line), 1)], "save a document").await.map(|_| ())
    }

    /// The body of [`Store::document`].
    pub(super) async fn read_document(&self, name: &str) -> Result<Option<(Nanos, String)>, StoreError> {
        // The newest commit, whole: one series, a row a save. (Not `last()` of each field: a commit of an older
        // version has no `encoding`, and `last("encoding")` would take it from an earlier commit.) influxd
        // applies a point's fields one at a time, so the newest row can be a commit caught half applied: then
        // the one before it, a whole earlier save, is the document.
        let q = format!(
            "SELECT \"writer\", \"from\", \"to\", \"saved_at\", \"encoding\" FROM \"document_commit\" \
             WHERE \"name\" = {} ORDER BY time DESC LIMIT 2",
            lit(name)
        );
        let mut commit = None;
        for r in self.query(&q).await? {
            for s in r.series.unwrap_or_default() {
                let cols = ["writer", "from", "to", "saved_at", "encoding"].map(|c| s.col(c));
                for row in &s.values {
                    let v = |i: usize| cols[i].and_then(|c| row.get(c));
                    let int = |i: usize| v(i).and_then(serde_json::Value::as_i64);
                    if let (Some(w), Some(from), Some(to), Some(at)) = (v(0).and_then(serde_json::Value::as_str), int(1), int(2), int(3)) {
                        let encoding = v(4).and_then(serde_json::Value::as_str).map(str::to_string);
                        commit = commit.or(Some((w.to_string(), from, to, at, encoding)));
                    }
                }
            }
        }
        let Some((writer, from, to, saved_at, encoding)) = commit else { return Ok(None) };
        let q = format!(
            "SELECT \"part\", \"data\" FROM \"document\" WHERE \"name\" = {} AND \"writer\" = {} AND time >= {from} AND time <= {to}",
            lit(name),
            lit(&writer)
        );
        let mut parts: Vec<(i64, String)> = Vec::new();
        for r in self.query(&q).await? {
            for s in r.series.unwrap_or_default() {
                let (pi, di) = (s.col("part"), s.col("data"));
                for row in &s.values {
                    let part = pi.and_then(|i| row.get(i)).and_then(serde_json::Value::as_i64);
                    let data = di.and_then(|i| row.get(i)).and_then(serde_json::Value::as_str);
                    if let (Some(p), Some(d)) = (part, data) {
                        parts.push((p, d.to_string()));
                    }
                }
            }
        }
        parts.sort_by_key(|p| p.0);
        // Every part, each once, in order: anything else is a damaged save, read as none.
        let complete = i64::try_from(parts.len()).ok() == Some(to - from + 1) && parts.iter().enumerate().all(|(i, p)| p.0 == i as i64);
        if !complete {
            return Ok(None);
        }
        let stored: String = parts.into_iter().map(|p| p.1).collect();
        match decode(stored, encoding.as_deref()) {
            Ok(body) => Ok(Some((saved_at, body))),
            // Read as none, like a save cut short: its readers fall back to what they do without one.
            Err(reason) => {
                tracing::warn!(document = name, writer = %writer, %reason, "saved document unreadable; reading as none");
                Ok(None)
            }
        }
    }
}

/// A stored body back as the text saved: as it is without an encoding (older versions), else decoded.
///
/// A body without an encoding that is gzip in base64 (it begins `H4sI`, the base64 of gzip's magic bytes)
/// is decoded all the same: its commit was read while influxd was still applying its fields, `encoding`
/// not yet among them. An older version's body is JSON, which never begins so.
pub(super) fn decode(stored: String, encoding: Option<&str>) -> Result<String, String> {
    let encoding = encoding.or(stored.starts_with("H4sI").then_some(GZIP_BASE64));
    match encoding {
        None => Ok(stored),
        Some(GZIP_BASE64) => {
            let gz = base64::engine::general_purpose::STANDARD.decode(stored.as_bytes()).map_err(|e| format!("bad base64: {e}"))?;
            let mut body = String::new();
            flate2::read::GzDecoder::new(&gz[..]).take(MAX_BODY).read_to_string(&mut body).map_err(|e| format!("bad gzip: {e}"))?;
            if body.len() as u64 >= MAX_BODY {
                return Err(format!("expands past {} MiB", MAX_BODY >> 20));
            }
            Ok(body)
        }
        Some(other) => Err(format!("encoding {other:?} is not one this version reads (upgrade Watchpost)")),
    }
}

/// `body` cut into parts of at most `max` bytes, each on a character boundary; one empty part for "".
pub(super) fn split(body: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = body;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
    }
    parts.push(rest);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_as_saved_and_damage_is_an_error_not_a_panic() {
        let body = "{\"states\": [1, 2, 3], \"é\": \"€\"}".repeat(500);
        let stored = base64::engine::general_purpose::STANDARD.encode(gzip(body.as_bytes()));
        assert!(stored.len() < body.len() / 4, "stored compressed: {} of {}", stored.len(), body.len());
        assert_eq!(decode(stored.clone(), Some(GZIP_BASE64)).unwrap(), body);
        assert_eq!(decode(body.clone(), None).unwrap(), body, "older saves hold the body as it is");
        assert_eq!(decode(stored.clone(), None).unwrap(), body, "a commit read before influxd applied its encoding");
        assert!(decode("not base64!".into(), Some(GZIP_BASE64)).unwrap_err().contains("base64"));
        let not_gzip = base64::engine::general_purpose::STANDARD.encode(b"plain");
        assert!(decode(not_gzip, Some(GZIP_BASE64)).unwrap_err().contains("gzip"));
        let cut = stored[..stored.len() / 2 / 4 * 4].to_string();
        assert!(decode(cut, Some(GZIP_BASE64)).is_err(), "a truncated body");
        assert!(decode(stored, Some("zstd")).unwrap_err().contains("zstd"));
    }

    #[test]
    fn parts_keep_characters_whole_and_join_back() {
        let body = "aé€😀".repeat(1000);
        let parts = split(&body, 7);
        assert!(parts.iter().all(|p| p.len() <= 7 && !p.is_empty()));
        assert_eq!(parts.concat(), body);
        assert_eq!(split("", 7), vec![""]);
        assert_eq!(split("abc", 3), vec!["abc"]);
    }
}
