//! `--source IP`: the engines' clients connect every link from the address
//! given (the engines bench's wall gives each client process one, so a
//! host holds more links than one address has ports). Real processes on
//! loopback: the keys the server stored carry the source address, which
//! the report's keys (each link's local `IP:PORT`) show; a value that is
//! not an address is refused with the option named.

mod common;

use std::process::Command;

const SERVER: &str = env!("CARGO_BIN_EXE_server-evloop");
const CLIENTS: [&str; 2] = [
    env!("CARGO_BIN_EXE_client-evloop"),
    env!("CARGO_BIN_EXE_client-tokio"),
];

/// An address of 127.0.0.0/8 that is not 127.0.0.1, so the OS's own
/// choice could not produce it. Linux answers on all of 127.0.0.0/8;
/// elsewhere only 127.0.0.1 is sure to be there, so the test there shows
/// the bind path works but not that it chose the address.
#[cfg(target_os = "linux")]
const SOURCE: &str = "127.0.3.9";
#[cfg(not(target_os = "linux"))]
const SOURCE: &str = "127.0.0.1";

#[test]
fn every_link_connects_from_the_source_given() {
    let config = common::config("source");
    let server = common::start_server(SERVER, &config, &[]);
    let addr = &server.addr;
    for client in CLIENTS {
        let out = Command::new(client)
            .args(["--config", &config, "--duration", "1s", "--json"])
            .args(["--server", addr, "--server", addr, "--source", SOURCE])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{client}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["status"]["errors"], 0, "{client}: {report}");
        let keys = report["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "{client}: {report}");
        for k in keys {
            let key = k["key"].as_str().unwrap();
            assert!(
                key.starts_with(&format!("{SOURCE}:")),
                "{client}: key {key} is not from {SOURCE}"
            );
            assert!(k["acked"].as_u64().unwrap() > 0, "{client}: {report}");
        }
    }
}

#[test]
fn a_source_that_is_not_an_address_is_refused() {
    for client in CLIENTS {
        let out = Command::new(client)
            .args(["--server", "127.0.0.1:9", "--source", "127.0.0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{client}: {err}");
        assert!(
            err.contains("--source \"127.0.0\" is not an IP address"),
            "{client}: {err}"
        );
    }
}
