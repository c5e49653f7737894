//! Deaths: the children that exited without being asked to, for the
//! report, and which servers and clients are down now. Also the servers an
//! operator stopped (omclient's `stop`), which are down but did not die:
//! such a server says so before it exits, and its exit is then recorded as
//! an operations stop: not counted as a death, and not restarted.
//!
//! [`Deaths`] owns those lists. The other parts ask it before they
//! talk to a child (a dead client is not polled, not asked to stop, not
//! reaped twice) and tell their own state about a death themselves: the
//! monitor's event loop records the death here first, then lets rounds,
//! rows and restarts react.
//!
//! Recording runs on startup's main thread when a proxy thread reports
//! that a child's stdout closed. Reaping the child there waits (up to two
//! seconds) for its exit status; a child whose stdout closed is exiting, so
//! that wait is short, and the report gets how it ended, not a guess.

use std::time::{Duration, Instant};

use crate::launcher::children::Fleet;
use crate::launcher::proxy::Kind;
use crate::launcher::report::{DeadChild, OpsStop};
use crate::launcher::status::StatusLine;

/// Who died during the run, and who is down now.
#[derive(Default)]
pub(super) struct Deaths {
    /// Every death, in order, for the report.
    dead: Vec<DeadChild>,
    /// Servers down now (a restart takes its server off again).
    servers: Vec<usize>,
    /// Clients gone (a client is never restarted).
    clients: Vec<usize>,
    /// Servers that said an operations `stop` from this address is ending
    /// them, until their exit is recorded.
    stopping_by_ops: Vec<(usize, String)>,
    /// Every operations stop, in order, for the report.
    stopped_by_ops: Vec<OpsStop>,
}

impl Deaths {
    /// Server `index` said an operations `stop` from `by` is ending it:
    /// its exit, which follows, is recorded as that stop.
    pub(super) fn stopping_by_ops(&mut self, index: usize, by: String) {
        self.stopping_by_ops.push((index, by));
    }

    /// Child `index` of `kind` is gone (`detail`: what its proxy saw):
    /// reaps it, says so (ending the status line first), and records it.
    /// `started` is the run's clock. Returns true for a death, false for a
    /// server an operations stop ended (down too, but not dead).
    pub(super) fn record(
        &mut self,
        fleet: &mut Fleet,
        kind: Kind,
        index: usize,
        detail: &str,
        started: Instant,
        status: &mut StatusLine,
    ) -> bool {
        let child = match kind {
            Kind::Server => &mut fleet.servers[index],
            Kind::Client => &mut fleet.clients[index],
        };
        let exit = child.reap(Duration::from_secs(2));
        let at_s = started.elapsed().as_secs_f64();
        status.finish();
        let announced = self
            .stopping_by_ops
            .iter()
            .position(|(i, _)| kind == Kind::Server && *i == index)
            .map(|at| self.stopping_by_ops.remove(at).1);
        if let Some(by) = announced {
            eprintln!(
                "startup: {} stopped by an operations stop from {by}",
                child.name
            );
            log::warn!(
                "{} (pid {}) stopped by an operations stop from {by}: it {exit}",
                child.name,
                child.pid
            );
            self.stopped_by_ops.push(OpsStop {
                name: child.name.clone(),
                by,
                at_s,
            });
            self.servers.push(index);
            return false;
        }
        eprintln!(
            "startup: {} (pid {}) died: it {exit} ({detail})",
            child.name, child.pid
        );
        log::error!(
            "{} (pid {}) died: it {exit} ({detail})",
            child.name,
            child.pid
        );
        self.dead.push(DeadChild {
            name: child.name.clone(),
            pid: child.pid,
            status: exit,
            at_s,
        });
        match kind {
            Kind::Server => self.servers.push(index),
            Kind::Client => self.clients.push(index),
        }
        true
    }

    /// Server `index` runs again (restarted).
    pub(super) fn server_back(&mut self, index: usize) {
        self.servers.retain(|i| *i != index);
    }

    /// True if server `index` is down.
    pub(super) fn server_gone(&self, index: usize) -> bool {
        self.servers.contains(&index)
    }

    /// True if client `index` is gone.
    pub(super) fn client_gone(&self, index: usize) -> bool {
        self.clients.contains(&index)
    }

    /// The clients gone.
    pub(super) fn clients(&self) -> &[usize] {
        &self.clients
    }

    /// Every death so far, in order.
    pub(super) fn dead(&self) -> &[DeadChild] {
        &self.dead
    }

    /// Every operations stop so far, in order.
    pub(super) fn stopped_by_ops(&self) -> &[OpsStop] {
        &self.stopped_by_ops
    }
}
