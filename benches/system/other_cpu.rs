//! How much of the machine other processes used during a run (Linux): all
//! CPUs' busy time from `/proc/stat` minus this process's and its reaped
//! descendants' (startup waits for its children, this bench for startup and
//! the ping-pong processes).

use std::time::Instant;

use hostinfo::machine::busy_cpu_s;
use hostinfo::process::cpu_with_children_s;

pub struct Meter {
    at: Instant,
    busy_s: f64,
    ours_s: f64,
}

impl Meter {
    pub fn start() -> Option<Meter> {
        Some(Meter {
            at: Instant::now(),
            busy_s: busy_cpu_s()?,
            ours_s: cpu_with_children_s()?,
        })
    }

    /// Percent of all CPUs' time used by other processes since `start`.
    pub fn other_percent(&self) -> Option<f64> {
        let wall = self.at.elapsed().as_secs_f64() * crate::machine::cpus() as f64;
        let other = (busy_cpu_s()? - self.busy_s) - (cpu_with_children_s()? - self.ours_s);
        (wall > 0.0).then(|| (other / wall * 100.0).clamp(0.0, 100.0))
    }
}
