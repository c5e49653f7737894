//! What startup watches while the clients run: their statuses and
//! histograms, every child's CPU and memory, deaths, the status line and
//! the soak CSV. Status answers carry the histograms since the client's
//! previous answer, added to the round (status line), the sample (CSV row)
//! and the whole run (report); a late answer counts in the next round.
//!
//! * `mod.rs` (here): [`Settings`], the [`Monitor`], the watch (`watch`)
//!   and one event at a time (`on_event`).
//! * `start.rs` / `stop.rs`: every link up, then one go for all; every
//!   client's final report, then its exit.
//! * `rounds.rs`: status rounds and their line; `points.rs`: a point per
//!   round for the run's [`Feed`], and `/metrics`' sample with it;
//!   `rows.rs`: the soak CSV's rows.
//! * `resources.rs`: every child's CPU and memory, a few at a time.
//! * `deaths.rs`, `restarts.rs`: who died or was stopped; server restarts.
//! * `watched.rs`: what the monitor saw, handed to the report.
//!
//! Each part owns its state, and the monitor hands a part what it needs of
//! the others, so the parts never hold references to each other.
//!
//! One thread, startup's main one, owns it all: nothing here is shared or
//! locked. The proxy threads (`children.rs`) turn what the children say
//! into [`Event`]s on one channel, and a request to a client is a send,
//! never a wait. Each tick's work is short: this thread runs above the link
//! threads, so a long burst here is latency for every link behind it.

mod deaths;
mod points;
mod resources;
mod restarts;
mod rounds;
mod rows;
mod start;
mod stop;
mod watched;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, never, select};

use crate::config::Config;
use crate::error::Result;
use crate::launcher::children::{Fleet, ServerLauncher};
use crate::launcher::proxy::{Event, Kind};
use crate::launcher::record::{Feed, Layout};
use crate::launcher::status::StatusLine;
use crate::metrics::Snapshot;

use deaths::Deaths;
use points::OwnCpu;
use resources::{Resources, SAMPLE_STEP};
use restarts::Restarts;
use rounds::{Rounds, round_period, saturated_so_far};
use rows::Rows;

/// What the monitor is told of the run: the part of startup's options it
/// acts on, so that it needs nothing of startup itself.
pub(crate) struct Settings {
    /// The run's config (stop timeout, interval, schedule).
    pub(crate) config: Arc<Config>,
    /// The window's length, if the run has one (otherwise it runs until
    /// Ctrl-C).
    pub(crate) duration: Option<Duration>,
    /// No live status line.
    pub(crate) quiet: bool,
    /// Append one CSV row per `sample_every` here.
    pub(crate) samples: Option<PathBuf>,
    /// How often a CSV row is written.
    pub(crate) sample_every: Duration,
    /// When each process's memory becomes the baseline of the leak check.
    pub(crate) rss_baseline: Duration,
}

/// Everything startup tracks while the clients run.
pub(crate) struct Monitor<'a> {
    options: &'a Settings,
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
    /// Ctrl-C or SIGTERM ended the run before its window's end: with a
    /// `--duration`, the report's verdict is then INCOMPLETE at best.
    interrupted: bool,
    /// Seconds from the first client's spawn to the go, and the links up
    /// then: how long the fleet took to connect (with `connect_rate`, the
    /// ramp's length at least).
    connected: (f64, u64),
}

impl<'a> Monitor<'a> {
    /// A monitor for a run of this `layout` (its links and target rate)
    /// whose clients started at `started`, reporting the run to `feed`.
    pub(crate) fn new(
        options: &'a Settings,
        fleet: &Fleet,
        layout: &Layout,
        started: Instant,
        feed: Feed,
    ) -> Result<Monitor<'a>> {
        let (target, links) = (layout.target_per_s, layout.links);
        // The CSV first: a bad path fails the run before anything is read.
        let rows = Rows::open(options.samples.as_deref(), target)?;
        Ok(Monitor {
            options,
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
            interrupted: false,
            connected: (0.0, 0),
        })
    }

    /// The run's feed: startup reports the run's later phases to it, and
    /// takes the HTML report's data from it.
    pub(crate) fn feed(&mut self) -> &mut Feed {
        &mut self.feed
    }

    /// Restarts servers that die, each at most `limit` times, with `launcher`.
    pub(crate) fn restart_dead_servers(&mut self, launcher: Option<ServerLauncher>, limit: u32) {
        self.restarts = Restarts::new(launcher, limit);
    }

    /// True if this server died during the run.
    pub(crate) fn server_gone(&self, index: usize) -> bool {
        self.deaths.server_gone(index)
    }

    /// Watches until the duration ends, Ctrl-C, or every client is gone.
    pub(crate) fn watch(
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
        let rows_every = self.rows.is_on().then_some(self.options.sample_every);
        let sample_ticker = rows_every.map_or_else(never, crossbeam_channel::tick);
        let end_at = self.options.duration.map(|d| self.started + d);
        let end = end_at.map_or_else(never, crossbeam_channel::at);
        // The first round too is spread: at the go, a thousand clients
        // answering at once queued every link behind them for 0.2-0.3 s
        // (perf sched: 18,000 switches in 0.37 s, both CPUs busy).
        self.rounds.poll(fleet, self.deaths.clients(), period / 2);
        loop {
            select! {
                recv(rounds) -> _ => {
                    // A round still unanswered when the next starts is printed
                    // with what arrived; late answers count in the next round.
                    if self.rounds.is_open() {
                        self.print_status();
                    }
                    self.rounds.poll(fleet, self.deaths.clients(), period / 2);
                }
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
                recv(ticker) -> _ => self.restart_due(fleet),
                recv(sampler) -> _ => self.resources.sample_step(steps, self.started),
                recv(sample_ticker) -> _ => self.rows.write(&self.rounds, &mut self.resources, self.started),
                recv(interrupts) -> _ => {
                    self.interrupted = true;
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

    /// Closes the status round, records its point and prints its line
    /// (none for the first). Both say whether the run so far is saturated.
    fn print_status(&mut self) {
        if let Some((mut tick, round)) = self.rounds.close(self.started) {
            let sent = self.rounds.totals().sent;
            tick.saturated = saturated_so_far(&self.options.config, sent, &self.total);
            // The point first: whoever reads the line finds it published.
            self.record_point(&tick, &round);
            self.status.print(&tick);
        }
    }
}
