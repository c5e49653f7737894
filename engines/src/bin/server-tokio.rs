//! `server-tokio`: a server node on the async (tokio) engine. See `--help`.

use std::sync::Arc;

use mass_connect::Result;
use mass_connect::cli::{self, Args};
use mass_connect::logging::Process;
use mass_connect::server::program::{self, ServerArgs};
use mass_connect_engines::tokio_rt::server::TokioServer;

fn main() {
    mass_connect::sys::footprint::share_one_malloc_arena();
    let result = run();
    cli::exit_on_error("server-tokio", result);
    mass_connect::logging::finish();
}

fn run() -> Result<()> {
    let usage = format!(
        "server-tokio: one mass_connect server node on tokio tasks\n\
         (the product's `server` with a task per link on a few worker threads)\n\n\
         USAGE:\n    server-tokio [--config PATH] [--ip IP] [--port PORT] [--threads N]\n    \
         server-tokio IP PORT\n\n\
         OPTIONS:\n{}\n{}\n\n\
         It speaks the product's wire and control protocols: see `server --help`.",
        program::OPTIONS,
        mass_connect_engines::THREADS_OPTION
    );
    let mut args = Args::from_env("server-tokio", &usage);
    let threads = mass_connect_engines::take_threads(&mut args)?;
    let a = ServerArgs::take(args)?;
    mass_connect::logging::init(&a.config, Process::Server(a.addr))?;
    let server = TokioServer::bind(Arc::new(a.config), a.addr, threads)?;
    let handle = server.handle();
    let finished = server.handle();
    program::stop_on_request(a.supervised, move || handle.stop())?;
    program::say_listening(server.local_addr());
    let stats = server.run()?;
    program::say_stopped(a.supervised, finished.stopped_by(), &stats);
    Ok(())
}
