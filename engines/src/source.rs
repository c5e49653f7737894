//! Where a client's links connect from: the OS's choice, or one source
//! address for the whole process (`--source IP`).
//!
//! Why it exists: a connect takes a local port from the ephemeral range
//! (`ip_local_port_range` on Linux: 28,232 ports by default), and a client
//! link's key is its local `IP:PORT`, so a process can hold no more keys at
//! once than one address has ports. Left to the OS, every link on loopback
//! comes from 127.0.0.1, and a host with a million links runs out of ports
//! long before memory: the engines bench's wall stalled at 226,532 links
//! that way (docs/THREADS_VS_ASYNC.md, "The walls"). With `--source`, each
//! client process binds its own 127.0.0.0/8 address before it connects,
//! and the ports are counted per address. (Keep a process under half the
//! range: Linux searches one parity of ports first, odd for a bind, and
//! walks all of that half before it tries the other; the bench's
//! `layout.rs` says more.)
//!
//! The bind takes port 0 (the OS picks one, as a plain connect does). On
//! Linux, `IP_BIND_ADDRESS_NO_PORT` would let connect share a port among
//! destinations as it does without a bind, but one address per client is
//! enough while a process holds fewer links than the range has ports, and
//! it works the same on every OS.
//!
//! The product's `client` has no such option: its links are threads, and
//! the threads' wall (about 150,000 links on this kind of machine) comes
//! long before the ports'.

use std::io;
use std::net::{IpAddr, SocketAddr};

use mass_connect::cli::Args;
use mass_connect::error::Result;
use socket2::{Domain, Socket, Type};

/// The `--source IP` option of the engines' client programs.
pub const SOURCE_OPTION: &str =
    "    --source IP     connect every link from this local address (the OS
                    picks the port) [default: the OS's choice]";

/// Takes `--source IP` from `args` (see [`SOURCE_OPTION`]).
///
/// # Errors
/// A value that is not an IP address.
pub fn take_source(args: &mut Args) -> Result<Option<IpAddr>> {
    match args.value("--source")? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            args.error(&format!(
                "--source {text:?} is not an IP address (e.g. 127.0.1.1)"
            ))
        }),
    }
}

/// Starts a non-blocking connect to `server` from `source` (any port), for
/// the event loop: the stream becomes writable when the connect ends.
///
/// # Errors
/// The OS refuses the socket, the bind (no port left for `source`: an
/// `AddrInUse`) or the connect.
pub fn mio_connect(server: SocketAddr, source: Option<IpAddr>) -> io::Result<mio::net::TcpStream> {
    let Some(source) = source else {
        return mio::net::TcpStream::connect(server);
    };
    let socket = bound(server, source)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&server.into()) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// Connects to `server` from `source` (any port), for tokio.
///
/// # Errors
/// As [`mio_connect`].
pub async fn tokio_connect(
    server: SocketAddr,
    source: Option<IpAddr>,
) -> io::Result<tokio::net::TcpStream> {
    let Some(source) = source else {
        return tokio::net::TcpStream::connect(server).await;
    };
    let socket = match server {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(server).await
}

/// A blocking socket of `server`'s family, bound to `source` port 0.
fn bound(server: SocketAddr, source: IpAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(server), Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    Ok(socket)
}

/// A non-blocking connect that has started and not yet ended: EINPROGRESS
/// on Unix, WSAEWOULDBLOCK (`WouldBlock`) on Windows.
fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    e.kind() == io::ErrorKind::WouldBlock
}
