//! `server`: one server node. See `server --help`.

use std::sync::Arc;

use mass_connect::Result;
use mass_connect::cli::{self, Args};
use mass_connect::logging::Process;
use mass_connect::server::Server;
use mass_connect::server::program::{self, ServerArgs};

fn main() {
    mass_connect::sys::footprint::share_one_malloc_arena();
    let result = run();
    cli::exit_on_error("server", result);
    mass_connect::logging::finish();
}

fn run() -> Result<()> {
    let usage = format!(
        "server: one mass_connect server node\n\n\
         USAGE:\n    server [--config PATH] [--ip IP] [--port PORT]\n    \
         server IP PORT                  (the seed's form)\n\n\
         OPTIONS:\n{}\n\n\
         The server prints `mass_connect server listening on IP:PORT` once it accepts\n\
         connections, and stops on Ctrl-C or an operations `stop` (see omclient).\n\
         Under startup, a server ended by an operations `stop` prints `mass_connect\n\
         server stopped by operations stop from IP:PORT` (the sender) before it exits.",
        program::OPTIONS
    );
    let a = ServerArgs::take(Args::from_env("server", &usage))?;

    mass_connect::logging::init(&a.config, Process::Server(a.addr))?;
    let server = Server::bind(Arc::new(a.config), a.addr)?;
    let handle = server.handle();
    let finished = server.handle();
    program::stop_on_request(a.supervised, move || handle.stop())?;
    program::say_listening(server.local_addr());
    let stats = server.run();
    program::say_stopped(a.supervised, finished.stopped_by(), &stats);
    Ok(())
}
