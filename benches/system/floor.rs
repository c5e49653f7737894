//! (c) The ping-pong floor, the bench's side: starts either layout's
//! processes, tells them to go, and turns their counts and `/proc` figures
//! into a `Measure`.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use mass_connect::client::schedule::unix_micros;

use crate::fleet::{Fleet, free_ports};
use crate::machine::{cpus, fd_shortfall};
use crate::options::{Floor, Measure, Point};
use crate::{SERVERS, pingpong, proc_stat};

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
