//! What the machine allows: the OS limits a thread per link meets first,
//! raising the one a process may raise itself (open files), and naming the
//! one that stopped a point.

/// The limits in force now, as one line for the header.
pub fn limits_text() -> String {
    let read = |path: &str| std::fs::read_to_string(path).map(|s| s.trim().replace('\t', "-"));
    let get = |path: &str| read(path).unwrap_or_else(|_| "?".into());
    format!(
        "ulimit -n {}, kernel.pid_max {}, kernel.threads-max {}, vm.max_map_count {}, \
         pids.max {}, ip_local_port_range {}",
        nofile::soft().map_or("?".into(), |n| n.to_string()),
        get("/proc/sys/kernel/pid_max"),
        get("/proc/sys/kernel/threads-max"),
        get("/proc/sys/vm/max_map_count"),
        cgroup_pids_max().unwrap_or_else(|| "?".into()),
        get("/proc/sys/net/ipv4/ip_local_port_range"),
    )
}

/// The cgroup's task limit (v2, else v1), as written there (`max` or a number).
fn cgroup_pids_max() -> Option<String> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let file = if controllers.is_empty() {
            format!("/sys/fs/cgroup{path}/pids.max")
        } else if controllers.split(',').any(|c| c == "pids") {
            format!("/sys/fs/cgroup/pids{path}/pids.max")
        } else {
            continue;
        };
        if let Ok(v) = std::fs::read_to_string(file) {
            return Some(v.trim().to_string());
        }
    }
    None
}

/// Raises the open-files limit as far as this process may (as root, the
/// hard limit too, up to fs.nr_open); children inherit it.
pub fn raise_open_files() {
    nofile::raise();
}

/// Which task limit `needed` threads meet first: the smallest of
/// kernel.pid_max, kernel.threads-max and the cgroup's pids.max, less the
/// tasks that exist already (`/proc/loadavg`'s fourth field).
pub fn task_limit_for(needed: u64) -> Option<String> {
    let read =
        |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let now: u64 = std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .nth(3)?
        .split_once('/')?
        .1
        .parse()
        .ok()?;
    let mut limits = vec![
        ("kernel.pid_max", read("/proc/sys/kernel/pid_max")?),
        ("kernel.threads-max", read("/proc/sys/kernel/threads-max")?),
    ];
    if let Some(max) = cgroup_pids_max().and_then(|m| m.parse().ok()) {
        limits.push(("cgroup pids.max", max));
    }
    let (name, cap) = limits.into_iter().min_by_key(|(_, cap)| *cap)?;
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

#[cfg(target_os = "linux")]
mod nofile {
    pub fn soft() -> Option<u64> {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills one plain struct we own.
        (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0).then_some(r.rlim_cur)
    }

    pub fn raise() {
        let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read and write one plain struct we own.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
                return;
            }
            // Root may raise the hard limit; anyone the soft one to it.
            let want = libc::rlimit {
                rlim_cur: nr_open,
                rlim_max: nr_open.max(r.rlim_max),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) != 0 {
                let soft = libc::rlimit {
                    rlim_cur: r.rlim_max,
                    rlim_max: r.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod nofile {
    pub fn soft() -> Option<u64> {
        None
    }

    pub fn raise() {}
}
