//! Server restarts: when a server dies during the run (and the
//! `server_restarts` config key allows it), startup starts it again on the
//! same address after [`RESTART_DELAY`].
//!
//! [`Restarts`] owns the launcher, what each server has left, the restarts
//! waiting for their moment, and the record of those done (for the report,
//! and for the verification: what a client acked to a server that then died
//! died with it).
//!
//! A death is an event on startup's main thread; the restart is not done
//! there and then but queued, and the main thread's once-a-second ticker
//! starts the servers whose moment has come. So the event loop never sleeps
//! for the delay, and the only cost on that thread is spawning the process
//! and its proxy thread, without waiting for the new server to accept: it
//! announces itself with an event like any other.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Monitor;
use crate::launcher::children::{Fleet, ServerLauncher};
use crate::launcher::proxy::Kind;
use crate::launcher::report::ServerRestart;
use crate::launcher::status::StatusLine;

/// How long a dead server stays down before startup restarts it: long
/// enough for its links to notice and for the OS to release its port.
pub(super) const RESTART_DELAY: Duration = Duration::from_secs(1);

/// The run's server restarts: allowed, due and done.
#[derive(Default)]
pub(super) struct Restarts {
    /// Starts a server again when one dies (`None`: restarts are off).
    launcher: Option<ServerLauncher>,
    /// Restarts each server may still have.
    restarts_left: Vec<u32>,
    /// Dead servers waiting for their restart, and when it is due.
    due_restarts: Vec<(usize, Instant)>,
    /// Every restart done, for the report.
    restarts: Vec<ServerRestart>,
    /// The addresses of the servers restarted at least once.
    restarted: BTreeSet<String>,
}

impl Restarts {
    /// Restarts servers that die, each at most `limit` times, with
    /// `launcher` (`None`: never).
    pub(super) fn new(launcher: Option<ServerLauncher>, limit: u32) -> Restarts {
        Restarts {
            restarts_left: vec![limit; launcher.as_ref().map_or(0, |l| l.len())],
            launcher,
            ..Restarts::default()
        }
    }

    /// Server `index` died: queues its restart if it has one left.
    pub(super) fn on_death(&mut self, index: usize) {
        let left = self.restarts_left.get_mut(index);
        if let Some(left) = left.filter(|n| **n > 0) {
            *left -= 1;
            self.due_restarts
                .push((index, Instant::now() + RESTART_DELAY));
            eprintln!(
                "startup: restarting it in {} s ({} restart(s) left after this one)",
                RESTART_DELAY.as_secs(),
                left
            );
        }
    }

    /// Starts the dead servers whose restart is due, each in its old place
    /// in `fleet`. Returns the index and new pid of each server started, for
    /// the monitor to track; `started` is the run's clock, `status` the line
    /// to end before saying so.
    pub(super) fn restart_due(
        &mut self,
        fleet: &mut Fleet,
        started: Instant,
        status: &mut StatusLine,
    ) -> Vec<(usize, u32)> {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) =
            self.due_restarts.iter().partition(|(_, at)| *at <= now);
        self.due_restarts = later;
        let mut restarted_now = Vec::new();
        let Some(launcher) = &self.launcher else {
            return restarted_now;
        };
        for (index, _) in due {
            let old_pid = fleet.servers[index].pid;
            match launcher.spawn(index) {
                Ok(child) => {
                    status.finish();
                    eprintln!(
                        "startup: restarted {} (pid {old_pid} -> {})",
                        child.name, child.pid
                    );
                    log::warn!("restarted {} (pid {old_pid} -> {})", child.name, child.pid);
                    self.restarts.push(ServerRestart {
                        name: child.name.clone(),
                        old_pid,
                        new_pid: child.pid,
                        at_s: started.elapsed().as_secs_f64(),
                    });
                    restarted_now.push((index, child.pid));
                    self.restarted.insert(launcher.addr(index).to_string());
                    fleet.replace_server(index, child);
                }
                Err(e) => eprintln!("startup: {e}"),
            }
        }
        restarted_now
    }

    /// Every restart done, in order.
    pub(super) fn done(&self) -> &[ServerRestart] {
        &self.restarts
    }

    /// The addresses of servers that were restarted.
    pub(super) fn restarted_servers(&self) -> Vec<String> {
        self.restarted.iter().cloned().collect()
    }
}

impl Monitor<'_> {
    /// Starts the dead servers whose restart is due (the watch's ticker
    /// asks each second), and tracks them.
    pub(super) fn restart_due(&mut self, fleet: &mut Fleet) {
        let (started, status) = (self.started, &mut self.status);
        for (index, pid) in self.restarts.restart_due(fleet, started, status) {
            self.resources.track(Kind::Server, pid);
            self.deaths.server_back(index);
        }
    }
}
