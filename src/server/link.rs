//! One server link's rules, whatever waits for it: a complete line in, a
//! reply out. Parse, apply an update to its key's counter, ack, check the
//! client's count against ours, answer operations commands, count what went
//! wrong. Every engine drives a [`ServerLink`]; they differ only in how they
//! wait for a line, for the store and for a reply to be taken (the threads
//! engine's `link_thread` blocks; the workspace's event loop and tokio
//! engines wait for readiness).
//!
//! The hot path parses the line in place, makes one `fetch_add` on the
//! key's counter and writes the ack into the engine's reused buffer. The
//! store is asked only when the link's key first appears; the update waits
//! here ([`Handled::NeedCounter`]) until the engine, in its own way, hands
//! the counter to [`ServerLink::counter_arrived`]. A client sends one
//! update at a time, so nothing else waits behind it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::block::Countdown;
use super::store::{Counter, Store};
use super::{Counters, ServerCore, answer_command};
use crate::sys::net;
use crate::wire::framing::Line;
use crate::wire::protocol::{self, ParseError, Request};

/// What became of one line.
pub enum Handled {
    /// The reply is in `out`.
    Replied,
    /// The reply (`bye`) is in `out`; stop the server once it is written.
    Stop,
    /// An update for a key without a counter yet: ask the store for it
    /// (`Store::counter_then`), then call [`ServerLink::counter_arrived`].
    NeedCounter(String),
}

/// Per-connection state that outlives one line.
pub struct ServerLink {
    /// The peer, for logs and `stopped_by`.
    pub(crate) peer: SocketAddr,
    /// The key this link updates and its counter, cached so the store is
    /// asked only when the key changes (normally once per link).
    key: String,
    counter: Option<Counter>,
    /// The count of an update parked until its counter arrives.
    parked: Option<u64>,
    /// Whether `auth;<token>` succeeded on this connection.
    authorized: bool,
    /// Set only on a slow link of the engines bench's blocking experiment
    /// (`server::block`): when its next block is due.
    block: Option<Countdown>,
}

impl ServerLink {
    /// A new connection from `peer`.
    pub fn new(core: &ServerCore, peer: SocketAddr) -> ServerLink {
        ServerLink {
            peer,
            key: String::new(),
            counter: None,
            parked: None,
            authorized: core.config.ops_token.is_empty(),
            block: core.block.as_ref().and_then(|b| b.claim()),
        }
    }

    /// Whether this link's updates may block (the engines bench's injected
    /// block, `server::block`): what a handler knows of its own blocking
    /// call, so that an async engine can move that call off its worker.
    pub fn may_block(&self) -> bool {
        self.block.is_some()
    }

    /// True while an update waits for its counter: read nothing more.
    pub fn is_parked(&self) -> bool {
        self.parked.is_some()
    }

    /// Answers one framed line into `out`. `links` counts the server's open
    /// links, for `stats`.
    pub fn handle(
        &mut self,
        core: &ServerCore,
        store: &Store,
        links: &dyn Fn() -> u64,
        line: Line<'_>,
        out: &mut Vec<u8>,
    ) -> Handled {
        let bytes = match line {
            Line::TooLong => {
                protocol_error(core, self.peer, ParseError::TooLong, out);
                return Handled::Replied;
            }
            Line::Complete(bytes) => bytes,
        };
        match protocol::parse_request(bytes) {
            Ok(Request::Update { key, count }) => {
                if self.counter.is_none() || self.key != key {
                    self.key.clear();
                    self.key.push_str(key);
                    self.counter = None;
                    self.parked = Some(count);
                    return Handled::NeedCounter(self.key.clone());
                }
                self.apply(core, count, out);
                Handled::Replied
            }
            Ok(request) => {
                let peer = self.peer;
                if answer_command(core, store, links, &mut self.authorized, request, peer, out) {
                    Handled::Stop
                } else {
                    Handled::Replied
                }
            }
            Err(e) => {
                protocol_error(core, self.peer, e, out);
                Handled::Replied
            }
        }
    }

    /// The store's answer to [`Handled::NeedCounter`]: applies the parked
    /// update and writes its ack to `out`.
    pub fn counter_arrived(&mut self, core: &ServerCore, counter: Counter, out: &mut Vec<u8>) {
        self.counter = Some(counter);
        if let Some(count) = self.parked.take() {
            self.apply(core, count, out);
        }
    }

    /// The hot path: one atomic add and an ack; the client's count is
    /// compared with ours so a lost or doubled update is noticed at once.
    fn apply(&mut self, core: &ServerCore, count: u64, out: &mut Vec<u8>) {
        let Some(counter) = &self.counter else { return };
        let ours = counter.fetch_add(1, Ordering::AcqRel) + 1;
        if ours != count {
            Counters::bump(&core.counters.anomalies);
            log::warn!(
                "server {}: anomaly on key {} from {}: client says update #{count}, server counts #{ours}",
                core.addr,
                self.key,
                self.peer
            );
        }
        // The injected block, where a handler's synchronous call would sit:
        // it stalls whatever thread serves this link (`server::block`).
        if let Some(block) = &mut self.block {
            block.tick();
        }
        protocol::encode_ack(out, ours);
    }

    /// The peer sent no complete line within `idle_timeout_ms` (`idle`):
    /// counted, logged, and the `err;idle_timeout` line it gets before it
    /// is closed is put in `out` (cleared first).
    pub fn idle_timed_out(&self, core: &ServerCore, idle: Duration, out: &mut Vec<u8>) {
        Counters::bump(&core.counters.idle_closed);
        log::info!(
            "server {}: closing link from {}: no complete line within {} ms (idle_timeout_ms)",
            core.addr,
            self.peer,
            idle.as_millis()
        );
        out.clear();
        protocol::encode_err(
            out,
            "idle_timeout",
            "no complete line within idle_timeout_ms",
        );
    }

    /// The peer did not take its replies within `write_timeout_ms`
    /// (`limit`): counted and logged; the engine drops the link.
    pub fn write_timed_out(&self, core: &ServerCore, limit: Duration) {
        Counters::bump(&core.counters.write_timeouts);
        log::warn!(
            "server {}: dropping link from {}: it did not take a reply within {} ms (write_timeout_ms)",
            core.addr,
            self.peer,
            limit.as_millis()
        );
    }

    /// The link ended for `why` (logged unless the server is stopping,
    /// when every link ends).
    pub fn ended(&self, core: &ServerCore, why: impl std::fmt::Display) {
        if !core.stopping.load(Ordering::Relaxed) {
            log::info!("server {}: link from {} ended: {why}", core.addr, self.peer);
        }
    }
}

/// A connection beyond `server_max_links` (`open` are open): counted,
/// logged, and the `err;link_limit;...` line it gets before it is closed.
pub fn refusal(core: &ServerCore, peer: SocketAddr, open: u64) -> Vec<u8> {
    Counters::bump(&core.counters.links_refused);
    log::warn!(
        "server {}: refused link from {peer}: {open} links open (server_max_links)",
        core.addr
    );
    let mut out = Vec::new();
    let detail = format!(
        "server {} already holds {open} links, the limit set by server_max_links",
        core.addr
    );
    protocol::encode_err(&mut out, "link_limit", &detail);
    out
}

/// An accept that failed: out of descriptors, the limit is named on stderr
/// once (`warned`); the caller backs off rather than spin.
pub fn accept_failed(core: &ServerCore, e: &std::io::Error, warned: &mut bool) {
    let hint = net::limit_hint(e);
    if !*warned && !hint.is_empty() {
        *warned = true;
        eprintln!("server {}: accept failed: {e}{hint}", core.addr);
    }
    log::warn!("server {}: accept failed: {e}", core.addr);
}

fn protocol_error(core: &ServerCore, peer: SocketAddr, e: ParseError, out: &mut Vec<u8>) {
    Counters::bump(&core.counters.protocol_errors);
    log::warn!("server {}: bad line from {peer}: {e}", core.addr);
    protocol::encode_err(out, e.code(), e.detail());
}
