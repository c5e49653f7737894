//! The event-loop server: N loop threads, each owning the connections it
//! was handed, plus the product's store thread and the main thread.
//!
//! ```text
//!  listener ──accept──► loop 0 ──hand over (channel + waker)──► loop k
//!                          │  each loop: wait for readiness, read every
//!                          │  line that is there, parse, fetch_add, ack
//!                          ▼
//!             store thread ◄── counter_then (once per key), dump, stats
//! ```
//!
//! Loop 0 also accepts, and deals connections round-robin over all loops
//! (itself included): accepting is rare next to updates, and one acceptor
//! keeps the link limit exact. A connection never moves once dealt, so its
//! socket, buffers and state are touched by one thread only, without locks.
//!
//! Stopping: the stdin watcher or an operations `stop` sets the core's flag
//! and wakes every loop through its waker; each loop closes what it owns
//! and returns, and the main thread, which waited on a channel, joins them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crossbeam_channel::Receiver;
use mass_connect::config::{Affinity, Config};
use mass_connect::error::{Context, Result};
use mass_connect::messages::ServerStats;
use mass_connect::server::store::Store;
use mass_connect::server::{ServerCore, cannot_listen, may_listen, stats_of};
use mass_connect::sys::affinity;
use mio::{Poll, Waker};

use super::WAKER;
use super::server_loop::{LISTENER, ServerLoop, Shared};
use crate::program::{ServerEngine, StopHandle};

/// A bound event-loop server, ready to run.
pub struct EvServer {
    shared: Arc<Shared>,
    stop_rx: Receiver<()>,
    loops: Vec<ServerLoop>,
}

/// Stops a running [`EvServer`] from any thread.
#[derive(Clone)]
pub struct EvServerHandle(Arc<Shared>);

impl StopHandle for EvServerHandle {
    fn stop(&self) {
        self.0.request_stop();
    }

    fn stopped_by(&self) -> Option<SocketAddr> {
        *self.0.core.stopped_by.lock()
    }
}

impl ServerEngine for EvServer {
    type Handle = EvServerHandle;

    /// Binds `addr`, starts the store thread and prepares `threads` loops.
    ///
    /// # Errors
    /// The address is refused (`server::may_listen`) or taken; the OS
    /// refuses a poller, a waker or the store thread.
    fn bind(config: Arc<Config>, addr: SocketAddr, threads: usize) -> Result<EvServer> {
        may_listen(&config, addr)?;
        let mut listener = mio::net::TcpListener::bind(addr).map_err(|e| cannot_listen(addr, e))?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let store = Store::start()?;
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        let mut polls = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        let mut inboxes = Vec::with_capacity(threads);
        for _ in 0..threads.max(1) {
            let poll = Poll::new().context("cannot create a poller")?;
            let waker =
                Arc::new(Waker::new(poll.registry(), WAKER).context("cannot create a waker")?);
            let (tx, rx) = crossbeam_channel::unbounded();
            handles.push((tx, waker));
            inboxes.push(rx);
            polls.push(poll);
        }
        polls[0]
            .registry()
            .register(&mut listener, LISTENER, mio::Interest::READABLE)
            .context("cannot register the listener")?;
        let shared = Arc::new(Shared {
            core: ServerCore::new(config, addr),
            store,
            open: AtomicU64::new(0),
            loops: handles,
            stop_tx,
        });
        let mut listener = Some(listener);
        let loops = polls
            .into_iter()
            .zip(inboxes)
            .enumerate()
            .map(|(i, (poll, inbox))| {
                ServerLoop::new(i, poll, inbox, listener.take(), shared.clone())
            })
            .collect();
        Ok(EvServer {
            shared,
            stop_rx,
            loops,
        })
    }

    /// The address actually bound.
    fn local_addr(&self) -> SocketAddr {
        self.shared.core.addr
    }

    /// A handle that stops this server.
    fn handle(&self) -> EvServerHandle {
        EvServerHandle(self.shared.clone())
    }

    /// Runs the loops until stopped, then returns the final counters.
    ///
    /// # Errors
    /// The OS refuses a loop thread.
    fn run(self) -> Result<ServerStats> {
        let EvServer {
            shared,
            stop_rx,
            loops,
        } = self;
        log::info!(
            "server listening on {} ({} loop threads)",
            shared.core.addr,
            loops.len()
        );
        let config = shared.core.config.clone();
        let pin = (config.cpu_affinity == Affinity::ByServer)
            .then(|| affinity::cpu_for_port(&config.server_port_list, shared.core.addr.port()));
        let mut threads = Vec::with_capacity(loops.len());
        for l in loops {
            let name = format!("loop {}", threads.len());
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    // Loop threads serve the links at the normal rank, as
                    // the threads engine's link threads do: only the load
                    // generator ranks lower (`affinity`).
                    if let Some(cpu) = pin {
                        affinity::pin_current_thread(cpu);
                    }
                    l.run();
                })
                .context("cannot start a loop thread");
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    shared.request_stop();
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        // Blocks until a stop; the loops do the work.
        let _ = stop_rx.recv();
        shared.request_stop();
        for t in threads {
            let _ = t.join();
        }
        let stats = stats_of(&shared.core, &shared.store, 0);
        log::info!(
            "server {} stopped: {} updates, {} keys, {} anomalies",
            shared.core.addr,
            stats.updates,
            stats.keys,
            stats.anomalies
        );
        Ok(stats)
    }
}
