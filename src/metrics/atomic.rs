//! [`AtomicHistograms`]: the lock-free set a client's link threads record
//! into, and the take that turns it into histograms (see the room's map in
//! `metrics` for why nothing is lost or counted twice).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{BUCKETS, LinkCount, SATURATED, Snapshot, histogram_of, index_of, value_of};

/// One histogram's counters, recorded into by any number of threads at once.
pub(super) struct AtomicHistogram {
    pub(super) counts: Box<[AtomicU32; BUCKETS]>,
}

impl AtomicHistogram {
    pub(super) fn new() -> AtomicHistogram {
        let counts: Box<[AtomicU32]> = (0..BUCKETS).map(|_| AtomicU32::new(0)).collect();
        AtomicHistogram {
            counts: counts.try_into().expect("BUCKETS counters"),
        }
    }

    /// Counts `value` (microseconds) in its bucket.
    #[inline]
    pub(super) fn record(&self, value: u64) {
        let count = &self.counts[index_of(value)];
        if count.load(Ordering::Relaxed) < SATURATED {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Moves every count recorded since the last take into a histogram.
    pub(super) fn take(&self) -> Histogram<LinkCount> {
        let mut h = histogram_of();
        for (i, count) in self.counts.iter().enumerate() {
            // Most buckets are empty: a load skips them without writing.
            if count.load(Ordering::Relaxed) != 0 {
                let n = count.swap(0, Ordering::Relaxed);
                // value_of(i) is inside the counts array: never clamped.
                h.saturating_record_n(value_of(i), n);
            }
        }
        h
    }
}

/// A client's three histograms, shared by all its link threads (in an
/// `Arc`): links [`record`](Self::record), the main thread
/// [`take`](Self::take)s. See the module documentation.
pub struct AtomicHistograms {
    latency: AtomicHistogram,
    lateness: AtomicHistogram,
    corrected: AtomicHistogram,
}

impl Default for AtomicHistograms {
    fn default() -> Self {
        AtomicHistograms {
            latency: AtomicHistogram::new(),
            lateness: AtomicHistogram::new(),
            corrected: AtomicHistogram::new(),
        }
    }
}

impl AtomicHistograms {
    /// Records one update's three measurements: three relaxed increments.
    #[inline]
    pub fn record(&self, latency: Duration, lateness: Duration, corrected: Duration) {
        self.latency.record(micros(latency));
        self.lateness.record(micros(lateness));
        self.corrected.record(micros(corrected));
    }

    /// Everything recorded since the last take, leaving the counters at
    /// zero. A record racing the take is in this take or the next one.
    pub fn take(&self) -> Snapshot<LinkCount> {
        Snapshot {
            latency: self.latency.take(),
            lateness: self.lateness.take(),
            corrected: self.corrected.take(),
        }
    }
}

fn micros(d: Duration) -> u64 {
    // The histogram's lowest value is 1 us; a faster round trip counts as 1.
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}
