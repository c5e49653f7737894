//! A server node: one acceptor thread, one OS thread per link, a store thread.
//!
//! ```text
//!             accept()                      spawn, 64 KiB stack
//!  listener ───────────► acceptor thread ─────────────────────► link thread (one per peer)
//!                                                                 │  read line, parse
//!                                                                 │  fetch_add on its key's Counter
//!                                                                 │  write "ack;<n>"
//!                                                                 ▼
//!                                   store thread ◄── channel ── only to create a key,
//!                                   (owns the index)             dump, or stats
//! ```
//!
//! The acceptor blocks in `accept()`. To stop, we set a flag and connect to
//! ourselves once: that wakes the acceptor, which sees the flag and leaves.
//! Link threads block in `read()`; stopping shuts their sockets down, which
//! makes those reads return. No thread polls.
//!
//! * this file: [`Server`], binding, the acceptor, stopping.
//! * [`link`]: one link's rules and the per-update hot path, whatever
//!   waits for it; the workspace's event loop and tokio engines drive the
//!   same [`ServerLink`](link::ServerLink).
//! * `link_thread`: how a thread waits for its link (blocking reads and
//!   writes with deadlines).
//! * `operations`: the operations commands (`stats`, `dump`, `stop`, `auth`).
//! * [`store`]: the store thread and its per-key counters.
//! * [`block`]: the engines bench's injected block in the per-update path,
//!   off unless `MASS_CONNECT_BLOCK_EVERY` is set.
//! * [`program`]: what every server program does around its engine (the
//!   options, the `listening on` line, stopping under startup).
//!
//! [`ServerCore`] (what the operations commands read and change),
//! [`answer_command`] and [`stats_of`] are public so that the workspace's comparison engines,
//! which serve links on an event loop or async tasks, keep the same
//! counters and answer the same commands with the same code.

pub mod block;
pub mod link;
mod link_thread;
mod operations;
pub mod program;
pub mod store;

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::messages::ServerStats;
use crate::server::store::Store;
use crate::sys::net;
use crate::wire::protocol::{self};

use link_thread::serve_link;
use operations::stats;
pub use operations::{answer as answer_command, stats_of};

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    store: Store,
}

/// A handle that can stop a running server from any thread.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

/// What a server is, whatever serves its links: its config and address,
/// the stop flag, and the event counters the operations commands report.
pub struct ServerCore {
    /// The configuration it runs with.
    pub config: Arc<Config>,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// When it started (`uptime_s`).
    pub(crate) started: Instant,
    /// Set once; the acceptor and every link check it.
    pub stopping: AtomicBool,
    /// Who sent the operations `stop` that is stopping the server, if one
    /// is: under startup, the server says so before it exits
    /// ([`ServerHandle::stopped_by`]). Written once, read once.
    pub stopped_by: Mutex<Option<SocketAddr>>,
    /// Event counters.
    pub counters: Counters,
    /// The engines bench's injected block (`block`), read from the
    /// environment once here; `None`, the default, costs each update one
    /// untaken branch.
    pub(crate) block: Option<block::Block>,
}

impl ServerCore {
    /// A server about to listen on `addr`, started now.
    pub fn new(config: Arc<Config>, addr: SocketAddr) -> ServerCore {
        ServerCore {
            config,
            addr,
            started: Instant::now(),
            stopping: AtomicBool::new(false),
            stopped_by: Mutex::new(None),
            counters: Counters::default(),
            block: block::Block::from_env(),
        }
    }
}

/// What every link thread and the acceptor share: the core, and the table
/// of open links (the threads engine's own way to stop them).
pub(super) struct Shared {
    core: ServerCore,
    /// Open links by id, so stopping can shut each socket down. Touched on
    /// connect and disconnect only, never per update. The link's thread
    /// holds the same socket (an `Arc`, not a `try_clone`): a clone is a
    /// second descriptor per link, and 10,000 links on one server then
    /// needed 20,000 (the default `ulimit -n` here).
    pub(super) links: Mutex<HashMap<u64, Arc<TcpStream>>>,
}

impl std::ops::Deref for Shared {
    type Target = ServerCore;

    fn deref(&self) -> &ServerCore {
        &self.core
    }
}

/// Event counters. Updated on rare paths only (connects, errors, anomalies):
/// the per-update count lives in the store's per-key counters.
#[derive(Default)]
pub struct Counters {
    /// Links accepted since start.
    pub links_accepted: AtomicU64,
    /// Connections refused (link limit, no thread).
    pub(crate) links_refused: AtomicU64,
    /// Lines refused as malformed.
    pub(crate) protocol_errors: AtomicU64,
    /// Updates whose client count differed from ours.
    pub(crate) anomalies: AtomicU64,
    /// Links closed by `idle_timeout_ms`.
    pub(crate) idle_closed: AtomicU64,
    /// Links dropped by `write_timeout_ms`.
    pub(crate) write_timeouts: AtomicU64,
    /// Privileged commands refused for a missing or wrong token.
    pub(crate) auth_failures: AtomicU64,
    /// The next link's id.
    pub(crate) next_link_id: AtomicU64,
}

impl Counters {
    /// Counts one event: a relaxed increment, since nothing is ordered by it.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Refuses an address outside loopback while no `ops_token` is configured:
/// anyone who can reach it could then stop the server. Every server
/// program checks this before it binds.
///
/// # Errors
/// The address is not loopback and the config has no token.
pub fn may_listen(config: &Config, addr: SocketAddr) -> Result<()> {
    crate::access::required_token(addr, &config.ops_token)
        .map(|_| ())
        .map_err(|_| {
            Error::msg(format!(
                "refusing to listen on {addr} without an operations token: `stop` and `dump` \
                 would be open to anyone who can reach it. Set \"ops_token\" in the config \
                 (or listen on 127.0.0.1)"
            ))
        })
}

/// The error of a bind that failed, naming the address and the likely cause.
pub fn cannot_listen(addr: SocketAddr, e: std::io::Error) -> Error {
    Err::<(), _>(e)
        .with_context(|| {
            format!("cannot listen on {addr} (is another server already using this port?)")
        })
        .unwrap_err()
}

impl Server {
    /// Binds the listening socket and starts the store thread.
    ///
    /// # Errors
    /// The address is taken or not local, or it is outside loopback while no
    /// `ops_token` is configured (anyone could then stop the server).
    pub fn bind(config: Arc<Config>, addr: SocketAddr) -> Result<Server> {
        may_listen(&config, addr)?;
        let listener = TcpListener::bind(addr).map_err(|e| cannot_listen(addr, e))?;
        net::deepen_backlog(&listener)
            .with_context(|| format!("cannot deepen the listen backlog on {addr}"))?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let store = Store::start()?;
        Ok(Server {
            listener,
            store,
            shared: Arc::new(Shared {
                core: ServerCore::new(config, addr),
                links: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// A handle that stops this server.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Accepts links until stopped (by `stop` from a peer or a [`ServerHandle`]),
    /// then closes every link and returns the final counters.
    pub fn run(self) -> ServerStats {
        let Server {
            listener,
            shared,
            store,
        } = self;
        log::info!("server listening on {}", shared.addr);
        let mut warned_limit = false;
        for conn in listener.incoming() {
            if shared.stopping.load(Ordering::Acquire) {
                break;
            }
            match conn {
                Ok(stream) => accept_link(&shared, &store, stream),
                Err(e) => {
                    link::accept_failed(&shared, &e, &mut warned_limit);
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        close_all_links(&shared);
        let stats = stats(&shared, &store);
        log::info!(
            "server {} stopped: {} updates, {} keys, {} anomalies",
            shared.addr,
            stats.updates,
            stats.keys,
            stats.anomalies
        );
        stats
    }
}

impl ServerHandle {
    /// Asks the server to stop; returns at once.
    pub fn stop(&self) {
        request_stop(&self.shared);
    }

    /// The peer whose operations `stop` stopped the server, once it has;
    /// `None` when it stopped any other way (a handle, startup) or runs.
    pub fn stopped_by(&self) -> Option<SocketAddr> {
        *self.shared.stopped_by.lock()
    }
}

pub(super) fn request_stop(shared: &Shared) {
    if shared.stopping.swap(true, Ordering::AcqRel) {
        return;
    }
    // Wake the acceptor out of accept(). If the connect fails the listener is
    // already gone, which is just as good.
    let _ = TcpStream::connect_timeout(&net::connectable(shared.addr), Duration::from_secs(1));
}

fn close_all_links(shared: &Shared) {
    for (_, stream) in shared.links.lock().drain() {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// Checks the link limit and starts the link's thread.
fn accept_link(shared: &Arc<Shared>, store: &Store, stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let limit = shared.config.server_max_links as usize;
    let open = shared.links.lock().len();
    if open >= limit {
        refuse(&stream, &link::refusal(shared, peer, open as u64));
        return;
    }

    let id = shared.counters.next_link_id.fetch_add(1, Ordering::Relaxed);
    let stream = Arc::new(stream);
    shared.links.lock().insert(id, stream.clone());
    let link_shared = shared.clone();
    let link_store = store.clone();
    let spawned = thread::Builder::new()
        .name(format!("link {peer}"))
        .stack_size(shared.config.thread_stack_bytes())
        .spawn(move || {
            serve_link(&link_shared, &link_store, &stream, peer);
            link_shared.links.lock().remove(&id);
        });
    match spawned {
        Ok(_) => {
            Counters::bump(&shared.counters.links_accepted);
            log::info!("server {}: link from {peer}", shared.addr);
        }
        Err(e) => {
            // The closure (and its handle on the stream) was dropped; the
            // table's is the only way left to tell the peer why.
            Counters::bump(&shared.counters.links_refused);
            let hint = net::limit_hint(&e);
            eprintln!(
                "server {}: cannot start a thread for the link from {peer}: {e}{hint}",
                shared.addr
            );
            log::error!(
                "server {}: cannot start a thread for {peer}: {e}",
                shared.addr
            );
            if let Some(stream) = shared.links.lock().remove(&id) {
                let mut out = Vec::new();
                let detail = format!("server cannot start a thread: {e}{hint}");
                protocol::encode_err(&mut out, "no_thread", &detail);
                refuse(&stream, &out);
            }
        }
    }
}

/// Sends a refused peer its `err` line (`out`) and closes the link.
fn refuse(stream: &TcpStream, out: &[u8]) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = (&*stream).write_all(out);
    let _ = stream.shutdown(Shutdown::Both);
}
