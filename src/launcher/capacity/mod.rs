//! What this machine holds: `startup --find-capacity` finds the highest
//! fixed rate the config's layout keeps on schedule here, and `startup
//! --load 70%` runs at a share of it. Without it every run picks its rate
//! blind, and a rate the machine cannot hold measures the machine, not the
//! servers (the verdict's saturation rule).
//!
//! The search: a closed-loop step (as fast as acks come back) gives the
//! ceiling; then fixed-rate steps bisect on `update_intervals` between the
//! ceiling's interval and a slow one (`search.rs`). Each step is a short
//! real run through startup's own phases (`step.rs`), judged with a margin
//! below the saturation rule: a step *holds* when its lateness p99 is at
//! most half the interval, it acked at least 99% of the target, and it had
//! no errors. The answer must hold twice. A time budget (2 minutes unless
//! `--budget`) bounds it all, start-up included.
//!
//! * `mod.rs`: `--find-capacity` ([`find`]), the search, and its record;
//! * `load.rs`: `--load` ([`sized`]): the cached capacity or a new one,
//!   and the run at a share of it;
//! * `search.rs`: the bisection's arithmetic, and the interval of a share;
//! * `step.rs`: one step, and the rule that judges it;
//! * `cache.rs`: the per-host cache and what a capacity was measured on;
//! * `text.rs`: the lines the search prints.

mod cache;
mod load;
mod search;
mod step;
mod text;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

pub(crate) use self::cache::Lookup;
use self::cache::MeasuredOn;
pub(crate) use self::load::sized;
use self::search::{Bisection, Next, interval_for_share, rate};
use self::step::{Runner, Step};
pub(crate) use self::text::{about, grouped};
use crate::cli;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::launcher::preflight;
use crate::launcher::startup::{self, Options};

/// The budget when `--budget` does not give one.
pub(crate) const DEFAULT_BUDGET: Duration = Duration::from_secs(120);

/// The search's result: the JSON `--find-capacity` writes, and what the
/// cache keeps per layout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Capacity {
    /// Updates/s at the answer's interval: `links x 1000 / interval_ms`
    /// (0 when nothing held).
    pub(crate) capacity_per_s: f64,
    /// The fastest interval that held, ms (0 when nothing held).
    pub(crate) interval_ms: u64,
    /// The links it was measured with.
    pub(crate) layout: LinkLayout,
    /// The machine and build it was measured on.
    pub(crate) measured_on: MeasuredOn,
    /// When, UTC.
    pub(crate) measured_utc: String,
    /// What "holds" meant for a step.
    pub(crate) rule: String,
    /// The config file whose layout was measured.
    pub(crate) config_path: String,
    /// Updates/s that config's own interval asks (0: closed loop).
    pub(crate) config_asks_per_s: f64,
    /// The search reached its answer; `false` when the budget or Ctrl-C
    /// ended it first (the answer is then the fastest interval that held).
    pub(crate) complete: bool,
    /// What ended it early, if anything.
    pub(crate) ended_early: Option<String>,
    /// The budget, seconds.
    pub(crate) budget_s: f64,
    /// Seconds from startup's start to the answer.
    pub(crate) wall_s: f64,
    /// Every step, in order: the closed-loop ceiling first.
    pub(crate) steps: Vec<Step>,
}

/// The links of a layout: this host's clients, each linked to every server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LinkLayout {
    /// Client processes.
    pub(crate) clients: u64,
    /// Servers in the config.
    pub(crate) servers: u64,
    /// clients x servers.
    pub(crate) links: u64,
}

impl LinkLayout {
    /// The layout `config` runs on one host.
    pub(crate) fn of(config: &Config) -> LinkLayout {
        let clients = u64::from(config.client_num_per_host);
        let servers = config.all_servers().len() as u64;
        LinkLayout {
            clients,
            servers,
            links: clients * servers,
        }
    }
}

impl std::fmt::Display for LinkLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} x {}", self.clients, self.servers)
    }
}

/// The search's time, from startup's own start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// When startup started.
    pub(crate) began: Instant,
    /// The most the search may take.
    pub(crate) limit: Duration,
}

impl Budget {
    /// Seconds of load per step: a twelfth of the budget, 2 to 5 s (long
    /// enough for a p99 over hundreds of updates a link, short enough for
    /// a dozen steps).
    fn window(&self) -> Duration {
        (self.limit / 12).clamp(Duration::from_secs(2), Duration::from_secs(5))
    }

    /// Whether a step of about `wall` still ends within the budget.
    fn fits(&self, wall: Duration) -> bool {
        self.began.elapsed() + wall <= self.limit
    }
}

/// What the cache holds for `config`'s layout on this machine.
pub(crate) fn cached(config: &Config) -> Lookup {
    let here = MeasuredOn::here();
    match cache::path(&here.host) {
        Some(file) => cache::lookup(&file, &LinkLayout::of(config), &here),
        None => Lookup::Empty,
    }
}

/// `--load 70%` (or `0.7`): the share, from more than 0 to 1.
///
/// # Errors
/// Not a number, or not above 0% and at most 100%; the message says why.
pub(crate) fn parse_share(text: &str) -> std::result::Result<f64, String> {
    let t = text.trim();
    let share = match t.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().ok().map(|p| p / 100.0),
        None => t.parse::<f64>().ok(),
    };
    match share {
        Some(s) if s > 0.0 && s <= 1.0 => Ok(s),
        Some(s) if s > 1.0 => Err(format!(
            "--load {text} is more than the machine holds: a run above 100% of its capacity \
             is saturated by definition; use a share up to 100%, such as --load 70% \
             (to find where it breaks, --find-capacity)"
        )),
        _ => Err(format!(
            "--load {text:?} is not a share; use a percentage above 0 and at most 100, such \
             as --load 70%"
        )),
    }
}

/// `--find-capacity`: measures, prints a line per step and the sentence,
/// writes the JSON to `report` (default `capacity.json`), and caches the
/// answer. Returns whether a rate held.
///
/// # Errors
/// The config is not one this host can measure alone, or a step could not
/// start; the JSON cannot be written.
pub(crate) fn find(base: &Options, budget: Budget, report: Option<PathBuf>) -> Result<bool> {
    let c = measure(base, budget)?;
    cli::say(&text::sentence(&c));
    let path = report.unwrap_or_else(|| PathBuf::from("capacity.json"));
    let json = serde_json::to_string_pretty(&c).unwrap_or_default() + "\n";
    std::fs::write(&path, json)
        .map_err(|e| Error::msg(format!("cannot write {}: {e}", path.display())))?;
    let cached = remember(&c);
    cli::say(&format!("capacity: written to {}{cached}", path.display()));
    Ok(c.capacity_per_s > 0.0)
}

/// Caches a capacity that was found; what to add to the line that says
/// where it went.
fn remember(c: &Capacity) -> String {
    if c.capacity_per_s <= 0.0 {
        return String::new();
    }
    if startup::interrupted() {
        return " (not cached: the search was interrupted)".into();
    }
    let Some(file) = cache::path(&c.measured_on.host) else {
        return format!(" (no cache folder: set {} to keep it)", cache::DIR_VAR);
    };
    match cache::store(&file, c) {
        Ok(()) => format!(", cached in {}", file.display()),
        Err(e) => format!(" ({e})"),
    }
}

/// The config file as JSON, to write the steps' copies from.
fn config_json(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::msg(format!("cannot read {}: {e}", path.display())))?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(Error::msg(format!(
            "{} is not a JSON object",
            path.display()
        ))),
    }
}

/// What the search needs of the config: one host, which runs both the
/// servers and the clients.
fn check_alone(base: &Options) -> Result<Vec<std::net::SocketAddr>> {
    let config = &*base.watch.config;
    let local = config.host_servers(base.host)?;
    if config.server_ip_list.len() != 1 || local.is_empty() || config.client_num_per_host == 0 {
        return Err(Error::msg(
            "the capacity search measures one host running both the servers and the clients: \
             give it a config whose server_ip_list is this host alone, with \
             client_num_per_host above 0",
        ));
    }
    Ok(local)
}

/// Runs the bisection's steps after the ceiling's, each a line, until it
/// answers; or says what ended it first (Ctrl-C, or the budget, which a
/// step as long as the longest so far would overrun).
fn bisect(
    runner: &Runner,
    budget: Budget,
    search: &mut Bisection,
    steps: &mut Vec<Step>,
) -> Result<Option<String>> {
    while let Next::Try(interval) = search.next() {
        if startup::interrupted() {
            return Ok(Some("interrupted (Ctrl-C)".to_string()));
        }
        let longest = steps.iter().map(|s| s.wall_s).fold(0.0, f64::max);
        if !budget.fits(Duration::from_secs_f64(longest)) {
            return Ok(Some(format!("the {} s budget", budget.limit.as_secs())));
        }
        let mut step = runner.run(Some(interval))?;
        if startup::interrupted() {
            // Cut short: its figures cover part of a window, so it says nothing.
            step.holds = None;
            step.why_not = Some("cut short by Ctrl-C".into());
            cli::say(&text::step_line(steps.len() + 1, &step));
            steps.push(step);
            return Ok(Some("interrupted (Ctrl-C)".to_string()));
        }
        cli::say(&text::step_line(steps.len() + 1, &step));
        search.record(interval, step.holds == Some(true));
        steps.push(step);
    }
    Ok(None)
}

/// The search: the closed-loop ceiling, then the bisection, each step a
/// line, within `budget`.
fn measure(base: &Options, budget: Budget) -> Result<Capacity> {
    let local = check_alone(base)?;
    let config = &*base.watch.config;
    let runner = Runner {
        base,
        json: config_json(&base.config_path)?,
        window: budget.window(),
    };
    // A step is its window, plus its start and stop: 0.7-1.1 s at 100 x 3
    // on the 2-vCPU machine; 3 s allowed until a step has been timed.
    let first = Duration::from_secs(3) + runner.window;
    if !budget.fits(first * 2) {
        return Err(Error::msg(format!(
            "--budget {} s is too short: each step takes about {} s with start and stop; give \
             at least {} s",
            budget.limit.as_secs(),
            first.as_secs(),
            (first * 4).as_secs()
        )));
    }
    // Once, before the first step: the steps skip it (and its lines).
    preflight::check(config, &local, false)?;
    let layout = LinkLayout::of(config);
    // The slowest interval asked: ten updates a link in a step, and within
    // the servers' idle timeout (which closes a link idle for it).
    let window_ms = runner.window.as_millis() as u64;
    let slowest = (window_ms / 10).min(config.idle_timeout_ms.saturating_sub(1) / 2);
    cli::say(&text::header(&layout, budget.limit, runner.window));
    let probe = runner.run(None)?;
    cli::say(&text::step_line(1, &probe));
    let ceiling = interval_for_share(layout.links, probe.achieved_per_s, 1.0);
    let mut steps = vec![probe];
    if ceiling == u64::MAX {
        return Err(Error::msg(
            "the closed-loop step acked nothing, so there is no ceiling to search below; run \
             `startup --duration 10s` on this config to see why",
        ));
    }
    let mut search = Bisection::below(ceiling, slowest);
    let ended_early = bisect(&runner, budget, &mut search, &mut steps)?;
    let found = match search.next() {
        Next::Found(interval) => Some(interval),
        _ => search.best(),
    };
    let interval = found.unwrap_or(0);
    Ok(Capacity {
        capacity_per_s: found.map_or(0.0, |i| rate(layout.links, i)),
        interval_ms: interval,
        layout,
        measured_on: MeasuredOn::here(),
        measured_utc: crate::utc::iso8601(SystemTime::now(), false),
        rule: text::RULE.to_string(),
        config_path: base.config_shown.clone(),
        config_asks_per_s: layout.links as f64 * config.per_link_rate(),
        complete: ended_early.is_none(),
        ended_early,
        budget_s: budget.limit.as_secs_f64(),
        wall_s: budget.began.elapsed().as_secs_f64(),
        steps,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A capacity measured with 100 x 10 links on a made-up machine.
    pub(crate) fn capacity_of(per_s: f64) -> Capacity {
        Capacity {
            capacity_per_s: per_s,
            interval_ms: 24,
            layout: LinkLayout {
                clients: 100,
                servers: 10,
                links: 1_000,
            },
            measured_on: MeasuredOn {
                host: "box".into(),
                cpu_model: "Test CPU @ 2.0GHz".into(),
                cpus: 2,
                kernel: "6.1.0".into(),
                commit: "abc123".into(),
            },
            measured_utc: "2026-12-07T06:00:00Z".into(),
            rule: text::RULE.into(),
            config_path: "config.json".into(),
            config_asks_per_s: 100_000.0,
            complete: true,
            ended_early: None,
            budget_s: 120.0,
            wall_s: 90.0,
            steps: Vec::new(),
        }
    }

    #[test]
    fn a_share_is_a_percentage_up_to_100() {
        assert_eq!(parse_share("70%"), Ok(0.7));
        assert_eq!(parse_share("100%"), Ok(1.0));
        assert_eq!(parse_share("0.5"), Ok(0.5));
        let e = parse_share("170%").unwrap_err();
        assert!(
            e.contains("more than the machine holds") && e.contains("--load 70%"),
            "{e}"
        );
        for bad in ["0%", "-5%", "lots", "%"] {
            let e = parse_share(bad).unwrap_err();
            assert!(e.contains("is not a share"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_cache_reuses_a_match_and_names_the_field_that_differs() {
        let dir = std::env::temp_dir().join(format!("mc-capacity-cache-{}", std::process::id()));
        let file = dir.join("capacity-box.json");
        let known = capacity_of(41_000.0);
        let (layout, here) = (known.layout, known.measured_on.clone());
        assert!(matches!(
            cache::lookup(&file, &layout, &here),
            Lookup::Empty
        ));
        cache::store(&file, &known).unwrap();
        let Lookup::Reuse(c) = cache::lookup(&file, &layout, &here) else {
            panic!("a match is reused");
        };
        assert_eq!(c.capacity_per_s, 41_000.0);
        let other = MeasuredOn {
            cpu_model: "Other CPU".into(),
            ..here.clone()
        };
        let Lookup::Stale(why) = cache::lookup(&file, &layout, &other) else {
            panic!("another CPU is not reused");
        };
        assert_eq!(
            why,
            "CPU model differs: measured with \"Test CPU @ 2.0GHz\", now \"Other CPU\""
        );
        let newer = MeasuredOn {
            commit: "def456".into(),
            ..here.clone()
        };
        let Lookup::Stale(why) = cache::lookup(&file, &layout, &newer) else {
            panic!("another build is not reused");
        };
        assert!(why.starts_with("commit differs"), "{why}");
        let small = LinkLayout {
            clients: 2,
            servers: 1,
            links: 2,
        };
        let Lookup::Stale(why) = cache::lookup(&file, &small, &here) else {
            panic!("another layout is not reused");
        };
        assert_eq!(
            why,
            "layout differs: measured with \"100 x 10\", now \"2 x 1\""
        );
        // Each layout keeps its own entry; storing again replaces it.
        let mut two = capacity_of(900.0);
        two.layout = small;
        cache::store(&file, &two).unwrap();
        cache::store(&file, &capacity_of(40_000.0)).unwrap();
        let Lookup::Reuse(c) = cache::lookup(&file, &layout, &here) else {
            panic!("still reused");
        };
        assert_eq!(c.capacity_per_s, 40_000.0);
        assert!(matches!(
            cache::lookup(&file, &small, &here),
            Lookup::Reuse(_)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
