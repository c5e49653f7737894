//! What travels on a byte stream between two programs, and how it is cut
//! into lines.
//!
//! * [`framing`]: newline framing with a bounded line length, zero-copy,
//!   and for a server a deadline per line.
//! * [`protocol`]: the update and operations protocol between clients,
//!   omclient and servers (`update;<key>;<n>` -> `ack;<n>`, `stats`, `dump`,
//!   `stop`), parsed borrowed and encoded without allocating.
//! * [`control`]: the lines startup and its children exchange over their
//!   stdin and stdout (`ready`, `go START [END]`, `status`, `stop`, and the
//!   server's `listening on`).
//!
//! Nothing here touches a socket or a thread: a server, a client, startup
//! and any other engine read and write these formats the same way.

pub mod control;
pub mod framing;
pub mod protocol;
