//! The stop phase: the clients stop and hand in what they acked.

use super::Stage;
use crate::launcher::monitor::Monitor;
use crate::launcher::record::Phase;
use crate::messages::ClientReport;

/// The stop phase: the dashboard's server polls end first (the drain
/// counts the links on the servers), then every client stops and hands in
/// its final report.
pub(super) fn clients(run: &mut Monitor, stage: &mut Stage) -> Vec<ClientReport> {
    if let Some(d) = &mut stage.dashboard {
        d.stop_polls();
    }
    let clients = stage.fleet.clients.len();
    run.feed()
        .announce(Phase::Stopping, format!("stopping {clients} clients"));
    let finals = run.stop_clients(&mut stage.fleet, &stage.events, &stage.interrupts);
    log::info!("{} clients reported", finals.len());
    finals
}
