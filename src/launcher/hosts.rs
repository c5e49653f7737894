//! Many hosts, one config: what startup does beyond its own host.
//!
//! Every host runs startup with the same config. A host whose address is in
//! `server_ip_list` runs a server on every port of `server_port_list`; every
//! host runs `client_num_per_host` clients, and every client links to every
//! server of every host. Two moments of a run involve the other hosts:
//!
//! * **Before the clients start.** Hosts are started one after another, so
//!   the other hosts' servers may not be up yet. startup waits for them
//!   (at most `--wait-servers`), so a run does not open with a burst of
//!   connection errors. Nothing tells one host when another's servers are
//!   ready, so it asks: one `ping` to each missing server every 200 ms.
//! * **After this host's clients stop.** Other hosts' clients may still be
//!   sending to this host's servers, and a server's counts are final only
//!   once no client of any host is linked to it. So startup keeps its servers
//!   up until those links are gone (*draining*, at most `--drain-timeout`),
//!   then reads their final counts into the report's `server_dumps`.
//!   `omclient verify --reports` merges every host's `client_keys` with
//!   those final counts into one verdict (see `verify::merge`).
//!
//! The end of a run, on every host:
//! 1. this host's clients stop: what they acked is final;
//! 2. read the *other* hosts' servers at once, for this host's own verify.
//!    They are still up: their hosts are draining, waiting for our links,
//!    which left a moment ago, and for a settle time after that. A server
//!    that answered before our clients started but whose process is now
//!    younger than they are was restarted by its host meanwhile: the keys
//!    our clients acked on its old process died with it (lost, as for a
//!    restart of our own);
//! 3. drain this host's servers, then read them: final counts;
//! 4. stop them (startup does that, as on one host).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::messages::{FinalDump, KeyCount, ServerDump, ServerStats};
use crate::ops::connection::{self, OpsConnection};

/// How often a missing server, or a draining one, is asked again.
const POLL: Duration = Duration::from_millis(200);

/// How long this host's servers stay up after their last link left, when
/// other hosts' clients used them. Those hosts read our servers (for their
/// own verify) right after their own clients stop, which is right after
/// their links to us closed: this is their time to do it.
const SETTLE: Duration = Duration::from_secs(2);

/// How much younger than this host's clients another host's server must be
/// to count as restarted: more than an answer's trip could skew the two
/// clocks' readings, less than the second a restart takes (a dead server
/// stays down for `monitor::restarts::RESTART_DELAY` before its host
/// starts it again).
const YOUNGER_BY: Duration = Duration::from_millis(500);

/// Whether a server whose process has been up `uptime_s` seconds was
/// started after this host's clients, which have run for `clients_for`.
fn started_after(uptime_s: f64, clients_for: Duration) -> bool {
    uptime_s + YOUNGER_BY.as_secs_f64() < clients_for.as_secs_f64()
}

/// What startup read from the servers at the end of a run.
#[derive(Debug, Default)]
pub(crate) struct EndCounts {
    /// Dumps of every server that answered: the other hosts' as they were
    /// when this host's clients stopped, this host's final.
    pub(crate) dumps: Vec<ServerDump>,
    /// Servers that did not answer.
    pub(crate) down: Vec<String>,
    /// This host's servers' counters, read with their final counts.
    pub(crate) server_stats: Vec<ServerStats>,
    /// This host's servers' final counts, for the report.
    pub(crate) final_dumps: Vec<FinalDump>,
    /// Seconds spent waiting for other hosts' links to leave this host's
    /// servers.
    pub(crate) drain_s: f64,
    /// Other hosts' servers restarted while this host's clients ran: each
    /// answered before they started, and its process is younger than they
    /// are. What their old process counted died with it.
    pub(crate) restarted: Vec<String>,
}

/// Waits until every server of the other hosts answers, at most `limit`.
/// Returns those that still do not: their links will keep retrying with
/// backoff, as they do whenever a server is down.
///
/// # Errors
/// Ctrl-C while waiting.
pub(crate) fn wait_for_other_servers(
    config: &Config,
    local: &[SocketAddr],
    limit: Duration,
    quiet: bool,
    interrupts: &Receiver<()>,
) -> Result<Vec<SocketAddr>> {
    let mut missing = others(config, local);
    if limit.is_zero() {
        return Ok(missing); // --wait-servers 0: do not ask at all
    }
    let deadline = Instant::now() + limit;
    let mut announced = false;
    loop {
        let answers =
            connection::ask_each(&missing, &config.ops_token, config.ops_timeout(), |c| {
                c.ping()
            });
        missing = missing
            .into_iter()
            .zip(answers)
            .filter(|(_, answer)| answer.is_err())
            .map(|(addr, _)| addr)
            .collect();
        if missing.is_empty() {
            if announced && !quiet {
                eprintln!("startup: every server of the other hosts answers; starting clients");
            }
            return Ok(missing);
        }
        let now = Instant::now();
        let (n, secs, names) = (missing.len(), limit.as_secs(), list(&missing));
        if now >= deadline {
            eprintln!(
                "startup: {n} servers of other hosts still do not answer after {secs} s: {names}; \
                 starting clients anyway (their links keep retrying)"
            );
            return Ok(missing);
        }
        if !announced && !quiet {
            eprintln!("startup: waiting up to {secs} s for {n} servers of other hosts: {names}");
            announced = true;
        }
        // Ctrl-C ends the wait; otherwise this is the pause between polls.
        if interrupts.recv_timeout(POLL.min(deadline - now)).is_ok() {
            let why = format!("interrupted while waiting for servers of other hosts ({names})");
            return Err(Error::msg(why));
        }
    }
}

/// Reads every server at the end of a run, in the order the module doc
/// gives: the other hosts' servers at once, this host's after draining.
/// `own_keys` are this host's clients' keys; `clients` is when they
/// started and the other hosts' servers that did not answer before then
/// (what [`wait_for_other_servers`] returned); `drain_timeout` bounds the
/// wait; Ctrl-C cuts it short.
pub(crate) fn read_servers(
    config: &Config,
    local: &[SocketAddr],
    own_keys: &[KeyCount],
    clients: (Instant, &[SocketAddr]),
    drain_timeout: Duration,
    quiet: bool,
    interrupts: &Receiver<()>,
) -> EndCounts {
    let mut end = EndCounts::default();
    read_others(config, local, clients, &mut end);
    if local.is_empty() {
        return end;
    }

    let started = Instant::now();
    let open = drain(config, local, own_keys, drain_timeout, quiet, interrupts);
    end.drain_s = started.elapsed().as_secs_f64();

    let answers = connection::ask_each(
        local,
        &config.ops_token,
        config.ops_timeout(),
        dump_and_stats,
    );
    for (addr, answer) in local.iter().zip(answers) {
        match answer {
            Ok((dump, stats)) => {
                // As the drain last saw it: the `links` read with the dump
                // would also count the drain's last poll, whose connection
                // the server may not have seen close yet.
                let links_open = open.get(&dump.server).copied().unwrap_or(0);
                end.final_dumps.push(FinalDump {
                    dump: dump.clone(),
                    links_open,
                });
                end.dumps.push(dump);
                end.server_stats.push(stats);
            }
            Err(e) => {
                eprintln!("startup: {e}");
                end.down.push(addr.to_string());
            }
        }
    }
    end
}

/// Reads the other hosts' servers into `end`, naming those restarted
/// while this host's clients ran (`clients`: when they started, and the
/// servers that did not answer before then).
fn read_others(
    config: &Config,
    local: &[SocketAddr],
    clients: (Instant, &[SocketAddr]),
    end: &mut EndCounts,
) {
    let others = others(config, local);
    let answers = connection::ask_each(
        &others,
        &config.ops_token,
        config.ops_timeout(),
        dump_and_stats,
    );
    let (clients_started, not_up_before) = clients;
    let clients_for = clients_started.elapsed();
    for (addr, answer) in others.iter().zip(answers) {
        match answer {
            Ok((dump, stats)) => {
                if !not_up_before.contains(addr) && started_after(stats.uptime_s, clients_for) {
                    let line = format!(
                        "server {} of another host was restarted during the run: its process \
                         is {:.1} s old, this host's clients started {:.1} s ago; what its old \
                         process counted died with it",
                        dump.server,
                        stats.uptime_s,
                        clients_for.as_secs_f64()
                    );
                    log::warn!("{line}");
                    eprintln!("startup: {line}");
                    end.restarted.push(dump.server.clone());
                }
                end.dumps.push(dump);
            }
            Err(e) => {
                eprintln!("startup: {e}");
                end.down.push(addr.to_string());
            }
        }
    }
}

/// A server's counts and counters, asked on one connection.
fn dump_and_stats(c: &mut OpsConnection) -> Result<(ServerDump, ServerStats)> {
    let dump = c.dump()?;
    let stats = c.stats()?;
    Ok((dump, stats))
}

/// The servers of the config that are not this host's.
fn others(config: &Config, local: &[SocketAddr]) -> Vec<SocketAddr> {
    config
        .all_servers()
        .into_iter()
        .filter(|a| !local.contains(a))
        .collect()
}

/// Waits until no client link is open on any of this host's servers, plus
/// [`SETTLE`] when other hosts used them. Returns the links still open per
/// server when it stopped waiting: empty when every link left.
fn drain(
    config: &Config,
    local: &[SocketAddr],
    own_keys: &[KeyCount],
    limit: Duration,
    quiet: bool,
    interrupts: &Receiver<()>,
) -> HashMap<String, u64> {
    // Keys our own clients used, per server: a server holding more keys
    // than that was used by other hosts (or an operator's `nc`).
    let mut own: HashMap<String, u64> = HashMap::new();
    for k in own_keys {
        *own.entry(k.server.to_string()).or_default() += 1;
    }
    let deadline = Instant::now() + limit;
    let mut quiet_since: Option<Instant> = None;
    let mut announced = false;
    loop {
        let answers = connection::ask_each(local, &config.ops_token, config.ops_timeout(), |c| {
            c.stats()
        });
        // A server that does not answer has died: nothing to wait for.
        let up: Vec<ServerStats> = answers.into_iter().filter_map(|a| a.ok()).collect();
        let open: Vec<(String, u64)> = up
            .iter()
            .filter(|s| s.links > 1) // our own connection is one of them
            .map(|s| (s.server.clone(), s.links - 1))
            .collect();
        let now = Instant::now();
        if open.is_empty() {
            let shared = up
                .iter()
                .any(|s| s.keys > own.get(&s.server).copied().unwrap_or(0));
            let settle = if shared { SETTLE } else { Duration::ZERO };
            if now.duration_since(*quiet_since.get_or_insert(now)) >= settle {
                if announced && !quiet {
                    eprintln!("startup: every link has left this host's servers");
                }
                return HashMap::new();
            }
        } else {
            quiet_since = None;
            if !announced && !quiet {
                let links: u64 = open.iter().map(|(_, n)| n).sum();
                eprintln!(
                    "startup: keeping this host's servers up until the other hosts' clients \
                     leave them ({links} links open; at most {} s)",
                    limit.as_secs()
                );
                announced = true;
            }
        }
        if now >= deadline {
            let names: Vec<String> = open
                .iter()
                .map(|(server, n)| format!("{server} ({n})"))
                .collect();
            eprintln!(
                "startup: links still open after {} s on {}; reading the counts now: keys \
                 still in use there may count more than their clients report \
                 (raise --drain-timeout if hosts start far apart)",
                limit.as_secs(),
                names.join(", ")
            );
            return open.into_iter().collect();
        }
        if interrupts.recv_timeout(POLL.min(deadline - now)).is_ok() {
            eprintln!("startup: interrupted; reading this host's servers without waiting");
            return open.into_iter().collect();
        }
    }
}

fn list(addrs: &[SocketAddr]) -> String {
    let names: Vec<String> = addrs.iter().take(8).map(|a| a.to_string()).collect();
    let more = addrs.len().saturating_sub(names.len());
    if more > 0 {
        format!("{} and {more} more", names.join(", "))
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_younger_than_the_clients_was_restarted() {
        let clients_for = Duration::from_secs(60);
        // Up since before the clients, read a moment later: the same process.
        assert!(!started_after(60.2, clients_for));
        // An answer's trip may make it look a little younger: still the same.
        assert!(!started_after(59.7, clients_for));
        // Killed 20 s in, restarted a second later: younger by 21 s.
        assert!(started_after(39.0, clients_for));
        // The shortest restart, killed as the clients started: younger by
        // the restart's delay.
        assert!(started_after(59.0, clients_for));
    }
}
