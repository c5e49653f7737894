//! The child processes of one point: started with their stdout read on a
//! thread each, told lines on their stdin, their answers awaited with a
//! deadline, and ended (killed if they will not stop) when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

/// A line from a child's stdout, or its end.
enum Said {
    Line(usize, String),
    End(usize),
}

/// The point's processes; killed if still running when dropped.
pub struct Procs {
    pub children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
    tx: Sender<Said>,
    rx: Receiver<Said>,
}

impl Procs {
    pub fn new() -> Procs {
        let (tx, rx) = crossbeam_channel::unbounded();
        Procs {
            children: Vec::new(),
            stdins: Vec::new(),
            tx,
            rx,
        }
    }

    /// Starts `program` with `args` and, beside this process's own,
    /// the environment variables `env`; its stderr goes to `log`.
    pub fn spawn(
        &mut self,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &File,
    ) -> Result<usize, String> {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.try_clone().map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let index = self.children.len();
        let stdout = child.stdout.take().expect("piped");
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(Said::Line(index, line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Said::End(index));
        });
        self.stdins.push(child.stdin.take());
        self.children.push(child);
        Ok(index)
    }

    pub fn tell(&mut self, i: usize, line: &str) -> Result<(), String> {
        let stdin = self.stdins[i].as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(line.as_bytes())
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("process {i} stopped listening: {e}"))
    }

    /// The next line of each of `who`, within `deadline`.
    pub fn answers(&self, who: &[usize], deadline: Instant) -> Result<Vec<String>, String> {
        let mut got: Vec<Option<String>> = vec![None; who.len()];
        let mut missing = who.len();
        while missing > 0 {
            match self.rx.recv_deadline(deadline) {
                Ok(Said::Line(i, line)) => {
                    if let Some(k) = who.iter().position(|w| *w == i) {
                        if got[k].is_none() {
                            missing -= 1;
                            got[k] = Some(line);
                        }
                    }
                }
                Ok(Said::End(i)) => {
                    // An end after its answer is a process that stopped as
                    // told; before it, one that died.
                    if let Some(k) = who.iter().position(|w| *w == i) {
                        if got[k].is_none() {
                            return Err(format!("process {i} exited"));
                        }
                    }
                }
                Err(_) => {
                    let silent: Vec<String> = who
                        .iter()
                        .zip(&got)
                        .filter(|(_, line)| line.is_none())
                        .map(|(i, _)| i.to_string())
                        .collect();
                    return Err(format!(
                        "{missing} process(es) did not answer in time (process {})",
                        silent.join(", ")
                    ));
                }
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    pub fn pids(&self, range: std::ops::Range<usize>) -> Vec<u32> {
        self.children[range].iter().map(Child::id).collect()
    }

    /// Closes every stdin (each program stops on it) and waits until
    /// `deadline`; kills what is left.
    pub fn end(&mut self, deadline: Instant) {
        self.stdins.clear();
        for child in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        self.children.clear();
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        self.end(Instant::now());
    }
}
