//! Pre-flight: before startup spawns anything, what this host's layout
//! needs against what the host allows.
//!
//! One thread and one socket per link on each end means a layout meets the
//! OS's limits (open files, tasks, local ports) long before it runs out of
//! CPU. Met while spawning, a limit costs a half-started fleet and a message
//! from deep inside one child; met here, it costs nothing, and the message
//! names the limit, the need, the current value and the command that raises
//! it. `startup::run` calls [`check`] once it knows this host's servers and
//! clients, before it looks for a program; an error there is exit status 2.
//!
//! What a layout needs, with N clients on this host, S servers in the config
//! (P of them here) and H hosts in `server_ip_list` (each runs N clients, so
//! a server here has H x N links):
//!
//! | process | open files | threads |
//! |---|---|---|
//! | client | S links + 16 | S links + main |
//! | server | 1 per link x H·N + 16 | H·N links + acceptor, store, stdin watch + 4 ops links |
//! | startup | 2 pipes per child x (N + P) + S ops connections (32 at most) + 16 | a proxy per child + main, Ctrl-C + one per ops connection |
//!
//! A server holds one descriptor per link, shared by the link's thread and
//! the table `stop` uses to shut every link down. The 16 spare descriptors cover
//! the standard streams, a log file, the listener, a `/proc` read. The host's
//! tasks are every process's threads together (Linux counts threads against
//! RLIMIT_NPROC, `threads-max`, `pid_max` and a cgroup's `pids.max` alike).
//! Local ports: Linux gives connections to different server addresses the
//! same local port when it can (tried: 2 ports in the range carried 6 links
//! to 3 servers, and refused a third link to one of them), so each server
//! address needs N; Windows gives every connection its own, N x S.
//!
//! A need above a limit is an error; above 80% of it, a warning. A soft
//! resource limit (RLIMIT_NOFILE, RLIMIT_NPROC) that is too low, with room
//! under its hard limit, is raised here instead, before any child exists, so
//! every child inherits it (Go's runtime raises its open-files limit the same
//! way). A server port inside the ephemeral range is a warning, with the
//! command that reserves it. [`explain`] gives a spawn that fails anyway the
//! same figures.
//!
//! * `mod.rs`: [`check`], the raise, the spawn hint;
//! * `needs.rs`: what a layout needs ([`Needs`]), from the config alone;
//! * `findings.rs`: each limit against its need, as the messages ([`findings`]);
//! * `capacity.rs`: the rate asked against this machine's cached capacity
//!   ([`check_capacity`]).

mod capacity;
mod findings;
mod needs;

use std::io;
use std::net::SocketAddr;

pub(crate) use self::capacity::check_capacity;
pub(crate) use self::findings::{Finding, Level, Os, findings};
use self::findings::{level, shown, suggest};
pub(crate) use self::needs::{Layout, Needs};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::sys::limits::{self, Limits, Resource, Rlimit};
use crate::sys::net;

/// Where the user reads more.
const LIMITS_DOC: &str = "docs/OPERATIONS.md, \"Before it starts: limits\"";

/// Checks this host's layout against its limits before anything is
/// spawned: raises startup's soft limits where that is enough (children
/// inherit them; one line says so unless `quiet`), prints each warning on
/// stderr, and fails with every error at once.
///
/// # Errors
/// A limit the layout cannot fit under; the message names each limit, the
/// need, the current value and the command that raises it.
pub(crate) fn check(config: &Config, local_servers: &[SocketAddr], quiet: bool) -> Result<()> {
    let layout = Layout::new(config, local_servers);
    if layout.clients == 0 && layout.local_servers == 0 {
        return Ok(());
    }
    let mut limits = limits::read();
    for line in raise_soft_limits(&layout, &mut limits, limits::raise_soft) {
        log::info!("{line}");
        if !quiet {
            eprintln!("startup: {line}");
        }
    }
    let ports: Vec<u16> = local_servers.iter().map(SocketAddr::port).collect();
    let (errors, warnings): (Vec<Finding>, Vec<Finding>) =
        findings(&layout, &limits, &ports, Os::HERE)
            .into_iter()
            .partition(|f| f.level == Level::Error);
    for warning in &warnings {
        log::warn!("{}", warning.text);
        eprintln!("startup: warning: {}", warning.text);
    }
    if errors.is_empty() {
        return Ok(());
    }
    let list: String = errors.iter().map(|f| format!("\n  - {}", f.text)).collect();
    Err(Error::msg(format!(
        "this host's limits cannot hold {}, so nothing was started ({LIMITS_DOC}):{list}",
        layout.describe()
    )))
}

/// Raises startup's soft limits where the layout needs more than 80% of
/// them and the hard limit leaves room; returns one line per raise. `raise`
/// is the OS call (`limits::raise_soft`; tests pass their own), and
/// `limits` is updated to what it set.
pub(crate) fn raise_soft_limits(
    layout: &Layout,
    limits: &mut Limits,
    raise: impl Fn(Resource, u64) -> io::Result<()>,
) -> Vec<String> {
    let needs = Needs::of(layout);
    let (who, files, _) = needs.most_files;
    let tasks = needs.threads + limits.user_tasks.unwrap_or(0);
    let wanted = [
        // 65536: the figure docs/OPERATIONS.md gives, room for any seed-scale run.
        (Resource::OpenFiles, files, suggest(files).max(65_536)),
        (Resource::UserTasks, tasks, suggest(tasks)),
    ];
    let mut said = Vec::new();
    for (resource, need, wanted) in wanted {
        let (limit, name, what) = match resource {
            Resource::OpenFiles => (
                &mut limits.nofile,
                "soft open-files limit (RLIMIT_NOFILE)",
                format!("{who} needs {need}"),
            ),
            Resource::UserTasks => (
                &mut limits.nproc,
                "soft thread limit (RLIMIT_NPROC)",
                format!("this user will run {need} threads"),
            ),
        };
        let Some(limit) = limit else { continue };
        let Some(to) = raise_to(limit, need, wanted) else {
            continue;
        };
        match raise(resource, to) {
            Ok(()) => {
                said.push(format!(
                    "raised its {name} from {} to {to}, which its children inherit: {what}",
                    shown(limit.soft)
                ));
                limit.soft = Some(to);
            }
            // The verdict that follows names the limit and the command.
            Err(e) => log::warn!("cannot raise the {name} to {to}: {e}"),
        }
    }
    said
}

/// The soft value to raise `limit` to for `need`: `wanted`, capped by the
/// hard limit; `None` when there is room already or raising cannot help.
fn raise_to(limit: &Rlimit, need: u64, wanted: u64) -> Option<u64> {
    let soft = limit.soft?;
    level(need, soft)?;
    if limit.hard.is_some_and(|hard| hard < need) {
        return None;
    }
    let to = limit.hard.map_or(wanted, |hard| hard.min(wanted));
    (to > soft).then_some(to)
}

/// Adds to an error from starting a child or a thread which OS limit it
/// likely met, with this host's figures for it now (children.rs calls it
/// on every spawn error); any other error passes unchanged.
pub(crate) fn explain(e: io::Error) -> io::Error {
    let hint = net::limit_hint(&e);
    if hint.is_empty() {
        return e;
    }
    let now = figures(&e, &limits::read());
    let now = if now.is_empty() {
        now
    } else {
        format!("; this host now: {now}")
    };
    io::Error::new(e.kind(), format!("{e}{hint}{now}"))
}

/// The current figures behind an OS error `limit_hint` recognises.
fn figures(e: &io::Error, limits: &Limits) -> String {
    let mut parts = Vec::new();
    match e.raw_os_error() {
        // EMFILE, ENFILE (Linux).
        Some(24) | Some(23) => {
            if let Some(rl) = limits.nofile {
                parts.push(format!(
                    "RLIMIT_NOFILE {} (hard {})",
                    shown(rl.soft),
                    shown(rl.hard)
                ));
            }
            if let (Some(max), Some(open)) = (limits.file_max, limits.files_open) {
                parts.push(format!("fs.file-max {max} with {open} open"));
            }
        }
        // EAGAIN from fork or clone.
        Some(11) => {
            if let Some(rl) = limits.nproc {
                let running = limits.user_tasks.unwrap_or(0);
                parts.push(format!(
                    "RLIMIT_NPROC {} with {running} of this user's threads",
                    shown(rl.soft)
                ));
            }
            if let Some(tasks) = limits.tasks {
                parts.push(format!("{tasks} threads on the host"));
            }
            if let Some(max) = limits.threads_max {
                parts.push(format!("kernel.threads-max {max}"));
            }
            if let Some(max) = limits.pid_max {
                parts.push(format!("kernel.pid_max {max}"));
            }
            if let Some(c) = &limits.cgroup {
                parts.push(format!(
                    "pids.max {} with {} in {}",
                    c.max,
                    c.current,
                    c.dir.display()
                ));
            }
        }
        // EADDRNOTAVAIL (Linux, Windows).
        Some(99) | Some(10049) => {
            if let Some(range) = limits.ports {
                parts.push(format!("local port range {}-{}", range.first, range.last));
            }
        }
        _ => {}
    }
    parts.join(", ")
}

/// What the tests of this folder share: layouts and a roomy host.
#[cfg(test)]
mod fixtures {
    use super::*;
    use crate::sys::limits::PortRange;

    pub(super) fn layout(clients: u64, servers: u64) -> Layout {
        Layout {
            clients,
            servers,
            local_servers: servers,
            client_hosts: 1,
        }
    }

    /// A roomy Linux host: nothing to say about any layout below.
    pub(super) fn roomy() -> Limits {
        Limits {
            nofile: Some(Rlimit {
                soft: Some(1_048_576),
                hard: Some(1_048_576),
            }),
            nproc: None,
            user_tasks: None,
            pid_max: Some(4_194_304),
            threads_max: Some(1_000_000),
            tasks: Some(500),
            file_max: Some(9_223_372_036_854_775_807),
            files_open: Some(3_000),
            cgroup: None,
            ports: Some(PortRange {
                first: 32768,
                last: 60999,
                assumed: false,
            }),
            reserved_ports: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{layout, roomy};
    use super::*;

    #[test]
    fn a_soft_limit_with_room_under_the_hard_one_is_raised_once() {
        use std::cell::RefCell;
        let calls = RefCell::new(Vec::new());
        let record = |r: Resource, to: u64| {
            calls.borrow_mut().push((r, to));
            Ok(())
        };
        let mut limits = Limits {
            nofile: Some(Rlimit {
                soft: Some(1024),
                hard: Some(524_288),
            }),
            nproc: Some(Rlimit {
                soft: Some(4096),
                hard: None,
            }),
            user_tasks: Some(100),
            ..roomy()
        };
        let big = layout(5000, 3);
        let said = raise_soft_limits(&big, &mut limits, record);
        assert_eq!(
            *calls.borrow(),
            [(Resource::OpenFiles, 65_536), (Resource::UserTasks, 65_536)]
        );
        assert_eq!(said.len(), 2, "{said:?}");
        assert_eq!(
            said[0],
            "raised its soft open-files limit (RLIMIT_NOFILE) from 1024 to 65536, which its \
             children inherit: startup needs 10025"
        );
        assert!(said[1].contains("from 4096 to 65536"), "{said:?}");
        // Raised, the verdict is clean.
        assert!(findings(&big, &limits, &[], Os::Linux).is_empty());
        // Again: nothing left to raise.
        assert!(raise_soft_limits(&big, &mut limits, record).is_empty());
        assert_eq!(calls.borrow().len(), 2);

        // A hard limit below the need: no raise, the verdict's error.
        let mut limits = Limits {
            nofile: Some(Rlimit {
                soft: Some(1024),
                hard: Some(4096),
            }),
            ..roomy()
        };
        assert!(raise_soft_limits(&big, &mut limits, record).is_empty());
        // At seed scale 1024 is plenty: no raise either.
        assert!(raise_soft_limits(&layout(100, 3), &mut limits, record).is_empty());
        assert_eq!(calls.borrow().len(), 2);
        // A refused raise leaves the limit as it was, for the verdict.
        let mut limits = Limits {
            nofile: Some(Rlimit {
                soft: Some(1024),
                hard: None,
            }),
            ..roomy()
        };
        let refuse = |_: Resource, _: u64| Err(io::Error::other("no"));
        assert!(raise_soft_limits(&big, &mut limits, refuse).is_empty());
        assert_eq!(limits.nofile.unwrap().soft, Some(1024));
    }

    #[test]
    fn a_failed_spawn_carries_the_hint_and_this_hosts_figures() {
        let plain = explain(io::Error::other("boom"));
        assert_eq!(plain.to_string(), "boom");
        if cfg!(target_os = "linux") {
            let e = explain(io::Error::from_raw_os_error(24)).to_string();
            assert!(
                e.contains("ulimit -n") && e.contains("this host now: RLIMIT_NOFILE"),
                "{e}"
            );
            let e = explain(io::Error::from_raw_os_error(11)).to_string();
            assert!(
                e.contains("kernel.pid_max") && e.contains("threads on the host"),
                "{e}"
            );
        }
    }
}
