//! Helpers that start the real programs on 127.0.0.1, so each test reads as
//! a story: write a config, start a server, talk to it, look at the result.
//!
//! Each test binary compiles this module on its own and uses only some of
//! it, hence `dead_code` is allowed here (and in the files below it), and
//! `unused_imports` on the re-exports of those files.
//! - `config`: a test's directory and config file, free ports.
//! - `server`: a running `server`, raw protocol connections, its answers.
//! - `startup`: `startup` runs, to their end or watched line by line.
//! - `json`: reports and replies, parsed.
#![allow(dead_code)]

mod config;
mod json;
mod server;
mod startup;

#[allow(unused_imports)]
pub use {config::*, json::*, server::*, startup::*};

use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Path of one of the four programs, as cargo built it for this test run.
/// `server` and `client` are the engine's under test ([`Engine`]): the
/// product's, unless the test runs on another engine ([`on_engines!`]).
pub fn bin(name: &str) -> &'static str {
    match name {
        "server" => program(engine().server),
        "client" => program(engine().client),
        "startup" => env!("CARGO_BIN_EXE_startup"),
        "omclient" => env!("CARGO_BIN_EXE_omclient"),
        _ => panic!("no program {name}"),
    }
}

/// The programs a test runs as `server` and `client` (and names in the
/// config it writes, so that startup runs them too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Engine {
    pub client: &'static str,
    pub server: &'static str,
}

impl Engine {
    /// The product: a thread per link.
    pub const THREADS: Engine = Engine::pair("client", "server");
    /// The workspace's event-loop engine (issue 15).
    pub const EVLOOP: Engine = Engine::pair("client-evloop", "server-evloop");
    /// The workspace's async engine (issue 15).
    pub const TOKIO: Engine = Engine::pair("client-tokio", "server-tokio");

    pub const fn pair(client: &'static str, server: &'static str) -> Engine {
        Engine { client, server }
    }
}

thread_local! {
    static ENGINE: std::cell::Cell<Engine> = const { std::cell::Cell::new(Engine::THREADS) };
}

/// The engine this test runs on (libtest runs each test on a thread of
/// its own).
pub fn engine() -> Engine {
    ENGINE.with(|e| e.get())
}

/// Runs `test` with `engine`'s programs as `server` and `client`.
pub fn with_engine(engine: Engine, test: fn()) {
    ENGINE.with(|e| e.set(engine));
    test();
    ENGINE.with(|e| e.set(Engine::THREADS));
}

/// A program of the workspace by name: the product's four are cargo's
/// own paths; the engines' lie beside them (a plain `cargo test` at the
/// root builds the whole workspace).
fn program(name: &'static str) -> &'static str {
    match name {
        "server" => env!("CARGO_BIN_EXE_server"),
        "client" => env!("CARGO_BIN_EXE_client"),
        _ => {
            let path = Path::new(env!("CARGO_BIN_EXE_startup"))
                .with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            assert!(
                path.is_file(),
                "{} is not built: run `cargo test` at the workspace root, which builds \
                 the engines package too (or `cargo build --workspace` first)",
                path.display()
            );
            Box::leak(path.to_string_lossy().into_owned().into_boxed_str())
        }
    }
}

/// Runs tests written for the product once more on each other engine
/// (issue 15: the engines pass the same tests, parametrised, not copied).
/// Each listed `#[test] fn` of the file gets, in a module per engine, a
/// test of the same name that runs it with that engine's programs:
///
/// ```ignore
/// on_engines!(on_evloop: Engine::EVLOOP, on_tokio: Engine::TOKIO => [updates_are_counted, ...]);
/// ```
///
/// Several `modules => [tests]` groups may follow one another, separated
/// by `;`.
#[macro_export]
macro_rules! on_engines {
    () => {};
    (@one $module:ident: $engine:expr => [$($test:ident),* $(,)?]) => {
        mod $module {
            use super::support::Engine;
            $(
                #[test]
                fn $test() {
                    super::support::with_engine($engine, super::$test);
                }
            )*
        }
    };
    ($($module:ident: $engine:expr),+ => $tests:tt $(; $($rest:tt)*)?) => {
        $( $crate::on_engines!(@one $module: $engine => $tests); )+
        $( $crate::on_engines!($($rest)*); )?
    };
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

/// A child process that is killed if the test fails before it ends, so a
/// failing test never leaves a system running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One field of `/proc/PID/task/*/stat` for every thread of a process,
/// sorted: `field` counts from the state (field 3 of proc(5)) as 0, so the
/// nice value is 16 and the scheduling policy 38.
#[cfg(target_os = "linux")]
pub fn thread_stat_field(pid: u32, field: usize) -> Vec<i64> {
    let tasks = format!("/proc/{pid}/task");
    let mut values: Vec<i64> = std::fs::read_dir(&tasks)
        .unwrap_or_else(|e| panic!("{tasks}: {e}"))
        .map(|task| {
            let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
            // The name is in parentheses and may hold spaces: count after it.
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            after_name.split(' ').nth(field).unwrap().parse().unwrap()
        })
        .collect();
    values.sort_unstable();
    values
}

/// Waits for a child to exit, up to `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills process `pid` if it still runs after `limit`, unless the returned
/// guard is dropped first: reads of a child's pipe wait for lines, and
/// this bounds them (killed, the child ends its pipe, so the read fails
/// and shows what it printed instead of hanging the test).
pub fn kill_after(pid: u32, limit: Duration) -> Watchdog {
    let (called_off, wait) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if wait.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            eprintln!("pid {pid} still ran after {limit:?}: killing it");
            #[cfg(unix)]
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            #[cfg(windows)]
            let _ = Command::new("taskkill")
                .args(["/F", "/T", "/PID", &pid.to_string()])
                .status();
        }
    });
    Watchdog(called_off)
}

/// Calls off a [`kill_after`] when dropped.
pub struct Watchdog(std::sync::mpsc::Sender<()>);

/// For what only shows from outside (a count in `stats`, the process
/// table): calls `probe` every 50 ms until `done` holds for what it returns,
/// and returns that. A bounded wait: past `limit` it fails with `what` and
/// the last value.
pub fn poll<T: Debug>(
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        let value = probe();
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: {value:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a program to completion with a time limit, returning its output.
pub fn run(name: &str, args: &[&str], limit: Duration) -> Output {
    run_command(Command::new(bin(name)).args(args), limit)
}

/// `omclient ARGS`, run from `dir` (where the reports it is given lie)
/// within `limit`: its exit code and all it printed, stdout then stderr.
pub fn omclient(dir: &Path, args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let out = run_command(
        Command::new(bin("omclient")).args(args).current_dir(dir),
        limit,
    );
    (out.status.code(), printed(&out))
}

/// Starts `command`. Under Wine (the Windows check) `CreateProcess` now and
/// then fails with ERROR_INTERNAL_ERROR (1359) while other tests start
/// processes at the same moment; a real Windows does not do that, and a
/// moment later the same call succeeds. That one error is retried a few
/// times; any other is the test's failure, with the command named.
pub fn start_process(command: &mut Command) -> std::process::Child {
    const WINE_INTERNAL_ERROR: i32 = 1359;
    // startup's capacity cache: the test's own folder if it names one,
    // else none, so a capacity the developer measured on this machine
    // does not add pre-flight lines to the tests' runs.
    const CACHE: &str = "MASS_CONNECT_CACHE_DIR";
    if !command.get_envs().any(|(key, _)| key == CACHE) {
        command.env(
            CACHE,
            std::env::temp_dir().join("mass_connect-test-no-cache"),
        );
    }
    let mut attempt = 1;
    loop {
        match command.spawn() {
            Ok(child) => return child,
            Err(e)
                if cfg!(windows)
                    && e.raw_os_error() == Some(WINE_INTERNAL_ERROR)
                    && attempt < 5 =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("cannot start {command:?}: {e}"),
        }
    }
}

/// Runs `command` with no input to its end, or fails after `limit`.
pub fn run_command(command: &mut Command, limit: Duration) -> Output {
    let what = format!("{command:?}");
    let child = start_process(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => panic!("{what} (pid {pid}) did not finish within {limit:?}"),
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Everything a finished program printed: stdout, then stderr.
pub fn printed(out: &Output) -> String {
    stdout(out) + &stderr(out)
}

/// The lines a child prints on one pipe, read as the test needs them: the
/// child's own messages are the readiness signals, no polling.
pub struct LineWatch<R: Read> {
    /// Who prints (for failure messages).
    who: String,
    lines: std::io::Lines<BufReader<R>>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl<R: Read> LineWatch<R> {
    pub fn new(who: &str, pipe: R) -> LineWatch<R> {
        LineWatch {
            who: who.to_string(),
            lines: BufReader::new(pipe).lines(),
            seen: Vec::new(),
        }
    }

    /// Reads lines until one is `wanted` (`what` describes it), and returns
    /// it. The wait ends with the pipe: if the child ends first, fails and
    /// shows all it printed.
    pub fn wait_until(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
        panic!(
            "{} ended before printing {what}; it printed:\n{}",
            self.who,
            self.seen.join("\n")
        );
    }

    /// Reads lines until one contains `needle`, and returns it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |line| line.contains(needle))
    }

    /// Reads the rest, up to the pipe's end: all lines read, joined.
    pub fn rest(mut self) -> String {
        self.seen.extend(self.lines.by_ref().map_while(|l| l.ok()));
        self.seen.join("\n")
    }
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
