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

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::sys::net;

/// How a client link paces its updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The k-th update of a link is due at `start + k * interval`, whatever
    /// the previous round trip cost. A late tick is sent at once and counted.
    FixedRate,
    /// The seed's loop: send, wait for the ack, sleep the interval. The rate
    /// is `1 / (interval + round trip + sleep overshoot)`, always below target.
    FixedDelay,
    /// No pause at all: the next update goes as soon as the ack arrives. For
    /// finding the model's ceiling, not for reproducing the seed.
    ClosedLoop,
}

impl Schedule {
    /// The name used in the config file and the report.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::FixedRate => "fixed-rate",
            Schedule::FixedDelay => "fixed-delay",
            Schedule::ClosedLoop => "closed-loop",
        }
    }
}

/// Where link threads run (see `affinity.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Affinity {
    /// Both ends of a link on the CPU chosen by the server's port.
    ByServer,
    /// Wherever the OS scheduler puts them.
    Off,
}

/// The whole configuration, after validation.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Server addresses, one per host (`server_ip_list`).
    pub server_ip_list: Vec<IpAddr>,
    /// The ports every server host listens on (`server_port_list`).
    pub server_port_list: Vec<u16>,
    /// Server program file name as configured (`server.exe` works on Linux too).
    pub server_app_name: String,
    /// Client processes started on each host.
    pub client_num_per_host: u32,
    /// Client program file name as configured.
    pub client_app_name: String,
    /// Write a log file per process.
    pub log_switch: bool,
    /// Milliseconds between two updates of one link.
    pub update_intervals: u64,
    /// Minimum level written when `log_switch` is on.
    pub log_level: String,
    /// Directory for log files.
    pub log_dir: PathBuf,
    /// How links pace their updates.
    pub schedule: Schedule,
    /// Client: how long one connection attempt may take.
    pub connect_timeout_ms: u64,
    /// Client: how long to wait for an ack before the link is called broken.
    pub request_timeout_ms: u64,
    /// Client: first pause before reconnecting; doubles on each failure.
    pub reconnect_initial_ms: u64,
    /// Client: the longest pause between reconnection attempts.
    pub reconnect_max_ms: u64,
    /// Server: a link that sends nothing for this long is closed.
    pub idle_timeout_ms: u64,
    /// Server: a peer that does not read its acks for this long is dropped.
    pub write_timeout_ms: u64,
    /// Server: connections beyond this many are refused with an error line.
    pub server_max_links: u32,
    /// Stack size of every link thread, in KiB.
    pub thread_stack_kb: u32,
    /// Pin each link's threads, on both ends, to the CPU chosen by the
    /// server's port (see `affinity.rs`).
    pub cpu_affinity: Affinity,
    /// Token the operations commands `stop` and `dump` require (empty: none).
    #[serde(skip_serializing)]
    pub ops_token: String,
    /// startup: how long children get to stop before they are killed.
    pub stop_timeout_ms: u64,
    /// startup: how many times it restarts a server that dies during a run
    /// (per server; 0 = never), so its links can reconnect.
    pub server_restarts: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            server_ip_list: vec![IpAddr::from([127, 0, 0, 1])],
            server_port_list: vec![38677, 38678, 38679],
            server_app_name: "server".into(),
            client_num_per_host: 100,
            client_app_name: "client".into(),
            log_switch: false,
            update_intervals: 10,
            log_level: "info".into(),
            log_dir: PathBuf::from("logs"),
            schedule: Schedule::FixedRate,
            connect_timeout_ms: 3_000,
            request_timeout_ms: 5_000,
            reconnect_initial_ms: 50,
            reconnect_max_ms: 2_000,
            idle_timeout_ms: 60_000,
            write_timeout_ms: 5_000,
            server_max_links: 10_000,
            thread_stack_kb: 64,
            cpu_affinity: Affinity::Off,
            ops_token: String::new(),
            stop_timeout_ms: 10_000,
            server_restarts: 3,
        }
    }
}

/// Every key the config accepts, for the unknown-key suggestion and the docs test.
pub const KEYS: &[&str] = &[
    "server_ip_list",
    "server_port_list",
    "server_app_name",
    "client_num_per_host",
    "client_app_name",
    "log_switch",
    "update_intervals",
    "log_level",
    "log_dir",
    "schedule",
    "connect_timeout_ms",
    "request_timeout_ms",
    "reconnect_initial_ms",
    "reconnect_max_ms",
    "idle_timeout_ms",
    "write_timeout_ms",
    "server_max_links",
    "thread_stack_kb",
    "cpu_affinity",
    "ops_token",
    "stop_timeout_ms",
    "server_restarts",
];

const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// A missing or unreadable file, invalid JSON (with its line and column),
    /// an unknown key or a bad value: each message names the file.
    pub fn load(path: &Path) -> Result<Config> {
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
    pub fn from_json(text: &str) -> Result<Config> {
        // serde_json's message ends with "at line L column C".
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::msg(format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::msg(
                "expected a JSON object such as {\"server_port_list\": \"38677\"}",
            ));
        };
        Config::from_map(&map)
    }

    fn from_map(map: &Map<String, Value>) -> Result<Config> {
        let mut c = Config::default();
        for (key, v) in map {
            match key.as_str() {
                "server_ip_list" => c.server_ip_list = ip_list(key, v)?,
                "server_port_list" => c.server_port_list = port_list(key, v)?,
                "server_app_name" => c.server_app_name = app_name(key, v)?,
                "client_num_per_host" => c.client_num_per_host = int(key, v, 0, 100_000)? as u32,
                "client_app_name" => c.client_app_name = app_name(key, v)?,
                "log_switch" => c.log_switch = boolean(key, v)?,
                "update_intervals" => c.update_intervals = int(key, v, 1, 3_600_000)?,
                "log_level" => c.log_level = one_of(key, v, LOG_LEVELS)?,
                "log_dir" => c.log_dir = PathBuf::from(string(key, v, "a directory path")?),
                "schedule" => {
                    c.schedule =
                        match one_of(key, v, &["fixed-rate", "fixed-delay", "closed-loop"])?
                            .as_str()
                        {
                            "fixed-rate" => Schedule::FixedRate,
                            "fixed-delay" => Schedule::FixedDelay,
                            _ => Schedule::ClosedLoop,
                        }
                }
                "connect_timeout_ms" => c.connect_timeout_ms = int(key, v, 1, 600_000)?,
                "request_timeout_ms" => c.request_timeout_ms = int(key, v, 1, 600_000)?,
                "reconnect_initial_ms" => c.reconnect_initial_ms = int(key, v, 1, 600_000)?,
                "reconnect_max_ms" => c.reconnect_max_ms = int(key, v, 1, 600_000)?,
                "idle_timeout_ms" => c.idle_timeout_ms = int(key, v, 100, 86_400_000)?,
                "write_timeout_ms" => c.write_timeout_ms = int(key, v, 1, 600_000)?,
                "server_max_links" => c.server_max_links = int(key, v, 1, 1_000_000)? as u32,
                "thread_stack_kb" => c.thread_stack_kb = int(key, v, 16, 65_536)? as u32,
                "cpu_affinity" => {
                    c.cpu_affinity = match one_of(key, v, &["by-server", "off"])?.as_str() {
                        "off" => Affinity::Off,
                        _ => Affinity::ByServer,
                    }
                }
                "ops_token" => c.ops_token = string(key, v, "a string (empty for none)")?,
                "stop_timeout_ms" => c.stop_timeout_ms = int(key, v, 100, 600_000)?,
                "server_restarts" => c.server_restarts = int(key, v, 0, 1_000)? as u32,
                unknown => return Err(unknown_key(unknown)),
            }
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

    /// The interval between two updates of one link.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.update_intervals)
    }

    /// The servers this host runs: every port of the one `server_ip_list`
    /// entry that is an address of this host.
    ///
    /// # Errors
    /// `--host` is not in the list, or two entries are both on this host.
    pub fn host_servers(&self, host: Option<IpAddr>) -> Result<Vec<SocketAddr>> {
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
        Ok(ip
            .map(|ip| {
                self.server_port_list
                    .iter()
                    .map(|&port| SocketAddr::new(ip, port))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Every server of the system: each port of each host in `server_ip_list`.
    pub fn all_servers(&self) -> Vec<SocketAddr> {
        self.server_ip_list
            .iter()
            .flat_map(|ip| {
                self.server_port_list
                    .iter()
                    .map(move |port| SocketAddr::new(*ip, *port))
            })
            .collect()
    }

    /// Links in the whole system when every host in `server_ip_list` also runs
    /// `client_num_per_host` clients (the seed's layout on one host: N x M).
    pub fn links_per_host(&self) -> u64 {
        u64::from(self.client_num_per_host) * self.all_servers().len() as u64
    }

    /// Updates per second one link makes on schedule (0 for closed loop).
    pub fn per_link_rate(&self) -> f64 {
        match self.schedule {
            Schedule::ClosedLoop => 0.0,
            _ => 1000.0 / self.update_intervals as f64,
        }
    }

    /// Stack size for link threads, in bytes.
    pub fn thread_stack_bytes(&self) -> usize {
        self.thread_stack_kb as usize * 1024
    }

    /// The file name a configured program has on this platform: `server.exe`
    /// from a Windows config becomes `server` on Linux and the reverse.
    pub fn program_file_name(configured: &str) -> String {
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
    let closest = KEYS
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .min()
        .filter(|(d, k)| *d <= k.len().max(key.len()) / 2)
        .map(|(_, k)| format!("; did you mean \"{k}\"?"))
        .unwrap_or_default();
    Error::msg(format!(
        "unknown key \"{key}\"{closest} (known keys: {})",
        KEYS.join(", ")
    ))
}

/// Levenshtein distance, for "did you mean" (keys are short, so O(n*m) is nothing).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn bad(key: &str, v: &Value, accepted: &str) -> Error {
    Error::msg(format!(
        "key \"{key}\": {v} is not accepted; expected {accepted}"
    ))
}

fn int(key: &str, v: &Value, min: u64, max: u64) -> Result<u64> {
    let accepted = format!("a whole number from {min} to {max}");
    // The seed's Go config wrote numbers; a quoted number is a common slip worth taking.
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad(key, v, &accepted)),
    }
}

fn boolean(key: &str, v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(bad(key, v, "true or false")),
    }
}

fn string(key: &str, v: &Value, accepted: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(bad(key, v, accepted)),
    }
}

fn one_of(key: &str, v: &Value, choices: &[&str]) -> Result<String> {
    let accepted = format!("one of {}", choices.join(", "));
    match v {
        Value::String(s) if choices.contains(&s.as_str()) => Ok(s.clone()),
        _ => Err(bad(key, v, &accepted)),
    }
}

fn app_name(key: &str, v: &Value) -> Result<String> {
    let s = string(
        key,
        v,
        "a program file name such as \"server\" or \"server.exe\"",
    )?;
    if s.trim().is_empty() || s.contains(['/', '\\']) {
        return Err(bad(
            key,
            v,
            "a bare file name (no directory): programs are found next to startup",
        ));
    }
    Ok(s)
}

/// The items of a list key: the seed's `"a;b;c"` string or a JSON array.
fn items(key: &str, v: &Value, accepted: &str) -> Result<Vec<String>> {
    let list: Vec<String> = match v {
        Value::String(s) => s
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Value::Array(a) => a
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.trim().to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad(key, item, accepted)),
            })
            .collect::<Result<_>>()?,
        Value::Number(n) => vec![n.to_string()],
        _ => return Err(bad(key, v, accepted)),
    };
    if list.is_empty() {
        return Err(bad(key, v, accepted));
    }
    Ok(list)
}

fn ip_list(key: &str, v: &Value) -> Result<Vec<IpAddr>> {
    let accepted =
        "IP addresses separated by ';' (\"127.0.0.1;198.18.0.2\") or a JSON array of them";
    let mut ips = Vec::new();
    for item in items(key, v, accepted)? {
        let ip: IpAddr = item.parse().map_err(|_| {
            Error::msg(format!(
                "key \"{key}\": \"{item}\" is not an IP address; expected {accepted}"
            ))
        })?;
        if ip.is_unspecified() {
            return Err(Error::msg(format!(
                "key \"{key}\": \"{item}\" is not an address clients can connect to; \
                 list each server host's own address"
            )));
        }
        if ips.contains(&ip) {
            return Err(Error::msg(format!(
                "key \"{key}\": \"{item}\" is listed twice"
            )));
        }
        ips.push(ip);
    }
    Ok(ips)
}

fn port_list(key: &str, v: &Value) -> Result<Vec<u16>> {
    let accepted =
        "ports from 1 to 65535 separated by ';' (\"38677;38678\") or a JSON array of them";
    let mut ports = Vec::new();
    for item in items(key, v, accepted)? {
        let port = item
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                Error::msg(format!(
                    "key \"{key}\": \"{item}\" is not a port; expected {accepted}"
                ))
            })?;
        if ports.contains(&port) {
            return Err(Error::msg(format!(
                "key \"{key}\": port {port} is listed twice"
            )));
        }
        ports.push(port);
    }
    Ok(ports)
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
        assert_eq!(
            Config::program_file_name(&c.server_app_name),
            format!("服务器{suffix}")
        );
        assert_eq!(
            Config::program_file_name(&c.client_app_name),
            format!("客户端{suffix}")
        );
        assert_eq!(Config::program_file_name("é.exe"), format!("é{suffix}"));
        assert_eq!(Config::program_file_name(".exe"), format!(".exe{suffix}"));
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
    fn unknown_key_suggests_closest() {
        let e = err(r#"{"update_interval": 10}"#);
        assert!(e.contains("unknown key \"update_interval\""), "{e}");
        assert!(e.contains("did you mean \"update_intervals\""), "{e}");
        let e = err(r#"{"zzz": 1}"#);
        assert!(
            e.contains("unknown key \"zzz\"") && !e.contains("did you mean"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_key_value_and_accepted() {
        let e = err(r#"{"update_intervals": 0}"#);
        assert!(e.contains("\"update_intervals\": 0 is not accepted"), "{e}");
        assert!(e.contains("from 1 to"), "{e}");
        let e = err(r#"{"server_port_list": "38677;70000"}"#);
        assert!(e.contains("\"70000\" is not a port"), "{e}");
        let e = err(r#"{"server_port_list": "0"}"#);
        assert!(e.contains("\"0\" is not a port"), "{e}");
        let e = err(r#"{"server_port_list": "1;1"}"#);
        assert!(e.contains("listed twice"), "{e}");
        let e = err(r#"{"server_port_list": ""}"#);
        assert!(e.contains("server_port_list"), "{e}");
        let e = err(r#"{"server_ip_list": "localhost"}"#);
        assert!(e.contains("\"localhost\" is not an IP address"), "{e}");
        let e = err(r#"{"server_ip_list": "0.0.0.0"}"#);
        assert!(e.contains("not an address clients can connect to"), "{e}");
        let e = err(r#"{"log_switch": "yes"}"#);
        assert!(
            e.contains("\"log_switch\": \"yes\"") && e.contains("true or false"),
            "{e}"
        );
        let e = err(r#"{"schedule": "fast"}"#);
        assert!(e.contains("fixed-rate, fixed-delay, closed-loop"), "{e}");
        let e = err(r#"{"client_num_per_host": -1}"#);
        assert!(e.contains("client_num_per_host"), "{e}");
        let e = err(r#"{"server_app_name": "bin/server"}"#);
        assert!(e.contains("bare file name"), "{e}");
        let e = err(r#"{"log_level": "loud"}"#);
        assert!(e.contains("one of off, error"), "{e}");
        let e = err(r#"{"thread_stack_kb": 4}"#);
        assert!(e.contains("from 16"), "{e}");
        let e = err(r#"{"ops_token": 5}"#);
        assert!(e.contains("ops_token"), "{e}");
        let e = err(r#"{"server_ip_list": [true]}"#);
        assert!(e.contains("server_ip_list"), "{e}");
    }

    #[test]
    fn cross_key_rules() {
        let e = err(r#"{"reconnect_initial_ms": 500, "reconnect_max_ms": 100}"#);
        assert!(e.contains("reconnect_initial_ms"), "{e}");
        let e = err(r#"{"update_intervals": 1000, "idle_timeout_ms": 1500}"#);
        assert!(e.contains("idle_timeout_ms"), "{e}");
    }

    #[test]
    fn json_syntax_error_has_line_and_column() {
        let e = err("{\n  \"log_switch\": false,\n}");
        assert!(e.contains("line 3"), "{e}");
        let e = err("[1]");
        assert!(e.contains("JSON object"), "{e}");
    }

    #[test]
    fn missing_file_names_path() {
        let e = Config::load(Path::new("/nonexistent/mc.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/mc.json"), "{e}");
    }

    #[test]
    fn readme_documents_every_key() {
        let readme = include_str!("../../README.md");
        for key in KEYS {
            assert!(
                readme.contains(&format!("`{key}`")),
                "README lacks config key {key}"
            );
        }
    }
}
