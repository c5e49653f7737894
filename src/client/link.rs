//! One link thread of a client: connect, wait for the next due time, send
//! `update;<key>;<n>`, block on the ack, count, and reconnect with backoff
//! when the link breaks.
//!
//! Everything here runs on the link's own thread and touches only what that
//! thread owns (its socket, its pacer, its keys) plus two things shared with
//! the client's main thread: its [`LinkCounters`] (written only here, read
//! by the main thread with relaxed loads) and the client's histograms (one
//! relaxed increment per measurement). So link threads never wait for each
//! other or for the main thread.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::LATE;
use super::schedule::{Pacer, Window, sleep_until, wait_for_start, wait_for_stop};
use crate::config::{Affinity, Config};
use crate::error::{Context, Error, Result};
use crate::messages::{ErrorKinds, KeyCount};
use crate::metrics::AtomicHistograms;
use crate::sys::affinity;
use crate::sys::net;
use crate::wire::framing::{Line, LineReader};
use crate::wire::protocol::{self, MAX_LINE, Reply};

/// Counters of one link, written only by whoever runs the link (here its
/// own thread; in another engine a loop thread or a task) and read by the
/// client's main thread with relaxed loads ([`super::status_of`]).
#[derive(Default)]
pub struct LinkCounters {
    /// Connected now.
    pub up: AtomicBool,
    /// Updates written.
    pub sent: AtomicU64,
    /// Updates acknowledged.
    pub acked: AtomicU64,
    /// Updates sent more than [`super::LATE`] after their due time.
    pub late: AtomicU64,
    /// Failed connects, broken links and error replies.
    pub errors: AtomicU64,
    /// `errors` by [`LinkError`], indexed by its number.
    pub error_kinds: [AtomicU64; LinkError::KINDS],
    /// Why the last connect failed ([`ConnectError`] as a number), so the
    /// main thread can say why a link is down without asking the link.
    pub last_error: AtomicU8,
    /// Times the link was re-established after being lost.
    pub reconnects: AtomicU64,
    /// Acks whose server count differed from ours.
    pub anomalies: AtomicU64,
}

impl LinkCounters {
    /// Adds one; a single writer, so a load and a store would do, but
    /// `fetch_add` on an uncontended line costs the same and reads plainly.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one error of `kind`.
    pub fn error(&self, kind: LinkError) {
        Self::bump(&self.errors);
        Self::bump(&self.error_kinds[kind as usize]);
    }

    /// The errors by kind so far.
    pub fn error_kinds(&self) -> ErrorKinds {
        let n = |kind: LinkError| self.error_kinds[kind as usize].load(Ordering::Relaxed);
        ErrorKinds {
            connect: n(LinkError::Connect),
            write: n(LinkError::Write),
            refused: n(LinkError::Refused),
            ack_timeout: n(LinkError::AckTimeout),
            closed: n(LinkError::Closed),
            other: n(LinkError::Other),
        }
    }
}

/// What went wrong on a link, for the report's breakdown of its errors
/// ([`ErrorKinds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// A connect failed.
    Connect,
    /// An update could not be written.
    Write,
    /// The server answered with an error line.
    Refused,
    /// No ack within `request_timeout_ms`.
    AckTimeout,
    /// The server closed the link before it acked.
    Closed,
    /// Anything else.
    Other,
}

impl LinkError {
    /// How many kinds there are.
    pub const KINDS: usize = 6;

    /// The kind of a failed read of an ack: a read timeout (the socket's
    /// `request_timeout_ms`) or anything else.
    pub fn of_read(e: &std::io::Error) -> LinkError {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => LinkError::AckTimeout,
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                LinkError::Closed
            }
            _ => LinkError::Other,
        }
    }
}

/// Reconnects tried for a fresh local port before a used one is accepted.
const MAX_PORT_RETRIES: u32 = 8;

/// What a link thread needs to know.
pub(super) struct LinkPlan {
    pub(super) server: SocketAddr,
    /// This link's first update is due this long after the client's start.
    pub(super) offset: Duration,
    /// The client's window, set at its go.
    pub(super) start: Arc<OnceLock<Window>>,
    pub(super) config: Arc<Config>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) counters: Arc<LinkCounters>,
    pub(super) histograms: Arc<AtomicHistograms>,
}

impl LinkPlan {
    /// True once the client stops or its window has ended: a link then
    /// neither reconnects nor sends.
    fn over(&self) -> bool {
        self.stop.load(Ordering::Acquire)
            || self.start.get().is_some_and(|w| w.is_over(Instant::now()))
    }
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
pub(super) fn run_link(plan: LinkPlan) -> Vec<KeyCount> {
    let config = &plan.config;
    affinity::lower_current_thread_below_servers();
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
    // Connection attempts failed since the link was last up.
    let mut failures: u64 = 0;

    while !plan.over() {
        let stream = match connect(&plan) {
            Ok(stream) => stream,
            Err(e) => {
                plan.counters.error(LinkError::Connect);
                let why = ConnectError::of(&e);
                plan.counters.last_error.store(why as u8, Ordering::Relaxed);
                failures += 1;
                // The first failure is news; the retries of a server that
                // stays down would be a warning per link every few seconds
                // for as long as it is down, so they are debug lines.
                let level = if failures == 1 {
                    log::Level::Warn
                } else {
                    log::Level::Debug
                };
                log::log!(
                    level,
                    "link to {}: attempt {failures} failed, next in {} ms: {e}",
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
            log::debug!(
                "link to {}: local port of {key} used before; reconnecting",
                plan.server
            );
            continue;
        }
        reused_ports = 0;
        if connected_before {
            LinkCounters::bump(&plan.counters.reconnects);
        }
        // Each connect is a debug line; one that ends a warned streak of
        // failures is info, so the warning has its all-clear at its level.
        let how = if connected_before {
            "reconnected"
        } else {
            "connected"
        };
        if failures == 0 {
            log::debug!("link to {} {how}, key {key}", plan.server);
        } else {
            log::info!(
                "link to {} {how} after {failures} failed attempts, key {key}",
                plan.server
            );
        }
        connected_before = true;
        failures = 0;
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
            counters.error(LinkError::Write);
            log::warn!("link to {}: write failed: {e}", plan.server);
            return Ended::Broken;
        }
        LinkCounters::bump(&counters.sent);

        // Whatever keeps the ack from arriving leaves this update's fate
        // unknown: the server may have counted it. It is recorded as unacked
        // (the verification allows for it) and the link starts over.
        let (kind, lost) = match reader.read_line() {
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
                    counters.error(LinkError::Refused);
                    log::warn!(
                        "link to {}: server refused update: {code}: {detail}",
                        plan.server
                    );
                    return Ended::Broken;
                }
                _ => (LinkError::Other, "the reply was not an ack".to_string()),
            },
            Ok(Some(Line::TooLong)) => (LinkError::Other, "the reply was oversized".to_string()),
            Ok(None) => (LinkError::Closed, "the server closed the link".to_string()),
            Err(e) => (LinkError::of_read(&e), e.to_string()),
        };
        key.unacked += 1;
        counters.error(kind);
        log::warn!("link to {}: update #{count} unacked: {lost}", plan.server);
        return Ended::Broken;
    }
}

/// Why a connect failed, in the words the report and startup use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnectError {
    /// No attempt has failed (yet).
    None = 0,
    /// Nothing listens there (a reset to our SYN).
    Refused,
    /// No answer within `connect_timeout_ms`.
    TimedOut,
    /// No route to the host or network.
    Unreachable,
    /// The connection was reset or aborted while being set up.
    Reset,
    /// Anything else.
    Failed,
}

impl ConnectError {
    /// Classifies a connect error by its OS error kind.
    fn of(e: &Error) -> ConnectError {
        e.io_error()
            .map_or(ConnectError::Failed, ConnectError::of_io)
    }

    /// Classifies an OS error from a connect (or a non-blocking connect's
    /// outcome) by its kind.
    pub fn of_io(e: &std::io::Error) -> ConnectError {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => ConnectError::Refused,
            K::TimedOut | K::WouldBlock => ConnectError::TimedOut,
            K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
                ConnectError::Unreachable
            }
            K::ConnectionReset | K::ConnectionAborted => ConnectError::Reset,
            _ => ConnectError::Failed,
        }
    }

    /// The reason a link is down, from the number its counter holds.
    pub fn describe(code: u8) -> &'static str {
        match code {
            x if x == ConnectError::Refused as u8 => "refused",
            x if x == ConnectError::TimedOut as u8 => "timed out",
            x if x == ConnectError::Unreachable as u8 => "unreachable",
            x if x == ConnectError::Reset as u8 => "reset",
            x if x == ConnectError::None as u8 => "connecting",
            _ => "failed",
        }
    }
}
