//! What every client program does around the engine that runs its links:
//! read the common options, obey startup's control lines under
//! `--supervised`, or run standalone with a status line each second and a
//! report at the end.
//!
//! The product's `client` runs its links on threads ([`super::Client`]);
//! the comparison engines of the workspace's `engines` package run theirs
//! on an event loop or async tasks. Each implements [`Node`], and this file
//! is all the rest, written once, so every client program answers startup
//! the same way, word for word.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::cli::{self, Args};
use crate::client::schedule::Window;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::messages::{ClientReport, ClientStatus, StatusReply};
use crate::metrics::{Percentiles, Snapshot};
use crate::wire::control::{Control, ControlError};

/// The options every client program takes (see the product's `client
/// --help`, [`OPTIONS`]).
pub struct ClientArgs {
    /// The loaded config.
    pub config: Config,
    /// The servers to link to, one link each (a server given twice gets
    /// two links); every server of the config when none was given.
    pub servers: Vec<SocketAddr>,
    /// This client's index on the host.
    pub id: u32,
    /// Clients on the host, to spread first updates.
    pub clients: u32,
    /// Run under startup.
    pub supervised: bool,
    /// Print the final report as JSON.
    pub(crate) json: bool,
    /// Stop after this long (standalone).
    pub(crate) duration: Option<Duration>,
}

/// The options of [`ClientArgs`], as a usage text lists them.
pub const OPTIONS: &str = "\
    \x20   --config PATH       config file [default: ./config.json; without one,
                        the built-in defaults]
    --server ADDR       link to this server only, IP:PORT or HOST:PORT
                        (repeatable) [default: every port of every host in
                        the config]
    --duration D        stop after D (30s, 10m, 3h) [default: at Ctrl-C]
    --json              print the final report as JSON instead of text
    --id N              this client's index on the host [default: 0]
    --clients N         clients on the host, to spread first updates and
                        share connect_rate [default: 1]
    --supervised        run under startup: connect, then answer `ready`,
                        `go START [END]`, `status` and `stop` on stdin
    -h, --help          this text
    -V, --version       the client's version";

impl ClientArgs {
    /// Takes the common options from `args`, which must hold nothing else:
    /// a program takes its own options first.
    ///
    /// # Errors
    /// A bad config, an unknown option, or a value that does not read.
    pub fn take(mut args: Args) -> Result<ClientArgs> {
        let config_path = args.config_path()?;
        let supervised = args.flag("--supervised");
        let json = args.flag("--json");
        let duration = args.duration("--duration")?;
        let id = args.number("--id", 0)?;
        let clients = args.number("--clients", 1)?;
        let servers: Vec<SocketAddr> = args
            .values("--server")?
            .iter()
            .map(|s| args.server(s))
            .collect::<Result<_>>()?;
        args.finish()?;
        let config = Config::load_given(config_path.as_deref())?;
        let servers = if servers.is_empty() {
            config.all_servers()
        } else {
            servers
        };
        Ok(ClientArgs {
            config,
            servers,
            id,
            clients,
            supervised,
            json,
            duration,
        })
    }
}

/// A running client node, whatever runs its links.
pub trait Node {
    /// Current totals over all links (`ready`'s answer).
    fn status(&self) -> ClientStatus;
    /// Totals and the histograms since the last call (`status`'s answer).
    /// Never waits for the links.
    fn status_reply(&self) -> StatusReply {
        StatusReply {
            histograms: self.take_histograms().encode(),
            status: self.status(),
        }
    }
    /// The histograms of everything recorded since the last call.
    fn take_histograms(&self) -> Snapshot;
    /// Gives a gated node its schedule's window.
    fn go(&mut self, window: Window);
    /// Stops every link after its in-flight update is answered and returns
    /// what each acked.
    fn stop(self) -> ClientReport;
}

/// Runs a started node to its end: under startup, or standalone.
pub fn run<N: Node>(node: N, args: &ClientArgs) -> Result<()> {
    if args.supervised {
        serve_supervisor(node);
        Ok(())
    } else {
        run_standalone(node, args.duration, args.json)
    }
}

/// Under startup the main thread is the control thread: it blocks on stdin
/// and answers each line of `wire::control` with one JSON line, until `stop`
/// or end-of-file (startup is gone). The links connect and then wait for
/// `go START [END]`, which startup sends once every client is ready, so
/// nothing is measured while the host still spawns and connects the rest
/// of the fleet (see [`Window`]).
pub(crate) fn serve_supervisor<N: Node>(mut node: N) {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let json = match Control::parse(&line) {
            Ok(Control::Status) => serde_json::to_string(&node.status_reply()),
            Ok(Control::Ready) => serde_json::to_string(&node.status()),
            Ok(Control::Go { start_us, end_us }) => {
                node.go(Window::from_go(start_us, end_us));
                continue; // the one request without an answer
            }
            Ok(Control::Stop) => break,
            Err(ControlError::BadGo(why)) => {
                eprintln!("client: cannot read startup's go line: {why}; starting now");
                node.go(Window::now());
                continue;
            }
            Err(ControlError::Unknown(_)) => continue,
        };
        if writeln!(stdout, "{}", json.unwrap_or_default())
            .and_then(|_| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    let report = node.stop();
    let json = serde_json::to_string(&report).unwrap_or_default();
    let _ = writeln!(stdout, "{json}");
    let _ = stdout.flush();
}

/// Standalone: a status line each second on stderr until `duration` or
/// Ctrl-C, then the report on stdout (text, or JSON with `json`).
///
/// # Errors
/// The Ctrl-C handler cannot be installed.
pub(crate) fn run_standalone<N: Node>(
    node: N,
    duration: Option<Duration>,
    json: bool,
) -> Result<()> {
    let (tx, interrupted) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })
    .map_err(|e| Error::msg(format!("cannot install the Ctrl-C handler: {e}")))?;
    let end = duration.map(|d| Instant::now() + d);
    let mut total = Snapshot::default();
    loop {
        let next = Instant::now() + Duration::from_secs(1);
        let wake = end.map_or(next, |e| e.min(next));
        if interrupted.recv_deadline(wake).is_ok() || end.is_some_and(|e| Instant::now() >= e) {
            break;
        }
        let second = node.take_histograms();
        total.add(&second);
        let s = node.status();
        eprintln!(
            "[{:.0}s] links {}/{}  sent {}  acked {}  p99 {} us  late {}  errors {}  reconnects {}",
            s.elapsed_s,
            s.links_up,
            s.links,
            s.sent,
            s.acked,
            Percentiles::of(&second.latency).p99,
            s.late,
            s.errors,
            s.reconnects
        );
    }
    let report = node.stop();
    if let Some(rest) = report.histograms.decode() {
        total.add(&rest);
    }
    if json {
        cli::say(&serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print_report(&report, &total);
    }
    Ok(())
}

fn print_report(report: &ClientReport, histograms: &Snapshot) {
    let s = &report.status;
    let mut text = format!(
        "client {}: {:.1} s, {} links, sent {}, acked {}, late {}, errors {}, reconnects {}, anomalies {}\n",
        s.id, s.elapsed_s, s.links, s.sent, s.acked, s.late, s.errors, s.reconnects, s.anomalies
    );
    for (name, h) in [
        ("latency", &histograms.latency),
        ("lateness", &histograms.lateness),
        ("corrected latency", &histograms.corrected),
    ] {
        let p = Percentiles::of(h);
        text += &format!(
            "  {name:<18} p50 {} us  p90 {} us  p99 {} us  p99.9 {} us  max {} us\n",
            p.p50, p.p90, p.p99, p.p999, p.max
        );
    }
    for k in &report.keys {
        text += &format!(
            "  {} key {}: {} acked, {} unacked\n",
            k.server, k.key, k.acked, k.unacked
        );
    }
    cli::say(&text);
}
