//! Small socket helpers shared by the server, the client and startup.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::wire::framing::TimedRead;

/// Makes a listening socket's accept queue as deep as the system allows.
///
/// std's `TcpListener::bind` listens with a backlog of 128. When a host's
/// clients open their links all at once, a server gets hundreds of SYNs in
/// the time its accept thread takes a few, and past 128 waiting handshakes
/// the kernel drops them (`ListenOverflows` in /proc/net/netstat): each
/// dropped SYN is retried only after a second, then three, so a burst of
/// links comes up seconds late or times out. Listening again on a listening
/// socket only changes its backlog; Linux caps the value at
/// `net.core.somaxconn` (4096 by default since 5.4). mio and tokio listen
/// with 1,024, so the comparison engines had the deeper queue already.
/// Elsewhere std's 128 stays (Windows' own queue is sized by the system).
pub(crate) fn deepen_backlog(listener: &TcpListener) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: listen(2) on a descriptor the listener owns, with no
        // pointers; the kernel clamps the backlog to somaxconn.
        if unsafe { libc::listen(listener.as_raw_fd(), libc::c_int::MAX) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = listener;
    Ok(())
}

/// Socket options every link gets on both ends. `TCP_NODELAY` because each
/// update is one small write followed by a wait for the reply: with Nagle's
/// algorithm on, the kernel may hold the write back for up to one delayed-ack
/// period (40 ms on Linux, 200 ms on Windows), four times our whole interval.
pub(crate) fn tune(
    stream: &TcpStream,
    read_timeout: Duration,
    write_timeout: Duration,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(read_timeout))?;
    stream.set_write_timeout(Some(write_timeout))?;
    Ok(())
}

/// A socket's reads take the limit a line's deadline leaves (see
/// `wire::framing`).
impl TimedRead for &TcpStream {
    fn limit_reads(&mut self, limit: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(limit))
    }
}

/// Writes all of `bytes` within `limit`, on a socket whose write timeout is
/// `limit` already (`tune`): a deadline for the whole reply, not for each
/// write call. `write_all` would give each call the whole timeout again, so
/// a peer that takes a byte now and then, or a reply the kernel accepted in
/// part before timing out, held the link for twice the limit or more.
///
/// The common case is one write call that takes everything, with no system
/// call added: the timeout is shortened only after a partial write, and
/// armed back at `limit` once the reply is out. The clock (vDSO, no system
/// call, docs/DECISIONS.md) is read before the first write, since on Linux
/// a partial write comes back only once the call has spent its whole timeout.
///
/// # Errors
/// The write's own errors; running out of time is `TimedOut` or
/// `WouldBlock` (`is_timeout`). After an error the write timeout may be
/// left short: the caller drops the link.
pub(crate) fn write_all_within(
    stream: &TcpStream,
    bytes: &[u8],
    limit: Duration,
) -> io::Result<()> {
    let started = Instant::now();
    let mut rest = bytes;
    let mut shortened = false;
    while !rest.is_empty() {
        match (&*stream).write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if rest.is_empty() {
            break;
        }
        // Part of the reply is out (or a signal cut the call short): the
        // rest gets only what is left of the reply's time.
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer did not take the whole reply in time",
            ));
        }
        stream.set_write_timeout(Some(left))?;
        shortened = true;
    }
    if shortened {
        stream.set_write_timeout(Some(limit))?;
    }
    Ok(())
}

/// A read or write that ran out of time. Linux reports a socket timeout as
/// `WouldBlock` (EAGAIN); Windows, and Wine, as `TimedOut` (WSAETIMEDOUT).
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// True when `ip` belongs to this host: binding a listener to it succeeds
/// only then. Works the same on every OS, with no interface enumeration.
pub(crate) fn is_local_ip(ip: IpAddr) -> bool {
    TcpListener::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// The address to connect to in order to reach a listener bound to `addr`
/// (a listener on 0.0.0.0 is reached through loopback).
pub(crate) fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// A hint for errors that mean an OS limit was hit rather than a peer fault,
/// so the user learns which knob to turn (see docs/OPERATIONS.md, "OS limits").
pub(crate) fn limit_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        // EMFILE / ENFILE on Unix, WSAEMFILE on Windows.
        Some(24) | Some(23) | Some(10024) => {
            " (too many open files: raise the descriptor limit, e.g. `ulimit -n 65536`; see docs/OPERATIONS.md \"OS limits\")"
        }
        // EAGAIN from pthread_create / clone: the thread or process limit.
        Some(11) if cfg!(unix) => {
            " (the OS refused a new thread: raise `ulimit -u`, kernel.threads-max, kernel.pid_max or vm.max_map_count; see docs/OPERATIONS.md \"OS limits\")"
        }
        // EADDRNOTAVAIL on Linux, WSAEADDRNOTAVAIL on Windows.
        Some(99) | Some(10049) => {
            " (no local port left: widen net.ipv4.ip_local_port_range or use more server ports; see docs/OPERATIONS.md \"OS limits\")"
        }
        _ => "",
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// 300 connects to a listener that never accepts: with std's backlog of
    /// 128 the kernel drops the SYNs past it and those connects time out;
    /// with the deepened queue every handshake completes.
    #[test]
    fn a_deepened_listener_queues_more_handshakes_than_std_would() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        deepen_backlog(&listener).unwrap();
        let addr = listener.local_addr().unwrap();
        let queued: Vec<TcpStream> = (0..300)
            .map(|i| {
                TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                    .unwrap_or_else(|e| panic!("connect {i} of 300 not queued: {e}"))
            })
            .collect();
        assert_eq!(queued.len(), 300);
    }
}
