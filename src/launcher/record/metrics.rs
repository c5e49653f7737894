//! What `/metrics` serves, as plain data: the monitor builds one
//! [`MetricsSample`] per status round (and one more once the clients have
//! stopped, with their final counts), and the HTTP thread turns the latest
//! into Prometheus' text only when it is scraped (`dashboard::prometheus`).
//!
//! A sample is a few dozen numbers: the run's cumulative counters, its
//! histograms already counted into [`BOUNDS_US`] (a sample never carries
//! a histogram), and every kind of process's CPU and memory. Building it
//! costs startup's main thread one pass over the run's two histograms'
//! non-empty counters per round; rendering costs it nothing.

use crate::messages::ErrorKinds;
use crate::metrics::Cumulative;

/// The latency and lateness buckets' upper bounds, us: 50 us to a minute,
/// about three to a decade, so a loopback round trip (tens of us) and a
/// stalled generator (seconds) both land in buckets that tell them apart.
/// Fixed for the whole run: Prometheus sums buckets across scrapes and
/// hosts only when every `le` is the same.
pub(crate) const BOUNDS_US: [u64; 19] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// One figure for each kind of process on this host.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ByKind<T> {
    /// This host's servers, summed.
    pub(crate) server: T,
    /// This host's clients, summed.
    pub(crate) client: T,
    /// startup itself (the monitor, the dashboard).
    pub(crate) startup: T,
}

impl<T: Copy> ByKind<T> {
    /// The figures with the kind's name, as the `kind` label spells it.
    pub(crate) fn named(&self) -> [(&'static str, T); 3] {
        [
            ("server", self.server),
            ("client", self.client),
            ("startup", self.startup),
        ]
    }
}

/// The run's figures as of one status round, for `/metrics`.
///
/// Counters are the fleet's since the start of the run, a client that
/// died included (its last answer stays counted), so they never go down
/// while the run lasts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct MetricsSample {
    /// Acked updates per second now: the status line's rate; 0 once the
    /// clients have stopped.
    pub(crate) rate: f64,
    /// Links connected.
    pub(crate) links_up: u64,
    /// The run so far breaks the saturation rule (the status line's
    /// `SATURATED`).
    pub(crate) saturated: bool,
    /// Updates sent.
    pub(crate) sent: u64,
    /// Updates acked.
    pub(crate) acked: u64,
    /// Updates sent after their due time (fixed rate only; the status
    /// line's `late`).
    pub(crate) late: u64,
    /// Ticks dropped for falling more than `max_lag_ms` behind.
    pub(crate) dropped: u64,
    /// Times a link was established again after it was lost.
    pub(crate) reconnects: u64,
    /// Errors, by what went wrong.
    pub(crate) errors: ErrorKinds,
    /// Send to ack over the run so far, counted into [`BOUNDS_US`].
    pub(crate) latency: Cumulative,
    /// Due to send over the run so far, counted into [`BOUNDS_US`].
    pub(crate) lateness: Cumulative,
    /// CPU seconds used, each process since it started (a process that
    /// exited keeps what it used).
    pub(crate) cpu_s: ByKind<f64>,
    /// Resident memory of the processes alive at their latest reading.
    pub(crate) rss_bytes: ByKind<u64>,
}
