//! Engines bench (issue 15): the same workload on three concurrency models,
//! measured side by side in one run, with redis beside them.
//!
//! # What it measures
//!
//! For each point (N x 10 links, a schedule, an engine):
//!
//! * **threads**, **evloop**, **tokio**: the product's `server`/`client`
//!   (a thread per link), the event-loop engine's `server-evloop`/
//!   `client-evloop` (mio, one loop thread per CPU) and the async engine's
//!   `server-tokio`/`client-tokio` (a task per link), the same engine on
//!   both sides; **client:E+server:E** a mixed pair. All six programs take
//!   the same options and speak the same control protocol, so the bench
//!   runs each pair the same way: 10 server processes (one per port, as
//!   startup starts them), and the links packed into at most 10 client
//!   processes, each given its links as repeated `--server` options, spread
//!   evenly over the servers. It plays startup's part itself because
//!   startup runs one process per client, each with one link per server:
//!   100,000 links would be 10,000 client processes, and the engines' point
//!   is many links per process. It speaks the same lines startup does
//!   (`ready` until every link is up, one `go START END` to all, `stop` for
//!   the reports), reads every server's `dump` and checks them against the
//!   reports with the product's `verify`.
//! * **evloop-1t**, **tokio-1t**, **tokio-ct**: the loop engines in
//!   thread-per-core shapes: one loop thread or one runtime worker per
//!   process, and tokio's current-thread runtime (`MASS_CONNECT_TOKIO_FLAVOR`).
//!   With ten server nodes that is 20 one-thread processes on the CPUs.
//! * **redis**, **redis-t2**, **redis-io2**: redis-server and
//!   redis-benchmark `INCR` with as many connections as the point has
//!   links, closed loop only (redis-benchmark has no fixed rate); the
//!   benchmark on one thread, on two, and on two beside a server with two
//!   I/O threads (`redis.rs`). Install: `apt-get install redis-server
//!   redis-tools`; without them the row says so.
//!
//! Per point: achieved updates/s and percent of target; CPU microseconds
//! per update, user and system apart; context switches per update, and
//! apart voluntary (a thread blocked) and involuntary (it was preempted);
//! the mean wait from runnable to running per timeslice (schedstat's
//! `run_delay`), servers' threads and clients' apart; resident memory per
//! link (every process's RSS at the end of the window over the links);
//! what the kernel's own memory grew by from before the processes started
//! to the window's end (`/proc/meminfo` KernelStack, Slab, SUnreclaim,
//! PageTables and `/proc/net/sockstat` TCP inuse, orphan, mem), and from
//! it the kernel's and the total bytes per link; threads (summed), and
//! against them the threads the engines' models expect; time to connect
//! every link; latency p50/p99/p99.9 and CCDF data (send to ack, from the
//! clients' merged histograms); lateness p99 (due to send, fixed rate);
//! acked per link min/median/max (fairness); errors by kind and
//! reconnects; verify; and, for a point that could not run, the OS limit
//! its messages name. CPU, switches and run delay are read from `/proc` of
//! every process of the point just before the go and just after the
//! window's end, and divided by the updates acked in the window. Every
//! row also names the commit and the machine that produced it.
//!
//! # Why
//!
//! The product keeps the original's model, a thread per link, on purpose;
//! this bench shows what the other models would have bought and cost on
//! the same workload, with every update verified, instead of quoting other
//! people's numbers. docs/THREADS_VS_ASYNC.md tells the lesson from one
//! full run.
//!
//! # How to run
//!
//! ```text
//! cargo bench --bench engines -- --quick       # 100 links, closed loop, every engine, 2 s (CI)
//! cargo bench --bench engines                  # the full sweep, 10 s per run
//! cargo bench --bench engines -- --links 100 --schedules closed-loop --engines evloop,redis
//! cargo bench --bench engines -- --engines client:threads+server:evloop,client:evloop+server:threads
//! cargo bench --bench engines -- --blocking    # 1,000 links at 100 ms, without and with an injected block, 3 rounds
//! cargo bench --bench engines -- --wall        # evloop at 100,000, 300,000, 1,000,000 links, 60 s interval
//! cargo bench --bench engines -- --wall --wall-links 20000 --wall-interval 30s --duration 60s --engines tokio
//! ```
//!
//! `--blocking` runs the blocking experiment instead of the sweep
//! (`blocking.rs` says what it does and what its `blocking.csv` holds);
//! `--quick` never runs it. `--wall` runs the wall instead (`wall.rs`:
//! a ladder of link counts on one engine, up to a million links on this
//! host, processes and loopback addresses sized from the open-files
//! limit by `layout.rs`, one update per link per minute, stopping at the
//! first step that fails and naming the limit; its `wall.csv` holds each
//! step's links, errors, verify and the kernel's memory figures).
//!
//! Points: N in 10, 100, 1000, 3000, 10000 (`--links` picks N; the point has
//! N x 10 links), times the schedules `10ms`, `1s` (fixed rate at that
//! interval) and `closed-loop` (up to 10,000 links unless `--links` is
//! given), times the engines. `--threads N` sets the loop threads / workers
//! of every evloop and tokio process (their default is one per CPU),
//! `--duration` every run's length (default 10 s), `--out` the output
//! folder (default `target/bench-engines/<UTC YYYYmmdd-HHMMSS>/`). The
//! open-files limit is raised as far as the bench may (as root, the hard
//! limit too); the other limits a thread per link meets are the kernel's,
//! and docs/THREADS_VS_ASYNC.md gives the commands that raise them. The
//! header prints those in force. Run it on a quiet machine.
//!
//! # How to read it
//!
//! A line per point while it goes, then a table (one row per point), notes
//! under it, and the output folder: `engines.csv` (one row per point), each
//! point's config and log, and the PNGs drawn by `scripts/plot_engines.py`:
//! memory per link (log-log), CPU per update (user and system stacked),
//! achieved / target, latency CCDF at three sizes per engine, fairness (box
//! plot of acked per link), context switches per update. `engines.html`
//! beside them is the page to open first: the commit and machine, the same
//! charts with a line each on how to read them, and the rows, in one file
//! that opens offline (the charts are inside it; `scripts/report_html.py`).
//! The run's last line gives its path. If plotting fails the CSV is kept
//! and a warning is printed.
//!
//! `engines.csv`'s columns, in order (an empty cell: not applicable, or
//! not read):
//!
//! * `engine`, `client_engine`, `server_engine`, `links`, `clients`,
//!   `servers`, `processes`, `schedule`, `duration_s`: the point.
//! * `target_per_s`, `achieved_per_s`, `achieved_ratio`; `cpu_user_us_per_op`,
//!   `cpu_sys_us_per_op`; `ctx_per_op` (both kinds of switch); `rss_mb`,
//!   `rss_bytes_per_link`; `threads` (alive at the window's end, summed);
//!   `connect_s`; `latency_p50_us`, `latency_p99_us`, `latency_p999_us`,
//!   `lateness_p99_us`; `acked_min`, `acked_median`, `acked_max` (per
//!   link); `verify_ok`; `limit` and `error` for a point that failed.
//! * `commit` (`git rev-parse --short HEAD`, `-dirty` when `src`, `engines`,
//!   `benches`, `crates` or the manifests differ from it) and `machine`
//!   (CPU model; CPUs this bench may use; OS and kernel release).
//! * `errors`, `reconnects`, and `errors` by kind: `errors_connect`,
//!   `errors_write`, `errors_refused`, `errors_ack_timeout`,
//!   `errors_closed`, `errors_other` (the clients' reports, summed).
//! * `threads_expected`: what the engines' models give (threads: a thread
//!   per link on each end, plus per server its main, store and stdin
//!   threads and per client its main thread; evloop and tokio: their loops
//!   or workers instead of the link threads; `fleet::threads_expected`);
//!   `threads_alive_end`: counted in `/proc` at the window's end, before
//!   the stop (the same reading as `threads`).
//! * `kernel_stack_delta_bytes`, `slab_delta_bytes`,
//!   `slab_unreclaimable_delta_bytes`, `page_tables_delta_bytes`: what
//!   `/proc/meminfo`'s KernelStack, Slab, SUnreclaim and PageTables grew by
//!   from before the first server started to the window's end;
//!   `tcp_inuse_delta`, `tcp_orphan_delta`, `tcp_mem_delta_bytes`: the same
//!   for `/proc/net/sockstat`'s TCP line (mem: pages turned into bytes).
//!   Machine-wide figures: other work on the machine is in them (and the
//!   bench's own reader thread per process, 16 KiB of kernel stack each),
//!   so read them on a quiet machine, at sizes where the point dominates:
//!   there the threads engine's KernelStack delta is 16 KiB per thread
//!   (`--quick` in a quiet moment: 4,423,680 bytes, 270 x 16 KiB, for
//!   the point's 240 threads, the bench's 20 and `other_tasks_delta` 8).
//!   TCP's `mem` moves in per-CPU batches of about 1 MiB, so it is 0 or a
//!   MiB either way until the buffers of many links add up.
//!   `other_tasks_delta` gauges that noise: the machine's tasks
//!   (`/proc/loadavg`) over the same span, less the point's threads and
//!   the bench's reader threads. Near 0, the deltas are the point's; a few
//!   hundred either way (other work starting or ending threads), they are
//!   not to be trusted. redis rows have none of these (its benchmark has
//!   exited before the end is read).
//! * `kernel_bytes_per_link`: KernelStack + SUnreclaim + PageTables + TCP
//!   mem deltas over the links (reclaimable slab left out: mostly dentries
//!   and inodes, which the bench's own `/proc` reads grow);
//!   `total_bytes_per_link`: `rss_bytes_per_link` plus that.
//! * `ctx_vol_per_op`, `ctx_invol_per_op`: voluntary and involuntary
//!   switches per update (they add up to `ctx_per_op`).
//! * `run_delay_us_per_slice_server`, `run_delay_us_per_slice_client`: the
//!   servers' (clients') threads' run delay over the window over their
//!   timeslices in it: the mean wait from becoming runnable (a wakeup, or
//!   a preemption) to running, in microseconds. redis has the server's
//!   only (redis-benchmark is gone before it can be read).
//! * `cpu_sched_us_per_op`: CPU per update from the scheduler's
//!   nanoseconds (schedstat's time on CPU, every live thread of every
//!   process of the point), user and system together. `/proc`'s user and
//!   system times count in 10 ms ticks, so at light load
//!   (`cpu_user_us_per_op` + `cpu_sys_us_per_op` below a tick over the
//!   window) they read 0 and this does not; threads that exited in the
//!   window are missing from it, which a link thread does only on a
//!   reconnect.
//! * `latency_ccdf`: `quantile:microseconds` pairs, space-separated; the
//!   one cell that is a list, kept last.

mod blocking;
mod fleet;
mod layout;
mod machine;
mod measure;
mod options;
mod output;
mod procs;
mod provenance;
mod redis;
mod wall;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use options::{Engine, parse_options, points};
use output::{Row, default_out_dir, plot, print_done, summary, table, write_csv};
use provenance::Provenance;

/// Server processes of every sweep point (the wall sizes its own,
/// `layout.rs`).
const SERVERS: usize = layout::SERVERS;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(bench(&args));
}

fn bench(args: &[String]) -> i32 {
    let o = match parse_options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("engines bench: {e}");
            return 2;
        }
    };
    let bin = programs_dir();
    if let Err(e) = ensure_product_programs(&bin) {
        eprintln!("engines bench: {e}");
        return 2;
    }
    let out = o.out.clone().unwrap_or_else(|| default_out_dir(&bin));
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("engines bench: cannot create {}: {e}", out.display());
        return 2;
    }
    machine::raise_open_files();
    if o.blocking {
        let run = Provenance::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        return blocking::run(&o, &bin, &out, &run);
    }
    if let Some(w) = &o.wall {
        let run = Provenance::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        return wall::run(&o, w, &bin, &out, &run);
    }
    let points = points(&o);
    let started = Instant::now();
    println!(
        "engines bench: {} point(s), {:.1} s per run, {} CPU(s), output {}",
        points.len(),
        o.duration.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        out.display()
    );
    println!("engines bench: limits: {}", machine::limits_text());
    let run = Provenance::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    println!("engines bench: commit {}, {}", run.commit, run.machine);
    let mut rows = Vec::new();
    for (i, point) in points.iter().enumerate() {
        print!("[{}/{}] {} ... ", i + 1, points.len(), point.label());
        let _ = std::io::stdout().flush();
        let t = Instant::now();
        let m = match point.engine {
            Engine::Redis(kind) => redis::run_redis(point, kind, o.duration, &out),
            Engine::Pair { .. } => fleet::run_pair(point, o.duration, o.engine_threads, &bin, &out),
        };
        println!("{} ({:.1} s)", summary(&m), t.elapsed().as_secs_f64());
        rows.push(Row {
            point: point.clone(),
            m,
        });
        if let Err(e) = write_csv(&out.join("engines.csv"), &rows, &run) {
            eprintln!("engines bench: cannot write engines.csv: {e}");
        }
        // Let the last point's sockets and processes go.
        std::thread::sleep(Duration::from_millis(500));
    }
    println!();
    print!("{}", table(&rows));
    let report = if rows.is_empty() {
        println!("engines bench: nothing was measured");
        None
    } else {
        plot(&out.join("engines.csv"))
    };
    print_done(started, &out, report.as_deref());
    // A point an OS limit stopped is a finding, and redis may simply not be
    // installed; any other failure (a program that cannot start) is a bug
    // the bench must not hide behind a table.
    let broken: Vec<String> = rows
        .iter()
        .filter(|r| r.m.error.is_some() && r.m.limit.is_none() && !r.point.engine.is_redis())
        .map(|r| r.point.label())
        .collect();
    if !broken.is_empty() {
        eprintln!(
            "engines bench: {} point(s) failed with no OS limit to blame: {}",
            broken.len(),
            broken.join("; ")
        );
        return 1;
    }
    0
}

/// Where cargo put this bench's programs (the engines', and the product's
/// beside them in a workspace build).
fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_server-evloop"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The product's `server` and `client` are another package's programs,
/// which cargo does not build for this bench: have cargo build them (same
/// profile, same folder; a no-op when they are up to date). cargo has let
/// go of the build folder's lock by the time it runs a bench. The folder is
/// named outright: a relative `CARGO_TARGET_DIR` would be read against the
/// bench's working directory (the engines package), not the workspace's.
/// `bench` is
/// the profile whose output cargo puts in `release/`: it is `release` unless
/// the caller changed it (CI's quick run turns its LTO off with
/// `CARGO_PROFILE_BENCH_*`), and then the product's programs follow suit.
fn ensure_product_programs(bin: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = bin.parent().unwrap_or(bin);
    let mut args = vec![
        "build",
        "-q",
        "-p",
        "mass_connect",
        "--bin",
        "server",
        "--bin",
        "client",
    ];
    if bin.ends_with("release") {
        args.extend(["--profile", "bench"]);
    }
    let status = Command::new(cargo)
        .args(&args)
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the product's programs failed ({status})"));
    }
    Ok(())
}
