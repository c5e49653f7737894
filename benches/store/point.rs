//! Running one point (a design, a thread count, a mode): start the workers
//! together, stop them at the end of the window, check the store holds every
//! update, make sure no thread outlives it, and sum up the figures.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mass_connect::metrics::Percentiles;

use crate::designs::{Design, Ours, PlMutex, PlRwLock, SeedRwLock, StoreReply, StoreThread};
use crate::output::{Point, group};
use crate::worker::{
    CUT_BACKLOG, CUT_COUNT, CUT_NONE, Mode, Shared, WorkerResult, ns_histogram, worker,
};
use crate::{BOUNDED_CAPACITY, MAX_BACKLOG, REAP_TIMEOUT, SETUP_TIMEOUT, STACK};

/// Runs the point for the design called `name`.
pub fn run_design(name: &str, threads: usize, mode: Mode, seconds: f64) -> Point {
    match name {
        SeedRwLock::NAME => run_point::<SeedRwLock>(threads, mode, seconds),
        PlMutex::NAME => run_point::<PlMutex>(threads, mode, seconds),
        PlRwLock::NAME => run_point::<PlRwLock>(threads, mode, seconds),
        StoreThread::<true>::NAME => run_point::<StoreThread<true>>(threads, mode, seconds),
        StoreThread::<false>::NAME => run_point::<StoreThread<false>>(threads, mode, seconds),
        StoreReply::NAME => run_point::<StoreReply>(threads, mode, seconds),
        Ours::NAME => run_point::<Ours>(threads, mode, seconds),
        _ => unreachable!("design names are checked when parsing arguments"),
    }
}

fn run_point<D: Design>(threads: usize, mode: Mode, seconds: f64) -> Point {
    let threads_before = os_threads();
    let design = D::start();
    let shared = Shared {
        stop: AtomicBool::new(false),
        cut: AtomicU8::new(CUT_NONE),
        mode,
        threads,
    };
    let name = D::NAME;
    let ran = run_window(&design, &shared, seconds)
        .unwrap_or_else(|problem| panic!("{name} x {threads}: {problem}"));
    let finished = design.finish();
    verify(name, threads, &ran.results, &finished.counts);
    wait_for_threads_to_exit(name, threads, threads_before);

    let updates: u64 = ran.results.iter().map(|r| r.done).sum();
    let mut merged = ns_histogram();
    for r in &ran.results {
        merged
            .add(&r.latency_ns)
            .expect("histograms with the same bounds add");
    }
    let p = Percentiles::of(&merged);
    let secs = ran.window.as_secs_f64();
    let cut = shared.cut.load(Ordering::Relaxed);
    let notes = notes(&p, &shared, cut, &ran, finished.store_done, updates);
    Point {
        design: name,
        mode,
        threads,
        seconds: secs,
        updates,
        updates_per_s: updates as f64 / secs,
        p50_ns: p.p50,
        p99_ns: p.p99,
        notes: notes.join("; "),
    }
}

/// What a point's timed window brought back.
struct Ran {
    results: Vec<WorkerResult>,
    /// From the go to the stop.
    window: Duration,
    stopped_at: Instant,
    /// The design's queue at the stop, where it has one.
    backlog: Option<usize>,
}

/// Starts the workers together, lets them run `seconds` (or until one cuts
/// the point short) and joins them. A worker that could not start or get
/// ready is the error; the others are stopped and joined first.
fn run_window<D: Design>(design: &D, shared: &Shared, seconds: f64) -> Result<Ran, String> {
    // A barrier that can be abandoned: `std::sync::Barrier` would leave the
    // spawned threads waiting forever if one spawn failed or one setup
    // panicked. Workers report ready, then block on `go` until the main
    // thread drops its sender (always, even while unwinding).
    let (ready_tx, ready_rx) = crossbeam_channel::unbounded::<()>();
    let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(1);
    thread::scope(|scope| {
        let go_tx = go_tx;
        let mut handles = Vec::with_capacity(shared.threads);
        let mut problem = None;
        for i in 0..shared.threads {
            let (ready, go) = (ready_tx.clone(), go_rx.clone());
            let spawned = thread::Builder::new()
                .stack_size(STACK)
                .spawn_scoped(scope, move || worker(design, i, shared, ready, go));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    problem = Some(format!("could not start thread {i}: {e}"));
                    break;
                }
            }
        }
        drop(ready_tx);
        if problem.is_none() {
            problem = all_ready(&ready_rx, shared.threads).err();
        }
        if problem.is_some() {
            shared.stop.store(true, Ordering::Relaxed);
        }
        drop(go_tx);
        let start = Instant::now();
        if problem.is_none() {
            wait_out(shared, start + Duration::from_secs_f64(seconds));
        }
        shared.stop.store(true, Ordering::Relaxed);
        let stopped_at = Instant::now();
        let backlog = design.backlog();
        let results: Vec<WorkerResult> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        match problem {
            Some(problem) => Err(problem),
            None => Ok(Ran {
                results,
                window: stopped_at - start,
                stopped_at,
                backlog,
            }),
        }
    })
}

/// Waits until every one of `threads` workers has said it is ready.
fn all_ready(ready: &crossbeam_channel::Receiver<()>, threads: usize) -> Result<(), String> {
    let setup_deadline = Instant::now() + SETUP_TIMEOUT;
    for got in 0..threads {
        if ready.recv_deadline(setup_deadline).is_err() {
            return Err(format!(
                "only {got} of {threads} threads got ready (one panicked or setup took over {SETUP_TIMEOUT:?})"
            ));
        }
    }
    Ok(())
}

/// Sleeps until `end`, in short sleeps so a point cut short (backlog cap)
/// ends promptly.
fn wait_out(shared: &Shared, end: Instant) {
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        thread::sleep((end - now).min(Duration::from_millis(10)));
    }
}

/// The point's notes: the tail, the pacing, why it was cut short, and the
/// store thread's backlog and drain where the design has one.
fn notes(
    p: &Percentiles,
    shared: &Shared,
    cut: u8,
    ran: &Ran,
    store_done: Option<Instant>,
    updates: u64,
) -> Vec<String> {
    let secs = ran.window.as_secs_f64();
    // The tail beyond p99 is where "visible thread blocking" shows: an update
    // stuck behind a descheduled lock holder or a starved store thread.
    let mut notes = vec![format!(
        "p99.9 {} ns, max {} ns",
        group(p.p999),
        group(p.max)
    )];
    if shared.mode == Mode::Paced {
        notes.push(format!(
            "paced 10 ms (target {}/s)",
            group(shared.threads as u64 * 100)
        ));
    }
    match cut {
        CUT_BACKLOG => notes.push(format!(
            "cut short at {secs:.2} s: backlog passed {} msgs",
            group(MAX_BACKLOG as u64)
        )),
        CUT_COUNT => notes.push(format!("cut short at {secs:.2} s: per-thread update cap")),
        _ => {}
    }
    if let (Some(backlog), Some(done)) = (ran.backlog, store_done) {
        let drain = done.saturating_duration_since(ran.stopped_at);
        notes.push(format!(
            "backlog {} msgs at stop, store thread done {:.0} ms after",
            group(backlog as u64),
            drain.as_secs_f64() * 1e3
        ));
        if backlog > BOUNDED_CAPACITY {
            // What the store thread actually applied per second, once the
            // queue it was handed is counted.
            notes.push(format!(
                "applied {}/s incl. drain",
                group((updates as f64 / (secs + drain.as_secs_f64())) as u64)
            ));
        }
    }
    notes
}

/// A bench must not measure a broken design: every update a thread made is
/// in the store, once, under its key, and every count the design returned
/// was that thread's running total.
fn verify(name: &str, threads: usize, results: &[WorkerResult], counts: &HashMap<String, u64>) {
    let made: u64 = results.iter().map(|r| r.done).sum();
    let stored: u64 = counts.values().sum();
    assert_eq!(
        stored, made,
        "{name} x {threads}: the store holds {stored} updates but the threads made {made}: \
         the design lost or invented updates, so its numbers mean nothing"
    );
    for r in results {
        let got = counts.get(&r.key).copied().unwrap_or(0);
        assert_eq!(
            got, r.done,
            "{name} x {threads}: key {} has {got} in the store but its thread made {} updates",
            r.key, r.done
        );
        assert_eq!(
            r.wrong, 0,
            "{name} x {threads}: key {}: {} updates returned a count other than the thread's own total",
            r.key, r.wrong
        );
    }
}

/// Threads in this process, where the OS tells (Linux).
fn os_threads() -> Option<usize> {
    let own = hostinfo::process::read(std::process::id(), false)?;
    Some(own.threads as usize)
}

/// No leaks between points: 1000 workers and a store thread per design must
/// all be gone before the next point starts, or later points would measure
/// a machine full of leftovers.
fn wait_for_threads_to_exit(name: &str, threads: usize, before: Option<usize>) {
    let Some(before) = before else { return };
    let deadline = Instant::now() + REAP_TIMEOUT;
    loop {
        let now = os_threads().unwrap_or(before);
        if now <= before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} x {threads}: {now} threads alive {REAP_TIMEOUT:?} after the point ended, \
             {before} before it: a worker or store thread leaked"
        );
        thread::sleep(Duration::from_millis(1));
    }
}
