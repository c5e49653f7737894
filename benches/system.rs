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
//!   32 bytes, write them back; link threads on both ends at the system's
//!   link-thread priority, nice +19) and N `__pingpong-client SECONDS SCHEDULE
//!   CPU-LIST PORTS...` processes (one thread per server link: write 32
//!   bytes, read the 32-byte reply, on the same fixed-rate, fixed-delay or
//!   closed-loop schedule with the same 10 ms interval and the same stagger).
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

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mass_connect::client::schedule::unix_micros;
use serde_json::{Value, json};

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

// ---------------------------------------------------------------- options

struct Options {
    clients: Vec<usize>,
    schedules: Vec<String>,
    affinities: Vec<String>,
    /// True when `--links` was given: 1000x10 then runs under every schedule.
    links_given: bool,
    /// The ping-pong layouts to run beside the system, in `Floor::ALL` order.
    floors: Vec<Floor>,
    duration: Duration,
    out: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        clients: CLIENT_COUNTS.to_vec(),
        schedules: SCHEDULES.iter().map(|s| s.to_string()).collect(),
        affinities: AFFINITIES.iter().map(|s| s.to_string()).collect(),
        links_given: false,
        floors: Floor::ALL.to_vec(),
        duration: Duration::from_secs(10),
        out: None,
    };
    let (mut quick, mut schedules, mut affinities, mut duration) = (false, None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{name} needs a value"))
        };
        match name {
            "--bench" => {} // cargo bench passes it to every bench
            "--quick" => quick = true,
            "--links" => {
                o.clients = list(&value()?, |s| s.parse::<usize>().ok().filter(|n| *n > 0))?;
                o.links_given = true;
            }
            "--schedules" => {
                schedules = Some(list(&value()?, |s| {
                    SCHEDULES.contains(&s).then(|| s.to_string())
                })?)
            }
            "--affinity" => {
                affinities = Some(list(&value()?, |s| {
                    AFFINITIES.contains(&s).then(|| s.to_string())
                })?)
            }
            "--floors" => {
                let asked = list(&value()?, |s| {
                    Floor::ALL.into_iter().find(|f| f.option_name() == s)
                })?;
                // Always in the same order, whatever order they were given in.
                o.floors = Floor::ALL
                    .into_iter()
                    .filter(|f| asked.contains(f))
                    .collect();
            }
            "--duration" => {
                let v = value()?;
                duration = Some(
                    mass_connect::cli::parse_duration(&v)
                        .ok_or(format!("--duration {v:?}: expected e.g. 500ms, 10s, 2m"))?,
                );
            }
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if quick {
        if !o.links_given {
            o.clients = vec![10];
            o.links_given = true;
        }
        o.schedules = vec!["fixed-rate".into()];
        o.affinities = vec!["off".into()];
        o.duration = Duration::from_secs(2);
    }
    if let Some(s) = schedules {
        o.schedules = s;
    }
    if let Some(a) = affinities {
        o.affinities = a;
    }
    if let Some(d) = duration {
        o.duration = d;
    }
    Ok(o)
}

/// Parses a comma-separated list, each item checked by `item`.
fn list<T>(text: &str, item: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| item(s).ok_or(format!("{s:?} is not accepted here")))
        .collect::<Result<Vec<T>, String>>()
        .and_then(|v| {
            if v.is_empty() {
                Err(format!("empty list {text:?}"))
            } else {
                Ok(v)
            }
        })
}

// ---------------------------------------------------------------- points and results

/// One point of the sweep: `clients x SERVERS`, a schedule, an affinity.
#[derive(Clone)]
struct Point {
    clients: usize,
    schedule: String,
    affinity: String,
}

impl Point {
    fn links(&self) -> usize {
        self.clients * SERVERS
    }

    fn label(&self) -> String {
        format!(
            "{}x{} {} affinity={}",
            self.clients, SERVERS, self.schedule, self.affinity
        )
    }

    fn file_stem(&self) -> String {
        format!(
            "{}x{}-{}-{}",
            self.clients, SERVERS, self.schedule, self.affinity
        )
    }

    /// Target updates per second, `None` for closed loop.
    fn target_per_s(&self) -> Option<f64> {
        (self.schedule != "closed-loop").then(|| self.links() as f64 * 1000.0 / INTERVAL_MS as f64)
    }

    /// Descriptors the busiest process of the point needs (startup holds
    /// pipes to every child; a server holds one socket per client).
    fn fds_needed(&self) -> u64 {
        4 * (self.clients + SERVERS) as u64 + 256
    }

    /// Descriptors of the one-process ping-pong: both ends of every link,
    /// the listeners, stdio and pipes.
    fn fds_needed_one_process(&self) -> u64 {
        2 * self.links() as u64 + SERVERS as u64 + 64
    }
}

fn points(o: &Options) -> Vec<Point> {
    let mut v = Vec::new();
    for &clients in &o.clients {
        for schedule in &o.schedules {
            if clients >= 1000 && !o.links_given && schedule != "fixed-rate" {
                continue;
            }
            for affinity in &o.affinities {
                v.push(Point {
                    clients,
                    schedule: schedule.clone(),
                    affinity: affinity.clone(),
                });
            }
        }
    }
    v
}

/// What one run of one kind (system, pingpong or pingpong-1p) measured.
#[derive(Default, Clone)]
struct Measure {
    duration_s: f64,
    target_per_s: Option<f64>,
    achieved_per_s: f64,
    achieved_ratio: Option<f64>,
    cpu_us_per_op: Option<f64>,
    ctx_per_op: Option<f64>,
    latency_p99_us: Option<f64>,
    lateness_p99_us: Option<f64>,
    server_rss_mb: Option<f64>,
    client_rss_mb: Option<f64>,
    verify_ok: Option<bool>,
    /// Anything that makes the figures less than clean, shown under the table.
    notes: Vec<String>,
}

struct Row {
    point: Point,
    system: Result<Measure, String>,
    /// One run per layout `--floors` asked for, in `Floor::ALL` order.
    floors: Vec<(Floor, Result<Measure, String>)>,
}

impl Row {
    /// `floor`'s run, if it was asked for.
    fn floor(&self, floor: Floor) -> Option<&Result<Measure, String>> {
        self.floors
            .iter()
            .find(|(f, _)| *f == floor)
            .map(|(_, m)| m)
    }

    /// Every run of the point with its CSV kind: the system, then the floors.
    fn runs(&self) -> impl Iterator<Item = (&'static str, &Result<Measure, String>)> {
        std::iter::once(("system", &self.system))
            .chain(self.floors.iter().map(|(f, m)| (f.kind(), m)))
    }
}

// ---------------------------------------------------------------- the bench

fn bench(args: &[String]) -> i32 {
    let o = match parse_options(args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("system bench: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() { 0 } else { 2 };
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

fn summary(m: &Measure) -> String {
    let mut s = format!("{:.0}/s", m.achieved_per_s);
    if let (Some(t), Some(r)) = (m.target_per_s, m.achieved_ratio) {
        let _ = write!(s, " of {t:.0} ({:.1}%)", r * 100.0);
    }
    if let Some(c) = m.cpu_us_per_op {
        let _ = write!(s, ", {c:.1} us CPU/op");
    }
    if let Some(c) = m.ctx_per_op {
        let _ = write!(s, ", {c:.2} ctx/op");
    }
    if let Some(p) = m.latency_p99_us {
        let _ = write!(s, ", p99 {p:.0} us");
    }
    match m.verify_ok {
        Some(true) => s.push_str(", verify ok"),
        Some(false) => s.push_str(", verify FAILED"),
        None => {}
    }
    s
}

// ---------------------------------------------------------------- (b) the real system

fn run_system(p: &Point, duration: Duration, out: &Path) -> Result<Measure, String> {
    let ports = free_ports(SERVERS)?;
    let stem = p.file_stem();
    let config = json!({
        "server_ip_list": "127.0.0.1",
        "server_port_list": ports.iter().map(u16::to_string).collect::<Vec<_>>().join(";"),
        "client_num_per_host": p.clients,
        "update_intervals": INTERVAL_MS,
        "schedule": p.schedule,
        "cpu_affinity": p.affinity,
    });
    let config_path = out.join(format!("{stem}.config.json"));
    let report_path = out.join(format!("{stem}.report.json"));
    let log_path = out.join(format!("{stem}.startup.log"));
    let _ = std::fs::remove_file(&report_path);
    std::fs::write(&config_path, format!("{config:#}\n"))
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let cpu_before = other_cpu::ours_s();
    let mut child = Command::new(env!("CARGO_BIN_EXE_startup"))
        .arg("--config")
        .arg(&config_path)
        .arg("--duration")
        .arg(format!("{}ms", duration.as_millis().max(1)))
        .arg("--report")
        .arg(&report_path)
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start startup: {e}"))?;
    // Starting, stopping and verifying 1,000 clients takes a while on a small
    // machine, and an overloaded system is slow to stop.
    let limit =
        duration * 2 + Duration::from_secs(120) + Duration::from_millis(500 * p.clients as u64);
    let status = wait_until(&mut child, Instant::now() + limit);
    let Some(status) = status else {
        return Err(format!(
            "startup did not finish within {:.0} s: killed; see {}",
            limit.as_secs_f64(),
            log_path.display()
        ));
    };
    // startup, and every child it reaped, as a cross-check of the report.
    let whole_cpu_s = cpu_before.zip(other_cpu::ours_s()).map(|(a, b)| b - a);
    let text = std::fs::read_to_string(&report_path).map_err(|_| {
        format!(
            "startup exited ({status}) without a report; see {}",
            log_path.display()
        )
    })?;
    let r: Value = serde_json::from_str(&text).map_err(|e| format!("bad report: {e}"))?;
    let f = |ptr: &str| r.pointer(ptr).and_then(Value::as_f64);
    let sum = |a: Option<f64>, b: Option<f64>| Some(a? + b?);
    let target = f("/target_ops_per_s").filter(|t| *t > 0.0);
    let ran = f("/duration_s").unwrap_or(0.0);
    let mut notes = Vec::new();
    let asked = duration.as_secs_f64();
    if ran > asked * 1.2 + 1.0 {
        notes.push(format!(
            "clients ran {ran:.1} s of a {asked:.1} s run: slow to stop"
        ));
    }
    let cpu_us = sum(
        f("/processes/server/cpu_us_per_op"),
        f("/processes/client/cpu_us_per_op"),
    );
    let achieved = f("/achieved_ops_per_s").unwrap_or(0.0);
    if let Some(cores) = cpu_us.map(|c| c * achieved / 1e6) {
        let machine = cpus() as f64;
        if cores > machine * 1.05 {
            // More CPU per update than the machine has time for at this rate.
            notes.push(format!(
                "CPU/op x updates/s = {cores:.1} cores on a {machine:.0}-CPU machine: \
                 the report's CPU/op (and likely ctx/op) cannot be right"
            ));
        }
    }
    let count = |ptr: &str| r.pointer(ptr).and_then(Value::as_u64).unwrap_or(0);
    let acked = count("/acked");
    if let (Some(whole), Some(reported), true) = (whole_cpu_s, cpu_us, acked > 0) {
        let whole_us = whole * 1e6 / acked as f64;
        if (whole_us - reported).abs() > 0.3 * reported.max(whole_us) {
            notes.push(format!(
                "whole run, startup and all its children (rusage) / acked: \
                 {whole_us:.1} us CPU/op against the report's {reported:.1}"
            ));
        }
    }
    let (errors, reconnects) = (count("/errors"), count("/reconnects"));
    if errors + reconnects > 0 {
        notes.push(format!("{errors} error(s), {reconnects} reconnect(s)"));
    }
    if let Some(died) = r
        .pointer("/children_died")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
    {
        notes.push(format!("{} child process(es) died", died.len()));
    }
    if !status.success() {
        notes.push(format!("startup exited with {status}"));
    }
    Ok(Measure {
        notes,
        duration_s: ran,
        target_per_s: target,
        achieved_per_s: achieved,
        achieved_ratio: target.and(f("/achieved_ratio")),
        cpu_us_per_op: cpu_us,
        ctx_per_op: sum(
            f("/processes/server/ctx_switches_per_op"),
            f("/processes/client/ctx_switches_per_op"),
        ),
        latency_p99_us: f("/latency_us/p99"),
        lateness_p99_us: f("/lateness_us/p99"),
        server_rss_mb: f("/processes/server/rss_mb_max"),
        client_rss_mb: f("/processes/client/rss_mb_max"),
        verify_ok: Some(r.pointer("/verify/ok").and_then(Value::as_bool) == Some(true)),
    })
}

// ---------------------------------------------------------------- output

const CSV_HEADER: &str = "links,clients,servers,schedule,affinity,kind,duration_s,target_per_s,\
achieved_per_s,achieved_ratio,cpu_us_per_op,ctx_per_op,latency_p99_us,lateness_p99_us,\
server_rss_mb,client_rss_mb,verify_ok";

fn cell(v: Option<f64>, decimals: usize) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.decimals$}"))
        .unwrap_or_default()
}

fn write_csv(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for row in rows {
        let p = &row.point;
        for (kind, m) in row.runs() {
            let Ok(m) = m else { continue };
            let _ = writeln!(
                s,
                "{},{},{},{},{},{kind},{:.3},{},{},{},{},{},{},{},{},{},{}",
                p.links(),
                p.clients,
                SERVERS,
                p.schedule,
                p.affinity,
                m.duration_s,
                cell(m.target_per_s, 0),
                cell(Some(m.achieved_per_s), 1),
                cell(m.achieved_ratio, 4),
                cell(m.cpu_us_per_op, 3),
                cell(m.ctx_per_op, 3),
                cell(m.latency_p99_us, 0),
                cell(m.lateness_p99_us, 0),
                cell(m.server_rss_mb, 2),
                cell(m.client_rss_mb, 2),
                m.verify_ok.map(|b| b.to_string()).unwrap_or_default(),
            );
        }
    }
    std::fs::write(path, s)
}

fn table(rows: &[Row]) -> String {
    let opt = |v: Option<f64>, prec: usize| match v.filter(|x| x.is_finite()) {
        Some(x) => format!("{x:.prec$}"),
        None => "-".to_string(),
    };
    let pct = |v: Option<f64>| opt(v.map(|r| r * 100.0), 1);
    // A floor's four cells (38 columns with the bar), or why it has none.
    let floor_cells = |run: Option<&Result<Measure, String>>| match run {
        Some(Ok(m)) => format!(
            " {:>10} {:>6} {:>9} {:>7} |",
            opt(Some(m.achieved_per_s), 0),
            pct(m.achieved_ratio),
            opt(m.cpu_us_per_op, 1),
            opt(m.ctx_per_op, 2)
        ),
        Some(Err(e)) => format!(" {:<35} |", format!("ERROR: {e}")),
        None => format!(" {:<35} |", "not run (--floors)"),
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<38} | {:>10} {:>6} {:>9} {:>7} {:>7} {:>8} {:>11} {:>6} | {:>10} {:>6} {:>9} {:>7} | {:>7}",
        "", "system", "", "", "", "", "", "", "", "pingpong", "", "", "", "CPU"
    );
    let _ = writeln!(
        s,
        "{:<38} | {:>10} {:>6} {:>9} {:>7} {:>7} {:>8} {:>11} {:>6} | {:>10} {:>6} {:>9} {:>7} | {:>7}",
        "point",
        "updates/s",
        "%tgt",
        "CPU us/op",
        "ctx/op",
        "p99 us",
        "late p99",
        "RSS MB s/c",
        "verify",
        "trips/s",
        "%tgt",
        "CPU us/op",
        "ctx/op",
        "sys/pp"
    );
    for row in rows {
        let _ = write!(s, "{:<38} |", row.point.label());
        match &row.system {
            Ok(m) => {
                let rss = format!("{}/{}", opt(m.server_rss_mb, 1), opt(m.client_rss_mb, 1));
                let verify = match m.verify_ok {
                    Some(true) => "ok",
                    Some(false) => "FAILED",
                    None => "-",
                };
                let _ = write!(
                    s,
                    " {:>10} {:>6} {:>9} {:>7} {:>7} {:>8} {:>11} {:>6} |",
                    opt(Some(m.achieved_per_s), 0),
                    pct(m.achieved_ratio),
                    opt(m.cpu_us_per_op, 1),
                    opt(m.ctx_per_op, 2),
                    opt(m.latency_p99_us, 0),
                    opt(m.lateness_p99_us, 0),
                    rss,
                    verify
                );
            }
            Err(e) => {
                let _ = write!(s, " {:<71} |", format!("ERROR: {e}"));
            }
        }
        let pp = row.floor(Floor::Processes);
        s.push_str(&floor_cells(pp));
        let sys_pp = ratio(Some(&row.system), pp, |m| m.cpu_us_per_op);
        let _ = writeln!(s, " {:>7}", opt(sys_pp, 2));
    }
    // The one-process floor gets a table of its own, row for row, rather
    // than 40 more columns on a line already 160 wide.
    if rows.iter().any(|r| r.floor(Floor::OneProcess).is_some()) {
        s.push('\n');
        let _ = writeln!(
            s,
            "{:<38} | {:<35} | 1p/pp",
            "", "pingpong-1p (one process)"
        );
        let _ = writeln!(
            s,
            "{:<38} | {:>10} {:>6} {:>9} {:>7} | {:>7} {:>7}",
            "point", "trips/s", "%tgt", "CPU us/op", "ctx/op", "CPU", "ctx"
        );
        for row in rows {
            let one = row.floor(Floor::OneProcess);
            let pp = row.floor(Floor::Processes);
            let _ = writeln!(
                s,
                "{:<38} |{} {:>7} {:>7}",
                row.point.label(),
                floor_cells(one),
                opt(ratio(one, pp, |m| m.cpu_us_per_op), 2),
                opt(ratio(one, pp, |m| m.ctx_per_op), 2)
            );
        }
    }
    for row in rows {
        for (kind, m) in row.runs() {
            for note in m.iter().flat_map(|m| &m.notes) {
                let _ = writeln!(s, "note: {} {kind}: {note}", row.point.label());
            }
        }
    }
    s.push_str(
        "CPU us/op and ctx/op: all processes' CPU microseconds and context switches per acked \
         update (system) or per round trip (pingpong: 10 server + N client processes; \
         pingpong-1p: the same threads in one process).\n\
         sys/pp: system CPU over pingpong's. 1p/pp: pingpong-1p's over pingpong's; near 1, \
         the process layout costs nothing and the floor is loopback TCP and thread wakeups; \
         well below 1, switching between processes is part of the floor.\n",
    );
    s
}

/// `num`'s figure over `den`'s, when both runs measured it.
fn ratio(
    num: Option<&Result<Measure, String>>,
    den: Option<&Result<Measure, String>>,
    figure: impl Fn(&Measure) -> Option<f64>,
) -> Option<f64> {
    let n = figure(num?.as_ref().ok()?)?;
    let d = figure(den?.as_ref().ok()?)?;
    (d > 0.0).then(|| n / d)
}

/// Renders the CSV to PNGs with scripts/plot_bench.py; a failure is only a warning.
fn plot(csv: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("plot_bench.py");
    for python in ["python3", "python"] {
        let Ok(mut child) = Command::new(python).arg(&script).arg(csv).spawn() else {
            continue;
        };
        // A first run may pip-install matplotlib; never wait forever.
        match wait_until(&mut child, Instant::now() + Duration::from_secs(600)) {
            Some(status) if status.success() => {}
            Some(status) => eprintln!(
                "system bench: warning: plotting failed ({status}); the CSV is kept: {}",
                csv.display()
            ),
            None => eprintln!("system bench: warning: plotting took too long and was stopped"),
        }
        return;
    }
    eprintln!("system bench: warning: no python3 to plot with; the CSV is kept");
}

// ---------------------------------------------------------------- helpers

/// `n` distinct free ports on 127.0.0.1 (bound together, then released).
fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("cannot find free ports: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| e.to_string())
}

/// Waits for `child` until `deadline`; past it, kills it and returns `None`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

fn cpus() -> usize {
    thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The 1-minute load average (Linux).
fn load_1m() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn load_text() -> String {
    load_1m()
        .map(|l| format!(", load {l:.2}"))
        .unwrap_or_default()
}

/// Why the descriptor limit is too low for a process needing `need`
/// descriptors, after trying to raise it.
fn fd_shortfall(need: u64) -> Option<String> {
    let have = nofile::raise_to(need)?;
    (have < need).then(|| {
        format!(
            "needs about {need} open files per process, the limit is {have} \
             (raise the hard limit: ulimit -Hn, /etc/security/limits.conf)"
        )
    })
}

/// Why the machine cannot hold `p`'s threads now (Linux: every thread takes
/// a pid, and other runs' threads count too).
fn thread_shortfall(p: &Point) -> Option<String> {
    let read =
        |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let cap = read("/proc/sys/kernel/pid_max")?.min(read("/proc/sys/kernel/threads-max")?);
    // /proc/loadavg's fourth field: runnable/total scheduling entities now.
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let now: u64 = loadavg
        .split_whitespace()
        .nth(3)?
        .split_once('/')?
        .1
        .parse()
        .ok()?;
    // Clients: a thread per link + main; servers: a thread per link + acceptor,
    // store and stdin; startup: a proxy per child.
    let (c, s) = (p.clients as u64, SERVERS as u64);
    let need = c * (s + 2) + s * (c + 4) + (c + s) + 64;
    (now + need > cap).then(|| {
        format!(
            "needs about {need} threads, {now} exist and the cap is {cap} \
             (raise kernel.pid_max and kernel.threads-max)"
        )
    })
}

#[cfg(target_os = "linux")]
mod nofile {
    /// Raises RLIMIT_NOFILE's soft limit toward the hard one (children inherit
    /// it) when it is below `need`; returns the soft limit now in force.
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Linux target
    pub fn raise_to(need: u64) -> Option<u64> {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read and write one plain struct we own.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
                return None;
            }
            if (r.rlim_cur as u64) < need && r.rlim_cur < r.rlim_max {
                // An unlimited hard limit is capped by fs.nr_open.
                let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(1 << 20);
                let raised = libc::rlimit {
                    rlim_cur: (r.rlim_max as u64).min(nr_open) as libc::rlim_t,
                    rlim_max: r.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    r.rlim_cur = raised.rlim_cur;
                }
            }
        }
        Some(r.rlim_cur as u64)
    }
}

#[cfg(not(target_os = "linux"))]
mod nofile {
    /// No descriptor limit to raise (Windows handles have no practical limit).
    pub fn raise_to(_need: u64) -> Option<u64> {
        None
    }
}

/// target/bench-system/<UTC YYYYmmdd-HHMMSS>, next to the profile directory
/// the programs were built in.
fn default_out_dir() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_startup"));
    let target = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench-system").join(utc_stamp())
}

/// `YYYYmmdd-HHMMSS` in UTC (std has no local time zone).
fn utc_stamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---------------------------------------------------------------- (c) the ping-pong floor

/// The floor of the model: the same threads, sockets and schedule as the
/// system, and nothing else. A server accepts and runs one thread per
/// connection (64 KiB stacks) that reads exactly 32 bytes and writes them
/// back; a client runs one thread per server link that writes 32 bytes and
/// reads the 32-byte reply. No parsing, no store, no histograms, no status
/// rounds. Two layouts share every piece of it: the system's (a process per
/// server and per client: `__pingpong-server`, `__pingpong-client`) and all of
/// it in one process (`__pingpong-one`).
mod pingpong {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
    use std::thread;
    use std::time::{Duration, Instant};

    use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
    use mass_connect::client::schedule::from_unix_micros;
    use mass_connect::sys::affinity::{lower_current_thread_priority, pin_current_thread};

    /// Bytes of one message, each way.
    pub const MSG: usize = 32;
    /// Stack of every link thread, as the system's default `thread_stack_kb`.
    const STACK: usize = 64 * 1024;
    /// A link waiting this long for a reply (or a peer for a request) gives up.
    const IO_TIMEOUT: Duration = Duration::from_secs(5);
    /// A server link idle this long is closed.
    const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// How long a process may take to connect all its links.
    const CONNECT_WITHIN: Duration = Duration::from_secs(60);
    /// How long a process waits, after printing its count, for its stdin to close.
    const LINGER: Duration = Duration::from_secs(60);
    /// Longest run a child accepts (a year): keeps every deadline computed
    /// from it far from `Instant`'s overflow.
    const MAX_SECONDS: f64 = 365.0 * 86_400.0;

    /// `__pingpong-server PORT CPU|none`: prints `listening`, then serves
    /// until its stdin closes (the bench closes it, or dies).
    pub fn server(args: &[String]) -> i32 {
        let (Some(port), Some(cpu)) = (
            args.first().and_then(|p| p.parse::<u16>().ok()),
            args.get(1).and_then(|c| cpu_arg(c)),
        ) else {
            eprintln!("usage: __pingpong-server PORT CPU|none");
            return 2;
        };
        if let Some(cpu) = cpu {
            pin_current_thread(cpu);
        }
        let listener = match listen(port) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("pingpong server: {e}");
                return 1;
            }
        };
        exit_when_stdin_closes();
        say("listening");
        accept_loop(&listener, port, cpu);
        0
    }

    /// `none` or a CPU number; `None` when it is neither.
    fn cpu_arg(text: &str) -> Option<Option<usize>> {
        match text {
            "none" => Some(None),
            n => n.parse().ok().map(Some),
        }
    }

    fn listen(port: u16) -> Result<TcpListener, String> {
        TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|e| format!("cannot listen on port {port}: {e}"))
    }

    /// One server: accepts forever, one `serve` thread per connection.
    fn accept_loop(listener: &TcpListener, port: u16, cpu: Option<usize>) {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors, most likely: back off instead of spinning.
                    eprintln!("pingpong server {port}: accept: {e}");
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let spawned = thread::Builder::new()
                .stack_size(STACK)
                .spawn(move || serve(stream, cpu));
            if let Err(e) = spawned {
                eprintln!("pingpong server {port}: cannot start a link thread: {e}");
            }
        }
    }

    fn serve(mut stream: TcpStream, cpu: Option<usize>) {
        // The same settings as the system's link threads, on both ends.
        lower_current_thread_priority();
        if let Some(cpu) = cpu {
            // Linux threads inherit the acceptor's mask; Windows threads do not.
            pin_current_thread(cpu);
        }
        if stream.set_nodelay(true).is_err()
            || stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err()
            || stream.set_write_timeout(Some(IO_TIMEOUT)).is_err()
        {
            return;
        }
        let mut buf = [0u8; MSG];
        while stream.read_exact(&mut buf).is_ok() && stream.write_all(&buf).is_ok() {}
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Schedule {
        FixedRate,
        FixedDelay,
        ClosedLoop,
    }

    /// What a process running client links was asked for.
    struct LinkArgs {
        run_for: Duration,
        schedule: Schedule,
        /// The CPU of each server's links (by-server affinity), or none.
        cpus: Vec<Option<usize>>,
        ports: Vec<u16>,
    }

    /// Parses `SECONDS SCHEDULE CPU-LIST` from `args[0..3]` and the ports
    /// from `args[ports_from..]`. CPU-LIST is `none` or one CPU per port,
    /// comma-separated.
    fn parse_links(args: &[String], ports_from: usize) -> Option<LinkArgs> {
        let secs: f64 = args.first()?.parse().ok()?;
        if !(secs > 0.0 && secs <= MAX_SECONDS) {
            return None; // also NaN
        }
        let schedule = match args.get(1)?.as_str() {
            "fixed-rate" => Schedule::FixedRate,
            "fixed-delay" => Schedule::FixedDelay,
            "closed-loop" => Schedule::ClosedLoop,
            _ => return None,
        };
        let ports: Vec<u16> = args
            .get(ports_from..)?
            .iter()
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let cpus: Vec<Option<usize>> = match args.get(2)?.as_str() {
            "none" => vec![None; ports.len()],
            list => list
                .split(',')
                .map(|c| c.parse().ok().map(Some))
                .collect::<Option<_>>()?,
        };
        (!ports.is_empty() && cpus.len() == ports.len()).then_some(LinkArgs {
            run_for: Duration::from_secs_f64(secs),
            schedule,
            cpus,
            ports,
        })
    }

    /// `__pingpong-client SECONDS SCHEDULE CPU-LIST PORTS...`: connects one
    /// thread per port, prints `ready`, waits for `go ID CLIENTS START` on stdin,
    /// runs for SECONDS, prints `COUNT ERRORS` (round trips completed, links
    /// that failed) and exits when its stdin closes.
    pub fn client(args: &[String]) -> i32 {
        let Some(a) = parse_links(args, 3) else {
            eprintln!("usage: __pingpong-client SECONDS SCHEDULE CPU-LIST|none PORTS...");
            return 2;
        };
        let links = match Links::connect(&a, 1) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("pingpong client: {e}");
                return 1;
            }
        };
        say("ready");
        let Some(go) = wait_for_go() else {
            return 0; // the bench went away before the run
        };
        // This process's links take slots id*ports.. of all the clients' slots.
        let per = a.ports.len() as u64;
        let (count, errors) = links.run(
            go.window(a.run_for),
            (go.id % go.clients).saturating_mul(per),
            go.clients.saturating_mul(per),
        );
        say(&format!("{count} {errors}"));
        linger();
        0
    }

    /// `__pingpong-one SECONDS SCHEDULE CPU-LIST CLIENTS PORTS...`: the whole
    /// ping-pong in this one process. Listens on every port (one acceptor
    /// thread each, pinned like a server process), connects CLIENTS x PORTS
    /// client link threads, prints `ready`, waits for a `go` line, runs for
    /// SECONDS with the same stagger as CLIENTS client processes, prints
    /// `COUNT ERRORS` and exits when its stdin closes.
    pub fn one(args: &[String]) -> i32 {
        let parsed = (|| {
            let clients: usize = args.get(3)?.parse().ok().filter(|n| *n > 0)?;
            Some((clients, parse_links(args, 4)?))
        })();
        let Some((clients, a)) = parsed else {
            eprintln!("usage: __pingpong-one SECONDS SCHEDULE CPU-LIST|none CLIENTS PORTS...");
            return 2;
        };
        // Every server listens before any link connects, as in the process
        // layout, where the bench waits for each server's `listening`.
        for (&port, &cpu) in a.ports.iter().zip(&a.cpus) {
            let listener = match listen(port) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("pingpong-1p: {e}");
                    return 1;
                }
            };
            let spawned = thread::Builder::new().stack_size(STACK).spawn(move || {
                if let Some(cpu) = cpu {
                    pin_current_thread(cpu);
                }
                accept_loop(&listener, port, cpu);
            });
            if let Err(e) = spawned {
                eprintln!("pingpong-1p: cannot start an acceptor thread: {e}");
                return 1;
            }
        }
        let links = match Links::connect(&a, clients) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("pingpong-1p: {e}");
                return 1;
            }
        };
        say("ready");
        let Some(go) = wait_for_go() else {
            return 0;
        };
        // Links are client-major, so link c*ports+j takes the slot client
        // process c's link j would take: the same stagger as the processes.
        let slots = (clients as u64).saturating_mul(a.ports.len() as u64);
        let (count, errors) = links.run(go.window(a.run_for), 0, slots);
        say(&format!("{count} {errors}"));
        linger();
        0
    }

    /// Client link threads of one process, connected and waiting for the go.
    struct Links {
        schedule: Schedule,
        /// Link i's go: its first due time and the end of the run.
        gos: Vec<Sender<(Instant, Instant)>>,
        /// Each link's round trips and whether it failed, once it stops.
        done: Receiver<(u64, bool)>,
    }

    impl Links {
        /// Starts `copies` x `ports` link threads, copy-major (copy c's link
        /// to port j is link c*ports+j), and waits until every one is connected.
        fn connect(a: &LinkArgs, copies: usize) -> Result<Links, String> {
            let (ready_tx, ready_rx) = unbounded::<Result<(), String>>();
            let (done_tx, done_rx) = unbounded::<(u64, bool)>();
            let mut gos = Vec::new();
            let schedule = a.schedule;
            for _ in 0..copies {
                for (&port, &cpu) in a.ports.iter().zip(&a.cpus) {
                    let (go_tx, go_rx) = bounded(1);
                    let (ready_tx, done_tx) = (ready_tx.clone(), done_tx.clone());
                    thread::Builder::new()
                        .stack_size(STACK)
                        .spawn(move || link(port, cpu, schedule, &ready_tx, &go_rx, &done_tx))
                        .map_err(|e| format!("cannot start a link thread: {e}"))?;
                    gos.push(go_tx);
                }
            }
            // Each link gives up connecting after CONNECT_WITHIN from its own
            // start (plus one last attempt); all have started by now.
            let deadline = Instant::now() + CONNECT_WITHIN + Duration::from_secs(5);
            for _ in &gos {
                match ready_rx.recv_deadline(deadline) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err("links did not connect in time".to_string()),
                }
            }
            Ok(Links {
                schedule,
                gos,
                done: done_rx,
            })
        }

        /// Runs every link from `start` to `end`. Link i's first send is
        /// staggered by slot `(first_slot + i) % slots` over one interval, as
        /// the system's clients do, so the host does not send in bursts on
        /// each tick. Returns round trips completed and links that failed.
        fn run(self, (start, end): (Instant, Instant), first_slot: u64, slots: u64) -> (u64, u64) {
            let slots = slots.max(1);
            for (i, go) in self.gos.iter().enumerate() {
                let slot = first_slot.wrapping_add(i as u64) % slots;
                let offset = match self.schedule {
                    Schedule::ClosedLoop => Duration::ZERO,
                    _ => super::interval().mul_f64(slot as f64 / slots as f64),
                };
                let _ = go.send((start + offset, end));
            }
            let (mut count, mut errors) = (0, 0);
            for _ in &self.gos {
                match self
                    .done
                    .recv_deadline(end + IO_TIMEOUT + Duration::from_secs(5))
                {
                    Ok((n, failed)) => {
                        count += n;
                        errors += u64::from(failed);
                    }
                    Err(_) => errors += 1,
                }
            }
            (count, errors)
        }
    }

    /// The bench's `go ID CLIENTS START` line: this process's place among
    /// the client processes and when the run starts, in microseconds since
    /// the Unix epoch.
    struct Go {
        id: u64,
        clients: u64,
        start_unix_us: Option<u64>,
    }

    impl Go {
        /// The run's window in this process's clock. Every process runs the
        /// same wall-clock window, so counts divided by its length are a
        /// rate even when a loaded machine delivers the `go` lines seconds
        /// apart (starting each process's window at its own `go` made the
        /// windows overlap only in part, and overstated the rate). A process
        /// that reads its `go` late starts late and still ends on time.
        fn window(&self, run_for: Duration) -> (Instant, Instant) {
            let now = Instant::now();
            let start = self.start_unix_us.map_or(now, from_unix_micros);
            (start.max(now), start + run_for)
        }
    }

    /// Waits for the bench's `go` line on stdin (a bare `go` means client 0
    /// of 1, starting now), or `None` when stdin closed first.
    fn wait_for_go() -> Option<Go> {
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let mut words = line
            .split_whitespace()
            .skip(1)
            .map(|w| w.parse::<u64>().ok());
        let (id, clients) = match (words.next().flatten(), words.next().flatten()) {
            (Some(id), Some(n)) if n > 0 => (id, n),
            _ => (0, 1),
        };
        Some(Go {
            id,
            clients,
            start_unix_us: words.next().flatten(),
        })
    }

    /// Stays (threads and all) until the bench has taken its last sample and
    /// closes stdin: exited threads' context switches vanish from /proc.
    fn linger() {
        let (eof_tx, eof_rx) = bounded::<()>(1);
        let _ = thread::Builder::new().stack_size(STACK).spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            let _ = eof_tx.send(());
        });
        let _ = eof_rx.recv_timeout(LINGER);
    }

    /// One client link: connect, report ready, wait for the go, run, report
    /// the count, then park until the process exits.
    fn link(
        port: u16,
        cpu: Option<usize>,
        schedule: Schedule,
        ready: &Sender<Result<(), String>>,
        go: &Receiver<(Instant, Instant)>,
        done: &Sender<(u64, bool)>,
    ) {
        lower_current_thread_priority();
        if let Some(cpu) = cpu {
            pin_current_thread(cpu);
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let give_up = Instant::now() + CONNECT_WITHIN;
        let mut pause = Duration::from_millis(20);
        let mut stream = loop {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
                Ok(s) => break s,
                Err(e) if Instant::now() + pause >= give_up => {
                    let _ = ready.send(Err(format!("cannot connect to {addr}: {e}")));
                    return;
                }
                Err(_) => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        };
        if let Err(e) = stream
            .set_nodelay(true)
            .and_then(|_| stream.set_read_timeout(Some(IO_TIMEOUT)))
            .and_then(|_| stream.set_write_timeout(Some(IO_TIMEOUT)))
        {
            let _ = ready.send(Err(format!("socket options: {e}")));
            return;
        }
        let _ = ready.send(Ok(()));
        let Ok((first_due, end)) = go.recv() else {
            return;
        };
        let (n, failed) = run(&mut stream, schedule, first_due, end);
        let _ = done.send((n, failed));
        // Keep the thread (and its context-switch counts) until the process exits.
        let (_keep, wait) = bounded::<()>(0);
        let _ = wait.recv_timeout(LINGER + Duration::from_secs(5));
    }

    /// The ping-pong loop. Returns round trips completed and whether the link failed.
    fn run(s: &mut TcpStream, schedule: Schedule, first_due: Instant, end: Instant) -> (u64, bool) {
        let interval = super::interval();
        let (mut out, mut back) = ([0u8; MSG], [0u8; MSG]);
        let mut due = first_due;
        let mut n: u64 = 0;
        loop {
            if schedule == Schedule::ClosedLoop {
                if Instant::now() >= end {
                    break;
                }
            } else {
                // Past the end, a link stops even with updates still due: a
                // link that fell behind is not allowed to finish late.
                let now = Instant::now();
                if due >= end || now >= end {
                    break;
                }
                if due > now {
                    thread::sleep(due - now); // a late one goes at once
                }
            }
            out[..8].copy_from_slice(&n.to_le_bytes());
            if s.write_all(&out).is_err() || s.read_exact(&mut back).is_err() || back != out {
                return (n, true);
            }
            n += 1;
            match schedule {
                Schedule::FixedRate => due += interval,
                Schedule::FixedDelay => due = Instant::now() + interval,
                Schedule::ClosedLoop => {}
            }
        }
        (n, false)
    }

    /// Exits the process as soon as stdin reaches end of file.
    fn exit_when_stdin_closes() {
        let _ = thread::Builder::new().stack_size(STACK).spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
    }

    /// One line on stdout, flushed (the bench reads it through a pipe).
    fn say(line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// A line from child `index`, or its end of output.
    pub enum Msg {
        Line(usize, String),
        Eof(usize),
    }

    /// Forwards child `index`'s stdout lines to `tx` from a small thread.
    pub fn forward(index: usize, stdout: std::process::ChildStdout, tx: Sender<Msg>) {
        let _ = thread::Builder::new().stack_size(STACK).spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(Msg::Line(index, line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::Eof(index));
        });
    }
}

/// The configured update interval.
fn interval() -> Duration {
    Duration::from_millis(INTERVAL_MS)
}

/// The two layouts of the ping-pong floor (`--floors`).
#[derive(Clone, Copy, PartialEq)]
enum Floor {
    /// The system's layout: 10 server processes and N client processes.
    Processes,
    /// Every listener and link thread in one process.
    OneProcess,
}

impl Floor {
    const ALL: [Floor; 2] = [Floor::Processes, Floor::OneProcess];

    /// The CSV's `kind`.
    fn kind(self) -> &'static str {
        match self {
            Floor::Processes => "pingpong",
            Floor::OneProcess => "pingpong-1p",
        }
    }

    /// As `--floors` spells it.
    fn option_name(self) -> &'static str {
        match self {
            Floor::Processes => "processes",
            Floor::OneProcess => "one-process",
        }
    }
}

/// How far ahead of the `go` lines the ping-pong's common start is set.
const GO_AHEAD: Duration = Duration::from_millis(300);

/// Runs the ping-pong floor for `p` in `floor`'s layout, all re-executions
/// of this bench binary: 10 server processes and `p.clients` client
/// processes, or one process holding all of them as threads. Both are
/// measured the same way: every process's `/proc` figures from just before
/// the go to just after the last count.
fn run_pingpong(
    p: &Point,
    floor: Floor,
    duration: Duration,
    out: &Path,
) -> Result<Measure, String> {
    if floor == Floor::OneProcess {
        // One process holds both ends of every link: more than any process
        // of the system's layout, so checked here rather than per point.
        if let Some(why) = fd_shortfall(p.fds_needed_one_process()) {
            return Err(format!("skipped: {why}"));
        }
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?;
    let ports = free_ports(SERVERS)?;
    let ncpus = cpus();
    let cpu_of = |k: usize| (p.affinity == "by-server").then_some(k % ncpus);
    // The CPU of each server's links, as both layouts' link threads take it.
    let cpu_list = if p.affinity == "by-server" {
        (0..SERVERS)
            .map(|k| (k % ncpus).to_string())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        "none".to_string()
    };
    let log_path = out.join(format!("{}.{}.log", p.file_stem(), floor.kind()));
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let (tx, rx) = crossbeam_channel::unbounded::<pingpong::Msg>();
    let mut fleet = Fleet::default();
    let result = (|| {
        let secs = format!("{:.3}", duration.as_secs_f64());
        let port_args = || ports.iter().map(u16::to_string);
        // The processes that run client links, each later told `go`.
        let runners = match floor {
            Floor::Processes => {
                for (k, port) in ports.iter().enumerate() {
                    let cpu = cpu_of(k).map_or("none".to_string(), |c| c.to_string());
                    let args = vec!["__pingpong-server".into(), port.to_string(), cpu];
                    fleet.spawn(&exe, args, format!("pingpong server {k}"), &log, &tx)?;
                }
                fleet.expect(&rx, 0..SERVERS, Duration::from_secs(20), "listening")?;
                for c in 0..p.clients {
                    let mut args = vec![
                        "__pingpong-client".to_string(),
                        secs.clone(),
                        p.schedule.clone(),
                        cpu_list.clone(),
                    ];
                    args.extend(port_args());
                    fleet.spawn(&exe, args, format!("pingpong client {c}"), &log, &tx)?;
                }
                SERVERS..SERVERS + p.clients
            }
            Floor::OneProcess => {
                let mut args = vec![
                    "__pingpong-one".to_string(),
                    secs.clone(),
                    p.schedule.clone(),
                    cpu_list.clone(),
                    p.clients.to_string(),
                ];
                args.extend(port_args());
                fleet.spawn(&exe, args, "the pingpong-1p process".into(), &log, &tx)?;
                0..1
            }
        };
        let connect = Duration::from_secs(30) + Duration::from_millis(50 * p.clients as u64);
        fleet.expect(&rx, runners.clone(), connect, "ready")?;
        // The window: from just before the go to just after the last count,
        // while every thread is still alive (a thread's switch counts die with it).
        let before = proc_stat::sample_all(&fleet.pids());
        let n = runners.len();
        // One wall-clock start for every process, far enough ahead for the
        // `go` lines to arrive on an idle machine.
        let start_unix_us = unix_micros(Instant::now() + GO_AHEAD);
        for (i, stdin) in fleet.stdins[runners.clone()].iter_mut().enumerate() {
            if let Some(stdin) = stdin {
                // A client process staggers its links by its place among
                // the clients; the single process staggers all of them itself.
                let _ = writeln!(stdin, "go {i} {n} {start_unix_us}").and_then(|_| stdin.flush());
            }
        }
        let lines = fleet.expect(&rx, runners, duration + Duration::from_secs(30), "")?;
        let after = proc_stat::sample_all(&fleet.pids());
        let (mut ops, mut errors) = (0u64, 0u64);
        for line in &lines {
            let mut w = line.split_whitespace().map(|x| x.parse::<u64>().ok());
            match (w.next().flatten(), w.next().flatten()) {
                (Some(n), Some(e)) => {
                    ops = ops.saturating_add(n);
                    errors = errors.saturating_add(e);
                }
                _ => return Err(format!("a ping-pong process printed {line:?}, not a count")),
            }
        }
        if errors > 0 {
            eprintln!(
                "system bench: {}: {errors} link(s) failed; see {}",
                floor.kind(),
                log_path.display()
            );
        }
        let mut m = measure_pingpong(p, duration, ops, &before, &after);
        // Largest server and client process; one process holding both ends
        // is neither, so pingpong-1p leaves both empty.
        if floor == Floor::Processes {
            let rss = |s: &[Option<proc_stat::Sample>]| {
                s.iter()
                    .flatten()
                    .map(|s| s.rss_bytes)
                    .max()
                    .map(|m| m as f64 / 1e6)
            };
            m.server_rss_mb = rss(&after[..SERVERS.min(after.len())]);
            m.client_rss_mb = rss(&after[SERVERS.min(after.len())..]);
        }
        if let Some(cores) = m.cpu_us_per_op.map(|c| c * m.achieved_per_s / 1e6) {
            let machine = cpus() as f64;
            if cores > machine * 1.05 {
                // Round trips/s is ops over one run's length; CPU/op is ops
                // over whatever the window held, so only the rate can be off.
                let why = match floor {
                    Floor::Processes => {
                        "each client process starts its links when it reads its go, so under \
                         load their runs did not all overlap: trips/s is overstated, CPU/op is not"
                    }
                    Floor::OneProcess => "trips/s or CPU/op cannot be right",
                };
                m.notes.push(format!(
                    "CPU/op x trips/s = {cores:.1} cores on a {machine:.0}-CPU machine: {why}"
                ));
            }
        }
        if errors > 0 {
            m.notes.push(format!("{errors} link(s) failed"));
        }
        Ok(m)
    })();
    fleet.shut_down();
    result
}

/// Rate, and CPU and context switches per round trip summed over every
/// process sampled; no RSS (the caller knows which process is which).
fn measure_pingpong(
    p: &Point,
    duration: Duration,
    ops: u64,
    before: &[Option<proc_stat::Sample>],
    after: &[Option<proc_stat::Sample>],
) -> Measure {
    let secs = duration.as_secs_f64();
    let target = p.target_per_s();
    let achieved = ops as f64 / secs;
    // Every process must have been read at both ends, or there is no figure.
    let deltas: Option<Vec<(f64, u64)>> = before
        .iter()
        .zip(after)
        .map(|(a, b)| {
            let (a, b) = ((*a)?, (*b)?);
            Some((
                (b.cpu_s - a.cpu_s).max(0.0),
                b.ctx_switches.saturating_sub(a.ctx_switches),
            ))
        })
        .collect();
    let per_op = |x: f64| (ops > 0).then(|| x / ops as f64);
    Measure {
        duration_s: secs,
        target_per_s: target,
        achieved_per_s: achieved,
        achieved_ratio: target.map(|t| achieved / t),
        cpu_us_per_op: deltas
            .as_ref()
            .and_then(|d| per_op(d.iter().map(|x| x.0).sum::<f64>() * 1e6)),
        ctx_per_op: deltas
            .as_ref()
            .and_then(|d| per_op(d.iter().map(|x| x.1).sum::<u64>() as f64)),
        ..Measure::default()
    }
}

/// A ping-pong run's child processes, in start order, with their stdins and
/// the names errors call them by.
#[derive(Default)]
struct Fleet {
    children: Vec<Child>,
    stdins: Vec<Option<std::process::ChildStdin>>,
    names: Vec<String>,
}

impl Fleet {
    /// Starts the bench binary `exe` with `args` as child `name`: its stdout
    /// lines reach `tx` tagged with its index, its stderr goes to `log`.
    fn spawn(
        &mut self,
        exe: &Path,
        args: Vec<String>,
        name: String,
        log: &File,
        tx: &crossbeam_channel::Sender<pingpong::Msg>,
    ) -> Result<(), String> {
        let stderr = log.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let index = self.children.len();
        if let Some(stdout) = child.stdout.take() {
            pingpong::forward(index, stdout, tx.clone());
        }
        self.stdins.push(child.stdin.take());
        self.children.push(child);
        self.names.push(name);
        Ok(())
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Waits for the next line of every child in `range` (starting with
    /// `prefix`) until `within` has passed; any child's end of output fails.
    fn expect(
        &self,
        rx: &crossbeam_channel::Receiver<pingpong::Msg>,
        range: std::ops::Range<usize>,
        within: Duration,
        prefix: &str,
    ) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + within;
        let mut got: Vec<Option<String>> = vec![None; range.len()];
        let mut missing = range.len();
        let name = |i: usize| self.names.get(i).map_or("a child", String::as_str);
        while missing > 0 {
            match rx.recv_deadline(deadline) {
                Ok(pingpong::Msg::Line(i, line)) if range.contains(&i) => {
                    if !line.starts_with(prefix) {
                        return Err(format!("{} said {line:?}", name(i)));
                    }
                    let slot = &mut got[i - range.start];
                    if slot.is_none() {
                        missing -= 1;
                    }
                    *slot = Some(line);
                }
                Ok(pingpong::Msg::Line(..)) => {}
                Ok(pingpong::Msg::Eof(i)) => return Err(format!("{} exited", name(i))),
                Err(_) => {
                    return Err(format!(
                        "{missing} of {} process(es) did not answer within {:.0} s",
                        range.len(),
                        within.as_secs_f64()
                    ));
                }
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// Closes every stdin (each child exits on its own), waits up to 5 s,
    /// then kills whatever is still alive.
    fn shut_down(&mut self) {
        self.stdins.clear();
        let deadline = Instant::now() + Duration::from_secs(5);
        for child in &mut self.children {
            let _ = wait_until(child, deadline);
        }
        self.children.clear();
        self.names.clear();
    }
}

/// CPU time, context switches and memory of a process, from `/proc` (Linux).
/// Elsewhere every reading is `None`, and the ping-pong's CPU and switch
/// figures are left empty.
mod proc_stat {
    #[derive(Clone, Copy)]
    pub struct Sample {
        /// utime + stime, seconds.
        pub cpu_s: f64,
        /// voluntary + nonvoluntary switches summed over the live threads.
        pub ctx_switches: u64,
        pub rss_bytes: u64,
    }

    pub fn sample_all(pids: &[u32]) -> Vec<Option<Sample>> {
        pids.iter().map(|&pid| sample(pid)).collect()
    }

    /// The crate's own reader (the one startup uses), so the floor and the
    /// system are measured the same way.
    #[cfg(target_os = "linux")]
    pub fn sample(pid: u32) -> Option<Sample> {
        let s = mass_connect::sys::procstat::sample(pid, true)?;
        Some(Sample {
            cpu_s: s.cpu_s,
            ctx_switches: s.voluntary_ctx? + s.involuntary_ctx?,
            rss_bytes: s.rss_bytes,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn sample(_pid: u32) -> Option<Sample> {
        None
    }
}

/// How much of the machine other processes used during a run (Linux): all
/// CPUs' busy time from `/proc/stat` minus this process's and its reaped
/// descendants' (startup waits for its children, this bench for startup and
/// the ping-pong processes).
mod other_cpu {
    use std::time::Instant;

    pub struct Meter {
        at: Instant,
        busy_s: f64,
        ours_s: f64,
    }

    impl Meter {
        pub fn start() -> Option<Meter> {
            Some(Meter {
                at: Instant::now(),
                busy_s: machine_busy_s()?,
                ours_s: ours_s()?,
            })
        }

        /// Percent of all CPUs' time used by other processes since `start`.
        pub fn other_percent(&self) -> Option<f64> {
            let wall = self.at.elapsed().as_secs_f64() * super::cpus() as f64;
            let other = (machine_busy_s()? - self.busy_s) - (ours_s()? - self.ours_s);
            (wall > 0.0).then(|| (other / wall * 100.0).clamp(0.0, 100.0))
        }
    }

    /// user + nice + system + irq + softirq of all CPUs, seconds.
    #[cfg(target_os = "linux")]
    fn machine_busy_s() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let f: Vec<f64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        Some(
            [0, 1, 2, 5, 6]
                .iter()
                .filter_map(|&i| f.get(i))
                .sum::<f64>()
                / 100.0,
        )
    }

    /// CPU of this process and of its reaped descendants, seconds.
    #[cfg(target_os = "linux")]
    pub fn ours_s() -> Option<f64> {
        let mut total = 0.0;
        for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
            // SAFETY: getrusage fills one plain struct we own.
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            if unsafe { libc::getrusage(who, &mut u) } != 0 {
                return None;
            }
            let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            total += tv(u.ru_utime) + tv(u.ru_stime);
        }
        Some(total)
    }

    #[cfg(not(target_os = "linux"))]
    fn machine_busy_s() -> Option<f64> {
        None
    }

    #[cfg(not(target_os = "linux"))]
    pub fn ours_s() -> Option<f64> {
        None
    }
}
