//! One command runs the whole system on this host, then says whether every
//! acked update arrived.
//!
//! The run, in order:
//! 1. pick this host's servers from `server_ip_list` (or `--host`);
//! 2. start them and wait for each one's `listening on` line;
//! 3. start `client_num_per_host` clients, one process each, as the seed did;
//! 4. once a second, ask every client for its status and print one line;
//! 5. at the duration's end or on Ctrl-C, stop the clients (each finishes its
//!    in-flight update and reports what was acked on each key);
//! 6. dump every server, verify key by key, stop the servers, report.
//!
//! A child that dies on its own is named on the terminal and in the report;
//! the run goes on with the rest (a dead server's links keep trying to
//! reconnect, which is what the seed's users would see in production).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use crate::client::{ClientReport, ClientStatus};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::net;
use crate::ops::OpsConnection;
use crate::report::{DeadChild, RunReport};
use crate::server::ServerStats;
use crate::supervisor::{self, ChildProcess, Event, Kind, ToClient};
use crate::verify;

/// What the user asked startup to do.
pub struct Options {
    /// The config file, passed on to every child.
    pub config_path: PathBuf,
    /// The loaded config.
    pub config: Arc<Config>,
    /// Stop after this long (otherwise at Ctrl-C).
    pub duration: Option<Duration>,
    /// Run as this host instead of finding it from local addresses.
    pub host: Option<IpAddr>,
    /// No live status line.
    pub quiet: bool,
}

/// The servers this host runs: every port of the one `server_ip_list`
/// entry that is an address of this host.
///
/// # Errors
/// `--host` is not in the list, or two entries are both on this host.
pub fn host_servers(config: &Config, host: Option<IpAddr>) -> Result<Vec<SocketAddr>> {
    let ip = match host {
        Some(ip) if config.server_ip_list.contains(&ip) => Some(ip),
        Some(ip) => {
            if !net::is_local_ip(ip) {
                return Err(Error::msg(format!(
                    "--host {ip} is not an address of this host"
                )));
            }
            None // a clients-only host
        }
        None => {
            let local: Vec<IpAddr> = config
                .server_ip_list
                .iter()
                .copied()
                .filter(|ip| net::is_local_ip(*ip))
                .collect();
            if local.len() > 1 {
                let list: Vec<String> = local.iter().map(|ip| ip.to_string()).collect();
                return Err(Error::msg(format!(
                    "server_ip_list has {} addresses of this host ({}); pass --host IP to say which one this host serves",
                    local.len(),
                    list.join(", ")
                )));
            }
            local.first().copied()
        }
    };
    Ok(ip
        .map(|ip| {
            config
                .server_port_list
                .iter()
                .map(|&port| SocketAddr::new(ip, port))
                .collect()
        })
        .unwrap_or_default())
}

/// Every child of the run. Dropping it kills whatever still runs, so no
/// child outlives startup even on an early error return.
#[derive(Default)]
struct Fleet {
    servers: Vec<ChildProcess>,
    clients: Vec<ChildProcess>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.clients.iter_mut().chain(self.servers.iter_mut()) {
            child.kill();
        }
    }
}

/// Runs the system and returns its report.
///
/// # Errors
/// Setup failures: a program is missing, a server cannot listen, the OS
/// refuses a process. Once clients run, failures go into the report instead.
pub fn run(options: &Options) -> Result<RunReport> {
    let config = &options.config;
    let local_servers = host_servers(config, options.host)?;
    let all_servers = config.all_servers();
    let clients = config.client_num_per_host as usize;
    let server_program = if local_servers.is_empty() {
        None
    } else {
        Some(supervisor::find_program(
            &config.server_app_name,
            "server_app_name",
        )?)
    };
    let client_program = if clients == 0 {
        None
    } else {
        Some(supervisor::find_program(
            &config.client_app_name,
            "client_app_name",
        )?)
    };
    let config_arg = std::fs::canonicalize(&options.config_path)
        .unwrap_or_else(|_| options.config_path.clone())
        .to_string_lossy()
        .into_owned();

    let (events_tx, events) = crossbeam_channel::unbounded();
    let interrupts = interrupt_channel()?;
    let mut fleet = Fleet::default();

    // Servers first, and wait until each accepts: clients that start early
    // would only count connection errors.
    if let Some(program) = &server_program {
        for (index, addr) in local_servers.iter().enumerate() {
            let args = vec![
                "--config".into(),
                config_arg.clone(),
                "--ip".into(),
                addr.ip().to_string(),
                "--port".into(),
                addr.port().to_string(),
                "--supervised".into(),
            ];
            let name = format!("server {addr}");
            fleet.servers.push(supervisor::spawn_server(
                program,
                &args,
                index,
                name,
                events_tx.clone(),
            )?);
        }
        wait_for_servers(&mut fleet, &events, &interrupts)?;
    }

    let started = Instant::now();
    if let Some(program) = &client_program {
        for index in 0..clients {
            let args = vec![
                "--config".into(),
                config_arg.clone(),
                "--id".into(),
                index.to_string(),
                "--clients".into(),
                clients.to_string(),
                "--supervised".into(),
            ];
            fleet.clients.push(supervisor::spawn_client(
                program,
                &args,
                index,
                events_tx.clone(),
            )?);
        }
    }
    drop(events_tx);

    let links = (clients * all_servers.len()) as u64;
    let target = links as f64 * config.per_link_rate();
    let mut run = RunState::new(options, target, links, started);
    run.watch(&mut fleet, &events, &interrupts);

    // Stop the clients and collect what each acked.
    if !options.quiet {
        eprintln!("startup: stopping {} clients...", fleet.clients.len());
    }
    let finals = run.stop_clients(&mut fleet, &events, &interrupts);

    // Read every server's data, then stop ours.
    let mut dumps = Vec::new();
    let mut down = Vec::new();
    let mut server_stats: Vec<ServerStats> = Vec::new();
    let timeout = Duration::from_millis(config.connect_timeout_ms.max(2_000));
    for addr in &all_servers {
        let result = OpsConnection::open(*addr, &config.ops_token, timeout).and_then(|mut c| {
            let dump = c.dump()?;
            let stats = c.stats()?;
            Ok((dump, stats))
        });
        match result {
            Ok((dump, stats)) => {
                dumps.push(dump);
                if local_servers.contains(addr) {
                    server_stats.push(stats);
                }
            }
            Err(e) => {
                eprintln!("startup: {e}");
                down.push(addr.to_string());
            }
        }
    }
    for server in &mut fleet.servers {
        server.close_stdin();
    }
    let stop_timeout = Duration::from_millis(config.stop_timeout_ms);
    for server in &mut fleet.servers {
        if !run.gone_servers.contains(&server.name) {
            server.reap(stop_timeout);
        }
    }

    let keys: Vec<_> = finals.iter().flat_map(|r| r.keys.iter().cloned()).collect();
    let mut report = run.report(&finals, &fleet);
    report.verify = verify::verify(&keys, &dumps, &down);
    report.unacked_by_server = verify::unacked_by_server(&keys);
    report.server_stats = server_stats;
    Ok(report)
}

/// A channel that receives one message per Ctrl-C (or SIGTERM on Unix).
fn interrupt_channel() -> Result<Receiver<()>> {
    let (tx, rx) = crossbeam_channel::bounded(8);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })
    .map_err(|e| Error::msg(format!("cannot install the Ctrl-C handler: {e}")))?;
    Ok(rx)
}

fn wait_for_servers(
    fleet: &mut Fleet,
    events: &Receiver<Event>,
    interrupts: &Receiver<()>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut ready = vec![false; fleet.servers.len()];
    while ready.iter().any(|r| !r) {
        select! {
            recv(events) -> event => match event {
                Ok(Event::ServerReady { index, .. }) => ready[index] = true,
                Ok(Event::Gone { kind: Kind::Server, index, .. }) => {
                    let server = &mut fleet.servers[index];
                    let status = server.reap(Duration::from_secs(2));
                    return Err(Error::msg(format!(
                        "{} could not start: it {status} (its own message is above)",
                        server.name
                    )));
                }
                Ok(_) => {}
                Err(_) => return Err(Error::msg("lost contact with the servers")),
            },
            recv(interrupts) -> _ => return Err(Error::msg("interrupted while starting servers")),
            recv(crossbeam_channel::at(deadline)) -> _ => {
                let waiting: Vec<&str> = fleet
                    .servers
                    .iter()
                    .zip(&ready)
                    .filter(|(_, r)| !**r)
                    .map(|(s, _)| s.name.as_str())
                    .collect();
                return Err(Error::msg(format!(
                    "servers not accepting after 15 s: {}",
                    waiting.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// What startup tracks while the clients run.
struct RunState<'a> {
    options: &'a Options,
    target: f64,
    links: u64,
    started: Instant,
    latest: HashMap<usize, ClientStatus>,
    dead: Vec<DeadChild>,
    gone_servers: Vec<String>,
    gone_clients: Vec<usize>,
    /// Status answers still awaited in the current round.
    pending: usize,
    status: StatusLine,
}

impl<'a> RunState<'a> {
    fn new(options: &'a Options, target: f64, links: u64, started: Instant) -> RunState<'a> {
        RunState {
            options,
            target,
            links,
            started,
            latest: HashMap::new(),
            dead: Vec::new(),
            gone_servers: Vec::new(),
            gone_clients: Vec::new(),
            pending: 0,
            status: StatusLine::new(options.quiet, options.duration),
        }
    }

    /// Polls statuses once a second until the duration ends or Ctrl-C.
    fn watch(&mut self, fleet: &mut Fleet, events: &Receiver<Event>, interrupts: &Receiver<()>) {
        let ticker = crossbeam_channel::tick(Duration::from_secs(1));
        let end = self
            .options
            .duration
            .map(|d| crossbeam_channel::at(self.started + d))
            .unwrap_or_else(crossbeam_channel::never);
        self.poll(fleet);
        loop {
            select! {
                recv(ticker) -> _ => {
                    // A round still unanswered after a second is printed with
                    // what arrived; late answers count in the next round.
                    if self.pending > 0 {
                        self.print_status();
                    }
                    self.poll(fleet);
                }
                recv(events) -> event => match event {
                    Ok(event) => self.on_event(fleet, event),
                    Err(_) => break,
                },
                recv(interrupts) -> _ => {
                    self.status.finish();
                    eprintln!("startup: interrupted; stopping (press Ctrl-C again to abort at once)");
                    return;
                }
                recv(end) -> _ => break,
            }
        }
        self.status.finish();
    }

    fn on_event(&mut self, fleet: &mut Fleet, event: Event) {
        match event {
            Event::ClientStatus { index, status } => {
                self.latest.insert(index, status);
                self.pending = self.pending.saturating_sub(1);
                if self.pending == 0 {
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
                self.dead.push(DeadChild {
                    name: child.name.clone(),
                    pid: child.pid,
                    status,
                    at_s,
                });
                match kind {
                    Kind::Server => self.gone_servers.push(child.name.clone()),
                    Kind::Client => self.gone_clients.push(index),
                }
            }
            Event::ServerReady { .. } | Event::ClientFinal { .. } => {}
        }
    }

    /// Starts a status round: one `status` request to every live client.
    fn poll(&mut self, fleet: &Fleet) {
        self.pending = 0;
        for (i, client) in fleet.clients.iter().enumerate() {
            if !self.gone_clients.contains(&i) {
                client.request(ToClient::Status);
                self.pending += 1;
            }
        }
    }

    fn print_status(&mut self) {
        self.pending = 0;
        self.status
            .print(self.started, self.links, self.target, &self.latest);
    }

    /// Asks every live client to stop and waits for their final reports.
    fn stop_clients(
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
                        finals.push(*report);
                    }
                    Ok(Event::Gone { kind: Kind::Client, index, detail }) if waiting.contains(&index) => {
                        waiting.retain(|i| *i != index);
                        self.on_event(fleet, Event::Gone { kind: Kind::Client, index, detail });
                    }
                    Ok(Event::Gone { kind: Kind::Server, index, detail }) => {
                        self.on_event(fleet, Event::Gone { kind: Kind::Server, index, detail });
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
        for (i, client) in fleet.clients.iter_mut().enumerate() {
            if !self.gone_clients.contains(&i) {
                client.reap(Duration::from_secs(2));
            }
        }
        finals
    }

    fn report(&self, finals: &[ClientReport], fleet: &Fleet) -> RunReport {
        let config = &self.options.config;
        let mut r = RunReport {
            target_ops_per_s: self.target,
            links: self.links,
            clients: fleet.clients.len() as u64,
            servers: fleet.servers.len() as u64,
            interval_ms: config.update_intervals,
            schedule: config.schedule.name().to_string(),
            children_died: self.dead.clone(),
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
        if r.duration_s > 0.0 {
            r.achieved_ops_per_s = r.acked as f64 / r.duration_s;
        }
        if r.target_ops_per_s > 0.0 {
            r.achieved_ratio = r.achieved_ops_per_s / r.target_ops_per_s;
        }
        r
    }
}

/// The once-a-second status line: redrawn in place on a terminal, plain
/// lines in a pipe or a log.
struct StatusLine {
    quiet: bool,
    terminal: bool,
    duration: Option<Duration>,
    drawn: bool,
    last: Option<(Instant, u64)>,
}

impl StatusLine {
    fn new(quiet: bool, duration: Option<Duration>) -> StatusLine {
        StatusLine {
            quiet,
            terminal: std::io::stderr().is_terminal(),
            duration,
            drawn: false,
            last: None,
        }
    }

    fn print(
        &mut self,
        started: Instant,
        links: u64,
        target: f64,
        latest: &HashMap<usize, ClientStatus>,
    ) {
        let now = Instant::now();
        let mut total = ClientStatus::default();
        for s in latest.values() {
            total.links_up += s.links_up;
            total.acked += s.acked;
            total.late += s.late;
            total.errors += s.errors;
            total.reconnects += s.reconnects;
        }
        let rate = match self.last {
            Some((t, acked)) if now > t => {
                total.acked.saturating_sub(acked) as f64 / (now - t).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((now, total.acked));
        if self.quiet {
            return;
        }
        let elapsed = started.elapsed().as_secs();
        let time = match self.duration {
            Some(d) => format!("{elapsed}s/{}s", d.as_secs()),
            None => format!("{elapsed}s"),
        };
        let line = format!(
            "[{time}] links {}/{links}  {rate:.0} updates/s (target {target:.0})  late {}  errors {}  reconnects {}",
            total.links_up, total.late, total.errors, total.reconnects
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r{line}\x1b[K");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Ends a redrawn line so the next output starts on its own line.
    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}
