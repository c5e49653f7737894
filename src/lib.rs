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
//! The four programs are thin shells in `src/bin/` over these modules:
//!
//! * [`config`]: `config.json`, the seed's keys plus ours, validated strictly.
//! * [`cli`]: the tiny argument parser the programs share.
//! * [`framing`]: newline framing with a bounded line length, zero-copy.
//! * [`protocol`]: the text protocol: parse requests and replies, encode them
//!   without allocating.
//! * [`store`]: the server's store: a store thread owns the key index, links
//!   count on per-key atomics. Why it is split that way is explained there.
//! * [`server`]: acceptor thread, one thread per link, operations commands.
//! * [`schedule`]: fixed-rate, fixed-delay and closed-loop pacing.
//! * [`client`]: a client node, one thread per server link.
//! * [`affinity`]: pinning both ends of a link to one CPU, chosen by the server's port.
//! * [`ops`]: the operations client (`ping`, `stats`, `dump`, `stop`) used
//!   by omclient and startup.
//! * [`omclient`]: the operations commands behind the omclient program.
//! * [`supervisor`]: startup's child processes and the proxy threads that
//!   talk to them.
//! * [`startup`]: one command runs the system on this host and verifies it.
//! * [`hosts`]: many hosts on one config: waiting for the other hosts'
//!   servers, keeping this host's up until every host's links have left.
//! * [`monitor`]: what startup watches during the run: statuses, histograms,
//!   resources, deaths.
//! * [`status`]: the once-a-second status line.
//! * [`samples`]: the soak CSV, one row per sample.
//! * [`verify`]: clients' acked counts against the servers' counts, on one
//!   host and merged across hosts.
//! * [`report`]: the run report, as text and JSON.
//! * [`logging`]: the per-process log file, free when switched off.
//! * [`net`]: socket options, timeouts, OS-limit hints.
//! * [`metrics`]: latency and lateness histograms, one lock-free atomic set per client.
//! * [`procstat`]: CPU, memory, threads and context switches of a process, from the OS.
//! * `windows`: the Win32 calls (process figures, the job object), Windows only.
//! * [`footprint`]: what keeps each process's memory small (one malloc arena).
//! * [`error`]: the crate's error type, which carries context.
//!
//! docs/ARCHITECTURE.md walks through the threads and who wakes whom;
//! docs/PROTOCOL.md is the wire protocol with an `nc` session.

// Unsafe code is confined to OS calls std lacks: `windows.rs` (Win32, compiled on
// Windows only) and single Linux calls in `affinity.rs`, `procstat.rs` and
// `footprint.rs`. Each block says why it is sound.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod affinity;
pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod footprint;
pub mod framing;
pub mod hosts;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod net;
pub mod omclient;
pub mod ops;
pub mod procstat;
pub mod protocol;
pub mod report;
pub mod samples;
pub mod schedule;
pub mod server;
pub mod startup;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod verify;
#[cfg(windows)]
pub mod windows;

pub use config::Config;
pub use error::{Error, Result};
