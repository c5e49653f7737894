//! The run report: what startup prints at the end, and writes as JSON with
//! `--report PATH`. Every field is documented in the README ("The report").

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::server::ServerStats;
use crate::verify::Verify;

/// Everything a run produced.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// Updates per second the schedule asks for: links x 1000 / interval.
    pub target_ops_per_s: f64,
    /// Acked updates per second over the run.
    pub achieved_ops_per_s: f64,
    /// achieved / target (0 when there is no target: closed loop).
    pub achieved_ratio: f64,
    /// Seconds the clients ran their schedules (mean over clients).
    pub duration_s: f64,
    /// Links this host's clients ran (clients x servers).
    pub links: u64,
    /// Client processes started.
    pub clients: u64,
    /// Server processes this startup ran.
    pub servers: u64,
    /// Milliseconds between two updates of a link.
    pub interval_ms: u64,
    /// fixed-rate, fixed-delay or closed-loop.
    pub schedule: String,
    /// Updates written by all clients.
    pub sent: u64,
    /// Updates acknowledged.
    pub acked: u64,
    /// Updates written whose ack never came.
    pub unacked: u64,
    /// Updates sent more than 1 ms after their due time.
    pub late_sends: u64,
    /// Failed connects, broken links and error replies, over all links.
    pub errors: u64,
    /// Times a link was re-established.
    pub reconnects: u64,
    /// Acks whose server count differed from the client's.
    pub anomalies: u64,
    /// Unacked updates per server address.
    pub unacked_by_server: BTreeMap<String, u64>,
    /// Children that exited when they should not have.
    pub children_died: Vec<DeadChild>,
    /// Each server's counters at the end of the run.
    pub server_stats: Vec<ServerStats>,
    /// The verdict.
    pub verify: Verify,
}

/// A child process that died unexpectedly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadChild {
    /// `server 127.0.0.1:38677` or `client 7`.
    pub name: String,
    /// The OS process id.
    pub pid: u32,
    /// How it ended, as the OS reported it.
    pub status: String,
    /// Seconds into the run when startup noticed.
    pub at_s: f64,
}

impl RunReport {
    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        let v = &self.verify;
        let _ = writeln!(t, "mass_connect run report");
        let _ = writeln!(
            t,
            "  {:<22} {}",
            "schedule",
            format_args!("{} every {} ms", self.schedule, self.interval_ms)
        );
        let _ = writeln!(
            t,
            "  {:<22} {} clients x {} servers = {} links",
            "layout",
            self.clients,
            self.links.checked_div(self.clients).unwrap_or(0),
            self.links
        );
        let _ = writeln!(t, "  {:<22} {:.1} s", "duration", self.duration_s);
        let _ = writeln!(
            t,
            "  {:<22} {:.0} updates/s of {:.0} target ({:.2}%)",
            "throughput",
            self.achieved_ops_per_s,
            self.target_ops_per_s,
            self.achieved_ratio * 100.0
        );
        let _ = writeln!(
            t,
            "  {:<22} sent {}  acked {}  unacked {}  late {}",
            "updates", self.sent, self.acked, self.unacked, self.late_sends
        );
        let _ = writeln!(
            t,
            "  {:<22} errors {}  reconnects {}  anomalies {}",
            "faults", self.errors, self.reconnects, self.anomalies
        );
        for (server, n) in &self.unacked_by_server {
            let _ = writeln!(t, "  {:<22} {server}: {n} sent but never acked", "unacked");
        }
        for dead in &self.children_died {
            let _ = writeln!(
                t,
                "  {:<22} {} (pid {}) {} at {:.1} s",
                "DIED", dead.name, dead.pid, dead.status, dead.at_s
            );
        }
        let verdict = if v.ok { "OK" } else { "FAILED" };
        let _ = writeln!(
            t,
            "  {:<22} {verdict}: servers counted {} updates on {} keys, clients saw {} acked",
            "verify", v.server_total, v.keys_checked, v.client_acked
        );
        if v.mismatched_keys + v.in_flight_keys + v.unverifiable_keys + v.unclaimed_keys > 0 {
            let _ = writeln!(
                t,
                "  {:<22} mismatched {}  in flight {}  unverifiable {}  unclaimed {} ({} updates)",
                "",
                v.mismatched_keys,
                v.in_flight_keys,
                v.unverifiable_keys,
                v.unclaimed_keys,
                v.unclaimed_updates
            );
        }
        for server in &v.servers_down {
            let _ = writeln!(
                t,
                "  {:<22} {server} did not answer at the end",
                "server down"
            );
        }
        for m in &v.mismatches {
            let _ = writeln!(
                t,
                "  {:<22} {} key {}: server {} vs acked {}",
                "mismatch", m.server, m.key, m.server_count, m.client_acked
            );
        }
        t
    }
}
