//! What startup watches while the clients run: their statuses and
//! histograms, every child's CPU and memory, deaths, the status line and the
//! soak CSV. startup's main thread owns one [`Monitor`] and feeds it events.
//!
//! Status answers carry the histograms of what happened since the client's
//! previous answer, added to three accumulators: the round (status line),
//! the current sample (CSV row) and the whole run (report). An answer that
//! comes late counts in the next round; nothing is lost.
//!
//! # The room
//!
//! * `mod.rs` (here): [`Settings`], the [`Monitor`] and its event loop: the
//!   start (`start_together`), the watch (`watch`), one event at a time
//!   (`on_event`) and the stop (`stop_clients`). It holds what all parts
//!   read: the run's clock, the status line, the whole run's histograms.
//! * `rounds.rs`: status rounds: polling the clients, their latest answers,
//!   the round's histograms, the rate meters; a closed round is one line.
//! * `resources.rs`: every child's CPU and memory, read a few children at a
//!   time, and the process figures of the rows and the report.
//! * `deaths.rs`: who died or was stopped by an operator, who is down now.
//! * `restarts.rs`: server restarts: allowed, queued, done.
//! * `rows.rs`: the soak CSV's rows.
//! * `points.rs`: one point per closed round for the run's
//!   [`Feed`]: the dashboard's and the HTML report's charts.
//! * `start.rs`: the start: every link connected (or the connect deadline
//!   passed, with the links still down named), then one go for all.
//!
//! At the end [`Monitor::watched`] hands what it saw to the report
//! (`report::assemble`) as plain data.
//!
//! Each part is a struct that owns its state; the monitor holds one of
//! each and hands a part what it needs of the others (the clock, the latest
//! answers), so the parts never hold references to each other.
//!
//! # Threads
//!
//! There is one: startup's main thread owns the Monitor and all in it, so
//! nothing here is shared, locked or atomic. The children's proxy threads
//! (`children.rs`) own the pipes and turn what the children say into
//! [`Event`]s on one unbounded channel; a request to a client is a send to
//! its proxy, never a wait. `watch` selects over that channel and its
//! tickers (restarts each second, a resource step each `SAMPLE_STEP`, a
//! round each period, a row each `--sample-every`), and each tick's work
//! is short: a long burst on this thread, which runs above the link
//! threads, would be latency for every link waiting behind it. The
//! [`Feed`] it reports each round to sends the dashboard's copy over an
//! unbounded channel: a browser never makes this thread wait.

mod deaths;
mod points;
mod resources;
mod restarts;
mod rounds;
mod rows;
mod start;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use crate::config::Config;
use crate::error::Result;
use crate::launcher::children::{Fleet, ServerLauncher, reap_together};
use crate::launcher::proxy::{Event, Kind, ToClient};
use crate::launcher::record::Feed;
use crate::launcher::report::Watched;
use crate::launcher::status::StatusLine;
use crate::messages::ClientReport;
use crate::metrics::{Percentiles, Snapshot};

use deaths::Deaths;
use points::OwnCpu;
use resources::{Resources, SAMPLE_STEP};
use restarts::Restarts;
use rounds::{Rounds, round_period};
use rows::Rows;

/// What the monitor is told of the run: the part of startup's options it
/// acts on, so that it needs nothing of startup itself.
pub struct Settings {
    /// The run's config (stop timeout, interval, schedule).
    pub config: Arc<Config>,
    /// The window's length, if the run has one (otherwise it runs until
    /// Ctrl-C).
    pub duration: Option<Duration>,
    /// No live status line.
    pub quiet: bool,
    /// Append one CSV row per `sample_every` here.
    pub samples: Option<PathBuf>,
    /// How often a CSV row is written.
    pub sample_every: Duration,
    /// When each process's memory becomes the baseline of the leak check.
    pub rss_baseline: Duration,
}

/// Everything startup tracks while the clients run.
pub struct Monitor<'a> {
    options: &'a Settings,
    target: f64,
    links: u64,
    /// The run's clock: the first client's spawn until the go, the go after.
    started: Instant,
    /// The terminal's status line: every message startup prints ends it
    /// first, so it lives here where every part can reach it.
    status: StatusLine,
    /// The whole run's histograms, for the report.
    total: Snapshot,
    deaths: Deaths,
    rounds: Rounds,
    resources: Resources,
    rows: Rows,
    restarts: Restarts,
    /// The run's record and the dashboard's copy: a point per round.
    feed: Feed,
    /// startup's own CPU, for the points.
    own_cpu: OwnCpu,
}

impl<'a> Monitor<'a> {
    /// A monitor for a run whose clients started at `started`, reporting
    /// the run to `feed`.
    pub fn new(
        options: &'a Settings,
        fleet: &Fleet,
        target: f64,
        links: u64,
        started: Instant,
        feed: Feed,
    ) -> Result<Monitor<'a>> {
        // The CSV first: a bad path fails the run before anything is read.
        let rows = Rows::open(options.samples.as_deref(), target)?;
        Ok(Monitor {
            options,
            target,
            links,
            started,
            status: StatusLine::new(options.quiet),
            total: Snapshot::default(),
            deaths: Deaths::default(),
            rounds: Rounds::new(links, target, options.duration),
            resources: Resources::new(fleet, options.rss_baseline, started),
            rows,
            restarts: Restarts::default(),
            feed,
            own_cpu: OwnCpu::new(),
        })
    }

    /// The run's feed: startup reports the run's later phases to it, and
    /// takes the HTML report's data from it.
    pub fn feed(&mut self) -> &mut Feed {
        &mut self.feed
    }

    /// Restarts servers that die, each at most `limit` times, with `launcher`.
    pub fn restart_dead_servers(&mut self, launcher: Option<ServerLauncher>, limit: u32) {
        self.restarts = Restarts::new(launcher, limit);
    }

    /// What the monitor saw, for the report: `finals` are the clients'
    /// final reports (the acked updates the CPU per update divides by when
    /// no sample counted them).
    pub fn watched(&self, finals: &[ClientReport], fleet: &Fleet) -> Watched {
        let acked = finals.iter().map(|f| f.status.acked).sum();
        Watched {
            target_ops_per_s: self.target,
            links: self.links,
            clients: fleet.clients.len() as u64,
            servers: fleet.servers.len() as u64,
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
            processes: self.resources.processes(acked),
        }
    }

    /// True if this server died during the run.
    pub fn server_gone(&self, index: usize) -> bool {
        self.deaths.server_gone(index)
    }

    /// Watches until the duration ends, Ctrl-C, or every client is gone.
    pub fn watch(
        &mut self,
        fleet: &mut Fleet,
        events: &Receiver<Event>,
        interrupts: &Receiver<()>,
    ) {
        // Restarts run each second; status rounds every `period` (see
        // `round_period`), their requests spread over its first half, the
        // second half left for the answers; resource samples read every
        // child once a period, a few at each `SAMPLE_STEP`.
        let ticker = crossbeam_channel::tick(Duration::from_secs(1));
        let period = round_period(fleet.clients.len());
        // Every child is read once a round, spread over its steps.
        let steps = (period.as_millis() / SAMPLE_STEP.as_millis()).max(1) as usize;
        let sampler = crossbeam_channel::tick(SAMPLE_STEP);
        let rounds = crossbeam_channel::tick(period);
        let sample_ticker = if self.rows.is_on() {
            crossbeam_channel::tick(self.options.sample_every)
        } else {
            crossbeam_channel::never()
        };
        let end = self
            .options
            .duration
            .map(|d| crossbeam_channel::at(self.started + d))
            .unwrap_or_else(crossbeam_channel::never);
        // The first round too is spread: at the go, a thousand clients
        // answering at once queued every link behind them for 0.2-0.3 s
        // (perf sched: 18,000 switches in 0.37 s, both CPUs busy).
        self.rounds.poll(fleet, self.deaths.clients(), period / 2);
        loop {
            select! {
                recv(ticker) -> _ => self.restart_due(fleet),
                recv(sampler) -> _ => self.resources.sample_step(steps, self.started),
                recv(rounds) -> _ => {
                    // A round still unanswered when the next starts is printed
                    // with what arrived; late answers count in the next round.
                    if self.rounds.is_open() {
                        self.print_status();
                    }
                    self.rounds.poll(fleet, self.deaths.clients(), period / 2);
                }
                recv(sample_ticker) -> _ => self.rows.write(&self.rounds, &mut self.resources, self.started),
                recv(events) -> event => match event {
                    Ok(event) => {
                        self.on_event(fleet, event);
                        if !fleet.clients.is_empty() && self.deaths.clients().len() == fleet.clients.len() {
                            self.status.finish();
                            eprintln!("startup: every client is gone; ending the run");
                            break;
                        }
                    }
                    Err(_) => break,
                },
                recv(interrupts) -> _ => {
                    self.status.finish();
                    eprintln!("startup: interrupted; stopping (press Ctrl-C again to abort at once)");
                    break;
                }
                recv(end) -> _ => break,
            }
        }
        self.last_round(fleet, events);
    }

    /// The resource figures end where the load ends, and CPU per update
    /// needs the updates of that same window: one last status round,
    /// answered (or given up on after a few seconds) before the sample.
    fn last_round(&mut self, fleet: &mut Fleet, events: &Receiver<Event>) {
        self.status.finish();
        log::info!(
            "run over after {:.1} s; last status round",
            self.started.elapsed().as_secs_f64()
        );
        self.rounds
            .poll(fleet, self.deaths.clients(), Duration::ZERO);
        self.rounds.silence(); // no status line for this round
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.rounds.is_waiting() {
            match events.recv_deadline(deadline) {
                Ok(event) => self.on_event(fleet, event),
                Err(_) => break,
            }
        }
        let acked = self.rounds.totals().acked;
        self.resources.sample_last(acked, self.started);
    }

    fn on_event(&mut self, fleet: &mut Fleet, event: Event) {
        match event {
            Event::ClientStatus { index, reply } => {
                // The three accumulators: the round, the CSV row, the run.
                if let Some(snapshot) = reply.histograms.decode() {
                    self.rounds.add(&snapshot);
                    self.rows.add(&snapshot);
                    self.total.add(&snapshot);
                }
                if self.rounds.answered(index, reply.status) {
                    self.print_status();
                }
            }
            Event::Gone {
                kind,
                index,
                detail,
            } => {
                // Recorded first; then each part forgets or restarts it.
                let (started, status) = (self.started, &mut self.status);
                let died = self
                    .deaths
                    .record(fleet, kind, index, &detail, started, status);
                match kind {
                    Kind::Server if died => self.restarts.on_death(index),
                    Kind::Server => {} // an operator stopped it: it stays down
                    Kind::Client => {
                        let acked = self.rounds.latest().get(&index).map_or(0, |s| s.acked);
                        self.rows.forget(acked);
                        self.rounds.forget(index);
                    }
                }
            }
            Event::ServerReady { index, addr } => {
                // Only restarted servers announce themselves during the run.
                self.status.finish();
                eprintln!(
                    "startup: {} is accepting again at {addr}",
                    fleet.servers[index].name
                );
            }
            Event::ServerStoppedByOps { index, by } => self.deaths.stopping_by_ops(index, by),
            Event::ClientFinal { .. } | Event::ClientReady { .. } => {}
        }
    }

    /// Asks every live client to stop and waits for their final reports.
    pub fn stop_clients(
        &mut self,
        fleet: &mut Fleet,
        events: &Receiver<Event>,
        interrupts: &Receiver<()>,
    ) -> Vec<ClientReport> {
        let timeout = Duration::from_millis(self.options.config.stop_timeout_ms);
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
        self.rows
            .write(&self.rounds, &mut self.resources, self.started);
        // Clients exit once they have reported; one that does not within
        // 2 s is killed, and said so (the run's figures are already in).
        let deaths = &self.deaths;
        let exiting = (fleet.clients.iter_mut().enumerate())
            .filter(|(i, _)| !deaths.client_gone(*i))
            .map(|(_, client)| client);
        for name in reap_together(exiting, Duration::from_secs(2)) {
            eprintln!("startup: {name} did not exit within 2 s of its stop and was killed");
        }
        finals
    }

    /// Starts the dead servers whose restart is due, and tracks them.
    fn restart_due(&mut self, fleet: &mut Fleet) {
        let (started, status) = (self.started, &mut self.status);
        for (index, pid) in self.restarts.restart_due(fleet, started, status) {
            self.resources.track(Kind::Server, pid);
            self.deaths.server_back(index);
        }
    }

    /// Closes the status round, records its point and prints its line
    /// (none for the first).
    fn print_status(&mut self) {
        if let Some((tick, round)) = self.rounds.close(self.started) {
            // The point first: whoever reads the line finds it published.
            self.record_point(&tick, &round);
            self.status.print(&tick);
        }
    }
}
