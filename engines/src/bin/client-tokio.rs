//! `client-tokio`: a client node on the async (tokio) engine. See `--help`.

use std::sync::Arc;

use mass_connect::Result;
use mass_connect::cli::{self, Args};
use mass_connect::client::program::{self, ClientArgs};
use mass_connect::logging::Process;
use mass_connect_engines::tokio_rt::client::TokioClient;

fn main() {
    mass_connect::sys::footprint::share_one_malloc_arena();
    let result = run();
    cli::exit_on_error("client-tokio", result);
    mass_connect::logging::finish();
}

fn run() -> Result<()> {
    let usage = format!(
        "client-tokio: one mass_connect client node on tokio tasks\n\
         (the product's `client` with a task per link on a few worker threads)\n\n\
         USAGE:\n    client-tokio [--config PATH] [--server ADDR]... [--duration 30s] [--json] [--threads N]\n\n\
         OPTIONS:\n{}\n{}\n\n\
         It speaks the product's wire and control protocols: see `client --help`.",
        program::OPTIONS,
        mass_connect_engines::THREADS_OPTION
    );
    let mut args = Args::from_env("client-tokio", &usage);
    let threads = mass_connect_engines::take_threads(&mut args)?;
    let a = ClientArgs::take(args)?;
    mass_connect::logging::init(&a.config, Process::Client(a.id))?;
    let client = TokioClient::start(
        Arc::new(a.config.clone()),
        &a.servers,
        a.id,
        a.clients,
        a.supervised,
        threads,
    )?;
    program::run(client, &a)
}
