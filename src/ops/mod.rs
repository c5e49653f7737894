//! Operations: looking inside running servers and stopping them.
//!
//! * [`connection`]: one operations connection to a server (`ping`,
//!   `stats`, `dump`, `stop`), and asking many servers at once; startup's
//!   end-of-run reads use it too.
//! * [`omclient`]: the commands behind the omclient program, one-shot or at
//!   the seed's interactive prompt, and `verify --reports`.

pub mod connection;
pub mod omclient;
