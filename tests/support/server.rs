//! A running `server`, raw protocol connections to it, and its answers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{TempDir, bin, config_json, ok_json, wait_timeout};

/// A running `server`, killed when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub child: Child,
}

impl TestServer {
    /// Starts `server --config CONFIG --ip 127.0.0.1 --port PORT` and waits for
    /// its `listening on` line.
    pub fn start(config: &Path, port: u16) -> TestServer {
        TestServer::spawn(
            Command::new(bin("server"))
                .args(["--config", config.to_str().unwrap(), "--ip", "127.0.0.1"])
                .args(["--port", &port.to_string()])
                .stdin(Stdio::null())
                .stderr(Stdio::inherit()),
        )
    }

    /// Starts a server however `command` starts it, and waits for its
    /// `listening on` line: the readiness signal, no polling.
    pub fn spawn(command: &mut Command) -> TestServer {
        let mut child = super::start_process(command.stdout(Stdio::piped()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("mass_connect server listening on ")
            .unwrap_or_else(|| panic!("server did not start: {line:?}"))
            .parse()
            .unwrap();
        TestServer { addr, child }
    }

    /// Waits for the server to exit (after `stop`), up to 10 s.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        wait_timeout(&mut self.child, Duration::from_secs(10)).expect("server did not exit")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Servers on each of `ports` of 127.0.0.1, one config.
pub fn servers_on(config: &Path, ports: &[u16]) -> Vec<TestServer> {
    ports
        .iter()
        .map(|p| TestServer::start(config, *p))
        .collect()
}

/// A server on an OS-chosen port with the given extra config keys
/// (`extra` starts with a comma, e.g. `, "ops_token": "x"`).
pub fn server_with(extra: &str) -> (TempDir, TestServer) {
    let (dir, _, server) = server_with_config(extra);
    (dir, server)
}

/// `server_with`, and the config file it runs on (to run a client on).
pub fn server_with_config(extra: &str) -> (TempDir, PathBuf, TestServer) {
    let dir = TempDir::new("server");
    let config = dir.write("config.json", &config_json(&[1], 0, extra));
    let server = TestServer::start(&config, 0);
    (dir, config, server)
}

/// A server's `stats` answer, as JSON.
pub fn server_stats(addr: SocketAddr) -> serde_json::Value {
    ok_json(&Peer::connect(addr).call("stats"))
}

/// A server's `dump` answer: every key and its count (no token set).
pub fn server_dump(addr: SocketAddr) -> BTreeMap<String, u64> {
    let dump = ok_json(&Peer::connect(addr).call("dump"));
    dump["keys"]
        .as_array()
        .expect("a key list")
        .iter()
        .map(|pair| {
            let key = pair[0].as_str().expect("a key").to_string();
            (key, pair[1].as_u64().expect("a count"))
        })
        .collect()
}

/// A raw protocol connection: send lines, read reply lines.
pub struct Peer {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Peer {
    pub fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Peer { stream, reader }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }

    /// Sends one line and returns the reply line.
    pub fn call(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes());
        self.read_line()
    }

    /// True once the server has closed the connection.
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }
}
