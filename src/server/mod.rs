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

pub mod store;

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{Affinity, Config};
use crate::error::{Context, Error, Result};
use crate::messages::{ServerDump, ServerStats};
use crate::server::store::{Counter, Store};
use crate::sys::affinity;
use crate::sys::net;
use crate::sys::procstat;
use crate::wire::framing::{Line, LineReader};
use crate::wire::protocol::{self, MAX_LINE, ParseError, Request};

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

/// What every link thread and the acceptor share.
struct Shared {
    config: Arc<Config>,
    addr: SocketAddr,
    started: Instant,
    /// Set once; the acceptor and every link check it.
    stopping: AtomicBool,
    counters: Counters,
    /// Open links by id, so stopping can shut each socket down. Touched on
    /// connect and disconnect only, never per update.
    links: Mutex<HashMap<u64, TcpStream>>,
}

/// Event counters. Updated on rare paths only (connects, errors, anomalies):
/// the per-update count lives in the store's per-key counters.
#[derive(Default)]
struct Counters {
    links_accepted: AtomicU64,
    links_refused: AtomicU64,
    protocol_errors: AtomicU64,
    anomalies: AtomicU64,
    idle_closed: AtomicU64,
    write_timeouts: AtomicU64,
    auth_failures: AtomicU64,
    next_link_id: AtomicU64,
}

impl Server {
    /// Binds the listening socket and starts the store thread.
    ///
    /// # Errors
    /// The address is taken or not local, or it is outside loopback while no
    /// `ops_token` is configured (anyone could then stop the server).
    pub fn bind(config: Arc<Config>, addr: SocketAddr) -> Result<Server> {
        if !addr.ip().is_loopback() && config.ops_token.is_empty() {
            return Err(Error::msg(format!(
                "refusing to listen on {addr} without an operations token: `stop` and `dump` \
                 would be open to anyone who can reach it. Set \"ops_token\" in the config \
                 (or listen on 127.0.0.1)"
            )));
        }
        let listener = TcpListener::bind(addr).with_context(|| {
            format!("cannot listen on {addr} (is another server already using this port?)")
        })?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let store = Store::start()?;
        Ok(Server {
            listener,
            store,
            shared: Arc::new(Shared {
                config,
                addr,
                started: Instant::now(),
                stopping: AtomicBool::new(false),
                counters: Counters::default(),
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
                    // Out of descriptors: say which limit once, then back off so
                    // the acceptor does not spin while the condition lasts.
                    if !warned_limit && !net::limit_hint(&e).is_empty() {
                        warned_limit = true;
                        eprintln!(
                            "server {}: accept failed: {e}{}",
                            shared.addr,
                            net::limit_hint(&e)
                        );
                    }
                    log::warn!("server {}: accept failed: {e}", shared.addr);
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
}

fn request_stop(shared: &Shared) {
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
        shared
            .counters
            .links_refused
            .fetch_add(1, Ordering::Relaxed);
        log::warn!(
            "server {}: refused link from {peer}: {open} links open (server_max_links)",
            shared.addr
        );
        refuse(
            &stream,
            "link_limit",
            &format!(
                "server {} already holds {open} links, the limit set by server_max_links",
                shared.addr
            ),
        );
        return;
    }

    let id = shared.counters.next_link_id.fetch_add(1, Ordering::Relaxed);
    let registered = match stream.try_clone() {
        Ok(clone) => {
            shared.links.lock().insert(id, clone);
            true
        }
        Err(_) => false,
    };
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
            shared
                .counters
                .links_accepted
                .fetch_add(1, Ordering::Relaxed);
            log::info!("server {}: link from {peer}", shared.addr);
        }
        Err(e) => {
            // The closure (and the stream in it) was dropped; the clone in the
            // table is the only way left to tell the peer why.
            shared
                .counters
                .links_refused
                .fetch_add(1, Ordering::Relaxed);
            let hint = net::limit_hint(&e);
            eprintln!(
                "server {}: cannot start a thread for the link from {peer}: {e}{hint}",
                shared.addr
            );
            log::error!(
                "server {}: cannot start a thread for {peer}: {e}",
                shared.addr
            );
            if registered {
                if let Some(clone) = shared.links.lock().remove(&id) {
                    refuse(
                        &clone,
                        "no_thread",
                        &format!("server cannot start a thread: {e}{hint}"),
                    );
                }
            }
        }
    }
}

fn refuse(stream: &TcpStream, code: &str, detail: &str) {
    let mut out = Vec::new();
    protocol::encode_err(&mut out, code, detail);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = (&*stream).write_all(&out);
    let _ = stream.shutdown(Shutdown::Both);
}

/// Per-connection state that outlives one request.
struct LinkState {
    /// The key this link updates and its counter, cached so that the store
    /// thread is asked only when the key changes (normally once per link).
    key: String,
    counter: Option<Counter>,
    /// Whether `auth;<token>` succeeded on this connection.
    authorized: bool,
}

/// The link thread's whole life: read a line, answer it, repeat.
fn serve_link(shared: &Shared, store: &Store, stream: &TcpStream, peer: SocketAddr) {
    let config = &shared.config;
    affinity::lower_current_thread_priority();
    if config.cpu_affinity == Affinity::ByServer {
        affinity::pin_current_thread(affinity::cpu_for_port(
            &config.server_port_list,
            shared.addr.port(),
        ));
    }
    if let Err(e) = net::tune(
        stream,
        Duration::from_millis(config.idle_timeout_ms),
        Duration::from_millis(config.write_timeout_ms),
    ) {
        log::warn!(
            "server {}: cannot set up link from {peer}: {e}",
            shared.addr
        );
        return;
    }
    let mut reader = LineReader::new(stream, MAX_LINE);
    let mut out = Vec::with_capacity(128);
    let mut state = LinkState {
        key: String::new(),
        counter: None,
        authorized: config.ops_token.is_empty(),
    };

    loop {
        let line = match reader.read_line() {
            Ok(Some(line)) => line,
            Ok(None) => {
                log::info!(
                    "server {}: link from {peer} closed by the peer",
                    shared.addr
                );
                break;
            }
            Err(e) if net::is_timeout(&e) => {
                shared.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
                log::info!(
                    "server {}: closing link from {peer}: nothing received for {} ms (idle_timeout_ms)",
                    shared.addr,
                    config.idle_timeout_ms
                );
                out.clear();
                protocol::encode_err(
                    &mut out,
                    "idle_timeout",
                    "no complete line within idle_timeout_ms",
                );
                let _ = (&*stream).write_all(&out);
                break;
            }
            Err(e) => {
                if !shared.stopping.load(Ordering::Relaxed) {
                    log::info!("server {}: link from {peer} ended: {e}", shared.addr);
                }
                break;
            }
        };

        out.clear();
        let mut stop_after_reply = false;
        match line {
            Line::TooLong => protocol_error(shared, peer, ParseError::TooLong, &mut out),
            Line::Complete(bytes) => match protocol::parse_request(bytes) {
                Ok(Request::Update { key, count }) => {
                    if let Err(e) =
                        apply_update(shared, store, &mut state, key, count, peer, &mut out)
                    {
                        log::warn!("server {}: {e}", shared.addr);
                        break;
                    }
                }
                Ok(request) => {
                    stop_after_reply =
                        answer_ops(shared, store, &mut state, request, peer, &mut out);
                }
                Err(e) => protocol_error(shared, peer, e, &mut out),
            },
        }

        if let Err(e) = (&*stream).write_all(&out) {
            if net::is_timeout(&e) {
                shared
                    .counters
                    .write_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "server {}: dropping link from {peer}: it has not read its replies for {} ms (write_timeout_ms)",
                    shared.addr,
                    config.write_timeout_ms
                );
            }
            break;
        }
        if stop_after_reply {
            request_stop(shared);
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// The hot path: one atomic add and an ack. The client's count is compared
/// with ours so a lost or duplicated update is noticed at once.
fn apply_update(
    shared: &Shared,
    store: &Store,
    state: &mut LinkState,
    key: &str,
    count: u64,
    peer: SocketAddr,
    out: &mut Vec<u8>,
) -> Result<()> {
    let counter = match &state.counter {
        Some(counter) if state.key == key => counter,
        _ => {
            let counter = store.counter(key)?;
            state.key.clear();
            state.key.push_str(key);
            state.counter.insert(counter)
        }
    };
    let ours = counter.fetch_add(1, Ordering::AcqRel) + 1;
    if ours != count {
        shared.counters.anomalies.fetch_add(1, Ordering::Relaxed);
        log::warn!(
            "server {}: anomaly on key {key} from {peer}: client says update #{count}, server counts #{ours}",
            shared.addr
        );
    }
    protocol::encode_ack(out, ours);
    Ok(())
}

fn protocol_error(shared: &Shared, peer: SocketAddr, e: ParseError, out: &mut Vec<u8>) {
    shared
        .counters
        .protocol_errors
        .fetch_add(1, Ordering::Relaxed);
    log::warn!("server {}: bad line from {peer}: {e}", shared.addr);
    protocol::encode_err(out, e.code(), e.detail());
}

/// Answers an operations command. Returns true when the server must stop
/// once the reply is written.
fn answer_ops(
    shared: &Shared,
    store: &Store,
    state: &mut LinkState,
    request: Request<'_>,
    peer: SocketAddr,
    out: &mut Vec<u8>,
) -> bool {
    let privileged = matches!(request, Request::Dump | Request::Stop);
    if privileged && !state.authorized {
        shared
            .counters
            .auth_failures
            .fetch_add(1, Ordering::Relaxed);
        log::warn!(
            "server {}: refused a privileged command from {peer}: not authorized",
            shared.addr
        );
        protocol::encode_err(out, "unauthorized", "send auth;<ops_token> first");
        return false;
    }
    match request {
        Request::Ping => out.extend_from_slice(b"pong\n"),
        Request::Stats => {
            let json = serde_json::to_string(&stats(shared, store)).unwrap_or_default();
            protocol::encode_ok(out, &json);
        }
        Request::Dump => match store.dump() {
            Ok(keys) => {
                let dump = ServerDump {
                    server: shared.addr.to_string(),
                    total: keys.iter().map(|(_, n)| n).sum(),
                    keys: keys.into_iter().map(|(k, n)| (k.into(), n)).collect(),
                };
                protocol::encode_ok(out, &serde_json::to_string(&dump).unwrap_or_default());
            }
            Err(e) => protocol::encode_err(out, "stopping", &e.to_string()),
        },
        Request::Config => {
            let json = serde_json::to_string(&*shared.config).unwrap_or_default();
            protocol::encode_ok(out, &json);
        }
        Request::Auth { token } => {
            if constant_time_eq(token.as_bytes(), shared.config.ops_token.as_bytes()) {
                state.authorized = true;
                protocol::encode_ok(out, "{\"auth\":true}");
            } else {
                shared
                    .counters
                    .auth_failures
                    .fetch_add(1, Ordering::Relaxed);
                log::warn!("server {}: wrong operations token from {peer}", shared.addr);
                protocol::encode_err(out, "unauthorized", "wrong token");
            }
        }
        Request::Stop => {
            log::info!("server {}: stop requested by {peer}", shared.addr);
            out.extend_from_slice(b"bye\n");
            return true;
        }
        // serve_link sends updates to apply_update; nothing to answer here.
        Request::Update { .. } => {}
    }
    false
}

/// Compares two byte strings in time that depends only on their lengths, so
/// a wrong token's reply time says nothing about how much of it was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn stats(shared: &Shared, store: &Store) -> ServerStats {
    let c = &shared.counters;
    let store_stats = store.stats().unwrap_or_default();
    ServerStats {
        server: shared.addr.to_string(),
        links: shared.links.lock().len() as u64,
        links_accepted: c.links_accepted.load(Ordering::Relaxed),
        links_refused: c.links_refused.load(Ordering::Relaxed),
        updates: store_stats.updates,
        updates_per_s: store_stats.updates_per_s,
        keys: store_stats.keys,
        anomalies: c.anomalies.load(Ordering::Relaxed),
        protocol_errors: c.protocol_errors.load(Ordering::Relaxed),
        idle_closed: c.idle_closed.load(Ordering::Relaxed),
        write_timeouts: c.write_timeouts.load(Ordering::Relaxed),
        auth_failures: c.auth_failures.load(Ordering::Relaxed),
        uptime_s: shared.started.elapsed().as_secs_f64(),
        process: procstat::own(),
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
