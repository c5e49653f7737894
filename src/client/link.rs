//! One client link's rules, whatever waits for it: a key per connection,
//! a used local port refused a few times, one update in flight, the pacer's
//! due times, an unacked update counted when the link breaks, backoff
//! doubling to `reconnect_max_ms`, the counters and the histograms.
//!
//! Every engine drives a [`ClientLink`] the same way and differs only in how
//! it waits between the calls: the threads engine (`link_thread`) blocks on
//! its socket and parks until a due time; the workspace's event loop waits
//! for readiness and a timer heap; its tokio engine awaits futures.
//!
//! ```text
//!  connect ─fail─► connect_failed ─(wait the backoff)─► connect
//!     │ ok
//!     ▼
//!  connected ──false (a used port)──► connect again at once
//!     │ true
//!     ▼
//!  run(window) ─► next_due ─(wait until due)─► send ─(write)─► reply ─┐
//!                    ▲                                   acked       │
//!                    └───────────────────────────────────────────────┘
//!  a failed write, read or timeout: broken ─► down ─► connect again
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::counters::{ConnectError, LinkCounters, LinkError, status_of};
use super::schedule::{Pacer, Place, Window};
use crate::config::Config;
use crate::messages::{ClientReport, KeyCount, WireSnapshot};
use crate::metrics::AtomicHistograms;
use crate::sys::procstat;
use crate::wire::framing::Line;
use crate::wire::protocol::{self, Reply};

/// A send more than this after its due time counts as late.
pub(crate) const LATE: Duration = Duration::from_millis(1);

/// Reconnects tried for a fresh local port before a used one is accepted.
const MAX_PORT_RETRIES: u32 = 8;

/// The update on the wire, waiting for its ack.
#[derive(Clone, Copy)]
pub struct InFlight {
    /// When it was due.
    pub(crate) due: Instant,
    /// When it was written.
    pub sent_at: Instant,
    /// The client's count for the key, this update included.
    pub(crate) count: u64,
}

/// One link's state, apart from its socket.
pub struct ClientLink {
    /// The server it links to.
    pub server: SocketAddr,
    /// Its first update is due this long after the window's start.
    offset: Duration,
    /// Its first connect waits until then (`connect_rate`'s ramp); now
    /// when links connect at once.
    first_connect: Instant,
    /// Shared with the client's main thread, which sums them for `status`.
    pub counters: Arc<LinkCounters>,
    /// Every key used, with what was acked on it.
    pub keys: Vec<KeyCount>,
    /// The key in use (index into `keys`).
    slot: usize,
    /// Made at the first connection once the window is known.
    pacer: Option<Pacer>,
    /// The update waiting for its ack.
    pub in_flight: Option<InFlight>,
    backoff: Duration,
    connected_before: bool,
    reused_ports: u32,
    failures: u64,
}

/// What a reply line did.
pub enum Outcome {
    /// The in-flight update was acked.
    Acked,
    /// The link must be dropped (and reconnected, unless the run is over).
    Broken,
}

impl ClientLink {
    /// A link to `server` at `place` among its host's links, which sets
    /// when it first connects (`connect_rate`, counted from now) and when
    /// its first update is due after the window's start.
    pub fn new(server: SocketAddr, place: Place, config: &Config) -> ClientLink {
        ClientLink {
            server,
            offset: place.stagger(config.interval()),
            first_connect: Instant::now() + place.ramp(config.connect_rate),
            counters: Arc::new(LinkCounters::default()),
            keys: Vec::with_capacity(1),
            slot: 0,
            pacer: None,
            in_flight: None,
            backoff: config.reconnect_initial(),
            connected_before: false,
            reused_ports: 0,
            failures: 0,
        }
    }

    /// When the link may make its first connect: the engine waits until
    /// then before its first attempt. Reconnects are paced by the backoff
    /// instead.
    pub fn first_connect(&self) -> Instant {
        self.first_connect
    }

    /// A connect failed: counts it, remembers why (for `ready`'s `down`
    /// list) and returns how long to wait before the next attempt.
    pub fn connect_failed(&mut self, why: &std::io::Error, config: &Config) -> Duration {
        self.counters.error(LinkError::Connect);
        let kind = ConnectError::of_io(why);
        self.counters
            .last_error
            .store(kind as u8, Ordering::Relaxed);
        self.failures += 1;
        let wait = self.backoff;
        // The first failure is news; the retries of a server that stays
        // down would be a warning per link every few seconds for as long as
        // it is down, so they are debug lines.
        let level = if self.failures == 1 {
            log::Level::Warn
        } else {
            log::Level::Debug
        };
        log::log!(
            level,
            "link to {}: attempt {} failed, next in {} ms: {why}",
            self.server,
            self.failures,
            wait.as_millis()
        );
        self.backoff = (self.backoff * 2).min(config.reconnect_max());
        wait
    }

    /// A connection is up with local address `local`. `false` means its
    /// local port was used by an earlier connection of this link: drop it
    /// and connect again at once (a key is one connection's life).
    pub fn connected(&mut self, local: SocketAddr, config: &Config) -> bool {
        let key = local.to_string();
        // A reconnect that gets a used local port back would share a key
        // with a dead connection, whose count a restarted server no longer
        // has: take another port (the OS moves on), and only after several
        // tries let the old count continue.
        if self.keys.iter().any(|k| k.key == key) && self.reused_ports < MAX_PORT_RETRIES {
            self.reused_ports += 1;
            log::debug!(
                "link to {}: local port of {key} used before; reconnecting",
                self.server
            );
            return false;
        }
        self.reused_ports = 0;
        self.backoff = config.reconnect_initial();
        if self.connected_before {
            LinkCounters::bump(&self.counters.reconnects);
        }
        // Each connect is a debug line; one that ends a warned streak of
        // failures is info, so the warning has its all-clear at its level.
        let how = if self.connected_before {
            "reconnected"
        } else {
            "connected"
        };
        if self.failures == 0 {
            log::debug!("link to {} {how}, key {key}", self.server);
        } else {
            log::info!(
                "link to {} {how} after {} failed attempts, key {key}",
                self.server,
                self.failures
            );
        }
        self.connected_before = true;
        self.failures = 0;
        self.slot = match self.keys.iter().position(|k| k.key == key) {
            Some(i) => i,
            None => {
                self.keys.push(KeyCount {
                    server: self.server,
                    key,
                    acked: 0,
                    unacked: 0,
                });
                self.keys.len() - 1
            }
        };
        self.counters.up.store(true, Ordering::Relaxed);
        true
    }

    /// True once connected and given the window: the link has a schedule.
    pub fn is_running(&self) -> bool {
        self.pacer.is_some()
    }

    /// Starts (or, after a reconnect, resumes) the schedule at `now`: the
    /// pacer is made at the first connection after the go, and every
    /// (re)connection skips the ticks that fell while the link was down.
    pub fn run(&mut self, window: &Window, config: &Config, now: Instant) {
        let offset = self.offset;
        let pacer = self.pacer.get_or_insert_with(|| {
            Pacer::new(
                config.schedule,
                config.interval(),
                window.start + offset,
                window.end,
            )
            .with_max_lag(config.max_lag())
        });
        pacer.restart(now);
    }

    /// When the next update is due; `None` once the window is over (or
    /// before the link runs).
    pub fn next_due(&self) -> Option<Instant> {
        self.pacer.as_ref()?.next_due()
    }

    /// Writes the update due at `due` into `out` (cleared first), as sent
    /// at `now`; `false` if the window ended first (send nothing).
    pub fn send(&mut self, due: Instant, now: Instant, out: &mut Vec<u8>) -> bool {
        let Some(pacer) = &mut self.pacer else {
            return false;
        };
        let taken = pacer.take(due, now);
        let dropped = pacer.take_dropped();
        if dropped > 0 {
            self.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        let Some(due) = taken else {
            return false;
        };
        if now.saturating_duration_since(due) > LATE {
            LinkCounters::bump(&self.counters.late);
        }
        let key = &self.keys[self.slot];
        let count = key.acked + 1;
        out.clear();
        protocol::encode_update(out, &key.key, count);
        LinkCounters::bump(&self.counters.sent);
        self.in_flight = Some(InFlight {
            due,
            sent_at: now,
            count,
        });
        true
    }

    /// A reply line arrived at `now`.
    pub fn reply(
        &mut self,
        line: Line<'_>,
        now: Instant,
        histograms: &AtomicHistograms,
    ) -> Outcome {
        let lost = match line {
            Line::Complete(bytes) => match protocol::parse_reply(bytes) {
                Some(Reply::Ack(server_count)) => {
                    let Some(f) = self.in_flight.take() else {
                        return self.broken(LinkError::Other, "an ack came with nothing in flight");
                    };
                    histograms.record(
                        now - f.sent_at,
                        f.sent_at.saturating_duration_since(f.due),
                        now.saturating_duration_since(f.due),
                    );
                    let key = &mut self.keys[self.slot];
                    key.acked = f.count;
                    LinkCounters::bump(&self.counters.acked);
                    if server_count != f.count {
                        LinkCounters::bump(&self.counters.anomalies);
                        log::warn!(
                            "link to {}: anomaly on key {}: sent update #{}, server counts #{server_count}",
                            self.server,
                            key.key,
                            f.count
                        );
                    }
                    if let Some(pacer) = &mut self.pacer {
                        pacer.completed(now);
                    }
                    return Outcome::Acked;
                }
                Some(Reply::Err { code, detail }) => {
                    // A refusal is an answer: the server did not count it.
                    self.in_flight = None;
                    self.counters.error(LinkError::Refused);
                    log::warn!(
                        "link to {}: server refused update: {code}: {detail}",
                        self.server
                    );
                    return Outcome::Broken;
                }
                _ => "the reply was not an ack",
            },
            Line::TooLong => "the reply was oversized",
        };
        self.broken(LinkError::Other, lost)
    }

    /// The connection broke (`kind`, in words `why`): an update in flight
    /// is counted as unacked, since the server may have counted it.
    pub fn broken(&mut self, kind: LinkError, why: &str) -> Outcome {
        if let Some(f) = self.in_flight.take() {
            self.keys[self.slot].unacked += 1;
            log::warn!(
                "link to {}: update #{} unacked: {why}",
                self.server,
                f.count
            );
        } else {
            log::info!("link to {} ended: {why}", self.server);
        }
        self.counters.error(kind);
        self.counters.up.store(false, Ordering::Relaxed);
        Outcome::Broken
    }

    /// The client stops (or the link is abandoned): down, nothing more.
    pub fn down(&self) {
        self.counters.up.store(false, Ordering::Relaxed);
    }
}

/// A connect "succeeded" to the server's own address: with nothing
/// listening, a connect to a port in the OS's ephemeral range can be given
/// that very port as its own (TCP simultaneous open), and would also keep
/// the server from listening again. An error, so the engine drops it.
pub fn refuse_self_connect(server: SocketAddr, local: SocketAddr) -> io::Result<SocketAddr> {
    if local == server {
        return Err(io::Error::other(format!(
            "the link to {server} connected to itself: nothing listens there"
        )));
    }
    Ok(local)
}

/// A client's final report, whatever engine ran it: `finished` is every link's server and keys once it has ended,
/// `links` every link's counters, `histograms` what was recorded since the
/// last status, encoded. The report's `down` names only the links that never
/// connected (they used no key).
pub fn final_report(
    id: u32,
    window: &Window,
    links: &[(SocketAddr, Arc<LinkCounters>)],
    finished: impl IntoIterator<Item = (SocketAddr, Vec<KeyCount>)>,
    histograms: WireSnapshot,
) -> ClientReport {
    let mut keys = Vec::new();
    let mut never_connected = Vec::new();
    for (server, k) in finished {
        if k.is_empty() {
            never_connected.push(server);
        }
        keys.extend(k);
    }
    log::info!("client {id}: stopped; {} keys reported", keys.len());
    let mut status = status_of(id, window, links.iter().map(|(s, c)| (*s, &**c)));
    status.down.retain(|d| never_connected.contains(&d.server));
    ClientReport {
        status,
        keys,
        histograms,
        process: procstat::own(),
    }
}
