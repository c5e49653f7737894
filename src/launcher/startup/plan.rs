//! The plan: what this host runs, worked out before anything starts, so
//! every later phase reads it instead of asking the config again.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use super::Options;
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::launcher::record::RunInfo;

/// What this host runs, and the run as the record describes it.
pub(super) struct Plan<'a> {
    /// What the user asked.
    pub(crate) options: &'a Options,
    /// The loaded config.
    pub(crate) config: &'a Config,
    /// The config file as the children get it: absolute, so a child whose
    /// working folder differs still finds it.
    pub(crate) config_arg: String,
    /// This host's servers.
    pub(crate) local: Vec<SocketAddr>,
    /// Every server of the config: each client links to all of them.
    pub(crate) all: Vec<SocketAddr>,
    /// What this host does, in one sentence.
    pub(crate) role: String,
    /// What the record says of the run before it starts: its layout
    /// (clients, links, the target rate) among it.
    pub(crate) info: RunInfo,
    /// When startup started: the report's wall time runs from here.
    pub(crate) began: Instant,
}

/// The programs this host starts (`None` where it starts none).
pub(super) struct Programs {
    /// `server_app_name`, found next to startup.
    pub(crate) server: Option<PathBuf>,
    /// `client_app_name`, found next to startup.
    pub(crate) client: Option<PathBuf>,
}

impl<'a> Plan<'a> {
    /// The plan of the run `options` ask for.
    ///
    /// # Errors
    /// The host is not in the config, or would run nothing.
    pub(crate) fn of(options: &'a Options) -> Result<Plan<'a>> {
        let began = (Instant::now(), SystemTime::now());
        let config = &*options.watch.config;
        let local = config.host_servers(options.host)?;
        let role = host_role(config, options.host, &local)?;
        let info = RunInfo::of(
            config,
            &options.config_shown,
            options.watch.duration,
            &role,
            &local,
            began.1,
        );
        let all = config.all_servers();
        let config_arg = std::fs::canonicalize(&options.config_path)
            .unwrap_or_else(|_| options.config_path.clone())
            .to_string_lossy()
            .into_owned();
        Ok(Plan {
            config,
            config_arg,
            local,
            all,
            role,
            info,
            began: began.0,
            options,
        })
    }

    /// Finds the programs this host starts, next to startup.
    ///
    /// # Errors
    /// One is missing; the message says where it looked.
    pub(crate) fn programs(&self) -> Result<Programs> {
        let config = self.config;
        let server = (!self.local.is_empty())
            .then(|| find_program(&config.server_app_name, "server_app_name"))
            .transpose()?;
        let client = (self.info.layout.clients > 0)
            .then(|| find_program(&config.client_app_name, "client_app_name"))
            .transpose()?;
        Ok(Programs { server, client })
    }
}

/// Finds a configured program next to the running executable, with this
/// platform's suffix (`server.exe` in a Linux config means `server`).
///
/// # Errors
/// The program is not there; the message says where it looked and how to
/// build it.
fn find_program(configured: &str, key: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the running program")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let path = dir.join(Config::program_file_name(configured));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::msg(format!(
            "cannot find {} (from {key} = {configured:?}) next to {}; build all four programs \
             with `cargo build --release` and run startup from target/release",
            path.display(),
            exe.display()
        )))
    }
}

/// What this host does in the run, in one sentence.
///
/// # Errors
/// It would do nothing: no address of it serves and it runs no client.
fn host_role(config: &Config, host: Option<IpAddr>, local: &[SocketAddr]) -> Result<String> {
    let clients = config.client_num_per_host;
    let list: Vec<String> = config
        .server_ip_list
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    let not_listed = match host {
        Some(ip) => format!("{ip} is not in server_ip_list ({})", list.join(", ")),
        None => format!(
            "no address of it is in server_ip_list ({})",
            list.join(", ")
        ),
    };
    let Some(first) = local.first() else {
        if clients == 0 {
            return Err(Error::msg(format!(
                "nothing to run on this host: {not_listed} and client_num_per_host is 0"
            )));
        }
        let this = host.map_or_else(|| "this host".to_string(), |ip| format!("this host {ip}"));
        return Ok(format!(
            "{this} runs clients only: {not_listed}; {clients} client(s) will link to the other hosts' servers"
        ));
    };
    let ports: Vec<String> = local.iter().map(|a| a.port().to_string()).collect();
    Ok(format!(
        "this host {} runs {} server(s) (ports {}) and {clients} client(s)",
        first.ip(),
        local.len(),
        ports.join(", ")
    ))
}
