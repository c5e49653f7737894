//! The async engine: tokio's multi-thread runtime (or, with
//! [`FLAVOR_ENV`], its current-thread one), one task per link.
//!
//! A link here is written as the threads engine writes it, straight-line
//! code (connect, wait for the go, sleep until due, send, read the ack,
//! reconnect), with `.await` where a link thread would block: tokio's
//! scheduler runs the tasks on a few worker threads (one per CPU by
//! default) and parks each task, not a thread, while it waits. Due times
//! are `sleep_until`, on tokio's timer wheel (1 ms ticks).
//!
//! * [`server`]: an accept task and a task per connection.
//! * [`client`]: a task per link; the main thread answers startup.
//! * this file: [`TaskSock`], the product's framing over a tokio socket.

pub mod client;
pub mod server;

use std::io::{self, Read};

use tokio::net::TcpStream;

/// A tokio socket as a `Read` for `wire::framing::LineReader`: a read that
/// would wait is `WouldBlock` (`try_read`), after which the task awaits
/// `stream.readable()` and reads again.
///
/// This reads until the socket says `WouldBlock`, as tokio's readiness
/// model wants: one read per update more than the event-loop engine, whose
/// own flag trusts a short read (see `evloop`). tokio's `poll_read` makes
/// the same optimization, but driving it from a synchronous `Read` (with a
/// waker that does nothing) stalled on pipelined input in the tests, and
/// the async read it needs does not fit the product's synchronous framing.
pub struct TaskSock {
    /// The socket.
    pub stream: TcpStream,
}

impl Read for TaskSock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.try_read(buf)
    }
}

/// Writes all of `bytes`, waiting for the socket as often as needed.
///
/// # Errors
/// The socket's own errors.
pub async fn write_all(stream: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match stream.try_write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `MASS_CONNECT_TOKIO_FLAVOR`: which of tokio's two runtimes runs the
/// engine, by tokio's own names: `multi_thread` (the default: `workers`
/// threads that steal each other's tasks) or `current_thread` (every task
/// on one thread, tokio's thread-per-core building block). Read once at
/// start, like the other engine switches.
pub const FLAVOR_ENV: &str = "MASS_CONNECT_TOKIO_FLAVOR";

/// Which runtime runs the engine (see [`FLAVOR_ENV`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `multi_thread`: worker threads that steal each other's tasks.
    MultiThread,
    /// `current_thread`: every task on the one thread that drives it.
    CurrentThread,
}

impl Flavor {
    /// The flavor [`FLAVOR_ENV`] names, multi-thread when it is unset.
    ///
    /// # Errors
    /// A value that names no flavor (`InvalidInput`, naming the variable).
    pub fn from_env() -> io::Result<Flavor> {
        match std::env::var(FLAVOR_ENV).ok().as_deref() {
            None | Some("multi_thread") => Ok(Flavor::MultiThread),
            Some("current_thread") => Ok(Flavor::CurrentThread),
            Some(other) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{FLAVOR_ENV}={other:?}: expected multi_thread or current_thread"),
            )),
        }
    }
}

/// A runtime of the given flavor, at the ranks the threads engine gives
/// its link threads: a server's at the normal rank, a client's at the load
/// generator's, below them (`below_servers`). A multi-thread runtime gets
/// `workers` workers; a current-thread one runs its tasks on whichever
/// thread calls `block_on`, and that thread sets its own rank.
///
/// # Errors
/// The OS refuses the runtime's threads or its poller.
pub fn runtime(
    flavor: Flavor,
    workers: usize,
    below_servers: bool,
) -> io::Result<tokio::runtime::Runtime> {
    let mut builder = match flavor {
        Flavor::MultiThread => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(workers.max(1));
            b
        }
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
    };
    builder
        .thread_name("tokio worker")
        .on_thread_start(move || {
            if below_servers {
                mass_connect::sys::affinity::lower_current_thread_below_servers();
            }
        })
        .enable_all()
        .build()
}
