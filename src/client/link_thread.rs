//! How the threads engine waits for one client link: on its own thread,
//! blocked in `connect`, in `read` for the ack, or parked until the next
//! due time. What the link does between the waits is [`ClientLink`]'s, the
//! same for every engine. Link threads share only relaxed atomics, the
//! stop flag and the window with the client's main thread (see `client`),
//! so they never wait for each other or for it.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::counters::LinkError;
use super::link::{ClientLink, Outcome, refuse_self_connect};
use super::schedule::{Window, sleep_until, wait_for_start, wait_for_stop};
use crate::config::{Affinity, Config};
use crate::messages::KeyCount;
use crate::metrics::AtomicHistograms;
use crate::sys::affinity::{self, ClientRank};
use crate::sys::net;
use crate::wire::framing::LineReader;
use crate::wire::protocol::MAX_LINE;

/// What a link thread needs to know.
pub(super) struct LinkPlan {
    pub(super) link: ClientLink,
    /// The client's window, set at its go.
    pub(super) start: Arc<OnceLock<Window>>,
    pub(super) config: Arc<Config>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) histograms: Arc<AtomicHistograms>,
}

impl LinkPlan {
    /// True once the client stops or its window has ended: a link then
    /// neither reconnects nor sends.
    fn over(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::Acquire)
            || self.start.get().is_some_and(|w| w.is_over(Instant::now()))
    }
}

/// How one connection of a link ended.
enum Ended {
    /// The client is stopping or its window ended; the in-flight update
    /// (if any) was answered.
    Stopped,
    /// The link broke; reconnect.
    Broken,
}

/// A link thread: connect, run updates until the link breaks, reconnect with
/// backoff, until stopped. Returns every key used and what was acked on it.
pub(super) fn run_link(mut plan: LinkPlan) -> Vec<KeyCount> {
    let config = plan.config.clone();
    let mut rank = Rank::new(config.interval());
    if config.cpu_affinity == Affinity::ByServer {
        affinity::pin_current_thread(affinity::cpu_for_port(
            &config.server_port_list,
            plan.link.server.port(),
        ));
    }
    // `connect_rate`'s ramp: the first connect waits for its turn.
    let ramped = sleep_until(plan.link.first_connect(), &plan.stop);
    while ramped && !plan.over() {
        let stream = match connect(&plan.link, &config) {
            Ok(stream) => stream,
            Err(e) => {
                let wait = plan.link.connect_failed(&e, &config);
                if !sleep_until(Instant::now() + wait, &plan.stop) {
                    break;
                }
                continue;
            }
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        if !plan.link.connected(local, &config) {
            continue;
        }
        // Connected and counted as up, the first connection waits for the
        // client's go (already given to an ungated client).
        let Some(window) = wait_for_start(&plan.start, &plan.stop) else {
            break;
        };
        plan.link.run(&window, &config, Instant::now());
        let ended = run_connection(&mut plan, &stream, &mut rank);
        if let Ended::Stopped = ended {
            // Past the window's end, stay connected and idle until the stop:
            // ten thousand threads exiting and connections closing during
            // the last interval would load the CPU while the links whose
            // last update is still due measure it.
            wait_for_stop(&plan.stop);
        }
        plan.link.down();
        let _ = stream.shutdown(Shutdown::Both);
        if let Ended::Stopped = ended {
            break;
        }
    }
    plan.link.down();
    plan.link.keys
}

/// A blocking connect within `connect_timeout_ms`, tuned for the link: no
/// Nagle, and the ack's wait bounded by `request_timeout_ms`.
fn connect(link: &ClientLink, config: &Config) -> io::Result<TcpStream> {
    let timeout = config.connect_timeout();
    let stream = TcpStream::connect_timeout(&link.server, timeout)?;
    refuse_self_connect(link.server, stream.local_addr()?)?;
    let ack_limit = config.request_timeout();
    net::tune(&stream, ack_limit, ack_limit)?;
    Ok(stream)
}

/// Sends updates on one connection until it breaks or the client stops.
fn run_connection(plan: &mut LinkPlan, stream: &TcpStream, rank: &mut Rank) -> Ended {
    let link = &mut plan.link;
    let mut reader = LineReader::new(stream, MAX_LINE);
    let mut out = Vec::with_capacity(128);
    loop {
        let Some(due) = link.next_due() else {
            return Ended::Stopped;
        };
        if !sleep_until(due, &plan.stop) || !link.send(due, Instant::now(), &mut out) {
            return Ended::Stopped;
        }
        if let Some(sent) = &link.in_flight {
            rank.note(sent.sent_at.saturating_duration_since(sent.due));
        }
        if let Err(e) = (&*stream).write_all(&out) {
            link.broken(LinkError::Write, &format!("write failed: {e}"));
            return Ended::Broken;
        }
        // Whatever keeps the ack from arriving leaves this update's fate
        // unknown: the server may have counted it. The link counts it as
        // unacked (the verification allows for it) and starts over.
        let outcome = match reader.read_line() {
            Ok(Some(line)) => link.reply(line, Instant::now(), &plan.histograms),
            Ok(None) => link.broken(LinkError::Closed, "the server closed the link"),
            Err(e) => link.broken(LinkError::of_read(&e), &e.to_string()),
        };
        if let Outcome::Broken = outcome {
            return Ended::Broken;
        }
    }
}

/// The link thread's rank against the servers' threads (`affinity`). At
/// the normal rank it is woken on time; at the load generator's rank (the
/// default) a saturated machine serves the servers first. Adaptive takes
/// the first while the link keeps its schedule and drops to the second, for
/// good, once it falls further behind than a scheduling hiccup explains.
struct Rank {
    lowered: bool,
    /// Lateness beyond this is a backlog, not a hiccup: ten intervals, and
    /// at least 100 ms.
    far_behind: Duration,
}

impl Rank {
    fn new(interval: Duration) -> Rank {
        let mut rank = Rank {
            lowered: false,
            far_behind: (interval * 10).max(Duration::from_millis(100)),
        };
        if affinity::client_rank() == ClientRank::Idle {
            rank.lower();
        }
        rank
    }

    /// A send went out `lateness` after its due time.
    fn note(&mut self, lateness: Duration) {
        if !self.lowered
            && lateness > self.far_behind
            && affinity::client_rank() == ClientRank::Adaptive
        {
            self.lower();
        }
    }

    fn lower(&mut self) {
        self.lowered = true;
        affinity::lower_current_thread_below_servers();
    }
}
