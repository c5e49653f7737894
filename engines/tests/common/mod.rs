//! What the engines' process tests share: a config file of their own and a
//! server started on a port the OS picks.

// Each test file compiles this module on its own, and not every one uses
// every item (tokio_flavor.rs reads the server's pid on Linux only).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A config file for test `tag` (one link per server port, 20 ms between
/// updates), in a folder of its own.
pub fn config(tag: &str) -> String {
    let dir = std::env::temp_dir().join(format!("mass_connect-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        r#"{"server_port_list": "1", "update_intervals": 20}"#,
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// A server the test started; it is killed and reaped when dropped, so a
/// failed assertion does not leave it running.
pub struct Server {
    child: Child,
    /// The address it listens on, from its listening line.
    pub addr: String,
}

impl Server {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program` (a server) on 127.0.0.1 and a port the OS picks, with `env`;
/// returns once it has said its listening line (the readiness signal).
pub fn start_server(program: &str, config: &str, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(program)
        .args(["--config", config, "--ip", "127.0.0.1", "--port", "0"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .expect("a listening line")
        .to_string();
    let server = Server { child, addr };
    assert!(
        server.addr.starts_with("127.0.0.1:"),
        "server said {line:?}"
    );
    server
}
