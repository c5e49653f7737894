//! One client loop thread: its links (`client_slot`), their due times in
//! a heap, and the calls into each link's `ClientLink` that a thread makes
//! as straight-line code (connect, wait for the go, wait until due, send,
//! read the ack, reconnect), here made when a readiness event or a due
//! time comes.
//!
//! `Shared` (the stop flag, the run's window) is defined here, beside the
//! loop that reads it; `client.rs` builds it and hands it down.
//!
//! Connects are capped per loop (`MAX_CONNECTING` in flight), so a loop
//! with ten thousand links does not put ten thousand SYNs in front of a
//! server's listen backlog at once; `connect_rate` paces the first ones
//! further, as it does the other engines'.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mass_connect::client::LinkError;
use mass_connect::client::link::{ClientLink, Outcome};
use mass_connect::client::schedule::Window;
use mass_connect::config::Config;
use mass_connect::messages::KeyCount;
use mass_connect::metrics::AtomicHistograms;
use mass_connect::wire::framing::LineReader;
use mass_connect::wire::protocol::MAX_LINE;
use mio::{Events, Interest, Poll, Token};

use super::client_slot::{Phase, Slot};
use super::{Sock, Timers, WAKER};
use crate::source::mio_connect;

/// Connects in flight per loop at most.
const MAX_CONNECTING: usize = 256;

/// What the main thread and the loops share.
pub(super) struct Shared {
    pub(super) config: Arc<Config>,
    /// Set once, by the stop.
    pub(super) stop: AtomicBool,
    /// Set once, by the go (at once for a client that is not gated).
    pub(super) window: OnceLock<Window>,
    /// The local address the links connect from (`--source`).
    pub(super) source: Option<IpAddr>,
}

/// A loop thread's whole state.
pub(super) struct ClientLoop {
    poll: Poll,
    shared: Arc<Shared>,
    histograms: Arc<AtomicHistograms>,
    slots: Vec<Slot>,
    timers: Timers,
    to_connect: VecDeque<usize>,
    connecting: usize,
    /// The window, once the go has come.
    window: Option<Window>,
    stopping: bool,
    out: Vec<u8>,
}

impl ClientLoop {
    pub(super) fn new(
        poll: Poll,
        shared: Arc<Shared>,
        histograms: Arc<AtomicHistograms>,
        links: Vec<ClientLink>,
    ) -> ClientLoop {
        let slots: Vec<Slot> = links
            .into_iter()
            .map(|link| Slot {
                link,
                conn: None,
                phase: Phase::Waiting,
                generation: 0,
            })
            .collect();
        // `connect_rate`'s ramp: a link whose first connect is not due yet
        // waits on a timer, as after a failed connect.
        let now = Instant::now();
        let mut timers = Timers::default();
        let mut to_connect = VecDeque::with_capacity(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            match slot.link.first_connect() {
                at if at > now => timers.at(at, i, slot.generation),
                _ => to_connect.push_back(i),
            }
        }
        ClientLoop {
            poll,
            shared,
            histograms,
            to_connect,
            slots,
            timers,
            connecting: 0,
            window: None,
            stopping: false,
            out: Vec::with_capacity(128),
        }
    }

    /// Runs until stopped and every update in flight is answered (or timed
    /// out); returns each link's server and keys.
    pub(super) fn run(mut self) -> Vec<(SocketAddr, Vec<KeyCount>)> {
        let config = self.shared.config.clone();
        let connect_limit = config.connect_timeout();
        let ack_limit = config.request_timeout();
        let sweep_every = (connect_limit.min(ack_limit) / 8)
            .clamp(Duration::from_millis(5), Duration::from_secs(1));
        let mut next_sweep = Instant::now() + sweep_every;
        let mut events = Events::with_capacity(1024);
        loop {
            self.look_at_shared();
            if self.stopping && self.slots.iter().all(|s| s.link.in_flight.is_none()) {
                break;
            }
            self.start_connects(Instant::now());
            let wake_at = self.timers.next().map_or(next_sweep, |t| t.min(next_sweep));
            let timeout = super::timeout_until(Some(wake_at), Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("client loop cannot poll: {e}");
                    break;
                }
            }
            for event in &events {
                if event.token() == WAKER {
                    continue; // looked at at the top of the loop
                }
                self.on_event(event.token().0);
            }
            let now = Instant::now();
            while let Some((_, i, generation)) = self.timers.pop_due(now) {
                self.on_timer(i, generation, now);
            }
            if now >= next_sweep {
                self.sweep(now, connect_limit, ack_limit);
                next_sweep = now + sweep_every;
            }
        }
        self.slots
            .into_iter()
            .map(|s| {
                s.link.down();
                (s.link.server, s.link.keys)
            })
            .collect()
    }

    /// The go and the stop come from the main thread with a wake.
    fn look_at_shared(&mut self) {
        let now = Instant::now();
        if self.window.is_none() {
            if let Some(&w) = self.shared.window.get() {
                self.window = Some(w);
                for i in 0..self.slots.len() {
                    if self.slots[i].phase == Phase::Up {
                        self.begin(i, now);
                    }
                }
            }
        }
        if !self.stopping && self.shared.stop.load(Ordering::Acquire) {
            self.stopping = true;
            self.to_connect.clear();
            for i in 0..self.slots.len() {
                // A link waiting for its ack gets it first; the rest end now.
                if self.slots[i].link.in_flight.is_none() {
                    self.finish(i);
                }
            }
        }
    }

    fn over(&self, now: Instant) -> bool {
        self.stopping || self.window.is_some_and(|w| w.is_over(now))
    }

    /// Starts queued connects, up to the cap.
    fn start_connects(&mut self, now: Instant) {
        while self.connecting < MAX_CONNECTING {
            let Some(i) = self.to_connect.pop_front() else {
                return;
            };
            let server = self.slots[i].link.server;
            let started = mio_connect(server, self.shared.source).and_then(|mut stream| {
                self.poll.registry().register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Ok(stream)
            });
            match started {
                Ok(stream) => {
                    let slot = &mut self.slots[i];
                    slot.conn = Some(LineReader::new(Sock::new(stream), MAX_LINE));
                    slot.phase = Phase::Connecting { since: now };
                    self.connecting += 1;
                }
                Err(e) => self.connect_failed(i, &e, now),
            }
        }
    }

    fn connect_failed(&mut self, i: usize, e: &io::Error, now: Instant) {
        let config = self.shared.config.clone();
        let over = self.over(now);
        let slot = &mut self.slots[i];
        if matches!(slot.phase, Phase::Connecting { .. }) {
            self.connecting -= 1;
        }
        let wait = slot.link.connect_failed(e, &config);
        if over {
            slot.reset(Phase::Done);
        } else {
            slot.reset(Phase::Waiting);
            self.timers.at(now + wait, i, slot.generation);
        }
    }

    fn on_event(&mut self, i: usize) {
        let now = Instant::now();
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let Some(conn) = &slot.conn else { return };
        conn.get_ref().readable();
        if let Phase::Connecting { .. } = slot.phase {
            let Some(outcome) = slot.connect_outcome() else {
                return; // not yet
            };
            match outcome {
                Err(e) => return self.connect_failed(i, &e, now),
                Ok(local) => {
                    self.connecting -= 1;
                    let config = self.shared.config.clone();
                    if !slot.link.connected(local, &config) {
                        // A used local port: a key is one connection's life.
                        slot.reset(Phase::Waiting);
                        self.to_connect.push_front(i);
                        return;
                    }
                    slot.phase = Phase::Up;
                    if self.window.is_some() {
                        self.begin(i, now);
                    }
                }
            }
        }
        self.read(i);
    }

    /// A connected link with a window starts (or resumes) its schedule.
    fn begin(&mut self, i: usize, now: Instant) {
        let (Some(window), false) = (self.window, self.stopping) else {
            return;
        };
        let config = self.shared.config.clone();
        self.slots[i].link.run(&window, &config, now);
        self.schedule(i);
    }

    /// Sends now what is due, or sets a timer for it.
    fn schedule(&mut self, i: usize) {
        if self.stopping {
            return self.finish(i);
        }
        let slot = &mut self.slots[i];
        if slot.phase != Phase::Up || slot.link.in_flight.is_some() || !slot.link.is_running() {
            return;
        }
        match slot.link.next_due() {
            None => slot.phase = Phase::Done,
            // Read the clock after the due time: closed loop's is "now".
            Some(due) => match Instant::now() {
                now if due <= now => self.send(i, due, now),
                _ => self.timers.at(due, i, slot.generation),
            },
        }
    }

    fn send(&mut self, i: usize, due: Instant, now: Instant) {
        let slot = &mut self.slots[i];
        if !slot.link.send(due, now, &mut self.out) {
            slot.phase = Phase::Done;
            return;
        }
        if !slot.write(&self.out) {
            slot.link
                .broken(LinkError::Write, "the update could not be written");
            self.drop_conn(i, now);
        }
    }

    /// Reads every reply that is there.
    fn read(&mut self, i: usize) {
        loop {
            let slot = &mut self.slots[i];
            let Some(conn) = &mut slot.conn else { return };
            if slot.phase == Phase::Done && slot.link.in_flight.is_none() {
                // Past its last update the link only waits for the stop, as
                // the threads engine's does, and reads nothing: a server
                // that closes it then is no error.
                match conn.read_line() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    _ => slot.conn = None,
                }
                return;
            }
            let outcome = match conn.read_line() {
                Ok(Some(line)) => slot.link.reply(line, Instant::now(), &self.histograms),
                Ok(None) => slot
                    .link
                    .broken(LinkError::Closed, "the server closed the link"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => slot.link.broken(LinkError::of_read(&e), &e.to_string()),
            };
            let now = Instant::now();
            match outcome {
                Outcome::Acked => self.schedule(i),
                Outcome::Broken => return self.drop_conn(i, now),
            }
        }
    }

    fn on_timer(&mut self, i: usize, generation: u32, now: Instant) {
        let slot = &self.slots[i];
        if slot.generation != generation {
            return; // made stale by a new socket
        }
        match slot.phase {
            Phase::Waiting if !self.over(now) => self.to_connect.push_back(i),
            Phase::Up => self.schedule(i),
            _ => {}
        }
    }

    /// The connection is gone: reconnect at once unless the run is over
    /// (as the threads engine's link does; backoff is for failed connects).
    fn drop_conn(&mut self, i: usize, now: Instant) {
        let over = self.over(now);
        let slot = &mut self.slots[i];
        slot.link.down();
        if over {
            slot.reset(Phase::Done);
        } else {
            slot.reset(Phase::Waiting);
            self.to_connect.push_back(i);
        }
    }

    /// Ends a link for good (stop): closes its socket.
    fn finish(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if matches!(slot.phase, Phase::Connecting { .. }) {
            self.connecting -= 1;
        }
        slot.link.down();
        slot.reset(Phase::Done);
    }

    /// Connects and acks that took too long.
    fn sweep(&mut self, now: Instant, connect_limit: Duration, ack_limit: Duration) {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            match slot.phase {
                Phase::Connecting { since } if now >= since + connect_limit => {
                    let e = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                    self.connect_failed(i, &e, now);
                }
                Phase::Up | Phase::Done => {
                    if let Some(f) = slot.link.in_flight {
                        if now >= f.sent_at + ack_limit {
                            slot.link
                                .broken(LinkError::AckTimeout, "no ack within request_timeout_ms");
                            if self.stopping {
                                self.finish(i);
                            } else {
                                self.drop_conn(i, now);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
