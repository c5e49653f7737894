//! Turning a merged [`ReportsVerdict`] into text or JSON: one line per host's
//! report, then the verdict over all of them, with what to look at when it
//! fails.
//!
//! Pure, like `render`: a verdict built by hand gives the same bytes as one
//! read from files, which is how the tests below pin the output.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::reports::{HostReport, ReportsVerdict};
use crate::verify::Merged;

/// What `verdict` looks like as text, or as JSON when `json`.
pub(crate) fn render(verdict: &ReportsVerdict, json: bool) -> String {
    if json {
        let hosts: Vec<Value> = verdict
            .hosts
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
        let v = json!({"hosts": hosts, "merged": verdict.merged});
        return serde_json::to_string_pretty(&v).unwrap_or_default();
    }
    hosts_text(&verdict.hosts) + &merged_text(&verdict.merged)
}

/// One line per host, then each host's unacked updates per server.
fn hosts_text(reports: &[(String, HostReport)]) -> String {
    // The first column is as wide as the longest file name, so a report
    // given by a long path does not push its row out of line.
    let width = reports.iter().fold(6, |w, (name, _)| w.max(name.len()));
    let mut t = format!(
        "{:<width$}  host                       clients servers duration  updates/s     acked  \
         unacked  errors reconnects  verify\n",
        "report"
    );
    for (name, r) in reports {
        let died = match r.children_died.len() {
            0 => String::new(),
            n => format!(", {n} children died"),
        };
        let _ = writeln!(
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
        );
    }
    let with_unacked: Vec<_> = reports
        .iter()
        .filter(|(_, r)| !r.unacked_by_server.is_empty())
        .collect();
    if !with_unacked.is_empty() {
        let _ = writeln!(t, "\nunacked updates (sent, never acked) per server:");
        for (name, r) in with_unacked {
            let list = per_server(&r.unacked_by_server);
            let _ = writeln!(t, "  {name:<width$}  {list}");
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
    let _ = writeln!(t, "  servers counted      {:>12} updates", m.server_total);
    let _ = writeln!(t, "  clients saw acked    {:>12}", m.client_acked);
    let _ = writeln!(
        t,
        "  in flight            {:>12} on {} keys (counted, but the link broke before the ack came back)",
        m.in_flight_updates, m.in_flight_keys
    );
    if !m.unacked_by_server.is_empty() {
        let list = per_server(&m.unacked_by_server);
        let _ = writeln!(t, "  unacked by server    {list}");
    }
    for server in &m.servers_not_drained {
        let _ = writeln!(
            t,
            "  not drained          {server} when its counts were read"
        );
    }
    what_failed(&mut t, m);
    if m.ok {
        let _ = writeln!(
            t,
            "  OK: {} = {} acked + {} in flight; every server's final count equals the acked \
             updates of every host's clients, key by key",
            m.server_total, m.client_acked, m.in_flight_updates
        );
    } else {
        let _ = writeln!(t, "  FAILED");
    }
    t
}

/// `server n, server n`, in the map's (address) order.
fn per_server(counts: &BTreeMap<String, u64>) -> String {
    let list: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    list.join(", ")
}

/// The lines that explain a failure: mismatched keys, keys no report
/// claims, servers without final counts.
fn what_failed(t: &mut String, m: &Merged) {
    if m.mismatched_keys > 0 {
        let _ = writeln!(t, "  mismatched keys      {}", m.mismatched_keys);
    }
    for x in &m.mismatches {
        let _ = writeln!(
            t,
            "    {} key {}: server counted {}, clients acked {} (+{} unacked) [{}]",
            x.server,
            x.key,
            x.server_count,
            x.client_acked,
            x.client_unacked,
            x.reports.join(", ")
        );
    }
    if m.unclaimed_keys > 0 {
        let by_ip: Vec<String> = m
            .unclaimed_by_ip
            .iter()
            .map(|(ip, n)| format!("{ip} ({n} keys)"))
            .collect();
        let _ = writeln!(
            t,
            "  in no report         {} keys, {} updates, from {}: is a host's report missing, \
             or did a client die?",
            m.unclaimed_keys,
            m.unclaimed_updates,
            by_ip.join(", ")
        );
    }
    if !m.servers_without_counts.is_empty() {
        let _ = writeln!(
            t,
            "  no final counts      {} ({} keys unverifiable): is that host's report missing, or \
             did the server die?",
            m.servers_without_counts.join(", "),
            m.unverifiable_keys
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::messages::KeyCount;
    use crate::verify::Mismatch;

    /// A server host whose startup saw a child die, and a clients-only
    /// host whose own verdict failed.
    fn two_hosts() -> Vec<(String, HostReport)> {
        let server_host = HostReport {
            host: Some("127.0.0.1".into()),
            clients: 2,
            servers: 2,
            duration_s: 2.04,
            achieved_ops_per_s: 199.5,
            target_ops_per_s: 200.0,
            acked: 7,
            unacked: 1,
            errors: 3,
            reconnects: 1,
            unacked_by_server: BTreeMap::from([("127.0.0.1:7001".to_string(), 1)]),
            children_died: vec![json!({"pid": 4242})],
            verify: json!({"ok": true}),
            drain_s: 0.25,
            ..HostReport::default()
        };
        let clients_only = HostReport {
            client_keys: vec![KeyCount {
                server: "127.0.0.1:7002".parse().unwrap(),
                key: "127.0.0.3:50000".into(),
                acked: 2,
                unacked: 0,
            }],
            clients: 1,
            duration_s: 2.0,
            achieved_ops_per_s: 100.0,
            acked: 2,
            verify: json!({"ok": false}),
            ..HostReport::default()
        };
        vec![
            ("h1.json".into(), server_host),
            ("clients-3.json".into(), clients_only),
        ]
    }

    /// Everything that can go wrong at once, so every line shows.
    fn failed() -> Merged {
        Merged {
            ok: false,
            reports: 2,
            servers: 2,
            server_total: 9,
            client_acked: 7,
            in_flight_updates: 1,
            keys_checked: 3,
            mismatched_keys: 1,
            in_flight_keys: 1,
            unverifiable_keys: 2,
            servers_without_counts: vec!["127.0.0.2:7001".into()],
            servers_not_drained: vec!["127.0.0.1:7002 (2 links open)".into()],
            unclaimed_keys: 1,
            unclaimed_updates: 4,
            unclaimed_by_ip: BTreeMap::from([("10.9.9.9".to_string(), 1)]),
            unacked_by_server: BTreeMap::from([("127.0.0.1:7001".to_string(), 1)]),
            mismatches: vec![Mismatch {
                server: "127.0.0.1:7002".into(),
                key: "127.0.0.1:40001".into(),
                server_count: 3,
                client_acked: 2,
                client_unacked: 0,
                reports: vec!["h1.json".into()],
            }],
        }
    }

    #[test]
    fn a_failed_verdict_names_what_to_look_at() {
        let verdict = ReportsVerdict {
            hosts: two_hosts(),
            merged: failed(),
        };
        assert_eq!(
            render(&verdict, false),
            "\
report          host                       clients servers duration  updates/s     acked  unacked  errors reconnects  verify
h1.json         127.0.0.1                        2       2     2.0s      199.5         7        1       3          1  OK, 1 children died
clients-3.json  clients only (127.0.0.3)         1       0     2.0s      100.0         2        0       0          0  FAILED

unacked updates (sent, never acked) per server:
  h1.json         127.0.0.1:7001 1

merged verdict over 2 reports, 2 servers, 3 keys:
  servers counted                 9 updates
  clients saw acked               7
  in flight                       1 on 1 keys (counted, but the link broke before the ack came back)
  unacked by server    127.0.0.1:7001 1
  not drained          127.0.0.1:7002 (2 links open) when its counts were read
  mismatched keys      1
    127.0.0.1:7002 key 127.0.0.1:40001: server counted 3, clients acked 2 (+0 unacked) [h1.json]
  in no report         1 keys, 4 updates, from 10.9.9.9 (1 keys): is a host's report missing, or did a client die?
  no final counts      127.0.0.2:7001 (2 keys unverifiable): is that host's report missing, or did the server die?
  FAILED
"
        );
    }

    #[test]
    fn an_ok_verdict_is_short_and_says_why_it_holds() {
        let (name, mut report) = two_hosts().remove(0);
        report.children_died.clear();
        report.unacked_by_server.clear();
        let verdict = ReportsVerdict {
            hosts: vec![(name, report)],
            merged: Merged {
                ok: true,
                reports: 1,
                servers: 2,
                server_total: 8,
                client_acked: 7,
                in_flight_updates: 1,
                keys_checked: 2,
                in_flight_keys: 1,
                ..Merged::default()
            },
        };
        assert_eq!(
            render(&verdict, false),
            "\
report   host                       clients servers duration  updates/s     acked  unacked  errors reconnects  verify
h1.json  127.0.0.1                        2       2     2.0s      199.5         7        1       3          1  OK

merged verdict over 1 reports, 2 servers, 2 keys:
  servers counted                 8 updates
  clients saw acked               7
  in flight                       1 on 1 keys (counted, but the link broke before the ack came back)
  OK: 8 = 7 acked + 1 in flight; every server's final count equals the acked updates of every host's clients, key by key
"
        );
    }

    #[test]
    fn json_carries_each_host_and_the_merged_verdict_whole() {
        let verdict = ReportsVerdict {
            hosts: two_hosts(),
            merged: failed(),
        };
        let v: Value = serde_json::from_str(&render(&verdict, true)).unwrap();
        assert_eq!(
            v["hosts"][0],
            json!({
                "report": "h1.json", "host": "127.0.0.1", "role": "127.0.0.1",
                "clients": 2, "servers": 2, "duration_s": 2.04,
                "achieved_ops_per_s": 199.5, "target_ops_per_s": 200.0,
                "acked": 7, "unacked": 1, "errors": 3, "reconnects": 1,
                "unacked_by_server": {"127.0.0.1:7001": 1},
                "children_died": 1, "verify_ok": true, "drain_s": 0.25,
            })
        );
        assert_eq!(v["hosts"][1]["host"], Value::Null);
        assert_eq!(v["hosts"][1]["role"], "clients only (127.0.0.3)");
        assert_eq!(HostReport::default().role(), "clients only ()");
        assert_eq!(v["hosts"][1]["verify_ok"], false);
        assert_eq!(v["merged"], serde_json::to_value(failed()).unwrap());
        // Pretty-printed, keys in order: what scripts and people diff.
        assert!(
            render(&verdict, true)
                .starts_with("{\n  \"hosts\": [\n    {\n      \"achieved_ops_per_s\": 199.5,\n")
        );
    }
}
