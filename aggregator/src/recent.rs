//! Availability over the last hour and day for every series, from rollups: what `watchpost status` shows.
//!
//! Why rollups: summing raw points costs what the history holds (24 h of 10,000 endpoints at 5 s is 173
//! million points), while the rollups of the same day are 24 hour windows per series, the minutes at the
//! period's two open edges, and the raw points written since the last closed minute. The cost follows the
//! endpoint count, not the history.
//!
//! A period `[now - p, now)` is covered, to the minute, by:
//! - hour rollups for the whole hours inside it that the aggregator has closed (`rollup_1h` watermark);
//! - minute rollups for the rest up to the minute watermark (the partial hour at its start, and the hours
//!   not yet merged at its end);
//! - raw points from the minute watermark on (the minutes still within `aggregator.lateness`).
//!
//! The store sums each range where the rows are (`Store::rollup_availability`): one row per series comes
//! back, however long the range.
//!
//! With several aggregator shards the watermarks are each shard's; the lowest one is used for every series,
//! so no window is counted twice. Without rollups (no aggregator has run, or the rollups begin inside the
//! period) the period is summed from raw points, as before. A point's slot that straddles the minute
//! watermark counts from the raw side only (at most one interval per series of a period: under 0.01 % of a
//! day at 5 s).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::time::Duration;
use watchpost_core::config::Shard;
use watchpost_core::model::{Availability, Resolution, SeriesKey, ALL_REGIONS};
use watchpost_core::store::{Store, StoreError};
use watchpost_core::time::{duration_nanos, Nanos, TimeRange};

const MINUTE: Nanos = 60_000_000_000;
const HOUR: Nanos = 60 * MINUTE;

/// Endpoint, region, environment.
pub type SeriesId = (String, String, String);

/// Availability of every series over each of `periods` (the last hour, the last day…) ending at `now`.
pub async fn availability(
    store: &dyn Store,
    shard: Option<Shard>,
    slots: &HashMap<String, Duration>,
    default_slot: Duration,
    periods: &[Duration],
    now: Nanos,
) -> Result<Vec<HashMap<SeriesId, Availability>>, StoreError> {
    let Some(marks) = watermarks(store, shard).await? else {
        return raw_periods(store, slots, default_slot, periods, now).await;
    };
    let minute_end = marks.minute.min(now);
    let hour_end = marks.hour.min(minute_end - minute_end.rem_euclid(HOUR));
    let raw_tail = store.availability(TimeRange::new(minute_end, now), slots, default_slot).await?;
    // Periods share most of their ranges (the minutes after the last closed hour): each is summed once.
    let mut sums: HashMap<(Resolution, Nanos, Nanos), Vec<(SeriesKey, Availability)>> = HashMap::new();
    let mut out = Vec::with_capacity(periods.len());
    for p in periods {
        let from = ceil(now - duration_nanos(*p), MINUTE);
        if from < marks.start || minute_end <= from {
            // Rollups begin inside the period, or the aggregator is behind by more than it: the raw points
            // are the whole answer.
            out.push(raw(store, TimeRange::new(now - duration_nanos(*p), now), slots, default_slot).await?);
            continue;
        }
        // Three disjoint ranges: minutes up to the first whole hour, the closed hours, the minutes after them.
        let whole_from = ceil(from, HOUR);
        let head_end = whole_from.min(minute_end);
        let ranges = [
            (Resolution::Minute, from, head_end),
            (Resolution::Hour, whole_from, hour_end),
            (Resolution::Minute, hour_end.max(head_end), minute_end),
        ];
        let mut total: HashMap<SeriesId, Availability> = HashMap::new();
        for (resolution, a, b) in ranges {
            if b <= a {
                continue;
            }
            let summed = match sums.entry((resolution, a, b)) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(store.rollup_availability(resolution, TimeRange::new(a, b)).await?),
            };
            for (k, v) in summed.iter() {
                // The all-regions rollups repeat the regions' own.
                if k.region != ALL_REGIONS {
                    add(&mut total, k, v);
                }
            }
        }
        for (k, v) in &raw_tail {
            add(&mut total, k, v);
        }
        out.push(total);
    }
    Ok(out)
}

struct Marks {
    /// Minutes are closed up to here, hours up to `hour`; rollups begin at `start`.
    minute: Nanos,
    hour: Nanos,
    start: Nanos,
}

/// The lowest watermarks over the aggregator's shards (the configured shard count, or one), or `None` when
/// an aggregator has not written them.
async fn watermarks(store: &dyn Store, shard: Option<Shard>) -> Result<Option<Marks>, StoreError> {
    let names = [Resolution::Minute.measurement(), Resolution::Hour.measurement(), crate::ROLLUP_START];
    let Some(shards) = watchpost_core::store::shard_watermarks(store, shard, names).await? else {
        return Ok(None);
    };
    let lowest = |i: usize| shards.iter().map(|m| m[i]).min().unwrap_or(Nanos::MAX);
    let start = shards.iter().map(|m| m[2]).max().unwrap_or(Nanos::MIN);
    Ok(Some(Marks { minute: lowest(0), hour: lowest(1), start }))
}

async fn raw_periods(
    store: &dyn Store,
    slots: &HashMap<String, Duration>,
    default_slot: Duration,
    periods: &[Duration],
    now: Nanos,
) -> Result<Vec<HashMap<SeriesId, Availability>>, StoreError> {
    let mut out = Vec::with_capacity(periods.len());
    for p in periods {
        out.push(raw(store, TimeRange::new(now - duration_nanos(*p), now), slots, default_slot).await?);
    }
    Ok(out)
}

async fn raw(
    store: &dyn Store,
    range: TimeRange,
    slots: &HashMap<String, Duration>,
    default_slot: Duration,
) -> Result<HashMap<SeriesId, Availability>, StoreError> {
    Ok(store.availability(range, slots, default_slot).await?.into_iter().map(|(k, a)| (id(&k), a)).collect())
}

fn add(sums: &mut HashMap<SeriesId, Availability>, k: &SeriesKey, v: &Availability) {
    let a = sums.entry(id(k)).or_default();
    a.up_s += v.up_s;
    a.down_s += v.down_s;
    a.samples += v.samples;
    a.failures += v.failures;
}

fn id(k: &SeriesKey) -> SeriesId {
    (k.endpoint.clone(), k.region.clone(), k.environment.clone())
}

/// `t` rounded up to a multiple of `step`.
fn ceil(t: Nanos, step: Nanos) -> Nanos {
    let r = t.rem_euclid(step);
    if r == 0 {
        t
    } else {
        t - r + step
    }
}
