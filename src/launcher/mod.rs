//! startup: one command runs the whole system on a host, watches it, and
//! verifies it.
//!
//! * [`program`]: the `startup` program's options, usage and exit status.
//! * `config_source`: the run's config: a file or the built-in defaults,
//!   with the layout flags (`--clients`, `--servers`, `--interval`) on top.
//! * `preflight`: before anything starts, what the layout needs (open
//!   files, threads, local ports) against what this host allows, and the
//!   rate it asks against this machine's cached capacity.
//! * `capacity`: `--find-capacity`, the highest fixed rate this machine
//!   holds with the config's layout, cached per host; `--load 70%` runs
//!   at a share of it.
//! * `startup`: the run, phase by phase: plan, pre-flight, servers,
//!   clients, connect, run, stop, verify, report.
//! * `children`: startup's child processes, the proxy threads that talk to
//!   them, and the server launcher.
//! * `proxy`: the thread per child that speaks the control protocol over
//!   its pipes and turns what it hears into events for startup.
//! * `hosts`: many hosts on one config: waiting for the other hosts'
//!   servers, draining this host's before reading their final counts.
//! * `monitor`: what startup watches while the clients run.
//! * `status`: the once-a-second status line.
//! * `samples`: the soak CSV, one row per sample.
//! * `usage`: what each kind of process cost, from its samples.
//! * `report`: the run report, built in one place, judged PASS, FAIL or
//!   INCOMPLETE (`report::run_verdict`), written as text and JSON.
//! * `record`: the run's record, phase by phase and round by round, and
//!   its announcer; plain data that the report and the dashboard render.
//! * `dashboard`: the run in a browser: the live page, `/api/run`,
//!   `/metrics` for Prometheus (`prometheus.rs`; `--metrics` serves it
//!   alone), and the HTML report.

pub(crate) mod capacity;
pub(crate) mod children;
pub(crate) mod config_source;
pub(crate) mod dashboard;
pub(crate) mod hosts;
pub(crate) mod monitor;
pub(crate) mod preflight;
pub mod program;
pub(crate) mod proxy;
pub(crate) mod record;
pub(crate) mod report;
pub(crate) mod samples;
pub(crate) mod startup;
pub(crate) mod status;
pub(crate) mod usage;
