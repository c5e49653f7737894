//! The server's key-value store: a store thread that owns the index, and one
//! atomic counter per key that the link threads update directly.
//!
//! **Structure** goes through the store thread: creating a key, listing all
//! keys (`dump`), totals and the updates/s sampler (`stats`). These come
//! once per link or per operator command, and one owner means no lock
//! around the map. **Counting** happens on the link thread: the store hands
//! each link a [`Counter`] (an `Arc<AtomicU64>`) for its key, and an update
//! is one `fetch_add` on memory no other link writes: no lock, no channel,
//! no wakeup. Why not one message per update (at the seed's scale the store
//! thread is one runnable thread among a thousand, and the whole server
//! would wait for it): docs/DECISIONS.md, "The store: no message per update".
//!
//! A link thread may wait for the store's answer; an engine whose thread
//! serves many links must not, so [`Store::counter_then`] has the store
//! thread hand the counter to a callback that wakes the asker its own way.
//!
//! The ack is written after the `fetch_add`, and `dump` reads every counter
//! with `Acquire` after the request arrives, so an acked update is visible
//! to any query issued after the ack was received.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde::Serialize;

use crate::error::{Context, Error, Result};

/// One key's count. Shared between the store's index and the link thread
/// that updates it.
pub type Counter = Arc<AtomicU64>;

/// A handle to the store. Cheap to clone: every link thread holds one.
#[derive(Clone)]
pub struct Store {
    tx: Sender<Message>,
}

/// What the store thread is asked to do. Each request carries its own reply
/// channel, so the caller blocks only on its own answer.
enum Message {
    /// Find or create the counter for a key.
    Counter {
        key: Box<str>,
        reply: Sender<Counter>,
    },
    /// The same, answered by calling `then` on the store thread.
    CounterThen { key: Box<str>, then: Then },
    /// Every key and count, sorted by key.
    Dump { reply: Sender<Vec<(Box<str>, u64)>> },
    /// Totals and the recent update rate.
    Stats { reply: Sender<StoreStats> },
}

/// What [`Store::counter_then`] runs on the store thread with the counter.
type Then = Box<dyn FnOnce(Counter) + Send>;

/// Totals as the store thread sees them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct StoreStats {
    /// Distinct keys ever updated.
    pub(crate) keys: u64,
    /// Sum of all counts: every update ever applied.
    pub(crate) updates: u64,
    /// Updates applied over the last full second.
    pub(crate) updates_per_s: f64,
}

impl Store {
    /// Starts the store thread. It stops by itself when every `Store` handle
    /// (held by the server and its link threads) has been dropped.
    ///
    /// # Errors
    /// When the OS cannot start one more thread.
    pub fn start() -> Result<Store> {
        let (tx, rx) = crossbeam_channel::unbounded();
        thread::Builder::new()
            .name("store".into())
            .spawn(move || run(rx))
            .context("cannot start the store thread")?;
        Ok(Store { tx })
    }

    /// The counter for `key`, created at zero on first use.
    ///
    /// # Errors
    /// Only if the store thread has gone, which means the server is stopping.
    pub fn counter(&self, key: &str) -> Result<Counter> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.request(Message::Counter {
            key: key.into(),
            reply,
        })?;
        rx.recv().map_err(|_| stopped())
    }

    /// Asks for the counter of `key` without waiting: the store thread calls
    /// `then` with it. `then` runs on the store thread, so it must only hand
    /// the counter over (push it to a queue, wake the asker), never block.
    ///
    /// # Errors
    /// Only if the store thread has gone, which means the server is stopping.
    pub fn counter_then(
        &self,
        key: &str,
        then: impl FnOnce(Counter) + Send + 'static,
    ) -> Result<()> {
        self.request(Message::CounterThen {
            key: key.into(),
            then: Box::new(then),
        })
    }

    /// Every key and its count, sorted by key.
    pub fn dump(&self) -> Result<Vec<(Box<str>, u64)>> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.request(Message::Dump { reply })?;
        rx.recv().map_err(|_| stopped())
    }

    /// Totals and the update rate over the last second.
    pub(crate) fn stats(&self) -> Result<StoreStats> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.request(Message::Stats { reply })?;
        rx.recv().map_err(|_| stopped())
    }

    fn request(&self, message: Message) -> Result<()> {
        self.tx.send(message).map_err(|_| stopped())
    }
}

fn stopped() -> Error {
    Error::msg("the store has stopped")
}

/// The store thread: owns the index, answers requests, and once a second
/// samples the total to know the recent rate.
fn run(rx: Receiver<Message>) {
    let mut index: HashMap<Box<str>, Counter> = HashMap::new();
    let mut last_total = 0u64;
    let mut rate = 0.0;
    let mut next_sample = Instant::now() + Duration::from_secs(1);
    let mut last_sample = Instant::now();

    loop {
        match rx.recv_deadline(next_sample) {
            Ok(Message::Counter { key, reply }) => {
                let counter = index.entry(key).or_default().clone();
                let _ = reply.send(counter);
            }
            Ok(Message::CounterThen { key, then }) => {
                then(index.entry(key).or_default().clone());
            }
            Ok(Message::Dump { reply }) => {
                let mut all: Vec<(Box<str>, u64)> = index
                    .iter()
                    .map(|(k, c)| (k.clone(), c.load(Ordering::Acquire)))
                    .collect();
                all.sort_unstable();
                let _ = reply.send(all);
            }
            Ok(Message::Stats { reply }) => {
                let _ = reply.send(StoreStats {
                    keys: index.len() as u64,
                    updates: total(&index),
                    updates_per_s: rate,
                });
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                let t = total(&index);
                rate = (t - last_total) as f64 / (now - last_sample).as_secs_f64();
                last_total = t;
                last_sample = now;
                next_sample = now + Duration::from_secs(1);
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn total(index: &HashMap<Box<str>, Counter>) -> u64 {
    index.values().map(|c| c.load(Ordering::Acquire)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_one_counter_however_asked_and_dump_is_sorted() {
        let store = Store::start().unwrap();
        let a = store.counter("b:1").unwrap();
        assert!(Arc::ptr_eq(&a, &store.counter("b:1").unwrap()));
        // Asked without waiting, the same key gets the same counter too.
        let (tx, rx) = crossbeam_channel::bounded(1);
        let handed = move |c| tx.send(c).unwrap();
        store.counter_then("b:1", handed).unwrap();
        assert!(Arc::ptr_eq(&a, &rx.recv().unwrap()));
        a.fetch_add(3, Ordering::AcqRel);
        store.counter("a:1").unwrap().fetch_add(1, Ordering::AcqRel);
        let dump = store.dump().unwrap();
        assert_eq!(dump, vec![("a:1".into(), 1), ("b:1".into(), 3)]);
        let stats = store.stats().unwrap();
        assert_eq!((stats.keys, stats.updates), (2, 4));
    }

    #[test]
    fn concurrent_links_lose_nothing() {
        let store = Store::start().unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                thread::spawn(move || {
                    let c = store.counter(&format!("k{}", i % 4)).unwrap();
                    for _ in 0..10_000 {
                        c.fetch_add(1, Ordering::AcqRel);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let dump = store.dump().unwrap();
        assert_eq!(dump.len(), 4);
        assert!(dump.iter().all(|(_, n)| *n == 20_000));
    }
}
