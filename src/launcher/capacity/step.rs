//! One step of the search: a short real run of the config's layout at one
//! schedule, through startup's own phases (`launcher::startup::run`),
//! quietly, and what its report says, judged against the search's rule.
//!
//! The children read their config from a file, so each step writes the
//! user's config file again with only the schedule and the interval
//! changed (the token and every other key as the user wrote them), and
//! removes it when the step is over.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::error::Result;
use crate::launcher::config_source::ConfigFile;
use crate::launcher::monitor;
use crate::launcher::report::{RunReport, Thresholds};
use crate::launcher::startup::{self, Options};

/// The share of the interval the lateness p99 may reach for a step to
/// hold: half the verdict's saturation rule (one whole interval), so a
/// run at the capacity has room for a noisier minute than the step saw.
pub(crate) const LATENESS_SHARE: f64 = 0.5;

/// The least achieved/target ratio for a step to hold, before the
/// allowance for the run's edges (see [`judge`]).
pub(crate) const MIN_RATIO: f64 = 0.99;

/// One run of the search, as the JSON lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Step {
    /// `closed-loop` (the ceiling) or `fixed-rate`.
    pub(crate) schedule: String,
    /// Milliseconds between two updates of a link (fixed rate; 0 for the
    /// closed loop).
    pub(crate) interval_ms: u64,
    /// Updates/s the schedule asked for (0 for the closed loop: as fast
    /// as acks come back).
    pub(crate) asked_per_s: f64,
    /// Acked updates/s over the step.
    pub(crate) achieved_per_s: f64,
    /// Due-to-send lateness p99, milliseconds.
    pub(crate) lateness_p99_ms: f64,
    /// Failed connects, broken links and error replies.
    pub(crate) errors: u64,
    /// All clients together, percent of one core (`processes.client`).
    pub(crate) cpu_clients_percent: f64,
    /// All servers together, percent of one core.
    pub(crate) cpu_servers_percent: f64,
    /// The run's verdict, `pass` or `fail`.
    pub(crate) verdict: String,
    /// Fixed rate: whether it held (the search's rule); `null` for the
    /// closed loop, which has no schedule to hold, and for a step Ctrl-C
    /// cut short, which says nothing.
    pub(crate) holds: Option<bool>,
    /// Why it did not hold, if it did not (or why it was not judged).
    pub(crate) why_not: Option<String>,
    /// Seconds of load.
    pub(crate) run_s: f64,
    /// Seconds from the step's start to its report: load, start and stop.
    pub(crate) wall_s: f64,
}

/// How a step runs: everything but the schedule comes from the user's
/// command line and config file.
pub(crate) struct Runner<'a> {
    /// The user's options (config, host, waits).
    pub(crate) base: &'a Options,
    /// The user's config file as JSON, to write each step's copy from.
    pub(crate) json: serde_json::Map<String, Value>,
    /// Seconds of load per step.
    pub(crate) window: Duration,
}

impl Runner<'_> {
    /// Runs one step: `interval` ms at a fixed rate, or the closed loop
    /// when `interval` is `None`.
    ///
    /// # Errors
    /// The step's config cannot be written, or the run could not start
    /// (the same setup errors as any startup run).
    pub(crate) fn run(&self, interval: Option<u64>) -> Result<Step> {
        let began = Instant::now();
        let mut json = self.json.clone();
        let schedule = if interval.is_some() {
            "fixed-rate"
        } else {
            "closed-loop"
        };
        json.insert("schedule".into(), schedule.into());
        if let Some(ms) = interval {
            json.insert("update_intervals".into(), ms.into());
        }
        let file = ConfigFile::write("step", &Value::Object(json))?;
        let options = self.options(&file.path, self.window)?;
        let report = startup::run(&options)?.report;
        Ok(step_of(&report, began.elapsed()))
    }

    /// A run's options: the user's, on the config at `path`, quiet, for
    /// `window`, as a search step.
    fn options(&self, path: &Path, window: Duration) -> Result<Options> {
        let base = self.base;
        Ok(Options {
            config_path: path.to_path_buf(),
            config_shown: base.config_shown.clone(),
            watch: monitor::Settings {
                config: Arc::new(Config::load(path)?),
                duration: Some(window),
                quiet: true,
                samples: None,
                sample_every: Duration::from_secs(60),
                rss_baseline: window / 5,
            },
            host: base.host,
            wait_servers: base.wait_servers,
            drain_timeout: base.drain_timeout,
            connect_deadline: base.connect_deadline,
            thresholds: Thresholds::default(),
            dashboard: None,
            metrics: None,
            capacity_step: true,
        })
    }
}

/// A step's line of the search from its run's report.
fn step_of(r: &RunReport, wall: Duration) -> Step {
    let paced = r.schedule != "closed-loop";
    let judged = paced.then(|| judge(r));
    Step {
        schedule: r.schedule.clone(),
        interval_ms: if paced { r.interval_ms } else { 0 },
        asked_per_s: r.target_ops_per_s,
        achieved_per_s: r.achieved_ops_per_s,
        lateness_p99_ms: r.lateness_us.p99 as f64 / 1000.0,
        errors: r.errors,
        cpu_clients_percent: r.processes.client.cpu_percent_total_avg,
        cpu_servers_percent: r.processes.server.cpu_percent_total_avg,
        verdict: r.verdict.clone(),
        holds: judged.as_ref().map(Result::is_ok),
        why_not: judged.and_then(Result::err),
        run_s: r.duration_s,
        wall_s: wall.as_secs_f64(),
    }
}

/// Whether a fixed-rate run held its schedule with the search's margin:
/// no errors; lateness p99 at most half the interval; at least 99% of the
/// target acked, less one interval's worth for the run's edges (a link's
/// last update may still be unacked when a few-second run stops, which at
/// 200 ms and 5 s is 4% of its updates); and otherwise a PASS.
pub(crate) fn judge(r: &RunReport) -> std::result::Result<(), String> {
    let interval_us = r.interval_ms as f64 * 1000.0;
    if r.errors > 0 {
        return Err(format!("{} errors", r.errors));
    }
    let late = r.lateness_us.p99 as f64;
    if late > interval_us * LATENESS_SHARE {
        return Err(format!(
            "lateness p99 {:.1} ms is above half the {} ms interval",
            late / 1000.0,
            r.interval_ms
        ));
    }
    let edges = if r.duration_s > 0.0 {
        interval_us / 1e6 / r.duration_s
    } else {
        0.0
    };
    if r.achieved_ratio < MIN_RATIO - edges {
        return Err(format!(
            "achieved {:.1}% of the target",
            r.achieved_ratio * 100.0
        ));
    }
    match r.verdict_reasons.first() {
        Some(reason) if r.verdict != "pass" => Err(reason.clone()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(interval_ms: u64, late_p99_us: u64, ratio: f64) -> RunReport {
        let mut r = RunReport {
            verdict: "pass".into(),
            schedule: "fixed-rate".into(),
            interval_ms,
            duration_s: 5.0,
            achieved_ratio: ratio,
            target_ops_per_s: 1_000.0,
            ..RunReport::default()
        };
        r.lateness_us.p99 = late_p99_us;
        r
    }

    #[test]
    fn a_step_holds_within_half_an_interval_and_the_full_rate() {
        assert_eq!(judge(&fixed(20, 10_000, 1.0)), Ok(()));
        let e = judge(&fixed(20, 10_001, 1.0)).unwrap_err();
        assert_eq!(e, "lateness p99 10.0 ms is above half the 20 ms interval");
        // 10 ms of a 5 s run is 0.2%: 98.9% is not enough, 98.8% fails.
        assert_eq!(judge(&fixed(10, 0, 0.989)), Ok(()));
        let e = judge(&fixed(10, 0, 0.987)).unwrap_err();
        assert_eq!(e, "achieved 98.7% of the target");
        // A slow interval's edge allowance: 200 ms of 5 s is 4%.
        assert_eq!(judge(&fixed(200, 0, 0.955)), Ok(()));
        let mut r = fixed(20, 0, 1.0);
        r.errors = 3;
        assert_eq!(judge(&r).unwrap_err(), "3 errors");
        r.errors = 0;
        r.verdict = "fail".into();
        r.verdict_reasons = vec!["server x did not answer at the end".into()];
        assert_eq!(judge(&r).unwrap_err(), "server x did not answer at the end");
    }

    #[test]
    fn the_closed_loop_is_a_ceiling_not_judged() {
        let mut r = fixed(10, 50_000, 0.0);
        r.schedule = "closed-loop".into();
        r.achieved_ops_per_s = 61_000.0;
        let s = step_of(&r, Duration::from_secs(7));
        assert_eq!((s.holds, s.why_not, s.interval_ms), (None, None, 0));
        assert_eq!(s.achieved_per_s, 61_000.0);
        let s = step_of(&fixed(10, 9_000, 1.0), Duration::from_secs(7));
        assert_eq!(s.holds, Some(false));
        assert_eq!(s.lateness_p99_ms, 9.0);
    }
}
