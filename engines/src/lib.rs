//! mass_connect's comparison engines (issue 15): the same client and server
//! as the product, on two other concurrency models, so that the lesson of
//! threads against event loops and async tasks can be measured here on the
//! same workload, side by side, rather than quoted from elsewhere.
//!
//! * [`evloop`]: a hand-written readiness loop over mio, one loop thread
//!   per core by default, due times in a heap.
//! * [`tokio_rt`]: tokio's multi-thread runtime, one task per link,
//!   `sleep_until` for the schedule.
//! * [`program`]: the four programs' `main`, the product's shells plus
//!   `--threads`.
//! * [`source`]: the clients' `--source IP`, one local address per
//!   process, so one host can hold more links than one address has ports.
//!
//! Everything else is the product's library, reused rather than copied:
//! what a link does apart from waiting (`client::link::ClientLink`,
//! `server::link::ServerLink`, which the product's threads drive too, so
//! the engines differ only in how they wait), framing and both protocols (`mass_connect::wire`), the messages, the
//! histograms, the pacer and the run's window (`client::schedule`), the
//! store, the operations commands (`server::answer_command`), the config,
//! and the programs' shells (`client::program`, `server::program`). So the
//! four programs here (`server-evloop`, `client-evloop`, `server-tokio`,
//! `client-tokio`) take the product's options and speak its wire and
//! control protocols word for word: `startup` runs them when a config names
//! them in `server_app_name` / `client_app_name`, verifies them like the
//! product, and any client mixes with any server. See
//! docs/THREADS_VS_ASYNC.md for what the comparison shows.
//!
//! This package is apart from the product's so that the product's four
//! programs never link mio or tokio.

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod evloop;
pub mod program;
pub mod source;
pub mod tokio_rt;
