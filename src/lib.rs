//! mass_connect: a TCP client+server system for mass concurrent connections,
//! rebuilt in Rust on the seed's own model: synchronous std threads, blocking
//! `std::net` sockets, one OS thread per link, channels to a store thread.
//!
//! N client nodes each open one TCP link to each of M server nodes. Every
//! link sends `update;<its local IP:PORT>;<count>` on a fixed schedule; the
//! server adds one to its own count for that key and acks with it, so a lost
//! or doubled update shows at once and again when startup verifies the run.
//!
//! # Layout
//!
//! The four programs are thin shells in `src/bin/` over these rooms, each a
//! folder by role (its `mod.rs` is the room's map) or a file of its own:
//!
//! * [`config`]: `config.json`, the seed's keys plus ours, validated strictly;
//!   which servers run on which host.
//! * [`messages`]: the plain data that crosses a process boundary (client
//!   status and report, server stats and dump, a host's final counts).
//! * [`wire`]: what travels on a stream: line framing, the update and
//!   operations protocol, and startup's control protocol with its children.
//! * [`server`]: a server node: acceptor thread, one thread per link, the
//!   store thread; and one link's rules, whatever engine waits for it.
//! * [`client`]: a client node: one thread per server link, the schedule
//!   that paces it; and one link's rules, whatever engine waits for it.
//! * [`metrics`]: latency and lateness histograms, one lock-free set per
//!   client, taken into snapshots and percentiles.
//! * [`verify`]: did every acked update arrive exactly once? Clients' acked
//!   counts against the servers' own, on one host or merged across hosts.
//! * [`launcher`]: the `startup` program: children, many hosts, the watch,
//!   the run's record and its report, the dashboard and `/metrics` for
//!   Prometheus.
//! * [`ops`]: the operations client and the `omclient` program.
//! * [`sys`]: everything that talks to the OS (process figures, affinity and
//!   priority, the malloc arena, socket options); the only room with `unsafe`.
//!   `/proc` and the OS limits it reads through the workspace's `hostinfo`
//!   crate, which the benches share.
//! * [`access`]: who may reach an operations surface: loopback, or the
//!   `ops_token`, compared in constant time.
//! * [`cli`]: the tiny argument parser the programs share, `--version`,
//!   `HOST:PORT` addresses and durations with their units included.
//! * [`suggest`]: "did you mean", for config keys and omclient commands.
//! * [`logging`]: one log folder per run, a capped file per process with
//!   UTC times; free when switched off.
//! * [`error`]: the crate's error type, which carries context.
//! * [`utc`]: ISO 8601 UTC timestamps for reports and logs.
//!
//! Imports run one way, from the top down: `launcher` (which uses `ops`),
//! then `ops`, `server` and `client`; under them `cli`, `logging` and
//! `config`; then `sys`, `metrics` and `verify`; then `wire`; and at the
//! bottom `messages`, `error`, `access`, `suggest` and `utc`, which import
//! nothing of the crate. No room imports one that imports it back.
//!
//! [`client::link`] and [`server::link`] hold what one link does whatever
//! waits for it; the threads here and the workspace's event-loop and tokio
//! engines all drive them, so the engines differ only in how they wait.
//!
//! docs/ARCHITECTURE.md walks through the threads and who wakes whom;
//! docs/PROTOCOL.md is the wire protocol with an `nc` session.

// Unsafe code is confined to `sys`, the room that makes OS calls std lacks;
// each block there says why it is sound.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod access;
pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod launcher;
pub mod logging;
pub mod messages;
pub mod metrics;
pub mod ops;
pub mod server;
pub mod suggest;
pub mod sys;
pub mod utc;
pub mod verify;
pub mod wire;

pub use config::Config;
pub use error::{Error, Result};
