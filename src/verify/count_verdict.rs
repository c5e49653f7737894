//! The two verdicts the engine's [`Tally`] is read into: [`Verify`], one
//! host's own (the run report's `verify` object), and [`Merged`], every
//! host's together (`omclient verify --reports`).
//!
//! Both are public JSON formats, so their fields keep their names and their
//! meanings; that is why the two differ where they do. One host sees only
//! its own clients, so it sums over the keys it could check and lets keys it
//! cannot place go; the merged verdict has every report, so it sums over
//! everything and fails on anything unexplained.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use super::check::{Mismatch, Tally};

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
    pub(crate) keys_checked: u64,
    /// Keys whose counts differ beyond an in-flight update.
    pub mismatched_keys: u64,
    /// Keys where the server counted the one update whose ack was lost.
    pub(crate) in_flight_keys: u64,
    /// Keys on servers that did not answer, so not checked.
    pub(crate) unverifiable_keys: u64,
    /// Keys held only by a server process that died and was restarted.
    pub(crate) lost_keys: u64,
    /// Acked updates on those keys: counted by the dead process, lost with it.
    pub(crate) lost_updates: u64,
    /// Keys on the servers that no client of this host claimed.
    pub(crate) unclaimed_keys: u64,
    /// Updates counted on unclaimed keys.
    pub(crate) unclaimed_updates: u64,
    /// Servers that could not be asked for their data.
    pub(crate) servers_down: Vec<String>,
    /// The first mismatches (at most 20), each in the JSON with the four
    /// fields the report has always carried (see `Mismatch`).
    #[serde(serialize_with = "report_fields")]
    pub(crate) mismatches: Vec<Mismatch>,
}

impl Verify {
    /// One host's reading of the tally. `down` lists the servers that did
    /// not answer: startup asked them, so it names them, where the merged
    /// verdict can only name servers whose counts no report carries.
    pub(super) fn of(t: Tally, down: &[String]) -> Verify {
        Verify {
            // One host cannot ask more: a key no client of its own claims
            // may be another host's, a server that did not answer is named
            // in `servers_down` (its keys are unverifiable, not wrong), and
            // keys lost with a restarted process are explained by it.
            ok: t.mismatched_keys == 0,
            // The servers also hold other hosts' keys, which this host
            // cannot account for: both totals cover the keys checked.
            server_total: t.checked_server_total,
            client_acked: t.checked_client_acked,
            keys_checked: t.keys_checked,
            mismatched_keys: t.mismatched_keys,
            in_flight_keys: t.in_flight_keys,
            unverifiable_keys: t.unverifiable_keys,
            lost_keys: t.lost_keys,
            lost_updates: t.lost_updates,
            unclaimed_keys: t.unclaimed_keys,
            unclaimed_updates: t.unclaimed_updates,
            servers_down: down.to_vec(),
            mismatches: t
                .mismatches
                .into_iter()
                .map(|m| Mismatch {
                    // The one report there is: this one.
                    reports: Vec::new(),
                    ..m
                })
                .collect(),
        }
    }
}

/// Writes one host's mismatches with the four fields its report's JSON has
/// always had: a borrowed view, not a second mismatch type.
fn report_fields<S: Serializer>(list: &[Mismatch], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Fields<'a> {
        server: &'a str,
        key: &'a str,
        server_count: u64,
        client_acked: u64,
    }
    s.collect_seq(list.iter().map(|m| Fields {
        server: &m.server,
        key: &m.key,
        server_count: m.server_count,
        client_acked: m.client_acked,
    }))
}

/// The verdict over every host's report (`omclient verify --reports`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Merged {
    /// True when every key of every server verified: no mismatch, no key
    /// without final counts, no key that no report claims.
    pub(crate) ok: bool,
    /// Reports merged.
    pub(crate) reports: u64,
    /// Servers whose final counts some report carries.
    pub(crate) servers: u64,
    /// Sum of every final count on every server.
    pub(crate) server_total: u64,
    /// Sum of every acked count in every report.
    pub(crate) client_acked: u64,
    /// Updates the servers counted whose acks never reached their clients
    /// (the link broke with the update in flight). When `ok`:
    /// `server_total == client_acked + in_flight_updates`.
    pub(crate) in_flight_updates: u64,
    /// Distinct (server, key) pairs compared.
    pub(crate) keys_checked: u64,
    /// Keys whose counts differ beyond their in-flight updates.
    pub(crate) mismatched_keys: u64,
    /// Keys where the server counted updates whose acks were lost.
    pub(crate) in_flight_keys: u64,
    /// Keys on servers that no report has final counts for.
    pub(crate) unverifiable_keys: u64,
    /// Those servers.
    pub(crate) servers_without_counts: Vec<String>,
    /// Servers whose counts were read while client links were still open
    /// (the drain gave up): `server (links)`.
    pub(crate) servers_not_drained: Vec<String>,
    /// Keys on the servers that no report claims.
    pub(crate) unclaimed_keys: u64,
    /// Updates counted on those keys.
    pub(crate) unclaimed_updates: u64,
    /// Unclaimed keys per client address: which host's report is missing.
    pub(crate) unclaimed_by_ip: BTreeMap<String, u64>,
    /// Updates sent but never acked, per server, over every report.
    pub(crate) unacked_by_server: BTreeMap<String, u64>,
    /// The first mismatched keys (at most 20), with the reports that
    /// claim them.
    pub(crate) mismatches: Vec<Mismatch>,
}

impl Merged {
    /// Every host's reading of the tally.
    pub(super) fn of(t: Tally) -> Merged {
        // With every report in hand nothing may go unexplained: a key no
        // report claims means a report is missing, a client died without
        // reporting, or someone else wrote to the servers. And a verdict
        // over nothing is no verdict.
        let ok = t.reports > 0
            && t.keys_checked > 0
            && t.mismatched_keys == 0
            && t.unverifiable_keys == 0
            && t.servers_without_counts.is_empty()
            && t.unclaimed_keys == 0;
        Merged {
            ok,
            reports: t.reports,
            servers: t.servers,
            // Every key is someone's here, so the totals cover all of them:
            // `server_total == client_acked + in_flight_updates` when ok.
            server_total: t.counted_total,
            client_acked: t.claimed_acked,
            in_flight_updates: t.in_flight_updates,
            keys_checked: t.keys_checked,
            mismatched_keys: t.mismatched_keys,
            in_flight_keys: t.in_flight_keys,
            unverifiable_keys: t.unverifiable_keys,
            servers_without_counts: t.servers_without_counts,
            servers_not_drained: t.servers_not_drained,
            unclaimed_keys: t.unclaimed_keys,
            unclaimed_updates: t.unclaimed_updates,
            unclaimed_by_ip: t.unclaimed_by_ip,
            unacked_by_server: t.unacked_by_server,
            mismatches: t.mismatches,
        }
    }
}
