//! What the whole machine is doing: its load average, its tasks and all
//! CPUs' busy time, for the benches' headers and their "other processes"
//! column and the limits' task count; and what it is (CPU model, kernel
//! release, host name), which startup's capacity cache compares before it
//! trusts a figure measured earlier. Linux only (`/proc`); elsewhere `None`.

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

/// The CPU's model name: the first `model name` line of `/proc/cpuinfo`
/// (on ARM, where there is none, its `Hardware` or `Processor` line).
pub fn cpu_model() -> Option<String> {
    cpu_model_in(&std::fs::read_to_string("/proc/cpuinfo").ok()?)
}

/// The model name in `/proc/cpuinfo`'s text, spaces collapsed.
pub(crate) fn cpu_model_in(cpuinfo: &str) -> Option<String> {
    ["model name", "Hardware", "Processor"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
                (name.trim() == *key && !value.is_empty()).then_some(value)
            })
        })
}

/// The running kernel's release (`/proc/sys/kernel/osrelease`, what
/// `uname -r` prints).
pub fn kernel_release() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    Some(text.trim().to_string()).filter(|r| !r.is_empty())
}

/// This host's name (`/proc/sys/kernel/hostname`).
pub fn host_name() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(text.trim().to_string()).filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_name_is_the_first_one_listed() {
        let x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)  CPU @ 2.20GHz\n\
                   processor\t: 1\nmodel name\t: Intel(R) Xeon(R)  CPU @ 2.20GHz\n";
        assert_eq!(
            cpu_model_in(x86).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        let arm = "processor\t: 0\nBogoMIPS\t: 108.00\nHardware\t: BCM2835\n";
        assert_eq!(cpu_model_in(arm).as_deref(), Some("BCM2835"));
        assert_eq!(cpu_model_in("processor\t: 0\n"), None);
    }
}
