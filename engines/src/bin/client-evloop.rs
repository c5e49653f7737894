//! `client-evloop`: a client node on the event-loop engine. See `--help`.

use mass_connect_engines::evloop::client::EvClient;

fn main() {
    mass_connect_engines::program::client_main(
        "client-evloop",
        "a mio event loop (one loop thread per CPU)",
        EvClient::start,
    );
}
