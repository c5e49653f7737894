//! What a set of processes costs, summed from the workspace's one reader
//! (`hostinfo::process`): CPU split into user and system time, context
//! switches, resident memory, threads. Where it reads nothing (not Linux)
//! every reading is `None` and the table shows `-`.

use hostinfo::process::{self, Figures};

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

    fn add(&mut self, f: &Figures) {
        self.user_s += f.user_s;
        self.sys_s += f.sys_s;
        self.ctx += f.switches();
        self.rss_bytes += f.rss_bytes;
        self.threads += f.threads;
    }
}

/// Sums `pids`' figures; `None` if any cannot be read.
pub fn usage(pids: &[u32]) -> Option<Usage> {
    let mut sum = Usage::default();
    for &pid in pids {
        sum.add(&process::read(pid, true)?);
    }
    Some(sum)
}

/// A finished child's whole-life CPU and switches (wait4's rusage), for a
/// process that is gone before it can be read (redis-benchmark).
#[cfg(target_os = "linux")]
pub fn wait_with_usage(
    child: &mut std::process::Child,
) -> Option<(std::process::ExitStatus, Usage)> {
    let (status, figures) = process::wait(child)?;
    let mut used = Usage::default();
    used.add(&figures);
    Some((status, used))
}
