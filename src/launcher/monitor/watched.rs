//! What the monitor saw, handed to the report (`report::assemble`) as
//! plain data once the clients have stopped.

use super::Monitor;
use crate::launcher::report::Watched;
use crate::messages::ClientReport;
use crate::metrics::Percentiles;

impl Monitor<'_> {
    /// What the monitor saw, for the report: `finals` are the clients'
    /// final reports (the acked updates the CPU per update divides by when
    /// no sample counted them).
    pub(crate) fn watched(&self, finals: &[ClientReport]) -> Watched {
        let acked = finals.iter().map(|f| f.status.acked).sum();
        Watched {
            children_died: self.deaths.dead().to_vec(),
            server_restarts: self.restarts.done().to_vec(),
            restarted: self.restarts.restarted_servers(),
            stopped_by_ops: self.deaths.stopped_by_ops().to_vec(),
            latency_us: [
                Percentiles::of(&self.total.latency),
                Percentiles::of(&self.total.lateness),
                Percentiles::of(&self.total.corrected),
            ],
            links_short_s: self.rounds.short_of_links().as_secs_f64(),
            connect_s: self.connected.0,
            links_up_at_go: self.connected.1,
            processes: self.resources.processes(acked),
            interrupted: self.interrupted,
        }
    }
}
