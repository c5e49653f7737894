//! The report as a person reads it: the verdict first, then the run's
//! figures, the processes beside the original's, and the verification.

use std::fmt::Write as _;

use super::{RunReport, SEED_FIGURES};
use crate::launcher::usage::KindUsage;

impl RunReport {
    /// Which role this host had, and whether its servers' counts are final.
    fn host_text(&self) -> String {
        let Some(host) = &self.host else {
            return "clients only (no address of this host is in server_ip_list)".into();
        };
        let open: u64 = self.server_dumps.iter().map(|d| d.links_open).sum();
        let last = if open == 0 {
            "final counts read once every link had left".to_string()
        } else {
            format!("counts read with {open} links still open")
        };
        format!(
            "{host}: {}; {last} (waited {:.1} s)",
            count(self.servers, "server"),
            self.drain_s
        )
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        let v = &self.verify;
        let _ = writeln!(t, "{}", self.verdict_line());
        let _ = writeln!(
            t,
            "mass_connect run report (version {}, started {})",
            self.version, self.started_utc
        );
        let _ = writeln!(
            t,
            "  {:<22} {} ({})",
            "config", self.config_path, self.config_hash
        );
        let _ = writeln!(
            t,
            "  {:<22} {}",
            "schedule",
            format_args!("{} every {} ms", self.schedule, self.interval_ms)
        );
        if self.clients == 0 {
            // A servers-only host: its figures are its servers'.
            let _ = writeln!(
                t,
                "  {:<22} no clients on this host; {}",
                "layout",
                count(self.servers, "server")
            );
            let _ = writeln!(t, "  {:<22} servers up {:.1} s", "duration", self.wall_s);
        } else {
            let _ = writeln!(
                t,
                "  {:<22} {} x {} = {}",
                "layout",
                count(self.clients, "client"),
                count(self.servers_per_client(), "server"),
                count(self.links, "link")
            );
            let _ = writeln!(
                t,
                "  {:<22} {:.1} s (whole run {:.1} s)",
                "duration", self.duration_s, self.wall_s
            );
        }
        let _ = writeln!(t, "  {:<22} {}", "host", self.host_text());
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
        if self.generator_saturated {
            let _ = writeln!(
                t,
                "  {:<22} SATURATED: the clients could not keep their schedule; the rate \
                 measures this machine, not the servers",
                "load generator"
            );
        }
        // What the errors were, when there were any: `errors 4 (ack_timeout 4)`.
        let kinds = self.error_kinds.nonzero();
        let kinds = if kinds.is_empty() {
            String::new()
        } else {
            let named: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
            format!(" ({})", named.join(", "))
        };
        let _ = writeln!(
            t,
            "  {:<22} errors {}{kinds}  reconnects {}  anomalies {}",
            "faults", self.errors, self.reconnects, self.anomalies
        );
        let p = &self.per_link;
        let _ = writeln!(
            t,
            "  {:<22} min {}  median {}  max {}  ({} of {} links outside 0.5-1.5x the median)",
            "acked per link", p.min, p.median, p.max, p.outside_half_median, p.links
        );
        // The JSON lists every server; the text only those with a loss.
        for (server, n) in self.unacked_by_server.iter().filter(|(_, n)| **n > 0) {
            let _ = writeln!(t, "  {:<22} {server}: {n} sent but never acked", "unacked");
        }
        for r in &self.server_restarts {
            let _ = writeln!(
                t,
                "  {:<22} {} at {:.1} s (pid {} -> {})",
                "RESTARTED", r.name, r.at_s, r.old_pid, r.new_pid
            );
        }
        for s in &self.stopped_by_ops {
            let _ = writeln!(
                t,
                "  {:<22} {} by {} at {:.1} s",
                "STOPPED BY OPS", s.name, s.by, s.at_s
            );
        }
        for dead in &self.children_died {
            let _ = writeln!(
                t,
                "  {:<22} {} (pid {}) {} at {:.1} s",
                "DIED", dead.name, dead.pid, dead.status, dead.at_s
            );
        }
        let _ = writeln!(
            t,
            "\n  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "microseconds", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, p) in [
            ("latency", &self.latency_us),
            ("lateness", &self.lateness_us),
            ("corrected latency", &self.corrected_latency_us),
        ] {
            let _ = writeln!(
                t,
                "  {name:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
                p.p50, p.p90, p.p99, p.p999, p.max
            );
        }
        // The original's figures are beside ours only where the layout is
        // the one it measured.
        let seed_layout = self.clients == 100 && self.servers_per_client() == 10;
        let _ = writeln!(
            t,
            "\n  {:<10} {:>5} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}{}",
            "processes",
            "count",
            "cpu% avg",
            "(machine)",
            "cpu% max",
            "rss MB",
            "threads",
            "cpu us",
            "ctx sw",
            if seed_layout {
                "   original (Windows, 100x10)"
            } else {
                ""
            },
        );
        let _ = writeln!(
            t,
            "  {:<10} {:>5} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}",
            "",
            "",
            "(1 core)",
            format!("({} cpus)", self.processes.cpus),
            "(1 core)",
            "max",
            "max",
            "per op",
            "per op",
        );
        for (name, seed_cpu, seed_mb) in SEED_FIGURES {
            let k = if name == "server" {
                &self.processes.server
            } else {
                &self.processes.client
            };
            // Unknown (no process of the kind, no update acked here, or an
            // OS that keeps no count) is "-", never a zero that reads like
            // a measurement.
            let known = k.count > 0 && self.acked > 0;
            let ctx = k
                .ctx_switches_per_op
                .filter(|_| known)
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "-".into());
            let cpu_per_op = if known {
                format!("{:.1}", k.cpu_us_per_op)
            } else {
                "-".into()
            };
            let seed = if seed_layout {
                format!("   ~{seed_cpu}% of machine, ~{seed_mb} MB")
            } else {
                String::new()
            };
            let _ = writeln!(
                t,
                "  {name:<10} {:>5} {:>10.1} {:>10.2} {:>10.1} {:>8.1} {:>8} {:>8} {:>9}{seed}",
                k.count,
                k.cpu_percent_avg,
                k.cpu_percent_of_machine_avg,
                k.cpu_percent_max,
                k.rss_mb_max,
                k.threads_max,
                cpu_per_op,
                ctx
            );
        }
        let _ = writeln!(
            t,
            "  {:<10} per-op figures: server {}, client {} (README: \"accounting\")",
            "", self.processes.server.accounting, self.processes.client.accounting
        );
        let growth = |k: &KindUsage| {
            k.rss_growth_percent_max
                .map(|g| format!("{g:+.1}%"))
                .unwrap_or_else(|| "n/a".into())
        };
        let _ = writeln!(
            t,
            "  {:<10} memory growth since {:.0} s, largest of any process: server {}, client {}",
            "",
            self.processes.rss_baseline_s,
            growth(&self.processes.server),
            growth(&self.processes.client)
        );
        let _ = writeln!(t);
        let verdict = if v.ok { "OK" } else { "FAILED" };
        let _ = writeln!(
            t,
            "  {:<22} {verdict}: servers counted {} updates on {} keys, clients saw {} acked",
            "verify", v.server_total, v.keys_checked, v.client_acked
        );
        if v.lost_keys > 0 {
            let _ = writeln!(
                t,
                "  {:<22} {} acked updates on {} keys died with restarted servers' processes",
                "", v.lost_updates, v.lost_keys
            );
        }
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

impl RunReport {
    /// The report's first line: `PASS`, or `FAIL: ` and every reason.
    pub fn verdict_line(&self) -> String {
        if self.verdict_reasons.is_empty() {
            "PASS".into()
        } else {
            format!("FAIL: {}", self.verdict_reasons.join("; "))
        }
    }

    /// Servers each client links to (every server of every host).
    fn servers_per_client(&self) -> u64 {
        self.links.checked_div(self.clients).unwrap_or(0)
    }
}

/// `1 server`, `3 servers`.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
