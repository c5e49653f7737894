//! What startup watches while the clients run: their statuses and
//! histograms, every child's CPU and memory, deaths, the status line and the
//! soak CSV. startup's main thread owns one [`Monitor`] and feeds it events.
//!
//! Every round period (a second; longer for fleets of hundreds of clients,
//! see `round_period`) a *status round* starts: one `status` request to
//! every live client, spread over the first half of the period so that a
//! thousand clients do not all answer in the same instant. The line is
//! printed when the round's last answer arrives (or when the next round
//! starts, with what came); CSV rows are written on their own ticker from
//! the latest answers, so a saturated machine that delays answers delays
//! nothing else. Answers carry cumulative counters and the histograms of
//! what happened since the client's previous answer, which are added to
//! three accumulators: the last round (status line), the current sample
//! (CSV row) and the whole run (report). An answer that comes late is
//! counted in the next round; nothing is lost.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use crate::client::schedule::Window;
use crate::config::Config;
use crate::error::Result;
use crate::launcher::children::{Event, Fleet, Kind, ServerLauncher, ToClient};
use crate::launcher::report::{DeadChild, LinkSpread, Processes, RunReport, ServerRestart};
use crate::launcher::samples::{Row, SampleWriter};
use crate::launcher::status::{StatusLine, Tick};
use crate::messages::{ClientReport, ClientStatus, ProcessSample};
use crate::metrics::{Percentiles, Snapshot};
use crate::sys::procstat::{self, KindUsage, Usage};

/// Per-child resource tracking.
struct Tracked {
    kind: Kind,
    pid: u32,
    usage: Usage,
    /// The latest sample at the last CSV row, and when it was taken.
    at_row: Option<(Instant, ProcessSample)>,
    /// CPU percent (of one core) between this process's two latest samples
    /// before the row, kept for rows between which it was not sampled.
    row_cpu_percent: f64,
}

/// An aggregate update rate that stays honest when clients answer late
/// (a saturated machine can delay a status answer by seconds): each client's
/// rate is its own acked delta over its own clock's delta, and a client that
/// has not answered since the last reading keeps its last rate.
#[derive(Default)]
struct RateMeter {
    marks: HashMap<usize, (f64, u64)>,
    rates: HashMap<usize, f64>,
}

impl RateMeter {
    /// The summed rate as of the latest statuses.
    fn update(&mut self, latest: &HashMap<usize, ClientStatus>) -> f64 {
        for (&i, s) in latest {
            match self.marks.get(&i) {
                Some(&(elapsed, acked)) if s.elapsed_s > elapsed + 0.05 => {
                    let rate = s.acked.saturating_sub(acked) as f64 / (s.elapsed_s - elapsed);
                    self.rates.insert(i, rate);
                }
                Some(_) => continue,
                None => {}
            }
            self.marks.insert(i, (s.elapsed_s, s.acked));
        }
        // Not `.sum()`: an empty f64 sum is -0.0, which prints as "-0".
        self.rates.values().fold(0.0, |a, b| a + b)
    }

    /// Drops a client that is gone.
    fn forget(&mut self, client: usize) {
        self.marks.remove(&client);
        self.rates.remove(&client);
    }
}

/// The running totals of the last CSV row.
#[derive(Default, Clone, Copy)]
struct Mark {
    late: u64,
    errors: u64,
    reconnects: u64,
}

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
    started: Instant,
    latest: HashMap<usize, ClientStatus>,
    /// Clients asked for a status that have not answered yet. A client is
    /// never asked again before it answers: on a saturated machine requests
    /// would queue up in its stdin, and the final `stop` would wait behind
    /// all of them.
    awaiting: HashSet<usize>,
    /// The current round has not been printed yet.
    round_open: bool,
    dead: Vec<DeadChild>,
    gone_servers: Vec<usize>,
    gone_clients: Vec<usize>,
    status: StatusLine,
    last_print: Option<Instant>,
    second: Snapshot,
    sample: Snapshot,
    total: Snapshot,
    tracked: Vec<Tracked>,
    samples: Option<SampleWriter>,
    last_row: Mark,
    line_rate: RateMeter,
    row_rate: RateMeter,
    /// Acked updates known when the last resource sample was taken: CPU per
    /// update divides the CPU of the sampled window by the updates of the
    /// same window, not by updates made while the clients were stopping.
    ops_at_last_sample: u64,
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
    /// The memory baseline of the leak check has been taken.
    baseline_taken: bool,
    /// The next process the spread resource sampling reads.
    sample_cursor: usize,
}

/// How often a status round starts for a fleet of `clients`: every second
/// up to 200 clients, then one more second per 200 (5 s at 1,000).
///
/// Each answer costs its client a pass over its histograms and a
/// serialization, and startup a decode and a merge: at 1,000 clients that
/// work, not the updates, was most of the clients' CPU (114 us per update
/// at 10 updates/s per client). A longer period changes only how often the
/// live line moves; every sample still reaches the report.
fn round_period(clients: usize) -> Duration {
    Duration::from_secs(clients.div_ceil(200).max(1) as u64)
}

/// How long startup waits for the clients to connect before starting them
/// anyway (plus 20 ms per client for spawning): a client answers `ready` at
/// most 30 s after it asked its links to connect.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// How far ahead of the start the go goes out for a fleet of `links`:
/// 100 ms plus 50 us per link.
///
/// The go wakes every client and every link thread, which takes each its
/// first due time and sleeps again: at 10,000 links about 12,000 wakeups,
/// 0.3-0.6 s of CPU. When the start was the go itself, links due in those
/// first moments queued behind them (per-second latency p99 of 100-130 ms
/// in the first seconds of a 1,000 x 10 run, against 1-16 ms after). A link
/// that still gets its go late starts on its next tick, not with a burst.
fn go_ahead(links: u64) -> Duration {
    Duration::from_millis(100)
        + Duration::from_micros(50) * u32::try_from(links).unwrap_or(u32::MAX)
}

/// The indexes of the next `count` of `n` items taken in turn from
/// `cursor` (wrapping, each at most once per call), moving the cursor on.
fn next_in_turn(cursor: &mut usize, n: usize, count: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let start = *cursor % n;
    let taken: Vec<usize> = (0..count.min(n)).map(|k| (start + k) % n).collect();
    *cursor = (start + taken.len()) % n;
    taken
}

/// How often the spread resource sampling reads its next few children.
const SAMPLE_STEP: Duration = Duration::from_millis(100);

/// How long a dead server stays down before startup restarts it: long
/// enough for its links to notice and for the OS to release its port.
const RESTART_DELAY: Duration = Duration::from_secs(1);

impl<'a> Monitor<'a> {
    /// A monitor for a run whose clients started at `started`.
    pub fn new(
        options: &'a Settings,
        fleet: &Fleet,
        target: f64,
        links: u64,
        started: Instant,
    ) -> Result<Monitor<'a>> {
        let samples = match &options.samples {
            Some(path) => Some(SampleWriter::open(path)?),
            None => None,
        };
        let tracked = fleet
            .servers
            .iter()
            .map(|c| (Kind::Server, c.pid))
            .chain(fleet.clients.iter().map(|c| (Kind::Client, c.pid)))
            .map(|(kind, pid)| Tracked {
                kind,
                pid,
                usage: Usage::default(),
                at_row: None,
                row_cpu_percent: 0.0,
            })
            .collect();
        let mut m = Monitor {
            options,
            target,
            links,
            started,
            latest: HashMap::new(),
            awaiting: HashSet::new(),
            round_open: false,
            dead: Vec::new(),
            gone_servers: Vec::new(),
            gone_clients: Vec::new(),
            status: StatusLine::new(options.quiet),
            last_print: None,
            second: Snapshot::default(),
            sample: Snapshot::default(),
            total: Snapshot::default(),
            tracked,
            samples,
            last_row: Mark::default(),
            line_rate: RateMeter::default(),
            row_rate: RateMeter::default(),
            ops_at_last_sample: 0,
            launcher: None,
            restarts_left: Vec::new(),
            due_restarts: Vec::new(),
            restarts: Vec::new(),
            restarted: BTreeSet::new(),
            baseline_taken: false,
            sample_cursor: 0,
        };
        m.sample_resources(true);
        for t in &mut m.tracked {
            t.at_row = t.usage.last_timed();
        }
        Ok(m)
    }

    /// Restarts servers that die, each at most `limit` times, with `launcher`.
    pub fn restart_dead_servers(&mut self, launcher: Option<ServerLauncher>, limit: u32) {
        self.restarts_left = vec![limit; launcher.as_ref().map_or(0, |l| l.len())];
        self.launcher = launcher;
    }

    /// Starts the dead servers whose restart is due.
    fn restart_due(&mut self, fleet: &mut Fleet) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) =
            self.due_restarts.iter().partition(|(_, at)| *at <= now);
        self.due_restarts = later;
        let Some(launcher) = &self.launcher else {
            return;
        };
        for (index, _) in due {
            let old_pid = fleet.servers[index].pid;
            match launcher.spawn(index) {
                Ok(child) => {
                    self.status.finish();
                    eprintln!(
                        "startup: restarted {} (pid {old_pid} -> {})",
                        child.name, child.pid
                    );
                    log::warn!("restarted {} (pid {old_pid} -> {})", child.name, child.pid);
                    self.restarts.push(ServerRestart {
                        name: child.name.clone(),
                        old_pid,
                        new_pid: child.pid,
                        at_s: self.started.elapsed().as_secs_f64(),
                    });
                    self.tracked.push(Tracked {
                        kind: Kind::Server,
                        pid: child.pid,
                        usage: Usage::default(),
                        at_row: None,
                        row_cpu_percent: 0.0,
                    });
                    self.restarted.insert(launcher.addr(index).to_string());
                    self.gone_servers.retain(|i| *i != index);
                    fleet.replace_server(index, child);
                }
                Err(e) => eprintln!("startup: {e}"),
            }
        }
    }

    /// The addresses of servers that were restarted: what their clients
    /// acked before the restart died with the old process.
    pub fn restarted_servers(&self) -> Vec<String> {
        self.restarted.iter().cloned().collect()
    }

    /// Asks every client to connect all its links, waits until all have
    /// answered (each gives up on a link after 30 s) or died, then gives
    /// every client one window: a start `go_ahead` from now, and the end
    /// of `--duration` after it, at which each link stops after its last
    /// update. The run's clock starts at that start. Returns false if
    /// Ctrl-C came first; the clients then never start.
    ///
    /// Starting a thousand processes and ten thousand connections takes
    /// seconds of CPU. Links that started as soon as their process did
    /// would be measured during all of it: in a 1,000 x 10 run at 1 s most
    /// of the run's latency tail (p99 0.4-0.8 s, against 3-6 ms once every
    /// client was up) came from those first seconds.
    pub fn start_together(
        &mut self,
        fleet: &mut Fleet,
        events: &Receiver<Event>,
        interrupts: &Receiver<()>,
    ) -> bool {
        let asked = Instant::now();
        let mut waiting: HashSet<usize> = (0..fleet.clients.len()).collect();
        for client in &fleet.clients {
            client.request(ToClient::Ready);
        }
        let limit = READY_LIMIT + Duration::from_millis(20) * fleet.clients.len() as u32;
        let deadline = crossbeam_channel::at(asked + limit);
        let mut links_up = 0;
        while !waiting.is_empty() {
            select! {
                recv(events) -> event => match event {
                    Ok(Event::ClientReady { index, status }) => {
                        waiting.remove(&index);
                        links_up += status.links_up;
                    }
                    Ok(event) => {
                        if let Event::Gone { kind: Kind::Client, index, .. } = &event {
                            waiting.remove(index);
                        }
                        self.on_event(fleet, event);
                    }
                    Err(_) => break,
                },
                recv(interrupts) -> _ => {
                    eprintln!("startup: interrupted before the clients started; stopping");
                    return false;
                }
                recv(deadline) -> _ => break,
            }
        }
        let start = Instant::now() + go_ahead(self.links);
        let window = Window {
            start,
            end: self.options.duration.map(|d| start + d),
        };
        for (i, client) in fleet.clients.iter().enumerate() {
            if !self.gone_clients.contains(&i) {
                client.request(ToClient::Go(window));
            }
        }
        // From the first client's spawn (the monitor's `started` until now).
        let took = self.started.elapsed().as_secs_f64();
        self.started = start;
        self.last_row = Mark::default();
        let line = format!(
            "{links_up} of {} links connected in {took:.1} s; go",
            self.links
        );
        log::info!("{line}");
        if !self.options.quiet {
            eprintln!("startup: {line}");
        }
        if !waiting.is_empty() {
            eprintln!(
                "startup: {} client(s) did not answer within {} s; started without waiting for them",
                waiting.len(),
                limit.as_secs()
            );
        }
        true
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
        let sample_ticker = match self.samples {
            Some(_) => crossbeam_channel::tick(self.options.sample_every),
            None => crossbeam_channel::never(),
        };
        let end = self
            .options
            .duration
            .map(|d| crossbeam_channel::at(self.started + d))
            .unwrap_or_else(crossbeam_channel::never);
        // The first round too is spread: at the go, a thousand clients
        // answering at once queued every link behind them for 0.2-0.3 s
        // (perf sched: 18,000 switches in 0.37 s, both CPUs busy).
        self.poll(fleet, period / 2);
        loop {
            select! {
                recv(ticker) -> _ => self.restart_due(fleet),
                recv(sampler) -> _ => self.sample_some(self.tracked.len().div_ceil(steps), false),
                recv(rounds) -> _ => {
                    // A round still unanswered when the next starts is printed
                    // with what arrived; late answers count in the next round.
                    if self.round_open {
                        self.print_status();
                    }
                    self.poll(fleet, period / 2);
                }
                recv(sample_ticker) -> _ => self.write_row(),
                recv(events) -> event => match event {
                    Ok(event) => {
                        self.on_event(fleet, event);
                        if !fleet.clients.is_empty() && self.gone_clients.len() == fleet.clients.len() {
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
        self.status.finish();
        log::info!(
            "run over after {:.1} s; last status round",
            self.started.elapsed().as_secs_f64()
        );
        // The resource figures end where the load ends, and CPU per update
        // needs the updates of that same window: one last status round,
        // answered (or given up on after a few seconds) before the sample.
        self.poll(fleet, Duration::ZERO);
        self.round_open = false; // no status line for this round
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.awaiting.is_empty() {
            match events.recv_deadline(deadline) {
                Ok(event) => self.on_event(fleet, event),
                Err(_) => break,
            }
        }
        self.sample_resources(true);
        self.ops_at_last_sample = self.totals().acked;
    }

    fn on_event(&mut self, fleet: &mut Fleet, event: Event) {
        match event {
            Event::ClientStatus { index, reply } => {
                if let Some(snapshot) = reply.histograms.decode() {
                    self.second.add(&snapshot);
                    self.sample.add(&snapshot);
                    self.total.add(&snapshot);
                }
                self.latest.insert(index, reply.status);
                self.awaiting.remove(&index);
                if self.awaiting.is_empty() && self.round_open {
                    self.print_status();
                }
            }
            Event::Gone {
                kind,
                index,
                detail,
            } => {
                let child = match kind {
                    Kind::Server => &mut fleet.servers[index],
                    Kind::Client => &mut fleet.clients[index],
                };
                let status = child.reap(Duration::from_secs(2));
                let at_s = self.started.elapsed().as_secs_f64();
                self.status.finish();
                eprintln!(
                    "startup: {} (pid {}) died: it {status} ({detail})",
                    child.name, child.pid
                );
                log::error!(
                    "{} (pid {}) died: it {status} ({detail})",
                    child.name,
                    child.pid
                );
                self.dead.push(DeadChild {
                    name: child.name.clone(),
                    pid: child.pid,
                    status,
                    at_s,
                });
                match kind {
                    Kind::Server => {
                        self.gone_servers.push(index);
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
                    Kind::Client => {
                        self.gone_clients.push(index);
                        self.awaiting.remove(&index);
                        self.latest.remove(&index);
                        self.line_rate.forget(index);
                        self.row_rate.forget(index);
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
            Event::ClientFinal { .. } | Event::ClientReady { .. } => {}
        }
    }

    /// True if this server died during the run.
    pub fn server_gone(&self, index: usize) -> bool {
        self.gone_servers.contains(&index)
    }

    /// Starts a status round: one `status` request to every live client
    /// that has answered the previous one, client `i` of `n` asked at
    /// `i / n` of `spread` from now.
    ///
    /// Spreading matters at scale: every answer costs its client a merge
    /// and a serialization of three histograms, and startup a decode of
    /// them. Asked all at once, 1,000 clients do that work in the same
    /// instant, and every link thread runnable in that instant waits behind
    /// it: a latency spike once a second, right in the tail the run reports.
    fn poll(&mut self, fleet: &Fleet, spread: Duration) {
        self.round_open = true;
        let now = Instant::now();
        let n = fleet.clients.len().max(1) as u32;
        for (i, client) in fleet.clients.iter().enumerate() {
            if !self.gone_clients.contains(&i) && self.awaiting.insert(i) {
                let at = (spread > Duration::ZERO).then(|| now + spread * i as u32 / n);
                client.request(ToClient::Status(at));
            }
        }
    }

    fn totals(&self) -> ClientStatus {
        let mut t = ClientStatus::default();
        for s in self.latest.values() {
            t.links_up += s.links_up;
            t.acked += s.acked;
            t.late += s.late;
            t.errors += s.errors;
            t.reconnects += s.reconnects;
        }
        t
    }

    fn print_status(&mut self) {
        self.round_open = false;
        let now = Instant::now();
        let t = self.totals();
        let second = std::mem::take(&mut self.second);
        let rate = self.line_rate.update(&self.latest);
        // The first round (at start) has no rate yet: it only sets the marks.
        if self.last_print.replace(now).is_none() {
            return;
        }
        self.status.print(&Tick {
            elapsed: self.started.elapsed(),
            duration: self.options.duration,
            links_up: t.links_up,
            links: self.links,
            rate,
            target: self.target,
            p99_us: (!second.latency.is_empty()).then(|| Percentiles::of(&second.latency).p99),
            late: t.late,
            errors: t.errors,
            reconnects: t.reconnects,
        });
    }

    /// Reads every child's CPU and memory; `with_ctx` adds context switches
    /// (costly on Linux, so only at the start and the end of the run).
    fn sample_resources(&mut self, with_ctx: bool) {
        let all = self.tracked.len();
        self.sample_some(all, with_ctx);
    }

    /// Reads the CPU and memory of the next `count` children, so that over
    /// a round every child is read once, a few at each [`SAMPLE_STEP`].
    ///
    /// Reading all of them at once is a burst on startup's main thread,
    /// which runs above the link threads: at 1,000 clients it was 60 ms of
    /// `/proc` reads each second, and links waiting behind it were most of
    /// a 1,000 x 10 run's latency tail (whole-run p99 4-13 ms with it,
    /// 0.26 ms with no sampling at all).
    fn sample_some(&mut self, count: usize, with_ctx: bool) {
        for i in next_in_turn(&mut self.sample_cursor, self.tracked.len(), count) {
            let t = &mut self.tracked[i];
            if let Some(s) = procstat::sample(t.pid, with_ctx) {
                t.usage.add(Instant::now(), s);
            }
        }
        if !self.baseline_taken && self.started.elapsed() >= self.options.rss_baseline {
            self.baseline_taken = true;
            for t in &mut self.tracked {
                t.usage.mark_baseline();
            }
        }
    }

    fn write_row(&mut self) {
        if self.samples.is_none() {
            return;
        }
        let now = Instant::now();
        let mark = self.last_row;
        let t = self.totals();
        let mut cpu = [0.0f64; 2];
        let mut rss = [0.0f64; 2];
        for tr in &mut self.tracked {
            let k = usize::from(tr.kind == Kind::Client);
            let last = tr.usage.last_timed();
            // Each process's CPU over its own two samples: children are read
            // a few at a time, not at the row's moments, and a process not
            // read since the last row keeps its last rate.
            if let (Some((ta, a)), Some((tb, b))) = (tr.at_row, last) {
                let span = tb.duration_since(ta).as_secs_f64();
                if span > 0.0 {
                    tr.row_cpu_percent = (b.cpu_s - a.cpu_s).max(0.0) / span * 100.0;
                }
            }
            cpu[k] += tr.row_cpu_percent;
            rss[k] += last.map(|(_, s)| s.rss_bytes).unwrap_or(0) as f64 / 1e6;
            tr.at_row = last;
        }
        let sample = std::mem::take(&mut self.sample);
        let (lat, late) = (
            Percentiles::of(&sample.latency),
            Percentiles::of(&sample.lateness),
        );
        let row = Row {
            time_s: now.duration_since(self.started).as_secs_f64(),
            updates_per_s: self.row_rate.update(&self.latest),
            target_per_s: self.target,
            latency_p50_us: lat.p50,
            latency_p99_us: lat.p99,
            lateness_p50_us: late.p50,
            lateness_p99_us: late.p99,
            corrected_p99_us: Percentiles::of(&sample.corrected).p99,
            late_sends: t.late.saturating_sub(mark.late),
            errors: t.errors.saturating_sub(mark.errors),
            reconnects: t.reconnects.saturating_sub(mark.reconnects),
            links_up: t.links_up,
            server_cpu_percent: cpu[0],
            client_cpu_percent: cpu[1],
            server_rss_mb: rss[0],
            client_rss_mb: rss[1],
        };
        if let Some(Err(e)) = self.samples.as_mut().map(|w| w.write(&row)) {
            eprintln!("startup: {e}; no more samples will be written");
            self.samples = None;
        }
        self.last_row = Mark {
            late: t.late,
            errors: t.errors,
            reconnects: t.reconnects,
        };
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
            .filter(|i| !self.gone_clients.contains(i))
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
                        self.latest.insert(index, report.status.clone());
                        if let Some(rest) = report.histograms.decode() {
                            self.total.add(&rest);
                        }
                        finals.push(*report);
                    }
                    Ok(Event::Gone { kind: Kind::Client, index, .. }) if !waiting.contains(&index) => {}
                    Ok(event @ Event::Gone { .. }) => {
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
        if self.samples.is_some() {
            self.write_row();
        }
        for (i, client) in fleet.clients.iter_mut().enumerate() {
            if !self.gone_clients.contains(&i) {
                client.reap(Duration::from_secs(2));
            }
        }
        finals
    }

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
            children_died: self.dead.clone(),
            latency_us: Percentiles::of(&self.total.latency),
            lateness_us: Percentiles::of(&self.total.lateness),
            corrected_latency_us: Percentiles::of(&self.total.corrected),
            server_restarts: self.restarts.clone(),
            ..RunReport::default()
        };
        for f in finals {
            let s = &f.status;
            r.sent += s.sent;
            r.acked += s.acked;
            r.late_sends += s.late;
            r.errors += s.errors;
            r.reconnects += s.reconnects;
            r.anomalies += s.anomalies;
            r.unacked += f.keys.iter().map(|k| k.unacked).sum::<u64>();
            r.duration_s += s.elapsed_s;
        }
        if !finals.is_empty() {
            r.duration_s /= finals.len() as f64;
        }
        // A link is one client's connection to one server, whatever keys
        // its reconnects used.
        let per_link: Vec<u64> = finals
            .iter()
            .flat_map(|f| {
                let mut by_server: HashMap<std::net::SocketAddr, u64> = HashMap::new();
                for k in &f.keys {
                    *by_server.entry(k.server).or_insert(0) += k.acked;
                }
                by_server.into_values()
            })
            .collect();
        r.per_link = LinkSpread::of(per_link);
        if r.duration_s > 0.0 {
            r.achieved_ops_per_s = r.acked as f64 / r.duration_s;
        }
        if r.target_ops_per_s > 0.0 {
            r.achieved_ratio = r.achieved_ops_per_s / r.target_ops_per_s;
        }
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let of_kind = |kind: Kind| -> Vec<&Usage> {
            self.tracked
                .iter()
                .filter(|t| t.kind == kind)
                .map(|t| &t.usage)
                .collect()
        };
        let ops = match self.ops_at_last_sample {
            0 => r.acked,
            n => n,
        };
        r.processes = Processes {
            cpus: cpus as u64,
            rss_baseline_s: self.options.rss_baseline.as_secs_f64(),
            server: KindUsage::of(&of_kind(Kind::Server), ops, cpus),
            client: KindUsage::of(&of_kind(Kind::Client), ops, cpus),
        };
        // Every client reported: its own figures cover exactly what it acked.
        if self.dead.is_empty() {
            let own: Vec<_> = finals.iter().map(|f| f.process).collect();
            r.processes.client.use_own_accounting(&own, r.acked);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_sampling_reads_every_child_once_per_round() {
        // 1,010 children in 50 steps of 21: every one read once in the first
        // 49 steps (1,029 reads wrap onto the first 19 again), none skipped.
        let (n, steps): (usize, usize) = (1010, 50);
        let per_step = n.div_ceil(steps);
        let mut cursor = 0;
        let mut reads = vec![0; n];
        for _ in 0..n.div_ceil(per_step) {
            for i in next_in_turn(&mut cursor, n, per_step) {
                reads[i] += 1;
            }
        }
        assert!(reads.iter().all(|&r| r >= 1), "a child was skipped");
        assert_eq!(reads.iter().filter(|&&r| r == 2).count(), 49 * 21 - n);
        // A count above n reads each once; nothing to read, nothing read.
        assert_eq!(next_in_turn(&mut cursor, 3, 10).len(), 3);
        assert!(next_in_turn(&mut cursor, 0, 5).is_empty());
    }

    #[test]
    fn status_rounds_slow_down_only_for_large_fleets() {
        let secs = |clients| round_period(clients).as_secs();
        assert_eq!(secs(0), 1);
        assert_eq!(secs(1), 1);
        assert_eq!(secs(200), 1);
        assert_eq!(secs(201), 2);
        assert_eq!(secs(1000), 5);
    }
}
