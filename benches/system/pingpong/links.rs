//! The client end, as in both layouts: link threads that connect, wait for
//! the bench's `go`, ping-pong on the schedule until the window closes, and
//! report their round trips.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use mass_connect::client::schedule::from_unix_micros;
use mass_connect::sys::affinity::{lower_current_thread_below_servers, pin_current_thread};

use super::{CONNECT_WITHIN, IO_TIMEOUT, LINGER, LinkArgs, MSG, STACK, Schedule, linger, say};

/// Both layouts' client processes once their arguments are parsed: connects
/// `copies` x ports link threads, prints `ready`, waits for the `go`, runs,
/// prints `COUNT ERRORS` and stays until stdin closes. `slots` gives, from
/// the go, the first link's stagger slot and the number of slots; `who`
/// names the process in its errors.
pub fn connect_and_run(
    a: &LinkArgs,
    copies: usize,
    who: &str,
    slots: impl FnOnce(&Go) -> (u64, u64),
) -> i32 {
    let links = match Links::connect(a, copies) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{who}: {e}");
            return 1;
        }
    };
    say("ready");
    let Some(go) = wait_for_go() else {
        return 0; // the bench went away before the run
    };
    let window = go.window(a.run_for);
    let (first_slot, slots) = slots(&go);
    let (count, errors) = links.run(window, first_slot, slots);
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
                _ => crate::interval().mul_f64(slot as f64 / slots as f64),
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
pub struct Go {
    pub id: u64,
    pub clients: u64,
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
    // The system's client link threads' priority, below the echo threads.
    lower_current_thread_below_servers();
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
    let interval = crate::interval();
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
