//! The servers and clients phases: this host's children start here.
//!
//! Servers first, and each must accept before any client starts: clients
//! that start early would only count connection errors. Then the other
//! hosts' servers get their wait (hosts.rs), and the clients are spawned,
//! one process each, with a progress line each second for a big fleet.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use super::Stage;
use super::plan::Plan;
use crate::error::{Error, Result};
use crate::launcher::children::{self, Fleet, ServerLauncher};
use crate::launcher::dashboard::Dashboard;
use crate::launcher::hosts;
use crate::launcher::proxy::{Event, Kind};
use crate::launcher::record::{Feed, Phase};

/// The servers phase: starts this host's servers from `program` and waits
/// until each accepts, then for the other hosts' servers. Returns the
/// launcher (which restarts servers that die) and the other hosts' servers
/// that did not answer before the clients start.
///
/// # Errors
/// A server cannot start or listen, or Ctrl-C came first.
pub(super) fn servers(
    plan: &Plan,
    program: Option<PathBuf>,
    stage: &mut Stage,
    feed: &mut Feed,
    dashboard: Option<&mut Dashboard>,
) -> Result<(Option<ServerLauncher>, Vec<SocketAddr>)> {
    let config = &plan.config;
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
        feed.announce(
            Phase::Starting,
            format!("starting this host's {} servers", local_servers.len()),
        );
        for index in 0..local_servers.len() {
            stage.fleet.add_server(launcher.spawn(index)?);
        }
        wait_for_servers(&mut stage.fleet, &stage.events, &stage.interrupts)?;
        if let Some(d) = dashboard {
            d.poll_servers(
                local_servers.clone(),
                config.ops_token.clone(),
                hosts::timeout(config),
            );
        }
    }
    // The other hosts' servers that did not answer before the clients
    // start (none of them, when this host runs no client).
    let not_up_before = if plan.clients > 0 {
        hosts::wait_for_other_servers(
            config,
            local_servers,
            plan.wait_servers,
            plan.quiet,
            &stage.interrupts,
        )?
    } else {
        plan.all.clone()
    };
    Ok((launcher, not_up_before))
}

/// The clients phase: spawns this host's clients from `program`, each
/// told its id and the fleet's size. Returns when the first was spawned:
/// the run's clock until the go.
///
/// # Errors
/// The OS refused a process.
pub(super) fn clients(
    plan: &Plan,
    program: Option<PathBuf>,
    stage: &mut Stage,
    feed: &mut Feed,
) -> Result<Instant> {
    let clients = plan.clients;
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
            if !plan.quiet && said.elapsed() >= Duration::from_secs(1) {
                said = Instant::now();
                eprintln!("startup: spawned {}/{clients} clients", index + 1);
            }
        }
    }
    log::info!("{clients} clients started");
    Ok(started)
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
