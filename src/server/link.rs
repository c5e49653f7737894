//! One link thread of a server: read a line, apply it, answer, repeat.
//!
//! The hot path is here: per update the line is parsed in place (borrowed,
//! no allocation), one `fetch_add` is made on the key's counter (a counter
//! only this link writes: no lock, no wakeup of another thread), and the ack
//! is written from a reused buffer. The store thread is asked only when the
//! link's key first appears. Operations commands on the same connection are
//! handed to `operations`.
//!
//! Two deadlines bound what one peer can hold: `idle_timeout_ms` for each
//! line to arrive whole (a peer that dribbles a byte a second is closed like
//! a silent one) and `write_timeout_ms` for each reply to be taken whole.
//! Both are socket timeouts armed once per link and shortened only while a
//! line or a reply is half done, so the hot path pays no system call for them.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::operations::answer_ops;
use super::{Shared, request_stop};
use crate::config::Affinity;
use crate::error::Result;
use crate::server::store::{Counter, Store};
use crate::sys::affinity;
use crate::sys::net;
use crate::wire::framing::{Line, LineReader};
use crate::wire::protocol::{self, MAX_LINE, ParseError, Request};

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
pub(super) fn serve_link(shared: &Shared, store: &Store, stream: &TcpStream, peer: SocketAddr) {
    let config = &shared.config;
    // No lowering: a server's link thread runs at the normal rank, above the
    // load generator (see `affinity`).
    if config.cpu_affinity == Affinity::ByServer {
        affinity::pin_current_thread(affinity::cpu_for_port(
            &config.server_port_list,
            shared.addr.port(),
        ));
    }
    let idle = Duration::from_millis(config.idle_timeout_ms);
    let write_limit = Duration::from_millis(config.write_timeout_ms);
    if let Err(e) = net::tune(stream, idle, write_limit) {
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
        let line = match reader.read_line_within(idle) {
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
                    "server {}: closing link from {peer}: no complete line within {} ms (idle_timeout_ms)",
                    shared.addr,
                    config.idle_timeout_ms
                );
                out.clear();
                protocol::encode_err(
                    &mut out,
                    "idle_timeout",
                    "no complete line within idle_timeout_ms",
                );
                let _ = net::write_all_within(stream, &out, write_limit);
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
                    stop_after_reply = answer_ops(
                        shared,
                        store,
                        &mut state.authorized,
                        request,
                        peer,
                        &mut out,
                    );
                }
                Err(e) => protocol_error(shared, peer, e, &mut out),
            },
        }

        if let Err(e) = net::write_all_within(stream, &out, write_limit) {
            if net::is_timeout(&e) {
                shared
                    .counters
                    .write_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "server {}: dropping link from {peer}: it did not take a reply within {} ms (write_timeout_ms)",
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
    log::trace!(
        "server {}: answered {peer}: {}",
        shared.addr,
        String::from_utf8_lossy(out).trim_end()
    );
}
