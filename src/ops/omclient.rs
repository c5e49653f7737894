//! The operations & maintenance client behind the `omclient` program:
//! `help`, `config`, `servers`, `stats`, `dump` and `stop`, one-shot or at an
//! interactive prompt that also takes the seed's `h;` `q;` `s;` `d;`.
//!
//! Every command goes to every server of every host in the config (or one,
//! with `--server`), all at once, so that a host that is down or cut off
//! costs one timeout, not one per server. A server that does not answer is
//! shown as DOWN with the reason (unreachable, or nothing listening), and
//! the command goes on with the others. With several hosts, each command
//! adds a line per host.
//!
//! `verify --reports a.json b.json ...` reads no server: it merges the
//! reports of every host's startup into one verdict (see `verify::merge`).

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::messages::{FinalDump, KeyCount, ServerStats};
use crate::ops::connection::{self, OpsConnection};
use crate::verify::{self, HostPart, Merged};

/// The command list, for `help` and the interactive prompt.
pub const COMMANDS: &str = "\
commands (one-shot: omclient COMMAND; interactive: type them at the prompt):
    help      (h)   this list
    config    (c)   the configuration in use (token hidden)
    servers         every server in the config: up (with round trip) or down
    stats           per server: links, updates, updates/s, anomalies, uptime; totals
    dump      (d)   every key and count on each server, sorted, with totals
    stop      (s)   stop the servers (all, or --server IP:PORT)
    verify --reports A.json B.json ...
                    merge every host's startup report into one verdict: each
                    server's final count == the acked updates of every host
    quit      (q)   leave the interactive prompt
options: --server IP:PORT (one server only), --json (machine-readable output)";

/// What a command runs against.
pub struct Target<'a> {
    /// The loaded config (servers, token).
    pub config: &'a Config,
    /// Only this server, instead of all in the config.
    pub server: Option<SocketAddr>,
    /// Print JSON instead of text.
    pub json: bool,
}

/// The output of one command and whether every server answered.
pub struct Outcome {
    /// What to print.
    pub text: String,
    /// False when some server was down.
    pub all_up: bool,
}

impl Target<'_> {
    fn servers(&self) -> Vec<SocketAddr> {
        match self.server {
            Some(s) => vec![s],
            None => self.config.all_servers(),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.connect_timeout_ms.min(3_000))
    }

    fn connect(&self, addr: SocketAddr) -> Result<OpsConnection> {
        OpsConnection::open(addr, &self.config.ops_token, self.timeout())
    }

    /// Runs `f` on every server at once; a failure becomes a "down" entry.
    fn each<T: Send>(
        &self,
        f: impl Fn(&mut OpsConnection) -> Result<T> + Sync,
    ) -> Vec<(SocketAddr, Result<T>)> {
        let servers = self.servers();
        let answers = connection::ask_each(&servers, &self.config.ops_token, self.timeout(), f);
        servers.into_iter().zip(answers).collect()
    }

    /// The hosts to summarise: none when there is only one.
    fn hosts<T>(&self, results: &[(SocketAddr, Result<T>)]) -> Vec<IpAddr> {
        let mut hosts: Vec<IpAddr> = Vec::new();
        for (addr, _) in results {
            if !hosts.contains(&addr.ip()) {
                hosts.push(addr.ip());
            }
        }
        if hosts.len() > 1 { hosts } else { Vec::new() }
    }
}

/// Why a server did not answer, in words: across hosts, "its host cannot be
/// reached" and "nothing listens there" call for different fixes.
fn down_reason(e: &Error, timeout: Duration) -> (&'static str, String) {
    use std::io::ErrorKind;
    match e.io_error().map(|io| io.kind()) {
        Some(ErrorKind::TimedOut | ErrorKind::WouldBlock) => (
            "unreachable",
            format!(
                "unreachable: no answer within {} ms (host down, cut off, firewalled or hung)",
                timeout.as_millis()
            ),
        ),
        Some(ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable) => {
            ("unreachable", format!("unreachable: {e}"))
        }
        Some(ErrorKind::ConnectionRefused) => (
            "refused",
            "not running: the host refused the connection".to_string(),
        ),
        _ => ("error", e.to_string()),
    }
}

/// Maps a typed word (seed shorthand, with or without `;`) to a command.
pub fn command_name(word: &str) -> Option<&'static str> {
    let word = word.trim().trim_end_matches(';').trim();
    Some(match word {
        "h" | "help" | "?" => "help",
        "c" | "config" => "config",
        "servers" => "servers",
        "stats" | "t" => "stats",
        "d" | "dump" | "display" => "dump",
        "s" | "stop" => "stop",
        "verify" => "verify",
        "q" | "quit" | "exit" => "quit",
        _ => return None,
    })
}

/// Runs one command.
///
/// # Errors
/// An unknown command. Servers that are down are part of the outcome.
pub fn run(command: &str, target: &Target<'_>) -> Result<Outcome> {
    let name = command_name(command)
        .ok_or_else(|| Error::msg(format!("unknown command {command:?}; try `omclient help`")))?;
    match name {
        "help" => Ok(Outcome {
            text: COMMANDS.to_string(),
            all_up: true,
        }),
        "config" => config(target),
        "servers" => Ok(servers(target)),
        "stats" => Ok(stats(target)),
        "dump" => Ok(dump(target)),
        "stop" => Ok(stop(target)),
        // It reads report files, not servers: see `verify_reports`.
        "verify" => Err(Error::msg(
            "verify reads the hosts' reports: omclient verify --reports a.json b.json ...",
        )),
        _ => Ok(Outcome {
            text: String::new(),
            all_up: true,
        }),
    }
}

fn config(target: &Target<'_>) -> Result<Outcome> {
    let mut value = serde_json::to_value(target.config).map_err(|e| Error::msg(e.to_string()))?;
    value["ops_token"] = json!(if target.config.ops_token.is_empty() {
        ""
    } else {
        "(set)"
    });
    if let Some(addr) = target.server {
        // Ask the server for the config it actually runs with.
        return Ok(match target.connect(addr).and_then(|mut c| c.config()) {
            Ok(v) => Outcome {
                text: pretty(&v),
                all_up: true,
            },
            Err(e) => Outcome {
                text: format!("{addr}: down ({e})"),
                all_up: false,
            },
        });
    }
    Ok(Outcome {
        text: pretty(&value),
        all_up: true,
    })
}

fn servers(target: &Target<'_>) -> Outcome {
    let results = target.each(|c| c.ping());
    let (all_up, _) = answered(&results);
    let hosts = target.hosts(&results);
    if target.json {
        let list: Vec<Value> = results
            .iter()
            .map(|(addr, r)| match r {
                Ok(rtt) => json!({"server": addr.to_string(), "up": true, "rtt_ms": rtt.as_secs_f64() * 1e3}),
                Err(e) => down_json(addr, e, target),
            })
            .collect();
        let hosts: Vec<Value> = hosts
            .iter()
            .map(|ip| {
                let (up, of) = host_up(&results, *ip);
                json!({"host": ip.to_string(), "servers_up": up, "servers": of})
            })
            .collect();
        return Outcome {
            text: pretty(&json!({ "servers": list, "hosts": hosts })),
            all_up,
        };
    }
    let mut t = String::new();
    for (addr, r) in &results {
        match r {
            Ok(rtt) => writeln!(
                t,
                "{addr:<24} up    round trip {:.2} ms",
                rtt.as_secs_f64() * 1e3
            ),
            Err(e) => writeln!(t, "{addr:<24} DOWN  {}", down_reason(e, target.timeout()).1),
        }
        .ok();
    }
    for ip in &hosts {
        let (up, of) = host_up(&results, *ip);
        writeln!(t, "host {ip}: {up} of {of} servers up").ok();
    }
    let up = results.iter().filter(|(_, r)| r.is_ok()).count();
    writeln!(t, "{up} of {} servers up", results.len()).ok();
    Outcome { text: t, all_up }
}

/// Servers of one host that answered, and how many it has.
fn host_up<T>(results: &[(SocketAddr, Result<T>)], ip: IpAddr) -> (usize, usize) {
    let of_host = results.iter().filter(|(a, _)| a.ip() == ip);
    let of = of_host.clone().count();
    (of_host.filter(|(_, r)| r.is_ok()).count(), of)
}

fn down_json(addr: &SocketAddr, e: &Error, target: &Target<'_>) -> Value {
    json!({
        "server": addr.to_string(),
        "up": false,
        "reason": down_reason(e, target.timeout()).0,
        "error": e.to_string(),
    })
}

fn stats(target: &Target<'_>) -> Outcome {
    let results = target.each(|c| c.stats());
    let (all_up, up) = answered(&results);
    let total = |f: fn(&ServerStats) -> u64| up.iter().map(|s| f(s)).sum::<u64>();
    let totals = json!({
        "links": total(|s| s.links),
        "updates": total(|s| s.updates),
        "updates_per_s": up.iter().map(|s| s.updates_per_s).sum::<f64>(),
        "anomalies": total(|s| s.anomalies),
        "protocol_errors": total(|s| s.protocol_errors),
        "servers_up": up.len(),
        "servers_down": results.len() - up.len(),
    });
    let hosts = target.hosts(&results);
    // Per host: (ip, servers up, servers, links, updates, updates/s).
    let per_host: Vec<(IpAddr, usize, usize, u64, u64, f64)> = hosts
        .iter()
        .map(|ip| {
            let up: Vec<&ServerStats> = results
                .iter()
                .filter(|(a, _)| a.ip() == *ip)
                .filter_map(|(_, r)| r.as_ref().ok())
                .collect();
            let (_, of) = host_up(&results, *ip);
            (
                *ip,
                up.len(),
                of,
                up.iter().map(|s| s.links).sum(),
                up.iter().map(|s| s.updates).sum(),
                up.iter().map(|s| s.updates_per_s).fold(0.0, |a, b| a + b),
            )
        })
        .collect();
    if target.json {
        let list: Vec<Value> = results
            .iter()
            .map(|(addr, r)| as_json(addr, r, target))
            .collect();
        let hosts: Vec<Value> = per_host
            .iter()
            .map(|(ip, up, of, links, updates, rate)| {
                json!({"host": ip.to_string(), "servers_up": up, "servers": of,
                       "links": links, "updates": updates, "updates_per_s": rate})
            })
            .collect();
        return Outcome {
            text: pretty(&json!({"servers": list, "hosts": hosts, "totals": totals})),
            all_up,
        };
    }
    let mut t = format!(
        "{:<24} {:>7} {:>12} {:>10} {:>9} {:>8} {:>9}\n",
        "server", "links", "updates", "updates/s", "anomalies", "errors", "uptime"
    );
    for (addr, r) in &results {
        match r {
            Ok(s) => writeln!(
                t,
                "{addr:<24} {:>7} {:>12} {:>10.0} {:>9} {:>8} {:>8.0}s",
                s.links, s.updates, s.updates_per_s, s.anomalies, s.protocol_errors, s.uptime_s
            ),
            Err(e) => writeln!(
                t,
                "{addr:<24} DOWN ({})",
                down_reason(e, target.timeout()).1
            ),
        }
        .ok();
    }
    for (ip, up, of, links, updates, rate) in &per_host {
        writeln!(
            t,
            "{:<24} {links:>7} {updates:>12} {rate:>10.0}",
            format!("host {ip} ({up}/{of} up)")
        )
        .ok();
    }
    writeln!(
        t,
        "{:<24} {:>7} {:>12} {:>10.0} {:>9} {:>8}",
        format!("total ({} up)", up.len()),
        // As numbers: a JSON value's Display ignores the column width.
        total(|s| s.links),
        total(|s| s.updates),
        totals["updates_per_s"].as_f64().unwrap_or(0.0),
        total(|s| s.anomalies),
        total(|s| s.protocol_errors)
    )
    .ok();
    Outcome { text: t, all_up }
}

fn dump(target: &Target<'_>) -> Outcome {
    let results = target.each(|c| c.dump());
    let (all_up, up) = answered(&results);
    let grand_total: u64 = up.iter().map(|d| d.total).sum();
    let keys: usize = up.iter().map(|d| d.keys.len()).sum();
    if target.json {
        let list: Vec<Value> = results
            .iter()
            .map(|(addr, r)| as_json(addr, r, target))
            .collect();
        return Outcome {
            text: pretty(&json!({"servers": list, "total": grand_total, "keys": keys})),
            all_up,
        };
    }
    let mut t = String::new();
    for (addr, r) in &results {
        match r {
            Ok(d) => {
                writeln!(t, "{addr}: {} keys, {} updates", d.keys.len(), d.total).ok();
                for (key, n) in &d.keys {
                    writeln!(t, "    {key:<40} {n:>12}").ok();
                }
            }
            Err(e) => {
                writeln!(t, "{addr}: DOWN ({})", down_reason(e, target.timeout()).1).ok();
            }
        }
    }
    for ip in target.hosts(&results) {
        let dumps: Vec<_> = results
            .iter()
            .filter(|(a, _)| a.ip() == ip)
            .filter_map(|(_, r)| r.as_ref().ok())
            .collect();
        let (up, of) = host_up(&results, ip);
        writeln!(
            t,
            "host {ip}: {} keys, {} updates on {up} of {of} servers",
            dumps.iter().map(|d| d.keys.len()).sum::<usize>(),
            dumps.iter().map(|d| d.total).sum::<u64>()
        )
        .ok();
    }
    writeln!(
        t,
        "total: {keys} keys, {grand_total} updates on {} servers up",
        up.len()
    )
    .ok();
    Outcome { text: t, all_up }
}

fn stop(target: &Target<'_>) -> Outcome {
    let results = target.each(|c| c.stop());
    let (all_up, _) = answered(&results);
    if target.json {
        let list: Vec<Value> = results
            .iter()
            .map(|(addr, r)| match r {
                Ok(()) => json!({"server": addr.to_string(), "stopped": true}),
                Err(e) => {
                    let mut v = down_json(addr, e, target);
                    v["stopped"] = json!(false);
                    v
                }
            })
            .collect();
        return Outcome {
            text: pretty(&json!({ "servers": list })),
            all_up,
        };
    }
    let mut t = String::new();
    for (addr, r) in &results {
        match r {
            Ok(()) => writeln!(t, "{addr:<24} stopped"),
            Err(e) => writeln!(t, "{addr:<24} DOWN ({e})"),
        }
        .ok();
    }
    Outcome { text: t, all_up }
}

/// Whether every server answered, and the answers of those that did.
fn answered<T>(results: &[(SocketAddr, Result<T>)]) -> (bool, Vec<&T>) {
    let up: Vec<&T> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    (up.len() == results.len(), up)
}

fn as_json<T: Serialize>(addr: &SocketAddr, r: &Result<T>, target: &Target<'_>) -> Value {
    match r {
        Ok(v) => {
            let mut v = serde_json::to_value(v).unwrap_or(Value::Null);
            v["up"] = json!(true);
            v
        }
        Err(e) => down_json(addr, e, target),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// The interactive prompt, like the seed's: reads commands until `q` or
/// end of input. Each line may carry `--server` and `--json` too.
pub fn interactive(config: &Config, input: impl BufRead, mut output: impl Write) -> Result<()> {
    let _ = writeln!(
        output,
        "mass_connect omclient: type 'h' for help, 'q' to quit ('h;' works too)"
    );
    let _ = write!(output, "omclient> ");
    let _ = output.flush();
    for line in input.lines() {
        let line = line.map_err(|e| Error::msg(format!("cannot read input: {e}")))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(first) = words.first() {
            if command_name(first) == Some("quit") {
                break;
            }
            let json = words.contains(&"--json");
            let server = words
                .iter()
                .position(|w| *w == "--server")
                .and_then(|i| words.get(i + 1))
                .and_then(|s| s.parse().ok());
            let target = Target {
                config,
                server,
                json,
            };
            let result = if command_name(first) == Some("verify") {
                verify_reports(&report_paths(&words[1..]), &[], json)
            } else {
                run(first, &target)
            };
            match result {
                Ok(outcome) => {
                    let _ = writeln!(output, "{}", outcome.text.trim_end());
                }
                Err(e) => {
                    let _ = writeln!(output, "{e}");
                }
            }
        }
        let _ = write!(output, "omclient> ");
        let _ = output.flush();
    }
    let _ = writeln!(output);
    Ok(())
}

/// The part of a startup report the merged verdict reads. Its own type
/// rather than `RunReport`, so that only these fields must be present and
/// a missing one is named.
#[derive(serde::Deserialize)]
struct HostReport {
    host: Option<String>,
    client_keys: Vec<KeyCount>,
    server_dumps: Vec<FinalDump>,
    #[serde(default)]
    clients: u64,
    #[serde(default)]
    servers: u64,
    #[serde(default)]
    duration_s: f64,
    #[serde(default)]
    achieved_ops_per_s: f64,
    #[serde(default)]
    target_ops_per_s: f64,
    #[serde(default)]
    acked: u64,
    #[serde(default)]
    unacked: u64,
    #[serde(default)]
    errors: u64,
    #[serde(default)]
    reconnects: u64,
    #[serde(default)]
    unacked_by_server: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    children_died: Vec<Value>,
    /// Only `verify.ok` is read: the host's own verdict.
    #[serde(default)]
    verify: Value,
    #[serde(default)]
    drain_s: f64,
}

impl HostReport {
    fn verified(&self) -> bool {
        self.verify["ok"] == true
    }

    /// `198.18.0.1` for a server host; `clients only (198.18.0.3)` otherwise,
    /// the address taken from its clients' keys.
    fn role(&self) -> String {
        match &self.host {
            Some(ip) => ip.clone(),
            None => {
                let ip = self
                    .client_keys
                    .first()
                    .and_then(|k| k.key.rsplit_once(':'))
                    .map_or("", |(ip, _)| ip);
                format!("clients only ({ip})")
            }
        }
    }
}

/// `verify --reports`: reads every host's startup report and merges them
/// into one verdict. `expected` lists servers that must have final counts
/// (the config's, when one was given).
///
/// # Errors
/// A report cannot be read or is not a startup report; the same report is
/// given twice; two reports carry final counts for one server.
pub fn verify_reports(paths: &[PathBuf], expected: &[String], json: bool) -> Result<Outcome> {
    if paths.is_empty() {
        return Err(Error::msg(
            "verify needs the reports of every host: omclient verify --reports a.json b.json ...",
        ));
    }
    let mut texts: Vec<(String, String)> = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::msg(format!("cannot read report {name}: {e}")))?;
        if let Some((first, _)) = texts.iter().find(|(_, t)| *t == text) {
            return Err(Error::msg(format!(
                "{name} is the same report as {first}: give each host's report once"
            )));
        }
        texts.push((name, text));
    }
    let mut reports = Vec::new();
    for (name, text) in &texts {
        let report: HostReport = serde_json::from_str(text).map_err(|e| {
            let hint = if e.to_string().contains("missing field") {
                " (reports written before multi-host support lack client_keys and \
                 server_dumps: run startup again with this version)"
            } else {
                ""
            };
            Error::msg(format!(
                "report {name} is not a startup report omclient can merge: {e}{hint}"
            ))
        })?;
        reports.push((name.as_str(), report));
    }
    let parts: Vec<HostPart<'_>> = reports
        .iter()
        .map(|(name, r)| HostPart {
            name,
            keys: &r.client_keys,
            dumps: &r.server_dumps,
        })
        .collect();
    let merged = verify::merge(&parts, expected)?;

    if json {
        let hosts: Vec<Value> = reports
            .iter()
            .map(|(name, r)| {
                json!({
                    "report": name, "host": r.host, "role": r.role(),
                    "clients": r.clients, "servers": r.servers,
                    "duration_s": r.duration_s, "achieved_ops_per_s": r.achieved_ops_per_s,
                    "target_ops_per_s": r.target_ops_per_s,
                    "acked": r.acked, "unacked": r.unacked, "errors": r.errors,
                    "reconnects": r.reconnects, "unacked_by_server": r.unacked_by_server,
                    "children_died": r.children_died.len(), "verify_ok": r.verified(),
                    "drain_s": r.drain_s,
                })
            })
            .collect();
        return Ok(Outcome {
            text: pretty(&json!({"hosts": hosts, "merged": merged})),
            all_up: merged.ok,
        });
    }
    Ok(Outcome {
        text: hosts_text(&reports) + &merged_text(&merged),
        all_up: merged.ok,
    })
}

/// One line per host, then each host's unacked updates per server.
fn hosts_text(reports: &[(&str, HostReport)]) -> String {
    let width = reports
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut t = format!(
        "{:<width$}  {:<26} {:>7} {:>7} {:>8} {:>10} {:>9} {:>8} {:>7} {:>10}  verify\n",
        "report",
        "host",
        "clients",
        "servers",
        "duration",
        "updates/s",
        "acked",
        "unacked",
        "errors",
        "reconnects"
    );
    for (name, r) in reports {
        let died = match r.children_died.len() {
            0 => String::new(),
            n => format!(", {n} children died"),
        };
        writeln!(
            t,
            "{name:<width$}  {:<26} {:>7} {:>7} {:>7.1}s {:>10.1} {:>9} {:>8} {:>7} {:>10}  {}{died}",
            r.role(),
            r.clients,
            r.servers,
            r.duration_s,
            r.achieved_ops_per_s,
            r.acked,
            r.unacked,
            r.errors,
            r.reconnects,
            if r.verified() { "OK" } else { "FAILED" },
        )
        .ok();
    }
    let with_unacked: Vec<_> = reports
        .iter()
        .filter(|(_, r)| !r.unacked_by_server.is_empty())
        .collect();
    if !with_unacked.is_empty() {
        writeln!(t, "\nunacked updates (sent, never acked) per server:").ok();
        for (name, r) in with_unacked {
            let list: Vec<String> = r
                .unacked_by_server
                .iter()
                .map(|(server, n)| format!("{server} {n}"))
                .collect();
            writeln!(t, "  {name:<width$}  {}", list.join(", ")).ok();
        }
    }
    t
}

/// The merged verdict, with what to look at when it fails.
fn merged_text(m: &Merged) -> String {
    let mut t = format!(
        "\nmerged verdict over {} reports, {} servers, {} keys:\n",
        m.reports, m.servers, m.keys_checked
    );
    writeln!(t, "  servers counted      {:>12} updates", m.server_total).ok();
    writeln!(t, "  clients saw acked    {:>12}", m.client_acked).ok();
    writeln!(
        t,
        "  in flight            {:>12} on {} keys (counted, but the link broke before the ack came back)",
        m.in_flight_updates, m.in_flight_keys
    )
    .ok();
    if !m.unacked_by_server.is_empty() {
        let list: Vec<String> = m
            .unacked_by_server
            .iter()
            .map(|(server, n)| format!("{server} {n}"))
            .collect();
        writeln!(t, "  unacked by server    {}", list.join(", ")).ok();
    }
    for server in &m.servers_not_drained {
        writeln!(
            t,
            "  not drained          {server} when its counts were read"
        )
        .ok();
    }
    if m.mismatched_keys > 0 {
        writeln!(t, "  mismatched keys      {}", m.mismatched_keys).ok();
    }
    for x in &m.mismatches {
        writeln!(
            t,
            "    {} key {}: server counted {}, clients acked {} (+{} unacked) [{}]",
            x.server,
            x.key,
            x.server_count,
            x.client_acked,
            x.client_unacked,
            x.reports.join(", ")
        )
        .ok();
    }
    if m.unclaimed_keys > 0 {
        let by_ip: Vec<String> = m
            .unclaimed_by_ip
            .iter()
            .map(|(ip, n)| format!("{ip} ({n} keys)"))
            .collect();
        writeln!(
            t,
            "  in no report         {} keys, {} updates, from {}: is a host's report missing, \
             or did a client die?",
            m.unclaimed_keys,
            m.unclaimed_updates,
            by_ip.join(", ")
        )
        .ok();
    }
    if !m.servers_without_counts.is_empty() {
        writeln!(
            t,
            "  no final counts      {} ({} keys unverifiable): is that host's report missing, or \
             did the server die?",
            m.servers_without_counts.join(", "),
            m.unverifiable_keys
        )
        .ok();
    }
    if m.ok {
        writeln!(
            t,
            "  OK: {} = {} acked + {} in flight; every server's final count equals the acked \
             updates of every host's clients, key by key",
            m.server_total, m.client_acked, m.in_flight_updates
        )
        .ok();
    } else {
        writeln!(t, "  FAILED").ok();
    }
    t
}

/// Report paths of a `verify` line: the words after `--reports`, and any
/// other word that is not an option.
pub fn report_paths(words: &[&str]) -> Vec<PathBuf> {
    words
        .iter()
        .filter(|w| !w.starts_with("--"))
        .map(|w| Path::new(w).to_path_buf())
        .collect()
}
