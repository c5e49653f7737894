//! One link of a client loop: the product's [`ClientLink`], its socket,
//! and where it is in its life, which a readiness event or a due time moves
//! on.
//!
//! ```text
//!  Waiting ──connect──► Connecting ──connected──► Up ──window over──► Done
//!     ▲                     │ failed (backoff timer)  │ broken (at once)
//!     └─────────────────────┴─────────────────────────┘
//! ```

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mass_connect::client::link::{ClientLink, refuse_self_connect};
use mass_connect::wire::framing::LineReader;

use super::Sock;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Queued to connect, or in backoff (a timer is set).
    Waiting,
    /// A non-blocking connect is under way since `since`.
    Connecting { since: Instant },
    /// Connected.
    Up,
    /// Over: the window ended or the client stops. Stays connected, if it
    /// is, until the loop ends.
    Done,
}

pub(super) struct Slot {
    pub(super) link: ClientLink,
    pub(super) conn: Option<LineReader<Sock>>,
    pub(super) phase: Phase,
    /// Bumped whenever the link's socket changes, so a timer or event of an
    /// older socket is ignored.
    pub(super) generation: u32,
}

impl Slot {
    /// Closes the link's socket, if any, and moves it to `phase`: a new
    /// generation, so its old socket's timers and events are ignored.
    pub(super) fn reset(&mut self, phase: Phase) {
        self.conn = None;
        self.generation = self.generation.wrapping_add(1);
        self.phase = phase;
    }

    /// How a non-blocking connect went, once it has: the local address of
    /// a connection that is up, or why it failed; `None` while under way.
    pub(super) fn connect_outcome(&self) -> Option<io::Result<SocketAddr>> {
        let stream = &self.conn.as_ref()?.get_ref().stream;
        let outcome = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => stream.local_addr(),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return None,
                Err(e) => Err(e),
            },
        };
        let local = outcome.and_then(|local| refuse_self_connect(self.link.server, local));
        if local.is_ok() {
            let _ = stream.set_nodelay(true);
        }
        Some(local)
    }

    /// Writes an update; false when it could not be written whole. One
    /// short line into a socket with nothing outstanding (one update in
    /// flight): the kernel takes it whole, or the link is gone.
    pub(super) fn write(&self, out: &[u8]) -> bool {
        let Some(conn) = &self.conn else {
            return true;
        };
        match (&conn.get_ref().stream).write(out) {
            Ok(n) if n == out.len() => true,
            Ok(n) => {
                log::warn!("a link wrote {n} bytes of an update: dropping it");
                false
            }
            Err(e) => {
                log::warn!("a link's write failed: {e}");
                false
            }
        }
    }
}
