//! The engines' programs, written once: each of the four is the product's
//! program shell (`client::program`, `server::program`: the same options,
//! control lines, standalone mode and last words) around its engine, plus
//! `--threads` ([`THREADS_OPTION`]) and, for clients, `--source`
//! ([`crate::source`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mass_connect::cli::{self, Args};
use mass_connect::client::program::{self as client_program, ClientArgs, Node};
use mass_connect::config::Config;
use mass_connect::error::Result;
use mass_connect::logging::Process;
use mass_connect::messages::ServerStats;
use mass_connect::server::program::{self as server_program, ServerArgs};

use crate::source::{SOURCE_OPTION, take_source};

/// The `--threads N` option the engines' programs add to the product's:
/// loop threads (evloop) or runtime workers (tokio). The environment
/// variable `MASS_CONNECT_THREADS` sets it for programs that startup runs
/// (startup passes no options of its own to them). Default: one per CPU.
pub const THREADS_OPTION: &str =
    "    --threads N     loop threads / runtime workers [default: one per CPU,
                    or MASS_CONNECT_THREADS]";

/// Takes `--threads N` from `args` (see [`THREADS_OPTION`]).
///
/// # Errors
/// A value that is not a whole number from 1 up.
pub fn take_threads(args: &mut Args) -> Result<usize> {
    let from_env = std::env::var("MASS_CONNECT_THREADS").ok();
    let given = args.value("--threads")?.or(from_env);
    match given {
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(args.error(&format!(
                "--threads {text:?} is not a whole number from 1 up"
            ))),
        },
    }
}

/// A running server engine's handle: stops it from any thread.
pub trait StopHandle: Send + 'static {
    /// Asks the server to stop; returns at once.
    fn stop(&self);
    /// The peer whose operations `stop` stopped it, if one did.
    fn stopped_by(&self) -> Option<SocketAddr>;
}

/// A bound server engine.
pub trait ServerEngine: Sized {
    /// Its stop handle.
    type Handle: StopHandle;
    /// Binds `addr` with `threads` loop threads / workers.
    ///
    /// # Errors
    /// The address is refused or taken; the OS refuses what it needs.
    fn bind(config: Arc<Config>, addr: SocketAddr, threads: usize) -> Result<Self>;
    /// The address actually bound.
    fn local_addr(&self) -> SocketAddr;
    /// A handle that stops it.
    fn handle(&self) -> Self::Handle;
    /// Serves until stopped; the final counters.
    ///
    /// # Errors
    /// The OS refuses its threads.
    fn run(self) -> Result<ServerStats>;
}

/// What an engine's client takes beyond the product's client options.
#[derive(Clone, Copy, Debug)]
pub struct EngineArgs {
    /// Loop threads / runtime workers (`--threads`).
    pub threads: usize,
    /// The local address every link connects from (`--source`).
    pub source: Option<IpAddr>,
}

/// `main` of an engine's client program: `name` is the program, `what`
/// its engine in a few words, `start` starts the node with `--threads` and
/// `--source`.
pub fn client_main<N: Node>(
    name: &'static str,
    what: &str,
    start: fn(&ClientArgs, EngineArgs) -> Result<N>,
) {
    mass_connect::sys::footprint::share_one_malloc_arena();
    let result = (|| {
        let usage = format!(
            "{name}: one mass_connect client node on {what}\n\n\
             USAGE:\n    {name} [--config PATH] [--server ADDR]... [--duration 30s] [--json] \
             [--threads N] [--source IP]\n\n\
             OPTIONS:\n{}\n{THREADS_OPTION}\n{SOURCE_OPTION}\n\n\
             It speaks the product's wire and control protocols: see `client --help`.",
            client_program::OPTIONS
        );
        let mut args = Args::from_env(name, &usage);
        let threads = take_threads(&mut args)?;
        let source = take_source(&mut args)?;
        let a = ClientArgs::take(args)?;
        mass_connect::logging::init(&a.config, Process::Client(a.id))?;
        let node = start(&a, EngineArgs { threads, source })?;
        client_program::run(node, &a)
    })();
    cli::exit_on_error(name, result);
    mass_connect::logging::finish();
}

/// `main` of an engine's server program (see [`client_main`]).
pub fn server_main<S: ServerEngine>(name: &'static str, what: &str) {
    mass_connect::sys::footprint::share_one_malloc_arena();
    let result = (|| {
        let usage = format!(
            "{name}: one mass_connect server node on {what}\n\n\
             USAGE:\n    {name} [--config PATH] [--ip IP] [--port PORT] [--threads N]\n    \
             {name} IP PORT\n\n\
             OPTIONS:\n{}\n{THREADS_OPTION}\n\n\
             It speaks the product's wire and control protocols: see `server --help`.",
            server_program::OPTIONS
        );
        let mut args = Args::from_env(name, &usage);
        let threads = take_threads(&mut args)?;
        let a = ServerArgs::take(args)?;
        mass_connect::logging::init(&a.config, Process::Server(a.addr))?;
        let server = S::bind(Arc::new(a.config), a.addr, threads)?;
        let handle = server.handle();
        let finished = server.handle();
        server_program::stop_on_request(a.supervised, move || handle.stop())?;
        server_program::say_listening(server.local_addr());
        let stats = server.run()?;
        server_program::say_stopped(a.supervised, finished.stopped_by(), &stats);
        Ok(())
    })();
    cli::exit_on_error(name, result);
    mass_connect::logging::finish();
}
