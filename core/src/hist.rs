//! Latency histograms as rollups store them (DESIGN.md §4): HDR histograms of microseconds with 3
//! significant digits, serialized in the HdrHistogram V2 format, then base64. Histograms merge exactly, so
//! percentiles over any period come from the merged histogram, never from averaged percentiles.
//!
//! Cost matters here: a minute cycle of 10,000 endpoints builds 20,000 histograms and an hour merge decodes
//! over a million. So histograms auto-resize (their counts array grows to the largest value recorded instead
//! of spanning an hour from the start: a few KiB instead of 180 KiB), and only a histogram whose V2 payload
//! exceeds [`DEFLATE_ABOVE`] is deflated (V2's run-length encoding already makes a minute's histogram tens of
//! bytes, and a deflate stream costs more to set up than it saves there). Both forms carry their own cookie,
//! and every reader of V2 accepts both.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer, V2Serializer};
use hdrhistogram::Histogram;

/// The highest latency recorded: an hour, in microseconds. Higher values are clamped (a probe has a timeout).
pub const MAX_US: u64 = 3_600_000_000;

/// V2 payloads larger than this are deflated.
pub const DEFLATE_ABOVE: usize = 1024;

/// A new, empty latency histogram (auto-resizing, 3 significant digits).
pub fn new() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits") // ok: a constant within what hdrhistogram accepts (0 to 5)
}

/// Records one latency in milliseconds (clamped to [1 µs, 1 h]).
pub fn record_ms(h: &mut Histogram<u64>, ms: f64) {
    let us = (ms * 1000.0).round().clamp(1.0, MAX_US as f64) as u64;
    // An auto-resizing histogram grows to take the value; the clamp keeps the growth bounded.
    let _ = h.record(us);
}

/// `V2` (deflated when larger than [`DEFLATE_ABOVE`]), base64; empty for an empty histogram (nothing to merge).
pub fn encode(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return String::new();
    }
    let mut buf = Vec::new();
    let mut result = match encode_v2(h) {
        Some(bytes) => {
            buf = bytes;
            Ok(buf.len())
        }
        None => V2Serializer::new().serialize(h, &mut buf).map_err(|e| format!("{e:?}")),
    };
    if result.is_ok() && buf.len() > DEFLATE_ABOVE {
        buf.clear();
        result = V2DeflateSerializer::new().serialize(h, &mut buf).map_err(|e| format!("{e:?}"));
    }
    match result {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(e) => {
            tracing::warn!(error = %e, "cannot serialize a latency histogram; the rollup keeps its counts only");
            String::new()
        }
    }
}

/// The V2 encoding of one of our histograms (lowest value 1, 3 digits), byte for byte what hdrhistogram's
/// `V2Serializer` writes, from the recorded values only.
///
/// Why: `V2Serializer` first zeroes a buffer of 9 bytes per slot up to the maximum (about 90 KB for a
/// histogram reaching 500 ms) for a payload of tens of bytes; a minute cycle encodes 20,000 histograms.
/// `None` for any other kind of histogram (the general serializer takes it).
fn encode_v2(h: &Histogram<u64>) -> Option<Vec<u8>> {
    if h.low() != 1 || h.sigfig() != 3 {
        return None;
    }
    let mut out = Vec::with_capacity(V2_HEADER + 64);
    out.extend_from_slice(&V2_COOKIE.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes()); // payload length, set below
    out.extend_from_slice(&0u32.to_be_bytes()); // normalizing index offset
    out.extend_from_slice(&3u32.to_be_bytes());
    out.extend_from_slice(&1u64.to_be_bytes());
    out.extend_from_slice(&h.high().to_be_bytes());
    out.extend_from_slice(&1.0f64.to_be_bytes());
    let mut next = 0usize; // the first counts index not yet written
    for v in h.iter_recorded() {
        let index = index_of(v.value_iterated_to());
        let zeros = index.checked_sub(next)?;
        // A single empty slot is written as a zero count, longer runs as their negated length.
        match zeros {
            0 => {}
            1 => write_varint(&mut out, 0),
            n => write_varint(&mut out, zig_zag(-i64::try_from(n).ok()?)),
        }
        write_varint(&mut out, zig_zag(i64::try_from(v.count_at_value()).ok()?));
        next = index + 1;
    }
    let len = u32::try_from(out.len() - V2_HEADER).ok()?;
    out[4..8].copy_from_slice(&len.to_be_bytes());
    Some(out)
}

/// The counts index of `value` at lowest value 1 and 3 significant digits (the inverse of [`add_counts`]).
fn index_of(value: u64) -> usize {
    let sub_bucket_mask = (1u64 << (HALF_SUB_BUCKETS_LOG2 + 1)) - 1;
    let bucket = (64 - (value | sub_bucket_mask).leading_zeros()) - (HALF_SUB_BUCKETS_LOG2 + 1);
    let sub = (value >> bucket) as usize;
    ((bucket as usize) << HALF_SUB_BUCKETS_LOG2) + sub
}

fn zig_zag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// LEB128-64b9B: seven bits a byte for eight bytes, then a ninth byte of eight bits.
fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    for _ in 0..8 {
        if v < 0x80 {
            out.push(v as u8);
            return;
        }
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads what [`encode`] wrote; an empty or damaged text is an empty histogram (and a damaged one is logged).
pub fn decode(text: &str) -> Histogram<u64> {
    if text.is_empty() {
        return new();
    }
    let bytes = match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "a stored latency histogram is not base64; ignoring it");
            return new();
        }
    };
    match Deserializer::new().deserialize::<u64, _>(&mut bytes.as_slice()) {
        Ok(mut h) => {
            // Stored histograms come back fixed-size; growing lets every histogram add to every other.
            h.auto(true);
            h
        }
        Err(e) => {
            tracing::warn!(error = ?e, "a stored latency histogram is damaged; ignoring it");
            new()
        }
    }
}

/// The V2 cookie of an uncompressed histogram (HdrHistogram's encoding, word size 8).
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_HEADER: usize = 40;
/// Sub-buckets per bucket at 3 significant digits: 2 × 10³ rounded up to a power of two, halved.
const HALF_SUB_BUCKETS_LOG2: u32 = 10;

/// Adds a stored histogram (what [`encode`] wrote) into `target` without building it first.
///
/// Why: an hour merge adds 60 minute histograms per series, over a million for 10,000 endpoints; decoding
/// each into its own `Histogram` allocates and zeroes its whole counts array (tens of KiB) only to read a
/// handful of counts. This walks the V2 payload's run-length counts and records them straight into `target`.
/// Deflated or unusual histograms (another precision or lowest value) take the general path.
pub fn add_encoded(target: &mut Histogram<u64>, text: &str) {
    if text.is_empty() {
        return;
    }
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) else {
        tracing::warn!("a stored latency histogram is not base64; ignoring it");
        return;
    };
    let be32 = |at: usize| bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
    let be64 = |at: usize| bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
    let plain = be32(0) == Some(V2_COOKIE) && be32(8) == Some(0) && be32(12) == Some(3) && be64(16) == Some(1);
    let payload_len = be32(4).map_or(0, |n| n as usize);
    let payload = bytes.get(V2_HEADER..V2_HEADER + payload_len);
    match (plain, payload) {
        (true, Some(payload)) if add_counts(target, payload).is_some() => {}
        _ => {
            let _ = target.add(decode(text));
        }
    }
}

/// Records the zig-zag LEB128 counts of a V2 payload (negative: a run of empty slots) into `target`.
fn add_counts(target: &mut Histogram<u64>, mut payload: &[u8]) -> Option<()> {
    let half = 1usize << HALF_SUB_BUCKETS_LOG2;
    let mut index = 0usize;
    while !payload.is_empty() {
        // LEB128-64b9B: up to eight 7-bit groups, then a ninth byte of 8 bits.
        let mut v = 0u64;
        let mut used = 0;
        for (i, b) in payload.iter().enumerate().take(9) {
            used = i + 1;
            if i == 8 {
                v |= u64::from(*b) << 56;
                break;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        payload = &payload[used..];
        let n = ((v >> 1) as i64) ^ -((v & 1) as i64);
        if n < 0 {
            index = index.checked_add(usize::try_from(-n).ok()?)?;
            continue;
        }
        if n > 0 {
            // The value at counts index `index` (lowest discernible value 1, 3 significant digits).
            let bucket = (index >> HALF_SUB_BUCKETS_LOG2) as i64 - 1;
            let (bucket, sub) = if bucket < 0 { (0, index & (half - 1)) } else { (bucket as u32, (index & (half - 1)) + half) };
            let value = (sub as u64).checked_shl(bucket)?;
            target.record_n(value.min(MAX_US), n as u64).ok()?;
        }
        index += 1;
    }
    Some(())
}

/// The values at several quantiles (ascending), in milliseconds, in one pass over the counts.
pub fn quantiles_ms<const N: usize>(h: &Histogram<u64>, qs: [f64; N]) -> [Option<f64>; N] {
    let mut out = [None; N];
    if !h.is_empty() {
        for (slot, v) in out.iter_mut().zip(h.value_at_quantiles(qs)) {
            *slot = Some(v as f64 / 1000.0);
        }
    }
    out
}

/// The value at `quantile` (0..=1) in milliseconds, `None` for an empty histogram.
pub fn quantile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_merges_exactly() {
        let (mut a, mut b) = (new(), new());
        for i in 1..=1000 {
            record_ms(&mut a, i as f64 * 0.5);
            record_ms(&mut b, 500.0 + i as f64 * 0.5);
        }
        let (a2, b2) = (decode(&encode(&a)), decode(&encode(&b)));
        assert_eq!(a2, a);
        let mut merged = a2.clone();
        merged.add(&b2).unwrap();
        assert_eq!(merged.len(), 2000);
        // p50 of 0.5..1000 ms in 0.5 ms steps is 500 ms, within 3 significant digits.
        let p50 = quantile_ms(&merged, 0.5).unwrap();
        assert!((p50 - 500.0).abs() <= 0.5, "{p50}");
        assert_eq!(decode("").len(), 0);
        assert_eq!(decode("not base64!").len(), 0);
        assert_eq!(decode("AAAA").len(), 0, "damaged: empty, no panic");
        assert_eq!(quantile_ms(&new(), 0.5), None);
    }

    #[test]
    fn own_encoder_writes_what_hdrhistogram_writes() {
        for spread in [0u64, 1, 37, 1_000, 250_000, 3_600_000] {
            let mut h = new();
            for i in 0..2_000u64 {
                record_ms(&mut h, ((i * 7919) % (spread * 1000 + 1)) as f64 / 1000.0 + 0.001);
            }
            // Large counts and a lone value far from the rest.
            let _ = h.record_n(12_345, 1 << 40);
            let mut theirs = Vec::new();
            V2Serializer::new().serialize(&h, &mut theirs).unwrap();
            assert_eq!(encode_v2(&h).unwrap(), theirs, "spread {spread}");
        }
        for v in [1u64, 2047, 2048, 4095, 4096, 1_000_000, MAX_US] {
            let mut h = new();
            h.record(v).unwrap();
            let mut theirs = Vec::new();
            V2Serializer::new().serialize(&h, &mut theirs).unwrap();
            assert_eq!(encode_v2(&h).unwrap(), theirs, "value {v}");
        }
    }

    #[test]
    fn adding_an_encoded_histogram_equals_decoding_it() {
        for spread in [1u64, 37, 1_000, 250_000] {
            let mut h = new();
            for i in 0..3_000u64 {
                record_ms(&mut h, ((i * 7919) % (spread * 1000 + 1)) as f64 / 1000.0 + 0.001);
            }
            let text = encode(&h);
            let (mut direct, mut general) = (new(), new());
            record_ms(&mut direct, 5.0);
            record_ms(&mut general, 5.0);
            add_encoded(&mut direct, &text);
            general.add(decode(&text)).unwrap();
            assert_eq!(direct.len(), general.len(), "spread {spread}");
            for q in [0.0, 0.25, 0.5, 0.9, 0.99, 1.0] {
                assert_eq!(direct.value_at_quantile(q), general.value_at_quantile(q), "spread {spread} q {q}");
            }
        }
        let mut h = new();
        add_encoded(&mut h, "AAAA");
        add_encoded(&mut h, "not base64!");
        assert_eq!(h.len(), 0, "damaged input adds nothing and does not panic");
    }
}
