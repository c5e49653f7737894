//! What the kernel holds on the processes' behalf and no process's resident
//! memory shows: a kernel stack per thread, slab objects (task structs,
//! sockets, their buffers' heads), page tables, and the TCP sockets with
//! the buffer memory charged to them.
//!
//! The figures are machine-wide (`/proc/meminfo`) or the network
//! namespace's (`/proc/net/sockstat`'s socket counts; its `mem` is the
//! protocol's whole charge), so a caller reads them before and after what
//! it measures and takes the difference ([`KernelMemory::since`],
//! [`TcpSockets::since`]); other work on the machine is in it too. So are
//! TCP's counters of handshakes dropped and retried ([`tcp_ext`]), which
//! say why connects came in bursts. Linux only; elsewhere every reading is
//! `None`.

/// The parts of `/proc/meminfo` that are the kernel's own memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelMemory {
    /// `KernelStack`: one stack per thread (16 KiB on x86-64).
    pub kernel_stack_bytes: i64,
    /// `Slab`: every slab cache, reclaimable and not.
    pub slab_bytes: i64,
    /// `SUnreclaim`: the slab the kernel cannot give back under pressure
    /// (task structs, sockets, socket buffers' heads); part of `slab_bytes`.
    pub slab_unreclaimable_bytes: i64,
    /// `PageTables`: the processes' page tables.
    pub page_tables_bytes: i64,
}

impl KernelMemory {
    /// What changed since `earlier` (a figure may fall: signed).
    pub fn since(&self, earlier: &KernelMemory) -> KernelMemory {
        KernelMemory {
            kernel_stack_bytes: self.kernel_stack_bytes - earlier.kernel_stack_bytes,
            slab_bytes: self.slab_bytes - earlier.slab_bytes,
            slab_unreclaimable_bytes: self.slab_unreclaimable_bytes
                - earlier.slab_unreclaimable_bytes,
            page_tables_bytes: self.page_tables_bytes - earlier.page_tables_bytes,
        }
    }
}

/// Reads `/proc/meminfo`'s kernel parts now.
pub fn memory() -> Option<KernelMemory> {
    memory_in(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// The kernel parts of a `/proc/meminfo` text (its figures are in kB,
/// which the kernel means as KiB).
pub(crate) fn memory_in(meminfo: &str) -> Option<KernelMemory> {
    let kib = |name: &str| field_bytes(meminfo, name);
    Some(KernelMemory {
        kernel_stack_bytes: kib("KernelStack")?,
        slab_bytes: kib("Slab")?,
        slab_unreclaimable_bytes: kib("SUnreclaim")?,
        page_tables_bytes: kib("PageTables")?,
    })
}

/// `/proc/meminfo`'s MemAvailable now, in bytes: the kernel's estimate of
/// what could be given to programs without swapping.
pub fn mem_available() -> Option<i64> {
    mem_available_in(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

fn mem_available_in(meminfo: &str) -> Option<i64> {
    field_bytes(meminfo, "MemAvailable")
}

/// The `/proc/meminfo` figure `name` (in kB, which the kernel means as
/// KiB) in bytes.
fn field_bytes(meminfo: &str, name: &str) -> Option<i64> {
    let rest = meminfo.lines().find_map(|l| l.strip_prefix(name))?;
    let kib: i64 = rest
        .strip_prefix(':')?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The `TCP:` line of `/proc/net/sockstat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpSockets {
    /// `inuse`: TCP sockets open (listening and connected), this namespace.
    pub in_use: i64,
    /// `orphan`: closed by their process, still held by the kernel.
    pub orphans: i64,
    /// `tw`: in TIME_WAIT.
    pub time_wait: i64,
    /// `mem` in bytes: buffer memory charged to TCP (the kernel counts it
    /// in pages, and in per-CPU batches, so small changes are coarse).
    pub mem_bytes: i64,
}

impl TcpSockets {
    /// What changed since `earlier` (signed).
    pub fn since(&self, earlier: &TcpSockets) -> TcpSockets {
        TcpSockets {
            in_use: self.in_use - earlier.in_use,
            orphans: self.orphans - earlier.orphans,
            time_wait: self.time_wait - earlier.time_wait,
            mem_bytes: self.mem_bytes - earlier.mem_bytes,
        }
    }
}

/// Reads `/proc/net/sockstat`'s TCP line now.
pub fn tcp_sockets() -> Option<TcpSockets> {
    let text = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    tcp_sockets_in(&text, page_bytes()?)
}

/// The TCP line of a `/proc/net/sockstat` text, `mem` turned from pages
/// of `page_bytes` into bytes.
pub(crate) fn tcp_sockets_in(sockstat: &str, page_bytes: i64) -> Option<TcpSockets> {
    let line = sockstat.lines().find_map(|l| l.strip_prefix("TCP:"))?;
    // Name and value alternate: `inuse 5 orphan 0 tw 0 alloc 7 mem 1`.
    let words: Vec<&str> = line.split_whitespace().collect();
    let field = |name: &str| -> Option<i64> {
        let at = words.chunks(2).position(|pair| pair[0] == name)?;
        words.get(2 * at + 1)?.parse().ok()
    };
    Some(TcpSockets {
        in_use: field("inuse")?,
        orphans: field("orphan")?,
        time_wait: field("tw")?,
        mem_bytes: field("mem")? * page_bytes,
    })
}

/// Processes the kernel's OOM killer has killed since boot
/// (`/proc/vmstat`'s `oom_kill`): a rise over a run says memory ran out.
pub fn oom_kills() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/vmstat").ok()?;
    let rest = text.lines().find_map(|l| l.strip_prefix("oom_kill "))?;
    rest.trim().parse().ok()
}

/// One of TCP's extended counters since boot (`/proc/net/netstat`'s
/// `TcpExt` lines), e.g. `ListenOverflows` (handshakes a full accept queue
/// dropped) or `TCPSynRetrans` (SYNs sent again after no answer): a rise
/// over a run says connects waited on the kernel's retry timers.
pub fn tcp_ext(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    tcp_ext_in(&text, name)
}

/// Counter `name` of a `/proc/net/netstat` text: a header line of names,
/// then a line of values, both starting `TcpExt:`.
pub(crate) fn tcp_ext_in(netstat: &str, name: &str) -> Option<u64> {
    let mut lines = netstat.lines().filter_map(|l| l.strip_prefix("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// The size of a memory page (TCP's `mem` and `tcp_mem` count in pages).
pub fn page_bytes() -> Option<i64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf only reads a constant of the system.
        let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        (bytes > 0).then_some(bytes as i64)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       24568032 kB\n\
        MemFree:         1000000 kB\n\
        Slab:             710516 kB\n\
        SReclaimable:     438892 kB\n\
        SUnreclaim:       271624 kB\n\
        KernelStack:      322972 kB\n\
        PageTables:        11996 kB\n\
        SecPageTables:         0 kB\n";

    #[test]
    fn meminfo_gives_the_kernel_parts_in_bytes() {
        let m = memory_in(MEMINFO).expect("all four present");
        assert_eq!(m.kernel_stack_bytes, 322_972 * 1024);
        assert_eq!(m.slab_bytes, 710_516 * 1024);
        assert_eq!(m.slab_unreclaimable_bytes, 271_624 * 1024);
        // `PageTables`, not `SecPageTables`, though both end the same.
        assert_eq!(m.page_tables_bytes, 11_996 * 1024);
        let later = KernelMemory {
            kernel_stack_bytes: m.kernel_stack_bytes + 16 * 1024,
            page_tables_bytes: m.page_tables_bytes - 4096,
            ..m
        };
        let d = later.since(&m);
        assert_eq!(
            (d.kernel_stack_bytes, d.page_tables_bytes),
            (16 * 1024, -4096)
        );
        assert_eq!(memory_in("MemTotal: 1 kB\n"), None);
        assert_eq!(mem_available_in(MEMINFO), None);
        assert_eq!(
            mem_available_in("MemAvailable:   20000 kB\n"),
            Some(20_000 * 1024)
        );
    }

    #[test]
    fn netstat_gives_a_tcp_ext_counter_by_name() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPSynRetrans\n\
            TcpExt: 0 28353 28354 29048\n\
            IpExt: InNoRoutes ListenOverflows\n\
            IpExt: 1 7\n";
        assert_eq!(tcp_ext_in(text, "ListenOverflows"), Some(28_353));
        assert_eq!(tcp_ext_in(text, "TCPSynRetrans"), Some(29_048));
        assert_eq!(tcp_ext_in(text, "NoSuchCounter"), None);
        assert_eq!(tcp_ext_in("IpExt: A\nIpExt: 1\n", "A"), None);
    }

    #[test]
    fn sockstat_gives_the_tcp_line() {
        let text = "sockets: used 290\n\
            TCP: inuse 5 orphan 1 tw 2 alloc 7 mem 3\n\
            UDP: inuse 1 mem 9\n";
        let t = tcp_sockets_in(text, 4096).expect("a TCP line");
        assert_eq!(
            t,
            TcpSockets {
                in_use: 5,
                orphans: 1,
                time_wait: 2,
                mem_bytes: 3 * 4096
            }
        );
        assert_eq!(t.since(&t), TcpSockets::default());
        assert_eq!(tcp_sockets_in("UDP: inuse 1 mem 9\n", 4096), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_can_be_read() {
        let m = memory().expect("/proc/meminfo");
        assert!(m.kernel_stack_bytes > 0 && m.slab_bytes >= m.slab_unreclaimable_bytes);
        assert!(tcp_sockets().expect("/proc/net/sockstat").in_use >= 0);
    }
}
