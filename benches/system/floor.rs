//! (c) The ping-pong floor, the bench's side: starts either layout's
//! processes, tells them to go, and turns their counts and `/proc` figures
//! into a `Measure`.

use std::fs::File;
use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use hostinfo::process::{self, Figures};
use mass_connect::client::schedule::unix_micros;

use crate::fleet::{Fleet, free_ports};
use crate::machine::{cpus, fd_shortfall};
use crate::options::{Floor, Measure, Point};
use crate::{SERVERS, pingpong};

/// How far ahead of the `go` lines the ping-pong's common start is set.
const GO_AHEAD: Duration = Duration::from_millis(300);

/// Runs the ping-pong floor for `p` in `floor`'s layout, all re-executions
/// of this bench binary: 10 server processes and `p.clients` client
/// processes, or one process holding all of them as threads. Both are
/// measured the same way: every process's `/proc` figures from just before
/// the go to just after the last count.
pub fn run_pingpong(
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
    let log_path = out.join(format!("{}.{}.log", p.file_stem(), floor.kind()));
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let launch = Launch {
        exe: std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?,
        ports: free_ports(SERVERS)?,
        secs: format!("{:.3}", duration.as_secs_f64()),
        cpu_list: cpu_list(p),
        log,
    };
    let (tx, rx) = crossbeam_channel::unbounded::<pingpong::Msg>();
    let mut fleet = Fleet::default();
    let result = (|| {
        let runners = launch.start(&mut fleet, p, floor, &tx, &rx)?;
        let connect = Duration::from_secs(30) + Duration::from_millis(50 * p.clients as u64);
        fleet.expect(&rx, runners.clone(), connect, "ready")?;
        // The window: from just before the go to just after the last count,
        // while every thread is still alive (a thread's switch counts die with it).
        let before = read_each(&fleet.pids());
        go(&mut fleet, runners.clone());
        let lines = fleet.expect(&rx, runners, duration + Duration::from_secs(30), "")?;
        let after = read_each(&fleet.pids());
        let (ops, errors) = counts(&lines)?;
        if errors > 0 {
            eprintln!(
                "system bench: {}: {errors} link(s) failed; see {}",
                floor.kind(),
                log_path.display()
            );
        }
        let mut m = measure_pingpong(p, duration, ops, &before, &after);
        explain(&mut m, floor, &after, errors);
        Ok(m)
    })();
    fleet.shut_down();
    result
}

/// Every process's figures, switches included, by the reader startup's
/// own sampling uses, so the floor and the system are measured alike.
fn read_each(pids: &[u32]) -> Vec<Option<Figures>> {
    pids.iter().map(|&pid| process::read(pid, true)).collect()
}

/// The CPU of each server's links, as both layouts' link threads take it.
fn cpu_list(p: &Point) -> String {
    if p.affinity != "by-server" {
        return "none".to_string();
    }
    let ncpus = cpus();
    let list: Vec<String> = (0..SERVERS).map(|k| (k % ncpus).to_string()).collect();
    list.join(",")
}

/// What every ping-pong process is started with.
struct Launch {
    exe: PathBuf,
    ports: Vec<u16>,
    /// The run's length, as the processes read it.
    secs: String,
    cpu_list: String,
    log: File,
}

impl Launch {
    /// Starts `floor`'s processes; returns the ones that run client links,
    /// each later told `go`.
    fn start(
        &self,
        fleet: &mut Fleet,
        p: &Point,
        floor: Floor,
        tx: &Sender<pingpong::Msg>,
        rx: &Receiver<pingpong::Msg>,
    ) -> Result<Range<usize>, String> {
        let (exe, log) = (&self.exe, &self.log);
        let runner_args = |first: &str, more: &[String]| {
            let mut args = vec![first.to_string(), self.secs.clone(), p.schedule.clone()];
            args.push(self.cpu_list.clone());
            args.extend(more.iter().cloned());
            args.extend(self.ports.iter().map(u16::to_string));
            args
        };
        if floor == Floor::OneProcess {
            let args = runner_args("__pingpong-one", &[p.clients.to_string()]);
            fleet.spawn(exe, args, "the pingpong-1p process".into(), log, tx)?;
            return Ok(0..1);
        }
        let ncpus = cpus();
        for (k, port) in self.ports.iter().enumerate() {
            let by_server = p.affinity == "by-server";
            let cpu = if by_server {
                (k % ncpus).to_string()
            } else {
                "none".into()
            };
            let args = vec!["__pingpong-server".into(), port.to_string(), cpu];
            fleet.spawn(exe, args, format!("pingpong server {k}"), log, tx)?;
        }
        fleet.expect(rx, 0..SERVERS, Duration::from_secs(20), "listening")?;
        for c in 0..p.clients {
            let args = runner_args("__pingpong-client", &[]);
            fleet.spawn(exe, args, format!("pingpong client {c}"), log, tx)?;
        }
        Ok(SERVERS..SERVERS + p.clients)
    }
}

/// Tells every runner to go, at one wall-clock start for every process, far
/// enough ahead for the `go` lines to arrive on an idle machine.
fn go(fleet: &mut Fleet, runners: Range<usize>) {
    let n = runners.len();
    let start_unix_us = unix_micros(Instant::now() + GO_AHEAD);
    for (i, stdin) in fleet.stdins[runners].iter_mut().enumerate() {
        if let Some(stdin) = stdin {
            // A client process staggers its links by its place among
            // the clients; the single process staggers all of them itself.
            let _ = writeln!(stdin, "go {i} {n} {start_unix_us}").and_then(|_| stdin.flush());
        }
    }
}

/// The round trips and the failed links the processes' last lines count.
fn counts(lines: &[String]) -> Result<(u64, u64), String> {
    let (mut ops, mut errors) = (0u64, 0u64);
    for line in lines {
        let mut w = line.split_whitespace().map(|x| x.parse::<u64>().ok());
        match (w.next().flatten(), w.next().flatten()) {
            (Some(n), Some(e)) => {
                ops = ops.saturating_add(n);
                errors = errors.saturating_add(e);
            }
            _ => return Err(format!("a ping-pong process printed {line:?}, not a count")),
        }
    }
    Ok((ops, errors))
}

/// The largest server and client processes' memory, and notes on figures
/// that cannot both be right and on failed links.
fn explain(m: &mut Measure, floor: Floor, after: &[Option<Figures>], errors: u64) {
    // One process holding both ends is neither a server nor a client, so
    // pingpong-1p leaves both empty.
    if floor == Floor::Processes {
        let rss = |s: &[Option<Figures>]| {
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
}

/// Rate, and CPU and context switches per round trip summed over every
/// process sampled; no RSS (the caller knows which process is which).
fn measure_pingpong(
    p: &Point,
    duration: Duration,
    ops: u64,
    before: &[Option<Figures>],
    after: &[Option<Figures>],
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
                (b.cpu_s() - a.cpu_s()).max(0.0),
                b.switches().saturating_sub(a.switches()),
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
