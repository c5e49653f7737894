//! The event-loop client: its links spread over N loop threads, and the
//! main thread, which answers startup (`client::program`) and reads the
//! links' counters and the loops' histograms without waiting for a loop.
//!
//! A link lives on one loop for its whole life: its socket, its pacer and
//! its keys are touched by that thread only. The main thread talks to the
//! loops through the shared stop flag and the run's window, and wakes them
//! with their wakers; it reads what they count through the same atomic
//! counters (`client::LinkCounters`) and histograms
//! (`metrics::AtomicHistograms`, one set per loop, so two loops never share
//! a cache line to record) as the threads engine's main thread does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use mass_connect::client::link::{ClientLink, final_report};
use mass_connect::client::program::{ClientArgs, Node};
use mass_connect::client::schedule::{Place, Window};
use mass_connect::client::{LinkCounters, status_of};
use mass_connect::config::Affinity;
use mass_connect::error::{Context, Result};
use mass_connect::messages::{ClientReport, ClientStatus, KeyCount};
use mass_connect::metrics::{AtomicHistograms, Snapshot};
use mass_connect::sys::affinity;
use mio::{Poll, Waker};

use super::WAKER;
use super::client_loop::{ClientLoop, Shared};
use crate::program::EngineArgs;

struct LoopHandle {
    waker: Arc<Waker>,
    histograms: Arc<AtomicHistograms>,
    thread: JoinHandle<Vec<(SocketAddr, Vec<KeyCount>)>>,
}

/// A running event-loop client node.
pub struct EvClient {
    id: u32,
    /// As the threads engine's: from the start for an ungated client, the
    /// go's window for a gated one.
    window: Window,
    shared: Arc<Shared>,
    loops: Vec<LoopHandle>,
    /// Every link's server and counters, in the order given.
    links: Vec<(SocketAddr, Arc<LinkCounters>)>,
}

impl EvClient {
    /// Starts `e.threads` loops running one link per server of `args`,
    /// connecting from `e.source`, with the threads engine's stagger of
    /// first updates and its gating (a supervised client connects, then
    /// waits for [`Node::go`]).
    ///
    /// # Errors
    /// The OS refuses a poller, a waker or a thread.
    pub fn start(args: &ClientArgs, e: EngineArgs) -> Result<EvClient> {
        let threads = e.threads;
        let config = Arc::new(args.config.clone());
        let (servers, id, gated) = (&args.servers, args.id, args.supervised);
        let window = Window::now();
        let shared = Arc::new(Shared {
            config: config.clone(),
            stop: AtomicBool::new(false),
            window: OnceLock::new(),
            source: e.source,
        });
        if !gated {
            let _ = shared.window.set(window);
        }
        let threads = threads.clamp(1, servers.len().max(1));
        let mut per_loop: Vec<Vec<ClientLink>> = (0..threads).map(|_| Vec::new()).collect();
        let mut links = Vec::with_capacity(servers.len());
        let by_server = config.cpu_affinity == Affinity::ByServer;
        for (j, &server) in servers.iter().enumerate() {
            let place = Place {
                id,
                clients: args.clients,
                links: servers.len(),
                j,
            };
            let link = ClientLink::new(server, place, &config);
            links.push((server, link.counters.clone()));
            // Pinned by server: a link lives on the loop pinned to its
            // server's CPU, so both ends of it share one CPU.
            let to = if by_server {
                affinity::cpu_for_port(&config.server_port_list, server.port()) % threads
            } else {
                j % threads
            };
            per_loop[to].push(link);
        }
        let mut loops = Vec::with_capacity(threads);
        for (i, links) in per_loop.into_iter().enumerate() {
            let poll = Poll::new().context("cannot create a poller")?;
            let waker =
                Arc::new(Waker::new(poll.registry(), WAKER).context("cannot create a waker")?);
            let histograms = Arc::new(AtomicHistograms::default());
            let l = ClientLoop::new(poll, shared.clone(), histograms.clone(), links);
            let pin = by_server.then_some(i);
            let thread = std::thread::Builder::new()
                .name(format!("loop {i}"))
                .spawn(move || {
                    // Below the servers, as the threads engine's client
                    // link threads are.
                    affinity::lower_current_thread_below_servers();
                    if let Some(cpu) = pin {
                        affinity::pin_current_thread(cpu);
                    }
                    l.run()
                })
                .with_context(|| format!("client {id}: cannot start loop thread {i}"));
            match thread {
                Ok(thread) => loops.push(LoopHandle {
                    waker,
                    histograms,
                    thread,
                }),
                Err(e) => {
                    shared.stop.store(true, Ordering::Release);
                    for l in &loops {
                        let _ = l.waker.wake();
                    }
                    return Err(e);
                }
            }
        }
        log::info!(
            "client {id}: started {} links on {threads} loop(s) ({} every {} ms)",
            links.len(),
            config.schedule.name(),
            config.update_intervals
        );
        Ok(EvClient {
            id,
            window,
            shared,
            loops,
            links,
        })
    }

    fn wake_loops(&self) {
        for l in &self.loops {
            let _ = l.waker.wake();
        }
    }
}

impl Node for EvClient {
    fn status(&self) -> ClientStatus {
        status_of(
            self.id,
            &self.window,
            self.links.iter().map(|(s, c)| (*s, &**c)),
        )
    }

    fn take_histograms(&self) -> Snapshot {
        let mut all = Snapshot::default();
        for l in &self.loops {
            all.add(&l.histograms.take());
        }
        all
    }

    fn go(&mut self, window: Window) {
        if self.shared.window.set(window).is_ok() {
            self.window = window;
            self.wake_loops();
        }
    }

    fn stop(self) -> ClientReport {
        self.shared.stop.store(true, Ordering::Release);
        self.wake_loops();
        let mut finished = Vec::with_capacity(self.links.len());
        let mut histograms = Snapshot::default();
        for l in self.loops {
            match l.thread.join() {
                Ok(links) => finished.extend(links),
                Err(_) => eprintln!("client {}: a loop thread panicked", self.id),
            }
            // Joined: everything the loop recorded is visible.
            histograms.add(&l.histograms.take());
        }
        final_report(
            self.id,
            &self.window,
            &self.links,
            finished,
            histograms.encode(),
        )
    }
}
