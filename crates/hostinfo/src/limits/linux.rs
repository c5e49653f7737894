//! The Linux readings: `getrlimit`/`setrlimit`, `/proc/sys`, `/proc/loadavg`,
//! every process's `status` (for RLIMIT_NPROC's count) and the cgroup
//! hierarchy's `pids.max` files.

use std::fs;
use std::path::Path;

use super::*;

pub(super) fn read() -> Limits {
    let nproc = if exempt_from_nproc() {
        None
    } else {
        rlimit(Resource::UserTasks, None, None).ok()
    };
    // Counting this user's tasks reads every process's status: only
    // worth it when a finite limit will be compared with it.
    let user_tasks = nproc
        .filter(|l| l.soft.is_some() || l.hard.is_some())
        .and_then(|_| user_tasks());
    let (files_open, file_max) = text("/proc/sys/fs/file-nr")
        .and_then(|t| parse_file_nr(&t))
        .unzip();
    Limits {
        nofile: rlimit(Resource::OpenFiles, None, None).ok(),
        nproc,
        user_tasks,
        pid_max: number("/proc/sys/kernel/pid_max"),
        threads_max: number("/proc/sys/kernel/threads-max"),
        tasks: crate::machine::tasks(),
        file_max,
        files_open,
        cgroup: cgroup_tasks(),
        ports: text("/proc/sys/net/ipv4/ip_local_port_range").and_then(|t| parse_port_range(&t)),
        reserved_ports: text("/proc/sys/net/ipv4/ip_local_reserved_ports")
            .map(|t| parse_port_list(&t))
            .unwrap_or_default(),
    }
}

/// See [`super::raise_open_files`]. An unlimited hard limit still stops
/// at `fs.nr_open`, the most open files the kernel gives one process.
pub(super) fn raise_open_files() -> Option<u64> {
    let nr_open = number("/proc/sys/fs/nr_open").unwrap_or(1 << 20);
    let hard = rlimit(Resource::OpenFiles, None, None).ok()?.hard;
    let lifted = Some(hard.map_or(nr_open, |h| h.max(nr_open)));
    // Root may lift the hard limit too; anyone may raise the soft one to it.
    let now = rlimit(Resource::OpenFiles, Some(nr_open), lifted).or_else(|_| {
        let soft = hard.map_or(nr_open, |h| h.min(nr_open));
        rlimit(Resource::OpenFiles, Some(soft), None)
    });
    now.or_else(|_| rlimit(Resource::OpenFiles, None, None))
        .ok()?
        .soft
}

/// `/proc/sys/<name>` with the dots of `name` as slashes, trimmed.
pub(super) fn sysctl(name: &str) -> Option<String> {
    Some(
        text(format!("/proc/sys/{}", name.replace('.', "/")))?
            .trim()
            .to_string(),
    )
}

fn text(path: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// A file holding one number (`pids.max`'s "max" is none).
fn number(path: impl AsRef<Path>) -> Option<u64> {
    text(path)?.trim().parse().ok()
}

/// Reads a resource limit, after setting its soft value to `soft` (and its
/// hard one to `hard`; `None` keeps it) if one is given.
pub(super) fn rlimit(which: Resource, soft: Option<u64>, hard: Option<u64>) -> io::Result<Rlimit> {
    let resource = match which {
        Resource::OpenFiles => libc::RLIMIT_NOFILE,
        Resource::UserTasks => libc::RLIMIT_NPROC,
    };
    let mut raw = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into `raw`, a valid and
    // exclusively borrowed struct of that type, and keeps no pointer.
    if unsafe { libc::getrlimit(resource, &mut raw) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if let Some(soft) = soft {
        raw.rlim_cur = soft as libc::rlim_t;
        raw.rlim_max = hard.map_or(raw.rlim_max, |h| h as libc::rlim_t);
        // SAFETY: setrlimit only reads `raw`, valid and ours; it changes
        // this process's limit, on which no Rust invariant depends.
        if unsafe { libc::setrlimit(resource, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // rlim_t is u64 here, but 32 bits wide on 32-bit glibc targets.
    #[allow(clippy::unnecessary_cast)]
    let finite = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v as u64);
    Ok(Rlimit {
        soft: finite(raw.rlim_cur),
        hard: finite(raw.rlim_max),
    })
}

/// The kernel does not apply RLIMIT_NPROC to the real root user of the
/// initial user namespace (root in a rootless container is not exempt).
fn exempt_from_nproc() -> bool {
    let root = text("/proc/self/status")
        .and_then(|s| real_uid(&s))
        .is_some_and(|uid| uid == 0);
    let initial_namespace = text("/proc/self/uid_map")
        .is_some_and(|map| map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]);
    root && initial_namespace
}

/// Threads of every process whose real uid is ours.
fn user_tasks() -> Option<u64> {
    let uid = real_uid(&text("/proc/self/status")?)?;
    let mut tasks = 0;
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A process may end between the listing and the read.
        let Ok(status) = fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        if real_uid(&status) == Some(uid) {
            tasks += status_field(&status, "Threads:").unwrap_or(1);
        }
    }
    Some(tasks)
}

fn real_uid(status: &str) -> Option<u64> {
    status_field(status, "Uid:")
}

/// The first number after `field` in a `/proc/PID/status` text.
fn status_field(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    line.split_whitespace().next()?.parse().ok()
}

fn cgroup_tasks() -> Option<CgroupTasks> {
    let (mount, dir) = pids_cgroup(&text("/proc/self/cgroup")?, &text("/proc/self/mountinfo")?)?;
    tightest_cgroup(&mount, &dir)
}

/// The limit with the least room left, from `dir` up to `mount`, the
/// root of its hierarchy: every level's `pids.max` applies.
pub(super) fn tightest_cgroup(mount: &Path, dir: &Path) -> Option<CgroupTasks> {
    let mut tightest: Option<CgroupTasks> = None;
    for level in dir.ancestors().take_while(|d| d.starts_with(mount)) {
        let Some(max) = number(level.join("pids.max")) else {
            continue;
        };
        let current = number(level.join("pids.current")).unwrap_or(0);
        let room = max.saturating_sub(current);
        if tightest
            .as_ref()
            .is_none_or(|t| room < t.max.saturating_sub(t.current))
        {
            tightest = Some(CgroupTasks {
                max,
                current,
                dir: level.to_path_buf(),
            });
        }
    }
    tightest
}

/// `/proc/sys/fs/file-nr`: allocated, allocated but free, maximum. Returns
/// (open now, maximum).
pub(super) fn parse_file_nr(text: &str) -> Option<(u64, u64)> {
    let mut n = text.split_whitespace().map(|w| w.parse::<u64>().ok());
    let (allocated, free, max) = (n.next()??, n.next()??, n.next()??);
    Some((allocated.saturating_sub(free), max))
}

/// `ip_local_port_range`: two numbers, first and last.
pub(super) fn parse_port_range(text: &str) -> Option<PortRange> {
    let mut words = text.split_whitespace().map(str::parse::<u16>);
    let (first, last) = (words.next()?.ok()?, words.next()?.ok()?);
    (first <= last).then_some(PortRange {
        first,
        last,
        assumed: false,
    })
}

/// `ip_local_reserved_ports`: `38677-38679,40000` (empty for none).
pub(super) fn parse_port_list(text: &str) -> Vec<(u16, u16)> {
    text.trim()
        .split(',')
        .filter_map(|item| {
            let item = item.trim();
            let (a, b) = item.split_once('-').unwrap_or((item, item));
            let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some((a, b))
        })
        .collect()
}

/// Where this process's task limit lives: (the hierarchy's mount point, this
/// process's cgroup directory under it). cgroup v1's `pids` controller if it
/// is mounted, else the v2 hierarchy (`0::/path`).
pub(super) fn pids_cgroup(cgroup: &str, mountinfo: &str) -> Option<(PathBuf, PathBuf)> {
    let mut v1 = None;
    let mut v2 = None;
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "pids") {
            v1 = Some(path);
        } else if id == "0" && controllers.is_empty() {
            v2 = Some(path);
        }
    }
    let v1_mount =
        |fs: &str, options: &str| fs == "cgroup" && options.split(',').any(|o| o == "pids");
    let ((root, point), path) = match v1.zip(mount_of(mountinfo, v1_mount)) {
        Some((path, mount)) => (mount, path),
        None => (mount_of(mountinfo, |fs, _| fs == "cgroup2")?, v2?),
    };
    // The mount may start below the hierarchy's root (a container's).
    let relative = path.strip_prefix(root.as_str()).unwrap_or(path);
    let mount = PathBuf::from(point);
    let dir = mount.join(relative.trim_start_matches('/'));
    Some((mount, dir))
}

/// The (root inside the hierarchy, mount point) of the first mount whose
/// file system type and super options satisfy `wanted`.
fn mount_of(mountinfo: &str, wanted: impl Fn(&str, &str) -> bool) -> Option<(String, String)> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (root, point) = (*left.get(3)?, *left.get(4)?);
        let (fs, options) = (*right.first()?, *right.get(2)?);
        wanted(fs, options).then(|| (root.to_string(), point.to_string()))
    })
}
