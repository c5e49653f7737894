//! `config.json`: the seed's keys, our extra keys, and strict validation.
//!
//! The seed's seven keys are accepted exactly as the seed wrote them
//! (`"server_port_list": "38677;38678;38679"`), and lists may also be JSON
//! arrays. Every other key has a default, so the seed's own file loads as is.
//!
//! Validation is strict because a typo in a load tool's config silently
//! measures the wrong thing: an unknown key is an error that suggests the
//! closest known key, and a bad value names the key, the value and what is
//! accepted. Nothing starts on a bad config.
//!
//! This file owns the key table, where each key is written once (its doc,
//! type, default and rule), and what is derived from a loaded config. The
//! rest of the folder serves the table:
//!
//! * `table.rs`: the `config_keys!` macro that turns the table into the
//!   struct, its defaults, [`KEYS`] and the parser;
//! * `rules.rs`: how a JSON value is read and checked, rule by rule;
//! * `choices.rs`: the enum keys, [`Schedule`] and [`Affinity`].

mod choices;
mod rules;
mod table;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

pub use self::choices::{Affinity, Schedule, UnknownName};
use self::rules::{Flag, IpList, Named, OneOf, PortList, ProgramName, Rule, Text, Token, Whole};
use self::table::config_keys;
use crate::error::{Error, Result};
use crate::suggest;
use crate::sys::net;

// The key table, the one place a key is written. Each entry is
// `key: Type = default, rule;` under the field's doc: the key is also the
// field's name, and the rule (rules.rs) reads and checks the JSON value.
// Errors list the known keys in this order. A new key is one entry here
// plus its row in the README's table (a test checks the row).
config_keys! {
    /// The whole configuration, after validation.
    #[derive(Debug, Clone, Serialize)]
    pub(crate) struct Config {
        /// Server addresses, one per host (`server_ip_list`).
        server_ip_list: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1])], IpList;
        /// The ports every server host listens on (`server_port_list`).
        server_port_list: Vec<u16> = vec![18677, 18678, 18679], PortList;
        /// Server program file name as configured (`server.exe` works on Linux too).
        server_app_name: String = "server".into(), ProgramName;
        /// Client processes started on each host.
        client_num_per_host: u32 = 100, Whole(0..=100_000);
        /// Client program file name as configured.
        client_app_name: String = "client".into(), ProgramName;
        /// Write a log file per process.
        log_switch: bool = false, Flag;
        /// Milliseconds between two updates of one link.
        update_intervals: u64 = 10, Whole(1..=3_600_000);
        /// Minimum level written when `log_switch` is on.
        log_level: String = "info".into(),
            OneOf(&["off", "error", "warn", "info", "debug", "trace"]);
        /// Directory for log files.
        log_dir: PathBuf = PathBuf::from("logs"), Text("a directory path");
        /// The most one process's log file may hold, in MB (see `logging`).
        log_max_mb: u64 = 20, Whole(1..=1_000_000);
        /// How links pace their updates.
        schedule: Schedule = Schedule::FixedRate, Named;
        /// Client, fixed rate: a tick more than this far behind its due time
        /// is dropped and counted, not sent (0: catch up on every tick).
        max_lag_ms: u64 = 0, Whole(0..=86_400_000);
        /// Client: how long one connection attempt may take.
        connect_timeout_ms: u64 = 3_000, Whole(1..=600_000);
        /// Host: first connections per second over all its clients' links,
        /// brought up at that steady pace (0: every link at once).
        connect_rate: u32 = 0, Whole(0..=1_000_000);
        /// Client: how long to wait for an ack before the link is called broken.
        request_timeout_ms: u64 = 5_000, Whole(1..=600_000);
        /// Client: first pause before reconnecting; doubles on each failure.
        reconnect_initial_ms: u64 = 50, Whole(1..=600_000);
        /// Client: the longest pause between reconnection attempts.
        reconnect_max_ms: u64 = 2_000, Whole(1..=600_000);
        /// Server: a link is closed when no line begins for this long, or a
        /// line is not complete this long after its first byte.
        idle_timeout_ms: u64 = 60_000, Whole(100..=86_400_000);
        /// Server: a peer that does not take a whole reply within this long is dropped.
        write_timeout_ms: u64 = 5_000, Whole(1..=600_000);
        /// Server: connections beyond this many are refused with an error line.
        server_max_links: u32 = 10_000, Whole(1..=1_000_000);
        /// Stack size of every link thread, in KiB.
        thread_stack_kb: u32 = 64, Whole(16..=65_536);
        /// Pin each link's threads, on both ends, to the CPU chosen by the
        /// server's port (see `sys::affinity`).
        cpu_affinity: Affinity = Affinity::Off, Named;
        /// Token the operations commands `stop` and `dump` require (empty: none);
        /// only what `auth;<token>` can carry in one line is accepted.
        /// Never serialized, so a server's `config` reply cannot leak it.
        #[serde(skip_serializing)]
        ops_token: String = String::new(), Token;
        /// startup: how long children get to stop before they are killed.
        stop_timeout_ms: u64 = 10_000, Whole(100..=600_000);
        /// startup: how many times it restarts a server that dies during a run
        /// (per server; 0 = never), so its links can reconnect.
        server_restarts: u32 = 3, Whole(0..=1_000);
    }
}

// The `*_ms` keys as `Duration`s: the one place their milliseconds are
// turned into time, so no caller converts them on its own.
macro_rules! durations {
    ($($(#[$doc:meta])* $name:ident = $key:ident;)*) => {
        impl Config {
            $($(#[$doc])* pub fn $name(&self) -> Duration {
                Duration::from_millis(self.$key)
            })*
        }
    };
}

impl Config {
    /// The fixed-rate backlog's bound (`max_lag_ms`), `None` when unbounded.
    pub(crate) fn max_lag(&self) -> Option<Duration> {
        (self.max_lag_ms > 0).then(|| Duration::from_millis(self.max_lag_ms))
    }
}

durations! {
    /// The interval between two updates of one link (`update_intervals`).
    interval = update_intervals;
    /// How long one connection attempt may take (`connect_timeout_ms`).
    connect_timeout = connect_timeout_ms;
    /// How long a client waits for an ack (`request_timeout_ms`).
    request_timeout = request_timeout_ms;
    /// The first pause before a reconnect (`reconnect_initial_ms`).
    reconnect_initial = reconnect_initial_ms;
    /// The longest pause between reconnects (`reconnect_max_ms`).
    reconnect_max = reconnect_max_ms;
    /// How long a server link may sit idle (`idle_timeout_ms`).
    idle_timeout = idle_timeout_ms;
    /// How long a server waits for a peer to take a reply (`write_timeout_ms`).
    write_timeout = write_timeout_ms;
    /// How long children get to stop before they are killed (`stop_timeout_ms`).
    stop_timeout = stop_timeout_ms;
}

/// The config file the programs read when `--config` is not given.
pub(crate) const DEFAULT_FILE: &str = "config.json";

impl Config {
    /// `--config`'s file when one was given; else `./config.json` when
    /// there is one; else the built-in defaults, since every key has one.
    ///
    /// # Errors
    /// As [`Config::load`], for the file it reads.
    pub(crate) fn load_given(given: Option<&Path>) -> Result<Config> {
        match given {
            Some(path) => Config::load(path),
            None if Path::new(DEFAULT_FILE).exists() => Config::load(Path::new(DEFAULT_FILE)),
            None => Ok(Config::default()),
        }
    }

    /// Reads and validates a config file.
    ///
    /// # Errors
    /// A missing or unreadable file, invalid JSON (with its line and column),
    /// an unknown key or a bad value: each message names the file.
    pub(crate) fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                " (pass --config PATH, or run from the folder that holds config.json)"
            } else {
                ""
            };
            Error::msg(format!(
                "cannot read config file {}: {e}{hint}",
                path.display()
            ))
        })?;
        Config::from_json(&text)
            .map_err(|e| Error::msg(format!("config file {}: {e}", path.display())))
    }

    /// Parses and validates config text (the file name is added by [`Config::load`]).
    pub(crate) fn from_json(text: &str) -> Result<Config> {
        // serde_json's message ends with "at line L column C".
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::msg(format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::msg(
                "expected a JSON object such as {\"server_port_list\": \"18677\"}",
            ));
        };
        Config::from_map(&map)
    }

    /// Validates a config's keys as a file would hold them (a file's keys
    /// with the command line's on top, say).
    pub(crate) fn from_map(map: &Map<String, Value>) -> Result<Config> {
        let mut c = Config::default();
        for (key, v) in map {
            c.set(key, v)?;
        }
        c.check_together()?;
        Ok(c)
    }

    /// Rules that involve more than one key.
    fn check_together(&self) -> Result<()> {
        if self.reconnect_initial_ms > self.reconnect_max_ms {
            return Err(Error::msg(format!(
                "\"reconnect_initial_ms\" ({}) is larger than \"reconnect_max_ms\" ({}); \
                 the first pause cannot exceed the longest one",
                self.reconnect_initial_ms, self.reconnect_max_ms
            )));
        }
        // A link that updates less often than the server's idle timeout would be
        // closed between two of its own updates.
        if self.schedule != Schedule::ClosedLoop
            && self.idle_timeout_ms <= self.update_intervals.saturating_mul(2)
        {
            return Err(Error::msg(format!(
                "\"idle_timeout_ms\" ({}) must be more than twice \"update_intervals\" ({}), \
                 or servers would close links between two updates",
                self.idle_timeout_ms, self.update_intervals
            )));
        }
        Ok(())
    }

    /// How long one operations question to one server may take (startup's
    /// checks, the dashboard's polls, omclient): `connect_timeout_ms`, kept
    /// within 1-3 s. A load test's generous connect timeout should not keep
    /// an operator waiting, and a tight one should not fail a `stats` that a
    /// busy server answers a little late.
    pub(crate) fn ops_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.clamp(1_000, 3_000))
    }

    /// The servers this host runs: every port of the one `server_ip_list`
    /// entry that is an address of this host.
    ///
    /// # Errors
    /// `--host` is not in the list, or two entries are both on this host.
    pub(crate) fn host_servers(&self, host: Option<IpAddr>) -> Result<Vec<SocketAddr>> {
        let ip = match host {
            Some(ip) if self.server_ip_list.contains(&ip) => Some(ip),
            Some(ip) => {
                if !net::is_local_ip(ip) {
                    return Err(Error::msg(format!(
                        "--host {ip} is not an address of this host"
                    )));
                }
                None // a clients-only host
            }
            None => {
                let local: Vec<IpAddr> = self
                    .server_ip_list
                    .iter()
                    .copied()
                    .filter(|ip| net::is_local_ip(*ip))
                    .collect();
                if local.len() > 1 {
                    let list: Vec<String> = local.iter().map(|ip| ip.to_string()).collect();
                    return Err(Error::msg(format!(
                        "server_ip_list has {} addresses of this host ({}); pass --host IP to say which one this host serves",
                        local.len(),
                        list.join(", ")
                    )));
                }
                local.first().copied()
            }
        };
        Ok(ip.map(|ip| self.servers_on(ip)).unwrap_or_default())
    }

    /// Every server of the system: each port of each host in `server_ip_list`.
    pub(crate) fn all_servers(&self) -> Vec<SocketAddr> {
        self.server_ip_list
            .iter()
            .flat_map(|&ip| self.servers_on(ip))
            .collect()
    }

    /// The servers of the host at `ip`: one on each port of `server_port_list`.
    fn servers_on(&self, ip: IpAddr) -> Vec<SocketAddr> {
        self.server_port_list
            .iter()
            .map(|&port| SocketAddr::new(ip, port))
            .collect()
    }

    /// Updates per second one link makes on schedule (0 for closed loop).
    pub(crate) fn per_link_rate(&self) -> f64 {
        match self.schedule {
            Schedule::ClosedLoop => 0.0,
            _ => 1000.0 / self.update_intervals as f64,
        }
    }

    /// How long a host's `links` take to make their first connections at
    /// `connect_rate` (zero when every link connects at once).
    pub(crate) fn ramp(&self, links: u64) -> Duration {
        if self.connect_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(links as f64 / f64::from(self.connect_rate))
    }

    /// Stack size for link threads, in bytes.
    pub(crate) fn thread_stack_bytes(&self) -> usize {
        self.thread_stack_kb as usize * 1024
    }

    /// The file name a configured program has on this platform: `server.exe`
    /// from a Windows config becomes `server` on Linux and the reverse.
    pub(crate) fn program_file_name(configured: &str) -> String {
        let stem = strip_exe(configured);
        format!("{stem}{}", std::env::consts::EXE_SUFFIX)
    }
}

fn strip_exe(name: &str) -> &str {
    // Compare bytes: slicing the str at len - 4 panics when that falls inside
    // a multi-byte character ("服务器"). When the bytes are ".exe", the cut
    // is just before an ASCII '.', so it is a character boundary.
    match name.len().checked_sub(4) {
        Some(stem) if stem > 0 && name.as_bytes()[stem..].eq_ignore_ascii_case(b".exe") => {
            &name[..stem]
        }
        _ => name,
    }
}

fn unknown_key(key: &str) -> Error {
    let closest = suggest::closest(key, KEYS.iter().copied())
        .map(|k| format!("; did you mean \"{k}\"?"))
        .unwrap_or_default();
    Error::msg(format!(
        "unknown key \"{key}\"{closest} (known keys: {})",
        KEYS.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        Config::from_json(json).unwrap_err().to_string()
    }

    #[test]
    fn seed_file_loads_with_windows_names() {
        let c = Config::from_json(include_str!("../../tests/fixtures/seed-conf.json")).unwrap();
        assert_eq!(c.server_port_list, vec![38677, 38678, 38679]);
        assert_eq!(c.client_num_per_host, 100);
        assert_eq!(c.update_intervals, 10);
        assert!(!c.log_switch);
        let expected = format!("server{}", std::env::consts::EXE_SUFFIX);
        assert_eq!(Config::program_file_name(&c.server_app_name), expected);
    }

    #[test]
    fn non_ascii_program_names_do_not_panic() {
        // Found by the `config` fuzz target: a name whose last four bytes
        // cut a character in two made startup panic.
        let suffix = std::env::consts::EXE_SUFFIX;
        let c =
            Config::from_json(r#"{"server_app_name": "服务器", "client_app_name": "客户端.EXE"}"#)
                .unwrap();
        let cases = [
            (c.server_app_name.as_str(), "服务器"),
            (&c.client_app_name, "客户端"),
            ("é.exe", "é"),
            (".exe", ".exe"),
        ];
        for (configured, stem) in cases {
            let expected = format!("{stem}{suffix}");
            assert_eq!(Config::program_file_name(configured), expected);
        }
    }

    #[test]
    fn default_file_loads() {
        Config::from_json(include_str!("../../config.json")).unwrap();
    }

    #[test]
    fn empty_object_takes_every_default() {
        let c = Config::from_json("{}").unwrap();
        assert_eq!(c.all_servers().len(), 3);
        assert_eq!(c.schedule, Schedule::FixedRate);
    }

    #[test]
    fn lists_as_strings_or_arrays() {
        let c = Config::from_json(
            r#"{"server_ip_list": ["127.0.0.1", "127.0.0.2"], "server_port_list": [1, "2"]}"#,
        )
        .unwrap();
        assert_eq!(c.all_servers().len(), 4);
        let c = Config::from_json(r#"{"server_port_list": " 5 ; 6 ;"}"#).unwrap();
        assert_eq!(c.server_port_list, vec![5, 6]);
    }

    #[test]
    fn bad_values_name_key_value_and_accepted() {
        // (key, its JSON value, what the refusal says besides the key)
        let cases = [
            ("update_intervals", "0", "0 is not accepted"),
            ("update_intervals", "0", "from 1 to"),
            ("server_port_list", r#""1;70000""#, "\"70000\" is not"),
            ("server_port_list", r#""0""#, "\"0\" is not a port"),
            ("server_port_list", r#""1;1""#, "listed twice"),
            ("server_port_list", r#""""#, ""),
            ("server_ip_list", r#""localhost""#, "not an IP address"),
            ("server_ip_list", r#""0.0.0.0""#, "clients can connect to"),
            ("server_ip_list", "[true]", ""),
            ("log_switch", r#""yes""#, "\"yes\" is not accepted"),
            ("log_switch", r#""yes""#, "true or false"),
            ("schedule", r#""fast""#, "fixed-rate, fixed-delay, closed"),
            ("client_num_per_host", "-1", ""),
            ("server_app_name", r#""bin/server""#, "bare file name"),
            ("log_level", r#""loud""#, "one of off, error"),
            ("thread_stack_kb", "4", "from 16"),
            ("ops_token", "5", ""),
        ];
        for (key, value, says) in cases {
            let e = err(&format!("{{\"{key}\": {value}}}"));
            assert!(e.contains(&format!("\"{key}\"")) && e.contains(says), "{e}");
        }
    }

    #[test]
    fn cross_key_rules() {
        let e = err(r#"{"reconnect_initial_ms": 500, "reconnect_max_ms": 100}"#);
        assert!(e.contains("reconnect_initial_ms"), "{e}");
        let e = err(r#"{"update_intervals": 1000, "idle_timeout_ms": 1500}"#);
        assert!(e.contains("idle_timeout_ms"), "{e}");
    }

    #[test]
    fn readme_documents_every_key() {
        // KEYS comes from the key table, so a key added there without a row
        // in the README's configuration table fails here.
        let readme = include_str!("../../README.md");
        for key in KEYS {
            assert!(
                readme.contains(&format!("| `{key}` |")),
                "README's configuration table lacks a row for key {key}"
            );
        }
    }

    #[test]
    fn defaults_serialize_as_pinned() {
        // What a server's `config` reply and `omclient config` show: every
        // key but the token, in table order.
        let json = serde_json::to_string(&Config::default()).unwrap();
        assert_eq!(json, DEFAULTS_JSON);
        assert!(!json.contains("ops_token"));
    }

    #[test]
    fn a_config_loads_back_from_its_own_json() {
        let c = Config::from_json(
            r#"{"schedule": "closed-loop", "cpu_affinity": "by-server", "log_dir": "x/y"}"#,
        )
        .unwrap();
        let json = serde_json::to_string(&c).unwrap();
        let again = Config::from_json(&json).unwrap();
        assert_eq!(serde_json::to_string(&again).unwrap(), json);
        assert_eq!(again.schedule, Schedule::ClosedLoop);
        assert_eq!(again.cpu_affinity, Affinity::ByServer);
    }

    #[test]
    fn keys_are_the_serialized_fields_and_the_token() {
        let json: Value = serde_json::to_value(Config::default()).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.push("ops_token");
        fields.sort_unstable();
        let mut keys = KEYS.to_vec();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    const DEFAULTS_JSON: &str = concat!(
        r#"{"server_ip_list":["127.0.0.1"],"#,
        r#""server_port_list":[18677,18678,18679],"#,
        r#""server_app_name":"server","#,
        r#""client_num_per_host":100,"#,
        r#""client_app_name":"client","#,
        r#""log_switch":false,"#,
        r#""update_intervals":10,"#,
        r#""log_level":"info","#,
        r#""log_dir":"logs","#,
        r#""log_max_mb":20,"#,
        r#""schedule":"fixed-rate","#,
        r#""max_lag_ms":0,"#,
        r#""connect_timeout_ms":3000,"#,
        r#""connect_rate":0,"#,
        r#""request_timeout_ms":5000,"#,
        r#""reconnect_initial_ms":50,"#,
        r#""reconnect_max_ms":2000,"#,
        r#""idle_timeout_ms":60000,"#,
        r#""write_timeout_ms":5000,"#,
        r#""server_max_links":10000,"#,
        r#""thread_stack_kb":64,"#,
        r#""cpu_affinity":"off","#,
        r#""stop_timeout_ms":10000,"#,
        r#""server_restarts":3}"#,
    );
}
