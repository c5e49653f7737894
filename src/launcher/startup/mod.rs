//! One command runs the whole system on this host, then says whether every
//! acked update arrived.
//!
//! [`run`] reads as the run goes, one phase a line:
//! 1. **plan**: this host's servers from `server_ip_list` (or `--host`),
//!    its role, the programs (`plan.rs`);
//! 2. **pre-flight**: the layout's needs against this host's limits;
//! 3. **servers**: start them and wait for each one's `listening on` line,
//!    then for the other hosts' servers (`launch.rs`, hosts.rs);
//! 4. **clients**: `client_num_per_host` of them, one process each, as the
//!    seed did (`launch.rs`);
//! 5. **connect**: every link up (or the connect deadline), then one window
//!    (`go START END`) for all (the monitor);
//! 6. **run**: once a round ask each client for its status and print one
//!    line (the monitor);
//! 7. **stop**: at the window's end or on Ctrl-C, stop the clients (each
//!    finishes its in-flight update and reports what was acked on each
//!    key) (`end.rs`);
//! 8. **verify**: dump every server (this host's once the other hosts'
//!    clients have left them: hosts.rs), then stop ours (`end.rs`);
//! 9. **report**: the record built in one place (`report::assemble`).
//!
//! Each phase is announced once, through the run's [`Feed`]: the terminal,
//! the log and the dashboard hear the same line.
//!
//! A child that dies on its own is named on the terminal and in the report;
//! the run goes on with the rest (a dead server's links keep trying to
//! reconnect, which is what the seed's users would see in production).

mod end;
mod launch;
mod plan;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::launcher::children::Fleet;
use crate::launcher::dashboard::Dashboard;
use crate::launcher::monitor::{self, Monitor};
use crate::launcher::preflight;
use crate::launcher::proxy::Event;
use crate::launcher::record::{Feed, FinalReport, RunView, Update};
use crate::launcher::report::{self, About, RunReport, ServerSide};
use crate::launcher::run_verdict::Thresholds;
use crate::messages::ClientReport;
use plan::Plan;

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
    let plan = Plan::of(options)?;
    let mut feed = Feed::new(plan.info.clone(), options.quiet);
    // Said at once: a mistyped address costs a wait before anyone would
    // otherwise see that this host serves nothing.
    feed.say(plan.role.clone());
    preflight::check(&options.config, &plan.local, options.quiet)?;
    let mut dashboard = open_dashboard(options, &plan, &mut feed)?;
    let programs = plan.programs()?;
    let mut stage = Stage::new()?;

    let (launcher, not_up_before) = launch::servers(
        &plan,
        programs.server,
        &mut stage,
        &mut feed,
        dashboard.as_mut(),
    )?;
    let started = launch::clients(&plan, programs.client, &mut stage, &mut feed)?;
    let settings = monitor_settings(options);
    let mut run = Monitor::new(
        &settings,
        &stage.fleet,
        plan.target,
        plan.links,
        started,
        feed,
    )?;
    let config = &options.config;
    run.restart_dead_servers(
        launcher.filter(|_| config.server_restarts > 0),
        config.server_restarts,
    );
    let connect_by = started + options.connect_deadline;
    if run.start_together(
        &mut stage.fleet,
        &stage.events,
        &stage.interrupts,
        connect_by,
    ) {
        run.watch(&mut stage.fleet, &stage.events, &stage.interrupts);
    }
    let finals = end::stop_clients(&mut run, &mut stage, dashboard.as_mut());
    let servers = end::read_servers(
        &plan,
        &mut run,
        &mut stage,
        &finals,
        (started, &not_up_before),
    );
    Ok(report_run(
        &plan,
        options,
        run,
        &finals,
        servers,
        &stage.fleet,
        dashboard,
    ))
}

/// What the phases share: the children, what their proxies say, and
/// Ctrl-C.
struct Stage {
    fleet: Fleet,
    events: Receiver<Event>,
    /// Each child's proxy gets a clone. startup's own is dropped once every
    /// client is spawned, so the channel ends when the last proxy does.
    to_events: Option<crossbeam_channel::Sender<Event>>,
    interrupts: Receiver<()>,
}

impl Stage {
    fn new() -> Result<Stage> {
        let (to_events, events) = crossbeam_channel::unbounded();
        Ok(Stage {
            fleet: Fleet::default(),
            events,
            to_events: Some(to_events),
            interrupts: interrupt_channel()?,
        })
    }
}

/// Starts the dashboard if asked and says where, whatever `--quiet` says:
/// the address is what the user asked for. The feed's copy goes to it
/// from then on.
fn open_dashboard(options: &Options, plan: &Plan, feed: &mut Feed) -> Result<Option<Dashboard>> {
    let Some(addr) = options.dashboard else {
        return Ok(None);
    };
    let d = Dashboard::start(addr, &options.config.ops_token, plan.info.clone())?;
    let note = if d.needs_token() {
        " (every request needs the ops_token: add ?token=<ops_token>, or send \
         Authorization: Bearer <ops_token>)"
    } else {
        ""
    };
    log::info!("dashboard at {}", d.url());
    eprintln!("startup: dashboard at {}{note}", d.url());
    feed.go_live(d.live());
    Ok(Some(d))
}

/// The part of the options the monitor acts on.
fn monitor_settings(options: &Options) -> monitor::Settings {
    monitor::Settings {
        config: options.config.clone(),
        duration: options.duration,
        quiet: options.quiet,
        samples: options.samples.clone(),
        sample_every: options.sample_every,
        rss_baseline: options.rss_baseline,
    }
}

/// The report phase: the record built in one place, then its verdict and
/// the report on the dashboard, which then closes.
fn report_run(
    plan: &Plan,
    options: &Options,
    mut run: Monitor,
    finals: &[ClientReport],
    servers: ServerSide,
    fleet: &Fleet,
    dashboard: Option<Dashboard>,
) -> Finished {
    let about = About {
        began: plan.began,
        role: &plan.role,
        config_path: &options.config_path,
        config: &options.config,
        thresholds: options.thresholds,
        all_servers: &plan.all,
        local_servers: &plan.local,
    };
    let report = report::assemble(&about, run.watched(finals, fleet), finals, servers);
    let feed = run.feed();
    feed.send(Update::Message(report.verdict_line()));
    feed.send(Update::Final(Box::new(FinalReport::of(&report))));
    let view = feed.view();
    if let Some(d) = dashboard {
        d.close();
    }
    Finished { report, view }
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
