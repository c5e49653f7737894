//! What the machine has and allows: CPUs, load, and whether a point's
//! descriptors and threads fit (raising the descriptor limit where it can).

use std::thread;

use crate::SERVERS;
use crate::options::Point;

pub fn cpus() -> usize {
    thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The 1-minute load average (Linux).
fn load_1m() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

pub fn load_text() -> String {
    load_1m()
        .map(|l| format!(", load {l:.2}"))
        .unwrap_or_default()
}

/// Why the descriptor limit is too low for a process needing `need`
/// descriptors, after trying to raise it.
pub fn fd_shortfall(need: u64) -> Option<String> {
    let have = nofile::raise_to(need)?;
    (have < need).then(|| {
        format!(
            "needs about {need} open files per process, the limit is {have} \
             (raise the hard limit: ulimit -Hn, /etc/security/limits.conf)"
        )
    })
}

/// Why the machine cannot hold `p`'s threads now (Linux: every thread takes
/// a pid, and other runs' threads count too).
pub fn thread_shortfall(p: &Point) -> Option<String> {
    let read =
        |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let cap = read("/proc/sys/kernel/pid_max")?.min(read("/proc/sys/kernel/threads-max")?);
    // /proc/loadavg's fourth field: runnable/total scheduling entities now.
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let now: u64 = loadavg
        .split_whitespace()
        .nth(3)?
        .split_once('/')?
        .1
        .parse()
        .ok()?;
    // Clients: a thread per link + main; servers: a thread per link + acceptor,
    // store and stdin; startup: a proxy per child.
    let (c, s) = (p.clients as u64, SERVERS as u64);
    let need = c * (s + 2) + s * (c + 4) + (c + s) + 64;
    (now + need > cap).then(|| {
        format!(
            "needs about {need} threads, {now} exist and the cap is {cap} \
             (raise kernel.pid_max and kernel.threads-max)"
        )
    })
}

#[cfg(target_os = "linux")]
mod nofile {
    /// Raises RLIMIT_NOFILE's soft limit toward the hard one (children inherit
    /// it) when it is below `need`; returns the soft limit now in force.
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Linux target
    pub fn raise_to(need: u64) -> Option<u64> {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read and write one plain struct we own.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
                return None;
            }
            if (r.rlim_cur as u64) < need && r.rlim_cur < r.rlim_max {
                // An unlimited hard limit is capped by fs.nr_open.
                let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(1 << 20);
                let raised = libc::rlimit {
                    rlim_cur: (r.rlim_max as u64).min(nr_open) as libc::rlim_t,
                    rlim_max: r.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    r.rlim_cur = raised.rlim_cur;
                }
            }
        }
        Some(r.rlim_cur as u64)
    }
}

#[cfg(not(target_os = "linux"))]
mod nofile {
    /// No descriptor limit to raise (Windows handles have no practical limit).
    pub fn raise_to(_need: u64) -> Option<u64> {
        None
    }
}
