//! [`Snapshot`]: three histograms over one span of time, merged exactly;
//! its wire form (`messages::WireSnapshot`, the non-empty counters as text) and the
//! [`Percentiles`] the status line and the report print.

use std::fmt::Write as _;

use hdrhistogram::{Counter, Histogram};
use serde::{Deserialize, Serialize};

use super::{BUCKETS, histogram, histogram_of, index_of, value_of};
use crate::messages::WireSnapshot;

/// Three histograms covering the same span of time: 64-bit counts for
/// startup's run-long totals, `LinkCount` in a client.
#[derive(Clone)]
pub struct Snapshot<C: Counter = u64> {
    /// Send to ack.
    pub latency: Histogram<C>,
    /// Due to send.
    pub lateness: Histogram<C>,
    /// Due to ack.
    pub(crate) corrected: Histogram<C>,
}

impl<C: Counter> Default for Snapshot<C> {
    fn default() -> Self {
        Snapshot {
            latency: histogram_of(),
            lateness: histogram_of(),
            corrected: histogram_of(),
        }
    }
}

impl Snapshot {
    /// Adds another snapshot's samples (of any counter type) to this one.
    pub fn add<C: Counter>(&mut self, other: &Snapshot<C>) {
        add_into(&mut self.latency, &other.latency);
        add_into(&mut self.lateness, &other.lateness);
        add_into(&mut self.corrected, &other.corrected);
    }
}

/// `into += from`, widening the counts. Both have the project's bounds, so
/// every value fits; a count that did not would saturate, not fail.
fn add_into<C: Counter>(into: &mut Histogram<u64>, from: &Histogram<C>) {
    for v in from.iter_recorded() {
        let _ = into.record_n(v.value_iterated_to(), v.count_at_value().as_u64());
    }
}

impl<C: Counter> Snapshot<C> {
    /// The wire form used in clients' status lines.
    pub fn encode(&self) -> WireSnapshot {
        WireSnapshot {
            latency: encode(&self.latency),
            lateness: encode(&self.lateness),
            corrected: encode(&self.corrected),
        }
    }
}

impl WireSnapshot {
    /// Back to histograms; `None` if a field is not a valid histogram.
    pub fn decode(&self) -> Option<Snapshot> {
        Some(Snapshot {
            latency: decode(&self.latency)?,
            lateness: decode(&self.lateness)?,
            corrected: decode(&self.corrected)?,
        })
    }
}

/// One histogram's wire form: its non-empty counters as `GAP:COUNT`
/// pairs joined by `,`, where GAP is the counter's index ([`index_of`])
/// less the previous pair's (the first pair's is its index); "" when
/// empty. The project owns the bucket layout, so this is exact and needs
/// no serialization crate, and a second of a client's latencies (a few
/// dozen counters) is a few hundred bytes.
pub(super) fn encode<C: Counter>(h: &Histogram<C>) -> String {
    let mut text = String::new();
    let mut last = 0;
    for v in h.iter_recorded() {
        let index = index_of(v.value_iterated_to());
        let comma = if text.is_empty() { "" } else { "," };
        let _ = write!(
            text,
            "{comma}{}:{}",
            index - last,
            v.count_at_value().as_u64()
        );
        last = index;
    }
    text
}

/// [`encode`]'s inverse; `None` for text it cannot have written (a pair
/// that does not read, an index out of the layout or out of order).
fn decode(text: &str) -> Option<Histogram<u64>> {
    let mut h = histogram();
    if text.is_empty() {
        return Some(h);
    }
    let mut index = 0usize;
    for (n, pair) in text.split(',').enumerate() {
        let (gap, count) = pair.split_once(':')?;
        let gap: usize = gap.parse().ok()?;
        if n > 0 && gap == 0 {
            return None;
        }
        index = index.checked_add(gap).filter(|i| *i < BUCKETS)?;
        h.record_n(value_of(index), count.parse().ok()?).ok()?;
    }
    Some(h)
}

/// A histogram counted into fixed upper bounds of someone else's choosing
/// (Prometheus' `le` buckets): how many values lie at or below each bound,
/// how many in all, and their sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Cumulative {
    /// Values at or below each bound, in the bounds' order: each count
    /// includes the ones before it.
    pub(crate) at_or_below: Vec<u64>,
    /// Every value, the ones above the last bound included.
    pub(crate) count: u64,
    /// The values' sum, us: each counter's middle value times its count,
    /// as hdrhistogram's mean is made, so within the layout's 1%.
    pub(crate) sum_us: f64,
}

impl Cumulative {
    /// `h` counted into `bounds_us` (ascending, in us), in one pass over its
    /// non-empty counters. A counter whose lowest value is at or below a
    /// bound counts there: the layout tells values apart only to 1%, so a
    /// value up to 1% above a bound may count at it.
    pub(crate) fn of(h: &Histogram<u64>, bounds_us: &[u64]) -> Cumulative {
        let mut at_or_below = vec![0u64; bounds_us.len()];
        let mut sum_us = 0.0;
        for v in h.iter_recorded() {
            let (value, n) = (v.value_iterated_to(), v.count_at_value());
            sum_us += h.median_equivalent(value) as f64 * n as f64;
            let lowest = h.lowest_equivalent(value);
            if let Some(i) = bounds_us.iter().position(|&b| lowest <= b) {
                at_or_below[i] += n;
            }
        }
        // Per bound so far; each bound's count takes in the ones below it.
        let mut running = 0;
        for c in &mut at_or_below {
            running += *c;
            *c = running;
        }
        Cumulative {
            at_or_below,
            count: h.len(),
            sum_us,
        }
    }
}

/// The percentiles every report shows, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub(crate) p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value seen.
    pub max: u64,
}

impl Percentiles {
    /// Percentiles of a histogram (all zero when it is empty).
    pub fn of<C: Counter>(h: &Histogram<C>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}
