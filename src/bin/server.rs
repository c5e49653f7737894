//! `server`: one server node. See `server --help`.

use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mass_connect::cli::{self, Args};
use mass_connect::logging::Process;
use mass_connect::server::Server;
use mass_connect::wire::control::{self, Control};
use mass_connect::{Config, Error, Result};

const USAGE: &str = "\
server: one mass_connect server node

USAGE:
    server [--config PATH] [--ip IP] [--port PORT]
    server IP PORT                  (the seed's form)

OPTIONS:
    --config PATH   config file [default: ./config.json]
    --ip IP         address to listen on [default: the entry of server_ip_list
                    that belongs to this host]
    --port PORT     port to listen on [default: the only port of
                    server_port_list, if there is just one]
    --supervised    run under startup: stop when stdin says `stop` or closes
    -h, --help      this text
    -V, --version   the server's version

The server prints `mass_connect server listening on IP:PORT` once it accepts
connections, and stops on Ctrl-C or an operations `stop` (see omclient).
Under startup, a server ended by an operations `stop` prints `mass_connect
server stopped by operations stop from IP:PORT` (the sender) before it exits.";

fn main() {
    mass_connect::sys::footprint::share_one_malloc_arena();
    let result = run();
    cli::exit_on_error("server", result);
    mass_connect::logging::finish();
}

fn run() -> Result<()> {
    let mut args = Args::from_env("server", USAGE);
    let (_, config) = args.config()?;
    let supervised = args.flag("--supervised");
    let ip = args.value("--ip")?.or_else(|| args.positional());
    let port = args.value("--port")?.or_else(|| args.positional());
    args.finish()?;
    let addr = listen_address(&config, ip, port)?;

    mass_connect::logging::init(&config, Process::Server(addr))?;
    let server = Server::bind(Arc::new(config), addr)?;
    let handle = server.handle();
    let finished = server.handle();
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
                handle.stop();
            })
            .map_err(|e| Error::msg(format!("cannot start the stdin watcher: {e}")))?;
    } else {
        ctrlc::set_handler(move || handle.stop())
            .map_err(|e| Error::msg(format!("cannot install the Ctrl-C handler: {e}")))?;
    }

    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", control::listening_line(server.local_addr()));
    let _ = out.flush();
    drop(out);

    let stats = server.run();
    if supervised {
        // An operator's `stop` is not a death: tell startup, which would
        // otherwise report this exit as one and restart the server.
        if let Some(peer) = finished.stopped_by() {
            cli::say(&control::stopped_line(peer));
        }
    } else {
        cli::say(&format!(
            "server {} stopped: {} updates on {} keys, {} anomalies, {} protocol errors",
            stats.server, stats.updates, stats.keys, stats.anomalies, stats.protocol_errors
        ));
    }
    Ok(())
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
