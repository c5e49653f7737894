//! Resource sampling: every child's CPU and memory, read a few children at
//! a time, and the figures the CSV rows and the report take from them.
//!
//! [`Resources`] owns the list of tracked children (a restarted server is
//! added, never replaces the dead one: both lived in this run), the cursor
//! of the spread sampling, and the memory baseline of the leak check.
//!
//! The reads are `/proc` reads (or Win32 calls) made on startup's main
//! thread, between the events it handles. That thread is why they are
//! spread: it runs above the link threads, so a long burst of reads there
//! is a burst of latency for every link waiting behind it.

use std::time::{Duration, Instant};

use crate::launcher::children::Fleet;
use crate::launcher::proxy::Kind;
use crate::launcher::record::ByKind;
use crate::launcher::report::Processes;
use crate::launcher::usage::{KindUsage, Usage};
use crate::messages::ProcessSample;
use crate::sys::procstat;

/// How often the spread resource sampling reads its next few children.
pub(super) const SAMPLE_STEP: Duration = Duration::from_millis(100);

/// Who reads the children's figures between two of its moments: the CSV
/// rows and the dashboard's points each keep their own marks, so neither
/// moves the other's.
#[derive(Clone, Copy)]
pub(super) enum Reader {
    /// The soak CSV's rows (`rows.rs`).
    Row = 0,
    /// The status rounds' points (`points.rs`): the dashboard and the
    /// HTML report.
    Point = 1,
}

/// One reader's mark on one child.
#[derive(Clone, Copy, Default)]
struct Mark {
    /// The latest sample at the reader's last reading, and when it was taken.
    at: Option<(Instant, ProcessSample)>,
    /// CPU percent (of one core) between this process's two latest samples
    /// before that reading, kept for readings between which it was not
    /// sampled.
    cpu_percent: f64,
}

/// Per-child resource tracking.
struct Tracked {
    /// Its latest read failed: it has exited (a dead client, a server
    /// replaced by its restart), so it holds no descriptors or threads now.
    gone: bool,
    kind: Kind,
    pid: u32,
    usage: Usage,
    /// Each [`Reader`]'s mark.
    marks: [Mark; 2],
}

impl Tracked {
    fn new(kind: Kind, pid: u32) -> Tracked {
        Tracked {
            gone: false,
            kind,
            pid,
            usage: Usage::default(),
            marks: [Mark::default(); 2],
        }
    }
}

/// The children's CPU and memory for one CSV row (or one point), summed
/// by kind.
pub(super) struct RowUsage {
    /// Servers' CPU, in percent of one core.
    pub(super) server_cpu_percent: f64,
    /// Clients' CPU, in percent of one core.
    pub(super) client_cpu_percent: f64,
    /// Servers' resident memory, in MB.
    pub(super) server_rss_mb: f64,
    /// Clients' resident memory, in MB.
    pub(super) client_rss_mb: f64,
}

/// The open descriptors and threads of the children alive at their latest
/// reading, summed by kind: what a leak of sockets or threads shows in.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Held {
    /// Servers' open descriptors; `None` where the OS does not count them.
    pub(super) server_fds: Option<u64>,
    /// Clients' open descriptors; `None` where the OS does not count them.
    pub(super) client_fds: Option<u64>,
    /// Servers' threads.
    pub(super) server_threads: u64,
    /// Clients' threads.
    pub(super) client_threads: u64,
}

/// Every child's CPU and memory over the run.
pub(super) struct Resources {
    tracked: Vec<Tracked>,
    /// The next process the spread resource sampling reads.
    cursor: usize,
    /// When after the start each process's memory becomes the baseline.
    rss_baseline: Duration,
    /// The memory baseline of the leak check has been taken.
    baseline_taken: bool,
    /// Acked updates known when the last resource sample was taken: CPU per
    /// update divides the CPU of the sampled window by the updates of the
    /// same window, not by updates made while the clients were stopping.
    ops_at_last_sample: u64,
}

impl Resources {
    /// Tracks every child of `fleet` and reads them all once (with context
    /// switches), which is where the first CSV row's CPU starts from.
    /// `rss_baseline` after `started` their memory becomes the baseline.
    pub(super) fn new(fleet: &Fleet, rss_baseline: Duration, started: Instant) -> Resources {
        let tracked = fleet
            .servers
            .iter()
            .map(|c| (Kind::Server, c.pid))
            .chain(fleet.clients.iter().map(|c| (Kind::Client, c.pid)))
            .map(|(kind, pid)| Tracked::new(kind, pid))
            .collect();
        let mut r = Resources {
            tracked,
            cursor: 0,
            rss_baseline,
            baseline_taken: false,
            ops_at_last_sample: 0,
        };
        r.sample_all(true, started);
        for t in &mut r.tracked {
            let last = t.usage.last_timed();
            for mark in &mut t.marks {
                mark.at = last;
            }
        }
        r
    }

    /// Tracks a new child (a restarted server) from now on.
    pub(super) fn track(&mut self, kind: Kind, pid: u32) {
        self.tracked.push(Tracked::new(kind, pid));
    }

    /// One step of the spread sampling: reads the next share of the
    /// children, so that `steps` steps read every one of them once.
    pub(super) fn sample_step(&mut self, steps: usize, started: Instant) {
        let count = self.tracked.len().div_ceil(steps);
        self.sample_some(count, false, started);
    }

    /// The last reading of the run, when the load has ended: every child,
    /// with context switches; `acked` (the updates acked by then) becomes
    /// the divisor of CPU per update.
    pub(super) fn sample_last(&mut self, acked: u64, started: Instant) {
        self.sample_all(true, started);
        self.ops_at_last_sample = acked;
    }

    /// Reads every child's CPU and memory; `with_ctx` adds context switches
    /// (costly on Linux, so only at the start and the end of the run).
    fn sample_all(&mut self, with_ctx: bool, started: Instant) {
        let all = self.tracked.len();
        self.sample_some(all, with_ctx, started);
    }

    /// Reads the CPU and memory of the next `count` children, so that over
    /// a round every child is read once, a few at each [`SAMPLE_STEP`].
    ///
    /// Reading all of them at once is a burst on startup's main thread,
    /// which runs above the link threads: at 1,000 clients it was 60 ms of
    /// `/proc` reads each second, and links waiting behind it were most of
    /// a 1,000 x 10 run's latency tail (whole-run p99 4-13 ms with it,
    /// 0.26 ms with no sampling at all).
    fn sample_some(&mut self, count: usize, with_ctx: bool, started: Instant) {
        for i in next_in_turn(&mut self.cursor, self.tracked.len(), count) {
            let t = &mut self.tracked[i];
            // Once gone, never read again: its pid may be another
            // process's by now.
            if t.gone {
                continue;
            }
            let sample = procstat::sample(t.pid, with_ctx);
            t.gone = sample.is_none();
            if let Some(s) = sample {
                t.usage.add(Instant::now(), s);
            }
        }
        if !self.baseline_taken && started.elapsed() >= self.rss_baseline {
            self.baseline_taken = true;
            for t in &mut self.tracked {
                t.usage.mark_baseline();
            }
        }
    }

    /// The children's CPU since `reader`'s last reading and their latest
    /// memory, and moves every child's mark of that reader to its latest
    /// sample. Children that have exited are left out.
    pub(super) fn since(&mut self, reader: Reader) -> RowUsage {
        let mut cpu = [0.0f64; 2];
        let mut rss = [0.0f64; 2];
        // A child that has exited (a killed client, a server replaced by its
        // restart) uses no CPU and holds no memory any more: counting its
        // last reading added a dead server's memory to every later row.
        for tr in self.tracked.iter_mut().filter(|t| !t.gone) {
            let k = usize::from(tr.kind == Kind::Client);
            let last = tr.usage.last_timed();
            let mark = &mut tr.marks[reader as usize];
            // Each process's CPU over its own two samples: children are read
            // a few at a time, not at the reader's moments, and a process not
            // read since the last reading keeps its last rate.
            if let (Some((ta, a)), Some((tb, b))) = (mark.at, last) {
                let span = tb.duration_since(ta).as_secs_f64();
                if span > 0.0 {
                    mark.cpu_percent = (b.cpu_s - a.cpu_s).max(0.0) / span * 100.0;
                }
            }
            cpu[k] += mark.cpu_percent;
            rss[k] += last.map(|(_, s)| s.rss_bytes).unwrap_or(0) as f64 / 1e6;
            mark.at = last;
        }
        RowUsage {
            server_cpu_percent: cpu[0],
            client_cpu_percent: cpu[1],
            server_rss_mb: rss[0],
            client_rss_mb: rss[1],
        }
    }

    /// The children's CPU seconds and resident memory by kind, for
    /// `/metrics`: CPU over every child that ran, each since it started (an
    /// exited one keeps its last reading, so the sum never goes down), and
    /// the memory of those alive at their latest reading. Marks nothing.
    pub(super) fn cumulative(&self) -> (ByKind<f64>, ByKind<u64>) {
        let (mut cpu, mut rss) = (ByKind::<f64>::default(), ByKind::<u64>::default());
        for t in &self.tracked {
            let Some((_, s)) = t.usage.last_timed() else {
                continue;
            };
            let (cpu_s, rss_bytes) = match t.kind {
                Kind::Server => (&mut cpu.server, &mut rss.server),
                Kind::Client => (&mut cpu.client, &mut rss.client),
            };
            *cpu_s += s.cpu_s;
            if !t.gone {
                *rss_bytes += s.rss_bytes;
            }
        }
        (cpu, rss)
    }

    /// The descriptors and threads the children hold, by kind, at their
    /// latest readings. A child whose latest read failed has exited and
    /// is left out, so a restarted server counts once.
    pub(super) fn held(&self) -> Held {
        // No child of a kind (a clients-only host's servers) holds 0.
        let none = procstat::COUNTS_FDS.then_some(0);
        let mut held = Held {
            server_fds: none,
            client_fds: none,
            ..Held::default()
        };
        for t in self.tracked.iter().filter(|t| !t.gone) {
            let Some((_, s)) = t.usage.last_timed() else {
                continue;
            };
            let (fds, threads) = match t.kind {
                Kind::Server => (&mut held.server_fds, &mut held.server_threads),
                Kind::Client => (&mut held.client_fds, &mut held.client_threads),
            };
            *threads += s.threads;
            if let Some(n) = s.fds {
                *fds = Some(fds.unwrap_or(0) + n);
            }
        }
        held
    }

    /// The report's process figures, by kind. CPU per update divides by
    /// the updates acked at the last sample, or by `acked` (the run's
    /// total) if the run ended before that sample was taken.
    pub(super) fn processes(&self, acked: u64) -> Processes {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let of_kind = |kind: Kind| -> Vec<&Usage> {
            self.tracked
                .iter()
                .filter(|t| t.kind == kind)
                .map(|t| &t.usage)
                .collect()
        };
        let ops = match self.ops_at_last_sample {
            0 => acked,
            n => n,
        };
        Processes {
            cpus: cpus as u64,
            rss_baseline_s: self.rss_baseline.as_secs_f64(),
            server: KindUsage::of(&of_kind(Kind::Server), ops, cpus),
            client: KindUsage::of(&of_kind(Kind::Client), ops, cpus),
        }
    }
}

/// The indexes of the next `count` of `n` items taken in turn from
/// `cursor` (wrapping, each at most once per call), moving the cursor on.
fn next_in_turn(cursor: &mut usize, n: usize, count: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let start = *cursor % n;
    let taken: Vec<usize> = (0..count.min(n)).map(|k| (start + k) % n).collect();
    *cursor = (start + taken.len()) % n;
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_sampling_reads_every_child_once_per_round() {
        // 1,010 children in 50 steps of 21: every one read once in the first
        // 49 steps (1,029 reads wrap onto the first 19 again), none skipped.
        let (n, steps): (usize, usize) = (1010, 50);
        let per_step = n.div_ceil(steps);
        let mut cursor = 0;
        let mut reads = vec![0; n];
        for _ in 0..n.div_ceil(per_step) {
            for i in next_in_turn(&mut cursor, n, per_step) {
                reads[i] += 1;
            }
        }
        assert!(reads.iter().all(|&r| r >= 1), "a child was skipped");
        assert_eq!(reads.iter().filter(|&&r| r == 2).count(), 49 * 21 - n);
        // A count above n reads each once; nothing to read, nothing read.
        assert_eq!(next_in_turn(&mut cursor, 3, 10).len(), 3);
        assert!(next_in_turn(&mut cursor, 0, 5).is_empty());
    }

    #[test]
    fn rows_leave_out_the_children_that_exited() {
        let t0 = Instant::now();
        let reading = |cpu_s: f64, rss_bytes: u64| ProcessSample {
            cpu_s,
            rss_bytes,
            ..ProcessSample::default()
        };
        // A server read twice, 1 s apart: 50% of a core, 3 MB.
        let server = |gone: bool| {
            let mut t = Tracked::new(Kind::Server, 1);
            t.usage.add(t0, reading(1.0, 3_000_000));
            t.marks[Reader::Row as usize].at = t.usage.last_timed();
            t.usage
                .add(t0 + Duration::from_secs(1), reading(1.5, 3_000_000));
            t.gone = gone;
            t
        };
        // The old process of a restarted server, and its successor.
        let mut resources = Resources {
            tracked: vec![server(true), server(false)],
            cursor: 0,
            rss_baseline: Duration::ZERO,
            baseline_taken: false,
            ops_at_last_sample: 0,
        };
        let row = resources.since(Reader::Row);
        assert!(
            (row.server_cpu_percent - 50.0).abs() < 1e-6,
            "{}",
            row.server_cpu_percent
        );
        assert!(
            (row.server_rss_mb - 3.0).abs() < 1e-9,
            "{}",
            row.server_rss_mb
        );
        // `/metrics`' CPU counter keeps the exited process's seconds; its
        // memory is gone with it.
        let (cpu, rss) = resources.cumulative();
        assert!((cpu.server - 3.0).abs() < 1e-9, "{}", cpu.server);
        assert_eq!((rss.server, rss.client, cpu.client), (3_000_000, 0, 0.0));
    }

    #[test]
    fn held_sums_the_live_children_by_kind() {
        let reading = |threads: u64, fds: Option<u64>| ProcessSample {
            threads,
            fds,
            ..ProcessSample::default()
        };
        let child = |kind: Kind, gone: bool, s: Option<ProcessSample>| {
            let mut t = Tracked::new(kind, 1);
            if let Some(s) = s {
                t.usage.add(Instant::now(), s);
            }
            t.gone = gone;
            t
        };
        let resources = Resources {
            tracked: vec![
                child(Kind::Server, false, Some(reading(13, Some(26)))),
                // A server killed and restarted: its last reading no longer counts.
                child(Kind::Server, true, Some(reading(13, Some(26)))),
                child(Kind::Server, false, Some(reading(12, Some(24)))),
                child(Kind::Client, false, Some(reading(6, None))),
                // Not read yet: nothing to add.
                child(Kind::Client, false, None),
            ],
            cursor: 0,
            rss_baseline: Duration::ZERO,
            baseline_taken: false,
            ops_at_last_sample: 0,
        };
        assert_eq!(
            resources.held(),
            Held {
                server_fds: Some(50),
                // Where descriptors are counted, a kind none of whose
                // readings has them sums to 0; elsewhere it is unknown.
                client_fds: procstat::COUNTS_FDS.then_some(0),
                server_threads: 25,
                client_threads: 6,
            }
        );
        let empty = Resources {
            tracked: Vec::new(),
            ..resources
        };
        let none = procstat::COUNTS_FDS.then_some(0);
        assert_eq!(
            empty.held(),
            Held {
                server_fds: none,
                client_fds: none,
                ..Held::default()
            }
        );
    }
}
