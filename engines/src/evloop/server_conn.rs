//! One connection of a server loop: its socket and framing, the product's
//! [`ServerLink`], the replies not yet written, and the deadlines the
//! loop's sweep checks. [`Conn::pump`] is one readiness event's work: read
//! every complete line that is there, answer each into one buffer, write
//! it once.
//!
//! A connection stops reading while an update waits for its key's counter
//! or while output is stuck in a full socket buffer (a peer that does not
//! read), exactly as a link thread stops reading while it blocks in
//! `write`.

use std::io::{self, Write};
use std::time::Instant;

use mass_connect::server::ServerCore;
use mass_connect::server::link::{Handled, ServerLink};
use mass_connect::server::store::Store;
use mass_connect::wire::framing::LineReader;
use mass_connect::wire::protocol::MAX_LINE;

use super::Sock;

/// Output gathered from one burst of lines before it is written.
pub(super) const WRITE_BATCH: usize = 64 * 1024;

/// One connection of this loop.
pub(super) struct Conn {
    pub(super) reader: LineReader<Sock>,
    pub(super) link: ServerLink,
    /// Replies not yet written: `out[written..]`.
    pub(super) out: Vec<u8>,
    pub(super) written: usize,
    /// Output could not all be written (a full socket buffer) since then.
    pub(super) stuck_since: Option<Instant>,
    /// The last complete line, and when the pending partial line began:
    /// the idle deadline counts from the later of the two.
    pub(super) last_line: Instant,
    pub(super) partial_since: Option<Instant>,
    /// Close once the output is written (an `err;idle_timeout` line).
    pub(super) close_after_write: bool,
    /// Stop the server once the output is written (`bye`).
    pub(super) stop_after_write: bool,
    pub(super) generation: u32,
}

/// What a connection needs from its loop while it reads: the server, the
/// store, the open links (for `stats`) and a way to ask the store for a
/// key's counter without waiting (false: the store has stopped).
pub(super) struct Serving<'a> {
    pub(super) core: &'a ServerCore,
    pub(super) store: &'a Store,
    pub(super) links: &'a dyn Fn() -> u64,
    pub(super) ask_counter: &'a dyn Fn(&str) -> bool,
}

impl Conn {
    /// A connection from `peer` on a registered socket.
    pub(super) fn new(stream: mio::net::TcpStream, link: ServerLink, generation: u32) -> Conn {
        Conn {
            reader: LineReader::new(Sock::new(stream), MAX_LINE),
            link,
            out: Vec::with_capacity(64),
            written: 0,
            stuck_since: None,
            last_line: Instant::now(),
            partial_since: None,
            close_after_write: false,
            stop_after_write: false,
            generation,
        }
    }

    /// Reads and answers what is there and writes what is owed; returns why
    /// the connection must close, if it must.
    pub(super) fn pump(&mut self, serving: &Serving<'_>, now: Instant) -> Option<String> {
        // Readiness is edge-triggered: a socket says "readable" again only
        // when new data arrives. A link that stopped reading because its
        // output was stuck (not because its socket was empty) must read on
        // once the output drains, here, or the lines already waiting in its
        // socket are never read: with a peer blocked on a full buffer, no
        // new data, no event, and a link neither served nor timed out.
        let closed = loop {
            let emptied = match self.read_lines(serving, now) {
                Ok(emptied) => emptied,
                Err(why) => break Some(why),
            };
            if !flush(self, now) {
                break Some("write failed".into());
            }
            // Read on only if reading stopped for stuck output that has now
            // drained; every other stop has its own next event (a readable
            // edge, the store's counter) or none is wanted.
            if emptied || !self.may_read() {
                break None;
            }
        };
        if self.reader.has_partial_line() {
            self.partial_since.get_or_insert(now);
        } else {
            self.partial_since = None;
        }
        closed
    }

    /// Whether the connection reads on: not while output is stuck, an
    /// update waits for its counter, or a `bye` is to be written.
    fn may_read(&self) -> bool {
        self.stuck_since.is_none() && !self.link.is_parked() && !self.stop_after_write
    }

    /// Reads and answers lines while it may; `Ok(true)` when the socket
    /// was emptied, `Err` with why the connection must close.
    fn read_lines(&mut self, serving: &Serving<'_>, now: Instant) -> Result<bool, String> {
        while self.may_read() {
            match self.reader.read_line() {
                Ok(Some(line)) => {
                    self.last_line = now;
                    let handled = self.link.handle(
                        serving.core,
                        serving.store,
                        serving.links,
                        line,
                        &mut self.out,
                    );
                    match handled {
                        Handled::Replied => {}
                        Handled::Stop => self.stop_after_write = true,
                        Handled::NeedCounter(key) => {
                            if !(serving.ask_counter)(&key) {
                                return Err("the store has stopped".into());
                            }
                        }
                    }
                    if self.out.len() - self.written >= WRITE_BATCH && !flush(self, now) {
                        return Err("write failed".into());
                    }
                }
                Ok(None) => return Err("closed by the peer".into()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(false)
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
