//! `startup`: run the whole system on this host. See `startup --help`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mass_connect::cli::{self, Args};
use mass_connect::launcher::startup::{self, Options};
use mass_connect::{Error, Result};

const USAGE: &str = "\
startup: run the whole mass_connect system on this host, then verify it

USAGE:
    startup [--config PATH] [--duration 30s|10m|3h] [--report PATH] [--quiet]
            [--host IP] [--wait-servers D] [--drain-timeout D]

OPTIONS:
    --config PATH     config file [default: ./config.json]
    --duration D      stop after D (30s, 10m, 3h) [default: run until Ctrl-C]
    --report PATH     also write the report as JSON to PATH
    --host IP         act as the host with this address [default: the entry of
                      server_ip_list that belongs to this host, if any]
    --wait-servers D  before starting clients, wait up to D for the servers of
                      the other hosts in the config to answer; 0 not at all
                      [default: 60s]
    --drain-timeout D after this host's clients stop, keep its servers up until
                      no other host's client is linked to them, at most D, then
                      read their final counts; 0 not at all [default: 60s]
    --samples PATH    append one CSV row per sample to PATH (for soak runs)
    --sample-every D  how often a row is written [default: 60s]
    --rss-baseline D  when each process's memory is taken as the baseline of the
                      report's memory-growth (leak) figure [default: 2m, or a
                      fifth of --duration if that is shorter]
    --quiet           no live status line
    -h, --help        this text
    -V, --version     startup's version

startup runs a server on every port of this host's entry in server_ip_list and
client_num_per_host client processes, all found next to startup itself. At the
end it stops the clients, compares what each acked with every server's own
counts, stops the servers and prints the report.

On many hosts, run startup with the same config on every host and merge the
reports with `omclient verify --reports a.json b.json ...` (README: \"Many
hosts\").

EXIT STATUS:
    0  every acked update verified and no child died
    1  verification failed, or a child died during the run
    2  bad config, missing program, or setup failure";

/// The leak check's default baseline: two minutes in, when a seed-scale
/// run has long finished starting up.
const DEFAULT_BASELINE: Duration = Duration::from_secs(120);

fn main() {
    let result = run();
    let ok = cli::exit_on_error("startup", result);
    std::process::exit(if ok { 0 } else { 1 });
}

fn run() -> Result<bool> {
    let mut args = Args::from_env("startup", USAGE);
    let (config_path, config) = args.config()?;
    let duration = args.duration("--duration")?;
    let report_path = args.value("--report")?.map(PathBuf::from);
    let host = match args.value("--host")? {
        Some(text) => Some(
            text.parse()
                .map_err(|_| args.error(&format!("--host {text:?} is not an IP address")))?,
        ),
        None => None,
    };
    let quiet = args.flag("--quiet");
    let samples = args.value("--samples")?.map(PathBuf::from);
    let sample_every = args
        .duration("--sample-every")?
        .unwrap_or(Duration::from_secs(60));
    if sample_every < Duration::from_secs(1) {
        return Err(args.error("--sample-every must be at least 1s"));
    }
    let rss_baseline = match args.duration("--rss-baseline")? {
        Some(d) => d,
        None => duration.map_or(DEFAULT_BASELINE, |d| (d / 5).min(DEFAULT_BASELINE)),
    };
    let wait_servers = wait(&mut args, "--wait-servers")?;
    let drain_timeout = wait(&mut args, "--drain-timeout")?;
    args.finish()?;

    mass_connect::logging::init(&config, "startup")?;
    let options = Options {
        config_path,
        config: Arc::new(config),
        duration,
        host,
        quiet,
        samples,
        sample_every,
        rss_baseline,
        wait_servers,
        drain_timeout,
    };
    let report = startup::run(&options)?;
    cli::say(&report.to_text());
    if let Some(path) = report_path {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        std::fs::write(&path, json + "\n")
            .map_err(|e| Error::msg(format!("cannot write report {}: {e}", path.display())))?;
    }
    Ok(report.verify.ok && report.children_died.is_empty())
}

/// A waiting time that may also be 0 (do not wait), unlike `--duration`.
fn wait(args: &mut Args, name: &str) -> Result<Duration> {
    let Some(text) = args.value(name)? else {
        return Ok(Duration::from_secs(60));
    };
    if matches!(text.trim(), "0" | "0s" | "0ms") {
        return Ok(Duration::ZERO);
    }
    cli::parse_duration(&text).ok_or_else(|| {
        args.error(&format!(
            "{name} {text:?} is not a duration; use 0, or a number with ms, s, m or h"
        ))
    })
}
