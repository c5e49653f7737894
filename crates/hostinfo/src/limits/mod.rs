//! Reading the OS limits a layout meets: open files, tasks, local ports.
//!
//! startup's pre-flight compares what a layout needs with these figures
//! before it spawns anything, and the benches check a point against them.
//! This module only reads them, and raises a limit when asked; the
//! arithmetic and the messages are the callers'.
//!
//! Every figure is an `Option`: one that cannot be read here is `None`, and
//! the check that needs it is skipped rather than guessed. Where they come
//! from:
//!
//! * Linux: `getrlimit` for RLIMIT_NOFILE and RLIMIT_NPROC (which counts
//!   threads, per real user; the kernel does not apply it to root, so it is
//!   left out for root), `/proc/sys/kernel/pid_max` and `threads-max` with
//!   the tasks running now (`/proc/loadavg`), `/proc/sys/fs/file-nr`, the
//!   cgroup's `pids.max` on every level from this process's cgroup up to its
//!   hierarchy's root (v2, or v1's `pids` controller; the mount points come
//!   from `/proc/self/mountinfo`, so a hybrid host's `/sys/fs/cgroup/unified`
//!   is found too), and `net.ipv4.ip_local_port_range` with
//!   `ip_local_reserved_ports`.
//! * Windows: the dynamic port range, from `netsh int ipv4 show dynamicport
//!   tcp` (one short process, given at most 2 s), or else Windows' default,
//!   marked as assumed. Handles and threads have no limit worth reading.
//! * Elsewhere: nothing, so nothing is checked.

use std::io;
use std::path::PathBuf;

/// A resource limit's soft and hard values; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// What the process gets now; it may raise this up to `hard` itself.
    pub soft: Option<u64>,
    /// The ceiling; only a privileged process raises it.
    pub hard: Option<u64>,
}

/// The resource limits the pre-flight may raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// RLIMIT_NOFILE: open files per process.
    OpenFiles,
    /// RLIMIT_NPROC: tasks (threads) per real user, on Linux.
    UserTasks,
}

/// The tightest task limit among this process's cgroup and its ancestors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupTasks {
    /// Its `pids.max`.
    pub max: u64,
    /// Its `pids.current`: tasks in it and below it now.
    pub current: u64,
    /// The cgroup directory that sets it.
    pub dir: PathBuf,
}

/// The local ports the OS gives outgoing connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// The first port of the range.
    pub first: u16,
    /// The last port, included.
    pub last: u16,
    /// True when this is the OS's default, not read from this host.
    pub assumed: bool,
}

impl PortRange {
    /// How many ports the range holds.
    pub fn size(&self) -> u64 {
        u64::from(self.last) + 1 - u64::from(self.first)
    }

    /// True if `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

/// Windows' dynamic port range unless someone changed it (since Vista).
pub const WINDOWS_DEFAULT_PORTS: PortRange = PortRange {
    first: 49152,
    last: 65535,
    assumed: true,
};

/// What this host allows, as far as it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// RLIMIT_NOFILE, which children inherit.
    pub nofile: Option<Rlimit>,
    /// RLIMIT_NPROC; `None` where it does not apply (root, Windows).
    pub nproc: Option<Rlimit>,
    /// Tasks of this real user running now (what RLIMIT_NPROC counts).
    pub user_tasks: Option<u64>,
    /// `kernel.pid_max`: every thread takes a process id.
    pub pid_max: Option<u64>,
    /// `kernel.threads-max`.
    pub threads_max: Option<u64>,
    /// Tasks (threads) on the whole system now.
    pub tasks: Option<u64>,
    /// `fs.file-max`: open files on the whole system.
    pub file_max: Option<u64>,
    /// Open files on the whole system now.
    pub files_open: Option<u64>,
    /// The cgroup's task limit, if one is set.
    pub cgroup: Option<CgroupTasks>,
    /// The local ports outgoing connections get.
    pub ports: Option<PortRange>,
    /// Ports inside that range the OS keeps for explicit binds, as ranges.
    pub reserved_ports: Vec<(u16, u16)>,
}

/// Reads this host's limits.
#[cfg(target_os = "linux")]
pub fn read() -> Limits {
    linux::read()
}

/// Reads this host's limits: the dynamic port range.
#[cfg(windows)]
pub fn read() -> Limits {
    Limits {
        ports: Some(windows_ports::dynamic_ports()),
        ..Limits::default()
    }
}

/// Reads this host's limits: none are read on this platform.
#[cfg(not(any(target_os = "linux", windows)))]
pub fn read() -> Limits {
    Limits::default()
}

/// Raises this process's soft `resource` limit to `soft`, keeping the hard
/// one. Children started afterwards inherit it.
///
/// # Errors
/// The OS refused (above the hard limit), or the platform has no such limit.
pub fn raise_soft(resource: Resource, soft: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        linux::rlimit(resource, Some(soft), None).map(|_| ())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (resource, soft);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no resource limits to raise on this platform",
        ))
    }
}

/// Raises the open-files limit as far as this process may (as root, the
/// hard limit too) and returns the soft limit now in force; children
/// started afterwards inherit it. The benches call it before a point with
/// thousands of links; `None` where there is no such limit.
pub fn raise_open_files() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        linux::raise_open_files()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// A kernel setting by its sysctl name (`vm.max_map_count`), as written
/// under `/proc/sys`; `None` where it cannot be read.
pub fn sysctl(name: &str) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        linux::sysctl(name)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = name;
        None
    }
}

#[cfg(target_os = "linux")]
mod linux;

/// `netsh int ipv4 show dynamicport tcp` prints the start port and the
/// number of ports, each after a colon, under labels in the system's
/// language; only the numbers are read.
#[cfg(any(windows, test))]
fn parse_netsh(text: &str) -> Option<PortRange> {
    let mut numbers = text
        .lines()
        .filter_map(|l| l.rsplit_once(':'))
        .filter_map(|(_, value)| value.trim().parse::<u32>().ok());
    let (start, count) = (numbers.next()?, numbers.next()?);
    let last = start.checked_add(count)?.checked_sub(1)?;
    (start >= 1 && count >= 1 && last <= 65535).then_some(PortRange {
        first: start as u16,
        last: last as u16,
        assumed: false,
    })
}

#[cfg(windows)]
mod windows_ports {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::{PortRange, WINDOWS_DEFAULT_PORTS, parse_netsh};

    /// The dynamic port range as netsh reports it, or the default.
    pub(super) fn dynamic_ports() -> PortRange {
        netsh()
            .and_then(|t| parse_netsh(&t))
            .unwrap_or(WINDOWS_DEFAULT_PORTS)
    }

    /// netsh's answer, or `None` if it fails or takes more than 2 s: the
    /// figure is not worth holding the start for.
    fn netsh() -> Option<String> {
        let mut child = Command::new("netsh")
            .args(["int", "ipv4", "show", "dynamicport", "tcp"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut out = child.stdout.take()?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
        let answer = rx.recv_timeout(Duration::from_secs(2)).ok();
        if answer.is_none() {
            let _ = child.kill();
        }
        let status = child.wait().ok()?;
        // The labels are in the console's code page: only the digits matter.
        answer
            .filter(|_| status.success())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    use super::linux::{
        parse_file_nr, parse_port_list, parse_port_range, pids_cgroup, tightest_cgroup,
    };
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_files_are_parsed() {
        assert_eq!(parse_file_nr("3605\t0\t2466170\n"), Some((3605, 2466170)));
        assert_eq!(parse_file_nr("1 2"), None);
        assert_eq!(
            crate::machine::tasks_in("110.55 84.88 99.14 1272/2345 17810\n"),
            Some(2345)
        );
        let range = parse_port_range("32768\t60999\n").unwrap();
        assert_eq!(
            (range.first, range.last, range.size()),
            (32768, 60999, 28232)
        );
        assert!(range.contains(38677) && !range.contains(61000));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_list("\n"), vec![]);
        assert_eq!(
            parse_port_list("38677-38679,40000\n"),
            vec![(38677, 38679), (40000, 40000)]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_pids_cgroup_is_found_in_each_layout() {
        let cases = [
            // A hybrid host (this project's VM): pids is a v1 controller,
            // v2 is mounted at /sys/fs/cgroup/unified.
            (
                "9:name=systemd:/\n8:pids:/build\n4:memory:/x\n0::/\n",
                "35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n\
                 41 25 0:36 / /sys/fs/cgroup/pids rw,nosuid shared:20 - cgroup cgroup rw,pids\n",
                ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/pids/build"),
            ),
            // Pure v2, a systemd user session.
            (
                "0::/user.slice/user-1000.slice/session-2.scope\n",
                "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                (
                    "/sys/fs/cgroup",
                    "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope",
                ),
            ),
            // A container whose mount starts inside the hierarchy.
            (
                "0::/docker/abc\n",
                "30 23 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
                ("/sys/fs/cgroup", "/sys/fs/cgroup"),
            ),
        ];
        for (cgroup, mountinfo, (mount, dir)) in cases {
            let found = pids_cgroup(cgroup, mountinfo);
            assert_eq!(found, Some((mount.into(), dir.into())), "{cgroup}");
        }
        assert_eq!(pids_cgroup("0::/\n", ""), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_tightest_cgroup_level_wins_and_max_means_none() {
        let root = std::env::temp_dir().join(format!("mc-cgroup-{}", std::process::id()));
        let leaf = root.join("user.slice/session.scope");
        std::fs::create_dir_all(&leaf).unwrap();
        let write = |dir: &std::path::Path, max: &str, current: &str| {
            std::fs::write(dir.join("pids.max"), max).unwrap();
            std::fs::write(dir.join("pids.current"), current).unwrap();
        };
        write(&leaf, "max\n", "10\n");
        write(&root.join("user.slice"), "1000\n", "900\n");
        write(&root, "5000\n", "950\n");
        let found = tightest_cgroup(&root, &leaf).unwrap();
        assert_eq!((found.max, found.current), (1000, 900));
        assert_eq!(found.dir, root.join("user.slice"));
        write(&root.join("user.slice"), "max\n", "900\n");
        assert_eq!(tightest_cgroup(&root, &leaf).unwrap().max, 5000);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn netsh_numbers_are_read_in_any_language() {
        let english = "\nProtocol tcp Dynamic Port Range\n---------------------------------\n\
                       Start Port      : 49152\nNumber of Ports : 16384\n";
        assert_eq!(
            parse_netsh(english),
            Some(PortRange {
                first: 49152,
                last: 65535,
                assumed: false
            })
        );
        let german = "Startport       : 10000\r\nAnzahl der Ports: 55536\r\n";
        assert_eq!(parse_netsh(german).map(|r| r.size()), Some(55536));
        assert_eq!(
            parse_netsh("Start Port : 60000\nNumber of Ports : 9000\n"),
            None
        );
        assert_eq!(parse_netsh("netsh: unknown command"), None);
    }

    /// The real figures of the machine running the tests.
    #[cfg(target_os = "linux")]
    #[test]
    fn this_hosts_limits_are_plausible() {
        let limits = read();
        let nofile = limits.nofile.expect("getrlimit(RLIMIT_NOFILE)");
        let soft = nofile.soft.expect("a finite open-files limit");
        assert!(soft >= 16, "{nofile:?}");
        assert!(nofile.hard.is_none_or(|hard| hard >= soft), "{nofile:?}");
        let pid_max = limits.pid_max.unwrap();
        assert!((301..=4_194_304).contains(&pid_max), "{pid_max}");
        assert!(limits.threads_max.unwrap() > 0);
        // At least this process's threads run, and fewer than pid_max tasks.
        let tasks = limits.tasks.unwrap();
        assert!(tasks >= 1 && tasks < pid_max, "{tasks}");
        assert!(limits.files_open.unwrap() < limits.file_max.unwrap());
        let ports = limits.ports.unwrap();
        assert!(
            !ports.assumed && ports.first >= 1 && ports.size() >= 1,
            "{ports:?}"
        );
        if let Some(cgroup) = &limits.cgroup {
            assert!(cgroup.dir.join("pids.max").is_file(), "{cgroup:?}");
        }
        if limits.nproc.is_some_and(|l| l.soft.is_some()) {
            assert!(limits.user_tasks.unwrap() >= 1);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_soft_limit_is_raised_up_to_the_hard_one_only() {
        // Runs in the test process: raise to the soft value it already has
        // (a no-op that goes through setrlimit), and fail above the hard.
        let nofile = read().nofile.unwrap();
        let soft = nofile.soft.unwrap();
        raise_soft(Resource::OpenFiles, soft).unwrap();
        assert_eq!(read().nofile, Some(nofile));
        if let Some(hard) = nofile.hard {
            // Root may raise the hard limit, but not the soft one above it.
            assert!(raise_soft(Resource::OpenFiles, hard + 1).is_err());
            assert_eq!(read().nofile, Some(nofile));
        }
    }
}
