//! CSV rows: one row of the soak CSV (`--samples`) per `--sample-every`,
//! built from the latest status answers and the latest resource samples.
//!
//! [`Rows`] owns the writer, the histograms of the sample under way and the
//! running totals at the last row: a row shows what happened since it. Its
//! rate is the updates acked since the last row over the time since it, so
//! the rows' rates times their lengths add up to the run's acked updates
//! exactly (a rate meter that kept a slow client's last rate counted some
//! updates twice on a saturated machine). Rows are written on their own
//! ticker, not when a status round closes: on a saturated machine that
//! delays the clients' answers, the rows keep their rhythm and use the
//! answers that came.
//!
//! Written on startup's main thread like everything in the monitor, and
//! appended row by row (see `samples.rs`), so a crash loses at most one.

use std::path::Path;
use std::time::Instant;

use super::resources::{Reader, Resources};
use super::rounds::Rounds;
use crate::error::Result;
use crate::launcher::samples::{Row, SampleWriter};
use crate::metrics::{Percentiles, Snapshot};

/// The running totals of the last CSV row, and its time on the run's clock.
#[derive(Default, Clone, Copy)]
struct Mark {
    at_s: f64,
    acked: u64,
    late: u64,
    errors: u64,
    reconnects: u64,
    dropped: u64,
}

/// The soak CSV, if the run writes one.
pub(super) struct Rows {
    /// `None` when the run writes no CSV, or after a write failed.
    writer: Option<SampleWriter>,
    /// The schedule's target, on every row.
    target: f64,
    /// The running totals when the last row was written.
    last: Mark,
    /// The histograms of what happened since the last row.
    sample: Snapshot,
}

impl Rows {
    /// Opens the CSV at `path` (no CSV if `None`); `target` is the rate
    /// every row compares against.
    ///
    /// # Errors
    /// The file cannot be opened, or is another program's CSV.
    pub(super) fn open(path: Option<&Path>, target: f64) -> Result<Rows> {
        let writer = match path {
            Some(path) => Some(SampleWriter::open(path)?),
            None => None,
        };
        Ok(Rows {
            writer,
            target,
            last: Mark::default(),
            sample: Snapshot::default(),
        })
    }

    /// True if rows are (still) being written.
    pub(super) fn is_on(&self) -> bool {
        self.writer.is_some()
    }

    /// Adds the histograms of one answer to the sample's.
    pub(super) fn add(&mut self, snapshot: &Snapshot) {
        self.sample.add(snapshot);
    }

    /// The run's clock starts (the go): the first row counts from zero.
    pub(super) fn at_go(&mut self) {
        self.last = Mark::default();
    }

    /// A client died having acked `acked` at its last answer: the totals
    /// lose it from now on, so the last row's mark does too (what it acked
    /// since that row still counts in the next).
    pub(super) fn forget(&mut self, acked: u64) {
        self.last.acked = self.last.acked.saturating_sub(acked);
    }

    /// Writes one row: the fleet's counters as of the latest answers in
    /// `rounds`, the children's CPU and memory from `resources`, the time on
    /// the run's clock `started`. A failed write is reported once and ends
    /// the CSV, not the run.
    pub(super) fn write(&mut self, rounds: &Rounds, resources: &mut Resources, started: Instant) {
        if self.writer.is_none() {
            return;
        }
        let now = Instant::now();
        let mark = self.last;
        let t = rounds.totals();
        let usage = resources.since(Reader::Row);
        let held = resources.held();
        let sample = std::mem::take(&mut self.sample);
        let (lat, late) = (
            Percentiles::of(&sample.latency),
            Percentiles::of(&sample.lateness),
        );
        let time_s = now.duration_since(started).as_secs_f64();
        let span = time_s - mark.at_s;
        let row = Row {
            time_s,
            updates_per_s: if span > 0.0 {
                t.acked.saturating_sub(mark.acked) as f64 / span
            } else {
                0.0
            },
            target_per_s: self.target,
            latency_p50_us: lat.p50,
            latency_p99_us: lat.p99,
            lateness_p50_us: late.p50,
            lateness_p99_us: late.p99,
            corrected_p99_us: Percentiles::of(&sample.corrected).p99,
            late_sends: t.late.saturating_sub(mark.late),
            errors: t.errors.saturating_sub(mark.errors),
            reconnects: t.reconnects.saturating_sub(mark.reconnects),
            links_up: t.links_up,
            server_cpu_percent: usage.server_cpu_percent,
            client_cpu_percent: usage.client_cpu_percent,
            server_rss_mb: usage.server_rss_mb,
            client_rss_mb: usage.client_rss_mb,
            server_fds: held.server_fds,
            client_fds: held.client_fds,
            server_threads: held.server_threads,
            client_threads: held.client_threads,
            dropped: t.dropped.saturating_sub(mark.dropped),
        };
        if let Some(Err(e)) = self.writer.as_mut().map(|w| w.write(&row)) {
            eprintln!("startup: {e}; no more samples will be written");
            self.writer = None;
        }
        self.last = Mark {
            at_s: time_s,
            acked: t.acked,
            late: t.late,
            errors: t.errors,
            reconnects: t.reconnects,
            dropped: t.dropped,
        };
    }
}
