//! The run report, built in one place: [`assemble`] takes what each part of
//! the run knows, as plain data, and fills every field, the verdict last.
//! Text, JSON, the HTML report and the dashboard all render what it made.
//!
//! The parts: [`About`] (what the run was, known before it started),
//! [`Watched`] (what the monitor saw while the clients ran), the clients'
//! final reports, and the servers' counts at the end (`hosts::EndCounts`).
//! None of them knows the report; this file alone knows which field comes
//! from where.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use super::run_verdict;
use super::{
    DeadChild, LinkSpread, OpsStop, Processes, RunReport, ServerRestart, Thresholds,
    UnreachedServer,
};
use crate::launcher::hosts::EndCounts;
use crate::launcher::record::RunInfo;
use crate::messages::ClientReport;
use crate::metrics::Percentiles;

/// What the run was, known before it started.
pub(crate) struct About<'a> {
    /// The run as the record describes it: version, start, role, config.
    pub(crate) info: &'a RunInfo,
    /// When startup started: the report's wall time runs from here.
    pub(crate) began: Instant,
    /// The config file, whose bytes the report's hash is of.
    pub(crate) config_path: &'a Path,
    /// The limits the verdict holds the run to.
    pub(crate) thresholds: Thresholds,
    /// Every server in the config: the unacked updates are counted per each.
    pub(crate) all_servers: &'a [SocketAddr],
    /// This host's servers: the first names the host in a merged verdict.
    pub(crate) local_servers: &'a [SocketAddr],
}

/// What the monitor saw while the clients ran: the figures no final
/// report carries.
pub(crate) struct Watched {
    /// Children that exited when they should not have.
    pub(crate) children_died: Vec<DeadChild>,
    /// Servers restarted after they died.
    pub(crate) server_restarts: Vec<ServerRestart>,
    /// The addresses of those servers: what was acked on their old process
    /// died with it.
    pub(crate) restarted: Vec<String>,
    /// Servers an operations `stop` ended.
    pub(crate) stopped_by_ops: Vec<OpsStop>,
    /// The whole run's send-to-ack latency, lateness and corrected latency.
    pub(crate) latency_us: [Percentiles; 3],
    /// Seconds of the window with fewer links up than planned.
    pub(crate) links_short_s: f64,
    /// Seconds from the first client's spawn to the go.
    pub(crate) connect_s: f64,
    /// Links up at the go.
    pub(crate) links_up_at_go: u64,
    /// Each kind of process's cost, as sampled.
    pub(crate) processes: Processes,
    /// Ctrl-C or SIGTERM ended the run before its window's end.
    pub(crate) interrupted: bool,
}

/// The report of a run, from every part of it.
pub(crate) fn assemble(
    about: &About,
    mut watched: Watched,
    finals: &[ClientReport],
    end: EndCounts,
) -> RunReport {
    let restarted = std::mem::take(&mut watched.restarted);
    let mut r = from_clients(watched, finals, about.info);
    describe(&mut r, about);
    add_servers(&mut r, end, restarted, about);
    r.generator_saturated = run_verdict::saturation(&r).is_some();
    r.verdict_reasons = run_verdict::reasons(&r, &about.thresholds);
    r.verdict = run_verdict::verdict(&r).into();
    r
}

/// The run-wide figures: what the monitor saw, and the sums of the clients'
/// final reports.
fn from_clients(w: Watched, finals: &[ClientReport], info: &RunInfo) -> RunReport {
    let [latency_us, lateness_us, corrected_latency_us] = w.latency_us;
    let layout = &info.layout;
    let mut r = RunReport {
        target_ops_per_s: layout.target_per_s,
        links: layout.links,
        clients: layout.clients,
        servers: layout.servers.len() as u64,
        interval_ms: layout.interval_ms,
        max_lag_ms: layout.max_lag_ms,
        schedule: layout.schedule.clone(),
        children_died: w.children_died,
        latency_us,
        lateness_us,
        corrected_latency_us,
        server_restarts: w.server_restarts,
        stopped_by_ops: w.stopped_by_ops,
        links_short_s: w.links_short_s,
        connect_s: w.connect_s,
        links_up_at_go: w.links_up_at_go,
        processes: w.processes,
        // Without --duration, Ctrl-C is how the run was meant to end.
        interrupted: w.interrupted && info.duration_s.is_some(),
        planned_s: info.duration_s,
        ..RunReport::default()
    };
    for f in finals {
        let s = &f.status;
        r.sent += s.sent;
        r.acked += s.acked;
        r.late_sends += s.late;
        r.dropped += s.dropped;
        r.errors += s.errors;
        r.error_kinds.add(&s.error_kinds);
        r.reconnects += s.reconnects;
        r.anomalies += s.anomalies;
        r.unacked += f.keys.iter().map(|k| k.unacked).sum::<u64>();
        r.duration_s += s.elapsed_s;
    }
    if !finals.is_empty() {
        r.duration_s /= finals.len() as f64;
    }
    r.per_link = LinkSpread::of(acked_per_link(finals));
    r.servers_never_reached = never_reached(finals);
    if r.duration_s > 0.0 {
        r.achieved_ops_per_s = r.acked as f64 / r.duration_s;
    }
    if r.target_ops_per_s > 0.0 {
        r.achieved_ratio = r.achieved_ops_per_s / r.target_ops_per_s;
    }
    // Every client reported: its own figures cover exactly what it acked.
    if r.children_died.is_empty() {
        let own: Vec<_> = finals.iter().map(|f| f.process).collect();
        r.processes.client.use_own_accounting(&own, r.acked);
    }
    r.client_keys = finals.iter().flat_map(|f| f.keys.iter().cloned()).collect();
    r
}

/// The servers' side: the verification, their own figures, and what
/// `omclient verify --reports` merges across hosts.
fn add_servers(r: &mut RunReport, end: EndCounts, mut restarted: Vec<String>, about: &About) {
    // Restarted here, or by another host while our clients used it.
    restarted.extend(end.restarted.iter().cloned());
    r.verify = crate::verify::verify(&r.client_keys, &end.dumps, &end.down, &restarted);
    r.unacked_by_server = crate::verify::unacked_by_server(&r.client_keys, about.all_servers);
    // The servers answered `stats` after every client had stopped, so their
    // own figures cover the whole run (a restarted server's would not, and
    // updates from other hosts' clients would be missing from the divisor).
    if r.children_died.is_empty()
        && r.verify.unclaimed_updates == 0
        && end.server_stats.len() as u64 == r.servers
    {
        let own: Vec<_> = end.server_stats.iter().map(|s| s.process).collect();
        r.processes.server.use_own_accounting(&own, r.acked);
    }
    r.server_stats = end.server_stats;
    r.client_keys
        .sort_by(|a, b| (a.server, &a.key).cmp(&(b.server, &b.key)));
    r.host = about.local_servers.first().map(|a| a.ip().to_string());
    r.server_dumps = end.final_dumps;
    r.drain_s = end.drain_s;
}

/// What the run was: version, start, config, this host's role.
fn describe(r: &mut RunReport, about: &About) {
    let info = about.info;
    r.version.clone_from(&info.version);
    r.started_utc.clone_from(&info.started_utc);
    r.wall_s = about.began.elapsed().as_secs_f64();
    r.host_role.clone_from(&info.host_role);
    r.config_path.clone_from(&info.config_path);
    r.config_hash = std::fs::read(about.config_path)
        .map(|bytes| format!("fnv1a64:{:016x}", fnv1a64(&bytes)))
        .unwrap_or_else(|e| format!("unreadable: {e}"));
    // Without the operations token: the record's copy never had it.
    r.config = info.config.clone();
    r.thresholds = about.thresholds;
}

/// FNV-1a, 64 bits: enough to tell two config files apart in reports,
/// and ten lines instead of a hashing crate.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The updates acked on each link. A link is one client's connection to
/// one server, whatever keys its reconnects used.
fn acked_per_link(finals: &[ClientReport]) -> Vec<u64> {
    finals
        .iter()
        .flat_map(|f| {
            let mut by_server: HashMap<SocketAddr, u64> = HashMap::new();
            for k in &f.keys {
                *by_server.entry(k.server).or_insert(0) += k.acked;
            }
            by_server.into_values()
        })
        .collect()
}

/// The servers some links never connected to, with how many and why, from
/// the `down` lists of the clients' final reports.
fn never_reached(finals: &[ClientReport]) -> Vec<UnreachedServer> {
    let mut by_server: BTreeMap<SocketAddr, (u64, BTreeSet<&str>)> = BTreeMap::new();
    for down in finals.iter().flat_map(|f| &f.status.down) {
        let (links, reasons) = by_server.entry(down.server).or_default();
        *links += 1;
        reasons.insert(&down.reason);
    }
    by_server
        .into_iter()
        .map(|(server, (links, reasons))| UnreachedServer {
            server: server.to_string(),
            links,
            reason: reasons.into_iter().collect::<Vec<_>>().join(", "),
        })
        .collect()
}
