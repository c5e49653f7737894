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
//! Link threads also run at a lower priority than the control threads (a
//! client's main thread, a server's acceptor and store thread, startup):
//! when the load saturates the machine, a status request, a stop or a
//! Ctrl-C is still served promptly instead of waiting behind two thousand
//! busy link threads. They run whenever no control thread needs the CPU,
//! which is nearly always.
//!
//! The clients' link threads go one step lower than the servers': they are
//! the load generator, and the load generator must not starve the system it
//! measures. Under saturation at seed scale, with both ends at nice +19, a
//! server's link thread woken by an update waited behind a thousand runnable
//! client threads catching up on their schedule, now and then for longer
//! than `request_timeout_ms` (5 s): the client counted an ack timeout and
//! reconnected, although nothing on the network had failed. On Linux a
//! client link thread therefore runs under `SCHED_IDLE`: a server thread
//! that wakes preempts it at once and otherwise outweighs it five to one.
//! Clients fall further behind their schedule instead, which is what the
//! report's lateness and its generator-saturation rule are for. Measured
//! with a 1 s timeout as a probe: ack timeouts 25, 2, 2 before and 0, 0, 0
//! after, in alternating 4-minute runs (docs/PERFORMANCE.md, "The load
//! generator ranks below the servers").
//!
//! How far to lower is a measured choice. Windows priorities are strict, so
//! "below normal" already puts every control thread first. Linux shares the
//! CPU in proportion to weights instead: a nice 0 thread weighs 1024, nice
//! +10 weighs 110 and nice +19 weighs 15. Against 2,000 runnable link
//! threads, startup's main thread got 1024 / (1024 + 2000 x 110) = 0.5% of
//! the CPU at +10, and a 5 s run at seed scale took 11-20 s to end; at +19
//! it gets 3.3% and the same run ends in 6.1 s (docs/PERFORMANCE.md, "Why
//! the control plane was slow under saturation").
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

/// Lowers the calling thread's scheduling priority to the lowest nice
/// value (Linux: +19; Windows: below normal). Lowering needs no privilege; failure is harmless.
pub fn lower_current_thread_priority() -> bool {
    imp::lower_priority()
}

/// Lowers the calling thread below the servers' link threads: for the
/// load generator's threads (Linux: `SCHED_IDLE`, or nice +19 where that is
/// refused; Windows: lowest). Failure is harmless.
pub fn lower_current_thread_below_servers() -> bool {
    imp::below_servers()
}

#[cfg(target_os = "linux")]
mod imp {
    /// The nice value of link threads: the lowest, see the module docs.
    const LINK_NICE: libc::c_int = 19;

    pub fn lower_priority() -> bool {
        // SAFETY: plain syscalls with no pointers. On Linux the nice value
        // is per thread, so the thread id targets this thread alone.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, LINK_NICE) == 0
        }
    }

    pub fn below_servers() -> bool {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` outlives the call, which only reads it; pid 0
        // means the calling thread.
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 };
        idle || lower_priority()
    }

    pub fn pin(cpu: usize) -> bool {
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
    pub fn pin(cpu: usize) -> bool {
        crate::sys::windows::pin_current_thread(cpu)
    }

    pub fn lower_priority() -> bool {
        crate::sys::windows::lower_current_thread_priority()
    }

    pub fn below_servers() -> bool {
        crate::sys::windows::lowest_current_thread_priority()
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod imp {
    pub fn pin(_cpu: usize) -> bool {
        false
    }

    pub fn lower_priority() -> bool {
        false
    }

    pub fn below_servers() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_spread_over_cpus_and_pinning_works() {
        let cpus = std::thread::available_parallelism().unwrap().get();
        let ports = [38677, 38678, 38679];
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
    /// A client link thread must end up below a server's: on Linux under
    /// SCHED_IDLE, which a server's nice +19 thread preempts.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_client_link_thread_runs_below_a_server_link_thread() {
        // SAFETY: sched_getscheduler(0) only reads the calling thread's policy.
        let policy = || unsafe { libc::sched_getscheduler(0) };
        let policies = std::thread::spawn(move || {
            let before = policy();
            assert!(lower_current_thread_below_servers());
            (before, policy())
        })
        .join()
        .unwrap();
        assert_eq!(policies, (libc::SCHED_OTHER, libc::SCHED_IDLE));
    }
}
