//! Turning what the servers answered into text or JSON. Every function here
//! is pure, so the tests below pin the output byte for byte without
//! starting a process.
//!
//! The text is for an operator: aligned columns, a DOWN line that says
//! why, one summary line per host when there are several, then the grand
//! total. The JSON carries the same facts for scripts; a server's own
//! reply goes out whole, with `"up": true` added.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::command::COMMANDS;
use super::data::{self, Answer, Down, DownReason, Gathered};
use crate::messages::{ServerDump, ServerStats};

/// What `gathered` looks like as text, or as JSON when `json`. (`help`
/// and `config` are the same either way: a list for people, and a config
/// that already is JSON.)
pub(crate) fn render(gathered: &Gathered, json: bool) -> String {
    match gathered {
        Gathered::Help => COMMANDS.to_string(),
        Gathered::Config(value) => pretty(value),
        Gathered::ServerConfig(answer) => match &answer.reply {
            Ok(value) => pretty(value),
            Err(down) => format!("{}: down ({})", answer.server, down.error),
        },
        Gathered::Servers(a) if json => servers_json(a),
        Gathered::Servers(a) => servers_text(a),
        Gathered::Stats(a) if json => stats_json(a),
        Gathered::Stats(a) => stats_text(a),
        Gathered::Dump(a) if json => dump_json(a),
        Gathered::Dump(a) => dump_text(a),
        Gathered::Stop(a) if json => stop_json(a),
        Gathered::Stop(a) => stop_text(a),
        Gathered::Nothing => String::new(),
    }
}

/// Why a server is down, in words that point at the fix.
pub(crate) fn explain(down: &Down) -> String {
    match down.reason {
        DownReason::NoAnswer { within } => format!(
            "unreachable: no answer within {} ms (host down, cut off, firewalled or hung)",
            within.as_millis()
        ),
        DownReason::Unreachable => format!("unreachable: {}", down.error),
        DownReason::Refused => "not running: the host refused the connection".to_string(),
        DownReason::Other => down.error.clone(),
    }
}

/// The one-word reason a script can switch on.
fn reason_word(reason: DownReason) -> &'static str {
    match reason {
        DownReason::NoAnswer { .. } | DownReason::Unreachable => "unreachable",
        DownReason::Refused => "refused",
        DownReason::Other => "error",
    }
}

fn down_json(server: &SocketAddr, down: &Down) -> Value {
    json!({
        "server": server.to_string(),
        "up": false,
        "reason": reason_word(down.reason),
        "error": down.error,
    })
}

/// A server's reply as it sent it, marked up; or why there was none.
fn as_json<T: Serialize>(answer: &Answer<T>) -> Value {
    match &answer.reply {
        Ok(v) => {
            let mut v = serde_json::to_value(v).unwrap_or(Value::Null);
            v["up"] = json!(true);
            v
        }
        Err(down) => down_json(&answer.server, down),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn servers_text(answers: &[Answer<Duration>]) -> String {
    let mut t = String::new();
    for a in answers {
        let addr = a.server;
        let _ = match &a.reply {
            Ok(rtt) => writeln!(t, "{addr:<24} up    round trip {:.2} ms", ms(rtt)),
            Err(down) => writeln!(t, "{addr:<24} DOWN  {}", explain(down)),
        };
    }
    for ip in data::hosts(answers) {
        let (up, of) = data::host_up(answers, ip);
        let _ = writeln!(t, "host {ip}: {up} of {of} servers up");
    }
    let up = data::replies(answers).len();
    let _ = writeln!(t, "{up} of {} servers up", answers.len());
    t
}

fn servers_json(answers: &[Answer<Duration>]) -> String {
    let list: Vec<Value> = answers
        .iter()
        .map(|a| match &a.reply {
            Ok(rtt) => json!({"server": a.server.to_string(), "up": true, "rtt_ms": ms(rtt)}),
            Err(down) => down_json(&a.server, down),
        })
        .collect();
    let hosts: Vec<Value> = data::hosts(answers)
        .into_iter()
        .map(|ip| {
            let (up, of) = data::host_up(answers, ip);
            json!({"host": ip.to_string(), "servers_up": up, "servers": of})
        })
        .collect();
    pretty(&json!({ "servers": list, "hosts": hosts }))
}

/// One host's line under `stats`, named as its JSON names it.
#[derive(Serialize)]
struct HostStats {
    host: IpAddr,
    servers_up: usize,
    servers: usize,
    links: u64,
    updates: u64,
    updates_per_s: f64,
}

fn host_stats(answers: &[Answer<ServerStats>]) -> Vec<HostStats> {
    data::hosts(answers)
        .into_iter()
        .map(|ip| {
            let up = data::replies_on(answers, ip);
            let (_, of) = data::host_up(answers, ip);
            HostStats {
                host: ip,
                servers_up: up.len(),
                servers: of,
                links: up.iter().map(|s| s.links).sum(),
                updates: up.iter().map(|s| s.updates).sum(),
                updates_per_s: rate(&up),
            }
        })
        .collect()
}

/// The servers' updates/s summed: a fold from +0.0, not `sum()`, since an
/// empty f64 sum is -0.0, which printed "-0" updates/s with every server down.
fn rate(up: &[&ServerStats]) -> f64 {
    up.iter().map(|s| s.updates_per_s).fold(0.0, |a, b| a + b)
}

/// The grand totals under `stats`, over the servers that answered.
#[derive(Serialize)]
struct Totals {
    links: u64,
    updates: u64,
    updates_per_s: f64,
    anomalies: u64,
    protocol_errors: u64,
    servers_up: usize,
    servers_down: usize,
}

fn totals(answers: &[Answer<ServerStats>]) -> Totals {
    let up = data::replies(answers);
    let total = |f: fn(&ServerStats) -> u64| up.iter().map(|s| f(s)).sum::<u64>();
    Totals {
        links: total(|s| s.links),
        updates: total(|s| s.updates),
        updates_per_s: rate(&up),
        anomalies: total(|s| s.anomalies),
        protocol_errors: total(|s| s.protocol_errors),
        servers_up: up.len(),
        servers_down: answers.len() - up.len(),
    }
}

fn stats_json(answers: &[Answer<ServerStats>]) -> String {
    let list: Vec<Value> = answers.iter().map(as_json).collect();
    let (hosts, totals) = (host_stats(answers), totals(answers));
    pretty(&json!({"servers": list, "hosts": hosts, "totals": totals}))
}

fn stats_text(answers: &[Answer<ServerStats>]) -> String {
    let mut t = format!(
        "{:<24} {:>7} {:>12} {:>10} {:>9} {:>8} {:>9}\n",
        "server", "links", "updates", "updates/s", "anomalies", "errors", "uptime"
    );
    for a in answers {
        let addr = a.server;
        let _ = match &a.reply {
            Ok(s) => writeln!(
                t,
                "{addr:<24} {:>7} {:>12} {:>10.0} {:>9} {:>8} {:>8.0}s",
                s.links, s.updates, s.updates_per_s, s.anomalies, s.protocol_errors, s.uptime_s
            ),
            Err(down) => writeln!(t, "{addr:<24} DOWN ({})", explain(down)),
        };
    }
    for h in host_stats(answers) {
        let _ = writeln!(
            t,
            "{:<24} {:>7} {:>12} {:>10.0}",
            format!("host {} ({}/{} up)", h.host, h.servers_up, h.servers),
            h.links,
            h.updates,
            h.updates_per_s
        );
    }
    let total = totals(answers);
    let _ = writeln!(
        t,
        "{:<24} {:>7} {:>12} {:>10.0} {:>9} {:>8}",
        format!("total ({} up)", total.servers_up),
        total.links,
        total.updates,
        total.updates_per_s,
        total.anomalies,
        total.protocol_errors
    );
    t
}

fn dump_json(answers: &[Answer<ServerDump>]) -> String {
    let up = data::replies(answers);
    let list: Vec<Value> = answers.iter().map(as_json).collect();
    let total: u64 = up.iter().map(|d| d.total).sum();
    let keys: usize = up.iter().map(|d| d.keys.len()).sum();
    pretty(&json!({"servers": list, "total": total, "keys": keys}))
}

fn dump_text(answers: &[Answer<ServerDump>]) -> String {
    let mut t = String::new();
    for a in answers {
        let addr = a.server;
        match &a.reply {
            Ok(d) => {
                let _ = writeln!(t, "{addr}: {} keys, {} updates", d.keys.len(), d.total);
                for (key, n) in &d.keys {
                    let _ = writeln!(t, "    {key:<40} {n:>12}");
                }
            }
            Err(down) => {
                let _ = writeln!(t, "{addr}: DOWN ({})", explain(down));
            }
        }
    }
    for ip in data::hosts(answers) {
        let dumps = data::replies_on(answers, ip);
        let (up, of) = data::host_up(answers, ip);
        let _ = writeln!(
            t,
            "host {ip}: {} keys, {} updates on {up} of {of} servers",
            dumps.iter().map(|d| d.keys.len()).sum::<usize>(),
            dumps.iter().map(|d| d.total).sum::<u64>()
        );
    }
    let up = data::replies(answers);
    let _ = writeln!(
        t,
        "total: {} keys, {} updates on {} servers up",
        up.iter().map(|d| d.keys.len()).sum::<usize>(),
        up.iter().map(|d| d.total).sum::<u64>(),
        up.len()
    );
    t
}

fn stop_json(answers: &[Answer<()>]) -> String {
    let list: Vec<Value> = answers
        .iter()
        .map(|a| match &a.reply {
            Ok(()) => json!({"server": a.server.to_string(), "stopped": true}),
            Err(down) => {
                let mut v = down_json(&a.server, down);
                v["stopped"] = json!(false);
                v
            }
        })
        .collect();
    pretty(&json!({ "servers": list }))
}

/// Unlike the other commands' DOWN lines, stop's gives the error as it
/// came (`server ... is down: ...`) rather than the explained reason.
fn stop_text(answers: &[Answer<()>]) -> String {
    let mut t = String::new();
    for a in answers {
        let addr = a.server;
        let _ = match &a.reply {
            Ok(()) => writeln!(t, "{addr:<24} stopped"),
            Err(down) => writeln!(t, "{addr:<24} DOWN ({})", down.error),
        };
    }
    t
}

#[cfg(test)]
mod tests {
    //! Fixed answers in, exact bytes out. The expected strings were checked
    //! against the program before the split into gathering and rendering.

    use super::*;

    fn answer<T>(server: &str, reply: Result<T, Down>) -> Answer<T> {
        let server = server.parse().unwrap();
        Answer { server, reply }
    }

    /// No answer from `server`, for `reason`, with `error` as it came.
    fn down<T>(server: &str, reason: DownReason, error: &str) -> Answer<T> {
        let error = error.to_string();
        answer(server, Err(Down { reason, error }))
    }

    /// Nothing listens on `server`.
    fn refused<T>(server: &str) -> Answer<T> {
        let error = format!("server {server} is down: Connection refused (os error 111)");
        down(server, DownReason::Refused, &error)
    }

    /// One host: two servers up, the third not running.
    fn one_host_pings() -> Vec<Answer<Duration>> {
        vec![
            answer("127.0.0.1:7001", Ok(Duration::from_millis(250))),
            answer("127.0.0.1:7002", Ok(Duration::from_millis(125))),
            refused("127.0.0.1:7003"),
        ]
    }

    /// Two hosts: the first's servers up, the second cut off.
    fn two_host_pings() -> Vec<Answer<Duration>> {
        vec![
            answer("127.0.0.1:7001", Ok(Duration::from_millis(250))),
            answer("127.0.0.1:7002", Ok(Duration::from_millis(125))),
            down(
                "127.0.0.2:7001",
                DownReason::NoAnswer {
                    within: Duration::from_millis(3_000),
                },
                "server 127.0.0.2:7001 is down: connection timed out",
            ),
            down(
                "127.0.0.2:7002",
                DownReason::Unreachable,
                "server 127.0.0.2:7002 is down: No route to host (os error 113)",
            ),
        ]
    }

    fn stats(server: &str, links: u64, updates: u64, rate: f64, uptime_s: f64) -> ServerStats {
        ServerStats {
            server: server.into(),
            links,
            links_accepted: links,
            updates,
            updates_per_s: rate,
            keys: links,
            anomalies: links % 2,
            protocol_errors: 1 - links % 2,
            uptime_s,
            ..ServerStats::default()
        }
    }

    /// Two servers up on one host, the other host's one not running.
    fn two_host_stats() -> Vec<Answer<ServerStats>> {
        vec![
            answer(
                "127.0.0.1:7001",
                Ok(stats("127.0.0.1:7001", 2, 1500, 99.75, 15.25)),
            ),
            answer(
                "127.0.0.1:7002",
                Ok(stats("127.0.0.1:7002", 3, 2500, 200.25, 15.75)),
            ),
            refused("127.0.0.2:7001"),
        ]
    }

    fn two_host_dumps() -> Vec<Answer<ServerDump>> {
        vec![
            answer(
                "127.0.0.1:7001",
                Ok(ServerDump {
                    server: "127.0.0.1:7001".into(),
                    total: 1507,
                    keys: vec![
                        ("10.0.0.1:40000".into(), 1500),
                        ("10.0.0.2:40001".into(), 7),
                    ],
                }),
            ),
            answer(
                "127.0.0.1:7002",
                Ok(ServerDump {
                    server: "127.0.0.1:7002".into(),
                    ..ServerDump::default()
                }),
            ),
            down(
                "127.0.0.2:7001",
                DownReason::Other,
                "server 127.0.0.2:7001 refused the request: unauthorized: wrong token",
            ),
        ]
    }

    #[test]
    fn servers_on_one_host_has_no_host_lines() {
        let g = Gathered::Servers(one_host_pings());
        assert_eq!(
            render(&g, false),
            "\
127.0.0.1:7001           up    round trip 250.00 ms
127.0.0.1:7002           up    round trip 125.00 ms
127.0.0.1:7003           DOWN  not running: the host refused the connection
2 of 3 servers up
"
        );
        assert_eq!(
            render(&g, true),
            r#"{
  "hosts": [],
  "servers": [
    {
      "rtt_ms": 250.0,
      "server": "127.0.0.1:7001",
      "up": true
    },
    {
      "rtt_ms": 125.0,
      "server": "127.0.0.1:7002",
      "up": true
    },
    {
      "error": "server 127.0.0.1:7003 is down: Connection refused (os error 111)",
      "reason": "refused",
      "server": "127.0.0.1:7003",
      "up": false
    }
  ]
}"#
        );
        assert!(!g.all_up());
    }

    #[test]
    fn servers_across_hosts_says_why_each_is_down_and_counts_per_host() {
        let g = Gathered::Servers(two_host_pings());
        assert_eq!(
            render(&g, false),
            "\
127.0.0.1:7001           up    round trip 250.00 ms
127.0.0.1:7002           up    round trip 125.00 ms
127.0.0.2:7001           DOWN  unreachable: no answer within 3000 ms (host down, cut off, firewalled or hung)
127.0.0.2:7002           DOWN  unreachable: server 127.0.0.2:7002 is down: No route to host (os error 113)
host 127.0.0.1: 2 of 2 servers up
host 127.0.0.2: 0 of 2 servers up
2 of 4 servers up
"
        );
        let v: Value = serde_json::from_str(&render(&g, true)).unwrap();
        assert_eq!(
            v["hosts"],
            json!([
                {"host": "127.0.0.1", "servers": 2, "servers_up": 2},
                {"host": "127.0.0.2", "servers": 2, "servers_up": 0},
            ])
        );
        assert_eq!(v["servers"][2]["reason"], "unreachable");
        assert_eq!(
            v["servers"][2]["error"],
            "server 127.0.0.2:7001 is down: connection timed out"
        );
        assert_eq!(v["servers"][3]["reason"], "unreachable");
    }

    #[test]
    fn stats_has_columns_host_lines_and_totals() {
        let g = Gathered::Stats(two_host_stats());
        assert_eq!(
            render(&g, false),
            "\
server                     links      updates  updates/s anomalies   errors    uptime
127.0.0.1:7001                 2         1500        100         0        1       15s
127.0.0.1:7002                 3         2500        200         1        0       16s
127.0.0.2:7001           DOWN (not running: the host refused the connection)
host 127.0.0.1 (2/2 up)        5         4000        300
host 127.0.0.2 (0/1 up)        0            0          0
total (2 up)                   5         4000        300         1        1
"
        );
        let v: Value = serde_json::from_str(&render(&g, true)).unwrap();
        assert_eq!(
            v["totals"],
            json!({"links": 5, "updates": 4000, "updates_per_s": 300.0, "anomalies": 1,
                   "protocol_errors": 1, "servers_up": 2, "servers_down": 1})
        );
        assert_eq!(
            v["hosts"][0],
            json!({"host": "127.0.0.1", "servers_up": 2, "servers": 2, "links": 5,
                   "updates": 4000, "updates_per_s": 300.0})
        );
        // A server's reply goes out whole, marked up.
        let first = &v["servers"][0];
        assert_eq!(first["up"], true);
        assert_eq!(first["updates"], 1500);
        assert_eq!(first["uptime_s"], 15.25);
        assert_eq!(first["process"], Value::Null);
        assert_eq!(
            v["servers"][2],
            json!({"server": "127.0.0.2:7001", "up": false, "reason": "refused",
                   "error": "server 127.0.0.2:7001 is down: Connection refused (os error 111)"})
        );
    }

    /// With no server up, every rate is 0, never "-0" (an empty f64
    /// `sum()` is -0.0, which the total once printed).
    #[test]
    fn stats_with_every_server_down_totals_to_zero() {
        let g = Gathered::Stats(vec![refused("127.0.0.1:7001"), refused("127.0.0.2:7001")]);
        let text = render(&g, false);
        assert!(
            text.ends_with(
                "\
host 127.0.0.1 (0/1 up)        0            0          0
host 127.0.0.2 (0/1 up)        0            0          0
total (0 up)                   0            0          0         0        0
"
            ),
            "{text}"
        );
        let json = render(&g, true);
        assert_eq!(json.matches("\"updates_per_s\": 0.0").count(), 3, "{json}");
        assert!(!json.contains("-0"), "{json}");
        assert!(!g.all_up());
    }

    #[test]
    fn dump_lists_every_key_then_totals() {
        let g = Gathered::Dump(two_host_dumps());
        assert_eq!(
            render(&g, false),
            "\
127.0.0.1:7001: 2 keys, 1507 updates
    10.0.0.1:40000                                   1500
    10.0.0.2:40001                                      7
127.0.0.1:7002: 0 keys, 0 updates
127.0.0.2:7001: DOWN (server 127.0.0.2:7001 refused the request: unauthorized: wrong token)
host 127.0.0.1: 2 keys, 1507 updates on 2 of 2 servers
host 127.0.0.2: 0 keys, 0 updates on 0 of 1 servers
total: 2 keys, 1507 updates on 2 servers up
"
        );
        assert_eq!(
            render(&g, true),
            r#"{
  "keys": 2,
  "servers": [
    {
      "keys": [
        [
          "10.0.0.1:40000",
          1500
        ],
        [
          "10.0.0.2:40001",
          7
        ]
      ],
      "server": "127.0.0.1:7001",
      "total": 1507,
      "up": true
    },
    {
      "keys": [],
      "server": "127.0.0.1:7002",
      "total": 0,
      "up": true
    },
    {
      "error": "server 127.0.0.2:7001 refused the request: unauthorized: wrong token",
      "reason": "error",
      "server": "127.0.0.2:7001",
      "up": false
    }
  ],
  "total": 1507
}"#
        );
    }

    #[test]
    fn stop_gives_the_error_as_it_came() {
        let g = Gathered::Stop(vec![
            answer("127.0.0.1:7001", Ok(())),
            refused("127.0.0.1:7002"),
        ]);
        assert_eq!(
            render(&g, false),
            "\
127.0.0.1:7001           stopped
127.0.0.1:7002           DOWN (server 127.0.0.1:7002 is down: Connection refused (os error 111))
"
        );
        assert_eq!(
            render(&g, true),
            r#"{
  "servers": [
    {
      "server": "127.0.0.1:7001",
      "stopped": true
    },
    {
      "error": "server 127.0.0.1:7002 is down: Connection refused (os error 111)",
      "reason": "refused",
      "server": "127.0.0.1:7002",
      "stopped": false,
      "up": false
    }
  ]
}"#
        );
        assert!(!g.all_up());
    }

    #[test]
    fn help_and_config_look_the_same_with_or_without_json() {
        for json in [false, true] {
            assert_eq!(render(&Gathered::Help, json), COMMANDS);
            let config = Gathered::Config(json!({"update_intervals": 10, "ops_token": "(set)"}));
            assert_eq!(
                render(&config, json),
                "{\n  \"ops_token\": \"(set)\",\n  \"update_intervals\": 10\n}"
            );
            assert_eq!(render(&Gathered::Nothing, json), "");
        }
        let down = Gathered::ServerConfig(refused("127.0.0.1:7003"));
        assert_eq!(
            render(&down, true),
            "127.0.0.1:7003: down (server 127.0.0.1:7003 is down: Connection refused (os error 111))"
        );
        assert!(!down.all_up());
        let up =
            Gathered::ServerConfig(answer("127.0.0.1:7001", Ok(json!({"server_max_links": 5}))));
        assert_eq!(render(&up, false), "{\n  \"server_max_links\": 5\n}");
        assert!(up.all_up());
    }
}
