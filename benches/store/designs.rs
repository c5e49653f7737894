//! The seven designs under test, each behind the `Design` trait: the seed's
//! `RwLock`, two parking_lot locks, three store-thread messaging designs and
//! the project's own store.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mass_connect::server::store::{Counter, Store};

use crate::{BOUNDED_CAPACITY, MAX_BACKLOG};

/// One way to keep per-key counts.
pub trait Design: Sync + Sized {
    /// What one thread keeps between updates, as a link thread would: its
    /// key, its counter, its channels.
    type Link: Send;
    const NAME: &'static str;

    fn start() -> Self;
    /// Called on the worker thread, before the start barrier.
    fn link(&self, key: &str) -> Self::Link;
    /// Applies one update; the new count when the design gives one back.
    fn update(link: &mut Self::Link) -> Option<u64>;
    /// Whether the design is running away (an unbounded queue growing past
    /// what memory allows); checked every 1024 updates.
    fn overloaded(_link: &Self::Link) -> bool {
        false
    }
    /// Messages queued and not yet applied, for queue-based designs.
    fn backlog(&self) -> Option<usize> {
        None
    }
    /// Stops the design's own threads (every `Link` is gone by now) and
    /// returns every key's count.
    fn finish(self) -> Finished;
}

pub struct Finished {
    pub counts: HashMap<String, u64>,
    /// When the store thread had applied everything and exited.
    pub store_done: Option<Instant>,
}

/// Inserts the key before the start barrier, so the window measures updates,
/// not map growth.
fn preinsert<V>(map: &mut HashMap<String, V>, key: &str, zero: V) {
    map.entry(key.to_owned()).or_insert(zero);
}

pub struct SeedRwLock(Arc<std::sync::RwLock<HashMap<String, String>>>);

impl Design for SeedRwLock {
    type Link = (Arc<std::sync::RwLock<HashMap<String, String>>>, String);
    const NAME: &'static str = "seed-rwlock";

    fn start() -> Self {
        SeedRwLock(Arc::default())
    }
    fn link(&self, key: &str) -> Self::Link {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        preinsert(&mut map, key, "0".to_owned());
        (self.0.clone(), key.to_owned())
    }
    #[inline]
    fn update((map, key): &mut Self::Link) -> Option<u64> {
        // As the Go server did: the whole read-parse-format-store under the
        // one write lock, with a fresh string per update.
        let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
        let value = map.get_mut(key.as_str()).expect("key inserted at setup");
        let n = value.parse::<u64>().expect("the value is a decimal count") + 1;
        *value = n.to_string();
        Some(n)
    }
    fn finish(self) -> Finished {
        let map = std::mem::take(&mut *self.0.write().unwrap_or_else(PoisonError::into_inner));
        let counts = map
            .into_iter()
            .map(|(k, v)| (k, v.parse().expect("the value is a decimal count")))
            .collect();
        Finished {
            counts,
            store_done: None,
        }
    }
}

pub struct PlMutex(Arc<parking_lot::Mutex<HashMap<String, u64>>>);

impl Design for PlMutex {
    type Link = (Arc<parking_lot::Mutex<HashMap<String, u64>>>, String);
    const NAME: &'static str = "pl-mutex";

    fn start() -> Self {
        PlMutex(Arc::default())
    }
    fn link(&self, key: &str) -> Self::Link {
        preinsert(&mut self.0.lock(), key, 0);
        (self.0.clone(), key.to_owned())
    }
    #[inline]
    fn update((map, key): &mut Self::Link) -> Option<u64> {
        let mut map = map.lock();
        let n = map.get_mut(key.as_str()).expect("key inserted at setup");
        *n += 1;
        Some(*n)
    }
    fn finish(self) -> Finished {
        Finished {
            counts: std::mem::take(&mut *self.0.lock()),
            store_done: None,
        }
    }
}

pub struct PlRwLock(Arc<parking_lot::RwLock<HashMap<String, u64>>>);

impl Design for PlRwLock {
    type Link = (Arc<parking_lot::RwLock<HashMap<String, u64>>>, String);
    const NAME: &'static str = "pl-rwlock";

    fn start() -> Self {
        PlRwLock(Arc::default())
    }
    fn link(&self, key: &str) -> Self::Link {
        preinsert(&mut self.0.write(), key, 0);
        (self.0.clone(), key.to_owned())
    }
    #[inline]
    fn update((map, key): &mut Self::Link) -> Option<u64> {
        let mut map = map.write();
        let n = map.get_mut(key.as_str()).expect("key inserted at setup");
        *n += 1;
        Some(*n)
    }
    fn finish(self) -> Finished {
        Finished {
            counts: std::mem::take(&mut *self.0.write()),
            store_done: None,
        }
    }
}

/// The store thread's map update, shared by the three message designs.
fn bump(counts: &mut HashMap<String, u64>, key: &str) -> u64 {
    match counts.get_mut(key) {
        Some(n) => {
            *n += 1;
            *n
        }
        None => {
            counts.insert(key.to_owned(), 1);
            1
        }
    }
}

fn spawn_store_thread<M: Send + 'static>(
    rx: Receiver<M>,
    mut apply: impl FnMut(&mut HashMap<String, u64>, M) + Send + 'static,
) -> thread::JoinHandle<HashMap<String, u64>> {
    thread::Builder::new()
        .name("bench-store".into())
        .spawn(move || {
            let mut counts = HashMap::new();
            // Ends when every sender is dropped: bounded by the messages sent.
            for message in rx {
                apply(&mut counts, message);
            }
            counts
        })
        .expect("cannot start the store thread")
}

/// One message per update, no reply. The message is the key as an
/// `Arc<str>`: the cheapest owned key a link could send (it caches it, as
/// ours caches its counter), so the design is not charged for an allocation.
pub struct StoreThread<const BOUNDED: bool> {
    tx: Sender<Arc<str>>,
    thread: thread::JoinHandle<HashMap<String, u64>>,
}

impl<const BOUNDED: bool> Design for StoreThread<BOUNDED> {
    type Link = (Sender<Arc<str>>, Arc<str>);
    const NAME: &'static str = if BOUNDED {
        "store-thread-bounded"
    } else {
        "store-thread-unbounded"
    };

    fn start() -> Self {
        let (tx, rx) = if BOUNDED {
            crossbeam_channel::bounded(BOUNDED_CAPACITY)
        } else {
            crossbeam_channel::unbounded()
        };
        let thread = spawn_store_thread(rx, |counts, key: Arc<str>| {
            bump(counts, &key);
        });
        StoreThread { tx, thread }
    }
    fn link(&self, key: &str) -> Self::Link {
        (self.tx.clone(), key.into())
    }
    #[inline]
    fn update((tx, key): &mut Self::Link) -> Option<u64> {
        tx.send(key.clone()).expect("the store thread is running");
        None
    }
    fn overloaded((tx, _): &Self::Link) -> bool {
        !BOUNDED && tx.len() > MAX_BACKLOG
    }
    fn backlog(&self) -> Option<usize> {
        Some(self.tx.len())
    }
    fn finish(self) -> Finished {
        drop(self.tx);
        let counts = self.thread.join().expect("the store thread panicked");
        Finished {
            counts,
            store_done: Some(Instant::now()),
        }
    }
}

type ReplyMessage = (Arc<str>, Sender<u64>);

/// One message per update, and the caller waits for the new count on its own
/// reusable `bounded(1)` reply channel: a request/response round trip
/// through the store thread for every update.
pub struct StoreReply {
    tx: Sender<ReplyMessage>,
    thread: thread::JoinHandle<HashMap<String, u64>>,
}

pub struct ReplyLink {
    tx: Sender<ReplyMessage>,
    key: Arc<str>,
    reply_tx: Sender<u64>,
    reply_rx: Receiver<u64>,
}

impl Design for StoreReply {
    type Link = ReplyLink;
    const NAME: &'static str = "store-thread-reply";

    fn start() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = spawn_store_thread(rx, |counts, (key, reply): ReplyMessage| {
            // The caller is blocked on this reply, so it cannot have gone.
            let _ = reply.send(bump(counts, &key));
        });
        StoreReply { tx, thread }
    }
    fn link(&self, key: &str) -> Self::Link {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        ReplyLink {
            tx: self.tx.clone(),
            key: key.into(),
            reply_tx,
            reply_rx,
        }
    }
    #[inline]
    fn update(link: &mut Self::Link) -> Option<u64> {
        link.tx
            .send((link.key.clone(), link.reply_tx.clone()))
            .expect("the store thread is running");
        Some(link.reply_rx.recv().expect("the store thread replies"))
    }
    fn backlog(&self) -> Option<usize> {
        Some(self.tx.len())
    }
    fn finish(self) -> Finished {
        drop(self.tx);
        let counts = self.thread.join().expect("the store thread panicked");
        Finished {
            counts,
            store_done: Some(Instant::now()),
        }
    }
}

/// The project's store, used exactly as a server link thread uses it.
pub struct Ours(Store);

impl Design for Ours {
    type Link = Counter;
    const NAME: &'static str = "ours";

    fn start() -> Self {
        Ours(Store::start().expect("cannot start the store thread"))
    }
    fn link(&self, key: &str) -> Self::Link {
        self.0.counter(key).expect("the store thread is running")
    }
    #[inline]
    fn update(counter: &mut Self::Link) -> Option<u64> {
        Some(counter.fetch_add(1, Ordering::AcqRel) + 1)
    }
    fn finish(self) -> Finished {
        let dump = self.0.dump().expect("the store thread is running");
        // Dropping the last handle stops the store thread; it is detached,
        // so the thread-count check in `run_point` is what proves it went.
        drop(self.0);
        Finished {
            counts: dump.into_iter().map(|(k, n)| (k.into(), n)).collect(),
            store_done: None,
        }
    }
}

pub const DESIGNS: [&str; 7] = [
    SeedRwLock::NAME,
    PlMutex::NAME,
    PlRwLock::NAME,
    StoreThread::<true>::NAME,
    StoreThread::<false>::NAME,
    StoreReply::NAME,
    Ours::NAME,
];
