//! Child processes: the ping-pong runs' fleet of re-executed bench
//! processes (start, read their lines, shut down), free ports for any run,
//! and waiting for a child with a deadline.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::pingpong;

/// `n` distinct free ports on 127.0.0.1 (bound together, then released).
pub fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("cannot find free ports: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| e.to_string())
}

/// Waits for `child` until `deadline`; past it, kills it and returns `None`.
pub fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// A ping-pong run's child processes, in start order, with their stdins and
/// the names errors call them by.
#[derive(Default)]
pub struct Fleet {
    children: Vec<Child>,
    pub stdins: Vec<Option<std::process::ChildStdin>>,
    names: Vec<String>,
}

impl Fleet {
    /// Starts the bench binary `exe` with `args` as child `name`: its stdout
    /// lines reach `tx` tagged with its index, its stderr goes to `log`.
    pub fn spawn(
        &mut self,
        exe: &Path,
        args: Vec<String>,
        name: String,
        log: &File,
        tx: &crossbeam_channel::Sender<pingpong::Msg>,
    ) -> Result<(), String> {
        let stderr = log.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let index = self.children.len();
        if let Some(stdout) = child.stdout.take() {
            pingpong::forward(index, stdout, tx.clone());
        }
        self.stdins.push(child.stdin.take());
        self.children.push(child);
        self.names.push(name);
        Ok(())
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Waits for the next line of every child in `range` (starting with
    /// `prefix`) until `within` has passed; any child's end of output fails.
    pub fn expect(
        &self,
        rx: &crossbeam_channel::Receiver<pingpong::Msg>,
        range: std::ops::Range<usize>,
        within: Duration,
        prefix: &str,
    ) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + within;
        let mut got: Vec<Option<String>> = vec![None; range.len()];
        let mut missing = range.len();
        let name = |i: usize| self.names.get(i).map_or("a child", String::as_str);
        while missing > 0 {
            match rx.recv_deadline(deadline) {
                Ok(pingpong::Msg::Line(i, line)) if range.contains(&i) => {
                    if !line.starts_with(prefix) {
                        return Err(format!("{} said {line:?}", name(i)));
                    }
                    let slot = &mut got[i - range.start];
                    if slot.is_none() {
                        missing -= 1;
                    }
                    *slot = Some(line);
                }
                Ok(pingpong::Msg::Line(..)) => {}
                Ok(pingpong::Msg::Eof(i)) => return Err(format!("{} exited", name(i))),
                Err(_) => {
                    return Err(format!(
                        "{missing} of {} process(es) did not answer within {:.0} s",
                        range.len(),
                        within.as_secs_f64()
                    ));
                }
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// Closes every stdin (each child exits on its own), waits up to 5 s,
    /// then kills whatever is still alive.
    pub fn shut_down(&mut self) {
        self.stdins.clear();
        let deadline = Instant::now() + Duration::from_secs(5);
        for child in &mut self.children {
            let _ = wait_until(child, deadline);
        }
        self.children.clear();
        self.names.clear();
    }
}
