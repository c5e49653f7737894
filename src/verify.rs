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
//! A key is a connection's local `IP:PORT`, so two connections can share
//! one: when a link breaks and reconnects, the OS may give the port another
//! client process had used for the same server (seen under overload, with
//! thousands of reconnects). The server counts both under one key, so a key
//! is checked on the sum of what all its connections saw, as [`merge`]
//! does across hosts.
//!
//! Keys on a server that no client of this host reported (other hosts'
//! clients, an operator's `nc` session, a client that died) are counted as
//! *unclaimed*, not as errors: one host cannot tell whose they are.
//!
//! [`merge`] is the same check across hosts: every host's report brings its
//! clients' keys, and each server host's report its servers' final counts.
//! There an unclaimed key *is* an error: every host's clients are accounted
//! for, so a key no report claims means a report is missing, a client died
//! without reporting, or someone else wrote to the servers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::messages::{FinalDump, KeyCount, ServerDump};

/// The verdict, as it appears in the report's `verify` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verify {
    /// True when no key mismatched and no acked update is missing.
    pub ok: bool,
    /// Sum of the servers' counts over the keys this host's clients used.
    pub server_total: u64,
    /// Sum of the clients' acked counts over the keys checked.
    pub client_acked: u64,
    /// Keys compared.
    pub keys_checked: u64,
    /// Keys whose counts differ beyond an in-flight update.
    pub mismatched_keys: u64,
    /// Keys where the server counted the one update whose ack was lost.
    pub in_flight_keys: u64,
    /// Keys on servers that did not answer, so not checked.
    pub unverifiable_keys: u64,
    /// Keys held only by a server process that died and was restarted.
    pub lost_keys: u64,
    /// Acked updates on those keys: counted by the dead process, lost with it.
    pub lost_updates: u64,
    /// Keys on the servers that no client of this host claimed.
    pub unclaimed_keys: u64,
    /// Updates counted on unclaimed keys.
    pub unclaimed_updates: u64,
    /// Servers that could not be asked for their data.
    pub servers_down: Vec<String>,
    /// The first mismatches, for the report (at most 20).
    pub mismatches: Vec<Mismatch>,
}

/// One key that did not verify.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mismatch {
    /// The server holding the key.
    pub server: String,
    /// The key.
    pub key: String,
    /// What the server counted (0 if it did not have the key).
    pub server_count: u64,
    /// What the client saw acked.
    pub client_acked: u64,
}

/// Compares the clients' keys with the servers' dumps. `down` lists servers
/// that did not answer, `restarted` servers whose process was replaced.
pub fn verify(
    client_keys: &[KeyCount],
    dumps: &[ServerDump],
    down: &[String],
    restarted: &[String],
) -> Verify {
    let mut servers: HashMap<&str, HashMap<&str, u64>> = dumps
        .iter()
        .map(|d| {
            (
                d.server.as_str(),
                d.keys.iter().map(|(k, n)| (k.as_str(), *n)).collect(),
            )
        })
        .collect();
    let mut v = Verify {
        servers_down: down.to_vec(),
        ..Verify::default()
    };
    // Every connection that used a key, summed: (acked, unacked).
    let mut shared: BTreeMap<(String, &str), (u64, u64)> = BTreeMap::new();
    for k in client_keys {
        let sum = shared
            .entry((k.server.to_string(), k.key.as_str()))
            .or_default();
        sum.0 += k.acked;
        sum.1 += k.unacked;
    }
    let mut claimed: HashSet<(&str, &str)> = HashSet::new();

    for ((server, key), &(acked, unacked)) in &shared {
        let Some(store) = servers.get_mut(server.as_str()) else {
            v.unverifiable_keys += 1;
            continue;
        };
        claimed.insert((server.as_str(), key));
        let held = store.get(key).copied();
        if held.is_none() && acked > 0 && restarted.contains(server) {
            // The fresh process never saw this key: the dead one counted it.
            // (A key with nothing acked checks as exact below: a link that
            // connected to the dying process's backlog and was reset.)
            v.lost_keys += 1;
            v.lost_updates += acked;
            continue;
        }
        let server_count = held.unwrap_or(0);
        v.keys_checked += 1;
        v.server_total += server_count;
        v.client_acked += acked;
        if server_count == acked {
            continue;
        }
        if server_count > acked && server_count - acked <= unacked {
            v.in_flight_keys += 1;
            continue;
        }
        v.mismatched_keys += 1;
        if v.mismatches.len() < 20 {
            v.mismatches.push(Mismatch {
                server: server.clone(),
                key: key.to_string(),
                server_count,
                client_acked: acked,
            });
        }
    }

    for dump in dumps {
        for (key, n) in &dump.keys {
            if !claimed.contains(&(dump.server.as_str(), key.as_str())) {
                v.unclaimed_keys += 1;
                v.unclaimed_updates += n;
            }
        }
    }
    v.ok = v.mismatched_keys == 0;
    v
}

/// Updates sent but never acked, per server: every server in `servers`
/// appears, with 0 where nothing was lost.
pub fn unacked_by_server(
    client_keys: &[KeyCount],
    servers: &[SocketAddr],
) -> BTreeMap<String, u64> {
    let mut map: BTreeMap<String, u64> = servers.iter().map(|s| (s.to_string(), 0)).collect();
    for k in client_keys.iter().filter(|k| k.unacked > 0) {
        *map.entry(k.server.to_string()).or_insert(0) += k.unacked;
    }
    map
}

/// One host's part of the merged verdict: what its report says.
pub struct HostPart<'a> {
    /// Where it came from (the report's file name), to name it in messages.
    pub name: &'a str,
    /// Every key its clients used.
    pub keys: &'a [KeyCount],
    /// Its servers' final counts (none on a clients-only host).
    pub dumps: &'a [FinalDump],
}

/// The verdict over every host's report (`omclient verify --reports`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Merged {
    /// True when every key of every server verified: no mismatch, no key
    /// without final counts, no key that no report claims.
    pub ok: bool,
    /// Reports merged.
    pub reports: u64,
    /// Servers whose final counts some report carries.
    pub servers: u64,
    /// Sum of every final count on every server.
    pub server_total: u64,
    /// Sum of every acked count in every report.
    pub client_acked: u64,
    /// Updates the servers counted whose acks never reached their clients
    /// (the link broke with the update in flight). When `ok`:
    /// `server_total == client_acked + in_flight_updates`.
    pub in_flight_updates: u64,
    /// Distinct (server, key) pairs compared.
    pub keys_checked: u64,
    /// Keys whose counts differ beyond their in-flight updates.
    pub mismatched_keys: u64,
    /// Keys where the server counted updates whose acks were lost.
    pub in_flight_keys: u64,
    /// Keys on servers that no report has final counts for.
    pub unverifiable_keys: u64,
    /// Those servers.
    pub servers_without_counts: Vec<String>,
    /// Servers whose counts were read while client links were still open
    /// (the drain gave up): `server (links)`.
    pub servers_not_drained: Vec<String>,
    /// Keys on the servers that no report claims.
    pub unclaimed_keys: u64,
    /// Updates counted on those keys.
    pub unclaimed_updates: u64,
    /// Unclaimed keys per client address: which host's report is missing.
    pub unclaimed_by_ip: BTreeMap<String, u64>,
    /// Updates sent but never acked, per server, over every report.
    pub unacked_by_server: BTreeMap<String, u64>,
    /// The first mismatched keys (at most 20), with the reports that
    /// claim them.
    pub mismatches: Vec<MergedMismatch>,
}

/// One key that did not verify across hosts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MergedMismatch {
    /// The server holding the key.
    pub server: String,
    /// The key.
    pub key: String,
    /// The server's final count (0 if it did not have the key).
    pub server_count: u64,
    /// Acked over every report that claims the key.
    pub client_acked: u64,
    /// Unacked over every report that claims the key.
    pub client_unacked: u64,
    /// The reports that claim it.
    pub reports: Vec<String>,
}

/// Merges every host's keys with every server's final counts, key by key.
/// `expected` lists servers that must have final counts even if no client
/// used them (the config's servers, when omclient is given one).
///
/// A key used by links of two hosts (possible only when hosts share an
/// address, as on one loopback) is checked against the sum of their counts.
///
/// # Errors
/// Two reports carry final counts for the same server: one report given
/// twice, or two hosts that both served the same address.
pub fn merge(hosts: &[HostPart<'_>], expected: &[String]) -> Result<Merged> {
    let mut counts: BTreeMap<&str, (&str, HashMap<&str, u64>, u64)> = BTreeMap::new();
    for host in hosts {
        for d in host.dumps {
            let keys = d.dump.keys.iter().map(|(k, n)| (k.as_str(), *n)).collect();
            let entry = (host.name, keys, d.links_open);
            if let Some((first, _, _)) = counts.insert(d.dump.server.as_str(), entry) {
                return Err(Error::msg(format!(
                    "server {} has final counts in two reports, {first} and {}: the same \
                     host's report given twice, or two hosts that served the same address",
                    d.dump.server, host.name
                )));
            }
        }
    }

    // Every claim on a (server, key), summed over the hosts that made it.
    struct Claim<'a> {
        acked: u64,
        unacked: u64,
        reports: Vec<&'a str>,
    }
    let mut claims: BTreeMap<(String, &str), Claim<'_>> = BTreeMap::new();
    let mut m = Merged {
        reports: hosts.len() as u64,
        servers: counts.len() as u64,
        ..Merged::default()
    };
    for host in hosts {
        for k in host.keys {
            let claim = claims
                .entry((k.server.to_string(), k.key.as_str()))
                .or_insert(Claim {
                    acked: 0,
                    unacked: 0,
                    reports: Vec::new(),
                });
            claim.acked += k.acked;
            claim.unacked += k.unacked;
            if !claim.reports.contains(&host.name) {
                claim.reports.push(host.name);
            }
            if k.unacked > 0 {
                *m.unacked_by_server.entry(k.server.to_string()).or_default() += k.unacked;
            }
        }
    }

    let mut without: BTreeMap<String, ()> = expected
        .iter()
        .filter(|s| !counts.contains_key(s.as_str()))
        .map(|s| (s.clone(), ()))
        .collect();
    for ((server, key), claim) in &claims {
        m.client_acked += claim.acked;
        let Some((_, store, _)) = counts.get(server.as_str()) else {
            m.unverifiable_keys += 1;
            without.insert(server.clone(), ());
            continue;
        };
        let server_count = store.get(key).copied().unwrap_or(0);
        m.keys_checked += 1;
        if server_count == claim.acked {
            continue;
        }
        if server_count > claim.acked && server_count - claim.acked <= claim.unacked {
            m.in_flight_keys += 1;
            m.in_flight_updates += server_count - claim.acked;
            continue;
        }
        m.mismatched_keys += 1;
        if m.mismatches.len() < 20 {
            m.mismatches.push(MergedMismatch {
                server: server.clone(),
                key: key.to_string(),
                server_count,
                client_acked: claim.acked,
                client_unacked: claim.unacked,
                reports: claim.reports.iter().map(|r| r.to_string()).collect(),
            });
        }
    }
    m.servers_without_counts = without.into_keys().collect();

    for (server, (_, store, links_open)) in &counts {
        if *links_open > 0 {
            m.servers_not_drained
                .push(format!("{server} ({links_open} links open)"));
        }
        for (key, n) in store {
            m.server_total += n;
            if !claims.contains_key(&(server.to_string(), *key)) {
                m.unclaimed_keys += 1;
                m.unclaimed_updates += n;
                let ip = key.rsplit_once(':').map_or(*key, |(ip, _)| ip);
                *m.unclaimed_by_ip.entry(ip.to_string()).or_default() += 1;
            }
        }
    }
    m.ok = m.reports > 0
        && m.keys_checked > 0
        && m.mismatched_keys == 0
        && m.unverifiable_keys == 0
        && m.servers_without_counts.is_empty()
        && m.unclaimed_keys == 0;
    Ok(m)
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
        let v = verify(
            &keys,
            &[dump(S1, &[("a", 5)]), dump(S2, &[("b", 7)])],
            &[],
            &[],
        );
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
        let v = verify(
            &keys,
            &[dump(S1, &[("a", 5), ("nc", 3)])],
            &[S2.into()],
            &[],
        );
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
}
