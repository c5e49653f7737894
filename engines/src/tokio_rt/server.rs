//! The async server: an accept task, a task per connection, the product's
//! store thread, and the main thread, which blocks on the runtime until a
//! stop.
//!
//! A connection's task is the threads engine's link loop with `.await`s:
//! read a line (awaiting readiness, within `idle_timeout_ms`), answer it
//! through the same `link::server::ServerLink`, write the reply (within
//! `write_timeout_ms`). A key's first update awaits the store's counter on
//! a oneshot channel (`Store::counter_then`) instead of blocking a worker.
//! Stopping ends the accept loop; shutting the runtime down then drops
//! every connection's task, which closes its socket.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mass_connect::config::Config;
use mass_connect::error::{Context, Result};
use mass_connect::messages::ServerStats;
use mass_connect::server::link::{Handled, ServerLink, accept_failed, refusal};
use mass_connect::server::store::{Counter, Store};
use mass_connect::server::{ServerCore, cannot_listen, may_listen, stats_of};
use mass_connect::wire::framing::LineReader;
use mass_connect::wire::protocol::MAX_LINE;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::{FLAVOR_ENV, Flavor, TaskSock, write_all};
use crate::program::{ServerEngine, StopHandle};

/// `MASS_CONNECT_BLOCK_IN_PLACE=1`: a link whose updates may block (the
/// engines bench's injected block, `mass_connect::server::block`) is
/// served inside `tokio::task::block_in_place`, which hands this worker's
/// other tasks to another thread for the block's length. Read once at
/// bind; off by default.
pub const BLOCK_IN_PLACE_ENV: &str = "MASS_CONNECT_BLOCK_IN_PLACE";

struct Shared {
    core: ServerCore,
    store: Store,
    /// [`BLOCK_IN_PLACE_ENV`] was `1` when the server bound.
    in_place: bool,
    /// Connections open now (the link limit, `stats`).
    open: AtomicU64,
    /// Woken once to stop.
    stop: Notify,
}

impl Shared {
    fn request_stop(&self) {
        if !self.core.stopping.swap(true, Ordering::AcqRel) {
            // A permit is kept if the accept loop is not waiting yet.
            self.stop.notify_one();
        }
    }
}

/// A bound async server, ready to run.
pub struct TokioServer {
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    workers: usize,
    flavor: Flavor,
}

/// Stops a running [`TokioServer`] from any thread.
#[derive(Clone)]
pub struct TokioServerHandle(Arc<Shared>);

impl StopHandle for TokioServerHandle {
    fn stop(&self) {
        self.0.request_stop();
    }

    fn stopped_by(&self) -> Option<SocketAddr> {
        *self.0.core.stopped_by.lock()
    }
}

impl ServerEngine for TokioServer {
    type Handle = TokioServerHandle;

    /// Binds `addr` and starts the store thread; the runtime, with
    /// `workers` workers, starts in [`TokioServer::run`].
    ///
    /// # Errors
    /// The address is refused (`server::may_listen`) or taken; the OS
    /// refuses the store thread.
    fn bind(config: Arc<Config>, addr: SocketAddr, workers: usize) -> Result<TokioServer> {
        may_listen(&config, addr)?;
        let flavor = Flavor::from_env().context("cannot choose the tokio runtime")?;
        let in_place = std::env::var(BLOCK_IN_PLACE_ENV).is_ok_and(|v| v == "1");
        if in_place && flavor == Flavor::CurrentThread {
            // block_in_place needs another worker to hand the tasks to;
            // tokio panics if it is called on a current-thread runtime.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{BLOCK_IN_PLACE_ENV}=1 needs {FLAVOR_ENV}=multi_thread"),
            ))
            .context("cannot serve blocking links in place on a current-thread runtime");
        }
        let listener = std::net::TcpListener::bind(addr).map_err(|e| cannot_listen(addr, e))?;
        listener
            .set_nonblocking(true)
            .context("cannot make the listener non-blocking")?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        Ok(TokioServer {
            shared: Arc::new(Shared {
                core: ServerCore::new(config, addr),
                store: Store::start()?,
                in_place,
                open: AtomicU64::new(0),
                stop: Notify::new(),
            }),
            listener,
            workers,
            flavor,
        })
    }

    /// The address actually bound.
    fn local_addr(&self) -> SocketAddr {
        self.shared.core.addr
    }

    /// A handle that stops this server.
    fn handle(&self) -> TokioServerHandle {
        TokioServerHandle(self.shared.clone())
    }

    /// Serves until stopped, then returns the final counters.
    ///
    /// # Errors
    /// The OS refuses the runtime.
    fn run(self) -> Result<ServerStats> {
        // A current-thread runtime runs every task on this, the main,
        // thread, inside `block_on` below.
        let runtime = super::runtime(self.flavor, self.workers, false)
            .context("cannot start the tokio runtime")?;
        log::info!(
            "server listening on {} ({})",
            self.shared.core.addr,
            match self.flavor {
                Flavor::MultiThread => format!("{} runtime workers", self.workers),
                Flavor::CurrentThread => "current-thread runtime".to_string(),
            }
        );
        let shared = self.shared.clone();
        let std_listener = self.listener;
        runtime.block_on(async move {
            let listener = match TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("server {}: cannot use the listener: {e}", shared.core.addr);
                    return;
                }
            };
            accept_until_stopped(&shared, &listener).await;
        });
        // Dropping every connection's task closes its socket.
        runtime.shutdown_timeout(Duration::from_secs(1));
        let shared = self.shared;
        Ok(stats_of(&shared.core, &shared.store, 0))
    }
}

async fn accept_until_stopped(shared: &Arc<Shared>, listener: &TcpListener) {
    let core = &shared.core;
    let limit = u64::from(core.config.server_max_links);
    let mut warned_limit = false;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shared.stop.notified() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_failed(core, &e, &mut warned_limit);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let open = shared.open.load(Ordering::Relaxed);
        if open >= limit {
            let _ = stream.try_write(&refusal(core, peer, open));
            continue;
        }
        shared.open.fetch_add(1, Ordering::Relaxed);
        core.counters.links_accepted.fetch_add(1, Ordering::Relaxed);
        log::info!("server {}: link from {peer}", core.addr);
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut link = ServerLink::new(&shared.core, peer);
            if let Some(why) = serve(&shared, stream, &mut link).await {
                link.ended(&shared.core, why);
            }
            shared.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// One connection's task: returns why it ended, or `None` when that was
/// said already (an idle peer is closed with a line of its own).
async fn serve(shared: &Arc<Shared>, stream: TcpStream, link: &mut ServerLink) -> Option<String> {
    let core = &shared.core;
    let config = &core.config;
    let idle = config.idle_timeout();
    let write_limit = config.write_timeout();
    let _ = stream.set_nodelay(true);
    let mut reader = LineReader::new(TaskSock { stream }, MAX_LINE);
    let mut out = Vec::with_capacity(64);
    let links = || shared.open.load(Ordering::Relaxed);
    let mut last_line = Instant::now();
    let mut partial_since: Option<Instant> = None;
    loop {
        out.clear();
        let handled = loop {
            match reader.read_line() {
                Ok(Some(line)) => {
                    last_line = Instant::now();
                    partial_since = None;
                    // What a tokio program does around a call it knows
                    // blocks; a plain call otherwise.
                    let in_place = shared.in_place && link.may_block();
                    let handle = || link.handle(core, &shared.store, &links, line, &mut out);
                    break if in_place {
                        tokio::task::block_in_place(handle)
                    } else {
                        handle()
                    };
                }
                Ok(None) => return Some("closed by the peer".into()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if reader.has_partial_line() {
                        partial_since.get_or_insert_with(Instant::now);
                    }
                    let deadline = partial_since.unwrap_or(last_line) + idle;
                    let ready = tokio::time::timeout_at(
                        deadline.into(),
                        reader.get_ref().stream.readable(),
                    )
                    .await;
                    match ready {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Some(e.to_string()),
                        Err(_) => {
                            link.idle_timed_out(core, idle, &mut out);
                            let _ = reader.get_ref().stream.try_write(&out);
                            return None;
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Some(e.to_string()),
            }
        };
        let stop = match handled {
            Handled::Replied => false,
            Handled::Stop => true,
            Handled::NeedCounter(key) => {
                let Some(counter) = counter_of(&shared.store, &key).await else {
                    return Some("the store has stopped".into());
                };
                link.counter_arrived(core, counter, &mut out);
                false
            }
        };
        let stream = &reader.get_ref().stream;
        match tokio::time::timeout(write_limit, write_all(stream, &out)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Some(e.to_string()),
            Err(_) => {
                link.write_timed_out(core, write_limit);
                return None;
            }
        }
        if stop {
            shared.request_stop();
            return Some("stopped by an operations stop".into());
        }
    }
}

/// The store's counter for `key`, awaited rather than waited for: the
/// store thread answers through a oneshot channel. `None` once it stopped.
async fn counter_of(store: &Store, key: &str) -> Option<Counter> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    store
        .counter_then(key, move |c| {
            let _ = tx.send(c);
        })
        .ok()?;
    rx.await.ok()
}
