//! What the machine allows: the OS limits a thread per link meets first,
//! raising the one a process may raise itself (open files), and naming the
//! one that stopped a point.

use hostinfo::limits::{self, sysctl};

/// The limits in force now, as one line for the header.
pub fn limits_text() -> String {
    let host = limits::read();
    let get = |name: &str| sysctl(name).unwrap_or_else(|| "?".into());
    let or_unknown = |n: Option<String>| n.unwrap_or_else(|| "?".into());
    format!(
        "ulimit -n {}, kernel.pid_max {}, kernel.threads-max {}, vm.max_map_count {}, \
         pids.max {}, ip_local_port_range {}",
        or_unknown(host.nofile.and_then(|n| n.soft).map(|n| n.to_string())),
        get("kernel.pid_max"),
        get("kernel.threads-max"),
        get("vm.max_map_count"),
        host.cgroup.map_or("max".into(), |c| c.max.to_string()),
        or_unknown(host.ports.map(|p| format!("{}-{}", p.first, p.last))),
    )
}

/// Raises the open-files limit as far as this process may (as root, the
/// hard limit too, up to fs.nr_open); children inherit it.
pub fn raise_open_files() {
    limits::raise_open_files();
}

/// Which task limit `needed` threads meet first: the smallest of
/// kernel.pid_max, kernel.threads-max and the cgroup's pids.max, less the
/// tasks that exist already.
pub fn task_limit_for(needed: u64) -> Option<String> {
    let host = limits::read();
    let now = host.tasks?;
    let mut caps = vec![
        ("kernel.pid_max", host.pid_max?),
        ("kernel.threads-max", host.threads_max?),
    ];
    caps.extend(host.cgroup.map(|c| ("cgroup pids.max", c.max)));
    let (name, cap) = caps.into_iter().min_by_key(|(_, cap)| *cap)?;
    (now + needed > cap).then(|| {
        format!("{name} = {cap}: about {needed} threads needed, {now} tasks exist already")
    })
}

/// The OS limit a failed point's messages name, in the docs' words.
pub fn limit_named(text: &str) -> Option<&'static str> {
    let t = text.to_lowercase();
    if t.contains("too many open files") {
        Some("open files (ulimit -n)")
    } else if t.contains("refused a new thread")
        || t.contains("resource temporarily unavailable") && t.contains("thread")
    {
        Some("threads (kernel.threads-max / kernel.pid_max / cgroup pids.max)")
    } else if t.contains("no local port left") || t.contains("cannot assign requested address") {
        Some("local ports (net.ipv4.ip_local_port_range)")
    } else if t.contains("cannot allocate memory") || t.contains("out of memory") {
        Some("memory maps or memory (vm.max_map_count)")
    } else {
        None
    }
}
