//! What the whole machine is doing: its load average, its tasks and all
//! CPUs' busy time, for the benches' headers and their "other processes"
//! column and the limits' task count. Linux only (`/proc/loadavg`,
//! `/proc/stat`); elsewhere `None`.

/// The 1, 5 and 15-minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// Tasks (threads) on the whole machine now.
pub fn tasks() -> Option<u64> {
    tasks_in(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// `/proc/loadavg`'s fourth field is `running/total` tasks.
pub(crate) fn tasks_in(loadavg: &str) -> Option<u64> {
    let total = loadavg.split_whitespace().nth(3)?.split_once('/')?.1;
    total.parse().ok()
}

/// Seconds all CPUs have spent busy since boot: user, nice, system, irq
/// and softirq of `/proc/stat`'s first line (idle and iowait are not busy).
pub fn busy_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let busy: f64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| ticks.get(i)).sum();
    Some(busy / crate::process::ticks_per_s())
}
