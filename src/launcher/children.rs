//! startup's children: starting, talking to and ending them.
//!
//! Each child gets its stdin and stdout as pipes to startup, and one "proxy"
//! thread in startup that owns those pipes. Everything a proxy learns goes
//! into one unbounded crossbeam channel of [`Event`]s that startup's main
//! thread reads: unbounded, so a proxy never waits for the main thread and
//! nothing is lost if it reads slowly.
//!
//! * A **server** writes one `listening on` line when it accepts (startup's
//!   readiness signal, no polling), then nothing until it exits, so its proxy
//!   just waits for end-of-file and reports an exit it did not ask for.
//! * A **client** answers `status` with one JSON line and `stop` with its
//!   final report; its proxy forwards requests and replies.
//!
//! Children never outlive startup: each watches its stdin, and when startup
//! dies for any reason (even `kill -9`) the OS closes the pipe, the child
//! reads end-of-file and stops itself. Children also run in their own
//! process group (Unix) or console process group (Windows), so a Ctrl-C at
//! the terminal reaches only startup, which then stops them in order and
//! still collects their reports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::error::{Context, Result};
use crate::launcher::proxy::{Event, ToClient};
use crate::launcher::proxy::{client_proxy, server_proxy};

/// One child process.
pub(crate) struct ChildProcess {
    /// `server 127.0.0.1:18677` or `client 3`.
    pub(crate) name: String,
    /// The OS process id.
    pub(crate) pid: u32,
    child: Child,
    /// The server's stdin (dropping it asks the server to stop); `None` for
    /// clients, whose stdin belongs to their proxy.
    stdin: Option<ChildStdin>,
    /// A client's request channel to its proxy.
    requests: Option<Sender<ToClient>>,
}

/// A command whose child will not receive the terminal's Ctrl-C.
fn isolated(program: &Path) -> Command {
    let mut command = Command::new(program);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        // CREATE_NEW_PROCESS_GROUP: Ctrl-C is disabled in the new group.
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        command.creation_flags(CREATE_NEW_PROCESS_GROUP);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command.envs(crate::logging::child_env()); // the run's log folder, if logging is on
    command
}

/// Starts `program` as `name`, with its stdout taken for the proxy.
fn start(program: &Path, args: &[String], name: &str) -> Result<(Child, ChildStdout)> {
    let mut child = spawn_retrying(isolated(program).args(args))
        .map_err(super::preflight::explain)
        .with_context(|| format!("cannot start {name} ({})", program.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    Ok((child, stdout))
}

/// `command.spawn()`, tried again after a pause when Windows answers
/// ERROR_INTERNAL_ERROR (1359): Wine's `CreateProcess` (the Windows check)
/// fails so now and then while other processes start, and succeeds a moment
/// later. Any other error, or that one five times, is returned.
fn spawn_retrying(command: &mut Command) -> std::io::Result<Child> {
    const INTERNAL_ERROR: i32 = 1359;
    let mut attempt = 1;
    loop {
        match command.spawn() {
            Err(e) if cfg!(windows) && e.raw_os_error() == Some(INTERNAL_ERROR) && attempt < 5 => {
                attempt += 1;
                thread::sleep(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

/// Starts `name`'s proxy thread. If the OS refuses it, the closure and the
/// child's stdin it holds (or the caller's) are dropped, so the child reads
/// end-of-file and stops itself: no child runs unsupervised.
fn start_proxy(name: &str, proxy: impl FnOnce() + Send + 'static) -> Result<()> {
    thread::Builder::new()
        .name(format!("proxy {name}"))
        .stack_size(64 * 1024)
        .spawn(proxy)
        .map_err(super::preflight::explain)
        .with_context(|| format!("cannot start the proxy thread of {name}"))?;
    Ok(())
}

/// Starts a server and its proxy thread; `Event::ServerReady` follows.
pub(crate) fn spawn_server(
    program: &Path,
    args: &[String],
    index: usize,
    name: String,
    events: Sender<Event>,
) -> Result<ChildProcess> {
    let (mut child, stdout) = start(program, args, &name)?;
    let stdin = child.stdin.take();
    start_proxy(&name, move || server_proxy(index, stdout, events))?;
    Ok(ChildProcess {
        name,
        pid: child.id(),
        child,
        stdin,
        requests: None,
    })
}

/// Starts a client and its proxy thread.
pub(crate) fn spawn_client(
    program: &Path,
    args: &[String],
    index: usize,
    events: Sender<Event>,
) -> Result<ChildProcess> {
    let name = format!("client {index}");
    let (mut child, stdout) = start(program, args, &name)?;
    let stdin = child.stdin.take().expect("stdin is piped");
    let (tx, rx) = crossbeam_channel::unbounded();
    start_proxy(&name, move || {
        client_proxy(index, stdin, stdout, rx, events)
    })?;
    Ok(ChildProcess {
        name,
        pid: child.id(),
        child,
        stdin: None,
        requests: Some(tx),
    })
}

/// Every child of the run. Dropping it kills whatever still runs, so no
/// child outlives startup even on an early error return.
pub(crate) struct Fleet {
    /// The servers, in start order.
    pub(crate) servers: Vec<ChildProcess>,
    /// The clients, by index.
    pub(crate) clients: Vec<ChildProcess>,
    /// On Windows, a job object that kills every child when startup's last
    /// handle to it closes, which the OS does however startup ends. (The
    /// stdin pipes do the same job portably; this covers a child that is
    /// hung and not reading.)
    #[cfg(windows)]
    job: Option<crate::sys::windows::KillOnCloseJob>,
}

impl Default for Fleet {
    /// An empty fleet (with its job object on Windows).
    fn default() -> Fleet {
        Fleet {
            servers: Vec::new(),
            clients: Vec::new(),
            #[cfg(windows)]
            job: crate::sys::windows::KillOnCloseJob::new(),
        }
    }
}

impl Fleet {
    /// Adds a server.
    pub(crate) fn add_server(&mut self, child: ChildProcess) {
        self.adopt(&child);
        self.servers.push(child);
    }

    /// Puts a restarted server in the place of the one that died.
    pub(crate) fn replace_server(&mut self, index: usize, child: ChildProcess) {
        self.adopt(&child);
        self.servers[index] = child;
    }

    /// Adds a client.
    pub(crate) fn add_client(&mut self, child: ChildProcess) {
        self.adopt(&child);
        self.clients.push(child);
    }

    #[cfg(windows)]
    fn adopt(&self, child: &ChildProcess) {
        if let Some(job) = &self.job {
            job.assign(&child.child);
        }
    }

    #[cfg(not(windows))]
    fn adopt(&self, _child: &ChildProcess) {}
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.clients.iter_mut().chain(self.servers.iter_mut()) {
            child.kill();
        }
    }
}

impl ChildProcess {
    /// Sends a request to a client's proxy (ignored for servers).
    pub(crate) fn request(&self, request: ToClient) {
        if let Some(tx) = &self.requests {
            let _ = tx.send(request);
        }
    }

    /// Asks a server to stop by closing its stdin.
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// How the child ended, waiting up to `timeout`; kills it if it is still
    /// running then. Returns a description of its exit.
    pub(crate) fn reap(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return describe(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return format!(
                        "did not stop within {} ms and was killed",
                        timeout.as_millis()
                    );
                }
                Err(e) => return format!("cannot be waited for: {e}"),
            }
        }
    }

    /// Whether the child has exited (and is reaped), without waiting.
    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the child at once (used when startup must abort).
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for every one of `children` to exit against one deadline,
/// `timeout` from now, and kills those still running then: a hundred
/// clients slow to exit cost `timeout` once, not a hundred times. Returns
/// the names of those it had to kill, for startup to say so.
pub(crate) fn reap_together<'a>(
    children: impl IntoIterator<Item = &'a mut ChildProcess>,
    timeout: Duration,
) -> Vec<String> {
    let mut running: Vec<&mut ChildProcess> = children.into_iter().collect();
    let deadline = Instant::now() + timeout;
    loop {
        running.retain_mut(|c| !c.exited());
        if running.is_empty() || Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    running
        .into_iter()
        .map(|c| {
            c.kill();
            c.name.clone()
        })
        .collect()
}

fn describe(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(0) => "exited normally".into(),
        Some(code) => format!("exited with status {code}"),
        None => "exited".into(),
    }
}

/// Starts this host's servers: at the beginning, and again when one dies
/// (the `server_restarts` config key).
pub(crate) struct ServerLauncher {
    program: PathBuf,
    config_arg: String,
    /// The addresses, by server index.
    addrs: Vec<SocketAddr>,
    events: Sender<Event>,
}

impl ServerLauncher {
    /// A launcher of `program` for the servers at `addrs`, each started
    /// with `--config config_arg`, reporting to `events`.
    pub(crate) fn new(
        program: PathBuf,
        config_arg: String,
        addrs: Vec<SocketAddr>,
        events: Sender<Event>,
    ) -> ServerLauncher {
        ServerLauncher {
            program,
            config_arg,
            addrs,
            events,
        }
    }

    /// How many servers it starts.
    pub(crate) fn len(&self) -> usize {
        self.addrs.len()
    }

    /// The address of server `index`.
    pub(crate) fn addr(&self, index: usize) -> SocketAddr {
        self.addrs[index]
    }

    /// Starts server `index`; it announces itself with `Event::ServerReady`.
    ///
    /// # Errors
    /// The OS refused to start the process.
    pub(crate) fn spawn(&self, index: usize) -> Result<ChildProcess> {
        let addr = self.addr(index);
        let args = vec![
            "--config".into(),
            self.config_arg.clone(),
            "--ip".into(),
            addr.ip().to_string(),
            "--port".into(),
            addr.port().to_string(),
            "--supervised".into(),
        ];
        spawn_server(
            &self.program,
            &args,
            index,
            format!("server {addr}"),
            self.events.clone(),
        )
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn child(name: &str, seconds: &str) -> ChildProcess {
        let child = Command::new("sleep").arg(seconds).spawn().unwrap();
        ChildProcess {
            name: name.into(),
            pid: child.id(),
            child,
            stdin: None,
            requests: None,
        }
    }

    #[test]
    fn reaping_together_kills_only_the_children_still_running() {
        let mut quick = child("quick", "0");
        let mut stuck = [child("stuck 1", "60"), child("stuck 2", "60")];
        // The quick one has exited before the deadline; the two others are
        // killed at it, and named.
        let killed = reap_together(
            std::iter::once(&mut quick).chain(stuck.iter_mut()),
            Duration::from_secs(2),
        );
        assert_eq!(killed, ["stuck 1", "stuck 2"]);
        for c in &mut stuck {
            assert!(c.exited(), "{} still runs", c.name);
        }
    }
}
