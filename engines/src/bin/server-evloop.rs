//! `server-evloop`: a server node on the event-loop engine. See `--help`.

use mass_connect_engines::evloop::server::EvServer;

fn main() {
    mass_connect_engines::program::server_main::<EvServer>(
        "server-evloop",
        "a mio event loop (one loop thread per CPU)",
    );
}
