//! `startup`: run the whole system on this host. See `startup --help`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mass_connect::cli::{self, Args};
use mass_connect::startup::{self, Options};
use mass_connect::{Error, Result};

const USAGE: &str = "\
startup: run the whole mass_connect system on this host, then verify it

USAGE:
    startup [--config PATH] [--duration 30s|10m|3h] [--report PATH] [--quiet]

OPTIONS:
    --config PATH     config file [default: ./config.json]
    --duration D      stop after D (30s, 10m, 3h) [default: run until Ctrl-C]
    --report PATH     also write the report as JSON to PATH
    --host IP         act as the host with this address [default: the entry of
                      server_ip_list that belongs to this host, if any]
    --samples PATH    append one CSV row per sample to PATH (for soak runs)
    --sample-every D  how often a row is written [default: 60s]
    --rss-baseline D  when each process's memory is taken as the baseline of the
                      report's memory-growth (leak) figure [default: 2m, or a
                      fifth of --duration if that is shorter]
    --quiet           no live status line
    -h, --help        this text

startup runs a server on every port of this host's entry in server_ip_list and
client_num_per_host client processes, all found next to startup itself. At the
end it stops the clients, compares what each acked with every server's own
counts, stops the servers and prints the report.

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
