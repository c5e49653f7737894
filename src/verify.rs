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
//! *unclaimed*, not as errors: one host cannot tell whose they are.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::client::KeyCount;
use crate::server::ServerDump;

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
    let server_names: Vec<String> = client_keys.iter().map(|k| k.server.to_string()).collect();
    let mut claimed: HashSet<(&str, &str)> = HashSet::new();

    for (k, server) in client_keys.iter().zip(&server_names) {
        let Some(store) = servers.get_mut(server.as_str()) else {
            v.unverifiable_keys += 1;
            continue;
        };
        claimed.insert((server.as_str(), k.key.as_str()));
        let held = store.get(k.key.as_str()).copied();
        if held.is_none() && k.acked > 0 && restarted.contains(server) {
            // The fresh process never saw this key: the dead one counted it.
            // (A key with nothing acked checks as exact below: a link that
            // connected to the dying process's backlog and was reset.)
            v.lost_keys += 1;
            v.lost_updates += k.acked;
            continue;
        }
        let server_count = held.unwrap_or(0);
        v.keys_checked += 1;
        v.server_total += server_count;
        v.client_acked += k.acked;
        if server_count == k.acked {
            continue;
        }
        if server_count > k.acked && server_count - k.acked <= k.unacked {
            v.in_flight_keys += 1;
            continue;
        }
        v.mismatched_keys += 1;
        if v.mismatches.len() < 20 {
            v.mismatches.push(Mismatch {
                server: server.clone(),
                key: k.key.clone(),
                server_count,
                client_acked: k.acked,
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
}
