//! The operations commands a server answers (`ping`, `stats`, `dump`,
//! `stop`, `auth`): rare requests, so they may allocate, ask the store
//! thread and format JSON. `stop` and `dump` need the `ops_token` when one
//! is set; the token is compared in constant time (`crate::access`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::{Counters, ServerCore, Shared};
use crate::access;
use crate::messages::{ServerDump, ServerStats};
use crate::server::store::Store;
use crate::sys::procstat;
use crate::wire::protocol::{self, Request};

/// Answers an operations command for any engine: `links` counts the links
/// open now (for `stats`), `authorized` is the connection's `auth` state.
/// Appends the reply to `out`; returns true when the server must stop once
/// the reply is written (the caller stops it its own way). `stats` and
/// `dump` wait for the store thread's answer.
pub fn answer(
    shared: &ServerCore,
    store: &Store,
    links: &dyn Fn() -> u64,
    authorized: &mut bool,
    request: Request<'_>,
    peer: SocketAddr,
    out: &mut Vec<u8>,
) -> bool {
    let privileged = matches!(request, Request::Dump | Request::Stop);
    if privileged && !*authorized {
        Counters::bump(&shared.counters.auth_failures);
        log::warn!(
            "server {}: refused a privileged command from {peer}: not authorized",
            shared.addr
        );
        protocol::encode_err(out, "unauthorized", "send auth;<ops_token> first");
        return false;
    }
    log::debug!(
        "server {}: answering {} from {peer}",
        shared.addr,
        if let Request::Auth { .. } = request {
            "Auth (token not shown)".into()
        } else {
            format!("{request:?}")
        }
    );
    match request {
        Request::Ping => out.extend_from_slice(b"pong\n"),
        Request::Stats => {
            let json = serde_json::to_string(&stats_of(shared, store, links())).unwrap_or_default();
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
            if access::token_matches(token.as_bytes(), shared.config.ops_token.as_bytes()) {
                *authorized = true;
                protocol::encode_ok(out, "{\"auth\":true}");
            } else {
                Counters::bump(&shared.counters.auth_failures);
                log::warn!("server {}: wrong operations token from {peer}", shared.addr);
                protocol::encode_err(out, "unauthorized", "wrong token");
            }
        }
        Request::Stop => {
            log::info!("server {}: stop requested by {peer}", shared.addr);
            // Only the stop that stops the server is named: one arriving
            // while another stop (startup's, say) is under way is not.
            if !shared.stopping.load(Ordering::Acquire) {
                shared.stopped_by.lock().get_or_insert(peer);
            }
            out.extend_from_slice(b"bye\n");
            return true;
        }
        // Links apply updates themselves; nothing to answer here.
        Request::Update { .. } => {}
    }
    false
}

pub(super) fn stats(shared: &Shared, store: &Store) -> ServerStats {
    stats_of(shared, store, shared.links.lock().len() as u64)
}

/// A server's `stats` answer: its counters, the store's totals, `links`
/// open now and the process's own figures.
pub fn stats_of(shared: &ServerCore, store: &Store, links: u64) -> ServerStats {
    let c = &shared.counters;
    let store_stats = store.stats().unwrap_or_default();
    ServerStats {
        server: shared.addr.to_string(),
        links,
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
