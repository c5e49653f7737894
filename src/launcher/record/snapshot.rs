//! The run as one [`RunView`] (what the dashboard shows, `/api/run` serves
//! and the HTML report embeds), built by a [`State`] from the [`Update`]s
//! startup sends.
//!
//! Two `State`s are fed the same updates: startup's own (inside
//! [`super::Feed`], on its main thread), which becomes the HTML report at
//! the end, and the dashboard thread's, which it serves. Neither is shared:
//! updates are values sent over a channel, so startup never waits for the
//! page and the page never reads a half-made update.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::metrics::MetricsSample;
use super::series::{Columns, History, Point};
use crate::config::Config;

/// Version of `/api/run`'s format: raised when a field changes meaning or
/// goes away (new fields may come without it).
pub(crate) const API_VERSION: u32 = 1;

/// What the run is, known before anything starts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RunInfo {
    /// startup's version.
    pub(crate) version: String,
    /// When startup started, UTC, ISO 8601.
    pub(crate) started_utc: String,
    /// What this host does in the run.
    pub(crate) host_role: String,
    /// The config as the report names it: the file as given, or the
    /// built-in defaults, with the flags that set keys on top.
    pub(crate) config_path: String,
    /// The effective config, defaults filled in, never the token.
    pub(crate) config: Value,
    /// The run's shape.
    pub(crate) layout: Layout,
    /// `--duration` in seconds; `None` runs until Ctrl-C.
    pub(crate) duration_s: Option<f64>,
}

impl RunInfo {
    /// The run `config` (shown as `config_shown`) describes, for this
    /// host (`role`, its servers `local`), started at `began`.
    pub(crate) fn of(
        config: &Config,
        config_shown: &str,
        duration: Option<Duration>,
        role: &str,
        local: &[SocketAddr],
        began: SystemTime,
    ) -> RunInfo {
        let clients = u64::from(config.client_num_per_host);
        let servers_in_config = config.all_servers().len() as u64;
        let links = clients * servers_in_config;
        RunInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_utc: crate::utc::iso8601(began, false),
            host_role: role.to_string(),
            config_path: config_shown.to_string(),
            // Config's serialization leaves the operations token out.
            config: serde_json::to_value(config).unwrap_or_default(),
            layout: Layout {
                clients,
                servers: local.iter().map(|a| a.to_string()).collect(),
                servers_in_config,
                links,
                interval_ms: config.update_intervals,
                max_lag_ms: config.max_lag_ms,
                schedule: config.schedule.name().to_string(),
                target_per_s: links as f64 * config.per_link_rate(),
            },
            duration_s: duration.map(|d| d.as_secs_f64()),
        }
    }
}

/// The run's shape: who links to whom, at what rate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Layout {
    /// Client processes on this host.
    pub(crate) clients: u64,
    /// This host's servers (`IP:PORT`).
    pub(crate) servers: Vec<String>,
    /// Servers in the whole config: each client links to every one.
    pub(crate) servers_in_config: u64,
    /// Links of this host's clients.
    pub(crate) links: u64,
    /// Milliseconds between two updates of a link.
    pub(crate) interval_ms: u64,
    /// Ticks further behind than this are dropped (`max_lag_ms`; 0: never).
    #[serde(default)]
    pub(crate) max_lag_ms: u64,
    /// `fixed-rate`, `fixed-delay` or `closed-loop`.
    pub(crate) schedule: String,
    /// Updates per second the schedule asks for (0: closed loop).
    pub(crate) target_per_s: f64,
}

/// Where the run is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Phase {
    /// Starting this host's servers, waiting for other hosts'.
    #[default]
    Starting,
    /// Clients started; waiting for their links before the go.
    Connecting,
    /// The clients run their schedules.
    Running,
    /// The window is over (or Ctrl-C): the clients are stopping.
    Stopping,
    /// Reading the servers' counts and verifying.
    Verifying,
    /// The report is made: the verdict is in.
    Done,
}

impl Phase {
    /// The phase as `/api/run` spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Connecting => "connecting",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Verifying => "verifying",
            Phase::Done => "done",
        }
    }
}

/// One of this host's servers, from its `stats` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServerRow {
    /// `IP:PORT`.
    pub(crate) server: String,
    /// It answered.
    pub(crate) up: bool,
    /// Links open on it, its asker's own connection not counted.
    pub(crate) links: u64,
    /// Updates applied since it started.
    pub(crate) updates: u64,
    /// Updates applied over its last second.
    pub(crate) updates_per_s: f64,
    /// Updates whose client count differed from its own.
    pub(crate) anomalies: u64,
    /// Why it did not answer (empty when up).
    pub(crate) error: String,
}

/// The servers table, as of one poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServersTable {
    /// Seconds on the run's clock when the servers were asked (negative
    /// before the go).
    pub(crate) at_s: f64,
    /// One row per server of this host, in `server_port_list` order.
    pub(crate) rows: Vec<ServerRow>,
}

/// Something that changed, sent by startup (and the servers' poller).
#[derive(Debug, Clone)]
pub(crate) enum Update {
    /// The run moved on; `message` says how (may be empty).
    Phase(Phase, String),
    /// A progress message, the phase unchanged (the connecting line).
    Message(String),
    /// The go: the run's clock starts at this instant.
    Go(Instant),
    /// A status round closed.
    Point(Box<Point>),
    /// The run's figures for `/metrics`, as of a status round or the
    /// clients' final reports.
    Metrics(Box<MetricsSample>),
    /// The servers answered `stats` at this instant.
    Servers(Instant, Vec<ServerRow>),
    /// The report, verdict and verification included.
    Final(Box<FinalReport>),
}

/// The end of the run, as the page shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FinalReport {
    /// The report's JSON without `client_keys` and `server_dumps`, which
    /// are for `omclient verify --reports` (in `--report`) and grow with
    /// the run.
    pub(crate) report: Value,
    /// The report as startup prints it.
    pub(crate) text: String,
}

/// The body of `/api/run`, and the data the HTML report embeds: every
/// field is described in docs/DASHBOARD.md ("The dashboard", /api/run).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunView {
    /// [`API_VERSION`].
    pub(crate) api: u32,
    /// Updates applied so far: a view with a higher `seq` is newer.
    pub(crate) seq: u64,
    /// Where the run is.
    pub(crate) phase: Phase,
    /// What the page's header says: the phase's name, or `saturated`
    /// instead of `running` while the run so far breaks the saturation
    /// rule (as of the latest round), so a run whose rate measures this
    /// machine never reads as merely running.
    #[serde(default)]
    pub(crate) state: String,
    /// startup's latest progress message.
    pub(crate) message: String,
    /// What the run is.
    #[serde(flatten)]
    pub(crate) info: RunInfo,
    /// Seconds on the run's clock: since the go, up to the window's end
    /// (0 before the go).
    pub(crate) elapsed_s: f64,
    /// The latest status round, not merged with others (rounded as the
    /// series are).
    pub(crate) now: Option<Point>,
    /// Every point of the run so far.
    pub(crate) series: Columns,
    /// This host's servers as of their latest `stats` (polled only while
    /// someone watches; `null` until then, and in the HTML report).
    pub(crate) servers: Option<ServersTable>,
    /// The end of the run, once it is over.
    #[serde(rename = "final")]
    pub(crate) final_report: Option<FinalReport>,
}

/// A run as the updates so far tell it.
pub(crate) struct State {
    info: RunInfo,
    seq: u64,
    phase: Phase,
    message: String,
    go: Option<Instant>,
    /// When the clients stopped running (the clock stops there).
    ended: Option<Instant>,
    now: Option<Point>,
    history: History,
    servers: Option<ServersTable>,
    final_report: Option<FinalReport>,
    /// The latest figures for `/metrics` (not part of the [`RunView`]).
    metrics: Option<MetricsSample>,
}

/// Every word [`State::state_word`] can say, in the run's order.
pub(crate) const STATES: [&str; 7] = [
    "starting",
    "connecting",
    "running",
    "saturated",
    "stopping",
    "verifying",
    "done",
];

impl State {
    /// A run that has not started.
    pub(crate) fn new(info: RunInfo) -> State {
        State {
            info,
            seq: 0,
            phase: Phase::Starting,
            message: String::new(),
            go: None,
            ended: None,
            now: None,
            history: History::default(),
            servers: None,
            final_report: None,
            metrics: None,
        }
    }

    /// Applies one update.
    pub(crate) fn apply(&mut self, update: Update) {
        // `/metrics`' figures are not in the view: a long poll on
        // `/api/run` does not answer for them.
        if let Update::Metrics(sample) = update {
            self.metrics = Some(*sample);
            return;
        }
        self.seq += 1;
        match update {
            Update::Phase(phase, message) => {
                if phase >= Phase::Stopping && self.phase < Phase::Stopping {
                    self.ended = Some(Instant::now());
                }
                self.phase = phase;
                self.message = message;
            }
            Update::Message(message) => self.message = message,
            Update::Go(at) => self.go = Some(at),
            Update::Point(point) => {
                self.history.push((*point).clone());
                self.now = Some(*point);
            }
            Update::Servers(at, rows) => {
                // On the run's clock, negative before the go.
                let at_s = match self.go {
                    Some(go) if at >= go => at.duration_since(go).as_secs_f64(),
                    Some(go) => -go.duration_since(at).as_secs_f64(),
                    None => 0.0,
                };
                let at_s = (at_s * 10.0).round() / 10.0;
                self.servers = Some(ServersTable { at_s, rows });
            }
            Update::Final(report) => {
                self.phase = Phase::Done;
                self.final_report = Some(*report);
            }
            Update::Metrics(_) => {} // taken above
        }
    }

    /// Updates applied so far.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// True once the report is in.
    pub(crate) fn is_final(&self) -> bool {
        self.final_report.is_some()
    }

    /// What the run is.
    pub(crate) fn info(&self) -> &RunInfo {
        &self.info
    }

    /// The latest figures for `/metrics`; `None` before the first round.
    pub(crate) fn metrics(&self) -> Option<&MetricsSample> {
        self.metrics.as_ref()
    }

    /// Seconds on the run's clock as of `at`: since the go, up to the
    /// window's end (0 before the go).
    pub(crate) fn elapsed_s(&self, at: Instant) -> f64 {
        let elapsed = match self.go {
            Some(go) => {
                let until = self.ended.unwrap_or(at);
                until.saturating_duration_since(go).as_secs_f64()
            }
            None => 0.0,
        };
        // The window ends at --duration; the clock does not run past it
        // while the clients stop.
        self.info.duration_s.map_or(elapsed, |d| elapsed.min(d))
    }

    /// The page header's word (one of [`STATES`]): the phase's name, or
    /// `saturated` instead of `running` while the latest round says so.
    pub(crate) fn state_word(&self) -> &'static str {
        let saturated = self.now.as_ref().is_some_and(|p| p.saturated);
        match self.phase {
            Phase::Running if saturated => "saturated",
            phase => phase.name(),
        }
    }

    /// The run as of `at`.
    pub(crate) fn view(&self, at: Instant) -> RunView {
        let elapsed = self.elapsed_s(at);
        RunView {
            api: API_VERSION,
            seq: self.seq,
            phase: self.phase,
            state: self.state_word().to_string(),
            message: self.message.clone(),
            info: self.info.clone(),
            elapsed_s: (elapsed * 10.0).round() / 10.0,
            now: self.now.as_ref().map(Point::rounded),
            series: self.history.columns(),
            servers: self.servers.clone(),
            final_report: self.final_report.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_runs_from_the_go_and_stops_with_the_window() {
        let info = RunInfo {
            duration_s: Some(5.0),
            ..RunInfo::default()
        };
        let mut s = State::new(info);
        let t0 = Instant::now();
        assert_eq!(s.view(t0).elapsed_s, 0.0);
        s.apply(Update::Go(t0));
        assert_eq!(s.view(t0 + Duration::from_secs(2)).elapsed_s, 2.0);
        assert_eq!(s.view(t0 + Duration::from_secs(9)).elapsed_s, 5.0);
        s.apply(Update::Point(Box::new(Point {
            t_s: 1.0,
            ..Point::default()
        })));
        s.apply(Update::Phase(Phase::Stopping, String::new()));
        let v = s.view(t0 + Duration::from_secs(60));
        assert_eq!((v.phase, v.seq), (Phase::Stopping, 3));
        assert_eq!(v.state, "stopping");
        assert!(v.elapsed_s <= 5.0);
        assert_eq!(v.series.t_s, vec![1.0]);
        assert!(!s.is_final());
    }

    #[test]
    fn the_header_says_saturated_instead_of_running_while_the_rule_holds() {
        let mut s = State::new(RunInfo::default());
        let round = |saturated| {
            Update::Point(Box::new(Point {
                saturated,
                ..Point::default()
            }))
        };
        s.apply(Update::Phase(Phase::Running, String::new()));
        let at = Instant::now();
        assert_eq!(s.view(at).state, "running");
        s.apply(round(true));
        assert_eq!(s.view(at).state, "saturated");
        assert_eq!(s.view(at).phase, Phase::Running, "the phase is unchanged");
        s.apply(round(false));
        assert_eq!(s.view(at).state, "running");
        // Past the run, the phase: the verdict tells the rest.
        s.apply(round(true));
        s.apply(Update::Phase(Phase::Verifying, String::new()));
        assert_eq!(s.view(at).state, "verifying");
        // `state` spells a phase as `phase` does.
        let phases = [
            Phase::Starting,
            Phase::Connecting,
            Phase::Running,
            Phase::Stopping,
            Phase::Verifying,
            Phase::Done,
        ];
        for phase in phases {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.name());
            assert!(STATES.contains(&phase.name()), "{}", phase.name());
        }
    }
}
