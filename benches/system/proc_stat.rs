//! CPU time, context switches and memory of a process, from `/proc` (Linux).
//! Elsewhere every reading is `None`, and the ping-pong's CPU and switch
//! figures are left empty.

#[derive(Clone, Copy)]
pub struct Sample {
    /// utime + stime, seconds.
    pub cpu_s: f64,
    /// voluntary + nonvoluntary switches summed over the live threads.
    pub ctx_switches: u64,
    pub rss_bytes: u64,
}

pub fn sample_all(pids: &[u32]) -> Vec<Option<Sample>> {
    pids.iter().map(|&pid| sample(pid)).collect()
}

/// The crate's own reader (the one startup uses), so the floor and the
/// system are measured the same way.
#[cfg(target_os = "linux")]
pub fn sample(pid: u32) -> Option<Sample> {
    let s = mass_connect::sys::procstat::sample(pid, true)?;
    Some(Sample {
        cpu_s: s.cpu_s,
        ctx_switches: s.voluntary_ctx? + s.involuntary_ctx?,
        rss_bytes: s.rss_bytes,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn sample(_pid: u32) -> Option<Sample> {
    None
}
