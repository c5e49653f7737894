//! Bench (a), store contention: what "apply one update for my key and get the
//! new count back" costs when many threads do it at once, for seven designs.
//!
//! # Why
//!
//! The original Go server kept its store as one global `RWMutex` over a
//! `map[string]string` and its author blamed "too many threads, visible
//! thread blocking" for its limits. This project's store (src/store.rs) is
//! split instead: a store thread owns the key index, and every link updates
//! its own `Arc<AtomicU64>`. docs/ARCHITECTURE.md ("Why the store is split
//! this way") explains the trap it avoids: sending every update to the store
//! thread as a message makes each update wait for one particular thread to be
//! scheduled, and with a thousand runnable link threads it rarely is. This
//! bench puts numbers on both claims, without sockets, so only the store
//! design differs between rows:
//!
//! | design | one update is |
//! |---|---|
//! | `seed-rwlock` | the original: `std::sync::RwLock<HashMap<String, String>>`, write lock, parse the decimal count, add one, format, store |
//! | `pl-mutex` | `parking_lot::Mutex<HashMap<String, u64>>` |
//! | `pl-rwlock` | `parking_lot::RwLock<HashMap<String, u64>>`, write lock |
//! | `store-thread-bounded` | one message (the key) to a store thread over `bounded(1024)`, no reply |
//! | `store-thread-unbounded` | the same over an unbounded channel |
//! | `store-thread-reply` | one message with a reply channel; the caller waits for the new count |
//! | `ours` | `Store::counter` once per thread, then `fetch_add(1, AcqRel)` per update |
//!
//! Each thread updates its own key (`127.0.0.1:<40000+i>`), as each link
//! does, so any contention comes from the design, not from the data.
//!
//! # Running
//!
//! ```sh
//! cargo bench --bench store                    # about 90 s on 2 CPUs
//! cargo bench --bench store -- --quick         # 1, 10, 100 threads, 0.2 s per point (CI)
//! cargo bench --bench store -- --threads 1,1000 --seconds 5 --paced-threads 100,1000
//! ```
//!
//! Two load modes. **Closed loop**, the main one: every thread updates as
//! fast as it can, at `--threads` (default 1,10,100,1000). **Paced**: every
//! thread makes one update per 10 ms, the seed's rate, at `--paced-threads`
//! (default 1000, the seed's scale, where it matters; `none` in `--quick`).
//! Paced threads sleep between updates, so every update follows a wakeup;
//! with 1000 of them a lock holder or the store thread gets preempted by
//! waking threads far more often than in closed loop, where each thread
//! keeps the CPU for a whole time slice.
//!
//! Other options: `--seconds X` per point (default 2), `--designs LIST`,
//! `--out DIR` (default `target/bench-store/`). Output: a table on stdout and
//! `store.csv` in the out dir (`design,threads,seconds,updates,
//! updates_per_s,p50_ns,p99_ns,notes`; paced rows say so in `notes`).
//!
//! # Reading it
//!
//! * **updates/s** is every update the threads completed in the window,
//!   divided by the window. For the fire-and-forget designs that counts
//!   *sends*, not updates applied: the `notes` column says how many messages
//!   were still queued when the window closed and how long the store thread
//!   took to apply them; a big backlog means the number is a promise the
//!   store thread had not kept yet.
//! * **p50 / p99** are per-update latencies in nanoseconds, merged from every
//!   thread's histogram (2 significant digits). They include the cost of
//!   timing itself, about one `Instant::now()` (the header prints it: the
//!   floor no design can go below), and any time the thread was descheduled
//!   mid-update, which is the point: with more threads than CPUs, a design
//!   whose update can wait for another thread shows it here first. `notes`
//!   adds p99.9 and the maximum: with 1000 threads on 2 CPUs, blocking is
//!   rare per update but long when it happens, so it can sit entirely
//!   beyond p99.
//! * A store-thread design is "cut short" when its unbounded queue passes
//!   10 million messages (~250 MB): the producers outran the consumer and
//!   would have kept doing so; its updates/s is then over the shorter window.
//! * Compare each design's row at 1 thread (its raw cost) with its row at
//!   1000 (its cost under the seed's thread count). Each point ends with an
//!   exact check that the store holds every update the threads made, so a
//!   fast number is never a broken design.
//!
//! The machine is shared: the header prints the load average, and a load
//! well above the CPU count means every number is noisier and lower.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use hdrhistogram::Histogram;
use mass_connect::metrics::Percentiles;
use mass_connect::server::store::{Counter, Store};

/// Link threads run with the project's default stack (`thread_stack_kb`);
/// 1000 threads at the 8 MiB default would reserve 8 GB of address space.
const STACK: usize = 64 * 1024;
/// The fire-and-forget store thread's queue, as the prototype had it.
const BOUNDED_CAPACITY: usize = 1024;
/// An unbounded queue that the store thread cannot keep up with grows by
/// tens of MB a second; past this many messages (~250 MB) the point is cut
/// short rather than letting a bench exhaust a shared machine's memory.
const MAX_BACKLOG: usize = 10_000_000;
/// Safety bound on one thread's loop, far above what a point can reach.
const MAX_UPDATES_PER_THREAD: u64 = 2_000_000_000;
/// The seed's interval between two updates of one link.
const PACE: Duration = Duration::from_millis(10);
/// How long the workers may take to start and set up before the point is
/// abandoned (spawning 1000 threads on a loaded machine takes well under 1 s).
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the OS may take to reap a point's threads before it counts as a leak.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// The designs

/// One way to keep per-key counts.
trait Design: Sync + Sized {
    /// What one thread keeps between updates, as a link thread would: its
    /// key, its counter, its channels.
    type Link: Send;
    const NAME: &'static str;

    fn start() -> Self;
    /// Called on the worker thread, before the start barrier.
    fn link(&self, key: &str) -> Self::Link;
    /// Applies one update; the new count when the design gives one back.
    fn update(link: &mut Self::Link) -> Option<u64>;
    /// Whether the design is running away (an unbounded queue growing past
    /// what memory allows); checked every 1024 updates.
    fn overloaded(_link: &Self::Link) -> bool {
        false
    }
    /// Messages queued and not yet applied, for queue-based designs.
    fn backlog(&self) -> Option<usize> {
        None
    }
    /// Stops the design's own threads (every `Link` is gone by now) and
    /// returns every key's count.
    fn finish(self) -> Finished;
}

struct Finished {
    counts: HashMap<String, u64>,
    /// When the store thread had applied everything and exited.
    store_done: Option<Instant>,
}

/// Inserts the key before the start barrier, so the window measures updates,
/// not map growth.
fn preinsert<V>(map: &mut HashMap<String, V>, key: &str, zero: V) {
    map.entry(key.to_owned()).or_insert(zero);
}

struct SeedRwLock(Arc<std::sync::RwLock<HashMap<String, String>>>);

impl Design for SeedRwLock {
    type Link = (Arc<std::sync::RwLock<HashMap<String, String>>>, String);
    const NAME: &'static str = "seed-rwlock";

    fn start() -> Self {
        SeedRwLock(Arc::default())
    }
    fn link(&self, key: &str) -> Self::Link {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        preinsert(&mut map, key, "0".to_owned());
        (self.0.clone(), key.to_owned())
    }
    #[inline]
    fn update((map, key): &mut Self::Link) -> Option<u64> {
        // As the Go server did: the whole read-parse-format-store under the
        // one write lock, with a fresh string per update.
        let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
        let value = map.get_mut(key.as_str()).expect("key inserted at setup");
        let n = value.parse::<u64>().expect("the value is a decimal count") + 1;
        *value = n.to_string();
        Some(n)
    }
    fn finish(self) -> Finished {
        let map = std::mem::take(&mut *self.0.write().unwrap_or_else(PoisonError::into_inner));
        let counts = map
            .into_iter()
            .map(|(k, v)| (k, v.parse().expect("the value is a decimal count")))
            .collect();
        Finished {
            counts,
            store_done: None,
        }
    }
}

struct PlMutex(Arc<parking_lot::Mutex<HashMap<String, u64>>>);

impl Design for PlMutex {
    type Link = (Arc<parking_lot::Mutex<HashMap<String, u64>>>, String);
    const NAME: &'static str = "pl-mutex";

    fn start() -> Self {
        PlMutex(Arc::default())
    }
    fn link(&self, key: &str) -> Self::Link {
        preinsert(&mut self.0.lock(), key, 0);
        (self.0.clone(), key.to_owned())
    }
    #[inline]
    fn update((map, key): &mut Self::Link) -> Option<u64> {
        let mut map = map.lock();
        let n = map.get_mut(key.as_str()).expect("key inserted at setup");
        *n += 1;
        Some(*n)
    }
    fn finish(self) -> Finished {
        Finished {
            counts: std::mem::take(&mut *self.0.lock()),
            store_done: None,
        }
    }
}

struct PlRwLock(Arc<parking_lot::RwLock<HashMap<String, u64>>>);

impl Design for PlRwLock {
    type Link = (Arc<parking_lot::RwLock<HashMap<String, u64>>>, String);
    const NAME: &'static str = "pl-rwlock";

    fn start() -> Self {
        PlRwLock(Arc::default())
    }
    fn link(&self, key: &str) -> Self::Link {
        preinsert(&mut self.0.write(), key, 0);
        (self.0.clone(), key.to_owned())
    }
    #[inline]
    fn update((map, key): &mut Self::Link) -> Option<u64> {
        let mut map = map.write();
        let n = map.get_mut(key.as_str()).expect("key inserted at setup");
        *n += 1;
        Some(*n)
    }
    fn finish(self) -> Finished {
        Finished {
            counts: std::mem::take(&mut *self.0.write()),
            store_done: None,
        }
    }
}

/// The store thread's map update, shared by the three message designs.
fn bump(counts: &mut HashMap<String, u64>, key: &str) -> u64 {
    match counts.get_mut(key) {
        Some(n) => {
            *n += 1;
            *n
        }
        None => {
            counts.insert(key.to_owned(), 1);
            1
        }
    }
}

fn spawn_store_thread<M: Send + 'static>(
    rx: Receiver<M>,
    mut apply: impl FnMut(&mut HashMap<String, u64>, M) + Send + 'static,
) -> thread::JoinHandle<HashMap<String, u64>> {
    thread::Builder::new()
        .name("bench-store".into())
        .spawn(move || {
            let mut counts = HashMap::new();
            // Ends when every sender is dropped: bounded by the messages sent.
            for message in rx {
                apply(&mut counts, message);
            }
            counts
        })
        .expect("cannot start the store thread")
}

/// One message per update, no reply. The message is the key as an
/// `Arc<str>`: the cheapest owned key a link could send (it caches it, as
/// ours caches its counter), so the design is not charged for an allocation.
struct StoreThread<const BOUNDED: bool> {
    tx: Sender<Arc<str>>,
    thread: thread::JoinHandle<HashMap<String, u64>>,
}

impl<const BOUNDED: bool> Design for StoreThread<BOUNDED> {
    type Link = (Sender<Arc<str>>, Arc<str>);
    const NAME: &'static str = if BOUNDED {
        "store-thread-bounded"
    } else {
        "store-thread-unbounded"
    };

    fn start() -> Self {
        let (tx, rx) = if BOUNDED {
            crossbeam_channel::bounded(BOUNDED_CAPACITY)
        } else {
            crossbeam_channel::unbounded()
        };
        let thread = spawn_store_thread(rx, |counts, key: Arc<str>| {
            bump(counts, &key);
        });
        StoreThread { tx, thread }
    }
    fn link(&self, key: &str) -> Self::Link {
        (self.tx.clone(), key.into())
    }
    #[inline]
    fn update((tx, key): &mut Self::Link) -> Option<u64> {
        tx.send(key.clone()).expect("the store thread is running");
        None
    }
    fn overloaded((tx, _): &Self::Link) -> bool {
        !BOUNDED && tx.len() > MAX_BACKLOG
    }
    fn backlog(&self) -> Option<usize> {
        Some(self.tx.len())
    }
    fn finish(self) -> Finished {
        drop(self.tx);
        let counts = self.thread.join().expect("the store thread panicked");
        Finished {
            counts,
            store_done: Some(Instant::now()),
        }
    }
}

type ReplyMessage = (Arc<str>, Sender<u64>);

/// One message per update, and the caller waits for the new count on its own
/// reusable `bounded(1)` reply channel: a request/response round trip
/// through the store thread for every update.
struct StoreReply {
    tx: Sender<ReplyMessage>,
    thread: thread::JoinHandle<HashMap<String, u64>>,
}

struct ReplyLink {
    tx: Sender<ReplyMessage>,
    key: Arc<str>,
    reply_tx: Sender<u64>,
    reply_rx: Receiver<u64>,
}

impl Design for StoreReply {
    type Link = ReplyLink;
    const NAME: &'static str = "store-thread-reply";

    fn start() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = spawn_store_thread(rx, |counts, (key, reply): ReplyMessage| {
            // The caller is blocked on this reply, so it cannot have gone.
            let _ = reply.send(bump(counts, &key));
        });
        StoreReply { tx, thread }
    }
    fn link(&self, key: &str) -> Self::Link {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        ReplyLink {
            tx: self.tx.clone(),
            key: key.into(),
            reply_tx,
            reply_rx,
        }
    }
    #[inline]
    fn update(link: &mut Self::Link) -> Option<u64> {
        link.tx
            .send((link.key.clone(), link.reply_tx.clone()))
            .expect("the store thread is running");
        Some(link.reply_rx.recv().expect("the store thread replies"))
    }
    fn backlog(&self) -> Option<usize> {
        Some(self.tx.len())
    }
    fn finish(self) -> Finished {
        drop(self.tx);
        let counts = self.thread.join().expect("the store thread panicked");
        Finished {
            counts,
            store_done: Some(Instant::now()),
        }
    }
}

/// The project's store, used exactly as a server link thread uses it.
struct Ours(Store);

impl Design for Ours {
    type Link = Counter;
    const NAME: &'static str = "ours";

    fn start() -> Self {
        Ours(Store::start().expect("cannot start the store thread"))
    }
    fn link(&self, key: &str) -> Self::Link {
        self.0.counter(key).expect("the store thread is running")
    }
    #[inline]
    fn update(counter: &mut Self::Link) -> Option<u64> {
        Some(counter.fetch_add(1, Ordering::AcqRel) + 1)
    }
    fn finish(self) -> Finished {
        let dump = self.0.dump().expect("the store thread is running");
        // Dropping the last handle stops the store thread; it is detached,
        // so the thread-count check in `run_point` is what proves it went.
        drop(self.0);
        Finished {
            counts: dump.into_iter().map(|(k, n)| (k.into(), n)).collect(),
            store_done: None,
        }
    }
}

const DESIGNS: [&str; 7] = [
    SeedRwLock::NAME,
    PlMutex::NAME,
    PlRwLock::NAME,
    StoreThread::<true>::NAME,
    StoreThread::<false>::NAME,
    StoreReply::NAME,
    Ours::NAME,
];

fn run_design(name: &str, threads: usize, mode: Mode, seconds: f64) -> Point {
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

// ---------------------------------------------------------------------------
// Running one point

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every thread updates as fast as it can: the contention ceiling.
    Closed,
    /// One update per thread per `PACE`, on a fixed-rate schedule.
    Paced,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Closed => "closed loop",
            Mode::Paced => "paced 10 ms per thread",
        }
    }
}

/// Why a point ended before its time.
const CUT_NONE: u8 = 0;
const CUT_BACKLOG: u8 = 1;
const CUT_COUNT: u8 = 2;

struct Shared {
    stop: AtomicBool,
    cut: AtomicU8,
    mode: Mode,
    threads: usize,
}

impl Shared {
    fn cut_short(&self, why: u8) {
        let _ = self
            .cut
            .compare_exchange(CUT_NONE, why, Ordering::Relaxed, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct WorkerResult {
    key: String,
    done: u64,
    /// Updates whose returned count was not this thread's running total.
    wrong: u64,
    latency_ns: Histogram<u64>,
}

/// Nanoseconds up to one minute: the project's `metrics::histogram()` is in
/// microseconds and stops at an hour, which in nanoseconds would be 3.6 s,
/// and a starved store thread can hold an update longer than that.
fn ns_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 2).expect("constant bounds are valid")
}

fn worker<D: Design>(
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

struct Point {
    design: &'static str,
    mode: Mode,
    threads: usize,
    seconds: f64,
    updates: u64,
    updates_per_s: f64,
    p50_ns: u64,
    p99_ns: u64,
    notes: String,
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
    // A barrier that can be abandoned: `std::sync::Barrier` would leave the
    // spawned threads waiting forever if one spawn failed or one setup
    // panicked. Workers report ready, then block on `go` until the main
    // thread drops its sender (always, even while unwinding).
    let (ready_tx, ready_rx) = crossbeam_channel::unbounded::<()>();
    let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(1);

    let (results, window, stopped_at, backlog, problem) = thread::scope(|scope| {
        let go_tx = go_tx;
        let mut handles = Vec::with_capacity(threads);
        let mut problem = None;
        for i in 0..threads {
            let (design, shared, ready, go) = (&design, &shared, ready_tx.clone(), go_rx.clone());
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
        let setup_deadline = Instant::now() + SETUP_TIMEOUT;
        let mut ready = 0;
        while problem.is_none() && ready < threads {
            if ready_rx.recv_deadline(setup_deadline).is_err() {
                problem = Some(format!(
                    "only {ready} of {threads} threads got ready (one panicked or setup took over {SETUP_TIMEOUT:?})"
                ));
            } else {
                ready += 1;
            }
        }
        if problem.is_some() {
            shared.stop.store(true, Ordering::Relaxed);
        }

        drop(go_tx);
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(seconds);
        // Short sleeps so a point cut short (backlog cap) ends promptly.
        while problem.is_none() && !shared.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= end {
                break;
            }
            thread::sleep((end - now).min(Duration::from_millis(10)));
        }
        shared.stop.store(true, Ordering::Relaxed);
        let stopped_at = Instant::now();
        let backlog = design.backlog();
        let results: Vec<WorkerResult> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        (results, stopped_at - start, stopped_at, backlog, problem)
    });
    if let Some(problem) = problem {
        panic!("{} x {threads}: {problem}", D::NAME);
    }

    let finished = design.finish();
    let name = D::NAME;
    verify(name, threads, &results, &finished.counts);
    wait_for_threads_to_exit(name, threads, threads_before);

    let updates: u64 = results.iter().map(|r| r.done).sum();
    let mut merged = ns_histogram();
    for r in &results {
        merged
            .add(&r.latency_ns)
            .expect("histograms with the same bounds add");
    }
    let p = Percentiles::of(&merged);
    let secs = window.as_secs_f64();

    // The tail beyond p99 is where "visible thread blocking" shows: an update
    // stuck behind a descheduled lock holder or a starved store thread.
    let mut notes = vec![format!(
        "p99.9 {} ns, max {} ns",
        group(p.p999),
        group(p.max)
    )];
    if mode == Mode::Paced {
        notes.push(format!(
            "paced 10 ms (target {}/s)",
            group(threads as u64 * 100)
        ));
    }
    match shared.cut.load(Ordering::Relaxed) {
        CUT_BACKLOG => notes.push(format!(
            "cut short at {secs:.2} s: backlog passed {} msgs",
            group(MAX_BACKLOG as u64)
        )),
        CUT_COUNT => notes.push(format!("cut short at {secs:.2} s: per-thread update cap")),
        _ => {}
    }
    if let (Some(backlog), Some(done)) = (backlog, finished.store_done) {
        let drain = done.saturating_duration_since(stopped_at);
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
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
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

// ---------------------------------------------------------------------------
// Arguments, output

struct Options {
    threads: Vec<usize>,
    paced_threads: Vec<usize>,
    seconds: f64,
    designs: Vec<&'static str>,
    out: PathBuf,
}

const USAGE: &str = "usage: cargo bench --bench store -- [--quick] [--threads 1,10,100,1000] \
[--paced-threads 1000|none] [--seconds 2] [--designs NAME,...] [--out target/bench-store]";

fn thread_list(flag: &str, list: &str) -> Result<Vec<usize>, String> {
    if flag == "--paced-threads" && list == "none" {
        return Ok(Vec::new());
    }
    let parsed: Result<Vec<usize>, _> = list.split(',').map(|t| t.trim().parse()).collect();
    match parsed {
        Ok(v) if !v.is_empty() && v.iter().all(|t| (1..=100_000).contains(t)) => Ok(v),
        _ => Err(format!("{flag} {list}: want counts from 1 to 100000")),
    }
}

fn parse_args() -> Result<Options, String> {
    let mut quick = false;
    let mut threads = None;
    let mut paced_threads = None;
    let mut seconds = None;
    let mut designs: Vec<&'static str> = DESIGNS.to_vec();
    let mut out = PathBuf::from("target/bench-store");

    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs {what}"))
        };
        match flag.as_str() {
            // cargo passes --bench to every bench target.
            "--bench" => {}
            "--quick" => quick = true,
            "--threads" => threads = Some(thread_list(&flag, &value("a list like 1,10,100")?)?),
            "--paced-threads" => {
                paced_threads = Some(thread_list(
                    &flag,
                    &value("a list like 100,1000, or none")?,
                )?)
            }
            "--seconds" => {
                let s = value("a number of seconds")?;
                match s.parse::<f64>() {
                    Ok(x) if x > 0.0 && x <= 3600.0 => seconds = Some(x),
                    _ => {
                        return Err(format!(
                            "--seconds {s}: want a number above 0, at most 3600"
                        ));
                    }
                }
            }
            "--designs" => {
                let list = value("a list of design names")?;
                designs = Vec::new();
                for d in list.split(',') {
                    let known = DESIGNS.iter().find(|&&k| k == d.trim()).ok_or_else(|| {
                        format!(
                            "--designs: unknown design {d:?}; known: {}",
                            DESIGNS.join(",")
                        )
                    })?;
                    designs.push(known);
                }
            }
            "--out" => out = PathBuf::from(value("a directory")?),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let (default_threads, default_paced, default_seconds) = if quick {
        (vec![1, 10, 100], vec![], 0.2)
    } else {
        (vec![1, 10, 100, 1000], vec![1000], 2.0)
    };
    Ok(Options {
        threads: threads.unwrap_or(default_threads),
        paced_threads: paced_threads.unwrap_or(default_paced),
        seconds: seconds.unwrap_or(default_seconds),
        designs,
        out,
    })
}

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_row(p: &Point) -> String {
    format!(
        "{},{},{:.3},{},{:.0},{},{},{}\n",
        p.design,
        p.threads,
        p.seconds,
        p.updates,
        p.updates_per_s,
        p.p50_ns,
        p.p99_ns,
        csv_field(&p.notes)
    )
}

/// What one `Instant::now()` costs here: the end of the first call and the
/// start of the second are inside every latency, so this is the floor the
/// fastest design cannot go below.
fn timer_cost_ns() -> f64 {
    const N: u32 = 200_000;
    let start = Instant::now();
    let mut last = start;
    for _ in 0..N {
        last = std::hint::black_box(Instant::now());
    }
    (last - start).as_nanos() as f64 / f64::from(N)
}

fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn print_table(points: &[Point], designs: &[&'static str], threads: &[usize], mode: Mode) {
    let rows: Vec<&Point> = designs
        .iter()
        .flat_map(|d| {
            threads.iter().filter_map(move |t| {
                points
                    .iter()
                    .find(|p| p.design == *d && p.threads == *t && p.mode == mode)
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!("\n{}:", mode.name());
    println!(
        "{:<24} {:>7} {:>14} {:>10} {:>12}  notes",
        "design", "threads", "updates/s", "p50 ns", "p99 ns"
    );
    let mut last = "";
    for p in rows {
        if !last.is_empty() && last != p.design {
            println!();
        }
        last = p.design;
        println!(
            "{:<24} {:>7} {:>14} {:>10} {:>12}  {}",
            p.design,
            p.threads,
            group(p.updates_per_s as u64),
            group(p.p50_ns),
            group(p.p99_ns),
            p.notes
        );
    }
}

fn write_csv(path: &Path, points: &[Point]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(b"design,threads,seconds,updates,updates_per_s,p50_ns,p99_ns,notes\n")?;
    for p in points {
        f.write_all(csv_row(p).as_bytes())?;
    }
    f.flush()
}

fn main() {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("store bench: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&options.out) {
        eprintln!("store bench: cannot create {}: {e}", options.out.display());
        std::process::exit(1);
    }
    let csv_path = options.out.join("store.csv");

    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "store contention bench: {} s per point, closed-loop threads {:?}, paced threads {:?}, {cpus} CPUs",
        options.seconds, options.threads, options.paced_threads
    );
    if let Some(load) = load_average() {
        let one_min: f64 = load
            .split(' ')
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0.0);
        let busy = if one_min > cpus as f64 {
            "  (above the CPU count: other work is running, numbers are lower and noisier)"
        } else {
            ""
        };
        println!("load average {load}{busy}");
    }
    println!(
        "Instant::now() costs {:.0} ns here; every latency includes about one",
        timer_cost_ns()
    );

    let runs = [
        (Mode::Closed, &options.threads),
        (Mode::Paced, &options.paced_threads),
    ];
    let total: usize = runs
        .iter()
        .map(|(_, t)| t.len() * options.designs.len())
        .sum();
    let mut points = Vec::with_capacity(total);
    for (mode, thread_counts) in runs {
        // Threads outermost: the designs at one thread count run back to
        // back, under the same background load.
        for &threads in thread_counts {
            for &design in &options.designs {
                eprint!(
                    "[{}/{total}] {design} x {threads} ({}) ... ",
                    points.len() + 1,
                    mode.name()
                );
                let p = run_design(design, threads, mode, options.seconds);
                eprintln!(
                    "{} updates/s, p99 {} ns",
                    group(p.updates_per_s as u64),
                    group(p.p99_ns)
                );
                points.push(p);
                // Rewritten after every point, so a failure later keeps what
                // was measured.
                if let Err(e) = write_csv(&csv_path, &points) {
                    eprintln!("store bench: cannot write {}: {e}", csv_path.display());
                    std::process::exit(1);
                }
            }
        }
    }

    for (mode, thread_counts) in runs {
        print_table(&points, &options.designs, thread_counts, mode);
    }
    let shown = std::fs::canonicalize(&csv_path).unwrap_or(csv_path);
    println!("\nCSV: {}", shown.display());
}
