//! CPU locality: pin a link's threads, on both ends, to one CPU chosen by
//! the server's port.
//!
//! Every update wakes two threads: the server's link thread when the update
//! arrives, the client's when the ack does. If they sit on different CPUs,
//! each wakeup is a cross-CPU interrupt, and in a virtual machine an IPI
//! costs a VM exit. Pinning every thread of a link to one CPU, on the client
//! *and* the server, makes both wakeups local. The CPU is the server's
//! position in `server_port_list`, modulo the CPU count: both ends read the
//! same config, so the choice needs no coordination, and consecutive servers
//! land on different CPUs whatever their port numbers are.
//!
//! Threads run at three ranks, so that a saturated machine spends its CPU
//! where it matters: **normal** for every control thread and a server's
//! link threads (the system under measure, which also answer the
//! operations commands); **background** (Linux nice +19, Windows below
//! normal) for startup's dashboard threads; the **load generator's** (Linux
//! `SCHED_IDLE`, Windows lowest) for a client's link threads, so that a
//! fixed-rate schedule fallen behind, with a thousand of them runnable,
//! does not starve the servers it measures: the clients fall further behind
//! instead, which the report's lateness shows. How each rank was chosen,
//! with its measurements: docs/DECISIONS.md, "Thread ranks".
//!
//! `cpu_affinity: "off"` leaves placement to the OS scheduler. Pinning is
//! done on Linux (sched_setaffinity) and Windows (SetThreadAffinityMask);
//! elsewhere it is a no-op.

/// The CPU for links to the server on `port`.
pub fn cpu_for_port(ports: &[u16], port: u16) -> usize {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let slot = ports
        .iter()
        .position(|p| *p == port)
        .unwrap_or(usize::from(port));
    slot % cpus
}

/// Pins the calling thread to `cpu`. Returns false if the OS refused (the
/// thread then runs wherever the scheduler puts it, which is only slower).
pub fn pin_current_thread(cpu: usize) -> bool {
    imp::pin(cpu)
}

/// Lowers the calling thread to the background rank, below the control
/// threads (Linux: nice +19; Windows: below normal), for startup's
/// dashboard. Lowering needs no privilege; failure is harmless.
pub(crate) fn lower_current_thread_priority() -> bool {
    imp::lower_priority()
}

/// Lowers the calling thread to the load generator's rank, below the
/// servers' link threads (Linux: `SCHED_IDLE`, or nice +19 where that is
/// refused; Windows: lowest). Failure is harmless.
pub fn lower_current_thread_below_servers() -> bool {
    if client_rank() == ClientRank::Normal {
        return false;
    }
    imp::below_servers()
}

/// The environment variable that picks the client link threads' rank
/// (`MASS_CONNECT_CLIENT_RANK`: `idle`, the default, `normal` or
/// `adaptive`): the A/B switch behind the rank measurements in
/// docs/PERFORMANCE.md. startup's children inherit it.
pub const CLIENT_RANK_ENV: &str = "MASS_CONNECT_CLIENT_RANK";

/// How a client's link threads rank against the servers' (see the module
/// docs and docs/PERFORMANCE.md, "The client link threads' rank").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRank {
    /// The load generator's rank from the start (the default: under
    /// saturation it kept the most throughput and no ack timeouts).
    Idle,
    /// Normal until the link falls far behind its schedule, then the load
    /// generator's rank for the rest of the run: on time near the knee,
    /// but 20% less throughput than `Idle` under saturation.
    Adaptive,
    /// The normal rank throughout.
    Normal,
}

/// The client link threads' rank, from [`CLIENT_RANK_ENV`], read once.
pub fn client_rank() -> ClientRank {
    static RANK: std::sync::OnceLock<ClientRank> = std::sync::OnceLock::new();
    *RANK.get_or_init(|| match std::env::var(CLIENT_RANK_ENV).as_deref() {
        Ok("adaptive") => ClientRank::Adaptive,
        Ok("normal") => ClientRank::Normal,
        _ => ClientRank::Idle,
    })
}

#[cfg(target_os = "linux")]
mod imp {
    /// The nice value of background threads: the lowest, see the module docs.
    const BACKGROUND_NICE: libc::c_int = 19;

    pub(crate) fn lower_priority() -> bool {
        // SAFETY: plain syscalls with no pointers. On Linux the nice value
        // is per thread, so the thread id targets this thread alone.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, BACKGROUND_NICE) == 0
        }
    }

    pub(crate) fn below_servers() -> bool {
        // The raw syscall, not libc's wrapper: Linux sets the policy per
        // thread, and musl (the static release build) refuses the wrapper
        // with ENOSYS because POSIX means it per process; glibc's passes it
        // through. Zeroed, not a struct literal: musl's sched_param has
        // fields past sched_priority, glibc's has none; 0 is the priority
        // SCHED_IDLE needs.
        // SAFETY: sched_param is plain integers, all-zero is a valid value;
        // `param` outlives the call, which only reads it; pid 0 means the
        // calling thread.
        let idle = unsafe {
            let param: libc::sched_param = std::mem::zeroed();
            libc::syscall(
                libc::SYS_sched_setscheduler,
                0 as libc::pid_t,
                libc::SCHED_IDLE,
                &param as *const libc::sched_param,
            ) == 0
        };
        idle || lower_priority()
    }

    pub(crate) fn pin(cpu: usize) -> bool {
        if cpu >= libc::CPU_SETSIZE as usize {
            return false;
        }
        // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it
        // (cpu is bounds-checked above); pid 0 means the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_ZERO(&mut set);
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }
}

#[cfg(windows)]
mod imp {
    pub(crate) fn pin(cpu: usize) -> bool {
        crate::sys::windows::pin_current_thread(cpu)
    }

    pub(crate) fn lower_priority() -> bool {
        crate::sys::windows::lower_current_thread_priority()
    }

    pub(crate) fn below_servers() -> bool {
        crate::sys::windows::lowest_current_thread_priority()
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod imp {
    pub(crate) fn pin(_cpu: usize) -> bool {
        false
    }

    pub(crate) fn lower_priority() -> bool {
        false
    }

    pub(crate) fn below_servers() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_spread_over_cpus_and_pinning_works() {
        let cpus = std::thread::available_parallelism().unwrap().get();
        let ports = [18677, 18678, 18679];
        assert_eq!(cpu_for_port(&ports, ports[0]), 0);
        assert_eq!(cpu_for_port(&ports, ports[1]), 1 % cpus);
        assert!(cpu_for_port(&ports, 1234) < cpus);
        if cfg!(any(target_os = "linux", windows)) {
            let pinned = std::thread::spawn(|| pin_current_thread(0)).join().unwrap();
            assert!(pinned);
        }
        assert!(
            !std::thread::spawn(|| pin_current_thread(1 << 20))
                .join()
                .unwrap()
        );
    }
}
