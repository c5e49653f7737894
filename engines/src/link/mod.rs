//! What one link does, apart from how it waits: the protocol state of a
//! server's connection ([`server`]) and the bookkeeping of a client's link
//! ([`client`]). Both engines drive these; only their waiting differs (a
//! readiness loop's events and timers, an async task's `await`s), which is
//! the point of the comparison.

pub mod client;
pub mod server;
