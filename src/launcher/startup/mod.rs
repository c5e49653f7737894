//! One command runs the whole system on this host, then says whether every
//! acked update arrived. [`run`] reads as the run goes, a phase a line:
//!
//! 1. **plan** (`plan.rs`): this host's servers, its role, the programs;
//! 2. **pre-flight** (`launcher::preflight`): the needs against the limits;
//! 3. **servers** (`servers.rs`): each accepts, then the other hosts' wait;
//! 4. **clients** (`clients.rs`): `client_num_per_host` processes;
//! 5. **connect** (the monitor): every link up, then one go for all;
//! 6. **run** (the monitor): a status round, and its line, each period;
//! 7. **stop** (`stop.rs`): every client's final report;
//! 8. **verify** (`verify.rs`): every server's counts, then ours stop;
//! 9. **report** (`report.rs`): the record built in one place, and shown.
//!
//! Each phase is announced once, through the run's [`Feed`]: the terminal,
//! the log and the dashboard hear the same line. A child that dies on its
//! own is named there and in the report, and the run goes on with the rest
//! (a dead server's links keep trying to reconnect, as in production).

mod clients;
mod plan;
mod report;
mod servers;
mod stop;
mod verify;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{Error, Result};
use crate::launcher::children::Fleet;
use crate::launcher::dashboard::{Dashboard, Serves};
use crate::launcher::monitor::{self, Monitor};
use crate::launcher::preflight;
use crate::launcher::proxy::Event;
use crate::launcher::record::{Feed, RunView};
use crate::launcher::report::{RunReport, Thresholds};
use plan::Plan;

/// What the user asked startup to do.
pub(crate) struct Options {
    /// The config file, passed on to every child.
    pub(crate) config_path: PathBuf,
    /// What the report calls the config: the file, or the built-in
    /// defaults, and the flags set on top (`config_source::Source`).
    pub(crate) config_shown: String,
    /// The loaded config, the window, `--quiet` and the soak CSV: what the
    /// monitor is told, and every phase reads.
    pub(crate) watch: monitor::Settings,
    /// Run as this host instead of finding it from local addresses.
    pub(crate) host: Option<IpAddr>,
    /// Longest wait for the other hosts' servers before starting clients.
    pub(crate) wait_servers: Duration,
    /// Longest wait for the other hosts' clients to leave this host's
    /// servers before reading their final counts.
    pub(crate) drain_timeout: Duration,
    /// From the first client's spawn, how long the links get to connect
    /// before the run starts without those still down (named, with why).
    pub(crate) connect_deadline: Duration,
    /// Limits the verdict holds the run to.
    pub(crate) thresholds: Thresholds,
    /// Serve the live dashboard here (`--dashboard`).
    pub(crate) dashboard: Option<SocketAddr>,
    /// Serve `/metrics` alone here (`--metrics`).
    pub(crate) metrics: Option<SocketAddr>,
    /// A step of the capacity search (`launcher::capacity`): the search
    /// ran the pre-flight once before its first step, and its steps ask
    /// rates above the capacity on purpose, so neither is said again.
    pub(crate) capacity_step: bool,
}

/// What a run leaves: its report, and the run as the dashboard showed it
/// (every status round's point, the report), for `--html-report`.
pub(crate) struct Finished {
    /// The report.
    pub(crate) report: RunReport,
    /// The run's record: the HTML report's data.
    pub(crate) view: RunView,
}

/// Runs the system and returns its report.
///
/// # Errors
/// Setup failures: a program is missing, a server cannot listen, the OS
/// refuses a process, the dashboard cannot serve. Once clients run,
/// failures go into the report instead.
pub(crate) fn run(options: &Options) -> Result<Finished> {
    let plan = Plan::of(options)?;
    let (config, quiet) = (&options.watch.config, options.watch.quiet);
    let mut feed = Feed::new(plan.info.clone(), quiet);
    // Said at once: a mistyped address costs a wait before anyone would
    // otherwise see that this host serves nothing.
    feed.say(plan.role.clone());
    if !options.capacity_step {
        preflight::check(config, &plan.local, quiet)?;
        preflight::check_capacity(config, &plan.local);
    }
    let token = &config.ops_token;
    let info = plan.info.clone();
    let dashboard = Dashboard::open(options.dashboard, Serves::Page, token, info, &mut feed)?;
    let info = plan.info.clone();
    let metrics = Dashboard::open(options.metrics, Serves::Metrics, token, info, &mut feed)?;
    let programs = plan.programs()?;
    let mut stage = Stage::new(dashboard, metrics)?;

    let launcher = servers::start(&plan, programs.server, &mut stage, &mut feed)?;
    let started = clients::spawn(&plan, programs.client, &mut stage, &mut feed)?;
    let layout = &plan.info.layout;
    let mut run = Monitor::new(&options.watch, &stage.fleet, layout, started, feed)?;
    run.restart_dead_servers(launcher, config.server_restarts);
    let (events, interrupts) = (&stage.events, &stage.interrupts);
    // The deadline counts from the first spawn, so `connect_rate`'s ramp
    // is added to it: a slow ramp is not a link that failed to connect.
    let connect_by = started + options.connect_deadline + config.ramp(layout.links);
    if run.start_together(&mut stage.fleet, events, interrupts, connect_by) {
        run.watch(&mut stage.fleet, events, interrupts);
    }
    let finals = stop::clients(&mut run, &mut stage);
    let servers = verify::read_servers(&plan, &mut run, &mut stage, &finals, started);
    Ok(report::report(&plan, run, &finals, servers, stage))
}

/// What the phases share: the children, what their proxies say, and
/// Ctrl-C.
struct Stage {
    fleet: Fleet,
    events: Receiver<Event>,
    /// Each child's proxy gets a clone. startup's own is dropped once every
    /// client is spawned, so the channel ends when the last proxy does.
    to_events: Option<Sender<Event>>,
    interrupts: Receiver<()>,
    /// The other hosts' servers that did not answer before the clients
    /// started (all of them when this host runs no client).
    not_up_before: Vec<SocketAddr>,
    /// The dashboard, with `--dashboard`: it polls this host's servers
    /// while they run, and closes once the report is in.
    dashboard: Option<Dashboard>,
    /// `/metrics` alone, with `--metrics`; closes with the dashboard.
    metrics: Option<Dashboard>,
}

impl Stage {
    fn new(dashboard: Option<Dashboard>, metrics: Option<Dashboard>) -> Result<Stage> {
        let (to_events, events) = crossbeam_channel::unbounded();
        Ok(Stage {
            fleet: Fleet::default(),
            events,
            to_events: Some(to_events),
            interrupts: interrupt_channel()?,
            not_up_before: Vec::new(),
            dashboard,
            metrics,
        })
    }
}

/// Set by the first Ctrl-C (or SIGTERM), for good.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C (or SIGTERM) came since startup began: the capacity
/// search runs many runs in one process, and stops between two.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// A channel that receives one message per Ctrl-C (or SIGTERM on Unix).
/// The handler is installed once per process (the OS allows one); every
/// later run gets the same channel.
fn interrupt_channel() -> Result<Receiver<()>> {
    static CHANNEL: OnceLock<Receiver<()>> = OnceLock::new();
    if let Some(rx) = CHANNEL.get() {
        return Ok(rx.clone());
    }
    let (tx, rx) = crossbeam_channel::bounded(8);
    ctrlc::set_handler(move || {
        INTERRUPTED.store(true, Ordering::Relaxed);
        let _ = tx.try_send(());
    })
    .map_err(|e| Error::msg(format!("cannot install the Ctrl-C handler: {e}")))?;
    Ok(CHANNEL.get_or_init(|| rx).clone())
}
