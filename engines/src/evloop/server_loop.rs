//! One server loop thread: its poller, its connections (`server_conn`),
//! its inbox; and what every loop shares (`Shared`), which `server.rs`
//! builds and hands down, so the loops never import the server that owns
//! them. The loop accepts (loop 0), deals connections out, hands each
//! readiness event to its connection and sweeps for timeouts.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mass_connect::server::ServerCore;
use mass_connect::server::link::{ServerLink, accept_failed, refusal};
use mass_connect::server::store::{Counter, Store};
use mio::{Events, Interest, Poll, Token, Waker};

use super::WAKER;
use super::server_conn::{Conn, Serving};

/// The listener's token in loop 0's poller.
pub(super) const LISTENER: Token = Token(usize::MAX - 1);

/// What reaches a loop from another thread.
pub(super) enum Inbox {
    /// A connection dealt to this loop by the acceptor.
    Conn(mio::net::TcpStream, SocketAddr),
    /// The store's answer to a connection's first update: its slot, the
    /// slot's generation then, and the counter.
    Counter(usize, u32, Counter),
}

/// What every loop shares.
pub(super) struct Shared {
    pub(super) core: ServerCore,
    pub(super) store: Store,
    /// Connections open now, across all loops (the link limit, `stats`).
    pub(super) open: AtomicU64,
    /// Each loop's inbox and waker, by loop index.
    pub(super) loops: Vec<(Sender<Inbox>, Arc<Waker>)>,
    /// Told once when the server must stop.
    pub(super) stop_tx: Sender<()>,
}

impl Shared {
    /// Stops the server: every loop is woken and sees the flag.
    pub(super) fn request_stop(&self) {
        if self.core.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        for (_, waker) in &self.loops {
            let _ = waker.wake();
        }
        let _ = self.stop_tx.try_send(());
    }

    /// The number of links open now, for `stats`.
    pub(super) fn links(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }
}

/// A loop thread's whole state.
pub(super) struct ServerLoop {
    index: usize,
    poll: Poll,
    inbox: Receiver<Inbox>,
    listener: Option<mio::net::TcpListener>,
    shared: Arc<Shared>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    generations: Vec<u32>,
    /// Round-robin cursor of the acceptor (loop 0).
    next_loop: usize,
    /// After an accept error (out of descriptors), accept again only then.
    accept_again: Option<Instant>,
    warned_limit: bool,
}

impl ServerLoop {
    pub(super) fn new(
        index: usize,
        poll: Poll,
        inbox: Receiver<Inbox>,
        listener: Option<mio::net::TcpListener>,
        shared: Arc<Shared>,
    ) -> ServerLoop {
        ServerLoop {
            index,
            poll,
            inbox,
            listener,
            shared,
            conns: Vec::new(),
            free: Vec::new(),
            generations: Vec::new(),
            next_loop: 0,
            accept_again: None,
            warned_limit: false,
        }
    }

    /// The loop: wait, handle what is ready, sweep for timeouts, repeat
    /// until the server stops.
    pub(super) fn run(mut self) {
        let config = self.shared.core.config.clone();
        let idle = config.idle_timeout();
        let write_limit = config.write_timeout();
        // Timeouts are found by a sweep a few times per timeout: no timer
        // per update, and a peer is closed at most an eighth late.
        let sweep_every =
            (idle.min(write_limit) / 8).clamp(Duration::from_millis(5), Duration::from_secs(1));
        let mut next_sweep = Instant::now() + sweep_every;
        let mut events = Events::with_capacity(1024);
        loop {
            let wake_at = self.accept_again.map_or(next_sweep, |a| a.min(next_sweep));
            let timeout = super::timeout_until(Some(wake_at), Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!(
                    "server {}: loop {} cannot poll: {e}",
                    self.shared.core.addr,
                    self.index
                );
                self.shared.request_stop();
            }
            if self.shared.core.stopping.load(Ordering::Acquire) {
                break;
            }
            for event in &events {
                match event.token() {
                    WAKER => self.drain_inbox(),
                    LISTENER => self.accept_all(),
                    Token(slot) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            if let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                                c.reader.get_ref().readable();
                            }
                        }
                        self.serve(slot);
                    }
                }
            }
            let now = Instant::now();
            if self.accept_again.is_some_and(|a| now >= a) {
                self.accept_again = None;
                self.accept_all();
            }
            if now >= next_sweep {
                self.sweep(now, idle, write_limit);
                next_sweep = now + sweep_every;
            }
        }
        // Stopping: every socket is closed as the loop's state drops.
        let open = self.conns.iter().flatten().count() as u64;
        self.shared.open.fetch_sub(open, Ordering::Relaxed);
    }

    /// Connections dealt to us, and counters the store handed over.
    fn drain_inbox(&mut self) {
        while let Ok(item) = self.inbox.try_recv() {
            match item {
                Inbox::Conn(stream, peer) => self.adopt(stream, peer),
                Inbox::Counter(slot, generation, counter) => {
                    let shared = self.shared.clone();
                    let core = &shared.core;
                    let Some(c) = self.conn_at(slot, generation) else {
                        continue;
                    };
                    c.link.counter_arrived(core, counter, &mut c.out);
                    self.serve(slot);
                }
            }
        }
    }

    fn conn_at(&mut self, slot: usize, generation: u32) -> Option<&mut Conn> {
        self.conns
            .get_mut(slot)?
            .as_mut()
            .filter(|c| c.generation == generation)
    }

    /// Accepts until the listener is empty (edge-triggered), dealing each
    /// connection to a loop.
    fn accept_all(&mut self) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        self.accept_from(&listener);
        self.listener = Some(listener);
    }

    fn accept_from(&mut self, listener: &mio::net::TcpListener) {
        let shared = self.shared.clone();
        let core = &shared.core;
        let limit = u64::from(core.config.server_max_links);
        loop {
            let (stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Try again in 20 ms rather than spin on a listener that
                    // stays readable.
                    accept_failed(core, &e, &mut self.warned_limit);
                    self.accept_again = Some(Instant::now() + Duration::from_millis(20));
                    return;
                }
            };
            let open = self.shared.open.load(Ordering::Relaxed);
            if open >= limit {
                // A fresh socket's buffer takes one short line at once.
                let _ = (&stream).write(&refusal(core, peer, open));
                let _ = stream.shutdown(std::net::Shutdown::Both);
                continue;
            }
            self.shared.open.fetch_add(1, Ordering::Relaxed);
            core.counters.links_accepted.fetch_add(1, Ordering::Relaxed);
            log::info!("server {}: link from {peer}", core.addr);
            let to = self.next_loop % self.shared.loops.len();
            self.next_loop += 1;
            if to == self.index {
                self.adopt(stream, peer);
            } else {
                let (tx, waker) = &self.shared.loops[to];
                if tx.send(Inbox::Conn(stream, peer)).is_ok() {
                    let _ = waker.wake();
                }
            }
        }
    }

    /// Takes a connection into this loop.
    fn adopt(&mut self, mut stream: mio::net::TcpStream, peer: SocketAddr) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.generations.push(0);
            self.conns.len() - 1
        });
        let _ = stream.set_nodelay(true);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!(
                "server {}: cannot watch link from {peer}: {e}",
                self.shared.core.addr
            );
            self.free.push(slot);
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let link = ServerLink::new(&self.shared.core, peer);
        self.conns[slot] = Some(Conn::new(stream, link, self.generations[slot]));
        // Lines may have arrived before the registration: read now.
        self.serve(slot);
    }

    /// Reads and answers what the connection has, writes what is owed.
    fn serve(&mut self, slot: usize) {
        let shared = self.shared.clone();
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let (index, generation) = (self.index, c.generation);
        // Only a link's first update asks: the store answers on its own
        // thread, through this loop's inbox and waker.
        let ask_counter = |key: &str| {
            let (tx, waker) = shared.loops[index].clone();
            let asked = shared.store.counter_then(key, move |counter| {
                let _ = tx.send(Inbox::Counter(slot, generation, counter));
                let _ = waker.wake();
            });
            asked.is_ok()
        };
        let serving = Serving {
            core: &shared.core,
            store: &shared.store,
            links: &|| shared.links(),
            ask_counter: &ask_counter,
        };
        let mut closed = c.pump(&serving, Instant::now());
        if c.stuck_since.is_none() && c.out.is_empty() {
            if c.stop_after_write {
                shared.request_stop();
            }
            if c.close_after_write {
                closed = Some("closed after its last reply".into());
            }
        }
        if let Some(why) = closed {
            c.link.ended(&shared.core, why);
            self.close(slot);
        }
    }

    /// Closes a connection (dropping the socket deregisters it) and frees
    /// its slot.
    fn close(&mut self, slot: usize) {
        if self.conns[slot].take().is_some() {
            self.generations[slot] = self.generations[slot].wrapping_add(1);
            self.free.push(slot);
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Closes peers that sent no complete line within `idle_timeout_ms`
    /// and peers whose output has been stuck for `write_timeout_ms`.
    fn sweep(&mut self, now: Instant, idle: Duration, write_limit: Duration) {
        let core = &self.shared.core;
        let mut doomed = Vec::new();
        for (slot, c) in self.conns.iter_mut().enumerate() {
            let Some(c) = c else { continue };
            if let Some(since) = c.stuck_since {
                if now >= since + write_limit {
                    c.link.write_timed_out(core, write_limit);
                    doomed.push(slot);
                }
                continue;
            }
            if c.link.is_parked() || c.close_after_write {
                continue;
            }
            if now >= c.partial_since.unwrap_or(c.last_line) + idle {
                c.link.idle_timed_out(core, idle, &mut c.out);
                c.written = 0;
                c.close_after_write = true;
                // Best effort, as the threads engine: one short line.
                let _ = (&c.reader.get_ref().stream).write(&c.out);
                doomed.push(slot);
            }
        }
        for slot in doomed {
            self.close(slot);
        }
    }
}
