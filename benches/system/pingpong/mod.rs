//! The floor of the model: the same threads, sockets and schedule as the
//! system, and nothing else. A server accepts and runs one thread per
//! connection (64 KiB stacks) that reads exactly 32 bytes and writes them
//! back; a client runs one thread per server link that writes 32 bytes and
//! reads the 32-byte reply. No parsing, no store, no histograms, no status
//! rounds. Two layouts share every piece of it: the system's (a process per
//! server and per client: `__pingpong-server`, `__pingpong-client`) and all of
//! it in one process (`__pingpong-one`).

mod echo;
mod links;

use std::io::{BufRead, BufReader, Write};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};
use mass_connect::sys::affinity::pin_current_thread;

use echo::{accept_loop, listen};
use links::connect_and_run;

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
    connect_and_run(&a, 1, "pingpong client", |go| {
        // This process's links take slots id*ports.. of all the clients' slots.
        let per = a.ports.len() as u64;
        (
            (go.id % go.clients).saturating_mul(per),
            go.clients.saturating_mul(per),
        )
    })
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
    // Links are client-major, so link c*ports+j takes the slot client
    // process c's link j would take: the same stagger as the processes.
    let slots = (clients as u64).saturating_mul(a.ports.len() as u64);
    connect_and_run(&a, clients, "pingpong-1p", |_| (0, slots))
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
