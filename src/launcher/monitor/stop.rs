//! The stop: every live client is asked to stop, and its final report
//! (what it acked on each key) is awaited, at most `stop_timeout_ms`;
//! then the clients exit, and one that does not is killed.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use super::Monitor;
use crate::launcher::children::{Fleet, reap_together};
use crate::launcher::proxy::{Event, Kind, ToClient};
use crate::messages::ClientReport;

impl Monitor<'_> {
    /// Asks every live client to stop and waits for their final reports.
    pub(crate) fn stop_clients(
        &mut self,
        fleet: &mut Fleet,
        events: &Receiver<Event>,
        interrupts: &Receiver<()>,
    ) -> Vec<ClientReport> {
        let timeout = self.options.config.stop_timeout();
        let deadline = crossbeam_channel::at(Instant::now() + timeout);
        let mut waiting: Vec<usize> = (0..fleet.clients.len())
            .filter(|&i| !self.deaths.client_gone(i))
            .collect();
        for &i in &waiting {
            fleet.clients[i].request(ToClient::Stop);
        }
        let mut finals = Vec::new();
        while !waiting.is_empty() {
            select! {
                recv(events) -> event => match event {
                    Ok(Event::ClientFinal { index, report }) => {
                        waiting.retain(|i| *i != index);
                        // The final totals close the last CSV row.
                        self.rounds.set_final(index, report.status.clone());
                        if let Some(rest) = report.histograms.decode() {
                            self.total.add(&rest);
                        }
                        finals.push(*report);
                    }
                    Ok(Event::Gone { kind: Kind::Client, index, .. }) if !waiting.contains(&index) => {}
                    // A server's stop by an operator comes before its `Gone`.
                    Ok(event @ (Event::Gone { .. } | Event::ServerStoppedByOps { .. })) => {
                        if let Event::Gone { kind: Kind::Client, index, .. } = event {
                            waiting.retain(|i| *i != index);
                        }
                        self.on_event(fleet, event);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                },
                recv(interrupts) -> _ => {
                    eprintln!("startup: aborting: killing every child");
                    return finals;
                }
                recv(deadline) -> _ => {
                    for &i in &waiting {
                        eprintln!("startup: {} did not report within {} ms", fleet.clients[i].name, timeout.as_millis());
                    }
                    break;
                }
            }
        }
        self.record_final_metrics();
        self.rows
            .write(&self.rounds, &mut self.resources, self.started);
        self.reap_clients(fleet);
        finals
    }

    /// Clients exit once they have reported; one that does not within 2 s
    /// is killed, and said so (the run's figures are already in).
    fn reap_clients(&mut self, fleet: &mut Fleet) {
        let deaths = &self.deaths;
        let exiting = (fleet.clients.iter_mut().enumerate())
            .filter(|(i, _)| !deaths.client_gone(*i))
            .map(|(_, client)| client);
        for name in reap_together(exiting, Duration::from_secs(2)) {
            eprintln!("startup: {name} did not exit within 2 s of its stop and was killed");
        }
    }
}
