//! What a child process costs, read from the OS: CPU time, resident memory,
//! threads, open descriptors and (on Linux) context switches.
//!
//! Linux reads `/proc` through `hostinfo::process`, the workspace's one
//! reader (the benches use it too); Windows asks the Win32 process APIs
//! (see `sys::windows`). Elsewhere nothing is reported.
//! startup samples every child once a round (a second up to 200 clients),
//! a few at a time, and keeps, per process, the first and last sample and
//! the peaks; `launcher::usage` turns them into the report's figures.

pub(crate) use crate::messages::ProcessSample as Sample;

/// Whether [`sample`] counts open descriptors here (Linux: `/proc/<pid>/fd`;
/// Windows: handles): a sum of none of them is then 0, not unknown.
pub(crate) const COUNTS_FDS: bool = cfg!(any(target_os = "linux", windows));

/// Reads one process, or `None` if it is gone or the OS gives no figures.
///
/// `with_ctx` also counts context switches, which on Linux means reading one
/// file per thread: a few thousand reads for a big run, so startup asks for
/// them only at the start and the end, not every second.
pub(crate) fn sample(pid: u32, with_ctx: bool) -> Option<Sample> {
    #[cfg(target_os = "linux")]
    {
        hostinfo::process::read(pid, with_ctx).map(sample_of)
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
pub(crate) fn own() -> Option<Sample> {
    #[cfg(target_os = "linux")]
    {
        hostinfo::process::own().map(sample_of)
    }
    #[cfg(not(target_os = "linux"))]
    {
        sample(std::process::id(), false)
    }
}

/// The product's sample of the shared reader's figures.
#[cfg(target_os = "linux")]
fn sample_of(f: hostinfo::process::Figures) -> Sample {
    Sample {
        cpu_s: f.cpu_s(),
        rss_bytes: f.rss_bytes,
        threads: f.threads,
        voluntary_ctx: f.voluntary_ctx,
        involuntary_ctx: f.involuntary_ctx,
        fds: f.fds,
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
