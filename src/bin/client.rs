//! `client`: one client node. See `client --help`.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mass_connect::cli::{self, Args};
use mass_connect::client::Client;
use mass_connect::client::schedule::Window;
use mass_connect::logging::Process;
use mass_connect::messages::ClientReport;
use mass_connect::metrics::{Percentiles, Snapshot};
use mass_connect::wire::control::{Control, ControlError};
use mass_connect::{Error, Result};

const USAGE: &str = "\
client: one mass_connect client node (one thread per server link)

USAGE:
    client [--config PATH] [--server ADDR]... [--duration 30s] [--json]

OPTIONS:
    --config PATH       config file [default: ./config.json]
    --server ADDR       link to this server only, IP:PORT or HOST:PORT
                        (repeatable) [default: every port of every host in
                        the config]
    --duration D        stop after D (30s, 10m, 3h) [default: at Ctrl-C]
    --json              print the final report as JSON instead of text
    --id N              this client's index on the host [default: 0]
    --clients N         clients on the host, to spread first updates [default: 1]
    --supervised        run under startup: connect, then answer `ready`,
                        `go START [END]`, `status` and `stop` on stdin
    -h, --help          this text
    -V, --version       the client's version

Standalone, the client prints a status line each second on stderr and its
report on stdout when it stops.";

fn main() {
    mass_connect::sys::footprint::share_one_malloc_arena();
    let result = run();
    cli::exit_on_error("client", result);
    mass_connect::logging::finish();
}

fn run() -> Result<()> {
    let mut args = Args::from_env("client", USAGE);
    let (_, config) = args.config()?;
    let supervised = args.flag("--supervised");
    let json = args.flag("--json");
    let duration = args.duration("--duration")?;
    let id = args.number("--id", 0)?;
    let clients = args.number("--clients", 1)?;
    let servers: Vec<SocketAddr> = args
        .values("--server")?
        .iter()
        .map(|s| cli::server_address(s).map_err(|e| args.error(&format!("--server: {e}"))))
        .collect::<Result<_>>()?;
    args.finish()?;
    let servers = if servers.is_empty() {
        config.all_servers()
    } else {
        servers
    };

    mass_connect::logging::init(&config, Process::Client(id))?;
    // Under startup, connect and wait for its `go`: see `serve_supervisor`.
    let client = Client::start(Arc::new(config), &servers, id, clients, supervised)?;
    if supervised {
        serve_supervisor(client);
        return Ok(());
    }

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
        let second = client.take_histograms();
        total.add(&second);
        let s = client.status();
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
    let report = client.stop();
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

/// Under startup the main thread is the control thread: it blocks on stdin
/// and answers each request with one JSON line. End-of-file means startup is
/// gone, so the client stops too.
///
/// The links connect and then wait: `ready` is answered at once with the
/// totals (`links_up`, and each link still down with the reason its last
/// attempt failed; startup asks again until all are up or its connect
/// deadline passes), and `go START [END]` (no answer) gives every link its
/// schedule's window.
/// startup sends it to all clients once all are ready, so nothing is
/// measured while the host is still busy spawning and connecting the rest
/// of the fleet (see [`Window`]).
fn serve_supervisor(mut client: Client) {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let json = match Control::parse(&line) {
            Ok(Control::Status) => serde_json::to_string(&client.status_reply()),
            Ok(Control::Ready) => serde_json::to_string(&client.status()),
            Ok(Control::Go { start_us, end_us }) => {
                client.go(Window::from_go(start_us, end_us));
                continue; // the one request without an answer
            }
            Ok(Control::Stop) => break,
            Err(ControlError::BadGo(why)) => {
                eprintln!("client: cannot read startup's go line: {why}; starting now");
                client.go(Window::now());
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
    let report = client.stop();
    let json = serde_json::to_string(&report).unwrap_or_default();
    let _ = writeln!(stdout, "{json}");
    let _ = stdout.flush();
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
