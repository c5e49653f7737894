//! The `startup` program: its options and usage, and its exit status.
//! `src/bin/startup.rs` only calls [`main`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::capacity::{self, Budget};
use super::config_source::{ConfigFlags, Loaded};
use super::report::Thresholds;
use super::startup::{self, Options};
use super::{dashboard, monitor};
use crate::cli::{self, Args};
use crate::logging::{self, Process};
use crate::{Error, Result};

const USAGE: &str = "\
startup: run the whole mass_connect system on this host, then verify it

USAGE:
    startup [-f PATH] [-c CLIENTS] [-s SERVERS] [-i INTERVAL] [--schedule S]
            [--connect-rate N] [-d 30s|10m|1h30m] [-o PATH] [-q] [--host IP]
            [--wait-servers D] [--connect-deadline D] [--drain-timeout D]
            [--min-rate R] [--max-p99 D] [--max-late-p99 D]
            [--dashboard [ADDR]] [--metrics ADDR] [--html-report PATH]
            [--load 70% [--budget D]]
    startup --find-capacity [-f PATH] [-c N] [-s N] [--budget 2m] [-o PATH]

EXAMPLE:
    startup -c 100 -s 3 -i 10ms -d 30s
                      100 clients x 3 servers for 30 s, no config.json needed

OPTIONS:
    -f, --config PATH config file [default: ./config.json; when there is none,
                      the built-in defaults, as docs/CONFIG.md lists them]
    -c, --clients N   client processes on this host (client_num_per_host)
    -s, --servers N   server ports on each server host, counting up from the
                      config's first port (server_port_list)
    -i, --interval D  time between two updates of one link, whole ms: 10ms,
                      1s (update_intervals)
        --schedule S  fixed-rate, fixed-delay or closed-loop (schedule)
        --connect-rate N
                      first connects per second over this host's links, at a
                      steady pace [default: all at once] (connect_rate)
                      These five win over the config file's keys; the report's
                      config line names the flags that set any.
    -d, --duration D  stop after D (30s, 10m, 1h30m) [default: run until Ctrl-C]
    -o, --report PATH also write the report as JSON to PATH
    --host IP         act as the host with this address [default: the entry of
                      server_ip_list that belongs to this host, if any]
    --wait-servers D  before starting clients, wait up to D for the servers of
                      the other hosts in the config to answer; 0 not at all
                      [default: 60s]
    --connect-deadline D
                      from the first client's spawn, how long links get to
                      connect; then the run starts and the links still down
                      are named with why (refused, timed out, unreachable)
                      [default: 10s, plus the ramp's length with
                      --connect-rate]
    --min-rate R      FAIL if achieved/target is below R: a ratio (0.99) or a
                      percentage (99%)
    --max-p99 D       FAIL if the run's latency p99 is above D (e.g. 10ms)
    --max-late-p99 D  FAIL if the run's lateness p99 is above D (e.g. 10ms)
    --drain-timeout D after this host's clients stop, keep its servers up until
                      no other host's client is linked to them, at most D, then
                      read their final counts; 0 not at all [default: 60s]
    --samples PATH    append one CSV row per sample to PATH (for soak runs)
    --sample-every D  how often a row is written [default: 60s]
    --rss-baseline D  when each process's memory is taken as the baseline of the
                      report's memory-growth (leak) figure [default: 2m, or a
                      fifth of --duration if that is shorter]
    --dashboard [ADDR]
                      serve a live page of the run (and its figures as JSON at
                      /api/run, for Prometheus at /metrics) on ADDR [default:
                      127.0.0.1:28080; 127.0.0.1:0 takes any free port]; the
                      URL is printed at the start. Outside loopback the
                      config's ops_token is required, and every request must
                      carry it (docs/DASHBOARD.md: \"The dashboard\")
    --metrics ADDR    serve the run's figures for Prometheus at /metrics on
                      ADDR, without the page; the same ops_token rule applies
                      (docs/DASHBOARD.md: \"Prometheus\")
    --html-report PATH
                      at the end, write the run as one HTML file: its charts,
                      the report's tables and the verdict; opens offline
    -q, --quiet       no live status line
    --find-capacity   find the highest fixed rate this machine holds with the
                      config's layout (its clients x servers, on this host
                      alone): a closed-loop step for the ceiling, then short
                      fixed-rate steps bisecting update_intervals; a line per
                      step, then the capacity beside what the config asks.
                      Writes JSON to --report PATH [default: capacity.json]
                      and caches it per host (docs/CAPACITY.md)
    --budget D        how long the capacity search may take, start-up
                      included; it stops early within it and says so
                      [default: 2m]
    --load SHARE      run at SHARE (70%, or 0.7; at most 100%) of this
                      machine's capacity: the cached one when it was measured
                      on this CPU, kernel, layout and build, else measured
                      first; sets update_intervals (whole ms, rounded up)
    -h, --help        this text
    -V, --version     startup's version

Every duration takes a unit (ms, s, m, h; parts add up: 1h30m): a bare
number is refused, since 10 could mean seconds or milliseconds.

startup runs a server on every port of this host's entry in server_ip_list and
client_num_per_host client processes, all found next to startup itself. At the
end it stops the clients, compares what each acked with every server's own
counts, stops the servers and prints the report.

On many hosts, run startup with the same config on every host and merge the
reports with `omclient verify --reports a.json b.json ...`
(docs/DEPLOY.md: \"Many hosts\").

The report opens with PASS, FAIL and every reason, or INCOMPLETE (below).
A run FAILs when verification fails, a child dies, a configured server was
never reached or is down at the end, no update was acked, fewer links than
planned were up for over a tenth of the window, the clients could not keep
their schedule (lateness p99 above one interval: the generator was
saturated; the status line says SATURATED as soon as the run so far is),
ticks were dropped for falling more than max_lag_ms behind, a threshold
above was breached, or an operations `stop` ended a server during the run
(docs/REPORT.md: \"The verdict\").

A run with --duration that Ctrl-C or SIGTERM stops early is INCOMPLETE: its
report opens with `INCOMPLETE: stopped at 2.8 s of 30 s`, unless a rule also
failed, which makes it a FAIL that says it was cut short. Without --duration,
Ctrl-C is how a run ends, and the verdict is PASS or FAIL.

EXIT STATUS:
    0  PASS (--find-capacity: a rate held)
    1  FAIL (--find-capacity: no rate held)
    2  cannot start: bad config or usage, missing program, OS limits too low,
       or setup failure
    3  INCOMPLETE: stopped early by Ctrl-C or SIGTERM (with --duration)";

/// The leak check's default baseline: two minutes in, when a seed-scale
/// run has long finished starting up.
const DEFAULT_BASELINE: Duration = Duration::from_secs(120);

/// The `startup` program: runs, reports, and exits with its status.
pub fn main() {
    let result = run();
    let code = cli::exit_on_error("startup", result);
    log::info!("startup exits with status {code}");
    logging::finish();
    std::process::exit(code);
}

/// The run, then its exit status (`run_verdict::exit_code`).
fn run() -> Result<i32> {
    // The capacity search's budget counts from here: start-up included.
    let began = Instant::now();
    let mut args = Args::from_env("startup", USAGE).with_short(SHORT);
    // Every flag is read and checked before the config: a mistyped option
    // is the first thing said, not hidden behind a missing config.json.
    let config_flags = ConfigFlags::take(&mut args)?;
    let given = parse_options(&mut args)?;
    let ask = capacity_ask(&mut args, &given, began)?;
    let report_path = args.value("--report")?.map(PathBuf::from);
    let html_report = args.value("--html-report")?.map(PathBuf::from);
    if matches!(ask, Ask::Find(_)) && html_report.is_some() {
        return Err(args.error("--html-report does not apply to --find-capacity"));
    }
    args.finish()?;
    let loaded = config_flags.load()?;
    let options = given.with_config(&loaded);

    if let Some(file) = logging::init(&options.watch.config, Process::Startup)? {
        // The run's folder: startup.log and every child's file.
        let folder = file.parent().unwrap_or(&file);
        eprintln!("startup: this run logs to {}", folder.display());
    }
    let sized;
    let options = match ask {
        Ask::Find(budget) => {
            let held = capacity::find(&options, budget, report_path)?;
            return Ok(if held { 0 } else { 1 });
        }
        Ask::Load(share, budget) => {
            sized = capacity::sized(&options, share, budget)?;
            &sized.options
        }
        Ask::Plain => &options,
    };
    let startup::Finished { report, view } = startup::run(options)?;
    log::info!("the run's report:\n{}", report.to_text());
    cli::say(&report.to_text());
    if let Some(path) = report_path {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        std::fs::write(&path, json + "\n")
            .map_err(|e| Error::msg(format!("cannot write report {}: {e}", path.display())))?;
    }
    if let Some(path) = html_report {
        dashboard::write_html_report(&path, &view)?;
    }
    log::info!("{}", report.verdict_line());
    Ok(report.exit_code())
}

/// Short names of the options a run uses most, as wrk, k6 and tcpkali
/// spell them.
const SHORT: &[(&str, &str)] = &[
    ("-f", "--config"),
    ("-d", "--duration"),
    ("-c", "--clients"),
    ("-s", "--servers"),
    ("-i", "--interval"),
    ("-q", "--quiet"),
    ("-o", "--report"),
];

/// What the command line asks of the run, before the config is read.
struct Given {
    duration: Option<Duration>,
    quiet: bool,
    samples: Option<PathBuf>,
    sample_every: Duration,
    rss_baseline: Duration,
    host: Option<std::net::IpAddr>,
    wait_servers: Duration,
    drain_timeout: Duration,
    connect_deadline: Duration,
    thresholds: Thresholds,
    dashboard: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
}

impl Given {
    /// The run's options, on the config `loaded`.
    fn with_config(self, loaded: &Loaded) -> Options {
        Options {
            config_path: loaded.path.clone(),
            config_shown: loaded.source.describe(),
            watch: monitor::Settings {
                config: Arc::new(loaded.config.clone()),
                duration: self.duration,
                quiet: self.quiet,
                samples: self.samples,
                sample_every: self.sample_every,
                rss_baseline: self.rss_baseline,
            },
            host: self.host,
            wait_servers: self.wait_servers,
            drain_timeout: self.drain_timeout,
            connect_deadline: self.connect_deadline,
            thresholds: self.thresholds,
            dashboard: self.dashboard,
            metrics: self.metrics,
            capacity_step: false,
        }
    }
}

/// What the command line asks of the run (all but the config and the
/// report files).
fn parse_options(args: &mut Args) -> Result<Given> {
    let duration = args.duration("--duration")?;
    let host = match args.value("--host")? {
        Some(text) => Some(
            text.parse()
                .map_err(|_| args.error(&format!("--host {text:?} is not an IP address")))?,
        ),
        None => None,
    };
    let sample_every = args
        .duration("--sample-every")?
        .unwrap_or(Duration::from_secs(60));
    if sample_every < Duration::from_secs(1) {
        return Err(args.error("--sample-every must be at least 1s"));
    }
    let dashboard = dashboard_addr(args)?;
    let metrics = match args.value("--metrics")? {
        Some(text) => {
            Some(cli::server_address(&text).map_err(|e| args.error(&format!("--metrics: {e}")))?)
        }
        None => None,
    };
    // Two listeners cannot share a port; the page's serves /metrics too.
    if let (Some(d), Some(m)) = (dashboard, metrics) {
        if d == m && d.port() != 0 {
            return Err(args.error(&format!(
                "--dashboard and --metrics both ask for {d}: give --metrics another \
                 address, or drop it (the dashboard serves /metrics as well)"
            )));
        }
    }
    let rss_baseline = match args.duration("--rss-baseline")? {
        Some(d) => d,
        None => duration.map_or(DEFAULT_BASELINE, |d| (d / 5).min(DEFAULT_BASELINE)),
    };
    Ok(Given {
        duration,
        quiet: args.flag("--quiet"),
        samples: args.value("--samples")?.map(PathBuf::from),
        sample_every,
        rss_baseline,
        host,
        wait_servers: wait(args, "--wait-servers")?,
        drain_timeout: wait(args, "--drain-timeout")?,
        connect_deadline: args
            .duration("--connect-deadline")?
            .unwrap_or(Duration::from_secs(10)),
        thresholds: thresholds(args)?,
        dashboard,
        metrics,
    })
}

/// What the command line asks of the capacity (`launcher::capacity`).
enum Ask {
    /// A run as the config says.
    Plain,
    /// `--find-capacity`: measure, within the budget.
    Find(Budget),
    /// `--load SHARE`: run at a share of the capacity (measured within the
    /// budget when none is cached).
    Load(f64, Budget),
}

/// `--find-capacity`, `--load` and `--budget`, and what they exclude.
fn capacity_ask(args: &mut Args, given: &Given, began: Instant) -> Result<Ask> {
    let find = args.flag("--find-capacity");
    let load = args.value("--load")?;
    let limit = args.duration("--budget")?;
    if find && load.is_some() {
        return Err(args.error(
            "--load runs at a share of the capacity and --find-capacity only measures it; \
             give one of them",
        ));
    }
    if limit.is_some() && !find && load.is_none() {
        return Err(args
            .error("--budget bounds the capacity search: give it with --find-capacity or --load"));
    }
    let budget = Budget {
        began,
        limit: limit.unwrap_or(capacity::DEFAULT_BUDGET),
    };
    if find {
        let excluded = [
            (given.duration.is_some(), "--duration"),
            (given.samples.is_some(), "--samples"),
            (given.dashboard.is_some(), "--dashboard"),
            (given.metrics.is_some(), "--metrics"),
            (
                given.thresholds != Thresholds::default(),
                "--min-rate, --max-p99 and --max-late-p99",
            ),
        ];
        if let Some((_, name)) = excluded.iter().find(|(given, _)| *given) {
            return Err(args.error(&format!(
                "{name} does not apply to --find-capacity, which runs its own short steps \
                 (--budget bounds them)"
            )));
        }
        return Ok(Ask::Find(budget));
    }
    match load {
        Some(text) => {
            let share = capacity::parse_share(&text).map_err(|e| args.error(&e))?;
            Ok(Ask::Load(share, budget))
        }
        None => Ok(Ask::Plain),
    }
}

/// `--dashboard [ADDR]`: where to serve the dashboard, if anywhere.
fn dashboard_addr(args: &mut Args) -> Result<Option<SocketAddr>> {
    let Some(text) = args.optional_value("--dashboard") else {
        return Ok(None);
    };
    let text = text.unwrap_or_else(|| dashboard::DEFAULT_ADDR.to_string());
    let addr = cli::server_address(&text).map_err(|e| args.error(&format!("--dashboard: {e}")))?;
    Ok(Some(addr))
}

/// `--min-rate`, `--max-p99` and `--max-late-p99`.
fn thresholds(args: &mut Args) -> Result<Thresholds> {
    let min_rate = match args.value("--min-rate")? {
        Some(text) => Some(min_rate(&text).map_err(|e| args.error(&format!("--min-rate {e}")))?),
        None => None,
    };
    Ok(Thresholds {
        min_rate,
        max_p99_us: args.duration("--max-p99")?.map(Thresholds::micros),
        max_late_p99_us: args.duration("--max-late-p99")?.map(Thresholds::micros),
    })
}

/// `--min-rate`'s value as a ratio of the target: `0.99` or `99%`.
fn min_rate(text: &str) -> std::result::Result<f64, String> {
    let (number, scale) = match text.trim().strip_suffix('%') {
        Some(percent) => (percent, 100.0),
        None => (text.trim(), 1.0),
    };
    let ratio = number.trim().parse::<f64>().ok().map(|n| n / scale);
    match ratio {
        Some(r) if r.is_finite() && r > 0.0 && r <= 1.0 => Ok(r),
        Some(r) if r.is_finite() && r > 1.0 && scale == 1.0 => Err(format!(
            "{text:?} is above 1: give the share of the target rate as a ratio (0.99) \
             or a percentage (99%)"
        )),
        _ => Err(format!(
            "{text:?} is not a share of the target rate; give a ratio above 0 and at most 1 \
             (0.99) or a percentage above 0 and at most 100 (99%)"
        )),
    }
}

/// A waiting time that may also be 0 (do not wait), unlike `--duration`.
fn wait(args: &mut Args, name: &str) -> Result<Duration> {
    let Some(text) = args.value(name)? else {
        return Ok(Duration::from_secs(60));
    };
    if matches!(text.trim(), "0" | "0s" | "0ms") {
        return Ok(Duration::ZERO);
    }
    cli::parse_duration(&text).map_err(|e| args.error(&format!("{name} {e} (or 0: do not wait)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_rate_is_a_ratio_or_a_percentage() {
        assert_eq!(min_rate("0.99"), Ok(0.99));
        assert_eq!(min_rate("99%"), Ok(0.99));
        assert_eq!(min_rate("100%"), Ok(1.0));
        assert_eq!(min_rate("1"), Ok(1.0));
        let e = min_rate("1.5").unwrap_err();
        assert!(e.contains("above 1") && e.contains("99%"), "{e}");
        for bad in ["150%", "0", "-0.5", "0%", "soon", "NaN", "inf"] {
            let e = min_rate(bad).unwrap_err();
            assert!(
                e.contains("is not a share of the target rate"),
                "{bad}: {e}"
            );
        }
    }
}
