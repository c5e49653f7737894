//! Where a run's config comes from: a file or the built-in defaults, with
//! the command line's layout flags on top.
//!
//! A load tester changes the layout far more often than anything else, and
//! wrk, k6 and tcpkali take it on the command line; so `startup --clients
//! 100 --servers 3 --interval 10ms` runs with no config.json at all, and on
//! top of one the same flags win over its keys. Children read one file, so
//! when flags or defaults are in play the merged keys are written to a file
//! of the run's own ([`ConfigFile`]); the report names the real origin of
//! each value ([`Source`]).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::{self, Args};
use crate::config::{Config, DEFAULT_FILE, Schedule};
use crate::{Error, Result};

/// The most server ports `--servers` may ask for on one host.
const MAX_SERVERS: u16 = 1_000;

/// The config options of `startup`'s command line, not yet applied.
pub(crate) struct ConfigFlags {
    /// `--config PATH`, when given: then the file must exist.
    file: Option<PathBuf>,
    /// The keys the flags set, in the order given.
    set: Vec<SetBy>,
}

/// One key a flag set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SetBy {
    /// The config key.
    pub(crate) key: &'static str,
    /// The flag as typed, with its value: `--interval 10ms`.
    pub(crate) flag: String,
    #[serde(skip)]
    value: Value,
}

/// Where the run's config came from, as the report tells it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Source {
    /// The file read; `None`: no `./config.json`, so the built-in defaults.
    pub(crate) file: Option<String>,
    /// The keys set by flags, which win over the file's.
    pub(crate) flags: Vec<SetBy>,
}

/// A loaded config, the file its children read, and where it came from.
pub(crate) struct Loaded {
    pub(crate) config: Config,
    /// The file the children get: the config file itself, or the merged
    /// keys written for this run.
    pub(crate) path: PathBuf,
    pub(crate) source: Source,
    /// Keeps the merged file until the run is over.
    pub(crate) _written: Option<ConfigFile>,
}

impl ConfigFlags {
    /// Takes `--config` and the layout flags: `--clients N`, `--servers N`,
    /// `--interval D`, `--connect-rate N` and `--schedule NAME`. Reads
    /// nothing yet.
    ///
    /// # Errors
    /// A value that does not read as what its flag takes.
    pub(crate) fn take(args: &mut Args) -> Result<ConfigFlags> {
        let file = args.config_path()?;
        let mut set = Vec::new();
        if let Some(n) = whole(args, "--clients")? {
            set.push(SetBy::new("client_num_per_host", "--clients", n, n.into()));
        }
        if let Some(n) = whole(args, "--servers")? {
            if !(1..=u64::from(MAX_SERVERS)).contains(&n) {
                return Err(args.error(&format!("--servers {n}: give 1 to {MAX_SERVERS} servers")));
            }
            // The ports are filled in on load, from the file's first port.
            set.push(SetBy::new("server_port_list", "--servers", n, n.into()));
        }
        if let Some(text) = args.value("--interval")? {
            let ms = interval_ms(&text).map_err(|e| args.error(&format!("--interval {e}")))?;
            set.push(SetBy::new(
                "update_intervals",
                "--interval",
                &text,
                ms.into(),
            ));
        }
        if let Some(n) = whole(args, "--connect-rate")? {
            set.push(SetBy::new("connect_rate", "--connect-rate", n, n.into()));
        }
        if let Some(text) = args.value("--schedule")? {
            let name: Schedule = text
                .parse()
                .map_err(|e| args.error(&format!("--schedule: {e}")))?;
            set.push(SetBy::new(
                "schedule",
                "--schedule",
                &text,
                name.name().into(),
            ));
        }
        Ok(ConfigFlags { file, set })
    }

    /// Reads the file (or takes the defaults when there is no
    /// `./config.json` and `--config` was not given), sets the flags' keys
    /// on top and validates the whole.
    ///
    /// # Errors
    /// `--config`'s file is missing or bad; the merged config breaks a rule
    /// (the message names the flags).
    pub(crate) fn load(self) -> Result<Loaded> {
        let (path, mut map) = match &self.file {
            Some(path) => (Some(path.clone()), read_map(path)?),
            None if Path::new(DEFAULT_FILE).exists() => {
                let path = PathBuf::from(DEFAULT_FILE);
                (Some(path.clone()), read_map(&path)?)
            }
            None => (None, Map::new()),
        };
        let source = Source {
            file: path.as_ref().map(|p| p.display().to_string()),
            flags: self.set.clone(),
        };
        if let (Some(path), true) = (&path, self.set.is_empty()) {
            // The file as it is: children read it, and errors name it as always.
            let config = Config::load(path)?;
            return Ok(Loaded {
                config,
                path: path.clone(),
                source,
                _written: None,
            });
        }
        for s in &self.set {
            let value = match s.key {
                "server_port_list" => ports(&map, &s.value)?,
                _ => s.value.clone(),
            };
            map.insert(s.key.to_string(), value);
        }
        let config = Config::from_map(&map)
            .map_err(|e| Error::msg(format!("{}: {e}", source.describe())))?;
        let written = ConfigFile::write("run", &Value::Object(map))?;
        Ok(Loaded {
            config,
            path: written.path.clone(),
            source,
            _written: Some(written),
        })
    }
}

impl SetBy {
    fn new(key: &'static str, flag: &str, shown: impl std::fmt::Display, value: Value) -> SetBy {
        SetBy {
            key,
            flag: format!("{flag} {shown}"),
            value,
        }
    }
}

impl Source {
    /// `config.json`, or `built-in defaults (no ./config.json)`, then
    /// `with --clients 100, --interval 10ms` when flags set keys.
    pub(crate) fn describe(&self) -> String {
        let base = match &self.file {
            Some(file) => file.clone(),
            None => format!("built-in defaults (no ./{DEFAULT_FILE})"),
        };
        if self.flags.is_empty() {
            return base;
        }
        let flags: Vec<&str> = self.flags.iter().map(|s| s.flag.as_str()).collect();
        format!("{base} with {}", flags.join(", "))
    }
}

/// `--servers N`: N ports counting up from the first port the file (or the
/// default) lists, so a file's own port range is kept.
fn ports(map: &Map<String, Value>, count: &Value) -> Result<Value> {
    let first = match map.get("server_port_list") {
        Some(v) => Config::from_map(&Map::from_iter([(
            "server_port_list".to_string(),
            v.clone(),
        )]))?,
        None => Config::default(),
    }
    .server_port_list[0];
    let count = count.as_u64().unwrap_or(1);
    let last = u64::from(first) + count - 1;
    if last > u64::from(u16::MAX) {
        return Err(Error::msg(format!(
            "--servers {count}: counting up from port {first} passes 65535; set server_port_list's first port lower"
        )));
    }
    let list: Vec<String> = (u64::from(first)..=last).map(|p| p.to_string()).collect();
    Ok(Value::String(list.join(";")))
}

/// `--interval`'s value in whole milliseconds, the unit of `update_intervals`.
fn interval_ms(text: &str) -> std::result::Result<u64, String> {
    let d = cli::parse_duration(text)?;
    let ms = d.as_secs_f64() * 1000.0;
    if ms.fract() != 0.0 {
        return Err(format!(
            "{text:?} is not a whole number of milliseconds (update_intervals is in ms)"
        ));
    }
    Ok(ms as u64)
}

/// A whole-number flag, if given.
fn whole(args: &mut Args, name: &str) -> Result<Option<u64>> {
    match args.value(name)? {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| args.error(&format!("{name} {text:?} is not a whole number"))),
    }
}

/// A config file's keys, unvalidated (validation comes once all layers are on).
fn read_map(path: &Path) -> Result<Map<String, Value>> {
    // Config::load's reading and its messages, then the keys as written.
    Config::load(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::msg(format!("cannot read config file {}: {e}", path.display())))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::msg(format!(
            "config file {} is not a JSON object",
            path.display()
        ))),
    }
}

/// A config file written for a run and removed when dropped.
pub(crate) struct ConfigFile {
    /// Where it is.
    pub(crate) path: PathBuf,
}

impl ConfigFile {
    /// Writes `json` to a file of its own in the temporary folder, named
    /// by `what` and this process.
    ///
    /// # Errors
    /// The file cannot be written.
    pub(crate) fn write(what: &str, json: &Value) -> Result<ConfigFile> {
        use std::io::Write;
        let name = format!("mass_connect-{what}-{}.json", std::process::id());
        let path = std::env::temp_dir().join(name);
        let text = serde_json::to_string_pretty(json).unwrap_or_default();
        // A file left by an earlier process of the same id keeps its mode
        // when reopened; a new one gets ours.
        let _ = std::fs::remove_file(&path);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // The keys may hold the ops_token: readable by this user alone, as
        // a config file holding one should be.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&path)
            .and_then(|mut file| file.write_all((text + "\n").as_bytes()))
            .map_err(|e| {
                // A container built FROM scratch, or a host with TMPDIR
                // set wrong, has no temporary folder to write in.
                Error::msg(format!(
                    "cannot write the run's config to {}: {e} (the layout flags and the \
                     built-in defaults are written to the temporary folder for the \
                     children; point TMPDIR at a writable folder, or run with \
                     --config PATH alone)",
                    path.display()
                ))
            })?;
        Ok(ConfigFile { path })
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(list: &[&str]) -> Result<ConfigFlags> {
        let mut args = Args::new("startup", "usage", list.iter().map(|s| s.to_string()));
        let flags = ConfigFlags::take(&mut args)?;
        args.finish()?;
        Ok(flags)
    }

    /// A config file of the test's own, removed at the end.
    struct Temp(PathBuf);

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn file(json: &str) -> Temp {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("mc-source-{}-{n}.json", std::process::id()));
        std::fs::write(&path, json).unwrap();
        Temp(path)
    }

    #[test]
    fn flags_win_over_the_file_and_say_so() {
        let f = file(
            r#"{"server_port_list": "20001;20002", "client_num_per_host": 7, "ops_token": "t"}"#,
        );
        let path = f.0.display().to_string();
        let loaded = flags(&[
            "--config",
            &path,
            "--clients",
            "3",
            "--servers",
            "4",
            "--interval",
            "1s",
        ])
        .unwrap()
        .load()
        .unwrap();
        let c = &loaded.config;
        assert_eq!(c.client_num_per_host, 3);
        assert_eq!(c.server_port_list, vec![20001, 20002, 20003, 20004]);
        assert_eq!(c.update_intervals, 1000);
        assert_eq!(
            c.ops_token, "t",
            "what the flags do not set comes from the file"
        );
        assert_ne!(loaded.path, f.0, "children read the merged keys");
        let back = Config::load(&loaded.path).unwrap();
        assert_eq!(back.server_port_list, c.server_port_list);
        assert_eq!(back.ops_token, "t");
        assert_eq!(
            loaded.source.describe(),
            format!("{path} with --clients 3, --servers 4, --interval 1s")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&loaded.path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the merged keys hold the token: {mode:o}");
        }
        let written = loaded.path.clone();
        drop(loaded);
        assert!(!written.exists(), "the merged file goes with the run");
    }

    #[test]
    fn a_file_alone_is_read_as_it_is() {
        let f = file(r#"{"client_num_per_host": 7}"#);
        let loaded = flags(&["--config", &f.0.display().to_string()])
            .unwrap()
            .load()
            .unwrap();
        assert_eq!(loaded.path, f.0);
        assert!(loaded.source.flags.is_empty());
        assert_eq!(loaded.config.client_num_per_host, 7);
    }

    #[test]
    fn flag_values_are_checked_before_anything_is_read() {
        let e = |list: &[&str]| flags(list).err().expect("refused").to_string();
        assert!(e(&["--interval", "10"]).contains("--interval \"10\" has no unit"));
        assert!(e(&["--interval", "1.5ms"]).contains("not a whole number of milliseconds"));
        assert!(e(&["--clients", "many"]).contains("--clients \"many\" is not a whole number"));
        assert!(e(&["--servers", "0"]).contains("give 1 to 1000 servers"));
        assert!(e(&["--schedule", "often"]).contains("--schedule"));
        // A missing --config file is only an error once loading starts.
        let missing = flags(&["--config", "/nonexistent/mc.json"]).unwrap();
        assert!(
            missing
                .load()
                .err()
                .unwrap()
                .to_string()
                .contains("cannot read config file")
        );
    }

    #[test]
    fn rules_broken_by_flags_name_them() {
        let f = file(r#"{"idle_timeout_ms": 1000}"#);
        let path = f.0.display().to_string();
        let e = flags(&["--config", &path, "--interval", "1s"])
            .unwrap()
            .load()
            .err()
            .unwrap();
        let e = e.to_string();
        assert!(
            e.contains("with --interval 1s") && e.contains("idle_timeout_ms"),
            "{e}"
        );
        let f = file(r#"{"server_port_list": "65535"}"#);
        let path = f.0.display().to_string();
        let e = flags(&["--config", &path, "--servers", "2"])
            .unwrap()
            .load()
            .err()
            .unwrap();
        assert!(e.to_string().contains("passes 65535"), "{e}");
    }
}
