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

pub mod schedule;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::client::schedule::{Pacer, Window, sleep_until, wait_for_start, wait_for_stop};
use crate::config::{Affinity, Config};
use crate::error::{Context, Error, Result};
use crate::messages::{ClientReport, ClientStatus, KeyCount, StatusReply};
use crate::metrics::{AtomicHistograms, LinkCount, Snapshot};
use crate::sys::affinity;
use crate::sys::net;
use crate::sys::procstat;
use crate::wire::framing::{Line, LineReader};
use crate::wire::protocol::{self, MAX_LINE, Reply};

/// A send more than this after its due time counts as late.
pub const LATE: Duration = Duration::from_millis(1);

/// Counters of one link, written only by its own thread.
#[derive(Default)]
struct LinkCounters {
    up: AtomicBool,
    sent: AtomicU64,
    acked: AtomicU64,
    late: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    anomalies: AtomicU64,
}

impl LinkCounters {
    /// Adds one; a single writer, so a load and a store would do, but
    /// `fetch_add` on an uncontended line costs the same and reads plainly.
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

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

/// Reconnects tried for a fresh local port before a used one is accepted.
const MAX_PORT_RETRIES: u32 = 8;

/// What a link thread needs to know.
struct LinkPlan {
    server: SocketAddr,
    /// This link's first update is due this long after the client's start.
    offset: Duration,
    /// The client's window, set at its go.
    start: Arc<OnceLock<Window>>,
    config: Arc<Config>,
    stop: Arc<AtomicBool>,
    counters: Arc<LinkCounters>,
    histograms: Arc<AtomicHistograms>,
}

impl LinkPlan {
    /// True once the client stops or its window has ended: a link then
    /// neither reconnects nor sends.
    fn over(&self) -> bool {
        self.stop.load(Ordering::Acquire)
            || self.start.get().is_some_and(|w| w.is_over(Instant::now()))
    }
}

impl Client {
    /// Starts one link thread per server.
    ///
    /// `id` and `clients` (this client's index and how many run on the host)
    /// spread the links' first updates evenly across one interval, so the
    /// whole host does not send in bursts at each tick.
    ///
    /// A `gated` client connects its links and then waits for [`Client::go`]
    /// before sending anything, so that startup can start a thousand
    /// clients and measure none of them while the rest are still being
    /// spawned and connected. Otherwise the schedule starts now.
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
        let interval = config.interval();
        let slots = (u64::from(clients.max(1)) * servers.len() as u64).max(1);
        let histograms = Arc::new(AtomicHistograms::default());
        let mut links = Vec::with_capacity(servers.len());
        for (j, &server) in servers.iter().enumerate() {
            let slot = (u64::from(id) * servers.len() as u64 + j as u64) % slots;
            let offset = interval.mul_f64(slot as f64 / slots as f64);
            let counters = Arc::new(LinkCounters::default());
            let plan = LinkPlan {
                server,
                offset,
                start: start.clone(),
                config: config.clone(),
                stop: stop.clone(),
                counters: counters.clone(),
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

    /// Waits until every link is connected, at most `within`, and returns
    /// the totals (`links_up` says how many made it).
    pub fn wait_connected(&self, within: Duration) -> ClientStatus {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline
            && !self
                .links
                .iter()
                .all(|l| l.counters.up.load(Ordering::Relaxed))
        {
            thread::sleep(Duration::from_millis(5));
        }
        self.status()
    }

    /// Gives a gated client its schedule's window (nothing for one already
    /// running). Links still connecting start when they connect. A start in
    /// the future lets every link wake, take its first due time and sleep
    /// again before anything is measured.
    pub fn go(&mut self, window: Window) {
        if self.start.set(window).is_ok() {
            self.window = window;
            self.wake_links();
        }
    }

    /// Wakes every link parked on the go or asleep until its next due time,
    /// so it sees a go or a stop at once.
    fn wake_links(&self) {
        for link in &self.links {
            link.thread.thread().unpark();
        }
    }

    /// Current totals over all links.
    pub fn status(&self) -> ClientStatus {
        totals(
            self.id,
            &self.window,
            self.links.iter().map(|l| &*l.counters),
        )
    }

    /// Totals, plus the histograms of everything recorded since the last
    /// call. Never waits for the links.
    pub fn status_reply(&self) -> StatusReply {
        StatusReply {
            histograms: self.take_histograms().encode(),
            status: self.status(),
        }
    }

    /// The histograms of everything recorded since the last call.
    pub fn take_histograms(&self) -> Snapshot<LinkCount> {
        self.histograms.take()
    }

    /// Stops every link after its in-flight update is answered, and returns
    /// what each acked. Links past the window's end have stopped already,
    /// each after its last update; waking them costs nothing.
    pub fn stop(self) -> ClientReport {
        self.stop.store(true, Ordering::Release);
        self.wake_links();
        let mut keys = Vec::new();
        let mut counters = Vec::with_capacity(self.links.len());
        for link in self.links {
            counters.push(link.counters);
            match link.thread.join() {
                Ok(k) => keys.extend(k),
                Err(_) => eprintln!("client {}: the link to {} panicked", self.id, link.server),
            }
        }
        log::info!("client {}: stopped; {} keys reported", self.id, keys.len());
        // Every link has been joined, so all it recorded is visible: this
        // take leaves nothing behind.
        ClientReport {
            status: totals(self.id, &self.window, counters.iter().map(|c| &**c)),
            keys,
            histograms: self.histograms.take().encode(),
            process: procstat::own(),
        }
    }
}

/// Sums link counters into one status.
fn totals<'a>(
    id: u32,
    window: &Window,
    links: impl Iterator<Item = &'a LinkCounters>,
) -> ClientStatus {
    let mut s = ClientStatus {
        id,
        elapsed_s: window.elapsed(Instant::now()).as_secs_f64(),
        ..ClientStatus::default()
    };
    for c in links {
        s.links += 1;
        s.links_up += u64::from(c.up.load(Ordering::Relaxed));
        s.sent += c.sent.load(Ordering::Relaxed);
        s.acked += c.acked.load(Ordering::Relaxed);
        s.late += c.late.load(Ordering::Relaxed);
        s.errors += c.errors.load(Ordering::Relaxed);
        s.reconnects += c.reconnects.load(Ordering::Relaxed);
        s.anomalies += c.anomalies.load(Ordering::Relaxed);
    }
    s
}

/// How one connection of a link ended.
enum Ended {
    /// The client is stopping or its window ended; the in-flight update
    /// (if any) was answered.
    Stopped,
    /// The link broke; reconnect.
    Broken,
}

/// A link thread: connect, run updates until the link breaks, reconnect with
/// backoff, until stopped. Returns every key used and what was acked on it.
fn run_link(plan: LinkPlan) -> Vec<KeyCount> {
    let config = &plan.config;
    affinity::lower_current_thread_priority();
    if config.cpu_affinity == Affinity::ByServer {
        affinity::pin_current_thread(affinity::cpu_for_port(
            &config.server_port_list,
            plan.server.port(),
        ));
    }
    let mut keys: Vec<KeyCount> = Vec::with_capacity(1);
    // Made at the first connection, once the client's start is known.
    let mut pacer: Option<Pacer> = None;
    let initial_backoff = Duration::from_millis(config.reconnect_initial_ms);
    let mut backoff = initial_backoff;
    let mut connected_before = false;
    let mut reused_ports = 0;

    while !plan.over() {
        let stream = match connect(&plan) {
            Ok(stream) => stream,
            Err(e) => {
                LinkCounters::bump(&plan.counters.errors);
                log::warn!(
                    "link to {}: {e}; retrying in {} ms",
                    plan.server,
                    backoff.as_millis()
                );
                if !sleep_until(Instant::now() + backoff, &plan.stop) {
                    break;
                }
                backoff = (backoff * 2).min(Duration::from_millis(config.reconnect_max_ms));
                continue;
            }
        };
        backoff = initial_backoff;
        let key = match stream.local_addr() {
            Ok(addr) => addr.to_string(),
            Err(_) => continue,
        };
        // A key is one connection's life. A reconnect that gets a used local
        // port back would share a key with a dead connection, whose count a
        // restarted server no longer has: take another port (the OS moves
        // on), and only after several tries let the old count continue.
        if keys.iter().any(|k| k.key == key) && reused_ports < MAX_PORT_RETRIES {
            reused_ports += 1;
            log::info!(
                "link to {}: local port of {key} used before; reconnecting",
                plan.server
            );
            continue;
        }
        reused_ports = 0;
        if connected_before {
            LinkCounters::bump(&plan.counters.reconnects);
        }
        connected_before = true;
        log::info!("link to {} up, key {key}", plan.server);
        let slot = match keys.iter().position(|k| k.key == key) {
            Some(i) => i,
            None => {
                keys.push(KeyCount {
                    server: plan.server,
                    key,
                    acked: 0,
                    unacked: 0,
                });
                keys.len() - 1
            }
        };
        plan.counters.up.store(true, Ordering::Relaxed);
        let pacer = match &mut pacer {
            Some(pacer) => pacer,
            None => {
                // Connected and counted as up, the first connection waits
                // for the client's go (already given to an ungated client).
                let Some(window) = wait_for_start(&plan.start, &plan.stop) else {
                    plan.counters.up.store(false, Ordering::Relaxed);
                    break;
                };
                pacer.insert(Pacer::new(
                    config.schedule,
                    config.interval(),
                    window.start + plan.offset,
                    window.end,
                ))
            }
        };
        pacer.restart(Instant::now());
        let ended = run_connection(&plan, &stream, &mut keys[slot], pacer);
        if let Ended::Stopped = ended {
            // Past the window's end, stay connected and idle until the stop:
            // ten thousand threads exiting and connections closing during
            // the last interval would load the CPU while the links whose
            // last update is still due measure it (per-5 s latency p99 of
            // 315 ms in the last sample of a 1,000 x 10 run, against 1-3 ms).
            wait_for_stop(&plan.stop);
        }
        plan.counters.up.store(false, Ordering::Relaxed);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        if let Ended::Stopped = ended {
            break;
        }
    }
    keys
}

fn connect(plan: &LinkPlan) -> Result<TcpStream> {
    let config = &plan.config;
    let stream = TcpStream::connect_timeout(
        &plan.server,
        Duration::from_millis(config.connect_timeout_ms),
    )
    .with_context(|| format!("cannot connect to server {}", plan.server))?;
    // With the server down, a connect to a port in the OS's ephemeral range
    // can be given that very port as its own and "connect" to itself (TCP
    // simultaneous open); it would also keep the server from listening again.
    if stream.local_addr().ok() == Some(plan.server) {
        return Err(Error::msg(format!(
            "the link to {} connected to itself: nothing listens there",
            plan.server
        )));
    }
    net::tune(
        &stream,
        Duration::from_millis(config.request_timeout_ms),
        Duration::from_millis(config.request_timeout_ms),
    )
    .with_context(|| format!("cannot set socket options for {}", plan.server))?;
    Ok(stream)
}

/// Sends updates on one connection until it breaks or the client stops.
fn run_connection(
    plan: &LinkPlan,
    stream: &TcpStream,
    key: &mut KeyCount,
    pacer: &mut Pacer,
) -> Ended {
    let counters = &plan.counters;
    let mut reader = LineReader::new(stream, MAX_LINE);
    let mut out = Vec::with_capacity(128);
    loop {
        let Some(due) = pacer.wait(&plan.stop) else {
            return Ended::Stopped;
        };
        let sent_at = Instant::now();
        let lateness = sent_at.saturating_duration_since(due);
        if lateness > LATE {
            LinkCounters::bump(&counters.late);
        }
        let count = key.acked + 1;
        out.clear();
        protocol::encode_update(&mut out, &key.key, count);
        if let Err(e) = (&*stream).write_all(&out) {
            LinkCounters::bump(&counters.errors);
            log::warn!("link to {}: write failed: {e}", plan.server);
            return Ended::Broken;
        }
        LinkCounters::bump(&counters.sent);

        // Whatever keeps the ack from arriving leaves this update's fate
        // unknown: the server may have counted it. It is recorded as unacked
        // (the verification allows for it) and the link starts over.
        let lost = match reader.read_line() {
            Ok(Some(Line::Complete(line))) => match protocol::parse_reply(line) {
                Some(Reply::Ack(server_count)) => {
                    let acked_at = Instant::now();
                    plan.histograms.record(
                        acked_at - sent_at,
                        lateness,
                        acked_at.saturating_duration_since(due),
                    );
                    key.acked = count;
                    LinkCounters::bump(&counters.acked);
                    if server_count != count {
                        LinkCounters::bump(&counters.anomalies);
                        log::warn!(
                            "link to {}: anomaly on key {}: sent update #{count}, server counts #{server_count}",
                            plan.server,
                            key.key
                        );
                    }
                    pacer.completed(acked_at);
                    continue;
                }
                Some(Reply::Err { code, detail }) => {
                    // A refusal is an answer: the server did not count it.
                    LinkCounters::bump(&counters.errors);
                    log::warn!(
                        "link to {}: server refused update: {code}: {detail}",
                        plan.server
                    );
                    return Ended::Broken;
                }
                _ => "the reply was not an ack".to_string(),
            },
            Ok(Some(Line::TooLong)) => "the reply was oversized".to_string(),
            Ok(None) => "the server closed the link".to_string(),
            Err(e) => e.to_string(),
        };
        key.unacked += 1;
        LinkCounters::bump(&counters.errors);
        log::warn!("link to {}: update #{count} unacked: {lost}", plan.server);
        return Ended::Broken;
    }
}
