//! Small socket helpers shared by the server, the client and startup.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Socket options every link gets on both ends. `TCP_NODELAY` because each
/// update is one small write followed by a wait for the reply: with Nagle's
/// algorithm on, the kernel may hold the write back for up to one delayed-ack
/// period (40 ms on Linux, 200 ms on Windows), four times our whole interval.
pub fn tune(stream: &TcpStream, read_timeout: Duration, write_timeout: Duration) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(read_timeout))?;
    stream.set_write_timeout(Some(write_timeout))?;
    Ok(())
}

/// A read or write that ran out of time. Linux reports a socket timeout as
/// `WouldBlock` (EAGAIN); Windows, and Wine, as `TimedOut` (WSAETIMEDOUT).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// True when `ip` belongs to this host: binding a listener to it succeeds
/// only then. Works the same on every OS, with no interface enumeration.
pub fn is_local_ip(ip: IpAddr) -> bool {
    TcpListener::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// The address to connect to in order to reach a listener bound to `addr`
/// (a listener on 0.0.0.0 is reached through loopback).
pub fn connectable(addr: SocketAddr) -> SocketAddr {
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
/// so the user learns which knob to turn (see README, "OS limits").
pub fn limit_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        // EMFILE / ENFILE on Unix, WSAEMFILE on Windows.
        Some(24) | Some(23) | Some(10024) => {
            " (too many open files: raise the descriptor limit, e.g. `ulimit -n 65536`; see README \"OS limits\")"
        }
        // EAGAIN from pthread_create / clone: the thread or process limit.
        Some(11) if cfg!(unix) => {
            " (the OS refused a new thread: raise `ulimit -u`, kernel.threads-max, kernel.pid_max or vm.max_map_count; see README \"OS limits\")"
        }
        // EADDRNOTAVAIL on Linux, WSAEADDRNOTAVAIL on Windows.
        Some(99) | Some(10049) => {
            " (no local port left: widen net.ipv4.ip_local_port_range or use more server ports; see README \"OS limits\")"
        }
        _ => "",
    }
}
