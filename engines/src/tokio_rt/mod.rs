//! The async engine: tokio's multi-thread runtime, one task per link.
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

/// A multi-thread runtime with `workers` worker threads, at the ranks the
/// threads engine gives its link threads: a server's at the normal rank, a
/// client's at the load generator's, below them (`below_servers`).
///
/// # Errors
/// The OS refuses the runtime's threads or its poller.
pub fn runtime(workers: usize, below_servers: bool) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("tokio worker")
        .on_thread_start(move || {
            use mass_connect::sys::affinity;
            if below_servers {
                affinity::lower_current_thread_below_servers();
            }
        })
        .enable_all()
        .build()
}
