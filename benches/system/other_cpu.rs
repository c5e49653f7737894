//! How much of the machine other processes used during a run (Linux): all
//! CPUs' busy time from `/proc/stat` minus this process's and its reaped
//! descendants' (startup waits for its children, this bench for startup and
//! the ping-pong processes).

use std::time::Instant;

pub struct Meter {
    at: Instant,
    busy_s: f64,
    ours_s: f64,
}

impl Meter {
    pub fn start() -> Option<Meter> {
        Some(Meter {
            at: Instant::now(),
            busy_s: machine_busy_s()?,
            ours_s: ours_s()?,
        })
    }

    /// Percent of all CPUs' time used by other processes since `start`.
    pub fn other_percent(&self) -> Option<f64> {
        let wall = self.at.elapsed().as_secs_f64() * crate::machine::cpus() as f64;
        let other = (machine_busy_s()? - self.busy_s) - (ours_s()? - self.ours_s);
        (wall > 0.0).then(|| (other / wall * 100.0).clamp(0.0, 100.0))
    }
}

/// user + nice + system + irq + softirq of all CPUs, seconds.
#[cfg(target_os = "linux")]
fn machine_busy_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    Some(
        [0, 1, 2, 5, 6]
            .iter()
            .filter_map(|&i| f.get(i))
            .sum::<f64>()
            / 100.0,
    )
}

/// CPU of this process and of its reaped descendants, seconds.
#[cfg(target_os = "linux")]
pub fn ours_s() -> Option<f64> {
    let mut total = 0.0;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: getrusage fills one plain struct we own.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut u) } != 0 {
            return None;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        total += tv(u.ru_utime) + tv(u.ru_stime);
    }
    Some(total)
}

#[cfg(not(target_os = "linux"))]
fn machine_busy_s() -> Option<f64> {
    None
}

#[cfg(not(target_os = "linux"))]
pub fn ours_s() -> Option<f64> {
    None
}
