//! Did every acked update arrive exactly once? Clients' acked counts against
//! the servers' own counts, key by key.
//!
//! A key's outcome is one of:
//! * **exact**: server count == client acked count;
//! * **in flight**: the server counted one update more than the client saw
//!   acked, and the client recorded that update as sent but never acked (the
//!   link broke between the server's count and the ack's arrival). Nothing
//!   acked was lost; the update's fate was simply unknown to the client;
//! * **mismatch**: anything else: an acked update missing, or one counted twice;
//! * **unverifiable**: the key's server did not answer (it died);
//! * **lost with a restart**: the key's server died and startup restarted it;
//!   the new process has never seen the key, and what the old one counted
//!   died with it. Keys the new process does hold are checked exactly.
//!
//! Keys on a server that no client of this host reported (other hosts'
//! clients, an operator's `nc` session, a client that died) are counted as
//! *unclaimed*, not as errors: one host cannot tell whose they are. `merge`
//! is the same check across hosts, and there an unclaimed key *is* an
//! error: every host's clients are accounted for, so a key no report claims
//! means a report is missing, a client died without reporting, or someone
//! else wrote to the servers.
//!
//! Both hand their hosts to one engine (`check.rs`), which decides each
//! key's outcome once; the two verdicts (`count_verdict.rs`) differ only in
//! what each can know, and so in what it publishes.

mod check;
mod count_verdict;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::error::{Error, Result};
use crate::messages::{FinalDump, KeyCount, ServerDump};

use check::Host;
#[cfg(test)]
pub(crate) use check::Mismatch;
pub(crate) use count_verdict::{Merged, Verify};

/// Compares the clients' keys with the servers' dumps. `down` lists servers
/// that did not answer, `restarted` servers whose process was replaced.
pub fn verify(
    client_keys: &[KeyCount],
    dumps: &[ServerDump],
    down: &[String],
    restarted: &[String],
) -> Verify {
    // The one host, with no name to give: its mismatches name no report.
    // Its dumps were read as its own clients stopped, with no drain to
    // report on, hence no links open.
    let host = Host {
        name: "",
        keys: client_keys,
        dumps: dumps.iter().map(|d| (d, 0)).collect(),
    };
    // Nothing is `expected`: a server that did not answer is in `down`,
    // which startup knows first-hand. Startup asks each server once, so no
    // server's counts come twice; were one to, its later dump would stand.
    let tally = check::check(&[host], &[], restarted);
    Verify::of(tally, down)
}

/// Updates sent but never acked, per server: every server in `servers`
/// appears, with 0 where nothing was lost.
pub(crate) fn unacked_by_server(
    client_keys: &[KeyCount],
    servers: &[SocketAddr],
) -> BTreeMap<String, u64> {
    let mut map: BTreeMap<String, u64> = servers.iter().map(|s| (s.to_string(), 0)).collect();
    check::add_unacked(&mut map, client_keys);
    map
}

/// One host's part of the merged verdict: what its report says.
pub(crate) struct HostPart<'a> {
    /// Where it came from (the report's file name), to name it in messages.
    pub(crate) name: &'a str,
    /// Every key its clients used.
    pub(crate) keys: &'a [KeyCount],
    /// Its servers' final counts (none on a clients-only host).
    pub(crate) dumps: &'a [FinalDump],
}

/// Merges every host's keys with every server's final counts, key by key.
/// `expected` lists servers that must have final counts even if no client
/// used them (the config's servers, when omclient is given one).
///
/// # Errors
/// Two reports carry final counts for the same server: one report given
/// twice, or two hosts that both served the same address.
pub(crate) fn merge(hosts: &[HostPart<'_>], expected: &[String]) -> Result<Merged> {
    let hosts: Vec<Host<'_>> = hosts
        .iter()
        .map(|h| Host {
            name: h.name,
            keys: h.keys,
            dumps: h.dumps.iter().map(|d| (&d.dump, d.links_open)).collect(),
        })
        .collect();
    // No restarts: the reports' final counts must account for every acked
    // update, so a key lost with a restarted process fails here as a
    // mismatch (the host's own verdict is the one that tells why).
    let tally = check::check(&hosts, expected, &[]);
    if let Some((server, first, second)) = &tally.twice {
        return Err(Error::msg(format!(
            "server {server} has final counts in two reports, {first} and {second}: the same \
             host's report given twice, or two hosts that served the same address"
        )));
    }
    Ok(Merged::of(tally))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(server: &str, key: &str, acked: u64, unacked: u64) -> KeyCount {
        KeyCount {
            server: server.parse().unwrap(),
            key: key.into(),
            acked,
            unacked,
        }
    }

    fn dump(server: &str, keys: &[(&str, u64)]) -> ServerDump {
        ServerDump {
            server: server.into(),
            total: keys.iter().map(|(_, n)| n).sum(),
            keys: keys.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
        }
    }

    const S1: &str = "127.0.0.1:1";
    const S2: &str = "127.0.0.1:2";

    #[test]
    fn exact_counts_verify() {
        let keys = [key(S1, "a", 5, 0), key(S2, "b", 7, 0)];
        let dumps = [dump(S1, &[("a", 5)]), dump(S2, &[("b", 7)])];
        let v = verify(&keys, &dumps, &[], &[]);
        assert!(v.ok);
        assert_eq!(
            (v.server_total, v.client_acked, v.keys_checked),
            (12, 12, 2)
        );
    }

    #[test]
    fn a_key_two_connections_used_is_checked_on_their_sum() {
        // Client A's link used port 55608 for 475 acked updates; after it
        // closed, client B's reconnect got the same port, sent one update
        // and broke before the ack. The server counted 476 under one key.
        let keys = [
            key(S1, "127.0.0.1:55608", 475, 0),
            key(S1, "127.0.0.1:55608", 0, 1),
        ];
        let v = verify(&keys, &[dump(S1, &[("127.0.0.1:55608", 476)])], &[], &[]);
        assert!(v.ok, "{v:?}");
        assert_eq!((v.keys_checked, v.in_flight_keys), (1, 1));
        assert_eq!((v.server_total, v.client_acked), (476, 475));
        // One acked update too many on the server is still a mismatch.
        let v = verify(&keys, &[dump(S1, &[("127.0.0.1:55608", 477)])], &[], &[]);
        assert!(!v.ok);
        assert_eq!(v.mismatches[0].client_acked, 475);
    }

    #[test]
    fn lost_and_doubled_updates_mismatch() {
        let keys = [key(S1, "a", 5, 0), key(S1, "b", 7, 0), key(S1, "c", 1, 0)];
        let v = verify(&keys, &[dump(S1, &[("a", 4), ("b", 8)])], &[], &[]);
        assert!(!v.ok);
        assert_eq!(v.mismatched_keys, 3);
        assert_eq!(v.mismatches[2].server_count, 0);
    }

    #[test]
    fn one_in_flight_update_is_not_a_loss() {
        let keys = [key(S1, "a", 5, 1), key(S1, "b", 5, 1)];
        let v = verify(&keys, &[dump(S1, &[("a", 6), ("b", 5)])], &[], &[]);
        assert!(v.ok);
        assert_eq!(v.in_flight_keys, 1);
        let servers = [S1.parse().unwrap(), S2.parse().unwrap()];
        let unacked = unacked_by_server(&keys, &servers);
        assert_eq!(unacked.get(S1), Some(&2));
        assert_eq!(unacked.get(S2), Some(&0), "every server is listed");
    }

    #[test]
    fn down_servers_and_unclaimed_keys() {
        let keys = [key(S1, "a", 5, 0), key(S2, "b", 7, 1)];
        let dumps = [dump(S1, &[("a", 5), ("nc", 3)])];
        let v = verify(&keys, &dumps, &[S2.into()], &[]);
        assert!(v.ok);
        assert_eq!(
            (v.unverifiable_keys, v.unclaimed_keys, v.unclaimed_updates),
            (1, 1, 3)
        );
        assert_eq!(v.servers_down, vec![S2.to_string()]);
    }

    #[test]
    fn keys_of_a_restarted_server_are_lost_not_mismatched() {
        // "a" lived on the dead process; "b" was opened after the restart.
        let keys = [key(S1, "a", 40, 1), key(S1, "b", 9, 0)];
        let v = verify(&keys, &[dump(S1, &[("b", 9)])], &[], &[S1.into()]);
        assert!(v.ok);
        assert_eq!((v.lost_keys, v.lost_updates, v.keys_checked), (1, 40, 1));
        // A key the new process holds is still checked exactly.
        let v = verify(&keys, &[dump(S1, &[("b", 8)])], &[], &[S1.into()]);
        assert!(!v.ok);
        // Without a restart, a missing key is a mismatch.
        let v = verify(&keys, &[dump(S1, &[("b", 9)])], &[], &[]);
        assert_eq!(v.mismatched_keys, 1);
    }

    fn fin(server: &str, keys: &[(&str, u64)], links_open: u64) -> FinalDump {
        FinalDump {
            dump: dump(server, keys),
            links_open,
        }
    }

    fn part<'a>(name: &'a str, keys: &'a [KeyCount], dumps: &'a [FinalDump]) -> HostPart<'a> {
        HostPart { name, keys, dumps }
    }

    #[test]
    fn merged_hosts_verify_key_by_key() {
        // Host a serves S1, host b serves S2, host c only runs clients.
        let a = [key(S1, "a:1", 5, 0), key(S2, "a:2", 4, 1)];
        let b = [key(S1, "b:1", 7, 0), key(S2, "b:2", 3, 0)];
        let c = [key(S1, "c:1", 2, 1), key(S2, "c:2", 6, 0)];
        let da = [fin(S1, &[("a:1", 5), ("b:1", 7), ("c:1", 3)], 0)];
        let db = [fin(S2, &[("a:2", 4), ("b:2", 3), ("c:2", 6)], 0)];
        let m = merge(
            &[part("a", &a, &da), part("b", &b, &db), part("c", &c, &[])],
            &[],
        )
        .unwrap();
        assert!(m.ok, "{m:?}");
        assert_eq!((m.reports, m.servers, m.keys_checked), (3, 2, 6));
        assert_eq!(
            (m.server_total, m.client_acked, m.in_flight_updates),
            (28, 27, 1)
        );
        assert_eq!(m.in_flight_keys, 1);
        assert_eq!(m.unacked_by_server.get(S1), Some(&1));
        assert_eq!(m.unacked_by_server.get(S2), Some(&1));
    }

    #[test]
    fn a_missing_report_shows_as_unclaimed_keys_by_address() {
        let a = [key(S1, "10.0.0.1:5", 5, 0)];
        let da = [fin(
            S1,
            &[("10.0.0.1:5", 5), ("10.0.0.3:7", 9), ("10.0.0.3:8", 1)],
            0,
        )];
        let m = merge(&[part("a", &a, &da)], &[]).unwrap();
        assert!(!m.ok);
        assert_eq!((m.unclaimed_keys, m.unclaimed_updates), (2, 10));
        assert_eq!(m.unclaimed_by_ip.get("10.0.0.3"), Some(&2));
    }

    #[test]
    fn a_server_without_final_counts_fails_and_is_named() {
        let a = [key(S1, "k", 5, 0), key(S2, "k", 5, 0)];
        let da = [fin(S1, &[("k", 5)], 0)];
        let m = merge(&[part("a", &a, &da)], &[]).unwrap();
        assert!(!m.ok);
        assert_eq!(m.unverifiable_keys, 1);
        assert_eq!(m.servers_without_counts, vec![S2.to_string()]);
        // A config server nobody used still needs counts when expected.
        let m = merge(&[part("a", &a[..1], &da)], &[S1.into(), S2.into()]).unwrap();
        assert!(!m.ok);
        assert_eq!(m.servers_without_counts, vec![S2.to_string()]);
    }

    #[test]
    fn mismatches_name_the_reports_and_shared_keys_are_summed() {
        // Two hosts on one loopback may reuse a key: their counts add up.
        let a = [key(S1, "k", 3, 0), key(S1, "x", 2, 0)];
        let b = [key(S1, "k", 4, 0)];
        let da = [fin(S1, &[("k", 7), ("x", 1)], 2)];
        let m = merge(&[part("a", &a, &da), part("b", &b, &[])], &[]).unwrap();
        assert!(!m.ok);
        assert_eq!(m.mismatched_keys, 1);
        assert_eq!(m.mismatches[0].key, "x");
        assert_eq!(m.mismatches[0].reports, vec!["a".to_string()]);
        assert_eq!(m.servers_not_drained, vec![format!("{S1} (2 links open)")]);
    }

    #[test]
    fn the_same_server_in_two_reports_is_an_error() {
        let da = [fin(S1, &[("k", 1)], 0)];
        let e = merge(&[part("a.json", &[], &da), part("b.json", &[], &da)], &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a.json") && e.contains("b.json") && e.contains(S1),
            "{e}"
        );
    }

    #[test]
    fn verify_is_merge_with_one_host() {
        // One host serving S1 and S2: an exact key, one in flight, one
        // mismatched, and a key on S1 that no client of it claims.
        let keys = [key(S1, "a", 5, 0), key(S1, "b", 5, 1), key(S2, "c", 3, 0)];
        let dumps = [
            dump(S1, &[("a", 5), ("b", 6), ("nc", 2)]),
            dump(S2, &[("c", 4)]),
        ];
        let finals = dumps.clone().map(|dump| FinalDump {
            dump,
            links_open: 0,
        });
        let v = verify(&keys, &dumps, &[], &[]);
        let m = merge(&[part("host", &keys, &finals)], &[]).unwrap();
        // The same keys come to the same outcomes...
        assert_eq!(
            (v.keys_checked, v.mismatched_keys, v.in_flight_keys),
            (m.keys_checked, m.mismatched_keys, m.in_flight_keys)
        );
        assert_eq!(
            (v.unclaimed_keys, v.unclaimed_updates),
            (m.unclaimed_keys, m.unclaimed_updates)
        );
        assert_eq!(v.mismatches.len(), 1);
        let (one, all) = (&v.mismatches[0], &m.mismatches[0]);
        assert_eq!((&one.server, &one.key), (&all.server, &all.key));
        assert_eq!((one.server_count, one.client_acked), (4, 3));
        // ...and each verdict reads them as it always has: one host sums
        // over the keys it checked; the merged verdict over everything.
        assert_eq!((v.server_total, v.client_acked), (15, 13));
        assert_eq!((m.server_total, m.client_acked), (17, 13));
        assert!(one.reports.is_empty(), "one host names no report");
        assert_eq!(all.reports, vec!["host".to_string()]);
    }

    #[test]
    fn each_verdict_publishes_its_own_mismatch_fields() {
        let keys = [key(S1, "a", 5, 1)];
        let dumps = [dump(S1, &[("a", 9)])];
        let fields = |value: serde_json::Value| -> Vec<String> {
            let list = value["mismatches"].as_array().unwrap().clone();
            list[0].as_object().unwrap().keys().cloned().collect()
        };
        let v = verify(&keys, &dumps, &[], &[]);
        assert_eq!(v.mismatches[0].client_unacked, 1, "known in memory");
        let one = fields(serde_json::to_value(&v).unwrap());
        assert_eq!(one, ["client_acked", "key", "server", "server_count"]);

        let finals = [fin(S1, &[("a", 9)], 0)];
        let m = merge(&[part("a.json", &keys, &finals)], &[]).unwrap();
        let all = fields(serde_json::to_value(&m).unwrap());
        let six = [
            "client_acked",
            "client_unacked",
            "key",
            "reports",
            "server",
            "server_count",
        ];
        assert_eq!(all, six);

        // A report's verdict reads back, the merge-only fields at their
        // defaults.
        let back: Verify = serde_json::from_value(serde_json::to_value(&v).unwrap()).unwrap();
        assert_eq!(back.mismatches[0].server_count, 9);
        assert_eq!(back.mismatches[0].client_unacked, 0);
    }
}
