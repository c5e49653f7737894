//! One server loop thread: its poller, its connections, its inbox; and
//! what every loop shares (`Shared`), which `server.rs` builds and hands
//! down, so the loops never import the server that owns them.
//!
//! Per readiness event a connection reads every complete line that is there
//! (framing is the product's `LineReader` over a non-blocking socket),
//! answers each into one output buffer and writes that once. It stops
//! reading while an update waits for its key's counter or while output is
//! stuck in a full socket buffer (a peer that does not read), exactly as a
//! link thread stops reading while it blocks in `write`.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mass_connect::server::ServerCore;
use mass_connect::server::store::{Counter, Store};
use mass_connect::wire::framing::LineReader;
use mass_connect::wire::protocol::{self, MAX_LINE};
use mio::{Events, Interest, Poll, Token, Waker};

use super::{Sock, WAKER};
use crate::link::server::{Handled, ServerLink, accept_failed, refusal};

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

/// Output gathered from one burst of lines before it is written.
const WRITE_BATCH: usize = 64 * 1024;

/// One connection of this loop.
struct Conn {
    reader: LineReader<Sock>,
    link: ServerLink,
    /// Replies not yet written: `out[written..]`.
    out: Vec<u8>,
    written: usize,
    /// Output could not all be written (a full socket buffer) since then.
    stuck_since: Option<Instant>,
    /// The last complete line, and when the pending partial line began:
    /// the idle deadline counts from the later of the two.
    last_line: Instant,
    partial_since: Option<Instant>,
    /// Close once the output is written (an `err;idle_timeout` line).
    close_after_write: bool,
    /// Stop the server once the output is written (`bye`).
    stop_after_write: bool,
    generation: u32,
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
        let idle = Duration::from_millis(config.idle_timeout_ms);
        let write_limit = Duration::from_millis(config.write_timeout_ms);
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
        self.conns[slot] = Some(Conn {
            reader: LineReader::new(Sock::new(stream), MAX_LINE),
            link: ServerLink::new(&self.shared.core, peer),
            out: Vec::with_capacity(64),
            written: 0,
            stuck_since: None,
            last_line: Instant::now(),
            partial_since: None,
            close_after_write: false,
            stop_after_write: false,
            generation: self.generations[slot],
        });
        // Lines may have arrived before the registration: read now.
        self.serve(slot);
    }

    /// Reads and answers what the connection has, writes what is owed.
    fn serve(&mut self, slot: usize) {
        let shared = self.shared.clone();
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let now = Instant::now();
        let links = || shared.links();
        let mut closed = None;
        // Readiness is edge-triggered: a socket says "readable" again only
        // when new data arrives. A link that stopped reading because its
        // output was stuck (not because its socket was empty) must read on
        // once the output drains, here, or the lines already waiting in its
        // socket are never read: with a peer blocked on a full buffer, no
        // new data, no event, and a link neither served nor timed out.
        loop {
            let mut emptied = false;
            while c.stuck_since.is_none() && !c.link.is_parked() && !c.stop_after_write {
                match c.reader.read_line() {
                    Ok(Some(line)) => {
                        c.last_line = now;
                        match c
                            .link
                            .handle(&shared.core, &shared.store, &links, line, &mut c.out)
                        {
                            Handled::Replied => {}
                            Handled::Stop => c.stop_after_write = true,
                            Handled::NeedCounter(key) => {
                                let (tx, waker) = shared.loops[self.index].clone();
                                let generation = c.generation;
                                let asked = shared.store.counter_then(&key, move |counter| {
                                    let _ = tx.send(Inbox::Counter(slot, generation, counter));
                                    let _ = waker.wake();
                                });
                                if asked.is_err() {
                                    closed = Some("the store has stopped".to_string());
                                    break;
                                }
                            }
                        }
                        if c.out.len() - c.written >= WRITE_BATCH && !flush(c, now) {
                            closed = Some("write failed".into());
                            break;
                        }
                    }
                    Ok(None) => {
                        closed = Some("closed by the peer".into());
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        emptied = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        closed = Some(e.to_string());
                        break;
                    }
                }
            }
            if closed.is_none() && !flush(c, now) {
                closed = Some("write failed".into());
            }
            // Read on only if reading stopped for stuck output that has now
            // drained; every other stop has its own next event (a readable
            // edge, the store's counter) or none is wanted.
            let read_on = closed.is_none()
                && !emptied
                && c.stuck_since.is_none()
                && !c.link.is_parked()
                && !c.stop_after_write;
            if !read_on {
                break;
            }
        }
        if c.reader.has_partial_line() {
            c.partial_since.get_or_insert(now);
        } else {
            c.partial_since = None;
        }
        if c.stuck_since.is_none() && c.out.is_empty() {
            if c.stop_after_write {
                shared.request_stop();
            }
            if c.close_after_write {
                closed = Some("closed after its last reply".into());
            }
        }
        if let Some(why) = closed {
            if !shared.core.stopping.load(Ordering::Relaxed) {
                log::info!(
                    "server {}: link from {} ended: {why}",
                    shared.core.addr,
                    c.link.peer
                );
            }
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
                    core.counters.write_timeouts.fetch_add(1, Ordering::Relaxed);
                    log::warn!(
                        "server {}: dropping link from {}: it has not read its replies for {} ms (write_timeout_ms)",
                        core.addr,
                        c.link.peer,
                        write_limit.as_millis()
                    );
                    doomed.push(slot);
                }
                continue;
            }
            if c.link.is_parked() || c.close_after_write {
                continue;
            }
            if now >= c.partial_since.unwrap_or(c.last_line) + idle {
                core.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
                log::info!(
                    "server {}: closing link from {}: no complete line within {} ms (idle_timeout_ms)",
                    core.addr,
                    c.link.peer,
                    idle.as_millis()
                );
                c.out.clear();
                c.written = 0;
                protocol::encode_err(
                    &mut c.out,
                    "idle_timeout",
                    "no complete line within idle_timeout_ms",
                );
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

/// Writes what `c` owes; false on a dead socket.
fn flush(c: &mut Conn, now: Instant) -> bool {
    while c.written < c.out.len() {
        match (&c.reader.get_ref().stream).write(&c.out[c.written..]) {
            Ok(0) => return false,
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Stuck: the next writable event (the socket is registered
                // for both) resumes, and the sweep times it out.
                c.stuck_since.get_or_insert(now);
                return true;
            }
            Err(_) => return false,
        }
    }
    c.out.clear();
    c.written = 0;
    c.stuck_since = None;
    true
}
