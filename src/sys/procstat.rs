//! What a child process costs, read from the OS: CPU time, resident memory,
//! threads, open descriptors and (on Linux) context switches.
//!
//! Linux reads `/proc/<pid>/stat` and `/proc/<pid>/status` and counts
//! `/proc/<pid>/fd`; Windows asks the Win32 process APIs (see
//! `sys::windows`). Elsewhere nothing is reported.
//! startup samples every child once a round (a second up to 200 clients),
//! a few at a time, and keeps, per process, the first and last sample and
//! the peaks; `launcher::usage` turns them into the report's figures.

pub use crate::messages::ProcessSample as Sample;

/// Whether [`sample`] counts open descriptors here (Linux: `/proc/<pid>/fd`;
/// Windows: handles): a sum of none of them is then 0, not unknown.
pub const COUNTS_FDS: bool = cfg!(any(target_os = "linux", windows));

/// Reads one process, or `None` if it is gone or the OS gives no figures.
///
/// `with_ctx` also counts context switches, which on Linux means reading one
/// file per thread: a few thousand reads for a big run, so startup asks for
/// them only at the start and the end, not every second.
pub fn sample(pid: u32, with_ctx: bool) -> Option<Sample> {
    #[cfg(target_os = "linux")]
    {
        linux::sample(pid, with_ctx)
    }
    #[cfg(windows)]
    {
        let _ = with_ctx;
        crate::sys::windows::process_sample(pid)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = (pid, with_ctx);
        None
    }
}

/// This process's own whole-life figures, read from inside it.
///
/// Unlike [`sample`], the context switches here include those of threads
/// that have already exited: a client reports this after its link threads
/// have ended, a server when asked for `stats` after its links closed, so
/// CPU and switches cover exactly the updates the process handled.
pub fn own() -> Option<Sample> {
    #[cfg(target_os = "linux")]
    {
        linux::own()
    }
    #[cfg(not(target_os = "linux"))]
    {
        sample(std::process::id(), false)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::Sample;

    /// See [`super::own`]: getrusage(RUSAGE_SELF) sums every thread the
    /// process ever had, where `/proc/<pid>/task` lists only live ones.
    pub fn own() -> Option<Sample> {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes one `rusage` into memory we own and that
        // is valid (zeroed) for it; RUSAGE_SELF needs no other argument.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: getrusage returned 0, so it filled the struct (and a
        // zeroed rusage is a valid value anyway: plain integers).
        let usage = unsafe { usage.assume_init() };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let live = sample(std::process::id(), false)?;
        Some(Sample {
            cpu_s: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            voluntary_ctx: Some(usage.ru_nvcsw as u64),
            involuntary_ctx: Some(usage.ru_nivcsw as u64),
            ..live
        })
    }

    /// Clock ticks per second of `/proc/<pid>/stat` times. USER_HZ is 100 on
    /// every Linux ABI Rust supports (sysconf would need libc for a constant).
    const USER_HZ: f64 = 100.0;

    pub fn sample(pid: u32, with_ctx: bool) -> Option<Sample> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces: split after it.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // fields[0] is field 3 (state); utime is field 14, stime field 15.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        // A process's status counts only its main thread's switches: sum
        // the threads' own counts (exited threads' switches are lost, which
        // for long-lived link threads is nothing).
        let mut ctx = None;
        if with_ctx {
            let (mut voluntary, mut involuntary) = (0, 0);
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
            for task in tasks.flatten() {
                let Ok(text) = std::fs::read_to_string(task.path().join("status")) else {
                    continue;
                };
                voluntary += value(&text, "voluntary_ctxt_switches:").unwrap_or(0);
                involuntary += value(&text, "nonvoluntary_ctxt_switches:").unwrap_or(0);
            }
            ctx = Some((voluntary, involuntary));
        }
        Some(Sample {
            cpu_s: (utime + stime) / USER_HZ,
            rss_bytes: value(&status, "VmRSS:").unwrap_or(0) * 1024,
            threads: value(&status, "Threads:").unwrap_or(0),
            voluntary_ctx: ctx.map(|c| c.0),
            involuntary_ctx: ctx.map(|c| c.1),
            fds: open_fds(pid),
        })
    }

    /// The open descriptors of a process: the entries of `/proc/<pid>/fd`
    /// (one directory read, no `readlink`). Reading our own, the directory
    /// being read is one of them: it is left out.
    fn open_fds(pid: u32) -> Option<u64> {
        let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        let reading = u64::from(pid == std::process::id());
        Some(entries.saturating_sub(reading))
    }

    /// The number after `name` in a `/proc/.../status` text.
    fn value(status: &str, name: &str) -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_os = "linux", windows))]
    #[test]
    fn this_process_can_be_read() {
        let s = sample(std::process::id(), true).expect("own process");
        assert!(s.rss_bytes > 0);
        assert!(s.threads >= 1);
        assert_eq!(s.voluntary_ctx.is_some(), cfg!(target_os = "linux"));
        // stdin, stdout and stderr at least (Windows: a handful of handles).
        // Wine keeps no handle count: there the figure is unknown, not zero.
        if cfg!(target_os = "linux") {
            assert!(s.fds.expect("descriptors") >= 3, "{s:?}");
        } else if let Some(handles) = s.fds {
            assert!(handles >= 3, "{s:?}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_opened_is_one_more_descriptor() {
        // Other tests' threads open files too: retry until two readings
        // around the open are one apart, a few times at most.
        let count = || sample(std::process::id(), false).and_then(|s| s.fds);
        let seen = (0..20).any(|_| {
            let before = count();
            let file = std::fs::File::open("/proc/self/stat").expect("open");
            let during = count();
            drop(file);
            let after = count();
            before.is_some() && before == after && during == before.map(|n| n + 1)
        });
        assert!(seen, "opening one file never showed as one more descriptor");
    }
}
