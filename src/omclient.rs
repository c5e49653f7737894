//! The operations & maintenance client behind the `omclient` program:
//! `help`, `config`, `servers`, `stats`, `dump` and `stop`, one-shot or at an
//! interactive prompt that also takes the seed's `h;` `q;` `s;` `d;`.
//!
//! Every command goes to every server in the config (or one, with
//! `--server`). A server that does not answer is shown as down and the
//! command goes on with the others.

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ops::OpsConnection;
use crate::server::ServerStats;

/// The command list, for `help` and the interactive prompt.
pub const COMMANDS: &str = "\
commands (one-shot: omclient COMMAND; interactive: type them at the prompt):
    help      (h)   this list
    config    (c)   the configuration in use (token hidden)
    servers         every server in the config: up (with round trip) or down
    stats           per server: links, updates, updates/s, anomalies, uptime; totals
    dump      (d)   every key and count on each server, sorted, with totals
    stop      (s)   stop the servers (all, or --server IP:PORT)
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

    fn connect(&self, addr: SocketAddr) -> Result<OpsConnection> {
        let timeout = Duration::from_millis(self.config.connect_timeout_ms.min(3_000));
        OpsConnection::open(addr, &self.config.ops_token, timeout)
    }

    /// Runs `f` on every server; a failure becomes a "down" entry.
    fn each<T>(
        &self,
        mut f: impl FnMut(&mut OpsConnection) -> Result<T>,
    ) -> Vec<(SocketAddr, Result<T>)> {
        self.servers()
            .into_iter()
            .map(|addr| (addr, self.connect(addr).and_then(|mut c| f(&mut c))))
            .collect()
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
    if target.json {
        let list: Vec<Value> = results
            .iter()
            .map(|(addr, r)| match r {
                Ok(rtt) => json!({"server": addr.to_string(), "up": true, "rtt_ms": rtt.as_secs_f64() * 1e3}),
                Err(e) => json!({"server": addr.to_string(), "up": false, "error": e.to_string()}),
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
            Ok(rtt) => writeln!(
                t,
                "{addr:<24} up    round trip {:.2} ms",
                rtt.as_secs_f64() * 1e3
            ),
            Err(e) => writeln!(t, "{addr:<24} DOWN  {e}"),
        }
        .ok();
    }
    let up = results.iter().filter(|(_, r)| r.is_ok()).count();
    writeln!(t, "{up} of {} servers up", results.len()).ok();
    Outcome { text: t, all_up }
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
    if target.json {
        let list: Vec<Value> = results.iter().map(|(addr, r)| as_json(addr, r)).collect();
        return Outcome {
            text: pretty(&json!({"servers": list, "totals": totals})),
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
            Err(e) => writeln!(t, "{addr:<24} DOWN ({e})"),
        }
        .ok();
    }
    writeln!(
        t,
        "{:<24} {:>7} {:>12} {:>10.0} {:>9} {:>8}",
        format!("total ({} up)", up.len()),
        totals["links"],
        totals["updates"],
        totals["updates_per_s"].as_f64().unwrap_or(0.0),
        totals["anomalies"],
        totals["protocol_errors"]
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
        let list: Vec<Value> = results.iter().map(|(addr, r)| as_json(addr, r)).collect();
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
                writeln!(t, "{addr}: DOWN ({e})").ok();
            }
        }
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
                    json!({"server": addr.to_string(), "stopped": false, "error": e.to_string()})
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

fn as_json<T: Serialize>(addr: &SocketAddr, r: &Result<T>) -> Value {
    match r {
        Ok(v) => {
            let mut v = serde_json::to_value(v).unwrap_or(Value::Null);
            v["up"] = json!(true);
            v
        }
        Err(e) => json!({"server": addr.to_string(), "up": false, "error": e.to_string()}),
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
            match run(first, &target) {
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
