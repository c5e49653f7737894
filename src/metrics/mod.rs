//! Latency and lateness histograms: one lock-free set per client, shared by
//! its link threads.
//!
//! Three things are measured for every update, in microseconds, into
//! HdrHistograms (2 significant digits, so within 1%, from 1 us to 1 hour):
//!
//! * **latency**: send to ack, what the link saw;
//! * **lateness**: due time to send. Under fixed rate, how far the schedule
//!   slipped; under fixed delay, how much the sleep overshot;
//! * **corrected latency**: due time to ack, as wrk2 reports it. When a stall
//!   delays the sends queued behind it, plain latency only sees the one slow
//!   round trip ("coordinated omission"); measuring from the due time charges
//!   the stall to every update it delayed.
//!
//! A client's link threads record into one [`AtomicHistograms`] (39 KB,
//! one relaxed `fetch_add` per value); its main thread takes them into real
//! histograms once a second. Why one set per client and not one histogram
//! per link (it halved a client's memory): docs/DECISIONS.md, "Histograms:
//! one atomic set per client". Histograms travel from clients to startup
//! as their non-empty counters (`snapshot`'s `encode`), so startup merges
//! exact distributions, never averages of percentiles.
//!
//! This file holds the bucket layout both sides share (`index_of`,
//! `value_of`, `histogram_of`) and the tests of the whole room; `atomic`
//! the links' set, `snapshot` its wire form and [`Percentiles`].

use hdrhistogram::{Counter, Histogram};
mod atomic;
mod snapshot;

pub use atomic::AtomicHistograms;
pub(crate) use snapshot::Cumulative;
pub use snapshot::{Percentiles, Snapshot};

/// Lowest value told apart, in microseconds; a faster round trip counts as 1.
const LOWEST_US: u64 = 1;

/// Largest value tracked, in microseconds (one hour); larger ones saturate.
pub(crate) const MAX_US: u64 = 3_600_000_000;

/// Significant decimal digits kept: every value within 1%.
const SIGNIFICANT_DIGITS: u32 = 2;

/// The counter type of a client's histograms. A client records one value per
/// measurement per acked update and takes its histograms every second, so
/// 32 bits do not overflow between two takes (and the atomic buckets
/// saturate rather than wrap if takes stop: [`SATURATED`]); they halve the
/// histograms. startup merges into 64-bit histograms for whole runs.
pub(crate) type LinkCount = u32;

// HdrHistogram's bucket layout for [`LOWEST_US`], [`MAX_US`] and
// [`SIGNIFICANT_DIGITS`], derived exactly as `Histogram::new_with_bounds`
// derives it (the tests compare every constant with hdrhistogram's).

/// log2 of the lowest value: the unit every bucket counts in (0: 1 us).
const UNIT_MAGNITUDE: u32 = LOWEST_US.ilog2();
/// Single-unit resolution must reach 2 x 10^digits (200), so a bucket has
/// the next power of two of sub-buckets: 2^8 = 256.
const SUB_BUCKET_COUNT_MAGNITUDE: u32 = (2 * 10u64.pow(SIGNIFICANT_DIGITS) - 1).ilog2() + 1;
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = SUB_BUCKET_COUNT_MAGNITUDE - 1;
const SUB_BUCKET_COUNT: u64 = 1 << SUB_BUCKET_COUNT_MAGNITUDE;
const SUB_BUCKET_HALF_COUNT: usize = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (SUB_BUCKET_COUNT - 1) << UNIT_MAGNITUDE;
/// Leading zeros of the largest value of bucket 0, minus one per bucket.
const LEADING_ZERO_COUNT_BASE: u32 = 64 - UNIT_MAGNITUDE - SUB_BUCKET_COUNT_MAGNITUDE;

/// Buckets (each twice the span of the one before) needed to reach `high`:
/// hdrhistogram's `buckets_to_cover`.
const fn buckets_to_cover(high: u64) -> usize {
    let mut smallest_untrackable = SUB_BUCKET_COUNT << UNIT_MAGNITUDE;
    let mut buckets = 1;
    while smallest_untrackable <= high {
        if smallest_untrackable > u64::MAX / 2 {
            return buckets + 1;
        }
        smallest_untrackable <<= 1;
        buckets += 1;
    }
    buckets
}

/// Counters in one histogram: the top half of each bucket's sub-buckets,
/// plus the bottom half of bucket 0 (3,328 for the project's bounds).
pub(crate) const BUCKETS: usize = (buckets_to_cover(MAX_US) + 1) * SUB_BUCKET_HALF_COUNT;

/// The counter index of `value` in a histogram with the project's bounds, as
/// hdrhistogram's `saturating_record` computes it: log-linear, 256
/// sub-buckets per power of two. A value past the last counter (above
/// `u32::MAX` us; values between [`MAX_US`] and that still have counters of
/// their own, as in hdrhistogram) counts as [`MAX_US`].
#[inline]
pub(crate) const fn index_of(value: u64) -> usize {
    let i = raw_index(value);
    if i < BUCKETS { i } else { raw_index(MAX_US) }
}

#[inline]
const fn raw_index(value: u64) -> usize {
    // How many powers of two the value is above what bucket 0 holds; the
    // mask sends every value below 256 to bucket 0.
    let bucket = LEADING_ZERO_COUNT_BASE - (value | SUB_BUCKET_MASK).leading_zeros();
    // In [128, 256) for buckets above 0, in [0, 256) for bucket 0.
    let sub_bucket = (value >> (bucket + UNIT_MAGNITUDE)) as usize;
    ((bucket as usize + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub_bucket - SUB_BUCKET_HALF_COUNT
}

/// The lowest value counted at `index` (the inverse of [`index_of`] up to
/// the bucket's width): recording it into a histogram with the project's
/// bounds lands at `index`.
pub(crate) const fn value_of(index: usize) -> u64 {
    let bucket_plus_one = index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE;
    let low_bits = (index & (SUB_BUCKET_HALF_COUNT - 1)) as u64;
    let (bucket, sub_bucket) = if bucket_plus_one == 0 {
        // The bottom half of bucket 0.
        (0, low_bits)
    } else {
        (
            bucket_plus_one as u32 - 1,
            low_bits + SUB_BUCKET_HALF_COUNT as u64,
        )
    };
    sub_bucket << (bucket + UNIT_MAGNITUDE)
}

/// A bucket at this count takes no more records until the next take: half
/// of `u32::MAX`, so records racing past the check cannot wrap it.
pub(crate) const SATURATED: u32 = u32::MAX / 2;

/// A new empty histogram with the project's bounds.
pub(crate) fn histogram() -> Histogram<u64> {
    histogram_of()
}

/// A new empty histogram with the project's bounds and counter type `C`.
pub(crate) fn histogram_of<C: Counter>() -> Histogram<C> {
    // Two significant digits keep a histogram near 26 KB (13 KB with u32
    // counts); 3 digits (~200 KB each) would dwarf the rest of a client.
    // 1% is well inside what scheduling noise moves a percentile.
    Histogram::new_with_bounds(LOWEST_US, MAX_US, SIGNIFICANT_DIGITS as u8)
        .expect("constant bounds are valid")
}

#[cfg(test)]
mod tests {
    use super::atomic::AtomicHistogram;
    use super::snapshot::encode;
    use super::*;
    use crate::messages::WireSnapshot;
    use std::sync::atomic::Ordering;
    use std::thread;
    use std::time::Duration;

    /// Values across the whole range: every value up to 4,096, each power
    /// of two and its neighbours, the bounds and past them, and a
    /// log-uniform pseudo-random sweep.
    fn test_values() -> Vec<u64> {
        let mut values: Vec<u64> = (0..=4096).collect();
        for shift in 0..64 {
            let p = 1u64 << shift;
            values.extend([p - 1, p, p + 1, p.saturating_add(p / 2)]);
        }
        values.extend([
            255,
            256,
            257,
            MAX_US - 1,
            MAX_US,
            MAX_US + 1,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::MAX - 1,
            u64::MAX,
        ]);
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200_000 {
            // xorshift64, then a random bit length so every magnitude is hit.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bits = (x % 40) as u32;
            values.push((x >> 24) & ((1u64 << bits) - 1));
        }
        values
    }

    #[test]
    fn the_layout_is_hdrhistograms() {
        let h = histogram_of::<LinkCount>();
        assert_eq!(h.distinct_values(), BUCKETS);
        assert_eq!(BUCKETS, 3328);
        assert_eq!(usize::from(h.buckets()), buckets_to_cover(MAX_US));
        assert_eq!(SUB_BUCKET_COUNT, 256);
        assert_eq!(UNIT_MAGNITUDE, 0);
        // Every counter's value, as hdrhistogram iterates them.
        let all: Vec<u64> = h.iter_all().map(|v| v.value_iterated_to()).collect();
        assert_eq!(all.len(), BUCKETS);
        for (i, &top) in all.iter().enumerate() {
            let v = value_of(i);
            assert_eq!(h.highest_equivalent(v), top, "index {i}");
            assert_eq!(
                h.lowest_equivalent(v),
                v,
                "index {i}: not a bucket's lowest"
            );
            assert_eq!(index_of(v), i, "index {i}");
            assert_eq!(index_of(top), i, "index {i}");
        }
    }

    #[test]
    fn every_value_lands_in_hdrhistograms_bucket() {
        let h = histogram_of::<LinkCount>();
        // Past the last counter hdrhistogram's saturating_record clamps to
        // the highest trackable value; below it, every value has a counter.
        let top = h.highest_equivalent(value_of(BUCKETS - 1));
        assert_eq!(top, u64::from(u32::MAX));
        for v in test_values() {
            let back = value_of(index_of(v));
            let expected = if v <= top { v } else { MAX_US };
            assert!(h.equivalent(expected, back), "{v} -> {back}");
        }
        assert_eq!(index_of(0), 0);
        assert_eq!(index_of(1), 1);
        assert_eq!(index_of(255), 255);
        assert_eq!(index_of(256), 256);
        assert_eq!(index_of(257), 256); // 256 and 257 share a 2-wide bucket
        assert_eq!(index_of(258), 257);
        assert_eq!(index_of(u64::MAX), index_of(MAX_US));
    }

    /// `values` recorded by hdrhistogram and through the atomic histogram
    /// give the same histogram: counts, total, min, max, percentiles, mean
    /// and the serialized bytes.
    fn assert_same_both_ways(values: &[u64]) {
        let mut direct = histogram_of::<LinkCount>();
        let atomic = AtomicHistogram::default();
        for &v in values {
            direct.saturating_record(v);
            atomic.record(v);
        }
        let taken = atomic.take();
        assert!(taken == direct);
        assert_eq!(taken.len(), values.len() as u64);
        assert_eq!(Percentiles::of(&taken), Percentiles::of(&direct));
        assert_eq!(taken.min(), direct.min());
        assert_eq!(taken.mean(), direct.mean());
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            assert_eq!(taken.value_at_quantile(q), direct.value_at_quantile(q));
        }
        assert_eq!(encode(&taken), encode(&direct));
        assert!(atomic.take().is_empty(), "a take leaves zeros");
    }

    #[test]
    fn a_histogram_built_both_ways_is_identical() {
        assert_same_both_ways(&test_values());
        assert_same_both_ways(&[]);
        assert_same_both_ways(&[1, 1, 1, 300, 300, MAX_US, MAX_US + 1, u64::MAX]);
    }

    proptest::proptest! {
        #[test]
        fn any_values_give_the_same_histogram_both_ways(
            small in proptest::collection::vec(0u64..100_000, 0..200),
            wide in proptest::collection::vec(proptest::num::u64::ANY, 0..50),
            near_max in proptest::collection::vec(MAX_US - 1_000_000..MAX_US + 1_000_000_000, 0..50),
        ) {
            let mut values = small;
            values.extend(wide);
            values.extend(near_max);
            assert_same_both_ways(&values);
        }
    }

    #[test]
    fn links_record_concurrently_and_takes_lose_nothing() {
        let shared = std::sync::Arc::new(AtomicHistograms::default());
        let handles: Vec<_> = (0..4u64)
            .map(|i| {
                let h = shared.clone();
                thread::spawn(move || {
                    for v in 1..=50_000u64 {
                        h.record(
                            Duration::from_micros(v % 1000 * (i + 1)),
                            Duration::from_micros(5),
                            Duration::from_nanos(v * (i + 1) * 1000 + 5000),
                        );
                    }
                })
            })
            .collect();
        // Take while they record, as the main thread does.
        let mut total = Snapshot::default();
        while !handles.iter().all(|h| h.is_finished()) {
            total.add(&shared.take());
        }
        for h in handles {
            h.join().unwrap();
        }
        total.add(&shared.take());
        assert_eq!(total.latency.len(), 200_000);
        assert_eq!(total.lateness.len(), 200_000);
        assert_eq!(total.corrected.len(), 200_000);
        assert_eq!(total.lateness.max(), 5);
        // The same values recorded into one histogram, directly.
        let mut direct = histogram();
        for i in 0..4u64 {
            for v in 1..=50_000u64 {
                direct.saturating_record((v % 1000 * (i + 1)).max(1));
            }
        }
        assert!(total.latency == direct);
        // A take after everything was taken is empty.
        assert_eq!(shared.take().latency.len(), 0);
    }

    #[test]
    fn a_full_bucket_saturates_instead_of_wrapping() {
        let h = AtomicHistogram::default();
        h.counts[index_of(1000)].store(SATURATED - 1, Ordering::Relaxed);
        for _ in 0..5 {
            h.record(1000);
        }
        h.record(2000);
        let taken = h.take();
        assert_eq!(taken.count_at(1000), SATURATED);
        assert_eq!(taken.count_at(2000), 1);
        // Emptied by the take, the bucket counts again.
        h.record(1000);
        assert_eq!(h.take().count_at(1000), 1);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = histogram();
        for v in 1..=10_000u64 {
            h.record(v).unwrap();
        }
        let p = Percentiles::of(&h);
        // HdrHistogram with 2 significant digits: within 1%.
        let near =
            |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.01 + 1.0;
        assert!(near(p.p50, 5_000), "{p:?}");
        assert!(near(p.p90, 9_000), "{p:?}");
        assert!(near(p.p99, 9_900), "{p:?}");
        assert!(near(p.p999, 9_990), "{p:?}");
        assert!(near(p.max, 10_000), "{p:?}");
        assert_eq!(Percentiles::of(&histogram()), Percentiles::default());
    }

    #[test]
    fn wire_round_trip() {
        let mut snap = Snapshot::<u64>::default();
        for v in [1u64, 10, 100, 1000, 123_456, MAX_US] {
            snap.latency.record(v).unwrap();
            snap.corrected.record(v + 1).unwrap();
        }
        let back = snap.encode().decode().unwrap();
        assert!(back.latency == snap.latency && back.corrected == snap.corrected);
        assert_eq!((back.latency.len(), back.lateness.len()), (6, 0));
        for bad in [
            "zz", "1", "1:", ":1", "5:1,0:1", "3328:1", "1:-1", "1:1,,2:1",
        ] {
            let bad = WireSnapshot {
                latency: bad.into(),
                ..WireSnapshot::default()
            };
            assert!(bad.decode().is_none(), "{:?} decoded", bad.latency);
        }
        // Every counter of the layout, each with a count of its own,
        // comes back exactly.
        let mut all = Snapshot::<LinkCount>::default();
        for index in 0..BUCKETS {
            all.lateness
                .record_n(value_of(index), index as u32 + 1)
                .unwrap();
        }
        let back = all.encode().decode().unwrap();
        assert_eq!(back.lateness.len(), all.lateness.len());
        let sent: Vec<(u64, u64)> = all
            .lateness
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), u64::from(v.count_at_value())))
            .collect();
        let got: Vec<(u64, u64)> = back
            .lateness
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        assert_eq!(got, sent);
    }

    #[test]
    fn a_histogram_counts_into_fixed_bounds_cumulatively() {
        let mut h = histogram();
        for (value, n) in [(0, 2), (40, 3), (50, 1), (51, 4), (900, 5), (5_000_000, 6)] {
            h.record_n(value, n).unwrap();
        }
        let c = Cumulative::of(&h, &[50, 100, 1_000]);
        // 0, 40 and 50 at or below 50 (inclusive, as Prometheus' `le`).
        assert_eq!(c.at_or_below, vec![6, 10, 15]);
        assert_eq!(c.count, 21, "the values above every bound count too");
        let exact = (40 * 3 + 50 + 51 * 4 + 900 * 5 + 5_000_000 * 6) as f64;
        assert!((c.sum_us - exact).abs() <= exact * 0.01, "{}", c.sum_us);
        // A bound inside a counter's span (1,000 is in 1,000-1,003):
        // the counter counts at the bound.
        let mut h = histogram();
        h.record(1_002).unwrap();
        assert_eq!(Cumulative::of(&h, &[1_000]).at_or_below, vec![1]);
        let empty = Cumulative::of(&histogram(), &[1, 2]);
        assert_eq!((empty.at_or_below, empty.count), (vec![0, 0], 0));
    }
}
