//! Compressed response bodies (`Content-Encoding: gzip`, `deflate`, `br`), decoded as they arrive into a
//! buffer capped at `max_body`: the decoded size is what counts, so a gzip bomb (a few KiB that inflate to
//! gigabytes) ends as `body_too_large` when the cap is reached, with no more than the cap held.

use std::io::Write;

/// What the agent asks for: every coding it decodes.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br";

pub enum DecodeError {
    /// The decoded body passed the cap.
    TooLarge,
    /// The bytes are not what the coding says.
    Invalid(String),
}

/// A `Vec` that refuses to grow past `max`, remembering that it did.
pub struct Capped {
    buf: Vec<u8>,
    max: usize,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + b.len() > self.max {
            self.over = true;
            return Err(std::io::Error::other("the decoded body passed max_body"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The body so far, decoded as its coding says.
pub enum Decoder {
    Identity(Capped),
    Gzip(flate2::write::GzDecoder<Capped>),
    /// HTTP's `deflate` is the zlib format (RFC 9110 §8.4.1.2).
    Deflate(flate2::write::ZlibDecoder<Capped>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Capped>>),
}

impl Decoder {
    /// The decoder for a `Content-Encoding` value; a coding the agent did not ask for (or several stacked)
    /// is kept as sent, for the assertions to see.
    pub fn new(content_encoding: Option<&str>, max: u64, expected: usize) -> Decoder {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let capped = Capped { buf: Vec::with_capacity(expected.min(max)), max, over: false };
        match content_encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
            Some("gzip" | "x-gzip") => Decoder::Gzip(flate2::write::GzDecoder::new(capped)),
            Some("deflate") => Decoder::Deflate(flate2::write::ZlibDecoder::new(capped)),
            Some("br") => Decoder::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(capped, 4096))),
            _ => Decoder::Identity(capped),
        }
    }

    fn capped(&self) -> &Capped {
        match self {
            Decoder::Identity(c) => c,
            Decoder::Gzip(d) => d.get_ref(),
            Decoder::Deflate(d) => d.get_ref(),
            Decoder::Brotli(d) => d.get_ref(),
        }
    }

    fn error(&self, e: std::io::Error) -> DecodeError {
        if self.capped().over {
            DecodeError::TooLarge
        } else {
            DecodeError::Invalid(e.to_string())
        }
    }

    pub fn write(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        let r = match self {
            Decoder::Identity(c) => c.write_all(data),
            Decoder::Gzip(d) => d.write_all(data),
            Decoder::Deflate(d) => d.write_all(data),
            Decoder::Brotli(d) => d.write_all(data),
        };
        r.map_err(|e| self.error(e))
    }

    /// The whole decoded body; a stream cut short is `Invalid`.
    pub fn finish(self) -> Result<Vec<u8>, DecodeError> {
        let over = |c: &Capped| if c.over { DecodeError::TooLarge } else { DecodeError::Invalid("the compressed body ends early".into()) };
        match self {
            Decoder::Identity(c) => Ok(c.buf),
            Decoder::Gzip(d) => d.finish().map(|c| c.buf).map_err(|e| DecodeError::Invalid(e.to_string())),
            Decoder::Deflate(d) => d.finish().map(|c| c.buf).map_err(|e| DecodeError::Invalid(e.to_string())),
            Decoder::Brotli(mut d) => match d.close() {
                Ok(()) => d.into_inner().map(|c| c.buf).map_err(|c| over(&c)),
                Err(_) => Err(over(d.get_ref())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_bomb_stops_at_the_cap_and_a_cut_stream_is_invalid() {
        // 10 MB of zeros is some 10 KB of gzip.
        let bomb = gzip(&vec![0u8; 10_000_000]);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        let mut d = Decoder::new(Some("gzip"), 1_000_000, 0);
        let stopped = bomb.chunks(1000).map(|c| d.write(c)).find(Result::is_err);
        assert!(matches!(stopped, Some(Err(DecodeError::TooLarge))));
        assert!(d.capped().buf.len() <= 1_000_000);

        let ok = gzip(b"hello");
        let mut d = Decoder::new(Some("GZIP"), 100, 0);
        d.write(&ok).ok().unwrap();
        assert_eq!(d.finish().ok().unwrap(), b"hello");
        let mut d = Decoder::new(Some("gzip"), 100, 0);
        d.write(&ok[..ok.len() - 4]).ok().unwrap();
        assert!(matches!(d.finish(), Err(DecodeError::Invalid(_))));
        let mut d = Decoder::new(Some("deflate"), 100, 0);
        assert!(matches!(d.write(b"not zlib at all"), Err(DecodeError::Invalid(_))));
        // An unknown coding is kept as sent.
        let mut d = Decoder::new(Some("zstd"), 100, 0);
        d.write(b"raw").ok().unwrap();
        assert_eq!(d.finish().ok().unwrap(), b"raw");
    }
}
