//! The report as a person reads it: the verdict first, then the run's
//! figures, the processes beside the original's, and the verification.
//! Most lines are one labelled row, `row!(t, label, format...)`, so each
//! section reads as its list of rows.

use std::fmt::Write as _;

use super::{RunReport, SEED_FIGURES, run_verdict};
use crate::launcher::usage::KindUsage;

/// One labelled row: two spaces, the label in 22 columns, a space, then
/// the value as `format!` would write it.
macro_rules! row {
    ($t:expr, $label:expr, $($value:tt)+) => {{
        let _ = writeln!($t, "  {:<22} {}", $label, format_args!($($value)+));
    }};
}

impl RunReport {
    /// The human-readable report.
    pub(crate) fn to_text(&self) -> String {
        let mut t = String::new();
        let (version, started) = (&self.version, &self.started_utc);
        let _ = writeln!(t, "{}", self.verdict_line());
        // A FAIL that was also cut short says both, the FAIL first.
        if let Some(stop) = run_verdict::cut_short(self).filter(|_| self.verdict == "fail") {
            let _ = writeln!(t, "INCOMPLETE: {stop}");
        }
        let _ = writeln!(
            t,
            "mass_connect run report (version {version}, started {started})"
        );
        self.run_text(&mut t);
        self.events_text(&mut t);
        self.percentiles_text(&mut t);
        self.processes_text(&mut t);
        self.verify_text(&mut t);
        t
    }

    /// The report's first line: `FAIL: ` and every reason; else
    /// `INCOMPLETE: stopped at 2.8 s of 30 s` for a run cut short; else
    /// `PASS`.
    pub(crate) fn verdict_line(&self) -> String {
        if !self.verdict_reasons.is_empty() {
            return format!("FAIL: {}", self.verdict_reasons.join("; "));
        }
        match run_verdict::cut_short(self) {
            Some(stop) => format!("INCOMPLETE: {stop}; every rule held until then"),
            None => "PASS".into(),
        }
    }

    /// What ran, how long, and what it achieved.
    fn run_text(&self, t: &mut String) {
        row!(t, "config", "{} ({})", self.config_path, self.config_hash);
        row!(
            t,
            "schedule",
            "{} every {} ms",
            self.schedule,
            self.interval_ms
        );
        let (ran, wall) = (self.duration_s, self.wall_s);
        if self.clients == 0 {
            // A servers-only host: its figures are its servers'.
            let servers = count(self.servers, "server");
            row!(t, "layout", "no clients on this host; {servers}");
            row!(t, "duration", "servers up {wall:.1} s");
        } else {
            let (clients, links) = (count(self.clients, "client"), count(self.links, "link"));
            let servers = count(self.servers_per_client(), "server");
            let up = self.links_up_at_go;
            let connected = self.connect_s;
            row!(
                t,
                "layout",
                "{clients} x {servers} = {links} ({up} up {connected:.1} s after the first spawn)"
            );
            row!(t, "duration", "{ran:.1} s (whole run {wall:.1} s)");
        }
        row!(t, "host", "{}", self.host_text());
        let (done, target) = (self.achieved_ops_per_s, self.target_ops_per_s);
        let ratio = self.achieved_ratio * 100.0;
        row!(
            t,
            "throughput",
            "{done:.0} updates/s of {target:.0} target ({ratio:.2}%)"
        );
        let (sent, acked, unacked, late) = (self.sent, self.acked, self.unacked, self.late_sends);
        let dropped = self.dropped;
        row!(
            t,
            "updates",
            "sent {sent}  acked {acked}  unacked {unacked}  late {late}  dropped {dropped}"
        );
        if self.generator_saturated {
            let why = "the rate measures this machine, not the servers";
            row!(
                t,
                "load generator",
                "SATURATED: the clients could not keep their schedule; {why}"
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
        let (errors, reconnects, anomalies) = (self.errors, self.reconnects, self.anomalies);
        row!(
            t,
            "faults",
            "errors {errors}{kinds}  reconnects {reconnects}  anomalies {anomalies}"
        );
        let p = &self.per_link;
        let outside = format!(
            "{} of {} links outside 0.5-1.5x the median",
            p.outside_half_median, p.links
        );
        row!(
            t,
            "acked per link",
            "min {}  median {}  max {}  ({outside})",
            p.min,
            p.median,
            p.max
        );
    }

    /// Losses, restarts, operators' stops and deaths, one row each.
    fn events_text(&self, t: &mut String) {
        // The JSON lists every server; the text only those with a loss.
        for (server, n) in self.unacked_by_server.iter().filter(|(_, n)| **n > 0) {
            row!(t, "unacked", "{server}: {n} sent but never acked");
        }
        for r in &self.server_restarts {
            let pids = format!("(pid {} -> {})", r.old_pid, r.new_pid);
            row!(t, "RESTARTED", "{} at {:.1} s {pids}", r.name, r.at_s);
        }
        for s in &self.stopped_by_ops {
            row!(
                t,
                "STOPPED BY OPS",
                "{} by {} at {:.1} s",
                s.name,
                s.by,
                s.at_s
            );
        }
        for d in &self.children_died {
            row!(
                t,
                "DIED",
                "{} (pid {}) {} at {:.1} s",
                d.name,
                d.pid,
                d.status,
                d.at_s
            );
        }
    }

    /// Latency, lateness and corrected latency, as a table.
    fn percentiles_text(&self, t: &mut String) {
        let _ = writeln!(t);
        let head = ["p50", "p90", "p99", "p99.9", "max"].map(|h| format!("{h:>9}"));
        row!(t, "microseconds", "{}", head.join(" "));
        for (name, p) in [
            ("latency", &self.latency_us),
            ("lateness", &self.lateness_us),
            ("corrected latency", &self.corrected_latency_us),
        ] {
            let cells = [p.p50, p.p90, p.p99, p.p999, p.max].map(|n| format!("{n:>9}"));
            row!(t, name, "{}", cells.join(" "));
        }
    }

    /// What each kind of process cost, beside the original's figures where
    /// the layout is the one it measured.
    fn processes_text(&self, t: &mut String) {
        let seed_layout = self.clients == 100 && self.servers_per_client() == 10;
        let original = if seed_layout {
            "   original (Windows, 100x10)"
        } else {
            ""
        };
        let _ = writeln!(
            t,
            "\n  {:<10} {:>5} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}{original}",
            "processes",
            "count",
            "cpu% avg",
            "(machine)",
            "cpu% max",
            "rss MB",
            "threads",
            "cpu us",
            "ctx sw",
        );
        let cpus = format!("({} cpus)", self.processes.cpus);
        let _ = writeln!(
            t,
            "  {:<10} {:>5} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}",
            "", "", "(1 core)", cpus, "(1 core)", "max", "max", "per op", "per op",
        );
        for (name, seed_cpu, seed_mb) in SEED_FIGURES {
            let k = if name == "server" {
                &self.processes.server
            } else {
                &self.processes.client
            };
            let seed = if seed_layout {
                format!("   ~{seed_cpu}% of machine, ~{seed_mb} MB")
            } else {
                String::new()
            };
            self.process_row(t, name, k, &seed);
        }
        let (server, client) = (&self.processes.server, &self.processes.client);
        let (a, b) = (&server.accounting, &client.accounting);
        let _ = writeln!(
            t,
            "  {:<10} per-op figures: server {a}, client {b} (docs/REPORT.md: \"accounting\")",
            ""
        );
        let growth = |k: &KindUsage| {
            k.rss_growth_percent_max
                .map_or_else(|| "n/a".into(), |g| format!("{g:+.1}%"))
        };
        let (since, a, b) = (
            self.processes.rss_baseline_s,
            growth(server),
            growth(client),
        );
        let line = format!("memory growth since {since:.0} s, largest of any process");
        let _ = writeln!(t, "  {:<10} {line}: server {a}, client {b}", "");
    }

    /// One kind of process's row of the table, `seed` after it.
    fn process_row(&self, t: &mut String, name: &str, k: &KindUsage, seed: &str) {
        // Unknown (no process of the kind, no update acked here, or an OS
        // that keeps no count) is "-", never a zero that reads like a
        // measurement.
        let known = k.count > 0 && self.acked > 0;
        let ctx = k.ctx_switches_per_op.filter(|_| known);
        let ctx = ctx.map_or_else(|| "-".into(), |c| format!("{c:.2}"));
        let cpu_per_op = known.then(|| format!("{:.1}", k.cpu_us_per_op));
        let cpu_per_op = cpu_per_op.as_deref().unwrap_or("-");
        let (count, avg, machine) = (k.count, k.cpu_percent_avg, k.cpu_percent_of_machine_avg);
        let _ = write!(t, "  {name:<10} {count:>5} {avg:>10.1} {machine:>10.2}");
        let (max, rss, threads) = (k.cpu_percent_max, k.rss_mb_max, k.threads_max);
        let _ = writeln!(
            t,
            " {max:>10.1} {rss:>8.1} {threads:>8} {cpu_per_op:>8} {ctx:>9}{seed}"
        );
    }

    /// The verification: what the servers counted against what was acked.
    fn verify_text(&self, t: &mut String) {
        let v = &self.verify;
        let _ = writeln!(t);
        let verdict = if v.ok { "OK" } else { "FAILED" };
        let (total, keys, acked) = (v.server_total, v.keys_checked, v.client_acked);
        let counted = format!("servers counted {total} updates on {keys} keys");
        row!(
            t,
            "verify",
            "{verdict}: {counted}, clients saw {acked} acked"
        );
        if v.lost_keys > 0 {
            let (updates, keys) = (v.lost_updates, v.lost_keys);
            let died = "died with restarted servers' processes";
            row!(t, "", "{updates} acked updates on {keys} keys {died}");
        }
        if v.mismatched_keys + v.in_flight_keys + v.unverifiable_keys + v.unclaimed_keys > 0 {
            let (mismatched, in_flight) = (v.mismatched_keys, v.in_flight_keys);
            let (unverifiable, unclaimed) = (v.unverifiable_keys, v.unclaimed_keys);
            let updates = v.unclaimed_updates;
            let keys = format!("mismatched {mismatched}  in flight {in_flight}");
            row!(
                t,
                "",
                "{keys}  unverifiable {unverifiable}  unclaimed {unclaimed} ({updates} updates)"
            );
        }
        for server in &v.servers_down {
            row!(t, "server down", "{server} did not answer at the end");
        }
        for m in &v.mismatches {
            let counts = format!("server {} vs acked {}", m.server_count, m.client_acked);
            row!(t, "mismatch", "{} key {}: {counts}", m.server, m.key);
        }
    }

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
        let servers = count(self.servers, "server");
        format!("{host}: {servers}; {last} (waited {:.1} s)", self.drain_s)
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
