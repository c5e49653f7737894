//! One worker thread of a point: the load modes, what the threads share
//! while the point runs, and the loop that times every update.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use hdrhistogram::Histogram;

use crate::designs::Design;
use crate::{MAX_UPDATES_PER_THREAD, PACE};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every thread updates as fast as it can: the contention ceiling.
    Closed,
    /// One update per thread per `PACE`, on a fixed-rate schedule.
    Paced,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Closed => "closed loop",
            Mode::Paced => "paced 10 ms per thread",
        }
    }
}

/// Why a point ended before its time.
pub const CUT_NONE: u8 = 0;
pub const CUT_BACKLOG: u8 = 1;
pub const CUT_COUNT: u8 = 2;

pub struct Shared {
    pub stop: AtomicBool,
    pub cut: AtomicU8,
    pub mode: Mode,
    pub threads: usize,
}

impl Shared {
    fn cut_short(&self, why: u8) {
        let _ = self
            .cut
            .compare_exchange(CUT_NONE, why, Ordering::Relaxed, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub struct WorkerResult {
    pub key: String,
    pub done: u64,
    /// Updates whose returned count was not this thread's running total.
    pub wrong: u64,
    pub latency_ns: Histogram<u64>,
}

/// Nanoseconds up to one minute: the project's `metrics::histogram()` is in
/// microseconds and stops at an hour, which in nanoseconds would be 3.6 s,
/// and a starved store thread can hold an update longer than that.
pub fn ns_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 2).expect("constant bounds are valid")
}

pub fn worker<D: Design>(
    design: &D,
    index: usize,
    shared: &Shared,
    ready: Sender<()>,
    go: Receiver<()>,
) -> WorkerResult {
    let key = format!("127.0.0.1:{}", 40_000 + index);
    let mut link = design.link(&key);
    let mut latency_ns = ns_histogram();
    let mut done = 0u64;
    let mut wrong = 0u64;

    let _ = ready.send(());
    drop(ready);
    // Nothing is ever sent on `go`: the main thread drops its sender to
    // release every worker at once.
    let _ = go.recv();

    let mut one = |link: &mut D::Link, done: &mut u64| {
        let t0 = Instant::now();
        let got = D::update(link);
        let t1 = Instant::now();
        latency_ns.saturating_record(((t1 - t0).as_nanos() as u64).max(1));
        *done += 1;
        if got.is_some_and(|n| n != *done) {
            wrong += 1;
        }
    };

    match shared.mode {
        Mode::Closed => {
            while !shared.stop.load(Ordering::Relaxed) {
                one(&mut link, &mut done);
                if done % 1024 == 0 {
                    if D::overloaded(&link) {
                        shared.cut_short(CUT_BACKLOG);
                    }
                    if done >= MAX_UPDATES_PER_THREAD {
                        shared.cut_short(CUT_COUNT);
                    }
                }
            }
        }
        Mode::Paced => {
            // Stagger the first updates over one interval, as the clients do,
            // so the threads do not all fire on the same tick.
            let offset = PACE.mul_f64(index as f64 / shared.threads as f64);
            let mut due = Instant::now() + offset;
            while !shared.stop.load(Ordering::Relaxed) && done < MAX_UPDATES_PER_THREAD {
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                    if shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                one(&mut link, &mut done);
                if done % 64 == 0 && D::overloaded(&link) {
                    shared.cut_short(CUT_BACKLOG);
                }
                due += PACE;
            }
        }
    }

    // The link holds a sender to the store thread: it must be gone before
    // `finish` waits for that thread to see the channel close.
    drop(link);
    WorkerResult {
        key,
        done,
        wrong,
        latency_ns,
    }
}
