//! What a set of processes costs, from `/proc` (Linux): CPU split into user
//! and system time, context switches, resident memory, threads. Elsewhere
//! every reading is `None` and the table shows `-`.

/// One reading of a set of processes, summed.
#[derive(Clone, Copy, Default, Debug)]
pub struct Usage {
    pub user_s: f64,
    pub sys_s: f64,
    /// Voluntary + involuntary, summed over the live threads.
    pub ctx: u64,
    pub rss_bytes: u64,
    pub threads: u64,
}

impl Usage {
    /// `self - earlier` for the cumulative figures; RSS and threads as now.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            user_s: self.user_s - earlier.user_s,
            sys_s: self.sys_s - earlier.sys_s,
            ctx: self.ctx.saturating_sub(earlier.ctx),
            rss_bytes: self.rss_bytes,
            threads: self.threads,
        }
    }
}

/// Sums `pids`' figures; `None` if any cannot be read.
#[cfg(target_os = "linux")]
pub fn usage(pids: &[u32]) -> Option<Usage> {
    let tick = ticks_per_s();
    let mut u = Usage::default();
    for &pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised name: utime is the 14th field of
        // the line, stime the 15th, num_threads the 20th.
        let rest: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
        let field = |n: usize| rest.get(n - 3)?.parse::<f64>().ok();
        u.user_s += field(14)? / tick;
        u.sys_s += field(15)? / tick;
        u.threads += field(20)? as u64;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        u.rss_bytes += kib(&status, "VmRSS:")? * 1024;
        u.ctx += task_switches(pid);
    }
    Some(u)
}

#[cfg(not(target_os = "linux"))]
pub fn usage(_pids: &[u32]) -> Option<Usage> {
    None
}

#[cfg(target_os = "linux")]
fn ticks_per_s() -> f64 {
    // SAFETY: sysconf reads a constant of the system.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

#[cfg(target_os = "linux")]
fn kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Context switches of every live thread of `pid` (a process's own
/// `status` counts only its main thread).
#[cfg(target_os = "linux")]
fn task_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut n = 0;
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for key in ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"] {
            n += kib(&status, key).unwrap_or(0);
        }
    }
    n
}

/// A finished child's whole-life CPU and switches (wait4's rusage), for a
/// process that is gone before it can be read (redis-benchmark).
#[cfg(target_os = "linux")]
pub fn wait_with_usage(
    child: &mut std::process::Child,
) -> Option<(std::process::ExitStatus, Usage)> {
    use std::os::unix::process::ExitStatusExt;
    let mut status = 0;
    // SAFETY: wait4 fills an int and a plain struct we own, for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if got != pid {
        return None;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some((
        std::process::ExitStatus::from_raw(status),
        Usage {
            user_s: tv(ru.ru_utime),
            sys_s: tv(ru.ru_stime),
            ctx: (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
            rss_bytes: ru.ru_maxrss as u64 * 1024,
            threads: 1,
        },
    ))
}
