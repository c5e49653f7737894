//! The run report: what startup prints at the end, and writes as JSON with
//! `--report PATH`. Every field is documented in docs/REPORT.md ("The report").
//! `assemble.rs` builds it, in one place, and [`run_verdict`] judges it;
//! `text.rs` renders it as text.
//!
//! That JSON is a public format (other hosts' omclient merges it, scripts
//! read it), so its field set is pinned by a test below: a field cannot be
//! added, renamed or dropped without someone deciding to.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::launcher::record::FinalReport;
use crate::launcher::usage::KindUsage;
use crate::messages::{ErrorKinds, FinalDump, KeyCount, ServerStats};
use crate::metrics::Percentiles;
use crate::verify::Verify;

mod assemble;
pub(crate) mod run_verdict;
mod text;

pub(crate) use assemble::{About, Watched, assemble};

/// Everything a run produced.
///
/// Fields added after the first reports were written carry
/// `#[serde(default)]`, so `omclient verify --reports` still reads those.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RunReport {
    /// `pass`, `fail` or `incomplete` (see `run_verdict` for the rules).
    #[serde(default)]
    pub(crate) verdict: String,
    /// Why the run failed, one reason each naming its server, client or
    /// threshold; empty on `pass` and `incomplete`.
    #[serde(default)]
    pub(crate) verdict_reasons: Vec<String>,
    /// Ctrl-C or SIGTERM stopped a run with a `--duration` before its end:
    /// its figures cover less than `planned_s` (`run_verdict::cut_short`).
    /// Always false without `--duration`, where Ctrl-C is the planned end.
    #[serde(default)]
    pub(crate) interrupted: bool,
    /// `--duration` in seconds; `None` when the run lasted until Ctrl-C.
    #[serde(default)]
    pub(crate) planned_s: Option<f64>,
    /// The clients could not keep their schedule: the achieved rate then
    /// measures this machine, not the servers (`run_verdict::saturation`).
    #[serde(default)]
    pub(crate) generator_saturated: bool,
    /// The thresholds the run was held to (`--min-rate`, `--max-p99`,
    /// `--max-late-p99`); none by default.
    #[serde(default)]
    pub(crate) thresholds: Thresholds,
    /// The startup that wrote this report (`CARGO_PKG_VERSION`).
    #[serde(default)]
    pub(crate) version: String,
    /// When startup started, UTC, ISO 8601 (`2026-11-30T05:12:34Z`).
    #[serde(default)]
    pub(crate) started_utc: String,
    /// Seconds from startup's start to the report: the whole run's wall time.
    #[serde(default)]
    pub(crate) wall_s: f64,
    /// What this host did: its servers and clients, or clients only.
    #[serde(default)]
    pub(crate) host_role: String,
    /// The config file as given on the command line.
    #[serde(default)]
    pub(crate) config_path: String,
    /// `fnv1a64:<16 hex digits>` of the config file's bytes: two reports
    /// with the same hash ran the same config.
    #[serde(default)]
    pub(crate) config_hash: String,
    /// The whole effective config, defaults filled in (never the token).
    #[serde(default)]
    pub(crate) config: serde_json::Value,
    /// Servers that no link of this host ever connected to, and why.
    #[serde(default)]
    pub(crate) servers_never_reached: Vec<UnreachedServer>,
    /// Seconds of the window during which fewer links than planned were up
    /// (as of the status rounds).
    #[serde(default)]
    pub(crate) links_short_s: f64,
    /// Seconds from the first client's spawn until the go: how long this
    /// host's links took to connect (the ramp's length at least with
    /// `connect_rate`), or the connect deadline when some never did.
    #[serde(default)]
    pub(crate) connect_s: f64,
    /// Links up at the go.
    #[serde(default)]
    pub(crate) links_up_at_go: u64,
    /// Updates per second the schedule asks for: links x 1000 / interval.
    pub(crate) target_ops_per_s: f64,
    /// Acked updates per second over the run.
    pub(crate) achieved_ops_per_s: f64,
    /// achieved / target (0 when there is no target: closed loop).
    pub(crate) achieved_ratio: f64,
    /// Seconds the clients ran their schedules (mean over clients).
    pub(crate) duration_s: f64,
    /// Links this host's clients ran (clients x servers).
    pub(crate) links: u64,
    /// Client processes started.
    pub(crate) clients: u64,
    /// Server processes this startup ran.
    pub(crate) servers: u64,
    /// Milliseconds between two updates of a link.
    pub(crate) interval_ms: u64,
    /// The fixed-rate backlog's bound (`max_lag_ms`): ticks further behind
    /// are dropped; 0 is unbounded.
    #[serde(default)]
    pub(crate) max_lag_ms: u64,
    /// fixed-rate, fixed-delay or closed-loop.
    pub(crate) schedule: String,
    /// Updates written by all clients.
    pub(crate) sent: u64,
    /// Updates acknowledged.
    pub(crate) acked: u64,
    /// Updates written whose ack never came.
    pub(crate) unacked: u64,
    /// Updates sent more than 1 ms after their due time.
    pub(crate) late_sends: u64,
    /// Ticks dropped, never sent, for being more than `max_lag_ms` behind.
    #[serde(default)]
    pub(crate) dropped: u64,
    /// Failed connects, broken links and error replies, over all links.
    pub(crate) errors: u64,
    /// `errors` by what went wrong (the only word on it with logging off).
    #[serde(default)]
    pub(crate) error_kinds: ErrorKinds,
    /// Times a link was re-established.
    pub(crate) reconnects: u64,
    /// Acks whose server count differed from the client's.
    pub(crate) anomalies: u64,
    /// How evenly the links progressed: acked updates per link.
    pub(crate) per_link: LinkSpread,
    /// Send-to-ack latency over the run, microseconds.
    pub(crate) latency_us: Percentiles,
    /// Due-to-send lateness over the run, microseconds.
    pub(crate) lateness_us: Percentiles,
    /// Due-to-ack latency (coordinated-omission corrected), microseconds.
    pub(crate) corrected_latency_us: Percentiles,
    /// CPU, memory, threads and context switches per kind of process.
    pub(crate) processes: Processes,
    /// Unacked updates per server address.
    pub(crate) unacked_by_server: BTreeMap<String, u64>,
    /// Children that exited when they should not have.
    pub(crate) children_died: Vec<DeadChild>,
    /// Servers startup restarted after they died (`server_restarts`).
    pub(crate) server_restarts: Vec<ServerRestart>,
    /// Servers an operations `stop` ended during the run: down, not dead.
    #[serde(default)]
    pub(crate) stopped_by_ops: Vec<OpsStop>,
    /// Each server's counters at the end of the run.
    pub(crate) server_stats: Vec<ServerStats>,
    /// The verdict.
    pub(crate) verify: Verify,
    // Many hosts (issue 7): what `omclient verify --reports` merges.
    /// This host's address in `server_ip_list`; `None` on a clients-only host.
    pub(crate) host: Option<String>,
    /// Every key this host's clients used: server, key, acked, unacked.
    pub(crate) client_keys: Vec<KeyCount>,
    /// This host's servers' final counts, read once no client of any host
    /// was linked to them any more.
    pub(crate) server_dumps: Vec<FinalDump>,
    /// Seconds this host's servers stayed up for other hosts' clients after
    /// its own clients stopped.
    pub(crate) drain_s: f64,
}

impl RunReport {
    /// startup's exit status for this report's verdict: 0, 1 or 3
    /// (`run_verdict::exit_code`).
    pub(crate) fn exit_code(&self) -> i32 {
        run_verdict::exit_code(self)
    }

    /// The report as the dashboard and the HTML report show it: the JSON
    /// without `client_keys` and `server_dumps` (for `omclient verify
    /// --reports`, in `--report`; they grow with the run), and the text.
    pub(crate) fn for_page(&self) -> FinalReport {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(fields) = &mut value {
            fields.remove("client_keys");
            fields.remove("server_dumps");
        }
        FinalReport {
            report: value,
            text: self.to_text(),
        }
    }
}

/// Resource figures per kind of process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Processes {
    /// CPUs of this machine (Task Manager's scale divides by this).
    pub(crate) cpus: u64,
    /// Seconds into the run at which each process's memory was taken as the
    /// baseline of `rss_growth_percent_max` (the leak check).
    pub(crate) rss_baseline_s: f64,
    /// The servers startup ran.
    pub(crate) server: KindUsage,
    /// The clients startup ran.
    pub(crate) client: KindUsage,
}

/// The original's own figures (Windows, one PC, 100 clients / 10 servers):
/// Task Manager percent of the whole machine, and megabytes.
pub(crate) const SEED_FIGURES: [(&str, f64, f64); 2] = [("server", 3.0, 7.0), ("client", 1.0, 6.0)];

/// A child process that died unexpectedly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeadChild {
    /// `server 127.0.0.1:18677` or `client 7`.
    pub(crate) name: String,
    /// The OS process id.
    pub(crate) pid: u32,
    /// How it ended, as the OS reported it.
    pub(crate) status: String,
    /// Seconds into the run when startup noticed.
    pub(crate) at_s: f64,
}

/// Acked updates per link (one client's link to one server, over all its
/// reconnects): a thread-per-link system can starve some links while the
/// total looks fine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct LinkSpread {
    /// Links counted (those of clients that sent a final report).
    pub(crate) links: u64,
    /// The least any link acked.
    pub(crate) min: u64,
    /// The median link's acked updates.
    pub(crate) median: u64,
    /// The most any link acked.
    pub(crate) max: u64,
    /// Links that acked less than half the median, or more than 1.5 times it.
    pub(crate) outside_half_median: u64,
}

impl LinkSpread {
    /// The spread of these per-link counts.
    pub(crate) fn of(mut counts: Vec<u64>) -> LinkSpread {
        if counts.is_empty() {
            return LinkSpread::default();
        }
        counts.sort_unstable();
        let median = counts[counts.len() / 2];
        let outside = counts
            .iter()
            .filter(|&&n| n * 2 < median || n * 2 > median * 3)
            .count();
        LinkSpread {
            links: counts.len() as u64,
            min: counts[0],
            median,
            max: counts[counts.len() - 1],
            outside_half_median: outside as u64,
        }
    }
}

/// Limits the user set on the command line; none by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Thresholds {
    /// Fail below this achieved/target ratio (`--min-rate 0.99`).
    pub(crate) min_rate: Option<f64>,
    /// Fail when the whole run's latency p99 is above this, microseconds
    /// (`--max-p99 10ms`).
    pub(crate) max_p99_us: Option<u64>,
    /// Fail when the whole run's lateness p99 is above this, microseconds
    /// (`--max-late-p99 10ms`).
    pub(crate) max_late_p99_us: Option<u64>,
}

impl Thresholds {
    /// Microseconds of a command-line duration, saturating.
    pub(crate) fn micros(d: Duration) -> u64 {
        u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
    }
}

/// A server that an operations `stop` (omclient's) ended during the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OpsStop {
    /// `server 127.0.0.1:18677`.
    pub(crate) name: String,
    /// The address the `stop` came from.
    pub(crate) by: String,
    /// Seconds into the run when startup noticed.
    pub(crate) at_s: f64,
}

/// A server some links never reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UnreachedServer {
    /// Its address.
    pub(crate) server: String,
    /// This host's links to it that never connected.
    pub(crate) links: u64,
    /// Why their last attempt failed: `refused`, `timed out`,
    /// `unreachable`, `reset`, `failed` (several reasons joined by `, `).
    pub(crate) reason: String,
}

/// A dead server that startup started again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServerRestart {
    /// `server 127.0.0.1:18677`.
    pub(crate) name: String,
    /// The process that died.
    pub(crate) old_pid: u32,
    /// The process started in its place.
    pub(crate) new_pid: u32,
    /// Seconds into the run when it was started.
    pub(crate) at_s: f64,
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    use super::*;
    use crate::messages::{ProcessSample, ServerDump};
    use crate::verify::Mismatch;

    #[test]
    fn the_final_report_leaves_the_merge_lists_out() {
        let report = RunReport {
            verdict: "pass".into(),
            ..RunReport::default()
        };
        let f = report.for_page();
        assert_eq!(f.report["verdict"], "pass");
        assert!(f.report.get("client_keys").is_none());
        assert!(f.report.get("server_dumps").is_none());
        assert!(f.report.get("verify").is_some());
        assert!(f.text.starts_with("PASS"), "{}", f.text);
    }

    #[test]
    fn a_run_cut_short_opens_with_incomplete_and_a_failing_one_with_fail() {
        let mut report = RunReport {
            verdict: "incomplete".into(),
            interrupted: true,
            planned_s: Some(30.0),
            duration_s: 2.84,
            ..RunReport::default()
        };
        let text = report.to_text();
        assert!(
            text.starts_with("INCOMPLETE: stopped at 2.8 s of 30 s;"),
            "{text}"
        );
        assert_eq!(text.matches("INCOMPLETE").count(), 1, "{text}");
        assert_eq!(report.exit_code(), 3);
        report.verdict = "fail".into();
        report.verdict_reasons = vec!["no update was acked".into()];
        let text = report.to_text();
        let lines: Vec<&str> = text.lines().take(2).collect();
        assert_eq!(
            lines,
            [
                "FAIL: no update was acked",
                "INCOMPLETE: stopped at 2.8 s of 30 s"
            ]
        );
        assert_eq!(report.exit_code(), 1);
    }

    #[test]
    fn link_spread_finds_starved_and_greedy_links() {
        let s = LinkSpread::of(vec![100, 98, 102, 40, 160, 100]);
        assert_eq!((s.links, s.min, s.median, s.max), (6, 40, 100, 160));
        assert_eq!(s.outside_half_median, 2, "40 < 50 and 160 > 150");
        assert_eq!(LinkSpread::of(vec![]).links, 0);
    }

    /// Every key path of the report's JSON, sorted: `a.b` for a field of a
    /// nested object, `a[]` for the elements of a list (its elements'
    /// fields merged). Maps are filled with one entry under the key `*`, so
    /// they show as `name.*`: a map whose keys are data, not fields.
    const REPORT_FIELDS: &[&str] = &[
        "achieved_ops_per_s",
        "achieved_ratio",
        "acked",
        "anomalies",
        "children_died[].at_s",
        "children_died[].name",
        "children_died[].pid",
        "children_died[].status",
        "client_keys[].acked",
        "client_keys[].key",
        "client_keys[].server",
        "client_keys[].unacked",
        "clients",
        "config",
        "config_hash",
        "config_path",
        "connect_s",
        "corrected_latency_us.max",
        "corrected_latency_us.p50",
        "corrected_latency_us.p90",
        "corrected_latency_us.p99",
        "corrected_latency_us.p999",
        "drain_s",
        "dropped",
        "duration_s",
        "error_kinds.ack_timeout",
        "error_kinds.closed",
        "error_kinds.connect",
        "error_kinds.other",
        "error_kinds.refused",
        "error_kinds.write",
        "errors",
        "generator_saturated",
        "host",
        "host_role",
        "interrupted",
        "interval_ms",
        "late_sends",
        "latency_us.max",
        "latency_us.p50",
        "latency_us.p90",
        "latency_us.p99",
        "latency_us.p999",
        "lateness_us.max",
        "lateness_us.p50",
        "lateness_us.p90",
        "lateness_us.p99",
        "lateness_us.p999",
        "links",
        "links_short_s",
        "links_up_at_go",
        "max_lag_ms",
        "per_link.links",
        "per_link.max",
        "per_link.median",
        "per_link.min",
        "per_link.outside_half_median",
        "planned_s",
        "processes.client.accounting",
        "processes.client.count",
        "processes.client.cpu_percent_avg",
        "processes.client.cpu_percent_max",
        "processes.client.cpu_percent_of_machine_avg",
        "processes.client.cpu_percent_total_avg",
        "processes.client.cpu_us_per_op",
        "processes.client.ctx_switches_per_op",
        "processes.client.involuntary_ctx_switches",
        "processes.client.rss_growth_percent_max",
        "processes.client.rss_mb_last",
        "processes.client.rss_mb_max",
        "processes.client.threads_max",
        "processes.client.voluntary_ctx_switches",
        "processes.cpus",
        "processes.rss_baseline_s",
        "processes.server.accounting",
        "processes.server.count",
        "processes.server.cpu_percent_avg",
        "processes.server.cpu_percent_max",
        "processes.server.cpu_percent_of_machine_avg",
        "processes.server.cpu_percent_total_avg",
        "processes.server.cpu_us_per_op",
        "processes.server.ctx_switches_per_op",
        "processes.server.involuntary_ctx_switches",
        "processes.server.rss_growth_percent_max",
        "processes.server.rss_mb_last",
        "processes.server.rss_mb_max",
        "processes.server.threads_max",
        "processes.server.voluntary_ctx_switches",
        "reconnects",
        "schedule",
        "sent",
        "server_dumps[].keys[][]",
        "server_dumps[].links_open",
        "server_dumps[].server",
        "server_dumps[].total",
        "server_restarts[].at_s",
        "server_restarts[].name",
        "server_restarts[].new_pid",
        "server_restarts[].old_pid",
        "server_stats[].anomalies",
        "server_stats[].auth_failures",
        "server_stats[].idle_closed",
        "server_stats[].keys",
        "server_stats[].links",
        "server_stats[].links_accepted",
        "server_stats[].links_refused",
        "server_stats[].process.cpu_s",
        "server_stats[].process.fds",
        "server_stats[].process.involuntary_ctx",
        "server_stats[].process.rss_bytes",
        "server_stats[].process.threads",
        "server_stats[].process.voluntary_ctx",
        "server_stats[].protocol_errors",
        "server_stats[].server",
        "server_stats[].updates",
        "server_stats[].updates_per_s",
        "server_stats[].uptime_s",
        "server_stats[].write_timeouts",
        "servers",
        "servers_never_reached[].links",
        "servers_never_reached[].reason",
        "servers_never_reached[].server",
        "started_utc",
        "stopped_by_ops[].at_s",
        "stopped_by_ops[].by",
        "stopped_by_ops[].name",
        "target_ops_per_s",
        "thresholds.max_late_p99_us",
        "thresholds.max_p99_us",
        "thresholds.min_rate",
        "unacked",
        "unacked_by_server.*",
        "verdict",
        "verdict_reasons[]",
        "verify.client_acked",
        "verify.in_flight_keys",
        "verify.keys_checked",
        "verify.lost_keys",
        "verify.lost_updates",
        "verify.mismatched_keys",
        "verify.mismatches[].client_acked",
        "verify.mismatches[].key",
        "verify.mismatches[].server",
        "verify.mismatches[].server_count",
        "verify.ok",
        "verify.server_total",
        "verify.servers_down[]",
        "verify.unclaimed_keys",
        "verify.unclaimed_updates",
        "verify.unverifiable_keys",
        "version",
        "wall_s",
    ];

    /// A report with something in every list and every `Option`, so that
    /// every nested object shows its fields (an empty list or a `null`
    /// would hide them).
    fn filled_report() -> RunReport {
        let usage = filled_usage();
        let server = "127.0.0.1:1";
        RunReport {
            processes: Processes {
                server: usage.clone(),
                client: usage,
                ..Processes::default()
            },
            unacked_by_server: BTreeMap::from([("*".to_string(), 1)]),
            children_died: vec![DeadChild {
                name: "client 7".into(),
                pid: 1,
                status: "killed".into(),
                at_s: 1.0,
            }],
            server_restarts: vec![ServerRestart {
                name: format!("server {server}"),
                old_pid: 1,
                new_pid: 2,
                at_s: 1.0,
            }],
            stopped_by_ops: vec![OpsStop {
                name: format!("server {server}"),
                by: "127.0.0.1:6".into(),
                at_s: 1.0,
            }],
            server_stats: vec![ServerStats {
                process: Some(filled_sample()),
                ..ServerStats::default()
            }],
            verify: Verify {
                servers_down: vec![server.into()],
                // Filled in full: the report must still show four fields.
                mismatches: vec![Mismatch {
                    server: server.into(),
                    key: "127.0.0.1:5".into(),
                    server_count: 2,
                    client_acked: 1,
                    client_unacked: 1,
                    reports: vec!["a.json".into()],
                }],
                ..Verify::default()
            },
            host: Some("127.0.0.1".into()),
            client_keys: vec![KeyCount {
                server: server.parse().unwrap(),
                key: "127.0.0.1:5".into(),
                acked: 1,
                unacked: 0,
            }],
            server_dumps: vec![FinalDump {
                dump: ServerDump {
                    server: server.into(),
                    total: 1,
                    keys: vec![("127.0.0.1:5".into(), 1)],
                },
                links_open: 0,
            }],
            verdict_reasons: vec!["no update was acked".into()],
            servers_never_reached: vec![UnreachedServer {
                server: server.into(),
                links: 1,
                reason: "refused".into(),
            }],
            thresholds: Thresholds {
                min_rate: Some(0.99),
                max_p99_us: Some(1),
                max_late_p99_us: Some(1),
            },
            // The effective config is pinned by the config's own tests.
            config: Value::Null,
            ..RunReport::default()
        }
    }

    /// A kind's usage with every `Option` set.
    fn filled_usage() -> KindUsage {
        KindUsage {
            rss_growth_percent_max: Some(1.0),
            ctx_switches_per_op: Some(1.0),
            voluntary_ctx_switches: Some(1),
            involuntary_ctx_switches: Some(1),
            ..KindUsage::default()
        }
    }

    /// A process sample with every `Option` set.
    fn filled_sample() -> ProcessSample {
        ProcessSample {
            cpu_s: 1.0,
            rss_bytes: 1,
            threads: 1,
            voluntary_ctx: Some(1),
            involuntary_ctx: Some(1),
            fds: Some(1),
        }
    }

    /// Collects the key paths under `value` into `paths`, `at` being the
    /// path to `value` itself.
    fn key_paths(value: &Value, at: &str, paths: &mut BTreeSet<String>) {
        match value {
            Value::Object(fields) if !fields.is_empty() => {
                for (name, v) in fields {
                    let path = if at.is_empty() {
                        name.clone()
                    } else {
                        format!("{at}.{name}")
                    };
                    key_paths(v, &path, paths);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for item in items {
                    key_paths(item, &format!("{at}[]"), paths);
                }
            }
            _ => {
                paths.insert(at.to_string());
            }
        }
    }

    #[test]
    fn the_reports_field_set_is_pinned() {
        let json = serde_json::to_value(filled_report()).unwrap();
        let mut found = BTreeSet::new();
        key_paths(&json, "", &mut found);
        let pinned: BTreeSet<String> = REPORT_FIELDS.iter().map(|s| s.to_string()).collect();
        assert!(
            REPORT_FIELDS.windows(2).all(|w| w[0] < w[1]),
            "keep REPORT_FIELDS sorted and without repeats"
        );
        let added: Vec<_> = found.difference(&pinned).collect();
        let removed: Vec<_> = pinned.difference(&found).collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "the report's JSON is a public format: other hosts' omclient and \
             people's scripts read it. A field was added, renamed or removed \
             (new: {added:?}; gone: {removed:?}). If that is meant, update the \
             report fields in docs/REPORT.md (\"The report\") and REPORT_FIELDS in this \
             test deliberately, together."
        );
    }
}
