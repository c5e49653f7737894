//! Bench (a), store contention: what "apply one update for my key and get the
//! new count back" costs when many threads do it at once, for seven designs.
//!
//! # Why
//!
//! The original Go server kept its store as one global `RWMutex` over a
//! `map[string]string` and its author blamed "too many threads, visible
//! thread blocking" for its limits. This project's store
//! (src/server/store.rs) is split instead: a store thread owns the key
//! index, and every link updates its own `Arc<AtomicU64>`.
//! docs/ARCHITECTURE.md ("Why the store is split this way") explains the trap it avoids: sending every update to the store
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

mod designs;
mod options;
mod output;
mod point;
mod worker;

use std::thread;
use std::time::{Duration, Instant};

use options::{USAGE, parse_args};
use output::{group, print_table, write_csv};
use point::run_design;
use worker::Mode;

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
    let [a, b, c] = hostinfo::machine::load_average()?;
    Some(format!("{a:.2} {b:.2} {c:.2}"))
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
