//! Logs: one folder per startup run, one file per process, UTC timestamps
//! to the millisecond, a size cap per file, and nothing at all when off.
//!
//! Off (`log_switch: false`, the default, or `log_level: "off"`), no logger
//! is installed and the `log` crate's level stays `Off`, so a `log::info!`
//! is one atomic load and a branch and its message is never formatted. On,
//! startup makes the run's folder and hands it to its children in
//! `RUN_DIR_ENV`; a server or client run on its own writes
//! `<log_dir>/<UTC start>-<program>-<pid>.log`. A file stops growing at
//! `log_max_mb`: one line says so, later messages are dropped and counted,
//! and [`finish`] writes the count as the program exits, so no process can
//! fill a disk.
//!
//! The folder's layout, the line format, what each level logs and the
//! cap's arithmetic: docs/CONFIG.md, "Logs". Why a logger of our own and
//! not simplelog: docs/DECISIONS.md, "Logging: our own logger".

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use log::{Level, LevelFilter, Log, Metadata, Record};
use parking_lot::Mutex;

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::utc;

/// The environment variable in which startup gives its children the run's
/// log folder. A server or client that finds it writes its file there.
pub(crate) const RUN_DIR_ENV: &str = "MASS_CONNECT_LOG_RUN_DIR";

/// One MB, as `log_max_mb` counts it.
const MB: u64 = 1024 * 1024;

/// startup's run folder, once its logging is on (for [`child_env`]).
static RUN_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The installed logger, kept so [`finish`] can reach its file.
static LOGGER: OnceLock<FileLogger> = OnceLock::new();

/// Which process is logging: it decides the file's name.
#[derive(Debug, Clone, Copy)]
pub enum Process {
    /// startup, which makes the run's folder.
    Startup,
    /// A server, by the address it listens on.
    Server(SocketAddr),
    /// A client, by its index on the host (`--id`).
    Client(u32),
}

impl Process {
    fn program(self) -> &'static str {
        match self {
            Process::Startup => "startup",
            Process::Server(_) => "server",
            Process::Client(_) => "client",
        }
    }

    /// The file's name inside a run's folder.
    fn file_in_run(self) -> String {
        let name = match self {
            Process::Startup => "startup".to_string(),
            Process::Server(addr) => format!("server-{}-{}", addr.ip(), addr.port()),
            Process::Client(id) => format!("client-{id}"),
        };
        // An IPv6 address has ':', which Windows does not allow in a name.
        name.replace(
            |c: char| !c.is_ascii_alphanumeric() && !".-".contains(c),
            "_",
        ) + ".log"
    }
}

/// Installs the file logger if the config asks for it; returns the log
/// file's path. For startup, the file is `startup.log` in the run's folder
/// (its parent), which `child_env` then hands to the children.
///
/// # Errors
/// The log folder or file cannot be created, or a logger is already
/// installed.
pub fn init(config: &Config, process: Process) -> Result<Option<PathBuf>> {
    let Some(level) = level_filter(config) else {
        return Ok(None);
    };
    let now = SystemTime::now();
    let pid = std::process::id();
    let run_dir = std::env::var_os(RUN_DIR_ENV).filter(|d| !d.is_empty());
    let path = match (process, run_dir) {
        (Process::Startup, _) => {
            let name = format!("{}-startup-{pid}", utc::compact(now));
            let dir = config.log_dir.join(name);
            create_dir(&dir, "log_dir")?;
            let path = dir.join(process.file_in_run());
            let _ = RUN_DIR.set(dir);
            path
        }
        (_, Some(dir)) => {
            let dir = PathBuf::from(dir);
            create_dir(&dir, RUN_DIR_ENV)?;
            dir.join(process.file_in_run())
        }
        (_, None) => {
            create_dir(&config.log_dir, "log_dir")?;
            let stamp = utc::compact(now);
            let name = format!("{stamp}-{}-{pid}.log", process.program());
            config.log_dir.join(name)
        }
    };
    let sink = Sink::open(&path, config.log_max_mb.saturating_mul(MB))?;
    if LOGGER.set(FileLogger(Mutex::new(sink))).is_err() {
        return Err(Error::msg("logging is already on in this process"));
    }
    let logger = LOGGER.get().expect("set just above");
    log::set_logger(logger).map_err(|_| Error::msg("another logger was already installed"))?;
    log::set_max_level(level);
    log::info!(
        "{} (pid {pid}) logs at level {}, at most {} MB in this file (log_max_mb)",
        process.program(),
        config.log_level,
        config.log_max_mb
    );
    Ok(Some(path))
}

/// The environment variable startup sets on each child so the child logs
/// into the run's folder; nothing when startup's logging is off. (An
/// `Option` is an iterator of at most one pair, as `Command::envs` wants.)
pub(crate) fn child_env() -> Option<(&'static str, PathBuf)> {
    RUN_DIR.get().map(|dir| (RUN_DIR_ENV, dir.clone()))
}

/// Writes the count of messages the cap dropped, if any. Programs call it
/// as they exit; a process that is killed loses only this line.
pub fn finish() {
    if let Some(logger) = LOGGER.get() {
        logger.0.lock().finish(SystemTime::now());
    }
}

/// The level to log at, or `None` for no logging at all.
fn level_filter(config: &Config) -> Option<LevelFilter> {
    if !config.log_switch {
        return None;
    }
    match config.log_level.as_str() {
        "error" => Some(LevelFilter::Error),
        "warn" => Some(LevelFilter::Warn),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        "off" => None,
        _ => Some(LevelFilter::Info),
    }
}

fn create_dir(dir: &Path, from: &str) -> Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create log folder {} ({from})", dir.display()))
}

/// The `log::Log` the processes install: one file behind one lock.
struct FileLogger(Mutex<Sink>);

impl Log for FileLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            // The time is taken under the lock, so a file's lines are in
            // the order of their timestamps.
            let mut sink = self.0.lock();
            sink.write(SystemTime::now(), record.level(), *record.args());
        }
    }

    /// Nothing to flush: every line is written to the file at once.
    fn flush(&self) {}
}

/// A log file with its cap: each message becomes its lines in a reused
/// buffer, written with one `write` call, so a line is on disk (in the
/// OS's cache) even if the process is killed a moment later.
struct Sink {
    file: File,
    /// Bytes in the file, including what was there before we opened it.
    written: u64,
    cap: u64,
    /// Messages dropped since the cap was reached; `Some` once it was.
    dropped: Option<u64>,
    /// The message being formatted, then its prefixed lines (reused).
    message: Vec<u8>,
    lines: Vec<u8>,
}

impl Sink {
    /// Opens (or appends to) `path` with a cap of `cap` bytes.
    fn open(path: &Path, cap: u64) -> Result<Sink> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open log file {}", path.display()))?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Sink {
            file,
            written,
            cap,
            dropped: None,
            message: Vec::with_capacity(256),
            lines: Vec::with_capacity(256),
        })
    }

    /// Writes one message: every line of it with the time and level, or,
    /// past the cap, the cut line once and then nothing.
    fn write(&mut self, now: SystemTime, level: Level, args: fmt::Arguments<'_>) {
        if let Some(dropped) = &mut self.dropped {
            *dropped += 1;
            return;
        }
        self.message.clear();
        let _ = self.message.write_fmt(args);
        let text = self.message.trim_ascii_end();
        let stamp = utc::iso8601(now, true);
        self.lines.clear();
        for line in text.split(|&b| b == b'\n') {
            let _ = write!(self.lines, "{stamp} {level:<5} ");
            self.lines.extend_from_slice(line);
            // An empty line of a message ends after its level, not in spaces.
            while self.lines.last() == Some(&b' ') {
                self.lines.pop();
            }
            self.lines.push(b'\n');
        }
        if self.written + self.lines.len() as u64 > self.cap {
            self.dropped = Some(1);
            self.lines.clear();
            let _ = writeln!(
                self.lines,
                "{stamp} WARN  this file reached its cap of {} bytes (log_max_mb): \
                 this message and all later ones are dropped",
                self.cap
            );
        }
        self.put();
    }

    /// Says how many messages the cap dropped, if it was reached.
    fn finish(&mut self, now: SystemTime) {
        let Some(dropped) = self.dropped else { return };
        self.lines.clear();
        let _ = writeln!(
            self.lines,
            "{} WARN  {dropped} messages were dropped after the cap",
            utc::iso8601(now, true)
        );
        self.put();
    }

    /// One write of `lines`. A failed write (a full disk) is not an error
    /// of the run: the line is lost, the load goes on.
    fn put(&mut self) {
        if self.file.write_all(&self.lines).is_ok() {
            self.written += self.lines.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    /// The names of an IPv4 server's, a client's and startup's files are
    /// pinned by tests/logs.rs, on a real run.
    #[test]
    fn an_ipv6_servers_file_name_has_no_colon() {
        let v6: SocketAddr = "[::1]:18677".parse().unwrap();
        assert_eq!(Process::Server(v6).file_in_run(), "server-__1-18677.log");
    }

    /// A fresh file in the temp folder, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(tag: &str) -> TempFile {
            let name = format!("mc-log-{tag}-{}.log", std::process::id());
            let path = std::env::temp_dir().join(name);
            let _ = fs::remove_file(&path);
            TempFile(path)
        }

        fn text(&self) -> String {
            fs::read_to_string(&self.0).unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    #[test]
    fn every_line_of_a_message_gets_the_time_and_level() {
        let file = TempFile::new("lines");
        let mut sink = Sink::open(&file.0, MB).unwrap();
        let t = at(1_795_996_799, 999);
        sink.write(t, Level::Info, format_args!("report\n\n  line {}\n", 2));
        sink.write(t, Level::Debug, format_args!("one"));
        assert_eq!(
            file.text(),
            "2026-11-29T23:59:59.999Z INFO  report\n\
             2026-11-29T23:59:59.999Z INFO\n\
             2026-11-29T23:59:59.999Z INFO    line 2\n\
             2026-11-29T23:59:59.999Z DEBUG one\n"
        );
    }

    #[test]
    fn the_cap_cuts_with_one_line_and_counts_what_it_dropped() {
        let file = TempFile::new("cap");
        let line_len = "2026-11-29T23:59:59.999Z INFO  message 0\n".len() as u64;
        let cap = 10 * line_len + line_len / 2;
        let mut sink = Sink::open(&file.0, cap).unwrap();
        let t = at(1_795_996_799, 999);
        for i in 0..25 {
            sink.write(t, Level::Info, format_args!("message {}", i % 10));
        }
        sink.finish(t);
        let text = file.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 12, "{text}");
        for (i, line) in lines[..10].iter().enumerate() {
            assert_eq!(*line, format!("2026-11-29T23:59:59.999Z INFO  message {i}"));
        }
        assert!(
            lines[10].starts_with("2026-11-29T23:59:59.999Z WARN  this file reached its cap"),
            "{text}"
        );
        // The 11th message was replaced by the cut line; it and 14 more
        // were dropped, and nothing of them reached the file.
        assert_eq!(
            lines[11],
            "2026-11-29T23:59:59.999Z WARN  15 messages were dropped after the cap"
        );
        assert_eq!(text.matches("INFO").count(), 10);

        // Reopened (a restarted server), the file's size counts: it is over
        // the cap already, so the first message is cut at once.
        let mut again = Sink::open(&file.0, cap).unwrap();
        again.write(t, Level::Error, format_args!("after a restart"));
        let more = file.text();
        assert!(!more.contains("after a restart"), "{more}");
        assert_eq!(more.lines().count(), 13);
    }

    #[test]
    fn a_log_call_formats_nothing_while_logging_is_off() {
        // No test here installs the logger, so the maximum level is Off,
        // as in every process with `log_switch: false`.
        struct Tripwire;
        impl fmt::Display for Tripwire {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                panic!("a message was formatted with logging off");
            }
        }
        assert_eq!(log::max_level(), LevelFilter::Off);
        log::error!("{}", Tripwire);
        log::debug!("{}", Tripwire);
        log::trace!("{}", Tripwire);
    }

    #[test]
    fn no_logging_without_the_switch_or_at_level_off() {
        let mut config = Config::default();
        assert_eq!(level_filter(&config), None);
        config.log_switch = true;
        assert_eq!(level_filter(&config), Some(LevelFilter::Info));
        config.log_level = "debug".into();
        assert_eq!(level_filter(&config), Some(LevelFilter::Debug));
        config.log_level = "off".into();
        assert_eq!(level_filter(&config), None);
        assert!(child_env().is_none());
    }
}
