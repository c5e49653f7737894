//! Latency and lateness histograms, recorded per link without a lock.
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
//! Each link thread owns a [`LinkRecorders`] (hdrhistogram's `sync::Recorder`:
//! a thread-local histogram plus an atomic phase check per record). The
//! client's main thread owns the matching [`ClientHistograms`]; when it
//! collects, it bumps the phase and each link hands over its local histogram
//! through a channel on its next record. The hot path never takes a lock and
//! never waits for the main thread.
//!
//! Histograms travel from clients to startup serialized (HdrHistogram's V2
//! format, hex-encoded) so startup merges exact distributions, never
//! averages of percentiles.

use std::time::Duration;

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::sync::{Recorder, SyncHistogram};
use hdrhistogram::{Counter, Histogram};
use serde::{Deserialize, Serialize};

/// Largest value tracked, in microseconds (one hour); larger ones saturate.
const MAX_US: u64 = 3_600_000_000;

/// The counter type of a client's histograms. A link records 100 updates a
/// second at the seed's interval and hands its histograms over every second,
/// so 32 bits cannot overflow there; they halve the histograms, the largest
/// part of a client's private memory (3 per link, plus hand-over copies).
/// startup merges into 64-bit histograms for whole runs.
pub type LinkCount = u32;

/// A new empty histogram with the project's bounds.
pub fn histogram() -> Histogram<u64> {
    histogram_of()
}

/// A new empty histogram with the project's bounds and counter type `C`.
pub fn histogram_of<C: Counter>() -> Histogram<C> {
    // Two significant digits keep a histogram near 26 KB (13 KB with u32
    // counts): a client holds a few per link, and 3 digits (~200 KB each)
    // would dwarf the rest of the process. 1% is well inside what
    // scheduling noise moves a percentile.
    Histogram::new_with_bounds(1, MAX_US, 2).expect("constant bounds are valid")
}

/// One link's recorders.
pub struct LinkRecorders {
    latency: Recorder<LinkCount>,
    lateness: Recorder<LinkCount>,
    corrected: Recorder<LinkCount>,
}

impl LinkRecorders {
    /// Records one update's three measurements.
    pub fn record(&mut self, latency: Duration, lateness: Duration, corrected: Duration) {
        self.latency.saturating_record(micros(latency));
        self.lateness.saturating_record(micros(lateness));
        self.corrected.saturating_record(micros(corrected));
    }
}

fn micros(d: Duration) -> u64 {
    // The histogram's lowest value is 1 us; a faster round trip counts as 1.
    (d.as_micros() as u64).max(1)
}

/// The client-wide side: collects what the links recorded.
pub struct ClientHistograms {
    latency: SyncHistogram<LinkCount>,
    lateness: SyncHistogram<LinkCount>,
    corrected: SyncHistogram<LinkCount>,
}

/// Three histograms covering the same span of time: 64-bit counts for
/// startup's run-long totals, [`LinkCount`] in a client.
#[derive(Clone)]
pub struct Snapshot<C: Counter = u64> {
    /// Send to ack.
    pub latency: Histogram<C>,
    /// Due to send.
    pub lateness: Histogram<C>,
    /// Due to ack.
    pub corrected: Histogram<C>,
}

impl Default for ClientHistograms {
    fn default() -> Self {
        ClientHistograms {
            latency: histogram_of().into_sync(),
            lateness: histogram_of().into_sync(),
            corrected: histogram_of().into_sync(),
        }
    }
}

impl ClientHistograms {
    /// Recorders for one more link.
    pub fn recorders(&self) -> LinkRecorders {
        LinkRecorders {
            latency: self.latency.recorder(),
            lateness: self.lateness.recorder(),
            corrected: self.corrected.recorder(),
        }
    }

    /// Everything recorded since the last call. Links that do not record
    /// within `wait` (asleep until a distant due time, or blocked on an ack)
    /// hand their samples over at the next call: late, never lost.
    pub fn take(&mut self, wait: Duration) -> Snapshot<LinkCount> {
        Snapshot {
            latency: take_one(&mut self.latency, wait),
            lateness: take_one(&mut self.lateness, wait),
            corrected: take_one(&mut self.corrected, wait),
        }
    }
}

fn take_one(h: &mut SyncHistogram<LinkCount>, wait: Duration) -> Histogram<LinkCount> {
    h.refresh_timeout(wait);
    let empty = Histogram::new_from(&**h);
    std::mem::replace(&mut **h, empty)
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

/// A [`Snapshot`] as hex strings of V2-serialized histograms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireSnapshot {
    /// Send to ack.
    pub latency: String,
    /// Due to send.
    pub lateness: String,
    /// Due to ack.
    pub corrected: String,
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

fn encode<C: Counter>(h: &Histogram<C>) -> String {
    let mut bytes = Vec::new();
    if V2Serializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 15)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn decode(hex: &str) -> Option<Histogram<u64>> {
    if hex.is_empty() {
        return Some(histogram());
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bytes: Option<Vec<u8>> = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
            _ => None,
        })
        .collect();
    let decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes?.as_slice())
        .ok()?;
    // Re-home the samples in a histogram with our bounds, so later adds fit.
    let mut h = histogram();
    h.add(&decoded).ok()?;
    Some(h)
}

/// The percentiles every report shows, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn links_record_without_locks_and_the_client_collects_everything() {
        let mut client = ClientHistograms::default();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let mut r = client.recorders();
                thread::spawn(move || {
                    for v in 1..=1000u64 {
                        r.record(
                            Duration::from_micros(v * (i + 1)),
                            Duration::from_micros(5),
                            Duration::from_micros(v * (i + 1) + 5),
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Dropped recorders hand over what they had.
        let snap = client.take(Duration::from_millis(100));
        assert_eq!(snap.latency.len(), 4000);
        assert_eq!(snap.lateness.len(), 4000);
        assert_eq!(snap.lateness.max(), 5);
        assert!(snap.latency.equivalent(snap.latency.max(), 4000));
        // A second take starts from empty.
        assert_eq!(client.take(Duration::from_millis(1)).latency.len(), 0);
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
    fn merging_equals_recording_into_one() {
        let (mut a, mut b, mut both) = (histogram(), histogram(), histogram());
        for v in 1..500u64 {
            a.record(v * 3).unwrap();
            both.record(v * 3).unwrap();
        }
        for v in 1..50u64 {
            b.record(v * 1000).unwrap();
            both.record(v * 1000).unwrap();
        }
        let mut merged = Snapshot {
            latency: a,
            ..Snapshot::default()
        };
        merged.add(&Snapshot {
            latency: b,
            ..Snapshot::default()
        });
        assert_eq!(Percentiles::of(&merged.latency), Percentiles::of(&both));
        assert_eq!(merged.latency.len(), both.len());
    }

    #[test]
    fn wire_round_trip() {
        let mut snap = Snapshot::<u64>::default();
        for v in [1u64, 10, 100, 1000, 123_456, MAX_US] {
            snap.latency.record(v).unwrap();
            snap.corrected.record(v + 1).unwrap();
        }
        let back = snap.encode().decode().unwrap();
        assert_eq!(back.latency.len(), 6);
        assert_eq!(
            Percentiles::of(&back.latency),
            Percentiles::of(&snap.latency)
        );
        assert_eq!(
            Percentiles::of(&back.corrected),
            Percentiles::of(&snap.corrected)
        );
        assert_eq!(back.lateness.len(), 0);
        let bad = WireSnapshot {
            latency: "zz".into(),
            ..WireSnapshot::default()
        };
        assert!(bad.decode().is_none());
    }
}
