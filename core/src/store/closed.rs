//! The all-regions minute rollups an aggregator's last cycle closed, saved as one document per shard beside
//! the rollups themselves, for the status page.
//!
//! Why: the page shows the current hour minute by minute, so it reads each new minute of every endpoint's
//! all-regions rollup. On influxd a read costs per series and field it opens, whatever it returns: one
//! minute of 10,000 endpoints cost influxd 0.66 CPU-s in the six fields the page uses (0.9 s as `SELECT *`),
//! about 2.7 µs per raw point written, the largest read left once every consumer followed the write log
//! (`bench/fullstack.py`, issue 19). The aggregator has those rows in hand as it writes them: as one document
//! they are one series to read.
//!
//! The document is a shortcut, never the record. A reader uses it only when it covers the whole range asked
//! for, in every shard; otherwise (a cycle missed, a catch-up, a failed save, one shard behind the others,
//! another format) it reads the rollups. Rollups are written once (DESIGN.md §3) and the document after
//! them, so the two never disagree.

use super::{RollupSums, Store, StoreError};
use crate::config::Shard;
use crate::model::{Availability, Resolution, RollupPoint, SeriesKey, ALL_REGIONS};
use crate::time::{Nanos, TimeRange};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The document's name (one per shard, see [`Shard::watermark`]).
pub const DOCUMENT: &str = "closed_minutes";
/// A cycle that closes more minutes than this (a catch-up) saves no document: its readers are behind too,
/// and read the rollups.
pub const MAX_MINUTES: i64 = 5;
/// The saved format; a reader ignores any other.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    /// The minutes `[from, to)` the cycle closed: every all-regions rollup of them is in `rows`.
    from: Nanos,
    to: Nanos,
    rows: Vec<Row>,
}

/// Endpoint, component, environment, window start, up, down and maintenance seconds, samples, failures, mean
/// latency.
#[derive(Serialize, Deserialize)]
struct Row(String, String, String, Nanos, f64, f64, f64, u64, u64, Option<f64>);

/// The all-regions minute rollups among `rollups`, as [`Store::rollup_sums`] answers them.
pub fn rows(rollups: &[RollupPoint]) -> Vec<RollupSums> {
    rollups
        .iter()
        .filter(|r| r.resolution == Resolution::Minute && r.series.region == ALL_REGIONS)
        .map(|r| RollupSums {
            series: r.series.clone(),
            ts: r.ts,
            sums: Availability { up_s: r.up_s, down_s: r.down_s, samples: r.samples, failures: r.failures },
            maintenance_s: r.maintenance_s,
            latency_mean_ms: r.latency_mean_ms,
        })
        .collect()
}

/// Saves `rows` (from [`rows`]) as what `shard` closed in `range`; nothing when the range is longer than
/// [`MAX_MINUTES`] or empty.
pub async fn save(store: &dyn Store, shard: Option<Shard>, range: TimeRange, rows: &[RollupSums]) -> Result<(), StoreError> {
    let minutes = (range.to - range.from) / Resolution::Minute.nanos();
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Ok(());
    }
    let rows = rows
        .iter()
        .filter(|r| range.contains(r.ts))
        .map(|r| {
            let (s, a) = (&r.series, &r.sums);
            let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
            Row(
                s.endpoint.clone(),
                s.component.clone(),
                s.environment.clone(),
                r.ts,
                finite(a.up_s),
                finite(a.down_s),
                finite(r.maintenance_s),
                a.samples,
                a.failures,
                // JSON has no NaN: an unknown mean is saved as none.
                r.latency_mean_ms.filter(|m| m.is_finite()),
            )
        })
        .collect();
    let body = serde_json::to_string(&Saved { version: VERSION, from: range.from, to: range.to, rows }).map_err(|e| StoreError::Io {
        op: "save the closed minutes",
        reason: e.to_string(),
        retryable: false,
    })?;
    store.save_document(&Shard::watermark(shard, DOCUMENT), &body).await
}

/// The all-regions minute rollups of `range` from the documents of every shard of an aggregator sharded as
/// `shard` says, when each covers the whole range; `None` when any does not (read the rollups then).
pub async fn read(store: &dyn Store, shard: Option<Shard>, range: TimeRange) -> Result<Option<Vec<RollupSums>>, StoreError> {
    let mut out = Vec::new();
    for s in Shard::every(shard) {
        let name = Shard::watermark(s, DOCUMENT);
        let Some((_, body)) = store.document(&name).await? else { return Ok(None) };
        let saved = match serde_json::from_str::<Saved>(&body) {
            Ok(saved) if saved.version == VERSION => saved,
            Ok(saved) => {
                tracing::debug!(document = %name, version = saved.version, "closed minutes of another format; reading the rollups");
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(document = %name, error = %e, "unreadable closed minutes; reading the rollups");
                return Ok(None);
            }
        };
        if saved.from > range.from || saved.to < range.to {
            return Ok(None);
        }
        let mut series: Option<Arc<SeriesKey>> = None;
        for Row(endpoint, component, environment, ts, up_s, down_s, maintenance_s, samples, failures, mean) in saved.rows {
            if !range.contains(ts) {
                continue;
            }
            let key = SeriesKey { endpoint, region: ALL_REGIONS.to_string(), component, environment };
            // Rows of one series share one key, as stores answer them.
            let shared = match series.take() {
                Some(k) if *k == key => k,
                _ => Arc::new(key),
            };
            series = Some(shared.clone());
            let sums = Availability { up_s, down_s, samples, failures };
            out.push(RollupSums { series: shared, ts, sums, maintenance_s, latency_mean_ms: mean });
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    const M: Nanos = 60_000_000_000;

    async fn store(dir: &tempfile::TempDir) -> SqliteStore {
        let cfg = crate::config::SqliteConfig {
            path: dir.path().join("c.db"),
            retention: std::time::Duration::from_secs(86_400),
            check_history: std::time::Duration::from_secs(86_400),
        };
        SqliteStore::open(&cfg).await.unwrap()
    }

    fn rollup(endpoint: &str, region: &str, ts: Nanos, down_s: f64, mean: Option<f64>) -> RollupPoint {
        let series =
            Arc::new(SeriesKey { endpoint: endpoint.into(), region: region.into(), component: "c".into(), environment: "prod".into() });
        let counts = Availability { up_s: 60.0 - down_s, down_s, samples: 12, failures: 2 };
        RollupPoint {
            maintenance_s: 1.5,
            under_threshold: 10,
            latency_mean_ms: mean,
            ..RollupPoint::counts(Resolution::Minute, series, ts, counts)
        }
    }

    /// What is saved is read back as `rollup_sums` answers it, only the all-regions rows, only in the range
    /// asked; a range the document does not cover whole, a catch-up, another format, damage, or a shard
    /// without a document are `None` (the reader reads the rollups).
    #[tokio::test]
    async fn roundtrip_and_every_reason_to_read_the_rollups_instead() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let base = 1_000 * M;
        let rollups = vec![
            rollup("api", ALL_REGIONS, base, 3.0, Some(12.5)),
            rollup("api", "eu", base, 3.0, Some(12.5)),
            rollup("api", ALL_REGIONS, base + M, 0.0, Some(f64::NAN)),
            rollup("web \"q\"", ALL_REGIONS, base + M, 60.0, None),
        ];
        let rows = rows(&rollups);
        assert_eq!(rows.len(), 3, "the all-regions rows only");
        assert_eq!(read(&s, None, TimeRange::new(base, base + M)).await.unwrap(), None, "nothing saved yet");
        save(&s, None, TimeRange::new(base, base + 2 * M), &rows).await.unwrap();

        let got = read(&s, None, TimeRange::new(base, base + 2 * M)).await.unwrap().expect("covered");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], rows[0]);
        assert_eq!(got[1].latency_mean_ms, None, "a NaN mean is saved as none");
        assert_eq!(got[2], rows[2], "names with quotes, no mean");
        let later = read(&s, None, TimeRange::new(base + M, base + 2 * M)).await.unwrap().expect("covered");
        assert_eq!(later.len(), 2, "only the minutes asked for");
        assert!(Arc::ptr_eq(&got[0].series, &got[1].series), "one key per series");

        assert_eq!(read(&s, None, TimeRange::new(base - M, base + 2 * M)).await.unwrap(), None, "starts before the document");
        assert_eq!(read(&s, None, TimeRange::new(base, base + 3 * M)).await.unwrap(), None, "ends after it");

        // A catch-up saves nothing: the document of the last cycle stays, and covers nothing new.
        save(&s, None, TimeRange::new(base + 2 * M, base + 9 * M), &rows).await.unwrap();
        assert!(read(&s, None, TimeRange::new(base, base + 2 * M)).await.unwrap().is_some());
        assert_eq!(read(&s, None, TimeRange::new(base + 2 * M, base + 3 * M)).await.unwrap(), None);

        for damaged in ["not json", "{\"version\":2,\"from\":0,\"to\":9000000000000000000,\"rows\":[]}", "{\"version\":1}"] {
            s.save_document(DOCUMENT, damaged).await.unwrap();
            assert_eq!(read(&s, None, TimeRange::new(base, base + M)).await.unwrap(), None, "{damaged}");
        }

        // Sharded: every shard's document must cover the range.
        let (one, two) = (Some(Shard { index: 1, count: 2 }), Some(Shard { index: 2, count: 2 }));
        save(&s, one, TimeRange::new(base, base + M), &rows[..1]).await.unwrap();
        assert_eq!(read(&s, one, TimeRange::new(base, base + M)).await.unwrap(), None, "shard 2 has saved nothing");
        save(&s, two, TimeRange::new(base, base + M), &[]).await.unwrap();
        assert_eq!(read(&s, two, TimeRange::new(base, base + M)).await.unwrap().map(|r| r.len()), Some(1), "both shards' rows");
    }
}
