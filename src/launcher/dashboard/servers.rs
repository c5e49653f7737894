//! The servers table: this host's servers' `stats`, asked on a thread of
//! the dashboard's own, every [`EVERY`] while a page is open.
//!
//! startup does not otherwise ask its servers anything while the clients
//! run. Each poll is one short operations connection per server (as
//! `omclient stats` makes), at once (`ops::connection::ask_each`): one
//! accept and one thread start on each server, a `stats` answered by its
//! store thread, one line of JSON back. No page open, no poll. The polls
//! stop before startup stops the clients, so they never overlap the drain
//! or the final reads (which count the links left on each server).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::http::Watch;
use crate::launcher::record::{Msg, ServerRow, Update};
use crate::messages::ServerStats;
use crate::ops::connection;

/// How often the servers are asked while a page is open.
pub(crate) const EVERY: Duration = Duration::from_secs(5);

/// How often the poller looks whether a page is open (and a poll is due).
const LOOK: Duration = Duration::from_secs(1);

/// The poller thread, until it is stopped.
pub(super) struct Poller {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

/// What the poller asks, and whom it tells.
pub(super) struct Polling {
    pub(super) servers: Vec<SocketAddr>,
    pub(super) token: String,
    /// How long one question may take.
    pub(super) timeout: Duration,
    pub(super) updates: Sender<Msg>,
    pub(super) watch: Arc<Watch>,
    pub(super) since: Instant,
}

impl Poller {
    /// Starts polling. Failing to start a thread costs only the table.
    pub(super) fn start(polling: Polling) -> Option<Poller> {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("dashboard servers".into())
            .spawn(move || polling.run(&stopped))
            .map_err(|e| log::warn!("dashboard: no servers table: {e}"))
            .ok()?;
        Some(Poller {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops polling and waits for a poll under way (at most one timeout).
    pub(super) fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Polling {
    fn run(self, stopped: &Receiver<()>) {
        // Like the HTTP thread: at the background rank, below startup's main
        // thread.
        crate::sys::affinity::lower_current_thread_priority();
        let mut last: Option<Instant> = None;
        loop {
            match stopped.recv_timeout(LOOK) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            let due = last.is_none_or(|t| t.elapsed() >= EVERY);
            if !due || !self.watch.is_watched(self.since) {
                continue;
            }
            last = Some(Instant::now());
            let answers =
                connection::ask_each(&self.servers, &self.token, self.timeout, |c| c.stats());
            let rows = self
                .servers
                .iter()
                .zip(answers)
                .map(|(addr, answer)| row(*addr, answer))
                .collect();
            if self
                .updates
                .send(Msg::Update(Update::Servers(Instant::now(), rows)))
                .is_err()
            {
                return;
            }
        }
    }
}

/// One server's row from its answer.
fn row(addr: SocketAddr, answer: crate::error::Result<ServerStats>) -> ServerRow {
    match answer {
        Ok(s) => ServerRow {
            server: addr.to_string(),
            up: true,
            // The asking connection is one of the links it counts.
            links: s.links.saturating_sub(1),
            updates: s.updates,
            updates_per_s: s.updates_per_s,
            anomalies: s.anomalies,
            error: String::new(),
        },
        Err(e) => ServerRow {
            server: addr.to_string(),
            up: false,
            error: e.to_string(),
            ..ServerRow::default()
        },
    }
}
