//! An injected block in the per-update path, for the engines bench's
//! blocking experiment (docs/THREADS_VS_ASYNC.md, "When one link's work
//! blocks"). Off unless its environment variables are set; read once when
//! a server starts (`ServerCore::new`), so a server without them carries a
//! `None` and each update pays one untaken branch on its link's own field.
//!
//! It models a handler that makes a synchronous call while serving one
//! update (a slow disk write, a DNS lookup, a lock held elsewhere): the
//! thread serving the link sleeps, as a blocking call would leave it. It
//! sits in [`ServerLink::apply`](super::link::ServerLink), which every
//! engine calls on the thread that serves the link: a link's own thread
//! (threads), the loop thread that holds it (evloop), the worker running
//! its task (tokio). The store thread is never blocked.
//!
//! * `MASS_CONNECT_BLOCK_EVERY=N`: a slow link blocks on every Nth update
//!   it applies (unset or 0: off).
//! * `MASS_CONNECT_BLOCK_US=1000`: for this many microseconds (default
//!   1000).
//! * `MASS_CONNECT_BLOCK_LINKS=S`: the first S links the server takes are
//!   the slow ones (default: every link). The bench connects one client process
//!   first, so its links are the slow ones and the rest never block.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `N`: a slow link blocks on every Nth update; unset or 0 is off.
pub const EVERY_ENV: &str = "MASS_CONNECT_BLOCK_EVERY";
/// How long each block lasts, in microseconds.
pub const MICROS_ENV: &str = "MASS_CONNECT_BLOCK_US";
/// How many links, the first the server takes, are slow.
pub const LINKS_ENV: &str = "MASS_CONNECT_BLOCK_LINKS";

/// A server's injected block, read once from the environment.
#[derive(Debug)]
pub(crate) struct Block {
    /// How long one block lasts.
    pause: Duration,
    /// Every how many of a slow link's updates it blocks.
    every: u64,
    /// How many links are slow: the first this many to claim.
    links: u64,
    /// Links that have claimed so far (counted up to `links`).
    claimed: AtomicU64,
}

impl Block {
    /// The block the environment asks for; `None` (the default) when
    /// `MASS_CONNECT_BLOCK_EVERY` is unset or 0. A value that is not a
    /// whole number is named on stderr and the block is off.
    pub(crate) fn from_env() -> Option<Block> {
        let read = |name: &str| -> Option<u64> {
            let text = std::env::var(name).ok()?;
            let value = text.trim().parse().ok();
            if value.is_none() {
                eprintln!("{name}={text:?} is not a whole number: no block injected");
            }
            value
        };
        let every = read(EVERY_ENV).filter(|n| *n > 0)?;
        let block = Block {
            pause: Duration::from_micros(read(MICROS_ENV).unwrap_or(1_000)),
            every,
            links: read(LINKS_ENV).unwrap_or(u64::MAX),
            claimed: AtomicU64::new(0),
        };
        eprintln!(
            "server: injecting a {} us block every {every} update(s) of {} ({EVERY_ENV})",
            block.pause.as_micros(),
            if block.links == u64::MAX {
                "every link".to_string()
            } else {
                format!("the first {} link(s)", block.links)
            }
        );
        Some(block)
    }

    /// A new link's countdown if it is one of the slow links, else `None`.
    pub(crate) fn claim(&self) -> Option<Countdown> {
        let n = self.claimed.fetch_add(1, Ordering::Relaxed);
        (n < self.links).then_some(Countdown {
            pause: self.pause,
            every: self.every,
            left: self.every,
        })
    }
}

/// One slow link's count of updates until its next block.
#[derive(Debug)]
pub(crate) struct Countdown {
    pause: Duration,
    every: u64,
    left: u64,
}

impl Countdown {
    /// Counts one update; every `every`th blocks the calling thread.
    pub(crate) fn tick(&mut self) {
        self.left -= 1;
        if self.left == 0 {
            self.left = self.every;
            std::thread::sleep(self.pause);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_links_block_and_only_every_nth_update() {
        let block = Block {
            pause: Duration::from_millis(20),
            every: 3,
            links: 1,
            claimed: AtomicU64::new(0),
        };
        let mut slow = block.claim().expect("the first link is slow");
        assert!(block.claim().is_none(), "the second is not");
        let took = |c: &mut Countdown| {
            let t = std::time::Instant::now();
            c.tick();
            t.elapsed()
        };
        assert!(took(&mut slow) < Duration::from_millis(20));
        assert!(took(&mut slow) < Duration::from_millis(20));
        assert!(took(&mut slow) >= Duration::from_millis(20));
        assert!(took(&mut slow) < Duration::from_millis(20));
    }
}
