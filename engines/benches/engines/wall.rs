//! The wall (`--wall`, issue 27 item 6): how many links one engine holds
//! on this one host, every link alive to the end, and the limit that stops
//! it, named with the kernel's own numbers.
//!
//! A ladder of link counts (`--wall-links`, default 100,000, 300,000,
//! 1,000,000), one engine (`--engines`, default evloop), stopping at the
//! first step that fails. Each step is one fleet run (`fleet.rs`) on a
//! layout sized from the open-files limit in force (`layout.rs`): enough
//! server and client processes that none holds more links than its
//! descriptors allow, the servers each on a loopback address of its own
//! (`--wall-addrs` to share K addresses), so no destination needs more
//! source ports than `ip_local_port_range` has. Each client binds a
//! source address of its own (`--source`, 127.1.x.y) and holds fewer links
//! than half its ephemeral ports, the half the kernel searches first
//! (`layout.rs` says why): left to the kernel, every link came from
//! 127.0.0.1, and the first attempt stalled at 226,532 links; with one
//! address per client and no cap, the second crawled at 235,097
//! (docs/img/engines-wall-evloop.txt, engines-wall-evloop-bind.txt).
//!
//! The pace is slow on purpose: one update per link per `--wall-interval`
//! (default 60 s: about 17,000 updates/s at a million links) so the wall
//! is what holding links costs, not what serving them costs; the window
//! (`--duration`, default two intervals) lets every link send twice. The
//! first connects come `--connect-rate` per second over all the links
//! (default 10,000: a million in 100 s, a few hundred per second per
//! server's backlog), with a connect deadline of 1.5 x that ramp plus a
//! minute; the servers' idle timeout is set past the ramp and the window,
//! since a link says nothing between its connect and its first update.
//!
//! A step counts when every link was up at the go and still up just
//! before the window's end, no client counted an error, and verify agreed.
//! Otherwise the step names the limit: an open-files or port-range error
//! in the processes' messages, the kernel's OOM kills (`/proc/vmstat`),
//! TCP's memory against `tcp_mem` (`/proc/net/sockstat`), or the links
//! that did not connect by the deadline, with the reasons the clients give.
//!
//! "Small socket buffers" are the kernel's: `net.ipv4.tcp_rmem` and
//! `tcp_wmem` (no config key sets SO_RCVBUF/SO_SNDBUF); the header prints
//! them and `tcp_mem`, and every row records them. Each row (`wall.csv`)
//! also holds the step's memory: the processes' RSS summed and the
//! kernel's own growth (KernelStack, Slab, SUnreclaim, PageTables, TCP
//! mem, MemAvailable), and from them user + kernel bytes per link. The
//! columns are [`HEADER`]'s; the commit and the machine are on every row.
//! At the end, scripts/plot_walls.py draws memory per link against links
//! (`memory_wall.png`, and `wall.html` with the rows).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use hostinfo::kernel;
use hostinfo::limits::{self, sysctl};
use serde_json::json;

use crate::fleet::{Setup, reasons_text, run_pair_with};
use crate::layout::Layout;
use crate::measure::Measure;
use crate::options::{Engine, EngineKind, Options, Point, Schedule, Wall};
use crate::output::plot_with;
use crate::provenance::Provenance;

/// How far ahead of the go the window starts: time for every client to
/// read the go and set its links' first due times (20,000 links in a
/// process take milliseconds; the rest is margin for a loaded machine).
const GO_LEAD: Duration = Duration::from_secs(5);

/// Runs the ladder; the exit status (0 when every step ran, passed or
/// stopped by a named limit).
pub fn run(o: &Options, wall: &Wall, bin: &Path, out: &Path, run: &Provenance) -> i32 {
    let Some(engine) = o.engines.first() else {
        eprintln!("engines bench: --wall needs an engine");
        return 2;
    };
    let kernel_now = KernelSettings::read();
    let fd_limit = limits::read()
        .nofile
        .and_then(|n| n.soft)
        .map_or(1_024, |n| n as usize);
    println!(
        "engines bench: the wall, {} on {:?} links, one update per {} ms per link, a {:.0} s \
         window, {} connects/s, output {}",
        engine.label(),
        wall.links,
        wall.interval_ms,
        o.duration.as_secs_f64(),
        wall.connect_rate,
        out.display()
    );
    println!("engines bench: commit {}, {}", run.commit, run.machine);
    println!("engines bench: limits: {}", crate::machine::limits_text());
    println!("engines bench: kernel: {}", kernel_now.text());
    let started = Instant::now();
    let mut rows: Vec<Step> = Vec::new();
    for &links in &wall.links {
        let step = step(o, wall, engine, links, fd_limit, bin, out);
        println!("{}", step.summary());
        let passed = step.passed();
        rows.push(step);
        if let Err(e) = write_csv(&out.join("wall.csv"), &rows, &kernel_now, run) {
            eprintln!("engines bench: cannot write wall.csv: {e}");
        }
        if !passed {
            println!("engines bench: the wall stops at {links} links");
            break;
        }
        // Let the last step's sockets close before the next one opens more.
        std::thread::sleep(Duration::from_secs(5));
    }
    println!(
        "engines bench: the wall done in {:.0} s; results in {}",
        started.elapsed().as_secs_f64(),
        out.join("wall.csv").display()
    );
    // memory_wall.png and wall.html beside the CSV (scripts/plot_walls.py).
    if let Some(page) = plot_with("plot_walls.py", &out.join("wall.csv")) {
        println!("engines bench: report (opens offline): {}", page.display());
    }
    // A step an OS limit stopped is the finding; one that failed with no
    // limit to name is a bug in the harness or the engine.
    let unnamed = rows.iter().any(|r| !r.passed() && r.limit.is_none());
    i32::from(unnamed)
}

/// One step of the ladder: what it asked for and what it measured.
struct Step {
    engine: String,
    links: usize,
    layout: Option<Layout>,
    wall_interval_ms: u64,
    connect_rate: u32,
    m: Measure,
    oom_kills: Option<u64>,
    /// The limit that stopped the step, if one did.
    limit: Option<String>,
    /// Source addresses the clients bound (0: the OS chose).
    sources: usize,
    /// Handshakes dropped by a full accept queue, and SYNs sent again,
    /// over the step (`/proc/net/netstat`): why connects came in bursts.
    listen_overflows: Option<u64>,
    syn_retrans: Option<u64>,
}

fn step(
    o: &Options,
    wall: &Wall,
    engine: &Engine,
    links: usize,
    fd_limit: usize,
    bin: &Path,
    out: &Path,
) -> Step {
    let mut s = Step {
        engine: engine.label(),
        links,
        layout: None,
        wall_interval_ms: wall.interval_ms,
        connect_rate: wall.connect_rate,
        m: Measure::default(),
        oom_kills: None,
        limit: None,
        sources: 0,
        listen_overflows: None,
        syn_retrans: None,
    };
    let ports = limits::read()
        .ports
        .map_or(28_232, |p| usize::from(p.last.saturating_sub(p.first)) + 1);
    let layout = match Layout::wall(links, fd_limit, wall.addrs, ports) {
        Ok(l) => l,
        Err(why) => {
            s.limit = Some(why.clone());
            s.m = Measure::failed(why, None);
            return s;
        }
    };
    let per_server = layout.links_per_server();
    s.sources = match engine {
        Engine::Pair { client, .. } if EngineKind::named(client).binds_source() => {
            layout.client_ips.len()
        }
        _ => 0,
    };
    println!(
        "[wall] {links} links: {} servers on {} address(es), {} clients {}, at most {} links \
         per server and {} per client (open files {fd_limit}, {ports} ports per address)",
        layout.servers(),
        layout.addrs(),
        layout.client_processes,
        match s.sources {
            0 => "(their source address the OS's choice: this engine's client has no --source)"
                .to_string(),
            n => format!("on {n} source address(es)"),
        },
        per_server.iter().max().unwrap_or(&0),
        layout.links_of_client(0)
    );
    let ramp = Duration::from_secs_f64(links as f64 / f64::from(wall.connect_rate));
    let connect_deadline = ramp.mul_f64(1.5) + Duration::from_secs(60);
    // A link is silent from its connect to its first update: the idle
    // timeout must outlast the whole ramp, the go's lead and an interval.
    let idle_ms = (connect_deadline + GO_LEAD).as_millis() as u64 + 3 * wall.interval_ms;
    let setup = Setup {
        tag: "-wall".into(),
        layout: Some(layout.clone()),
        config: vec![
            ("connect_rate", json!(wall.connect_rate)),
            ("idle_timeout_ms", json!(idle_ms.min(86_400_000))),
        ],
        connect_deadline: Some(connect_deadline),
        go_lead: Some(GO_LEAD),
        progress: true,
        ..Setup::default()
    };
    let point = Point {
        clients: links.div_ceil(crate::SERVERS),
        schedule: Schedule::FixedRate {
            interval_ms: wall.interval_ms,
        },
        engine: engine.clone(),
    };
    let oom_before = kernel::oom_kills();
    let overflows_before = kernel::tcp_ext("ListenOverflows");
    let retrans_before = kernel::tcp_ext("TCPSynRetrans");
    s.m = run_pair_with(&point, o.duration, o.engine_threads, bin, out, &setup);
    let grew =
        |now: Option<u64>, before: Option<u64>| now.zip(before).map(|(a, b)| a.saturating_sub(b));
    s.oom_kills = grew(kernel::oom_kills(), oom_before);
    s.listen_overflows = grew(kernel::tcp_ext("ListenOverflows"), overflows_before);
    s.syn_retrans = grew(kernel::tcp_ext("TCPSynRetrans"), retrans_before);
    s.layout = Some(layout);
    if !s.passed() {
        s.limit = name_limit(&s);
    }
    s
}

impl Step {
    /// Every link up at the go and near the end, no errors, verify ok.
    fn passed(&self) -> bool {
        let m = &self.m;
        let all = Some(self.links as u64);
        m.error.is_none()
            && m.links_up_at_go == all
            && m.links_up_end == all
            && m.errors == Some(0)
            && m.verify_ok == Some(true)
    }

    /// Updates the links should send in the window: their first updates
    /// are spread evenly over one interval, so this many fall in it.
    fn target(&self) -> u64 {
        let per_link = self.m.duration_s * 1000.0 / self.wall_interval_ms as f64;
        (self.links as f64 * per_link).round() as u64
    }

    fn summary(&self) -> String {
        let m = &self.m;
        let mut s = format!("[wall] {} links {}: ", self.links, self.engine);
        if let Some(e) = &m.error {
            let _ = write!(s, "FAILED: {e}");
        } else {
            let opt = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
            let _ = write!(
                s,
                "{} up at the go, {} up at the end, acked {} of {}, errors {}, verify {}",
                opt(m.links_up_at_go),
                opt(m.links_up_end),
                m.acked,
                self.target(),
                opt(m.errors),
                match m.verify_ok {
                    Some(true) => "ok",
                    _ => "FAILED",
                }
            );
            if let (Some(u), Some(k)) = (m.rss_bytes_per_link, m.kernel_bytes_per_link()) {
                let _ = write!(
                    s,
                    "; {u:.0} B user + {k:.0} B kernel = {:.0} B per link",
                    u + k
                );
            }
            if let (Some(o), Some(r)) = (self.listen_overflows, self.syn_retrans) {
                let _ = write!(
                    s,
                    "; {o} handshakes dropped (full accept queue), {r} SYNs resent"
                );
            }
            let _ = write!(s, "; {}", if self.passed() { "PASSED" } else { "FAILED" });
        }
        if let Some(l) = &self.limit {
            let _ = write!(s, " [limit: {l}]");
        }
        s
    }
}

/// The limit a failed step met, from the strongest evidence down: the
/// processes' own messages, the OOM killer, TCP's memory against
/// `tcp_mem`, then the links that never connected or were lost.
fn name_limit(s: &Step) -> Option<String> {
    let m = &s.m;
    if let Some(l) = &m.limit {
        return Some(format!("{l}: {}", m.error.as_deref().unwrap_or("")));
    }
    if let Some(n) = s.oom_kills.filter(|n| *n > 0) {
        return Some(format!(
            "out of memory: the OOM killer killed {n} process(es)"
        ));
    }
    let tcp_mem = tcp_mem_pages();
    let page = kernel::page_bytes().unwrap_or(4096);
    if let (Some(end), Some([_, pressure, max])) = (m.tcp_end, tcp_mem) {
        let pages = end.mem_bytes / page;
        if pages >= pressure {
            return Some(format!(
                "TCP memory: sockstat mem {pages} pages at the end, tcp_mem pressure {pressure}, \
                 max {max} pages"
            ));
        }
    }
    let error = m.error.as_deref().unwrap_or("");
    if error.contains("links connected") {
        let ports = limits::read()
            .ports
            .map_or("?".into(), |p| format!("{}-{}", p.first, p.last));
        // The clients' own word first: the reason their links last failed
        // to connect, from the OS error (client/counters.rs).
        let sources = s.sources;
        if error.contains("no local port") {
            return Some(format!(
                "ephemeral ports: {error} (ip_local_port_range {ports} per source address, \
                 {sources} source address(es))"
            ));
        }
        if error.contains("no file descriptor") {
            return Some(format!(
                "open files: {error} (ulimit -n {}, fs.file-max {})",
                limits::read()
                    .nofile
                    .and_then(|n| n.soft)
                    .map_or("?".into(), |n| n.to_string()),
                sysctl("fs.file-max").unwrap_or_else(|| "?".into())
            ));
        }
        let dropped = match s.listen_overflows {
            Some(n) if n > 0 => format!(", {n} handshakes dropped by full accept queues"),
            _ => String::new(),
        };
        return Some(format!(
            "connects: {error} (ip_local_port_range {ports}, net.core.somaxconn {}{dropped})",
            sysctl("net.core.somaxconn").unwrap_or_else(|| "?".into())
        ));
    }
    if let (Some(end), true) = (m.links_up_end, m.error.is_none()) {
        if end < s.links as u64 {
            return Some(format!(
                "links lost: {end} of {} up at the end (down: {}), errors {}",
                s.links,
                reasons_text(&m.down_end),
                m.errors.unwrap_or(0)
            ));
        }
    }
    None
}

/// `net.ipv4.tcp_mem`: min, pressure, max, in pages.
fn tcp_mem_pages() -> Option<[i64; 3]> {
    let text = sysctl("net.ipv4.tcp_mem")?;
    let v: Vec<i64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    v.try_into().ok()
}

/// The kernel's settings that decide the wall, as read at the start.
struct KernelSettings {
    tcp_rmem: String,
    tcp_wmem: String,
    tcp_mem: String,
    somaxconn: String,
    file_max: String,
    /// Connections netfilter tracks, and its table's size: loopback
    /// links count against it if any rule here tracks connections.
    conntrack: String,
    mem_available: Option<i64>,
}

impl KernelSettings {
    fn read() -> KernelSettings {
        let get = |name: &str| {
            sysctl(name)
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| "?".into())
        };
        KernelSettings {
            tcp_rmem: get("net.ipv4.tcp_rmem"),
            tcp_wmem: get("net.ipv4.tcp_wmem"),
            tcp_mem: get("net.ipv4.tcp_mem"),
            somaxconn: get("net.core.somaxconn"),
            file_max: get("fs.file-max"),
            conntrack: format!(
                "{} of {}",
                get("net.netfilter.nf_conntrack_count"),
                get("net.netfilter.nf_conntrack_max")
            ),
            mem_available: kernel::mem_available(),
        }
    }

    fn text(&self) -> String {
        format!(
            "tcp_rmem {}, tcp_wmem {} (bytes: min default max), tcp_mem {} (pages: min \
             pressure max), somaxconn {}, fs.file-max {}, nf_conntrack {}, MemAvailable {}",
            self.tcp_rmem,
            self.tcp_wmem,
            self.tcp_mem,
            self.somaxconn,
            self.file_max,
            self.conntrack,
            self.mem_available.map_or("?".into(), |b| format!(
                "{:.1} GiB",
                b as f64 / (1u64 << 30) as f64
            ))
        )
    }
}

/// `wall.csv`'s columns.
pub const HEADER: &str = "engine,links,passed,servers,clients,addresses,client_sources,max_links_per_process,\
interval_s,duration_s,connect_rate,connect_s,links_up_at_go,links_up_end,down_end,target_updates,\
acked,achieved_ratio,errors,errors_connect,errors_write,errors_refused,errors_ack_timeout,\
errors_closed,errors_other,reconnects,verify_ok,limit,error,oom_kills,rss_bytes,\
mem_available_delta_bytes,kernel_stack_delta_bytes,slab_delta_bytes,slab_unreclaimable_delta_bytes,\
page_tables_delta_bytes,tcp_inuse_end,tcp_orphan_end,tcp_mem_end_pages,tcp_inuse_delta,\
tcp_mem_delta_bytes,rss_bytes_per_link,kernel_bytes_per_link,total_bytes_per_link,tcp_rmem,\
tcp_wmem,tcp_mem,threads_alive_end,listen_overflows,syn_retrans,commit,machine";

fn write_csv(
    path: &Path,
    rows: &[Step],
    k: &KernelSettings,
    run: &Provenance,
) -> std::io::Result<()> {
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "'"));
    let num = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let unum = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let real = |v: Option<f64>, prec: usize| {
        v.filter(|x| x.is_finite())
            .map(|x| format!("{x:.prec$}"))
            .unwrap_or_default()
    };
    let page = kernel::page_bytes().unwrap_or(4096);
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        let m = &r.m;
        let l = r.layout.as_ref();
        let ran = m.error.is_none();
        let kd = m.kernel_delta;
        let mut cells = vec![
            r.engine.clone(),
            r.links.to_string(),
            r.passed().to_string(),
            l.map(|l| l.servers().to_string()).unwrap_or_default(),
            l.map(|l| l.client_processes.to_string())
                .unwrap_or_default(),
            l.map(|l| l.addrs().to_string()).unwrap_or_default(),
            l.map(|_| r.sources.to_string()).unwrap_or_default(),
            l.map(|l| {
                let server = l.links_per_server().into_iter().max().unwrap_or(0);
                server.max(l.links_of_client(0)).to_string()
            })
            .unwrap_or_default(),
            format!("{:.3}", r.wall_interval_ms as f64 / 1000.0),
            format!("{:.3}", m.duration_s),
            r.connect_rate.to_string(),
            real(m.connect_s, 2),
            unum(m.links_up_at_go),
            unum(m.links_up_end),
            quote(&reasons_text(&m.down_end)),
            if ran {
                r.target().to_string()
            } else {
                String::new()
            },
            if ran {
                m.acked.to_string()
            } else {
                String::new()
            },
            real(ran.then(|| m.acked as f64 / r.target().max(1) as f64), 4),
            unum(m.errors),
        ];
        for (_, n) in m.error_kinds.unwrap_or_default().all() {
            cells.push(unum(m.error_kinds.map(|_| n)));
        }
        cells.extend([
            unum(m.reconnects),
            m.verify_ok.map(|b| b.to_string()).unwrap_or_default(),
            r.limit.as_deref().map(quote).unwrap_or_default(),
            m.error.as_deref().map(quote).unwrap_or_default(),
            unum(r.oom_kills),
            real(m.rss_mb.map(|mb| mb * 1e6), 0),
            num(m.mem_available_delta),
            num(kd.map(|k| k.kernel_stack_bytes)),
            num(kd.map(|k| k.slab_bytes)),
            num(kd.map(|k| k.slab_unreclaimable_bytes)),
            num(kd.map(|k| k.page_tables_bytes)),
            num(m.tcp_end.map(|t| t.in_use)),
            num(m.tcp_end.map(|t| t.orphans)),
            num(m.tcp_end.map(|t| t.mem_bytes / page)),
            num(m.tcp_delta.map(|t| t.in_use)),
            num(m.tcp_delta.map(|t| t.mem_bytes)),
            real(m.rss_bytes_per_link, 0),
            real(m.kernel_bytes_per_link(), 0),
            real(m.total_bytes_per_link(), 0),
            quote(&k.tcp_rmem),
            quote(&k.tcp_wmem),
            quote(&k.tcp_mem),
            unum(m.threads_alive_end),
            unum(r.listen_overflows),
            unum(r.syn_retrans),
            quote(&run.commit),
            quote(&run.machine),
        ]);
        let _ = writeln!(s, "{}", cells.join(","));
    }
    std::fs::write(path, s)
}
