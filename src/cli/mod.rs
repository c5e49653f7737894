//! The small command-line parser the four programs share.
//!
//! A handful of options per program needs no parser crate: this one knows
//! `--name VALUE`, `--name=VALUE`, flags, positionals, `--help`, `--version`
//! and server addresses (`IP:PORT` or `HOST:PORT`), and names the option a
//! mistake is in, pointing at `--help`.

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

mod duration;

pub use self::duration::parse_duration;

/// The arguments not yet taken by the program.
pub struct Args {
    program: &'static str,
    rest: VecDeque<String>,
}

impl Args {
    /// This process's arguments. Prints `usage` and exits on `--help` / `-h`,
    /// and the program's version on `--version` / `-V`.
    pub fn from_env(program: &'static str, usage: &str) -> Args {
        Args::new(program, usage, std::env::args().skip(1))
    }

    /// Arguments from any list. On `--help` or `--version` it prints the
    /// answer and exits, so every program has both without a line of its
    /// own; `Args::answer_first` is that decision, for tests.
    pub fn new(program: &'static str, usage: &str, args: impl IntoIterator<Item = String>) -> Args {
        let rest: VecDeque<String> = args.into_iter().collect();
        if let Some(text) = Args::answer_first(program, usage, &rest) {
            say(&text);
            std::process::exit(0);
        }
        Args { program, rest }
    }

    /// What to print instead of running, if the arguments ask for help or
    /// the version (whichever comes first): the usage, or
    /// `program 0.1.0`.
    pub(crate) fn answer_first<'a>(
        program: &str,
        usage: &str,
        args: impl IntoIterator<Item = &'a String>,
    ) -> Option<String> {
        args.into_iter().find_map(|a| match a.as_str() {
            "--help" | "-h" => Some(usage.trim_end().to_string()),
            "--version" | "-V" => Some(format!("{program} {}", env!("CARGO_PKG_VERSION"))),
            _ => None,
        })
    }

    /// Reads each short option in `short` (`("-d", "--duration")`) as its
    /// long one, so the rest of the parser knows only long names.
    pub(crate) fn with_short(mut self, short: &[(&str, &str)]) -> Args {
        for arg in &mut self.rest {
            if let Some((_, long)) = short.iter().find(|(s, _)| s == arg) {
                *arg = (*long).to_string();
            }
        }
        self
    }

    /// Takes `--name` if present.
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    /// Takes `--name VALUE` or `--name=VALUE`; the last one wins if repeated.
    pub fn value(&mut self, name: &str) -> Result<Option<String>> {
        Ok(self.values(name)?.pop())
    }

    /// Takes `--name`, `--name VALUE` or `--name=VALUE`: `None` if absent,
    /// `Some(None)` when given without a value (the next argument is
    /// another option, or there is none), the last one if repeated.
    pub(crate) fn optional_value(&mut self, name: &str) -> Option<Option<String>> {
        let mut found = None;
        let mut kept = VecDeque::with_capacity(self.rest.len());
        let prefix = format!("{name}=");
        while let Some(arg) = self.rest.pop_front() {
            if arg == name {
                let value = self.rest.front().filter(|v| !v.starts_with('-')).cloned();
                if value.is_some() {
                    self.rest.pop_front();
                }
                found = Some(value);
            } else if let Some(v) = arg.strip_prefix(&prefix) {
                found = Some(Some(v.to_string()));
            } else {
                kept.push_back(arg);
            }
        }
        self.rest = kept;
        found
    }

    /// Takes every `--name VALUE` / `--name=VALUE`.
    pub(crate) fn values(&mut self, name: &str) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let mut kept = VecDeque::with_capacity(self.rest.len());
        let prefix = format!("{name}=");
        while let Some(arg) = self.rest.pop_front() {
            if arg == name {
                match self.rest.pop_front() {
                    Some(v) if !v.starts_with("--") => found.push(v),
                    _ => return Err(self.error(&format!("{name} needs a value"))),
                }
            } else if let Some(v) = arg.strip_prefix(&prefix) {
                found.push(v.to_string());
            } else {
                kept.push_back(arg);
            }
        }
        self.rest = kept;
        Ok(found)
    }

    /// Takes `--config PATH`: the file, not yet read, so that every other
    /// option is checked before a missing or bad config is reported.
    pub(crate) fn config_path(&mut self) -> Result<Option<PathBuf>> {
        Ok(self.value("--config")?.map(PathBuf::from))
    }

    /// Takes a duration option such as `--duration 10m` ([`parse_duration`]).
    pub fn duration(&mut self, name: &str) -> Result<Option<Duration>> {
        match self.value(name)? {
            None => Ok(None),
            Some(text) => parse_duration(&text)
                .map(Some)
                .map_err(|e| self.error(&format!("{name} {e}"))),
        }
    }

    /// Takes a whole-number option such as `--id 3`.
    pub(crate) fn number(&mut self, name: &str, default: u32) -> Result<u32> {
        match self.value(name)? {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| self.error(&format!("{name} {text:?} is not a whole number"))),
        }
    }

    /// Takes `--name A,B,C`, a comma-separated list whose every item
    /// `item` accepts (the benches' sweeps: `--links 10,100`). `None` if
    /// absent; an item refused, or no item at all, is an error naming it.
    pub fn list<T>(
        &mut self,
        name: &str,
        item: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<Vec<T>>> {
        let Some(text) = self.value(name)? else {
            return Ok(None);
        };
        let mut items = Vec::new();
        for s in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item(s) {
                Some(v) => items.push(v),
                None => return Err(self.error(&format!("{name}: {s:?} is not accepted here"))),
            }
        }
        if items.is_empty() {
            return Err(self.error(&format!("{name} {text:?} lists nothing")));
        }
        Ok(Some(items))
    }

    /// Takes the next positional argument (one not starting with `-`).
    pub(crate) fn positional(&mut self) -> Option<String> {
        let i = self
            .rest
            .iter()
            .position(|a| !a.starts_with('-') || a == "-")?;
        self.rest.remove(i)
    }

    /// Fails if anything was not taken: a typo should not be ignored.
    pub fn finish(self) -> Result<()> {
        match self.rest.front() {
            None => Ok(()),
            Some(arg) if arg.starts_with('-') => Err(self.error(&format!("unknown option {arg}"))),
            Some(arg) => Err(self.error(&format!("unexpected argument {arg:?}"))),
        }
    }

    /// `text`, the value of a `--server`, as an address ([`server_address`]).
    pub(crate) fn server(&self, text: &str) -> Result<SocketAddr> {
        server_address(text).map_err(|e| self.error(&format!("--server: {e}")))
    }

    /// An error that names the program and points at `--help`.
    pub fn error(&self, what: &str) -> Error {
        Error::msg(format!("{what} (see {} --help)", self.program))
    }
}

/// A server's address as typed: `IP:PORT` (`127.0.0.1:38677`,
/// `[::1]:38677`), or `HOST:PORT` (`localhost:38677`), whose host name is
/// resolved and its first address taken.
///
/// # Errors
/// The text has no `:PORT`, or the port is not 0-65535; the host name does
/// not resolve (the message names the host and the resolver's reason).
pub(crate) fn server_address(text: &str) -> Result<SocketAddr> {
    // An address needs no resolver: no lookup, no delay, no surprise.
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = text
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .filter(|(host, _)| !host.is_empty())
    else {
        return Err(Error::msg(format!("{text:?} is not IP:PORT or HOST:PORT")));
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::msg(format!("cannot resolve host {host:?} (in {text:?}): {e}")))?
        .next()
        .ok_or_else(|| Error::msg(format!("host {host:?} (in {text:?}) has no address")))
}

/// Prints to stdout, ignoring a closed pipe (`startup | head` must not
/// panic the way `println!` does).
pub(crate) fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// Runs a program's `main` body: an error is printed as `program: message`
/// (and logged, when logging is on) and the process exits with status 2
/// (bad usage or setup).
pub fn exit_on_error<T>(program: &str, result: Result<T>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{program}: {e}");
            log::error!("{program} exits with status 2: {e}");
            crate::logging::finish();
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new("t", "usage", list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_flags_and_positionals() {
        let mut a = args(&["1.2.3.4", "--port=5", "--quiet", "--ip", "9.9.9.9", "80"]);
        assert!(a.flag("--quiet"));
        assert!(!a.flag("--json"));
        assert_eq!(a.value("--port").unwrap().as_deref(), Some("5"));
        assert_eq!(a.value("--ip").unwrap().as_deref(), Some("9.9.9.9"));
        assert_eq!(a.positional().as_deref(), Some("1.2.3.4"));
        assert_eq!(a.positional().as_deref(), Some("80"));
        a.finish().unwrap();
    }

    #[test]
    fn short_options_read_as_their_long_names() {
        let mut a = args(&["-d", "30s", "-q", "--report", "-", "-x"])
            .with_short(&[("-d", "--duration"), ("-q", "--quiet")]);
        assert_eq!(
            a.duration("--duration").unwrap(),
            Some(Duration::from_secs(30))
        );
        assert!(a.flag("--quiet"));
        assert_eq!(a.value("--report").unwrap().as_deref(), Some("-"));
        let e = a.finish().unwrap_err().to_string();
        assert!(e.contains("unknown option -x"), "{e}");
    }

    #[test]
    fn an_option_whose_value_may_be_left_out() {
        let given = |v: &str| Some(Some(v.to_string()));
        let mut a = args(&["--dashboard", "--quiet"]);
        assert_eq!(a.optional_value("--dashboard"), Some(None));
        assert!(a.flag("--quiet"));
        let mut a = args(&["--dashboard", "0.0.0.0:1", "--x"]);
        assert_eq!(a.optional_value("--dashboard"), given("0.0.0.0:1"));
        assert_eq!(a.optional_value("--dashboard"), None);
        let mut a = args(&["--dashboard=127.0.0.1:0"]);
        assert_eq!(a.optional_value("--dashboard"), given("127.0.0.1:0"));
        a.finish().unwrap();
        let mut a = args(&["--dashboard"]);
        assert_eq!(a.optional_value("--dashboard"), Some(None));
    }

    #[test]
    fn mistakes_are_named() {
        let mut a = args(&["--port"]);
        let e = a.value("--port").unwrap_err().to_string();
        assert!(
            e.contains("--port needs a value") && e.contains("t --help"),
            "{e}"
        );
        let e = args(&["--prot", "1"]).finish().unwrap_err().to_string();
        assert!(e.contains("unknown option --prot"), "{e}");
        let mut a = args(&["--duration", "soon"]);
        let e = a.duration("--duration").unwrap_err().to_string();
        assert!(e.contains("--duration \"soon\" is not a duration"), "{e}");
        let mut a = args(&["--max-p99", "10"]);
        let e = a.duration("--max-p99").unwrap_err().to_string();
        assert!(e.contains("--max-p99 \"10\" has no unit"), "{e}");
    }

    #[test]
    fn lists_take_every_item_or_name_the_one_refused() {
        let number = |s: &str| s.parse::<u32>().ok();
        let mut a = args(&["--links", "10, 100,", "--x=a,b"]);
        assert_eq!(a.list("--links", number).unwrap(), Some(vec![10, 100]));
        assert_eq!(a.list("--links", number).unwrap(), None);
        let e = a.list("--x", number).unwrap_err().to_string();
        assert!(e.contains("--x: \"a\" is not accepted here"), "{e}");
        let e = args(&["--x", ","]).list("--x", number).unwrap_err();
        assert!(e.to_string().contains("lists nothing"), "{e}");
    }

    #[test]
    fn help_and_version_answer_before_anything_else() {
        let answer = |list: &[&str]| {
            let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            Args::answer_first("server", "USAGE: server\n", &list)
        };
        let version = format!("server {}", env!("CARGO_PKG_VERSION"));
        assert_eq!(answer(&["--version"]), Some(version.clone()));
        assert_eq!(answer(&["--port", "5", "-V"]), Some(version.clone()));
        assert_eq!(answer(&["-h"]), Some("USAGE: server".to_string()));
        // Whichever is asked first wins.
        assert_eq!(answer(&["--version", "--help"]), Some(version));
        assert_eq!(answer(&["--help", "-V"]), Some("USAGE: server".to_string()));
        assert_eq!(answer(&["--port", "5", "--verbose"]), None);
        assert_eq!(answer(&[]), None);
    }

    #[test]
    fn server_addresses_and_what_is_not_one() {
        let addr: SocketAddr = "127.0.0.1:38677".parse().unwrap();
        assert_eq!(server_address("127.0.0.1:38677").unwrap(), addr);
        assert_eq!(
            server_address("[::1]:5").unwrap(),
            "[::1]:5".parse::<SocketAddr>().unwrap()
        );
        for bad in [
            "127.0.0.1",
            "localhost",
            ":38677",
            "localhost:port",
            "h:70000",
        ] {
            let e = server_address(bad).unwrap_err().to_string();
            assert_eq!(e, format!("{bad:?} is not IP:PORT or HOST:PORT"));
        }
    }
}
