//! One command runs the whole system on this host, then says whether every
//! acked update arrived.
//!
//! The run, in order:
//! 1. pick this host's servers from `server_ip_list` (or `--host`);
//! 2. start them and wait for each one's `listening on` line, then for the
//!    other hosts' servers (hosts.rs);
//! 3. start `client_num_per_host` clients, one process each, as the seed did;
//! 4. give every client the same window (`go START END`), then once a
//!    round (a second up to 200 clients) ask each for its status and print
//!    one line;
//! 5. at the window's end (each link stops after its last update) or on
//!    Ctrl-C, stop the clients (each finishes its in-flight update and
//!    reports what was acked on each key);
//! 6. dump every server (this host's once the other hosts' clients have left
//!    them: hosts.rs), verify key by key, stop the servers, report.
//!
//! A child that dies on its own is named on the terminal and in the report;
//! the run goes on with the rest (a dead server's links keep trying to
//! reconnect, which is what the seed's users would see in production).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, select};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::launcher::children::{self, Fleet};
use crate::launcher::dashboard::{self, Dashboard, Feed, FinalReport, Phase, RunView, Update};
use crate::launcher::hosts;
use crate::launcher::monitor::{self, Monitor};
use crate::launcher::proxy::{Event, Kind};
use crate::launcher::report::RunReport;
use crate::launcher::run_verdict::{self, Thresholds};
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
    /// Append one CSV row per `sample_every` here.
    pub samples: Option<PathBuf>,
    /// How often a CSV row is written.
    pub sample_every: Duration,
    /// When each process's memory becomes the baseline of the leak check.
    pub rss_baseline: Duration,
    /// Longest wait for the other hosts' servers before starting clients.
    pub wait_servers: Duration,
    /// Longest wait for the other hosts' clients to leave this host's
    /// servers before reading their final counts.
    pub drain_timeout: Duration,
    /// From the first client's spawn, how long the links get to connect
    /// before the run starts without those still down (named, with why).
    pub connect_deadline: Duration,
    /// Limits the verdict holds the run to.
    pub thresholds: Thresholds,
    /// Serve the live dashboard here (`--dashboard`).
    pub dashboard: Option<SocketAddr>,
}

/// What a run leaves: its report, and the run as the dashboard showed it
/// (every status round's point, the report), for `--html-report`.
pub struct Finished {
    /// The report.
    pub report: RunReport,
    /// The run's record: the HTML report's data.
    pub view: RunView,
}

/// Runs the system and returns its report.
///
/// # Errors
/// Setup failures: a program is missing, a server cannot listen, the OS
/// refuses a process, the dashboard cannot serve. Once clients run,
/// failures go into the report instead.
pub fn run(options: &Options) -> Result<Finished> {
    let began = (Instant::now(), SystemTime::now());
    let config = &options.config;
    let local_servers = config.host_servers(options.host)?;
    let all_servers = config.all_servers();
    let clients = config.client_num_per_host as usize;
    // Said at once: a mistyped address costs a wait before anyone would
    // otherwise see that this host serves nothing.
    let role = host_role(config, options.host, &local_servers)?;
    log::info!("{role}");
    if !options.quiet {
        eprintln!("startup: {role}");
    }
    crate::launcher::preflight::check(config, &local_servers, options.quiet)?;
    let info = dashboard::RunInfo::of(
        config,
        &options.config_path,
        options.duration,
        &role,
        &local_servers,
        began.1,
    );
    let mut dashboard = match options.dashboard {
        Some(addr) => Some(start_dashboard(addr, config, info.clone())?),
        None => None,
    };
    let mut feed = Feed::new(info, dashboard.as_ref());
    feed.phase(Phase::Starting, "starting this host's servers");
    let server_program = if local_servers.is_empty() {
        None
    } else {
        Some(children::find_program(
            &config.server_app_name,
            "server_app_name",
        )?)
    };
    let client_program = if clients == 0 {
        None
    } else {
        Some(children::find_program(
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
    let launcher = server_program.map(|program| {
        children::ServerLauncher::new(
            program,
            config_arg.clone(),
            local_servers.clone(),
            events_tx.clone(),
        )
    });
    if let Some(launcher) = &launcher {
        for index in 0..local_servers.len() {
            fleet.add_server(launcher.spawn(index)?);
        }
        wait_for_servers(&mut fleet, &events, &interrupts)?;
        if let Some(d) = &mut dashboard {
            d.poll_servers(
                local_servers.clone(),
                config.ops_token.clone(),
                hosts::timeout(config),
            );
        }
    }
    // The other hosts' servers that did not answer before the clients
    // start (none of them, when this host runs no client).
    let not_up_before = if clients > 0 {
        hosts::wait_for_other_servers(
            config,
            &local_servers,
            options.wait_servers,
            options.quiet,
            &interrupts,
        )?
    } else {
        all_servers.clone()
    };

    log::info!(
        "{} servers accepting; starting {clients} clients",
        fleet.servers.len()
    );
    feed.phase(Phase::Connecting, format!("starting {clients} clients"));
    let started = Instant::now();
    let connect_by = started + options.connect_deadline;
    if let Some(program) = &client_program {
        let mut said = started;
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
            fleet.add_client(children::spawn_client(
                program,
                &args,
                index,
                events_tx.clone(),
            )?);
            if !options.quiet && said.elapsed() >= Duration::from_secs(1) {
                said = Instant::now();
                eprintln!("startup: spawned {}/{clients} clients", index + 1);
            }
        }
    }
    drop(events_tx);

    let links = (clients * all_servers.len()) as u64;
    let target = links as f64 * config.per_link_rate();
    log::info!("{clients} clients started");
    let settings = monitor::Settings {
        config: options.config.clone(),
        duration: options.duration,
        quiet: options.quiet,
        samples: options.samples.clone(),
        sample_every: options.sample_every,
        rss_baseline: options.rss_baseline,
    };
    let mut run = Monitor::new(&settings, &fleet, target, links, started, feed)?;
    run.restart_dead_servers(
        launcher.filter(|_| config.server_restarts > 0),
        config.server_restarts,
    );
    if run.start_together(&mut fleet, &events, &interrupts, connect_by) {
        run.watch(&mut fleet, &events, &interrupts);
    }

    // Stop the clients and collect what each acked; the dashboard's
    // server polls end first (the drain counts links on the servers).
    if let Some(d) = &mut dashboard {
        d.stop_polls();
    }
    let stopping = format!("stopping {} clients", fleet.clients.len());
    run.feed().phase(Phase::Stopping, stopping);
    if !options.quiet {
        eprintln!("startup: stopping {} clients...", fleet.clients.len());
    }
    log::info!("stopping {} clients", fleet.clients.len());
    let finals = run.stop_clients(&mut fleet, &events, &interrupts);
    log::info!("{} clients reported", finals.len());

    // Read every server's data (ours once every host's links have left
    // them: hosts.rs), then stop ours.
    let mut keys: Vec<_> = finals.iter().flat_map(|r| r.keys.iter().cloned()).collect();
    run.feed().phase(
        Phase::Verifying,
        "reading the servers' counts and verifying",
    );
    let end = hosts::read_servers(
        config,
        &local_servers,
        &keys,
        (started, &not_up_before),
        options.drain_timeout,
        options.quiet,
        &interrupts,
    );
    for server in &mut fleet.servers {
        server.close_stdin();
    }
    let stop_timeout = Duration::from_millis(config.stop_timeout_ms);
    for (index, server) in fleet.servers.iter_mut().enumerate() {
        if !run.server_gone(index) {
            server.reap(stop_timeout);
        }
    }

    log::info!(
        "servers stopped; {} client reports, {} servers down",
        finals.len(),
        end.down.len()
    );
    let mut report = run.report(&finals, &fleet);
    // Restarted here, or by another host while our clients used it.
    let mut restarted = run.restarted_servers();
    restarted.extend(end.restarted.iter().cloned());
    report.verify = verify::verify(&keys, &end.dumps, &end.down, &restarted);
    report.unacked_by_server = verify::unacked_by_server(&keys, &all_servers);
    // The servers answered `stats` after every client had stopped, so their
    // own figures cover the whole run (a restarted server's would not, and
    // updates from other hosts' clients would be missing from the divisor).
    if report.children_died.is_empty()
        && report.verify.unclaimed_updates == 0
        && end.server_stats.len() == fleet.servers.len()
    {
        let own: Vec<_> = end.server_stats.iter().map(|s| s.process).collect();
        report
            .processes
            .server
            .use_own_accounting(&own, report.acked);
    }
    report.server_stats = end.server_stats;
    // For the merged verdict across hosts (omclient verify --reports).
    keys.sort_by(|a, b| (a.server, &a.key).cmp(&(b.server, &b.key)));
    report.host = local_servers.first().map(|a| a.ip().to_string());
    report.client_keys = keys;
    report.server_dumps = end.final_dumps;
    report.drain_s = end.drain_s;
    describe(&mut report, options, role, began);
    let feed = run.feed();
    feed.send(Update::Message(report.verdict_line()));
    feed.send(Update::Final(Box::new(FinalReport::of(&report))));
    let view = feed.view();
    if let Some(d) = dashboard {
        d.close();
    }
    Ok(Finished { report, view })
}

/// Starts the dashboard on `addr` and says where, whatever `--quiet`
/// says: the address is what the user asked for.
fn start_dashboard(
    addr: SocketAddr,
    config: &Config,
    info: dashboard::RunInfo,
) -> Result<Dashboard> {
    let d = Dashboard::start(addr, &config.ops_token, info)?;
    let note = if d.needs_token() {
        " (every request needs the ops_token: add ?token=<ops_token>, or send \
         Authorization: Bearer <ops_token>)"
    } else {
        ""
    };
    log::info!("dashboard at {}", d.url());
    eprintln!("startup: dashboard at {}{note}", d.url());
    Ok(d)
}

/// Fills in what the run was (version, start, config, this host's role)
/// and its verdict, the report's first line.
fn describe(report: &mut RunReport, options: &Options, role: String, began: (Instant, SystemTime)) {
    report.version = env!("CARGO_PKG_VERSION").to_string();
    report.started_utc = crate::utc::iso8601(began.1, false);
    report.wall_s = began.0.elapsed().as_secs_f64();
    report.host_role = role;
    report.config_path = options.config_path.display().to_string();
    report.config_hash = std::fs::read(&options.config_path)
        .map(|bytes| format!("fnv1a64:{:016x}", fnv1a64(&bytes)))
        .unwrap_or_else(|e| format!("unreadable: {e}"));
    // Config's serialization leaves the operations token out.
    report.config = serde_json::to_value(&*options.config).unwrap_or_default();
    report.thresholds = options.thresholds;
    report.generator_saturated = run_verdict::saturation(report).is_some();
    report.verdict_reasons = run_verdict::reasons(report, &options.thresholds);
    report.verdict = if report.verdict_reasons.is_empty() {
        "pass"
    } else {
        "fail"
    }
    .into();
}

/// FNV-1a, 64 bits: enough to tell two config files apart in reports,
/// and ten lines instead of a hashing crate.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What this host does in the run, in one sentence.
///
/// # Errors
/// It would do nothing: no address of it serves and it runs no client.
fn host_role(config: &Config, host: Option<IpAddr>, local: &[SocketAddr]) -> Result<String> {
    let clients = config.client_num_per_host;
    let list: Vec<String> = config
        .server_ip_list
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    let not_listed = match host {
        Some(ip) => format!("{ip} is not in server_ip_list ({})", list.join(", ")),
        None => format!(
            "no address of it is in server_ip_list ({})",
            list.join(", ")
        ),
    };
    let Some(first) = local.first() else {
        if clients == 0 {
            return Err(Error::msg(format!(
                "nothing to run on this host: {not_listed} and client_num_per_host is 0"
            )));
        }
        let this = host.map_or_else(|| "this host".to_string(), |ip| format!("this host {ip}"));
        return Ok(format!(
            "{this} runs clients only: {not_listed}; {clients} client(s) will link to the other hosts' servers"
        ));
    };
    let ports: Vec<String> = local.iter().map(|a| a.port().to_string()).collect();
    Ok(format!(
        "this host {} runs {} server(s) (ports {}) and {clients} client(s)",
        first.ip(),
        local.len(),
        ports.join(", ")
    ))
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
