//! A test's directory and its config file; ports that are free.

use std::net::TcpListener;
use std::path::PathBuf;

use super::TempDir;

/// Ports that were free a moment ago (the OS picked them). Startup needs
/// fixed ports in its config; the window for another program to take one
/// is tiny and the test would then fail loudly, not silently.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A config for `clients` clients and the given server ports on 127.0.0.1
/// (`extra` starts with a comma, e.g. `, "ops_token": "x"`).
pub fn config_json(ports: &[u16], clients: u32, extra: &str) -> String {
    config_json_on(&["127.0.0.1"], ports, clients, extra)
}

/// A config whose servers are on each of `hosts`, each with these ports,
/// naming the test's engine's programs ([`super::engine`]) when they are
/// not the product's.
pub fn config_json_on(hosts: &[&str], ports: &[u16], clients: u32, extra: &str) -> String {
    let ports: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    let engine = super::engine();
    let programs = if engine == super::Engine::THREADS {
        String::new()
    } else {
        format!(
            r#", "server_app_name": "{}", "client_app_name": "{}""#,
            engine.server, engine.client
        )
    };
    // 10 ms, the seed's interval, unless `extra` sets its own (a config
    // with a key twice is an error).
    let interval = if extra.contains(r#""update_intervals""#) {
        ""
    } else {
        r#", "update_intervals": 10"#
    };
    format!(
        r#"{{"server_ip_list": "{}", "server_port_list": "{}", "client_num_per_host": {clients}{interval}{programs}{extra}}}"#,
        hosts.join(";"),
        ports.join(";")
    )
}

/// A fresh directory holding `config.json`, with servers on free ports:
/// the start of every test that runs the whole system.
pub struct TestConfig {
    pub dir: TempDir,
    /// The config file.
    pub path: PathBuf,
    /// Its server ports.
    pub ports: Vec<u16>,
}

impl TestConfig {
    /// `clients` clients and `ports` servers, all on 127.0.0.1.
    pub fn local(tag: &str, ports: usize, clients: u32, extra: &str) -> TestConfig {
        TestConfig::on_hosts(tag, &["127.0.0.1"], ports, clients, extra)
    }

    /// `ports` servers on each of `hosts` (the same ports on every host),
    /// and `clients` clients per host.
    pub fn on_hosts(
        tag: &str,
        hosts: &[&str],
        ports: usize,
        clients: u32,
        extra: &str,
    ) -> TestConfig {
        let dir = TempDir::new(tag);
        let ports = free_ports(ports);
        let path = dir.write(
            "config.json",
            &config_json_on(hosts, &ports, clients, extra),
        );
        TestConfig { dir, path, ports }
    }

    /// The config's path as a command-line argument (which every process
    /// a startup runs on it mentions).
    pub fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}
