//! What the machine has and allows: CPUs, load, and whether a point's
//! descriptors and threads fit (raising the descriptor limit where it can).

use std::thread;

use crate::SERVERS;
use crate::options::Point;

pub fn cpus() -> usize {
    thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

pub fn load_text() -> String {
    hostinfo::machine::load_average()
        .map(|[l, _, _]| format!(", load {l:.2}"))
        .unwrap_or_default()
}

/// Why the descriptor limit is too low for a process needing `need`
/// descriptors, after trying to raise it.
pub fn fd_shortfall(need: u64) -> Option<String> {
    let have = hostinfo::limits::raise_open_files()?;
    (have < need).then(|| {
        format!(
            "needs about {need} open files per process, the limit is {have} \
             (raise the hard limit: ulimit -Hn, /etc/security/limits.conf)"
        )
    })
}

/// Why the machine cannot hold `p`'s threads now (Linux: every thread takes
/// a pid, and other runs' threads count too).
pub fn thread_shortfall(p: &Point) -> Option<String> {
    let number = |name: &str| hostinfo::limits::sysctl(name)?.parse::<u64>().ok();
    let cap = number("kernel.pid_max")?.min(number("kernel.threads-max")?);
    let now = hostinfo::machine::tasks()?;
    // Clients: a thread per link + main; servers: a thread per link + acceptor,
    // store and stdin; startup: a proxy per child.
    let (c, s) = (p.clients as u64, SERVERS as u64);
    let need = c * (s + 2) + s * (c + 4) + (c + s) + 64;
    (now + need > cap).then(|| {
        format!(
            "needs about {need} threads, {now} exist and the cap is {cap} \
             (raise kernel.pid_max and kernel.threads-max)"
        )
    })
}
