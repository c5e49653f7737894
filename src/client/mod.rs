//! A client node: one OS thread per server link, plus the main thread (M+1).
//!
//! Each link thread owns its socket and does everything for its link:
//! connect, wait for the next due time, send `update;<key>;<n>`, read the
//! ack, count. Links share only the stop flag and the client's histograms
//! ([`AtomicHistograms`]: one relaxed increment per measurement, no lock),
//! so they never wait for each other; the main thread only reads their
//! counters (relaxed atomics, written by one thread each) and takes the
//! histograms when asked for a status, and joins the links at the end to
//! collect what each acked.
//!
//! The key of a link is its local `IP:PORT`, as in the seed. A reconnect gets
//! a new local port and so a new key; the link remembers every key it used
//! and what was acked on each, which is what startup verifies against the
//! servers' dumps.
//!
//! * this file: [`Client`], the main thread's side: start the links, gate
//!   them on the go, sum their counters, stop and join them.
//! * [`link`]: one link's rules (connect, backoff, keys, pacing, acks),
//!   whatever engine waits for it; the workspace's event loop and tokio
//!   engines drive the same [`ClientLink`].
//! * `link_thread`: how a thread waits for its link (blocking connect and
//!   read, parking until due).
//! * `counters`: what a link counts, and how a client sums its links.
//! * [`schedule`]: when a link sends next, and how it sleeps until then.
//! * [`program`]: what every client program does around its engine: the
//!   options, startup's control lines, the standalone status and report
//!   (shared with the workspace's comparison engines).

pub(crate) mod counters;
pub mod link;
mod link_thread;
pub mod program;
pub mod schedule;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};

use crate::client::schedule::{Place, Window};
use crate::config::Config;
use crate::error::Result;
use crate::messages::{ClientReport, ClientStatus, KeyCount};
use crate::metrics::{AtomicHistograms, Snapshot};
use crate::sys::net;

pub use counters::{ConnectError, LinkCounters, LinkError, status_of};
use link::ClientLink;
use link_thread::{LinkPlan, run_link};

/// A running client node.
pub struct Client {
    id: u32,
    /// When the schedule runs: from `start` for a client that runs at
    /// once, from the go's start (and until its end) for a gated one.
    window: Window,
    /// Set once, at the go: every link's schedule counts from it.
    start: Arc<OnceLock<Window>>,
    histograms: Arc<AtomicHistograms>,
    stop: Arc<AtomicBool>,
    links: Vec<LinkHandle>,
}

struct LinkHandle {
    server: SocketAddr,
    counters: Arc<LinkCounters>,
    thread: JoinHandle<Vec<KeyCount>>,
}

impl Client {
    /// Starts one link thread per server. `id` and `clients` (this client's
    /// index and how many run on the host) spread the host's first updates
    /// over one interval and pace their first connects by `connect_rate`
    /// (`schedule::Place`). A `gated` client connects its links and then
    /// waits for `Node::go` before sending anything (see
    /// `program::serve_supervisor`); otherwise the schedule starts now.
    ///
    /// # Errors
    /// When a thread cannot be started (an OS limit; the message says which).
    pub fn start(
        config: Arc<Config>,
        servers: &[SocketAddr],
        id: u32,
        clients: u32,
        gated: bool,
    ) -> Result<Client> {
        let stop = Arc::new(AtomicBool::new(false));
        let window = Window::now();
        let start = Arc::new(OnceLock::new());
        if !gated {
            let _ = start.set(window);
        }
        let histograms = Arc::new(AtomicHistograms::default());
        let mut links = Vec::with_capacity(servers.len());
        for (j, &server) in servers.iter().enumerate() {
            let place = Place {
                id,
                clients,
                links: servers.len(),
                j,
            };
            let link = ClientLink::new(server, place, &config);
            let counters = link.counters.clone();
            let plan = LinkPlan {
                link,
                start: start.clone(),
                config: config.clone(),
                stop: stop.clone(),
                histograms: histograms.clone(),
            };
            let thread = thread::Builder::new()
                .name(format!("link to {server}"))
                .stack_size(config.thread_stack_bytes())
                .spawn(move || run_link(plan))
                .map_err(|e| {
                    let hint = net::limit_hint(&e);
                    // Stop the links already started before reporting.
                    stop.store(true, Ordering::Release);
                    crate::error::Error::msg(format!(
                        "client {id}: cannot start the thread for the link to {server}: {e}{hint}"
                    ))
                })?;
            links.push(LinkHandle {
                server,
                counters,
                thread,
            });
        }
        log::info!(
            "client {id}: started {} links ({} every {} ms)",
            links.len(),
            config.schedule.name(),
            config.update_intervals
        );
        Ok(Client {
            id,
            window,
            start,
            histograms,
            stop,
            links,
        })
    }

    /// Wakes every link parked on the go or asleep until its next due time,
    /// so it sees a go or a stop at once.
    fn wake_links(&self) {
        for link in &self.links {
            link.thread.thread().unpark();
        }
    }
}

impl program::Node for Client {
    fn status(&self) -> ClientStatus {
        status_of(
            self.id,
            &self.window,
            self.links.iter().map(|l| (l.server, &*l.counters)),
        )
    }

    fn take_histograms(&self) -> Snapshot {
        let mut all = Snapshot::default();
        all.add(&self.histograms.take());
        all
    }

    /// Nothing for a client already running. Links still connecting start
    /// when they connect. A start in the future lets every link wake, take
    /// its first due time and sleep again before anything is measured.
    fn go(&mut self, window: Window) {
        if self.start.set(window).is_ok() {
            self.window = window;
            self.wake_links();
        }
    }

    /// Links past the window's end have stopped already, each after its
    /// last update; waking them costs nothing.
    fn stop(self) -> ClientReport {
        self.stop.store(true, Ordering::Release);
        self.wake_links();
        let mut finished = Vec::with_capacity(self.links.len());
        let mut counters = Vec::with_capacity(self.links.len());
        for link in self.links {
            counters.push((link.server, link.counters));
            match link.thread.join() {
                Ok(keys) => finished.push((link.server, keys)),
                Err(_) => eprintln!("client {}: the link to {} panicked", self.id, link.server),
            }
        }
        // Every link has been joined, so all it recorded is visible: this
        // take leaves nothing behind.
        let histograms = self.histograms.take();
        link::final_report(
            self.id,
            &self.window,
            &counters,
            finished,
            histograms.encode(),
        )
    }
}
