//! The servers phase: this host's servers start, and each must accept
//! before any client starts (clients that start early would only count
//! connection errors); then the other hosts' servers get their wait
//! (hosts.rs).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use super::Stage;
use super::plan::Plan;
use crate::error::{Error, Result};
use crate::launcher::children::{Fleet, ServerLauncher};
use crate::launcher::hosts;
use crate::launcher::proxy::{Event, Kind};
use crate::launcher::record::{Feed, Phase};

/// Starts this host's servers from `program` and waits until each
/// accepts, then for the other hosts' servers (those that do not answer
/// go in `stage.not_up_before`). Returns the launcher that restarts
/// servers that die, when the config asks for restarts.
///
/// # Errors
/// A server cannot start or listen, or Ctrl-C came first.
pub(super) fn start(
    plan: &Plan,
    program: Option<PathBuf>,
    stage: &mut Stage,
    feed: &mut Feed,
) -> Result<Option<ServerLauncher>> {
    let config = plan.config;
    let local_servers = &plan.local;
    let launcher = match (program, &stage.to_events) {
        (Some(program), Some(events)) => Some(ServerLauncher::new(
            program,
            plan.config_arg.clone(),
            local_servers.clone(),
            events.clone(),
        )),
        _ => None,
    };
    if let Some(launcher) = &launcher {
        let starting = format!("starting this host's {} servers", local_servers.len());
        feed.announce(Phase::Starting, starting);
        for index in 0..local_servers.len() {
            stage.fleet.add_server(launcher.spawn(index)?);
        }
        wait_for_servers(&mut stage.fleet, &stage.events, &stage.interrupts)?;
        if let Some(d) = &mut stage.dashboard {
            d.poll_servers(
                local_servers.clone(),
                config.ops_token.clone(),
                config.ops_timeout(),
            );
        }
    }
    stage.not_up_before = if plan.info.layout.clients > 0 {
        hosts::wait_for_other_servers(
            config,
            local_servers,
            plan.options.wait_servers,
            plan.options.watch.quiet,
            &stage.interrupts,
        )?
    } else {
        plan.all.clone()
    };
    Ok(launcher.filter(|_| config.server_restarts > 0))
}

/// Waits until each of this host's servers accepts, at most 15 s.
fn wait_for_servers(
    fleet: &mut Fleet,
    events: &Receiver<Event>,
    interrupts: &Receiver<()>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut ready = vec![false; fleet.servers.len()];
    while ready.iter().any(|r| !r) {
        select! {
            recv(events) -> event => match event {
                Ok(Event::ServerReady { index, .. }) => ready[index] = true,
                Ok(Event::Gone { kind: Kind::Server, index, .. }) => {
                    let server = &mut fleet.servers[index];
                    let status = server.reap(Duration::from_secs(2));
                    return Err(Error::msg(format!(
                        "{} could not start: it {status} (its own message is above)",
                        server.name
                    )));
                }
                Ok(_) => {}
                Err(_) => return Err(Error::msg("lost contact with the servers")),
            },
            recv(interrupts) -> _ => return Err(Error::msg("interrupted while starting servers")),
            recv(crossbeam_channel::at(deadline)) -> _ => {
                let waiting: Vec<&str> = fleet
                    .servers
                    .iter()
                    .zip(&ready)
                    .filter(|(_, r)| !**r)
                    .map(|(s, _)| s.name.as_str())
                    .collect();
                return Err(Error::msg(format!(
                    "servers not accepting after 15 s: {}",
                    waiting.join(", ")
                )));
            }
        }
    }
    Ok(())
}
