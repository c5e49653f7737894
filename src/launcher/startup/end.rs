//! The stop and verify phases: the clients stop and say what they acked,
//! then every server is read (this host's once the other hosts' links have
//! left them: hosts.rs) and this host's are stopped.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Stage;
use super::plan::Plan;
use crate::launcher::dashboard::Dashboard;
use crate::launcher::hosts;
use crate::launcher::monitor::Monitor;
use crate::launcher::record::Phase;
use crate::launcher::report::ServerSide;
use crate::messages::ClientReport;

/// The stop phase: the dashboard's server polls end first (the drain
/// counts the links on the servers), then every client stops and hands in
/// its final report.
pub(super) fn stop_clients(
    run: &mut Monitor,
    stage: &mut Stage,
    dashboard: Option<&mut Dashboard>,
) -> Vec<ClientReport> {
    if let Some(d) = dashboard {
        d.stop_polls();
    }
    let clients = stage.fleet.clients.len();
    run.feed()
        .announce(Phase::Stopping, format!("stopping {clients} clients"));
    let finals = run.stop_clients(&mut stage.fleet, &stage.events, &stage.interrupts);
    log::info!("{} clients reported", finals.len());
    finals
}

/// The verify phase's reading: every server's counts, then this host's
/// servers stop. `clients` is when the clients started and the other
/// hosts' servers that did not answer before then.
pub(super) fn read_servers(
    plan: &Plan,
    run: &mut Monitor,
    stage: &mut Stage,
    finals: &[ClientReport],
    clients: (Instant, &[SocketAddr]),
) -> ServerSide {
    run.feed().announce(
        Phase::Verifying,
        "reading the servers' counts and verifying",
    );
    let keys: Vec<_> = finals.iter().flat_map(|r| r.keys.iter().cloned()).collect();
    let end = hosts::read_servers(
        &plan.config,
        &plan.local,
        &keys,
        clients,
        plan.drain_timeout,
        plan.quiet,
        &stage.interrupts,
    );
    let servers = &mut stage.fleet.servers;
    for server in servers.iter_mut() {
        server.close_stdin();
    }
    let stop_timeout = Duration::from_millis(plan.config.stop_timeout_ms);
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
    ServerSide {
        end,
        ran: servers.len(),
    }
}
