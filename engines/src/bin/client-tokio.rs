//! `client-tokio`: a client node on the async (tokio) engine. See `--help`.

use mass_connect_engines::tokio_rt::client::TokioClient;

fn main() {
    mass_connect_engines::program::client_main(
        "client-tokio",
        "tokio tasks (one task per link)",
        TokioClient::start,
    );
}
