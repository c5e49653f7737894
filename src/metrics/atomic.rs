//! [`AtomicHistograms`]: the lock-free set a client's link threads record
//! into, and the take that turns it into histograms.
//!
//! Three arrays of `AtomicU32` laid out bucket for bucket as an HdrHistogram
//! with the project's bounds (3,328 buckets, 13 KB per histogram). A
//! **record** finds the bucket by HdrHistogram's own log-linear formula
//! (`index_of`) and makes one relaxed `fetch_add`: no allocation, no lock.
//! A **take** `swap(0)`s every nonzero bucket and records its count at the
//! bucket's value (`value_of`), which lands in the very same bucket: the
//! histogram hdrhistogram would have built from the same values (the tests
//! check this value by value, against hdrhistogram itself).
//!
//! **Nothing is lost or counted twice.** Every read-modify-write of one
//! atomic (a `fetch_add`, the take's `swap`) is ordered in that atomic's
//! single modification order, whatever the memory ordering: an increment
//! is in the value a `swap` returns, or stays in the bucket for the next
//! take. The final take runs after every link thread has been joined, so it
//! leaves nothing behind. One update's three values may straddle two takes;
//! each histogram is still exact over the run.
//!
//! **Counts cannot wrap.** Takes come every second, but only when startup
//! asks, and a startup suspended for a day (Ctrl-Z) while closed-loop
//! clients run on could fill a bucket. So a bucket saturates: a record that
//! finds it at `SATURATED` (2^31 - 1) is dropped. The check is a plain load,
//! not atomic with the `fetch_add`, so records can pass it together, but at
//! most one per link thread, far within the 2^31 left below `u32::MAX`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{BUCKETS, LinkCount, SATURATED, Snapshot, histogram_of, index_of, value_of};

/// One histogram's counters, recorded into by any number of threads at once.
pub(super) struct AtomicHistogram {
    pub(super) counts: Box<[AtomicU32; BUCKETS]>,
}

impl Default for AtomicHistogram {
    fn default() -> AtomicHistogram {
        let counts: Box<[AtomicU32]> = (0..BUCKETS).map(|_| AtomicU32::new(0)).collect();
        AtomicHistogram {
            counts: counts.try_into().expect("BUCKETS counters"),
        }
    }
}

impl AtomicHistogram {
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
            // Most buckets are empty: a load skips them without writing (an
            // increment it misses stays for the next take).
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
/// `Arc`): links `record`, the main thread
/// [`take`](Self::take)s. See the module documentation.
#[derive(Default)]
pub struct AtomicHistograms {
    latency: AtomicHistogram,
    lateness: AtomicHistogram,
    corrected: AtomicHistogram,
}

impl AtomicHistograms {
    /// Records one update's three measurements: three relaxed increments.
    #[inline]
    pub(crate) fn record(&self, latency: Duration, lateness: Duration, corrected: Duration) {
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
