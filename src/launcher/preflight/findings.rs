//! Each limit against the need, as the findings the user reads (the limit,
//! the need, the current value, the command that raises it). Pure: it
//! takes the limits as figures, so tests give fixed ones.

use std::path::Path;

use super::needs::{Layout, Needs};
use crate::sys::limits::{Limits, PortRange, Rlimit};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The layout cannot run: startup stops before spawning anything.
    Error,
    /// It runs, close to a limit or at a known risk: a line on stderr.
    Warning,
}

/// One limit's verdict, as the user reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// Error or warning.
    pub(crate) level: Level,
    /// The limit, the need, the current value and the command that raises it.
    pub(crate) text: String,
}

/// Which OS's rules and commands apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Os {
    /// Local ports shared across server addresses; sysctl, ulimit.
    Linux,
    /// A local port per connection; netsh.
    Windows,
    /// Nothing is checked.
    Other,
}

impl Os {
    /// The OS this program was built for.
    pub(crate) const HERE: Os = if cfg!(target_os = "linux") {
        Os::Linux
    } else if cfg!(windows) {
        Os::Windows
    } else {
        Os::Other
    };
}

/// Every finding for `layout` under `limits` on `os`, with this host's
/// servers listening on `server_ports`. Pure: tests give fixed limits.
pub(crate) fn findings(
    layout: &Layout,
    limits: &Limits,
    server_ports: &[u16],
    os: Os,
) -> Vec<Finding> {
    let needs = Needs::of(layout);
    let mut found = Vec::new();
    if let Some(rl) = limits.nofile {
        let (who, need, sum) = &needs.most_files;
        let n = suggest(*need).max(65_536);
        let fix = format!(
            "`ulimit -n {n}` in the shell that runs startup (above the hard limit, only root \
             can; to keep it: `* - nofile {n}` in /etc/security/limits.conf, or LimitNOFILE={n} \
             for a systemd unit)"
        );
        let need_text = format!("{who} needs {need} ({sum})");
        let what = "open files per process";
        found.extend(against_rlimit(
            what,
            &need_text,
            *need,
            rl,
            "RLIMIT_NOFILE",
            &fix,
        ));
    }
    if let Some(max) = limits.file_max {
        let open = limits.files_open.unwrap_or(0);
        let total = needs.files + open;
        let need_text = format!(
            "the layout opens {} ({}) and {open} are open already, {total} in all",
            needs.files, needs.files_sum
        );
        let fix = format!("`sysctl -w fs.file-max={}`", suggest(total));
        found.extend(against(
            total,
            max,
            "open files on this host",
            &need_text,
            &format!("fs.file-max {max}"),
            &fix,
        ));
    }
    found.extend(task_limits(&needs, limits));
    if let Some(range) = limits.ports {
        let reserved = &limits.reserved_ports;
        let ports = (range, reserved.as_slice(), server_ports);
        found.extend(local_ports(layout, &needs, ports, os));
        found.extend(ports_in_range(server_ports, range, reserved, os));
    }
    found
}

/// RLIMIT_NPROC, `threads-max`, `pid_max` and the cgroup's `pids.max`:
/// each counts threads, against the layout's plus those running now.
fn task_limits(needs: &Needs, limits: &Limits) -> Vec<Finding> {
    let threads = needs.threads;
    let sum = &needs.threads_sum;
    let runs = |running: u64, whose: &str| {
        let total = threads + running;
        let text = format!(
            "the layout runs {threads} threads ({sum}) and {running}{whose} run already, {total} in all"
        );
        (total, text)
    };
    let mut found = Vec::new();
    if let Some(rl) = limits.nproc {
        let (total, text) = runs(limits.user_tasks.unwrap_or(0), " of this user's");
        let n = suggest(total);
        let fix = format!(
            "`ulimit -u {n}` in the shell that runs startup (to keep it: `* - nproc {n}` in \
             /etc/security/limits.conf, or LimitNPROC={n} for a systemd unit)"
        );
        found.extend(against_rlimit(
            "threads of this user",
            &text,
            total,
            rl,
            "RLIMIT_NPROC",
            &fix,
        ));
    }
    let (total, text) = runs(limits.tasks.unwrap_or(0), "");
    if let Some(max) = limits.threads_max {
        let fix = format!("`sysctl -w kernel.threads-max={}`", suggest(total));
        found.extend(against(
            total,
            max,
            "threads",
            &text,
            &format!("kernel.threads-max {max}"),
            &fix,
        ));
    }
    if let Some(max) = limits.pid_max {
        let limit = format!("kernel.pid_max {max} (every thread takes a process id)");
        found.extend(against(
            total,
            max,
            "threads",
            &text,
            &limit,
            "`sysctl -w kernel.pid_max=4194304`",
        ));
    }
    if let Some(cgroup) = &limits.cgroup {
        let (total, text) = runs(cgroup.current, " in the cgroup");
        let limit = format!("pids.max {} of {}", cgroup.max, cgroup.dir.display());
        let fix = cgroup_fix(&cgroup.dir, suggest(total));
        found.extend(against(
            total,
            cgroup.max,
            "threads in this cgroup",
            &text,
            &limit,
            &fix,
        ));
    }
    found
}

/// Local ports for the links from this host: N per server address on
/// Linux, N x S on Windows, against the range less reserved ports (and,
/// on Linux, less this host's listening server ports).
fn local_ports(
    layout: &Layout,
    needs: &Needs,
    (range, reserved, server_ports): (PortRange, &[(u16, u16)], &[u16]),
    os: Os,
) -> Option<Finding> {
    if layout.clients == 0 {
        return None;
    }
    let is_reserved = |p: u16| reserved.iter().any(|&(a, b)| (a..=b).contains(&p));
    let reserved_inside: u64 = (range.first..=range.last)
        .filter(|&p| is_reserved(p) || (os == Os::Linux && server_ports.contains(&p)))
        .count() as u64;
    let usable = range.size() - reserved_inside;
    let (first, last, n, s) = (range.first, range.last, layout.clients, layout.servers);
    let (need, need_text, limit, fix) = match os {
        Os::Linux => (
            needs.ports_per_address,
            format!(
                "each server address takes one local port per client, {n} (Linux shares a \
                 local port only between different server addresses)"
            ),
            format!(
                "net.ipv4.ip_local_port_range {first}-{last}, {usable} usable after reserved and server ports"
            ),
            "`sysctl -w net.ipv4.ip_local_port_range=\"10000 65535\"`".to_string(),
        ),
        Os::Windows => (
            needs.connections,
            format!(
                "Windows gives every connection a local port of its own: {n} clients x {s} \
                 servers = {}",
                needs.connections
            ),
            format!(
                "the dynamic port range {first}-{last} ({usable} ports{})",
                assumed(&range)
            ),
            "`netsh int ipv4 set dynamicport tcp start=10000 num=55536` as administrator"
                .to_string(),
        ),
        Os::Other => return None,
    };
    against(need, usable, "local ports", &need_text, &limit, &fix)
}

/// A warning for this host's server ports that lie in the ephemeral range
/// and are not reserved.
fn ports_in_range(
    server_ports: &[u16],
    range: PortRange,
    reserved: &[(u16, u16)],
    os: Os,
) -> Option<Finding> {
    let mut inside: Vec<u16> = server_ports
        .iter()
        .copied()
        .filter(|&p| range.contains(p) && !reserved.iter().any(|&(a, b)| (a..=b).contains(&p)))
        .collect();
    inside.sort_unstable();
    inside.dedup();
    let runs = runs_of(&inside);
    let listed = list(&runs);
    let (first, last) = (range.first, range.last);
    let why = "an outgoing connection on this host may be given one as its local port and keep \
               its server from listening, at the start or when it restarts";
    let text = match os {
        _ if inside.is_empty() => return None,
        Os::Linux => {
            let mut all = reserved.to_vec();
            all.extend(&runs);
            all.sort_unstable();
            format!(
                "server ports {listed} lie in the ephemeral port range {first}-{last} \
                 (net.ipv4.ip_local_port_range): {why}; reserve them: \
                 `sysctl -w net.ipv4.ip_local_reserved_ports={}`",
                list(&all)
            )
        }
        Os::Windows => {
            let commands: Vec<String> = runs
                .iter()
                .map(|&(a, b)| {
                    format!(
                        "`netsh int ipv4 add excludedportrange protocol=tcp startport={a} numberofports={}`",
                        b - a + 1
                    )
                })
                .collect();
            format!(
                "server ports {listed} lie in the dynamic port range {first}-{last}{}: {why}; \
                 unless they are excluded already (`netsh int ipv4 show excludedportrange \
                 protocol=tcp`), exclude them as administrator: {}",
                assumed(&range),
                commands.join(" and ")
            )
        }
        Os::Other => return None,
    };
    Some(Finding {
        level: Level::Warning,
        text,
    })
}

/// Error above the limit, warning above 80% of it, else nothing.
pub(super) fn level(need: u64, limit: u64) -> Option<Level> {
    if need > limit {
        Some(Level::Error)
    } else if u128::from(need) * 5 > u128::from(limit) * 4 {
        Some(Level::Warning)
    } else {
        None
    }
}

fn against(
    need: u64,
    limit: u64,
    what: &str,
    need_text: &str,
    limit_text: &str,
    fix: &str,
) -> Option<Finding> {
    let level = level(need, limit)?;
    let text = match level {
        Level::Error => format!("{what}: {need_text}, above {limit_text}; raise it: {fix}"),
        Level::Warning => {
            format!("{what} are tight: {need_text}, over 80% of {limit_text}; raise it: {fix}")
        }
    };
    Some(Finding { level, text })
}

/// A soft/hard pair: the hard limit named when it is the one too low, the
/// soft one when startup could not raise it.
fn against_rlimit(
    what: &str,
    need_text: &str,
    need: u64,
    limit: Rlimit,
    name: &str,
    fix: &str,
) -> Option<Finding> {
    let (soft, hard) = (shown(limit.soft), shown(limit.hard));
    let limit_text = if limit.hard.is_some_and(|h| h < need) {
        format!("{name}'s hard limit {hard} (soft {soft})")
    } else if limit.soft.is_some_and(|s| s < need) {
        format!("{name}'s soft limit {soft}, which startup could not raise (hard {hard})")
    } else {
        format!("{name}'s soft limit {soft} (hard {hard})")
    };
    against(
        need,
        limit.soft.unwrap_or(u64::MAX),
        what,
        need_text,
        &limit_text,
        fix,
    )
}

fn cgroup_fix(dir: &Path, n: u64) -> String {
    let echo = format!("`echo {n} > {}/pids.max` as root", dir.display());
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if [".service", ".scope", ".slice"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        format!(
            "`systemctl set-property --runtime {name} TasksMax={n}` (TasksMax= in the unit to keep it), or {echo}"
        )
    } else {
        format!(
            "{echo} (in a container: `docker run --pids-limit {n}`; a systemd unit: TasksMax={n})"
        )
    }
}

pub(super) fn shown(limit: Option<u64>) -> String {
    limit.map_or("unlimited".into(), |n| n.to_string())
}

fn assumed(range: &PortRange) -> &'static str {
    if range.assumed {
        " (Windows' default, assumed: `netsh int ipv4 show dynamicport tcp` gave no answer)"
    } else {
        ""
    }
}

/// Sorted ports as runs of consecutive ones.
fn runs_of(ports: &[u16]) -> Vec<(u16, u16)> {
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for &p in ports {
        match runs.last_mut() {
            Some((_, last)) if u32::from(*last) + 1 == u32::from(p) => *last = p,
            _ => runs.push((p, p)),
        }
    }
    runs
}

/// `38677-38679,40000`: the form `ip_local_reserved_ports` takes.
fn list(runs: &[(u16, u16)]) -> String {
    let item = |&(a, b): &(u16, u16)| {
        if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        }
    };
    runs.iter().map(item).collect::<Vec<_>>().join(",")
}

/// A round figure with a quarter to spare: the next power of two.
pub(super) fn suggest(need: u64) -> u64 {
    (need + need / 4).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{layout, roomy};
    use super::*;
    use crate::sys::limits::{self, CgroupTasks};

    /// A roomy Linux host but for `change`.
    fn with(change: impl FnOnce(&mut Limits)) -> Limits {
        let mut limits = roomy();
        change(&mut limits);
        limits
    }

    /// A soft/hard pair.
    fn rlimit(soft: Option<u64>, hard: Option<u64>) -> Option<Rlimit> {
        Some(Rlimit { soft, hard })
    }

    /// The one finding of `level` in `found`, which holds every part.
    fn the(found: &[Finding], level: Level, parts: &[&str]) -> String {
        let of_level: Vec<&Finding> = found.iter().filter(|f| f.level == level).collect();
        assert_eq!(of_level.len(), 1, "one {level:?} in {found:#?}");
        let text = &of_level[0].text;
        for part in parts {
            assert!(text.contains(part), "{part:?} missing from: {text}");
        }
        text.clone()
    }

    #[test]
    fn enough_says_nothing() {
        for (n, s) in [(1, 3), (100, 3), (5000, 3)] {
            let found = findings(&layout(n, s), &roomy(), &[], Os::Linux);
            assert!(found.is_empty(), "{n} x {s}: {found:?}");
        }
        // Nothing is known elsewhere: nothing is said.
        let unknown = Limits::default();
        assert!(findings(&layout(5000, 3), &unknown, &[38677], Os::Other).is_empty());
    }

    #[test]
    fn too_few_open_files_names_the_limit_the_need_and_the_command() {
        let big = layout(5000, 3);
        let limits = with(|l| l.nofile = rlimit(Some(1024), Some(4096)));
        let found = findings(&big, &limits, &[], Os::Linux);
        let e = the(
            &found,
            Level::Error,
            &[
                "startup needs 10025 (2 pipes per child x 5003 children + 3 ops connections + 16)",
                "above RLIMIT_NOFILE's hard limit 4096 (soft 1024)",
                "`ulimit -n 65536`",
                "LimitNOFILE=65536",
            ],
        );
        assert!(e.starts_with("open files per process: "), "{e}");
        // The hard limit allows it but the soft one could not be raised.
        let limits = with(|l| l.nofile = rlimit(Some(1024), None));
        let found = findings(&big, &limits, &[], Os::Linux);
        the(
            &found,
            Level::Error,
            &["soft limit 1024, which startup could not raise (hard unlimited)"],
        );
    }

    #[test]
    fn task_limits_count_every_thread_against_what_runs_already() {
        let big = layout(5000, 3);
        let need = Needs::of(&big).threads; // 40029
        let limits = with(|l| (l.pid_max, l.tasks) = (Some(32768), Some(2345)));
        let e = the(
            &findings(&big, &limits, &[], Os::Linux),
            Level::Error,
            &[
                "(startup 5008 + 3 servers x 5007 + 5000 clients x 4) and 2345 run already, 42374 in all",
                "above kernel.pid_max 32768",
                "`sysctl -w kernel.pid_max=4194304`",
            ],
        );
        assert!(
            e.starts_with("threads: the layout runs 40029 threads"),
            "{e}"
        );

        // Tight: over 80% of threads-max, with what runs already.
        let limits = with(|l| (l.threads_max, l.tasks) = (Some(need + 2345 + 1000), Some(2345)));
        let found = findings(&big, &limits, &[], Os::Linux);
        assert!(found.iter().all(|f| f.level == Level::Warning), "{found:?}");
        let w = the(
            &found,
            Level::Warning,
            &[
                "over 80% of kernel.threads-max 43374",
                "`sysctl -w kernel.threads-max=65536`",
            ],
        );
        assert!(w.starts_with("threads are tight:"), "{w}");

        // A cgroup's pids.max, with the systemd command for its unit.
        let limits = with(|l| {
            l.cgroup = Some(CgroupTasks {
                max: 800,
                current: 40,
                dir: "/sys/fs/cgroup/user.slice/user-1000.slice".into(),
            })
        });
        the(
            &findings(&layout(100, 3), &limits, &[], Os::Linux),
            Level::Error,
            &[
                "829 threads",
                "40 in the cgroup",
                "pids.max 800 of /sys/fs/cgroup/user.slice/user-1000.slice",
                "`systemctl set-property --runtime user-1000.slice TasksMax=2048`",
            ],
        );

        // RLIMIT_NPROC counts this user's threads.
        let limits =
            with(|l| (l.nproc, l.user_tasks) = (rlimit(Some(1024), Some(1024)), Some(300)));
        the(
            &findings(&layout(100, 3), &limits, &[], Os::Linux),
            Level::Error,
            &[
                "threads of this user",
                "1129 in all",
                "RLIMIT_NPROC's hard limit 1024",
                "`ulimit -u 2048`",
            ],
        );
    }

    #[test]
    fn server_ports_in_the_ephemeral_range_are_a_warning_unless_reserved() {
        let (seed, ports) = (layout(100, 3), [38677, 38678, 38679]);
        let found = findings(&seed, &roomy(), &ports, Os::Linux);
        assert_eq!(found.len(), 1, "{found:?}");
        let w = the(
            &found,
            Level::Warning,
            &["server ports 38677-38679 lie in the ephemeral port range 32768-60999"],
        );
        assert!(
            w.ends_with("`sysctl -w net.ipv4.ip_local_reserved_ports=38677-38679`"),
            "{w}"
        );
        // What is reserved already stays in the list the command sets.
        let limits = with(|l| l.reserved_ports = vec![(38677, 38677), (50000, 50010)]);
        let w = the(
            &findings(&seed, &limits, &ports, Os::Linux),
            Level::Warning,
            &["server ports 38678-38679 lie"],
        );
        assert!(
            w.ends_with("ip_local_reserved_ports=38677,38678-38679,50000-50010`"),
            "{w}"
        );
        let limits = with(|l| l.reserved_ports = vec![(38677, 38679)]);
        assert!(findings(&seed, &limits, &ports, Os::Linux).is_empty());
        // Outside the range: nothing.
        assert!(findings(&seed, &roomy(), &[8080, 8081], Os::Linux).is_empty());

        // Windows: netsh's exclusion, one command per run of ports.
        let windows = Limits {
            ports: Some(limits::WINDOWS_DEFAULT_PORTS),
            ..Limits::default()
        };
        let found = findings(&seed, &windows, &[50000, 50001, 50003], Os::Windows);
        the(
            &found,
            Level::Warning,
            &[
                "dynamic port range 49152-65535 (Windows' default, assumed",
                "`netsh int ipv4 add excludedportrange protocol=tcp startport=50000 numberofports=2` and \
             `netsh int ipv4 add excludedportrange protocol=tcp startport=50003 numberofports=1`",
            ],
        );
        assert!(findings(&seed, &windows, &[38677], Os::Windows).is_empty());
    }

    #[test]
    fn local_ports_per_server_address_on_linux_per_connection_on_windows() {
        // 28,232 ports (the servers' lie outside): 30,000 clients do not fit.
        let found = findings(&layout(30_000, 3), &roomy(), &[8080, 8081, 8082], Os::Linux);
        let e = the(
            &found,
            Level::Error,
            &[
                "one local port per client, 30000",
                "32768-60999, 28232 usable",
                "ip_local_port_range=\"10000 65535\"",
            ],
        );
        assert!(e.starts_with("local ports: "), "{e}");
        // Windows: 5,000 clients x 3 servers is 15,000 of 16,384 ports.
        let windows = Limits {
            ports: Some(limits::WINDOWS_DEFAULT_PORTS),
            ..Limits::default()
        };
        let found = findings(&layout(5000, 3), &windows, &[], Os::Windows);
        assert_eq!(found.len(), 1, "{found:?}");
        the(
            &found,
            Level::Warning,
            &[
                "5000 clients x 3 servers = 15000",
                "netsh int ipv4 set dynamicport tcp",
            ],
        );
    }
}
