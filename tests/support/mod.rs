//! Helpers that start the real programs on 127.0.0.1, so each test reads as
//! a story: write a config, start a server, talk to it, look at the result.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Path of one of the four programs, as cargo built it for this test run.
pub fn bin(name: &str) -> &'static str {
    match name {
        "server" => env!("CARGO_BIN_EXE_server"),
        "client" => env!("CARGO_BIN_EXE_client"),
        "startup" => env!("CARGO_BIN_EXE_startup"),
        "omclient" => env!("CARGO_BIN_EXE_omclient"),
        _ => panic!("no program {name}"),
    }
}

/// A fresh directory for one test's files, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mass_connect-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes a file in the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

/// A config for `clients` clients and the given server ports on 127.0.0.1.
pub fn config_json(ports: &[u16], clients: u32, extra: &str) -> String {
    let ports: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    format!(
        r#"{{"server_ip_list": "127.0.0.1", "server_port_list": "{}", "client_num_per_host": {clients}, "update_intervals": 10{extra}}}"#,
        ports.join(";")
    )
}

/// A running `server`, killed when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub child: Child,
}

impl TestServer {
    /// Starts `server --config CONFIG --ip 127.0.0.1 --port PORT` and waits for
    /// its `listening on` line: the readiness signal, no polling.
    pub fn start(config: &Path, port: u16) -> TestServer {
        let mut child = Command::new(bin("server"))
            .args(["--config", config.to_str().unwrap(), "--ip", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
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

/// A child process that is killed if the test fails before it ends, so a
/// failing test never leaves a system running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a child to exit, up to `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server on an OS-chosen port with the given extra config keys
/// (`extra` starts with a comma, e.g. `, "ops_token": "x"`).
pub fn server_with(extra: &str) -> (TempDir, TestServer) {
    let dir = TempDir::new("server");
    let config = dir.write("config.json", &config_json(&[1], 0, extra));
    let server = TestServer::start(&config, 0);
    (dir, server)
}

/// A server's `stats` answer, as JSON.
pub fn server_stats(addr: SocketAddr) -> serde_json::Value {
    let reply = Peer::connect(addr).call("stats");
    serde_json::from_str(reply.strip_prefix("ok;").expect("an ok reply")).unwrap()
}

/// A server's `dump` answer: every key and its count (no token set).
pub fn server_dump(addr: SocketAddr) -> std::collections::BTreeMap<String, u64> {
    let reply = Peer::connect(addr).call("dump");
    let dump: serde_json::Value =
        serde_json::from_str(reply.strip_prefix("ok;").expect("an ok reply")).unwrap();
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

/// Runs a program to completion with a time limit, returning its output.
pub fn run(name: &str, args: &[&str], limit: Duration) -> Output {
    let child = Command::new(bin(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => panic!("{name} {args:?} (pid {pid}) did not finish within {limit:?}"),
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// PIDs of live processes whose command line mentions `needle` (Linux).
#[cfg(target_os = "linux")]
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        // A zombie has an empty command line; it is already dead.
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// The one live process whose command line mentions both `config` and
/// `arg` (say `--id 1 ` or `--port 4100 `): a child of one test's startup.
#[cfg(target_os = "linux")]
pub fn child_pid(config: &str, arg: &str) -> u32 {
    let pids: Vec<u32> = processes_mentioning(config)
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .contains(arg)
        })
        .collect();
    assert_eq!(pids.len(), 1, "{arg}: {pids:?}");
    pids[0]
}

/// Sends a signal by name (`KILL`, `INT`) with the system's `kill` (Unix).
#[cfg(unix)]
pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} {pid}");
}

/// A `startup` run whose terminal output (stderr) the test reads line by
/// line: its status lines and messages are the readiness signals.
pub struct StartupRun {
    pub child: KillOnDrop,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl StartupRun {
    /// Starts `startup ARGS` with stdout discarded (the report goes to a file).
    pub fn start(args: &[&str]) -> StartupRun {
        let mut child = Command::new(bin("startup"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        StartupRun {
            child: KillOnDrop(child),
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one contains `needle`, and returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
        panic!(
            "startup ended before printing {needle:?}; it printed:\n{}",
            self.seen.join("\n")
        );
    }

    /// The OS process id of startup.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Reads the rest of the output and waits for the exit.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        self.seen.extend(self.lines.by_ref().map_while(|l| l.ok()));
        let status = self.child.0.wait().unwrap();
        (status, self.seen.join("\n"))
    }
}

/// A JSON file (a report), parsed.
pub fn read_json(path: impl AsRef<Path>) -> serde_json::Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
