//! Latency histograms as rollups store them (DESIGN.md §4): HDR histograms of microseconds with 3
//! significant digits, serialized in the HdrHistogram V2 format with deflate, then base64. Histograms merge
//! exactly, so percentiles over any period come from the merged histogram, never from averaged percentiles.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// The highest latency recorded: an hour, in microseconds. Higher values are clamped (a probe has a timeout).
pub const MAX_US: u64 = 3_600_000_000;

/// A new, empty latency histogram.
pub fn new() -> Histogram<u64> {
    // ok: the bounds are constants that hdrhistogram accepts (1 ≤ low, high ≥ 2 × low, 3 digits).
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Records one latency in milliseconds.
pub fn record_ms(h: &mut Histogram<u64>, ms: f64) {
    let us = (ms * 1000.0).round().clamp(1.0, MAX_US as f64) as u64;
    h.saturating_record(us);
}

/// `V2 + deflate`, base64; empty for an empty histogram (nothing to merge).
pub fn encode(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return String::new();
    }
    let mut buf = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(e) => {
            tracing::warn!(error = ?e, "cannot serialize a latency histogram; the rollup keeps its counts only");
            String::new()
        }
    }
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
        Ok(h) => {
            let mut out = new();
            // Merge into our bounds, so every histogram adds to every other.
            let _ = out.add(&h);
            out
        }
        Err(e) => {
            tracing::warn!(error = ?e, "a stored latency histogram is damaged; ignoring it");
            new()
        }
    }
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
}
