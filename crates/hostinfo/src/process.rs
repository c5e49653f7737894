//! What a process costs: CPU time (user and system apart), resident
//! memory, threads, context switches, how long its threads waited for a
//! CPU once runnable, and open descriptors.
//!
//! Linux reads `/proc/<pid>/stat`, `status`, `task/*/status`,
//! `task/*/schedstat` and `fd`, and
//! `getrusage`/`wait4` for whole-life figures that `/proc` forgets (threads
//! that have exited, a child already reaped). Elsewhere every reading is
//! `None`.

/// One reading of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// CPU seconds in user mode.
    pub user_s: f64,
    /// CPU seconds in the kernel on the process's behalf.
    pub sys_s: f64,
    /// Resident memory now (a reaped child: its peak).
    pub rss_bytes: u64,
    /// Threads now.
    pub threads: u64,
    /// Voluntary context switches, when they were counted.
    pub voluntary_ctx: Option<u64>,
    /// Involuntary context switches, when they were counted.
    pub involuntary_ctx: Option<u64>,
    /// Nanoseconds its threads spent runnable but waiting for a CPU
    /// (schedstat's `run_delay`), when they were counted.
    pub run_delay_ns: Option<u64>,
    /// Times its threads were given a CPU (schedstat's timeslices), when
    /// they were counted: `run_delay_ns` over these is the mean wait from
    /// becoming runnable (a wakeup, or a preemption) to running.
    pub timeslices: Option<u64>,
    /// Nanoseconds its live threads ran (schedstat's first field), when
    /// counted: the scheduler's own clock, so it sees a run's few
    /// milliseconds of CPU that `user_s`/`sys_s`, counted in 10 ms ticks,
    /// round to nothing. Threads that have exited are not in it.
    pub on_cpu_ns: Option<u64>,
    /// Open descriptors, when they could be counted.
    pub fds: Option<u64>,
}

impl Figures {
    /// User and system CPU seconds together.
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    /// Both kinds of context switch together (0 when not counted).
    pub fn switches(&self) -> u64 {
        self.voluntary_ctx.unwrap_or(0) + self.involuntary_ctx.unwrap_or(0)
    }

    /// What was spent since `earlier` (CPU, switches, run delay and
    /// timeslices); memory, threads and descriptors as they are now.
    pub fn since(&self, earlier: &Figures) -> Figures {
        let less = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| a.saturating_sub(b));
        Figures {
            user_s: self.user_s - earlier.user_s,
            sys_s: self.sys_s - earlier.sys_s,
            voluntary_ctx: less(self.voluntary_ctx, earlier.voluntary_ctx),
            involuntary_ctx: less(self.involuntary_ctx, earlier.involuntary_ctx),
            run_delay_ns: less(self.run_delay_ns, earlier.run_delay_ns),
            timeslices: less(self.timeslices, earlier.timeslices),
            on_cpu_ns: less(self.on_cpu_ns, earlier.on_cpu_ns),
            ..*self
        }
    }

    /// Two processes' figures as one: every figure summed.
    pub fn plus(&self, other: &Figures) -> Figures {
        let sum = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| a + b);
        Figures {
            user_s: self.user_s + other.user_s,
            sys_s: self.sys_s + other.sys_s,
            rss_bytes: self.rss_bytes + other.rss_bytes,
            threads: self.threads + other.threads,
            voluntary_ctx: sum(self.voluntary_ctx, other.voluntary_ctx),
            involuntary_ctx: sum(self.involuntary_ctx, other.involuntary_ctx),
            run_delay_ns: sum(self.run_delay_ns, other.run_delay_ns),
            timeslices: sum(self.timeslices, other.timeslices),
            on_cpu_ns: sum(self.on_cpu_ns, other.on_cpu_ns),
            fds: sum(self.fds, other.fds),
        }
    }
}

/// Reads process `pid`, or `None` if it is gone or the OS gives no figures.
///
/// `with_switches` also counts context switches and the threads' run delay
/// and timeslices, which means reading two files per thread (a process's
/// own `status` counts only its main thread's switches): a few thousand
/// reads for a big run, so ask only when they are wanted.
pub fn read(pid: u32, with_switches: bool) -> Option<Figures> {
    #[cfg(target_os = "linux")]
    {
        linux::read(pid, with_switches)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, with_switches);
        None
    }
}

/// The sum of `pids`' figures, switches and run delay included; `None` if
/// any of them cannot be read.
pub fn read_all(pids: &[u32]) -> Option<Figures> {
    let mut each = pids.iter().map(|&pid| read(pid, true));
    let first = each.next()??;
    each.try_fold(first, |sum, f| Some(sum.plus(&f?)))
}

/// This process's whole-life figures, read from inside it: CPU and
/// switches include threads that have already exited (getrusage sums every
/// thread the process ever had, where `/proc/<pid>/task` lists live ones).
pub fn own() -> Option<Figures> {
    #[cfg(target_os = "linux")]
    {
        let usage = linux::rusage(libc::RUSAGE_SELF)?;
        let live = read(std::process::id(), false)?;
        Some(Figures {
            user_s: usage.user_s,
            sys_s: usage.sys_s,
            voluntary_ctx: usage.voluntary_ctx,
            involuntary_ctx: usage.involuntary_ctx,
            ..live
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// CPU seconds of this process and of every descendant it has reaped.
pub fn cpu_with_children_s() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        let own = linux::rusage(libc::RUSAGE_SELF)?;
        let children = linux::rusage(libc::RUSAGE_CHILDREN)?;
        Some(own.cpu_s() + children.cpu_s())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Waits for `child` and returns its exit status with its whole-life
/// figures (wait4's rusage): for a process that is gone before it can be
/// read. `rss_bytes` is its peak; `threads` is 1.
#[cfg(target_os = "linux")]
pub fn wait(child: &mut std::process::Child) -> Option<(std::process::ExitStatus, Figures)> {
    linux::wait(child)
}

/// Clock ticks per second of `/proc`'s times.
pub(crate) fn ticks_per_s() -> f64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf only reads a constant of the system.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks > 0 { ticks as f64 } else { 100.0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        100.0
    }
}

/// A thread's three `/proc/<pid>/task/<tid>/schedstat` figures.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Schedstat {
    /// First field: nanoseconds spent on a CPU.
    on_cpu_ns: u64,
    /// Second field: nanoseconds spent runnable, waiting for a CPU.
    run_delay_ns: u64,
    /// Third field: times it was given a CPU.
    timeslices: u64,
}

/// A `schedstat` text: `<ns on CPU> <ns waiting> <timeslices>`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn schedstat_in(text: &str) -> Option<Schedstat> {
    let mut fields = text.split_whitespace().map(|f| f.parse().ok());
    Some(Schedstat {
        on_cpu_ns: fields.next()??,
        run_delay_ns: fields.next()??,
        timeslices: fields.next()??,
    })
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{Figures, Schedstat, schedstat_in, ticks_per_s};

    pub(super) fn read(pid: u32, with_switches: bool) -> Option<Figures> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces: split
        // after it. fields[0] is field 3 (state); utime is field 14, stime 15.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        let (utime, stime) = (ticks(14)?, ticks(15)?);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let tasks = if with_switches {
            Some(tasks(pid)?)
        } else {
            None
        };
        Some(Figures {
            user_s: utime / ticks_per_s(),
            sys_s: stime / ticks_per_s(),
            rss_bytes: value(&status, "VmRSS:").unwrap_or(0) * 1024,
            threads: value(&status, "Threads:").unwrap_or(0),
            voluntary_ctx: tasks.map(|t| t.voluntary),
            involuntary_ctx: tasks.map(|t| t.involuntary),
            run_delay_ns: tasks.and_then(|t| t.schedstat).map(|s| s.run_delay_ns),
            timeslices: tasks.and_then(|t| t.schedstat).map(|s| s.timeslices),
            on_cpu_ns: tasks.and_then(|t| t.schedstat).map(|s| s.on_cpu_ns),
            fds: open_fds(pid),
        })
    }

    /// What every live thread of a process counted, summed (exited
    /// threads' counts are lost, which for long-lived link threads is
    /// nothing).
    #[derive(Clone, Copy)]
    struct Tasks {
        voluntary: u64,
        involuntary: u64,
        /// `None` when the kernel keeps no schedstat (no CONFIG_SCHED_INFO).
        schedstat: Option<Schedstat>,
    }

    fn tasks(pid: u32) -> Option<Tasks> {
        // A kernel without schedstat has none for any thread; with it, a
        // thread that exits between its two reads is simply left out.
        let kept = std::path::Path::new("/proc/self/schedstat").exists();
        let mut sum = Tasks {
            voluntary: 0,
            involuntary: 0,
            schedstat: kept.then(Schedstat::default),
        };
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            let Ok(text) = std::fs::read_to_string(task.path().join("status")) else {
                continue;
            };
            sum.voluntary += value(&text, "voluntary_ctxt_switches:").unwrap_or(0);
            sum.involuntary += value(&text, "nonvoluntary_ctxt_switches:").unwrap_or(0);
            let stat = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|t| schedstat_in(&t));
            if let (Some(sum), Some(stat)) = (sum.schedstat.as_mut(), stat) {
                sum.on_cpu_ns += stat.on_cpu_ns;
                sum.run_delay_ns += stat.run_delay_ns;
                sum.timeslices += stat.timeslices;
            }
        }
        Some(sum)
    }

    /// The entries of `/proc/<pid>/fd` (one directory read, no `readlink`).
    /// Reading our own, the directory being read is one of them: left out.
    fn open_fds(pid: u32) -> Option<u64> {
        let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        let reading = u64::from(pid == std::process::id());
        Some(entries.saturating_sub(reading))
    }

    /// The number after `name` in a `/proc/.../status` text.
    fn value(status: &str, name: &str) -> Option<u64> {
        let rest = status.lines().find_map(|l| l.strip_prefix(name))?;
        rest.split_whitespace().next()?.parse().ok()
    }

    /// getrusage's CPU and switches for `who` (RUSAGE_SELF or _CHILDREN).
    pub(super) fn rusage(who: libc::c_int) -> Option<Figures> {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes one `rusage` into memory we own and that
        // is valid (zeroed) for it; `who` needs no other argument.
        if unsafe { libc::getrusage(who, usage.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: getrusage returned 0, so it filled the struct (and a
        // zeroed rusage is a valid value anyway: plain integers).
        Some(figures(&unsafe { usage.assume_init() }))
    }

    pub(super) fn wait(
        child: &mut std::process::Child,
    ) -> Option<(std::process::ExitStatus, Figures)> {
        use std::os::unix::process::ExitStatusExt;
        let mut status = 0;
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        let pid = child.id() as libc::pid_t;
        // SAFETY: wait4 fills an int and one `rusage`, both ours and valid
        // (zeroed), for a child of this process; it keeps no pointer.
        if unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) } != pid {
            return None;
        }
        // SAFETY: wait4 returned the pid, so it filled the struct.
        let usage = unsafe { usage.assume_init() };
        let figures = Figures {
            rss_bytes: usage.ru_maxrss as u64 * 1024,
            threads: 1,
            ..figures(&usage)
        };
        Some((std::process::ExitStatus::from_raw(status), figures))
    }

    fn figures(usage: &libc::rusage) -> Figures {
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Figures {
            user_s: seconds(usage.ru_utime),
            sys_s: seconds(usage.ru_stime),
            voluntary_ctx: Some(usage.ru_nvcsw as u64),
            involuntary_ctx: Some(usage.ru_nivcsw as u64),
            ..Figures::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn schedstat_gives_time_on_cpu_run_delay_and_timeslices() {
        let s = super::schedstat_in("12345678 44750 17\n").expect("three fields");
        assert_eq!(
            (s.on_cpu_ns, s.run_delay_ns, s.timeslices),
            (12_345_678, 44_750, 17)
        );
        assert_eq!(super::schedstat_in("12345678\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_read() {
        let f = super::read(std::process::id(), true).expect("own process");
        assert!(f.rss_bytes > 0 && f.threads >= 1, "{f:?}");
        assert!(f.voluntary_ctx.is_some() && f.fds.expect("descriptors") >= 3);
        assert!(f.timeslices.expect("schedstat") >= 1, "{f:?}");
        assert!(f.on_cpu_ns.expect("schedstat") > 0, "{f:?}");
        let own = super::own().expect("own figures");
        assert!(own.cpu_s() >= 0.0 && own.rss_bytes > 0, "{own:?}");
    }
}
