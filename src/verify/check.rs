//! The one engine behind both verdicts: it lays every host's claims (the
//! keys its clients used, with their acked and unacked counts) against every
//! server's counts, key by key, and tallies what each key came to.
//!
//! A key's fate is decided once, by [`outcome`], and recorded once, in a
//! [`Tally`] that holds every figure either verdict publishes, so the
//! verdicts (`count_verdict.rs`) only choose which figures to show and how
//! strict to be: they cannot drift apart on what "in flight" or
//! "mismatched" means. Both share [`Outcome`], what a key came to, and
//! [`Mismatch`], the record of a key that did not verify. The story:
//! docs/DECISIONS.md, "Smaller stories".

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::messages::{KeyCount, ServerDump};

/// How many mismatched keys a verdict lists. The counts cover all of them;
/// a list of thousands would bury the first one, which is the one to read.
const LISTED: usize = 20;

/// One key that did not verify, in either verdict.
///
/// The merged verdict's JSON carries all six fields. The one-host report's
/// `verify.mismatches` carries the first four only, as it always has: the
/// report's JSON is a public format, so the last two stay out of it (see
/// `Verify::mismatches`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// The server holding the key.
    pub(crate) server: String,
    /// The key.
    pub(crate) key: String,
    /// What the server counted (0 if it did not have the key).
    pub(crate) server_count: u64,
    /// Acked, over every connection and report that claims the key.
    pub(crate) client_acked: u64,
    /// Sent but never acked, over every connection and report that claims
    /// the key. (Defaults to 0 when read from a one-host report, which does
    /// not carry it.)
    #[serde(default)]
    pub(crate) client_unacked: u64,
    /// The reports that claim it. Empty in the one-host verdict: there is
    /// only the report it is part of.
    #[serde(default)]
    pub(crate) reports: Vec<String>,
}

/// What the engine reads of one host: its name, its clients' keys, and the
/// counts of the servers it read. A merged run's `HostPart` and a one-host
/// run's own inputs both fit: the one-host run's dumps carry no
/// `links_open`, so they come in with 0 (nobody reads it there).
pub(super) struct Host<'a> {
    /// The report's name, to name it in a mismatch or an error.
    pub(crate) name: &'a str,
    /// Every key its clients used.
    pub(crate) keys: &'a [KeyCount],
    /// Each server's counts, with the client links still open when read.
    pub(crate) dumps: Vec<(&'a ServerDump, u64)>,
}

/// Every claim on one (server, key), summed over the connections and the
/// hosts that made it. A key is a connection's local `IP:PORT`, and the OS
/// can hand one port to two connections in turn (or two hosts on one
/// loopback can use the same one): the server counted them as one key, so
/// they are checked as one, on their sum.
#[derive(Default)]
struct Claim<'a> {
    acked: u64,
    unacked: u64,
    reports: Vec<&'a str>,
}

/// One server's counts, and the report they came from (to name both
/// reports when two carry the same server).
struct Counts<'a> {
    report: &'a str,
    keys: HashMap<&'a str, u64>,
    links_open: u64,
}

/// What one claimed key came to. The module doc of `verify` says each in
/// words; this is the one place that decides it.
enum Outcome {
    /// The server counted exactly what the clients saw acked.
    Exact { server_count: u64 },
    /// The server counted more, but no more than the updates the clients
    /// sent without an ack: the link broke between the count and the ack.
    /// Nothing acked was lost.
    InFlight { server_count: u64 },
    /// Anything else: an acked update missing, or one counted twice.
    Mismatched { server_count: u64 },
    /// The key's server has no counts to compare with (it did not answer,
    /// or no report carries its final counts).
    Unverifiable,
    /// The key's server was restarted and the new process never saw the
    /// key: what the dead process counted died with it.
    Lost,
}

/// Decides one key. `counts` is its server's, if any; `restarted` says
/// whether that server's process was replaced during the run.
fn outcome(counts: Option<&Counts<'_>>, key: &str, claim: &Claim<'_>, restarted: bool) -> Outcome {
    let Some(counts) = counts else {
        return Outcome::Unverifiable;
    };
    let held = counts.keys.get(key).copied();
    if held.is_none() && claim.acked > 0 && restarted {
        // The fresh process never saw this key: the dead one counted it.
        // (A key with nothing acked checks as exact below: a link that
        // connected to the dying process's backlog and was reset.)
        return Outcome::Lost;
    }
    let server_count = held.unwrap_or(0);
    if server_count == claim.acked {
        Outcome::Exact { server_count }
    } else if server_count > claim.acked && server_count - claim.acked <= claim.unacked {
        Outcome::InFlight { server_count }
    } else {
        Outcome::Mismatched { server_count }
    }
}

/// Every figure either verdict publishes, gathered in one walk. Where the
/// two verdicts sum over different sets of keys, both sums are here, named
/// for what they cover.
#[derive(Default)]
pub(super) struct Tally {
    /// Hosts (reports) read.
    pub(crate) reports: u64,
    /// Servers with counts.
    pub(crate) servers: u64,
    /// Keys compared with a server's count.
    pub(crate) keys_checked: u64,
    /// Keys that mismatched.
    pub(crate) mismatched_keys: u64,
    /// Keys one or more in-flight updates ahead.
    pub(crate) in_flight_keys: u64,
    /// The updates those keys are ahead by.
    pub(crate) in_flight_updates: u64,
    /// Keys whose server has no counts.
    pub(crate) unverifiable_keys: u64,
    /// Keys lost with a restarted server's process.
    pub(crate) lost_keys: u64,
    /// Acked updates on those keys.
    pub(crate) lost_updates: u64,
    /// Keys on the servers that no host claims.
    pub(crate) unclaimed_keys: u64,
    /// Updates counted on those keys.
    pub(crate) unclaimed_updates: u64,
    /// Unclaimed keys per client address (the key's IP).
    pub(crate) unclaimed_by_ip: BTreeMap<String, u64>,
    /// The servers' counts, summed over the keys checked.
    pub(crate) checked_server_total: u64,
    /// The clients' acked counts, summed over the keys checked.
    pub(crate) checked_client_acked: u64,
    /// Every count on every server, claimed or not.
    pub(crate) counted_total: u64,
    /// Every acked count of every claim, checked or not.
    pub(crate) claimed_acked: u64,
    /// Servers claimed or expected that have no counts.
    pub(crate) servers_without_counts: Vec<String>,
    /// `server (N links open)` for servers read with links still open.
    pub(crate) servers_not_drained: Vec<String>,
    /// Updates sent but never acked, per server, where there were any.
    pub(crate) unacked_by_server: BTreeMap<String, u64>,
    /// The first mismatched keys.
    pub(crate) mismatches: Vec<Mismatch>,
    /// The first server whose counts came twice: (server, first report,
    /// second report). The later counts stand in the tally; the merged
    /// verdict refuses to go on, since it cannot tell which to trust.
    pub(crate) twice: Option<(String, String, String)>,
}

/// Adds each key's unacked updates to its server's entry. Shared by the
/// merged tally and `verify::unacked_by_server`, so both count alike.
pub(super) fn add_unacked(by_server: &mut BTreeMap<String, u64>, keys: &[KeyCount]) {
    for k in keys.iter().filter(|k| k.unacked > 0) {
        *by_server.entry(k.server.to_string()).or_default() += k.unacked;
    }
}

/// Every server's counts, by address. A BTreeMap keeps the servers in
/// address order, the order `servers_not_drained` lists them in.
type ServerCounts<'a> = BTreeMap<&'a str, Counts<'a>>;

/// Every claim, by (server, key): the order mismatches are listed in.
type Claims<'a> = BTreeMap<(String, &'a str), Claim<'a>>;

/// Checks every host's claims against every server's counts.
///
/// `expected` names servers that must have counts even if no key claims
/// them; `restarted` those whose process was replaced, whose keys the new
/// process never saw count as lost rather than mismatched.
pub(super) fn check(hosts: &[Host<'_>], expected: &[String], restarted: &[String]) -> Tally {
    let mut t = Tally {
        reports: hosts.len() as u64,
        ..Tally::default()
    };
    let counts = server_counts(hosts, &mut t);
    t.servers = counts.len() as u64;
    let claims = claims(hosts, &mut t);
    tally_claims(&mut t, &counts, &claims, expected, restarted);
    tally_unclaimed(&mut t, &counts, &claims);
    t
}

/// Gathers the servers' counts; a server whose counts come twice is noted
/// in `t.twice` and its later counts stand.
fn server_counts<'a>(hosts: &[Host<'a>], t: &mut Tally) -> ServerCounts<'a> {
    let mut counts = ServerCounts::new();
    for host in hosts {
        for &(dump, links_open) in &host.dumps {
            let keys = dump.keys.iter().map(|(k, n)| (k.as_str(), *n)).collect();
            let entry = Counts {
                report: host.name,
                keys,
                links_open,
            };
            if let Some(first) = counts.insert(dump.server.as_str(), entry) {
                // Keep the first such server: the one an error names.
                t.twice.get_or_insert_with(|| {
                    let first = first.report.to_string();
                    (dump.server.clone(), first, host.name.to_string())
                });
            }
        }
    }
    counts
}

/// Sums every host's claims per (server, key), and their unacked updates
/// per server into `t`.
fn claims<'a>(hosts: &[Host<'a>], t: &mut Tally) -> Claims<'a> {
    let mut claims = Claims::new();
    for host in hosts {
        for k in host.keys {
            let claim = claims
                .entry((k.server.to_string(), k.key.as_str()))
                .or_default();
            claim.acked += k.acked;
            claim.unacked += k.unacked;
            if !claim.reports.contains(&host.name) {
                claim.reports.push(host.name);
            }
        }
        add_unacked(&mut t.unacked_by_server, host.keys);
    }
    claims
}

/// Decides every claimed key and counts what it came to.
fn tally_claims(
    t: &mut Tally,
    counts: &ServerCounts<'_>,
    claims: &Claims<'_>,
    expected: &[String],
    restarted: &[String],
) {
    let mut without: BTreeSet<String> = expected
        .iter()
        .filter(|s| !counts.contains_key(s.as_str()))
        .cloned()
        .collect();
    for ((server, key), claim) in claims {
        t.claimed_acked += claim.acked;
        let was_restarted = restarted.contains(server);
        let server_count = match outcome(counts.get(server.as_str()), key, claim, was_restarted) {
            Outcome::Unverifiable => {
                t.unverifiable_keys += 1;
                without.insert(server.clone());
                continue;
            }
            Outcome::Lost => {
                t.lost_keys += 1;
                t.lost_updates += claim.acked;
                continue;
            }
            Outcome::Exact { server_count } => server_count,
            Outcome::InFlight { server_count } => {
                t.in_flight_keys += 1;
                t.in_flight_updates += server_count - claim.acked;
                server_count
            }
            Outcome::Mismatched { server_count } => {
                t.mismatched_keys += 1;
                if t.mismatches.len() < LISTED {
                    t.mismatches
                        .push(mismatch(server, key, server_count, claim));
                }
                server_count
            }
        };
        // Exact, in flight or mismatched: the key was compared.
        t.keys_checked += 1;
        t.checked_server_total += server_count;
        t.checked_client_acked += claim.acked;
    }
    t.servers_without_counts = without.into_iter().collect();
}

fn mismatch(server: &str, key: &str, server_count: u64, claim: &Claim<'_>) -> Mismatch {
    Mismatch {
        server: server.to_string(),
        key: key.to_string(),
        server_count,
        client_acked: claim.acked,
        client_unacked: claim.unacked,
        reports: claim.reports.iter().map(|r| r.to_string()).collect(),
    }
}

/// What the servers hold that no claim explains, and which servers still
/// had links open.
fn tally_unclaimed(t: &mut Tally, counts: &ServerCounts<'_>, claims: &Claims<'_>) {
    for (server, c) in counts {
        if c.links_open > 0 {
            t.servers_not_drained
                .push(format!("{server} ({} links open)", c.links_open));
        }
        for (key, n) in &c.keys {
            t.counted_total += n;
            if !claims.contains_key(&(server.to_string(), *key)) {
                t.unclaimed_keys += 1;
                t.unclaimed_updates += n;
                // A key is the client's `IP:PORT`: its IP names the host
                // whose report is missing.
                let ip = key.rsplit_once(':').map_or(*key, |(ip, _)| ip);
                *t.unclaimed_by_ip.entry(ip.to_string()).or_default() += 1;
            }
        }
    }
}
