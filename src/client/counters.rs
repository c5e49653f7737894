//! What a link counts, whatever engine runs it: the counters its main
//! thread sums for `status` ([`LinkCounters`], [`status_of`]), and the
//! kinds of errors the report breaks them down by ([`LinkError`],
//! [`ConnectError`]). Written by one link's runner, read with relaxed loads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

use super::schedule::Window;
use crate::messages::{ClientStatus, ErrorKinds, LinkDown};

/// Counters of one link, written only by whoever runs it (a thread, a loop
/// or a task) and summed by the client's main thread ([`status_of`]).
#[derive(Default)]
pub struct LinkCounters {
    /// Connected now.
    pub(crate) up: AtomicBool,
    /// Updates written.
    pub(crate) sent: AtomicU64,
    /// Updates acknowledged.
    pub(crate) acked: AtomicU64,
    /// Updates sent more than [`super::link::LATE`] after their due time.
    pub(crate) late: AtomicU64,
    /// Ticks dropped for being more than `max_lag_ms` behind.
    pub(crate) dropped: AtomicU64,
    /// Failed connects, broken links and error replies.
    pub(crate) errors: AtomicU64,
    /// `errors` by [`LinkError`], indexed by its number.
    pub(crate) error_kinds: [AtomicU64; LinkError::KINDS],
    /// Why the last connect failed ([`ConnectError`] as a number), so the
    /// main thread can say why a link is down without asking the link.
    pub(crate) last_error: AtomicU8,
    /// Times the link was re-established after being lost.
    pub(crate) reconnects: AtomicU64,
    /// Acks whose server count differed from ours.
    pub(crate) anomalies: AtomicU64,
}

impl LinkCounters {
    /// Adds one; a single writer, so a load and a store would do, but
    /// `fetch_add` on an uncontended line costs the same and reads plainly.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one error of `kind`.
    pub(crate) fn error(&self, kind: LinkError) {
        Self::bump(&self.errors);
        Self::bump(&self.error_kinds[kind as usize]);
    }

    /// The errors by kind so far.
    pub(crate) fn error_kinds(&self) -> ErrorKinds {
        let n = |kind: LinkError| self.error_kinds[kind as usize].load(Ordering::Relaxed);
        ErrorKinds {
            connect: n(LinkError::Connect),
            write: n(LinkError::Write),
            refused: n(LinkError::Refused),
            ack_timeout: n(LinkError::AckTimeout),
            closed: n(LinkError::Closed),
            other: n(LinkError::Other),
        }
    }
}

/// What went wrong on a link, for the report's breakdown of its errors
/// (`ErrorKinds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// A connect failed.
    Connect,
    /// An update could not be written.
    Write,
    /// The server answered with an error line.
    Refused,
    /// No ack within `request_timeout_ms`.
    AckTimeout,
    /// The server closed the link before it acked.
    Closed,
    /// Anything else.
    Other,
}

impl LinkError {
    /// How many kinds there are.
    pub(crate) const KINDS: usize = 6;

    /// The kind of a failed read of an ack: a read timeout (the socket's
    /// `request_timeout_ms`) or anything else.
    pub fn of_read(e: &std::io::Error) -> LinkError {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => LinkError::AckTimeout,
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                LinkError::Closed
            }
            _ => LinkError::Other,
        }
    }
}

/// Why a connect failed, in the words the report and startup use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnectError {
    /// No attempt has failed (yet).
    None = 0,
    /// Nothing listens there (a reset to our SYN).
    Refused,
    /// No answer within `connect_timeout_ms`.
    TimedOut,
    /// No route to the host or network.
    Unreachable,
    /// The connection was reset or aborted while being set up.
    Reset,
    /// No local port was free for it (EADDRNOTAVAIL or EADDRINUSE: the
    /// ephemeral range, `ip_local_port_range` on Linux, is used up for this
    /// source address). A limit of this host, not of the server.
    NoLocalPort,
    /// The process or the system has no file descriptor left for a socket
    /// (EMFILE, ENFILE: `ulimit -n`, `fs.file-max`).
    NoDescriptor,
    /// Anything else.
    Failed,
}

impl ConnectError {
    /// Classifies an OS error from a connect (or a non-blocking connect's
    /// outcome) by its kind.
    pub(crate) fn of_io(e: &std::io::Error) -> ConnectError {
        use std::io::ErrorKind as K;
        if is_out_of_descriptors(e) {
            return ConnectError::NoDescriptor;
        }
        match e.kind() {
            K::ConnectionRefused => ConnectError::Refused,
            K::TimedOut | K::WouldBlock => ConnectError::TimedOut,
            K::HostUnreachable | K::NetworkUnreachable => ConnectError::Unreachable,
            K::AddrNotAvailable | K::AddrInUse => ConnectError::NoLocalPort,
            K::ConnectionReset | K::ConnectionAborted => ConnectError::Reset,
            _ => ConnectError::Failed,
        }
    }

    /// The reason a link is down, from the number its counter holds.
    pub(crate) fn describe(code: u8) -> &'static str {
        match code {
            x if x == ConnectError::Refused as u8 => "refused",
            x if x == ConnectError::TimedOut as u8 => "timed out",
            x if x == ConnectError::Unreachable as u8 => "unreachable",
            x if x == ConnectError::Reset as u8 => "reset",
            x if x == ConnectError::NoLocalPort as u8 => "no local port",
            x if x == ConnectError::NoDescriptor as u8 => "no file descriptor",
            x if x == ConnectError::None as u8 => "connecting",
            _ => "failed",
        }
    }
}

/// EMFILE (this process's `ulimit -n`) or ENFILE (the system's
/// `fs.file-max`): std has no stable `ErrorKind` for them, so the numbers,
/// which Linux, the BSDs and macOS share. Windows says WSAEMFILE (10024).
fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    const CODES: &[i32] = &[24, 23];
    #[cfg(windows)]
    const CODES: &[i32] = &[10024];
    #[cfg(not(any(unix, windows)))]
    const CODES: &[i32] = &[];
    e.raw_os_error().is_some_and(|c| CODES.contains(&c))
}

/// Sums link counters into one status, whatever engine runs the links.
///
/// A link that is not up is also listed in `down`, with the reason its last
/// connect failed: that is how startup names the servers a run never
/// reached, and why.
pub fn status_of<'a>(
    id: u32,
    window: &Window,
    links: impl Iterator<Item = (SocketAddr, &'a LinkCounters)>,
) -> ClientStatus {
    let mut s = ClientStatus {
        id,
        elapsed_s: window.elapsed(Instant::now()).as_secs_f64(),
        ..ClientStatus::default()
    };
    for (server, c) in links {
        let up = c.up.load(Ordering::Relaxed);
        s.links += 1;
        s.links_up += u64::from(up);
        if !up {
            s.down.push(LinkDown {
                server,
                reason: ConnectError::describe(c.last_error.load(Ordering::Relaxed)).into(),
            });
        }
        s.sent += c.sent.load(Ordering::Relaxed);
        s.acked += c.acked.load(Ordering::Relaxed);
        s.late += c.late.load(Ordering::Relaxed);
        s.dropped += c.dropped.load(Ordering::Relaxed);
        s.errors += c.errors.load(Ordering::Relaxed);
        s.error_kinds.add(&c.error_kinds());
        s.reconnects += c.reconnects.load(Ordering::Relaxed);
        s.anomalies += c.anomalies.load(Ordering::Relaxed);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::ConnectError;
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_host_limit_is_named_apart_from_the_server() {
        // Port exhaustion reads EADDRNOTAVAIL from connect and EADDRINUSE
        // from a bind to port 0: neither is the server's fault.
        for kind in [ErrorKind::AddrNotAvailable, ErrorKind::AddrInUse] {
            let e = ConnectError::of_io(&Error::from(kind));
            assert_eq!(e, ConnectError::NoLocalPort, "{kind:?}");
            assert_eq!(ConnectError::describe(e as u8), "no local port");
        }
        let unreachable = ConnectError::of_io(&Error::from(ErrorKind::HostUnreachable));
        assert_eq!(ConnectError::describe(unreachable as u8), "unreachable");
    }

    #[cfg(unix)]
    #[test]
    fn out_of_descriptors_is_named() {
        for code in [24, 23] {
            let e = ConnectError::of_io(&Error::from_raw_os_error(code));
            assert_eq!(
                ConnectError::describe(e as u8),
                "no file descriptor",
                "{code}"
            );
        }
    }
}
