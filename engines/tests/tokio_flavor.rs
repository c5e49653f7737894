//! `MASS_CONNECT_TOKIO_FLAVOR=current_thread`: the tokio engine on one
//! thread per process (the engines bench's `tokio-ct`, issue 27 item 5).
//! Real processes on loopback: the updates are acked, the runtime really is
//! the current-thread one (no worker threads in either process), and a
//! value that names no flavor, or a combination tokio cannot run, is
//! refused with the variable named.

mod common;

use common::config;
use std::process::{Command, Stdio};

const SERVER: &str = env!("CARGO_BIN_EXE_server-tokio");
const CLIENT: &str = env!("CARGO_BIN_EXE_client-tokio");
const FLAVOR: &str = "MASS_CONNECT_TOKIO_FLAVOR";

/// A current-thread server on a port the OS picks.
fn start_server(config: &str) -> common::Server {
    common::start_server(SERVER, config, &[(FLAVOR, "current_thread")])
}

/// The names of a process's threads.
#[cfg(target_os = "linux")]
fn thread_names(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return names; // it has ended
    };
    for task in tasks.flatten() {
        let comm = task.path().join("comm");
        if let Ok(name) = std::fs::read_to_string(comm) {
            names.push(name.trim().to_string());
        }
    }
    names
}

#[test]
fn a_current_thread_pair_acks_every_update_without_worker_threads() {
    let config = config("flavor-pair");
    let server = start_server(&config);
    let addr = server.addr.clone();
    let client = Command::new(CLIENT)
        .args(["--config", &config, "--duration", "1s", "--json"])
        .args(["--server", &addr, "--server", &addr, "--server", &addr])
        .env(FLAVOR, "current_thread")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client_pid = client.id();

    // While the client runs, neither process has a runtime worker: the
    // server's tasks run on its main thread, the client's on one driver.
    #[cfg(target_os = "linux")]
    {
        let server_threads = thread_names(server.id());
        assert!(
            !server_threads.iter().any(|n| n.starts_with("tokio worker")),
            "server threads: {server_threads:?}"
        );
        // The client's driver thread is the sign its runtime is up
        // (bounded wait: the client lives 1 s).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut client_threads = thread_names(client_pid);
        while !client_threads.iter().any(|n| n == "tokio driver")
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
            client_threads = thread_names(client_pid);
        }
        assert!(
            client_threads.iter().any(|n| n == "tokio driver"),
            "client threads: {client_threads:?}"
        );
        assert!(
            !client_threads.iter().any(|n| n.starts_with("tokio worker")),
            "client threads: {client_threads:?}"
        );
    }

    let out = client.wait_with_output().unwrap();
    drop(server);
    assert!(
        out.status.success(),
        "client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = &report["status"];
    assert_eq!(status["links"], 3, "{report}");
    assert_eq!(status["errors"], 0, "{report}");
    let acked = status["acked"].as_u64().unwrap();
    // 3 links at 20 ms for 1 s: about 150; any ack proves the loop ran.
    assert!(acked > 0, "{report}");
    assert_eq!(acked, status["sent"].as_u64().unwrap(), "{report}");
}

#[test]
fn a_flavor_tokio_has_not_is_refused_with_the_variable_named() {
    let config = config("flavor-bad");
    let server_args = ["--config", &config, "--ip", "127.0.0.1", "--port", "0"];
    let client_args = [
        "--config",
        &config,
        "--server",
        "127.0.0.1:9",
        "--duration",
        "1s",
    ];
    for (program, args) in [(SERVER, server_args), (CLIENT, client_args)] {
        let out = Command::new(program)
            .args(args)
            .env(FLAVOR, "work_stealing")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{program}: {err}");
        assert!(
            err.contains("MASS_CONNECT_TOKIO_FLAVOR=\"work_stealing\""),
            "{program}: {err}"
        );
    }

    // block_in_place panics on a current-thread runtime: refused first.
    let out = Command::new(SERVER)
        .args(["--config", &config, "--ip", "127.0.0.1", "--port", "0"])
        .env(FLAVOR, "current_thread")
        .env("MASS_CONNECT_BLOCK_IN_PLACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("needs MASS_CONNECT_TOKIO_FLAVOR=multi_thread"),
        "{err}"
    );
}
