//! What every server program does around the engine that serves its links:
//! read the common options and the address to listen on, print the
//! `listening on` line startup waits for, stop when startup says so (or
//! closes stdin, or at Ctrl-C standalone), and say how it ended.
//!
//! The product's `server` serves its links on threads ([`super::Server`]);
//! the comparison engines of the workspace's `engines` package serve theirs
//! on an event loop or async tasks. This file is the rest, written once,
//! so every server program speaks to startup the same way.

use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};

use crate::cli::{self, Args};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::messages::ServerStats;
use crate::wire::control::{self, Control};

/// The options every server program takes ([`OPTIONS`]).
pub struct ServerArgs {
    /// The loaded config.
    pub config: Config,
    /// Where to listen.
    pub addr: SocketAddr,
    /// Run under startup: stop when stdin says `stop` or closes.
    pub supervised: bool,
}

/// The options of [`ServerArgs`], as a usage text lists them.
pub const OPTIONS: &str = "\
    \x20   --config PATH   config file [default: ./config.json; without one,
                    the built-in defaults]
    --ip IP         address to listen on [default: the entry of server_ip_list
                    that belongs to this host]
    --port PORT     port to listen on [default: the only port of
                    server_port_list, if there is just one]
    --supervised    run under startup: stop when stdin says `stop` or closes
    -h, --help      this text
    -V, --version   the server's version";

impl ServerArgs {
    /// Takes the common options (and the seed's positional `IP PORT`) from
    /// `args`, which must hold nothing else: a program takes its own
    /// options first.
    ///
    /// # Errors
    /// A bad config, an unknown option, an address that does not read, or
    /// no way to tell which address of the config is this server's.
    pub fn take(mut args: Args) -> Result<ServerArgs> {
        let config_path = args.config_path()?;
        let supervised = args.flag("--supervised");
        // Both options first: a positional is whatever does not start
        // with `-`, so reading `--ip`'s positional before `--port` was
        // taken would take `--port`'s value for the address.
        let (ip, port) = (args.value("--ip")?, args.value("--port")?);
        let ip = ip.or_else(|| args.positional());
        let port = port.or_else(|| args.positional());
        args.finish()?;
        let config = Config::load_given(config_path.as_deref())?;
        let addr = listen_address(&config, ip, port)?;
        Ok(ServerArgs {
            config,
            addr,
            supervised,
        })
    }
}

fn listen_address(config: &Config, ip: Option<String>, port: Option<String>) -> Result<SocketAddr> {
    let ip: IpAddr = match ip {
        Some(text) => text
            .parse()
            .map_err(|_| Error::msg(format!("{text:?} is not an IP address (see server --help)")))?,
        None => config
            .host_servers(None)?
            .first()
            .map(|a| a.ip())
            .ok_or_else(|| {
                Error::msg("no address of this host is in server_ip_list; pass --ip IP (see server --help)")
            })?,
    };
    let port: u16 = match port {
        Some(text) => text
            .parse()
            .map_err(|_| Error::msg(format!("{text:?} is not a port (see server --help)")))?,
        None if config.server_port_list.len() == 1 => config.server_port_list[0],
        None => {
            return Err(Error::msg(format!(
                "server_port_list has {} ports; pass --port PORT to choose one (see server --help)",
                config.server_port_list.len()
            )));
        }
    };
    Ok(SocketAddr::new(ip, port))
}

/// Calls `stop` once startup asks (a `stop` line, or its end of our stdin)
/// when `supervised`, else at Ctrl-C.
///
/// # Errors
/// The watcher thread or the Ctrl-C handler cannot be installed.
pub fn stop_on_request(supervised: bool, stop: impl Fn() + Send + 'static) -> Result<()> {
    if supervised {
        // startup closes our stdin to stop us, and the OS closes it if startup
        // dies: either way the server must not outlive it.
        std::thread::Builder::new()
            .name("stdin watch".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    match line {
                        Ok(l) if Control::parse(&l) == Ok(Control::Stop) => break,
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                }
                stop();
            })
            .map_err(|e| Error::msg(format!("cannot start the stdin watcher: {e}")))?;
    } else {
        ctrlc::set_handler(stop)
            .map_err(|e| Error::msg(format!("cannot install the Ctrl-C handler: {e}")))?;
    }
    Ok(())
}

/// Prints the `listening on` line: startup's readiness signal.
pub fn say_listening(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", control::listening_line(addr));
    let _ = out.flush();
}

/// The last word: under startup, who stopped us if an operations `stop`
/// did; standalone, the totals.
pub fn say_stopped(supervised: bool, stopped_by: Option<SocketAddr>, stats: &ServerStats) {
    if supervised {
        // An operator's `stop` is not a death: tell startup, which would
        // otherwise report this exit as one and restart the server.
        if let Some(peer) = stopped_by {
            cli::say(&control::stopped_line(peer));
        }
    } else {
        cli::say(&format!(
            "server {} stopped: {} updates on {} keys, {} anomalies, {} protocol errors",
            stats.server, stats.updates, stats.keys, stats.anomalies, stats.protocol_errors
        ));
    }
}
