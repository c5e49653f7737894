//! The verify phase: every server is read (this host's once the other
//! hosts' links have left them: hosts.rs), then this host's stop. The
//! counts are checked against what the clients acked in the report phase,
//! which builds the whole record in one place.

use std::time::Instant;

use super::Stage;
use super::plan::Plan;
use crate::launcher::hosts::{self, EndCounts};
use crate::launcher::monitor::Monitor;
use crate::launcher::record::Phase;
use crate::messages::ClientReport;

/// Reads every server's counts, then stops this host's servers. The
/// clients started at `started`.
pub(super) fn read_servers(
    plan: &Plan,
    run: &mut Monitor,
    stage: &mut Stage,
    finals: &[ClientReport],
    started: Instant,
) -> EndCounts {
    run.feed().announce(
        Phase::Verifying,
        "reading the servers' counts and verifying",
    );
    let keys: Vec<_> = finals.iter().flat_map(|r| r.keys.iter().cloned()).collect();
    let end = hosts::read_servers(
        plan.config,
        &plan.local,
        &keys,
        (started, &stage.not_up_before),
        plan.options.drain_timeout,
        plan.options.watch.quiet,
        &stage.interrupts,
    );
    let servers = &mut stage.fleet.servers;
    for server in servers.iter_mut() {
        server.close_stdin();
    }
    let stop_timeout = plan.config.stop_timeout();
    for (index, server) in servers.iter_mut().enumerate() {
        if !run.server_gone(index) {
            server.reap(stop_timeout);
        }
    }
    log::info!(
        "servers stopped; {} client reports, {} servers down",
        finals.len(),
        end.down.len()
    );
    end
}
