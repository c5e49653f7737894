//! System bench (issue 5, parts b and c): the real programs on 127.0.0.1,
//! side by side with a bare ping-pong floor, in two process layouts,
//! measured in the same run.
//!
//! # What it measures
//!
//! For each point (N clients x 10 servers, a schedule, a `cpu_affinity`):
//!
//! * **system**: writes a config into the output directory and runs the real
//!   `startup --config F --duration D --report R --quiet` (which starts the
//!   real `server` and `client` processes), then reads its JSON report:
//!   achieved and target updates/s, latency and lateness p99, CPU
//!   microseconds per acked update (servers + clients), context switches per
//!   update (servers + clients; empty where the OS keeps no count), the
//!   largest server and client RSS, and whether the run verified. A failed
//!   verify is shown as `FAILED`, never dropped.
//! * **pingpong**: the floor of the model, with the same layout. This binary
//!   re-executes itself as 10 `__pingpong-server PORT CPU|none` processes (an
//!   accept loop, one 64 KiB-stack thread per connection, TCP_NODELAY, read
//!   32 bytes, write them back; link threads at the system's ranks: the echo
//!   threads normal, the client threads `SCHED_IDLE`) and N `__pingpong-client
//!   SECONDS SCHEDULE CPU-LIST PORTS...` processes (one thread per server
//!   link: write 32 bytes, read the 32-byte reply, on the same fixed-rate,
//!   fixed-delay or closed-loop schedule with the same 10 ms interval and the
//!   same stagger).
//!   No parsing, no store, no histograms, no status rounds. Every link stops
//!   at the end of the window, due sends or not, so a floor that cannot keep
//!   up shows it as a percent of target below 100. CPU (utime+stime
//!   from `/proc/<pid>/stat`) and context switches (voluntary + nonvoluntary,
//!   summed over `/proc/<pid>/task/*/status`) of all those processes are read
//!   just before the clients are told to go and just after the last one
//!   reports its count, and divided by the round trips completed. With
//!   `by-server` affinity both ends of the links to server k are pinned to
//!   CPU k % ncpus, as the system does.
//! * **pingpong-1p**: the same ping-pong in ONE process. This binary
//!   re-executes itself once as `__pingpong-one SECONDS SCHEDULE CPU-LIST
//!   CLIENTS PORTS...`, which holds the 10 listeners (an acceptor thread
//!   each), every server link thread and all N x 10 client link threads:
//!   the same code, 64 KiB stacks, schedule, stagger of first sends and
//!   `by-server` pinning (both ends of the links to server k on CPU
//!   k % ncpus) as **pingpong**, only without the process boundaries. Its
//!   `/proc` figures are read the same way, over the same window.
//!
//! # Why
//!
//! The original never reached its own target of 100 clients x 10 servers x
//! 100 updates/s = 100,000 updates/s, and this project keeps its model on
//! purpose: one OS thread per link, blocking sockets. The system's work per
//! update is small (parse a line,
//! one `fetch_add`, write an ack); what it pays for is the model: every
//! update wakes two threads through the kernel, and with threads spread over
//! CPUs each wakeup can be a cross-CPU interrupt (a VM exit on a virtual
//! machine). This bench shows where threads hit the wall: CPU us per update
//! and context switches per update as links grow, with and without pinning,
//! against the floor that any thread-per-link program with the same wakeups
//! pays. A system/pingpong CPU ratio near 1 means the model, not the code,
//! is the cost; the achieved/target column shows where the machine runs out.
//!
//! The floor itself could cost what it does for two different reasons: the
//! process layout (10 + N processes, so nearly every wakeup switches to
//! another process's address space) or loopback TCP and thread wakeups as
//! such. The
//! one-process ping-pong keeps every thread, socket and wakeup and removes
//! only the processes, so it tells the two apart: `1p/pp`, its CPU per round
//! trip over the processes' ping-pong's, near 1 means splitting into
//! processes costs nothing and the floor is the sockets and the wakeups;
//! well below 1 means switching between processes is a real share of it.
//!
//! # How to run
//!
//! ```text
//! cargo bench --bench system -- --quick        # 10x10 fixed-rate, 2 s per run (CI)
//! cargo bench --bench system                   # the full sweep, 10 s per run
//! cargo bench --bench system -- --links 10,100 --schedules fixed-rate,closed-loop \
//!     --affinity off,by-server --duration 5s
//! cargo bench --bench system -- --links 100 --floors one-process
//! ```
//!
//! Points: N in 10, 50, 100, 200, 1000 (`--links` picks N), times
//! fixed-rate, fixed-delay, closed-loop (`--schedules`), times affinity off
//! and by-server (`--affinity`); without `--links`, 1000x10 runs only under
//! fixed-rate. `--duration` sets every run's length (default 10s), `--out`
//! the output directory (default `target/bench-system/<UTC
//! YYYYmmdd-HHMMSS>/`). `--floors` picks the ping-pong layouts run beside
//! the system (`processes`, `one-process`; both by default, `--quick` too),
//! each point running system, pingpong, pingpong-1p in turn. On Linux the
//! soft descriptor limit is raised to the hard one before a point that needs
//! more; a point that still does not fit is skipped with a message, and so
//! is a one-process run, which alone needs two descriptors per link (about
//! 20,000 at 1000x10). Run it on a quiet machine: other load inflates
//! both CPU per update and latency (the header and footer print the load).
//!
//! # How to read it
//!
//! A line per run while it goes, then a table: per point, the system's
//! updates/s and percent of target, CPU us and context switches per update,
//! latency and lateness p99, RSS (server/client, MB) and verify; the
//! ping-pong's round trips/s, percent of target, CPU us and context switches
//! per round trip; and `sys/pp`, the system's CPU per update over the
//! ping-pong's. A second table, row for row, gives the one-process
//! ping-pong's round trips/s, percent of target, CPU us and context switches
//! per round trip, and `1p/pp`: its CPU and its context switches per round
//! trip over the processes' ping-pong's (context switches between threads
//! of one process still count; they only skip the address-space switch).
//! The output directory holds `system.csv` (one row per run, `kind` =
//! system, pingpong or pingpong-1p, empty cells where a figure does not
//! apply: pingpong-1p has no RSS, its one process being neither a server
//! nor a client), each run's config, report and logs, and the PNGs drawn by
//! `scripts/plot_bench.py` (achieved/target, CPU per op, context switches
//! per op, latency p99, each against links, one panel per schedule; the
//! floors dashed (processes) and dash-dot (one process)). If plotting fails
//! the CSV is kept and a warning is printed.
//!
//! Each progress line ends with the share of the machine that *other*
//! processes used during the run (Linux: `/proc/stat` busy time minus this
//! bench's and its reaped children's rusage; neighbours in other containers
//! on the same kernel count too). Under the table, `note:` lines flag what
//! makes a figure less than clean: other processes above 10%, a system run
//! whose clients ran well past `--duration` (slow to stop), a report whose
//! CPU per update times updates/s exceeds the machine's CPUs, a report CPU
//! per update more than 30% away from the whole run's (startup and all its
//! children, by rusage, over acked updates), errors, reconnects, dead
//! children, failed ping-pong links, and a ping-pong whose CPU per round
//! trip times round trips/s exceeds the machine's CPUs (client processes
//! each start on reading their go; on a saturated machine their runs do not
//! all overlap and the processes' round trips/s reads high, which the
//! single process, with one start, does not suffer).
//!
//! The windows differ: the system's CPU and switches are counted over
//! startup's own sampling window (see its report), both ping-pongs' from the
//! go to the last count; and the ping-pongs record no latency.
//! Windows: the programs run, `/proc` figures of both ping-pongs are left
//! empty, and the system's context switches are empty (Windows keeps no count).

mod fleet;
mod floor;
mod machine;
mod options;
mod other_cpu;
mod output;
mod pingpong;
mod system_run;

use std::io::Write as _;
use std::thread;
use std::time::{Duration, Instant};

use floor::run_pingpong;
use machine::{cpus, fd_shortfall, load_text, thread_shortfall};
use options::{Measure, Row, parse_options, points};
use output::{default_out_dir, plot, summary, table, write_csv};
use system_run::run_system;

/// Server processes of every point (the original's soak: 100 clients x 10 servers).
const SERVERS: usize = 10;
/// Milliseconds between two updates of one link.
const INTERVAL_MS: u64 = 10;
/// Client counts of the full sweep (the `N` of `N x 10`).
const CLIENT_COUNTS: [usize; 5] = [10, 50, 100, 200, 1000];
/// Schedules of the full sweep, as the config spells them.
const SCHEDULES: [&str; 3] = ["fixed-rate", "fixed-delay", "closed-loop"];
/// `cpu_affinity` values of the full sweep.
const AFFINITIES: [&str; 2] = ["off", "by-server"];

const USAGE: &str = "\
cargo bench --bench system -- [OPTIONS]

    --quick              10x10 fixed-rate affinity=off only, 2 s per run, every floor (CI)
    --links 10,100       client counts N of the N x 10 points [10,50,100,200,1000]
    --schedules LIST     fixed-rate,fixed-delay,closed-loop [all]
    --affinity LIST      off,by-server [both]
    --floors LIST        ping-pong floors run beside the system: processes (10 server and
                         N client processes, kind pingpong), one-process (the same threads
                         in one process, kind pingpong-1p) [both]
    --duration D         length of every run: 500ms, 10s, 2m [10s]
    --out DIR            output directory [target/bench-system/<UTC YYYYmmdd-HHMMSS>/]

Without --links, 1000x10 runs under fixed-rate only.";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("__pingpong-server") => pingpong::server(&args[1..]),
        Some("__pingpong-client") => pingpong::client(&args[1..]),
        Some("__pingpong-one") => pingpong::one(&args[1..]),
        _ => bench(&args),
    };
    std::process::exit(code);
}

/// The configured update interval.
fn interval() -> Duration {
    Duration::from_millis(INTERVAL_MS)
}

// ---------------------------------------------------------------- the bench

fn bench(args: &[String]) -> i32 {
    let o = match parse_options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("system bench: {e}");
            return 2;
        }
    };
    let out = o.out.clone().unwrap_or_else(default_out_dir);
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("system bench: cannot create {}: {e}", out.display());
        return 2;
    }
    let points = points(&o);
    let started = Instant::now();
    println!(
        "system bench: {} point(s), {:.1} s per run, {} CPU(s){}, output {}",
        points.len(),
        o.duration.as_secs_f64(),
        cpus(),
        load_text(),
        out.display()
    );
    let mut rows: Vec<Row> = Vec::new();
    for (i, point) in points.iter().enumerate() {
        let tag = format!("[{}/{}] {}", i + 1, points.len(), point.label());
        if let Some(why) = fd_shortfall(point.fds_needed()).or_else(|| thread_shortfall(point)) {
            println!("{tag} skipped: {why}");
            continue;
        }
        let system = progress(&format!("{tag} system"), || {
            run_system(point, o.duration, &out)
        });
        let mut floors = Vec::new();
        for &floor in &o.floors {
            thread::sleep(Duration::from_millis(500)); // let the last run's processes go
            let m = progress(&format!("{tag} {}", floor.kind()), || {
                run_pingpong(point, floor, o.duration, &out)
            });
            floors.push((floor, m));
        }
        rows.push(Row {
            point: point.clone(),
            system,
            floors,
        });
        if let Err(e) = write_csv(&out.join("system.csv"), &rows) {
            eprintln!("system bench: cannot write system.csv: {e}");
        }
    }
    println!();
    print!("{}", table(&rows));
    let csv = out.join("system.csv");
    if rows.is_empty() {
        println!("system bench: nothing was measured");
    } else {
        plot(&csv);
    }
    println!(
        "system bench: done in {:.1} s{}; results in {}",
        started.elapsed().as_secs_f64(),
        load_text(),
        out.display()
    );
    0
}

/// Runs one measurement, printing `tag ...` before and its summary after.
/// Also notes when other processes took a noticeable share of the machine.
fn progress(tag: &str, run: impl FnOnce() -> Result<Measure, String>) -> Result<Measure, String> {
    print!("{tag} ... ");
    let _ = std::io::stdout().flush();
    let t = Instant::now();
    let meter = other_cpu::Meter::start();
    let mut r = run();
    let secs = t.elapsed().as_secs_f64();
    let other = meter.and_then(|m| m.other_percent());
    let other_text = other
        .map(|o| format!(", other processes {o:.0}% of the machine"))
        .unwrap_or_default();
    match &mut r {
        Ok(m) => {
            if let Some(o) = other.filter(|o| *o >= 10.0) {
                m.notes.push(format!(
                    "other processes used {o:.0}% of the machine meanwhile: figures disturbed"
                ));
            }
            println!("{} ({secs:.1} s{other_text})", summary(m));
        }
        Err(e) => println!("ERROR: {e} ({secs:.1} s{other_text})"),
    }
    r
}
