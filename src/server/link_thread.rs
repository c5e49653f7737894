//! How the threads engine waits for one server link: on its own thread,
//! blocked in `read` for a line, in the store thread's answer for a new
//! key's counter, and in `write` for the reply to be taken. What the link
//! does with each line is [`ServerLink`]'s, the same for every engine.
//!
//! Two deadlines bound what one peer can hold: `idle_timeout_ms` for each
//! line to arrive whole (a peer that dribbles a byte a second is closed like
//! a silent one) and `write_timeout_ms` for each reply to be taken whole.
//! Both are socket timeouts armed once per link and shortened only while a
//! line or a reply is half done, so the hot path pays no system call for them.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use super::link::{Handled, ServerLink};
use super::store::Store;
use super::{Shared, request_stop};
use crate::config::Affinity;
use crate::sys::affinity;
use crate::sys::net;
use crate::wire::framing::LineReader;
use crate::wire::protocol::MAX_LINE;

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
    let mut link = ServerLink::new(shared, peer);
    let idle = config.idle_timeout();
    let write_limit = config.write_timeout();
    let why = match net::tune(stream, idle, write_limit) {
        Ok(()) => serve(shared, store, stream, &mut link, idle, write_limit),
        Err(e) => Some(format!("cannot set up the link: {e}")),
    };
    if let Some(why) = why {
        link.ended(shared, why);
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Serves lines until the link ends; returns why it did, or `None` when
/// that was said already (an idle peer is closed with a line of its own).
fn serve(
    shared: &Shared,
    store: &Store,
    stream: &TcpStream,
    link: &mut ServerLink,
    idle: Duration,
    write_limit: Duration,
) -> Option<String> {
    let mut reader = LineReader::new(stream, MAX_LINE);
    let mut out = Vec::with_capacity(128);
    let links = || shared.links.lock().len() as u64;
    loop {
        out.clear();
        let handled = match reader.read_line_within(idle) {
            Ok(Some(line)) => link.handle(shared, store, &links, line, &mut out),
            Ok(None) => return Some("closed by the peer".into()),
            Err(e) if net::is_timeout(&e) => {
                link.idle_timed_out(shared, idle, &mut out);
                let _ = net::write_all_within(stream, &out, write_limit);
                return None;
            }
            Err(e) => return Some(e.to_string()),
        };
        let stop = match handled {
            Handled::Replied => false,
            Handled::Stop => true,
            // A thread may wait for the store thread's answer.
            Handled::NeedCounter(key) => match store.counter(&key) {
                Ok(counter) => {
                    link.counter_arrived(shared, counter, &mut out);
                    false
                }
                Err(e) => return Some(e.to_string()),
            },
        };
        if let Err(e) = net::write_all_within(stream, &out, write_limit) {
            if net::is_timeout(&e) {
                link.write_timed_out(shared, write_limit);
            }
            return Some(e.to_string());
        }
        if stop {
            request_stop(shared);
            return Some("stopped by an operations stop".into());
        }
    }
}
