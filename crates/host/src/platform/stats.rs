//! Per-app request counters and a latency histogram, written lock-free on every request
//! and read by the dashboard's sampler once a second.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Request counters of one app, kept across its versions.
#[derive(Debug, Default)]
pub struct AppStats {
    /// Requests answered (any status).
    pub requests: AtomicU64,
    /// Of those, answered with a 5xx status.
    pub errors: AtomicU64,
    /// Requests in flight now.
    pub active: AtomicI64,
    /// How long its answers took to start (until the response head).
    pub latency: LatencyHistogram,
}

impl AppStats {
    /// Counts one answered request.
    pub(crate) fn record(&self, elapsed: Duration, server_error: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if server_error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.record(elapsed);
    }
}

/// Sub-buckets per power of two: 8 keeps every bucket within 12.5% of its values.
const SUB_BITS: u32 = 3;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Microseconds are counted up to 2^32 (71 minutes); longer lands in the last bucket.
const TOP_BIT: u32 = 32;
/// Buckets in all: the linear ones below `SUB_BUCKETS`, then `SUB_BUCKETS` per power.
pub const BUCKETS: usize = SUB_BUCKETS * (TOP_BIT - SUB_BITS + 1) as usize;

/// A log-linear histogram of durations in microseconds: one atomic add per sample, a
/// fixed 1.9 KiB per app, percentiles within 12.5%.
#[derive(Debug)]
pub struct LatencyHistogram {
    counts: Box<[AtomicU64; BUCKETS]>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl LatencyHistogram {
    /// Counts one duration.
    pub fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// Every bucket's count now.
    pub fn counts(&self) -> Box<[u64; BUCKETS]> {
        Box::new(std::array::from_fn(|i| {
            self.counts[i].load(Ordering::Relaxed)
        }))
    }
}

/// The bucket `micros` is counted in.
fn bucket_of(micros: u64) -> usize {
    let micros = micros.min((1 << TOP_BIT) - 1);
    if micros < SUB_BUCKETS as u64 {
        return micros as usize;
    }
    let power = 63 - micros.leading_zeros();
    let sub = (micros >> (power - SUB_BITS)) as usize & (SUB_BUCKETS - 1);
    (power - SUB_BITS + 1) as usize * SUB_BUCKETS + sub
}

/// The range of microseconds bucket `index` counts: `[low, high)`.
fn bucket_range(index: usize) -> (u64, u64) {
    if index < SUB_BUCKETS {
        return (index as u64, index as u64 + 1);
    }
    let power = (index / SUB_BUCKETS) as u32 + SUB_BITS - 1;
    let width = 1u64 << (power - SUB_BITS);
    let low = (1u64 << power) + (index % SUB_BUCKETS) as u64 * width;
    (low, low + width)
}

/// The `quantile` (0–1) of the samples counted in `counts`, in milliseconds (the middle
/// of its bucket); `None` when there are none.
pub fn quantile_ms(counts: &[u64; BUCKETS], quantile: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the sample wanted, 1-based: the 99th of 100 samples is p99.
    let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    let index = counts
        .iter()
        .position(|&count| {
            seen += count;
            seen >= rank
        })
        .unwrap_or(BUCKETS - 1);
    let (low, high) = bucket_range(index);
    Some((low + high) as f64 / 2.0 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range_in_order() {
        let mut expected_low = 0;
        for index in 0..BUCKETS {
            let (low, high) = bucket_range(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert!(high > low);
            assert_eq!(bucket_of(low), index);
            assert_eq!(bucket_of(high - 1), index);
            // Each bucket is at most 1/8 of its values wide.
            assert!(
                (high - low) * 8 <= low.max(8),
                "bucket {index}: {low}..{high}"
            );
            expected_low = high;
        }
        assert_eq!(expected_low, 1 << TOP_BIT);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_land_in_the_right_bucket() {
        let histogram = LatencyHistogram::default();
        assert_eq!(quantile_ms(&histogram.counts(), 0.5), None);
        // 98 fast answers at 1 ms, two slow ones at 250 ms.
        for _ in 0..98 {
            histogram.record(Duration::from_millis(1));
        }
        histogram.record(Duration::from_millis(250));
        histogram.record(Duration::from_millis(250));
        let counts = histogram.counts();
        let p50 = quantile_ms(&counts, 0.5).unwrap();
        let p99 = quantile_ms(&counts, 0.99).unwrap();
        assert!((0.9..1.1).contains(&p50), "p50 {p50}");
        assert!((220.0..280.0).contains(&p99), "p99 {p99}");
        assert_eq!(quantile_ms(&counts, 0.98).unwrap(), p50);
    }
}
