//! The clients phase: this host's clients start, one process each, as
//! the seed did, each told its id and the fleet's size; a big fleet gets
//! a progress line each second.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Stage;
use super::plan::Plan;
use crate::error::Result;
use crate::launcher::children;
use crate::launcher::record::{Feed, Phase};

/// The clients phase: spawns this host's clients from `program`, each
/// told its id and the fleet's size. Returns when the first was spawned:
/// the run's clock until the go.
///
/// # Errors
/// The OS refused a process.
pub(super) fn spawn(
    plan: &Plan,
    program: Option<PathBuf>,
    stage: &mut Stage,
    feed: &mut Feed,
) -> Result<Instant> {
    let clients = plan.info.layout.clients as usize;
    feed.announce(Phase::Connecting, format!("starting {clients} clients"));
    let started = Instant::now();
    // Dropped once all are spawned: the channel then ends with the proxies.
    let events = stage.to_events.take();
    if let (Some(program), Some(events)) = (program, events) {
        let mut said = started;
        for index in 0..clients {
            let args = vec![
                "--config".into(),
                plan.config_arg.clone(),
                "--id".into(),
                index.to_string(),
                "--clients".into(),
                clients.to_string(),
                "--supervised".into(),
            ];
            let child = children::spawn_client(&program, &args, index, events.clone())?;
            stage.fleet.add_client(child);
            if !plan.options.watch.quiet && said.elapsed() >= Duration::from_secs(1) {
                said = Instant::now();
                eprintln!("startup: spawned {}/{clients} clients", index + 1);
            }
        }
    }
    log::info!("{clients} clients started");
    Ok(started)
}
