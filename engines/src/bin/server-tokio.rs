//! `server-tokio`: a server node on the async (tokio) engine. See `--help`.

use mass_connect_engines::tokio_rt::server::TokioServer;

fn main() {
    mass_connect_engines::program::server_main::<TokioServer>(
        "server-tokio",
        "tokio tasks (one task per link)",
    );
}
