//! `client`: one client node. See `client --help`.

use std::sync::Arc;

use mass_connect::Result;
use mass_connect::cli::{self, Args};
use mass_connect::client::Client;
use mass_connect::client::program::{self, ClientArgs};
use mass_connect::logging::Process;

fn main() {
    mass_connect::sys::footprint::share_one_malloc_arena();
    let result = run();
    cli::exit_on_error("client", result);
    mass_connect::logging::finish();
}

fn run() -> Result<()> {
    let usage = format!(
        "client: one mass_connect client node (one thread per server link)\n\n\
         USAGE:\n    client [--config PATH] [--server ADDR]... [--duration 30s] [--json]\n\n\
         OPTIONS:\n{}\n\n\
         Standalone, the client prints a status line each second on stderr and its\n\
         report on stdout when it stops.",
        program::OPTIONS
    );
    let a = ClientArgs::take(Args::from_env("client", &usage))?;

    mass_connect::logging::init(&a.config, Process::Client(a.id))?;
    // Under startup, connect and wait for its `go`: see `program::serve_supervisor`.
    let client = Client::start(
        Arc::new(a.config.clone()),
        &a.servers,
        a.id,
        a.clients,
        a.supervised,
    )?;
    program::run(client, &a)
}
