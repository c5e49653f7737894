//! Report assembly: the run report's run-wide figures, from the clients'
//! final reports and what the monitor recorded while the run went on
//! (deaths, restarts, the whole run's histograms, the children's CPU and
//! memory).
//!
//! This is the one part that reads every other part of the monitor, so it
//! is an `impl Monitor` block of its own rather than a struct: it owns no
//! state, only the arithmetic. It runs once, on startup's main thread,
//! after every client has stopped; startup then adds the servers' side
//! (verification, the servers' own figures).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

use super::Monitor;
use crate::launcher::children::Fleet;
use crate::launcher::report::{LinkSpread, RunReport, UnreachedServer};
use crate::messages::ClientReport;
use crate::metrics::Percentiles;

impl Monitor<'_> {
    /// The report's run-wide figures from the clients' final reports.
    pub fn report(&self, finals: &[ClientReport], fleet: &Fleet) -> RunReport {
        let config = &self.options.config;
        let mut r = RunReport {
            target_ops_per_s: self.target,
            links: self.links,
            clients: fleet.clients.len() as u64,
            servers: fleet.servers.len() as u64,
            interval_ms: config.update_intervals,
            schedule: config.schedule.name().to_string(),
            children_died: self.deaths.dead().to_vec(),
            latency_us: Percentiles::of(&self.total.latency),
            lateness_us: Percentiles::of(&self.total.lateness),
            corrected_latency_us: Percentiles::of(&self.total.corrected),
            server_restarts: self.restarts.done().to_vec(),
            stopped_by_ops: self.deaths.stopped_by_ops().to_vec(),
            ..RunReport::default()
        };
        for f in finals {
            let s = &f.status;
            r.sent += s.sent;
            r.acked += s.acked;
            r.late_sends += s.late;
            r.errors += s.errors;
            r.error_kinds.add(&s.error_kinds);
            r.reconnects += s.reconnects;
            r.anomalies += s.anomalies;
            r.unacked += f.keys.iter().map(|k| k.unacked).sum::<u64>();
            r.duration_s += s.elapsed_s;
        }
        if !finals.is_empty() {
            r.duration_s /= finals.len() as f64;
        }
        r.per_link = LinkSpread::of(acked_per_link(finals));
        r.servers_never_reached = never_reached(finals);
        r.links_short_s = self.rounds.short_of_links().as_secs_f64();
        if r.duration_s > 0.0 {
            r.achieved_ops_per_s = r.acked as f64 / r.duration_s;
        }
        if r.target_ops_per_s > 0.0 {
            r.achieved_ratio = r.achieved_ops_per_s / r.target_ops_per_s;
        }
        r.processes = self.resources.processes(r.acked);
        // Every client reported: its own figures cover exactly what it acked.
        if self.deaths.dead().is_empty() {
            let own: Vec<_> = finals.iter().map(|f| f.process).collect();
            r.processes.client.use_own_accounting(&own, r.acked);
        }
        r
    }
}

/// The updates acked on each link. A link is one client's connection to
/// one server, whatever keys its reconnects used.
fn acked_per_link(finals: &[ClientReport]) -> Vec<u64> {
    finals
        .iter()
        .flat_map(|f| {
            let mut by_server: HashMap<SocketAddr, u64> = HashMap::new();
            for k in &f.keys {
                *by_server.entry(k.server).or_insert(0) += k.acked;
            }
            by_server.into_values()
        })
        .collect()
}

/// The servers some links never connected to, with how many and why, from
/// the `down` lists of the clients' final reports.
fn never_reached(finals: &[ClientReport]) -> Vec<UnreachedServer> {
    let mut by_server: BTreeMap<SocketAddr, (u64, BTreeSet<&str>)> = BTreeMap::new();
    for down in finals.iter().flat_map(|f| &f.status.down) {
        let (links, reasons) = by_server.entry(down.server).or_default();
        *links += 1;
        reasons.insert(&down.reason);
    }
    by_server
        .into_iter()
        .map(|(server, (links, reasons))| UnreachedServer {
            server: server.to_string(),
            links,
            reason: reasons.into_iter().collect::<Vec<_>>().join(", "),
        })
        .collect()
}
