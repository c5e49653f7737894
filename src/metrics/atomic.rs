//! [`AtomicHistograms`]: the lock-free set a client's link threads record
//! into, and the take that turns it into histograms.
//!
//! A client holds one [`AtomicHistograms`]: three arrays of `AtomicU32`
//! counters laid out bucket for bucket as an HdrHistogram with the
//! project's bounds (`histogram_of`: lowest 1 us, highest `MAX_US`, 2
//! significant digits, so 3,328 buckets of 4 bytes, 13 KB per histogram,
//! 39 KB per client). All its link threads record into it through an `Arc`:
//!
//! * **record** (hot path): the bucket index by HdrHistogram's own
//!   log-linear formula (`index_of`) and one `fetch_add(1, Relaxed)`
//!   (behind a plain load of the same counter, for saturation: below). No
//!   allocation, no lock, no waiting, nothing per link.
//! * **take** (the main thread, once a second for startup's status and once
//!   for the final report): every nonzero bucket is `swap(0)`ed and its count
//!   recorded into a fresh `Histogram<LinkCount>` at the bucket's value
//!   (`value_of`), which lands in the very same bucket, so the histogram
//!   is the one hdrhistogram would have built from the same values (the
//!   tests check this value by value, against hdrhistogram itself).
//!
//! **Nothing is lost or counted twice.** Each bucket is one atomic, and every
//! read-modify-write of one atomic (the links' `fetch_add`, the take's
//! `swap`) is ordered in that atomic's single modification order and reads
//! the value just before it, whatever the memory ordering. So an increment
//! either comes before the take's `swap` (and is in the value it returns) or
//! after it (and stays in the bucket for the next take). The take's first
//! plain `load` only skips buckets that read zero; an increment it does not
//! see is still in the bucket next time. The final take runs after every
//! link thread has been joined, which makes all their increments visible, so
//! it leaves nothing behind. What is not atomic is the *set*: one update's
//! three values may straddle two takes (latency in this one, corrected
//! latency in the next), as they could with per-link recorders; each
//! histogram is still exact over the run.
//!
//! **Counts cannot wrap.** A link records one update per round trip (at most
//! one a millisecond at the shortest `update_intervals`, 1 ms, under a
//! pacing schedule; as fast as round trips go in closed loop) and takes come
//! every second, so a bucket sees nowhere near 2^32 between two takes. But
//! takes only come when startup asks, and a startup suspended for a day
//! (Ctrl-Z reaches startup alone) while closed-loop clients run on could in
//! principle fill one bucket. So a bucket saturates: a record that finds it
//! at `SATURATED` (2^31 - 1) is dropped. The check is a load of the line
//! the `fetch_add` then writes; it is not atomic with it, so concurrent
//! records can pass it together, but at most one per link thread, far from
//! the 2^31 of headroom left below `u32::MAX`.
//!

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
/// `Arc`): links `record`, the main thread
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
