//! The event-loop engine: a hand-written readiness loop over mio (epoll on
//! Linux, IOCP through AFD on Windows), one loop thread per core by default.
//!
//! Each loop thread owns its sockets outright and sleeps in one place, the
//! poller's wait, until a socket is ready, a timer is due or another thread
//! wakes it (a [`mio::Waker`]: an eventfd on Linux). No thread polls; a
//! loop with nothing to do blocks until the earliest of its due times.
//!
//! * [`server`]: the server engine (an acceptor loop hands connections out
//!   to the loops; the store thread is the product's).
//! * [`client`]: the client engine (links spread over the loops; due times
//!   in a heap).
//! * this file: what both use: the socket reader that knows when a read
//!   drained the socket, the heap of due times, how many loops to run.
//!
//! # Edge-triggered, and one read fewer
//!
//! mio registers sockets edge-triggered: the loop hears of a socket once
//! per burst of arrivals, so it must take everything that is there before
//! waiting again, and it does not hear of the same data twice. The usual
//! way is to read until the socket says `WouldBlock`, which costs one more
//! `read` system call per update. But a stream socket that returns less
//! than was asked for is empty at that moment, and anything arriving later
//! is a new edge: so [`Sock`] remembers a short read and answers the next
//! read with `WouldBlock` itself, until the poller reports the socket again
//! (on epoll and kqueue; Windows' poller needs the `WouldBlock`).
//!
//! # Timers
//!
//! Each loop keeps a binary heap of due times ([`Timers`]): a link's next
//! update, a reconnect after backoff. An entry carries the link's
//! generation, so an entry made stale by a broken link is dropped when it
//! surfaces instead of being searched for. Timeouts that almost never fire
//! (an ack not back within `request_timeout_ms`, a connect, an idle or
//! stalled peer) are not timers: a sweep over the loop's links a few times
//! per timeout finds them, which costs nothing per update. The poller's
//! wait counts in milliseconds (epoll_wait), so a due time is met within
//! about a millisecond, where a thread's `park_timeout` meets it within
//! tens of microseconds.

pub mod client;
mod client_loop;
mod client_slot;
pub mod server;
mod server_conn;
mod server_loop;

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read};
use std::time::{Duration, Instant};

use mio::Token;

/// Whether a short read proves the socket empty, so that the next readiness
/// event will come: true of epoll and kqueue, which mio uses edge-triggered
/// there. mio's Windows poller (AFD) re-arms a socket only when a read says
/// `WouldBlock`, so there the loop reads until it does (tokio makes the same
/// distinction; the Windows check under Wine caught it).
const SHORT_READ_DRAINS: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    target_os = "macos",
    target_os = "ios",
    target_os = "illumos"
));

/// A non-blocking socket as a `Read` for `wire::framing::LineReader`,
/// which passes `WouldBlock` through with its state intact, so the same
/// framing serves a blocking thread and a readiness loop.
///
/// The reader owns it and lends it out only as `&Sock`, so what changes
/// after it is wrapped changes through `&self`: the drained flag is a
/// `Cell`, and the socket is registered with the poller before it is
/// wrapped, for reading and writing at once, and never again (mio reports
/// both in one event; a socket is deregistered when it is closed).
pub struct Sock {
    /// The socket.
    pub stream: mio::net::TcpStream,
    /// The last read returned less than asked: the socket was empty then,
    /// and new data will be a new readiness event.
    drained: Cell<bool>,
}

impl Sock {
    /// Wraps a connected (or connecting) socket.
    pub fn new(stream: mio::net::TcpStream) -> Sock {
        Sock {
            stream,
            drained: Cell::new(false),
        }
    }

    /// The poller reported the socket readable: the next read is real.
    pub fn readable(&self) {
        self.drained.set(false);
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.drained.get() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = (&self.stream).read(buf)?;
        // n == 0 is the end of the stream: reading again would say so again.
        if n < buf.len() && SHORT_READ_DRAINS {
            self.drained.set(true);
        }
        Ok(n)
    }
}

/// The waker's token in every loop's poller, client's and server's: no
/// socket is ever given the last token.
pub const WAKER: Token = Token(usize::MAX);

/// A heap of due times, earliest first, each for one slot (a link or a
/// connection) at one generation of it.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u32)>>,
}

impl Timers {
    /// `slot` at generation `gen` is due at `at`.
    pub fn at(&mut self, at: Instant, slot: usize, generation: u32) {
        self.heap.push(Reverse((at, slot, generation)));
    }

    /// The earliest due time, if any.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Takes the earliest entry if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize, u32)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}

/// How long the poller may sleep: until `deadline` (none: until an event).
pub fn timeout_until(deadline: Option<Instant>, now: Instant) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mass_connect::wire::framing::{Line, LineReader};

    /// A reader that returns its chunks then `WouldBlock`, like a
    /// non-blocking socket between two readiness events.
    struct Bursts(Vec<Option<&'static [u8]>>);

    impl Read for Bursts {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match self.0.first().copied() {
                None => Ok(0),
                Some(None) => {
                    self.0.remove(0);
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Some(Some(chunk)) => {
                    self.0.remove(0);
                    out[..chunk.len()].copy_from_slice(chunk);
                    Ok(chunk.len())
                }
            }
        }
    }

    #[test]
    fn the_framing_resumes_after_would_block() {
        // A line split across two readiness events, with a WouldBlock between.
        let mut r = LineReader::new(
            Bursts(vec![Some(b"upd"), None, Some(b"ate;k;1\nping\n"), None]),
            64,
        );
        assert_eq!(r.read_line().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert_eq!(r.read_line().unwrap(), Some(Line::Complete(b"update;k;1")));
        assert_eq!(r.read_line().unwrap(), Some(Line::Complete(b"ping")));
        assert_eq!(r.read_line().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert_eq!(r.read_line().unwrap(), None);
    }

    #[test]
    fn timers_come_out_earliest_first_and_only_when_due() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.at(t0 + Duration::from_millis(5), 1, 0);
        t.at(t0 + Duration::from_millis(1), 2, 0);
        assert_eq!(t.next(), Some(t0 + Duration::from_millis(1)));
        assert_eq!(t.pop_due(t0), None);
        assert_eq!(
            t.pop_due(t0 + Duration::from_millis(3)).map(|e| e.1),
            Some(2)
        );
        assert_eq!(t.pop_due(t0 + Duration::from_millis(3)), None);
        assert_eq!(
            t.pop_due(t0 + Duration::from_millis(9)).map(|e| e.1),
            Some(1)
        );
    }
}
