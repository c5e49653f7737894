//! One engine pair at one point: the bench plays startup's part on a
//! layout startup cannot make (many links per client process), speaking
//! the same control protocol to the same programs, and verifies with the
//! product's own `verify`.
//!
//! 10 servers, one process each; the N x 10 links packed into at most 10
//! client processes, each given its links as repeated `--server` options
//! (spread evenly over the servers, first updates staggered as startup's
//! `--id`/`--clients` would). Then: every server's `listening on`, `ready`
//! to every client until every link is up (the time to connect), `/proc`
//! read, one `go START END` to all, `/proc` read again at the end, `stop`
//! (the reports), `dump` from every server, verify, and the processes end.
//! Every wait has a deadline, past which the point fails and its processes
//! are killed.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use hostinfo::kernel::{self, KernelMemory, TcpSockets};
use hostinfo::process::{self, Figures};
use mass_connect::client::schedule::Window;
use mass_connect::messages::{ClientReport, ErrorKinds, KeyCount, ServerDump};
use mass_connect::metrics::Snapshot;
use mass_connect::ops::connection::OpsConnection;
use mass_connect::wire::control::{self, Control};

use crate::layout::Layout;
use crate::measure::{Measure, Split, Tails};
use crate::options::{Engine, EngineKind, Point, Schedule};
use crate::procs::Procs;

/// Free ports on 127.0.0.1 (bound together, then released). A server on
/// another loopback address takes the port found here, free there too
/// unless something holds it on that address alone.
fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let ls = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("cannot find free ports: {e}"))?;
    ls.iter()
        .map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string()))
        .collect()
}

/// What a run may add to a point: the blocking experiment's needs. The
/// sweep's runs use [`Setup::default`], which adds nothing.
#[derive(Default)]
pub struct Setup {
    /// Appended to the point's file names (a round, a variant).
    pub tag: String,
    /// Environment variables of the server processes.
    pub server_env: Vec<(String, String)>,
    /// Start the first client process alone and wait until its links are
    /// up before the others start, so each server takes its links first;
    /// spread its links' updates over the interval apart from the others';
    /// and report its links' tails apart from theirs (`Measure::split`).
    pub first_client_alone: bool,
    /// The wall's layout (`layout.rs`), instead of the point's
    /// (`Layout::sweep`: ten servers on 127.0.0.1).
    pub layout: Option<Layout>,
    /// Config keys set beside or over the point's (the wall's ramp and
    /// timeouts).
    pub config: Vec<(&'static str, serde_json::Value)>,
    /// How long the links may take to come up, instead of the slack.
    pub connect_deadline: Option<Duration>,
    /// How far ahead of the go the window starts, instead of the sweep's.
    pub go_lead: Option<Duration>,
    /// Print links up while they come up, and updates acked while the
    /// window runs, every few seconds.
    pub progress: bool,
}

/// Runs `p` (an engine pair) for `duration`; the programs lie in `bin`.
pub fn run_pair(
    p: &Point,
    duration: Duration,
    threads: Option<usize>,
    bin: &Path,
    out: &Path,
) -> Measure {
    run_pair_with(p, duration, threads, bin, out, &Setup::default())
}

/// [`run_pair`] with what `setup` adds.
pub fn run_pair_with(
    p: &Point,
    duration: Duration,
    threads: Option<usize>,
    bin: &Path,
    out: &Path,
    setup: &Setup,
) -> Measure {
    let stem = format!("{}{}", p.file_stem(), setup.tag);
    let log_path = out.join(format!("{stem}.log"));
    let result = File::create(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))
        .and_then(|log| run(p, duration, threads, bin, out, &log, setup));
    match result {
        Ok(m) => m,
        Err(why) => {
            let said = std::fs::read_to_string(&log_path).unwrap_or_default();
            let mut limit =
                crate::machine::limit_named(&format!("{why}\n{said}")).map(str::to_string);
            if limit.as_deref().is_some_and(|l| l.starts_with("threads")) {
                // Name the one: a thread per link on both ends, and a few more.
                let needed = 2 * p.links() as u64 + 8 * p.client_processes() as u64 + 80;
                if let Some(which) = crate::machine::task_limit_for(needed) {
                    limit = Some(which);
                }
            }
            let first = said.lines().next().map(|l| format!("; first message: {l}"));
            let mut m = Measure::failed(format!("{why}{}", first.unwrap_or_default()), limit);
            // What the point would have needed, beside the limit it met.
            let layout = setup
                .layout
                .clone()
                .unwrap_or_else(|| Layout::sweep(p.links(), p.client_processes()));
            m.threads_expected = threads_expected(p, &layout, threads);
            m
        }
    }
}

fn run(
    p: &Point,
    duration: Duration,
    threads: Option<usize>,
    bin: &Path,
    out: &Path,
    log: &File,
    setup: &Setup,
) -> Result<Measure, String> {
    let Engine::Pair { client, server } = &p.engine else {
        return Err("not an engine pair".into());
    };
    let layout = setup
        .layout
        .clone()
        .unwrap_or_else(|| Layout::sweep(p.links(), p.client_processes()));
    let ports = free_ports(layout.servers())?;
    let kernel_before = KernelReading::now();
    let mut run = Run {
        bin,
        log,
        threads,
        config_arg: write_config(p, &ports, out, setup)?,
        // Generous, but bounded: spawning and connecting 100,000 links takes
        // a while, and an overloaded engine is slow to stop.
        slack: Duration::from_secs(30) + Duration::from_millis(layout.links as u64 / 2),
        procs: Procs::new(),
        setup,
        layout,
    };
    let addrs = run.start_servers(server, &ports)?;
    let started = Instant::now();
    let clients = run.start_clients(client, &addrs, started)?;
    let links = run.layout.links;
    let connect_s = run.await_links(&clients, links, started)?;
    let usage = run.window(&clients, duration)?;
    let got = run.collect(&clients, &addrs)?;
    run.procs.end(Instant::now() + Duration::from_secs(20));

    let verify = mass_connect::verify::verify(&got.keys, &got.dumps, &[], &[]);
    let acked: u64 = got.keys.iter().map(|k| k.acked).sum();
    let mut m = Measure {
        duration_s: duration.as_secs_f64(),
        target_per_s: p.target_per_s(),
        achieved_per_s: acked as f64 / duration.as_secs_f64(),
        acked,
        processes: run.layout.servers() + run.layout.client_processes,
        connect_s: Some(connect_s),
        verify_ok: Some(verify.ok),
        threads_expected: threads_expected(p, &run.layout, threads),
        errors: Some(got.errors),
        reconnects: Some(got.reconnects),
        error_kinds: Some(got.error_kinds),
        links,
        links_up_at_go: Some(usage.links_up_at_go),
        links_up_end: usage.links_up_end,
        down_end: usage.down_end.clone(),
        mem_available_delta: end_minus(usage.kernel_end.available, kernel_before.available),
        tcp_end: usage.kernel_end.tcp,
        ..Measure::default()
    };
    let used = |(b, a): &UsagePair| Some(a.as_ref()?.since(b.as_ref()?));
    let (servers_used, clients_used) = (used(&usage.servers), used(&usage.clients));
    if let (Some(s), Some(c)) = (&servers_used, &clients_used) {
        m.set_usage(&s.plus(c), links);
    }
    m.set_run_delay(servers_used.as_ref(), clients_used.as_ref());
    m.threads_alive_end = usage.threads_alive_end;
    kernel_before.set_deltas(&usage.kernel_end, &mut m);
    m.set_histograms(&got.histograms, p.schedule == Schedule::ClosedLoop);
    if setup.first_client_alone {
        m.split = split(&got.per_client);
    }
    m.set_fairness(&got.keys);
    if got.errors + got.reconnects > 0 {
        let kinds: Vec<String> = got
            .error_kinds
            .all()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        m.notes.push(format!(
            "{} error(s) ({}) and {} reconnect(s)",
            got.errors,
            kinds.join(", "),
            got.reconnects
        ));
    }
    if let (Some(expected), Some(alive)) = (m.threads_expected, m.threads_alive_end) {
        if alive != expected {
            m.notes.push(format!(
                "{alive} threads alive at the end, {expected} expected by the engines' models"
            ));
        }
    }
    if !verify.ok {
        m.notes.push(format!(
            "verify FAILED: {} mismatched keys, servers {} vs clients {}",
            verify.mismatched_keys, verify.server_total, verify.client_acked
        ));
    }
    Ok(m)
}

/// Every link's tails, the first client process's and the others'.
fn split(per_client: &[Snapshot]) -> Option<Split> {
    let (first, rest) = per_client.split_first()?;
    let mut others = Snapshot::default();
    for h in rest {
        others.add(h);
    }
    let mut all = others.clone();
    all.add(first);
    Some(Split {
        all: Tails::of(&all)?,
        first: Tails::of(first)?,
        others: Tails::of(&others)?,
    })
}

/// The threads the point's processes run by their engines' models, read
/// from the code:
///
/// * a threads server: its main thread (the acceptor), the store thread,
///   the stdin watcher and a thread per link (`server::accept_link`);
/// * an evloop or tokio server: main, store, stdin watcher and its loop
///   threads or runtime workers;
/// * a threads client: its main thread (the control thread) and a thread
///   per link (`client::Client::start`);
/// * an evloop or tokio client: main and its loops or workers;
/// * tokio-ct: its server's runtime runs on the main thread (no loop
///   thread), its client's on one driver thread.
///
/// Loops and workers are the variant's own (`-1t`, `-ct`: one), else
/// `--threads`, else `MASS_CONNECT_THREADS`, else one per CPU, as
/// `engines::program::take_threads` decides them.
fn threads_expected(p: &Point, layout: &Layout, threads: Option<usize>) -> Option<u64> {
    let Engine::Pair { client, server } = &p.engine else {
        return None;
    };
    let workers = |engine: &EngineKind| {
        engine
            .threads
            .or(threads)
            .or_else(|| std::env::var("MASS_CONNECT_THREADS").ok()?.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            as u64
    };
    let (links, clients, servers) = (
        layout.links as u64,
        layout.client_processes as u64,
        layout.servers() as u64,
    );
    let (client, server) = (EngineKind::named(client), EngineKind::named(server));
    let serving = |engine: &EngineKind, processes: u64, on_main: bool| {
        if engine.per_link() {
            links
        } else if on_main {
            0
        } else {
            processes * workers(engine)
        }
    };
    Some(
        (3 * servers + serving(server, servers, server.server_loop_on_main))
            + (clients + serving(client, clients, false)),
    )
}

/// The kernel's figures at one moment: its own memory, TCP's sockets and
/// the machine's tasks (threads).
struct KernelReading {
    memory: Option<KernelMemory>,
    tcp: Option<TcpSockets>,
    tasks: Option<u64>,
    /// `/proc/meminfo`'s MemAvailable, bytes.
    available: Option<i64>,
}

impl KernelReading {
    fn now() -> KernelReading {
        KernelReading {
            memory: kernel::memory(),
            tcp: kernel::tcp_sockets(),
            tasks: hostinfo::machine::tasks(),
            available: kernel::mem_available(),
        }
    }

    /// What changed from this reading to `end`, into `m` (whose threads
    /// alive at the end and processes are set).
    fn set_deltas(&self, end: &KernelReading, m: &mut Measure) {
        m.kernel_delta = end.memory.zip(self.memory).map(|(a, b)| a.since(&b));
        m.tcp_delta = end.tcp.zip(self.tcp).map(|(a, b)| a.since(&b));
        // The machine's new tasks that are neither the point's threads nor
        // the bench's reader thread per process: other work's, whose
        // memory the deltas then hold too.
        let ours = m.threads_alive_end.map(|t| t as i64 + m.processes as i64);
        m.other_tasks_delta = end
            .tasks
            .zip(self.tasks)
            .zip(ours)
            .map(|((end, start), ours)| end as i64 - start as i64 - ours);
    }
}

/// `end - start`, when both were read.
fn end_minus(end: Option<i64>, start: Option<i64>) -> Option<i64> {
    Some(end? - start?)
}

/// Writes the point's config beside its log; returns its path as an argument.
fn write_config(p: &Point, ports: &[u16], out: &Path, setup: &Setup) -> Result<String, String> {
    let (schedule, interval) = p.schedule.config();
    let mut config = serde_json::json!({
        "server_ip_list": "127.0.0.1",
        "server_port_list": ports.iter().map(u16::to_string).collect::<Vec<_>>().join(";"),
        "client_num_per_host": p.clients,
        "update_intervals": interval,
        "schedule": schedule,
        "server_max_links": 1_000_000,
        // A hundred thousand connects at once may wait for SYN retries.
        "connect_timeout_ms": 20_000,
    });
    for (key, value) in &setup.config {
        config[*key] = value.clone();
    }
    let config_path = out.join(format!("{}{}.config.json", p.file_stem(), setup.tag));
    std::fs::write(&config_path, format!("{config:#}\n")).map_err(|e| e.to_string())?;
    Ok(config_path.to_string_lossy().into_owned())
}

/// One engine pair's run: its processes and what each is started with.
struct Run<'a> {
    bin: &'a Path,
    log: &'a File,
    threads: Option<usize>,
    config_arg: String,
    /// How long starting, connecting or stopping may take.
    slack: Duration,
    procs: Procs,
    setup: &'a Setup,
    layout: Layout,
}

/// What the clients and servers said at the end.
struct Collected {
    keys: Vec<KeyCount>,
    histograms: Snapshot,
    /// Errors, summed over the clients' reports.
    errors: u64,
    /// The errors by kind, summed.
    error_kinds: ErrorKinds,
    /// Reconnects, summed.
    reconnects: u64,
    dumps: Vec<ServerDump>,
    /// Each client process's histograms, in the order they started.
    per_client: Vec<Snapshot>,
}

/// What the window cost: each side's `/proc` before and after it, and
/// at its end the threads alive and the kernel's figures.
struct Usage {
    servers: UsagePair,
    clients: UsagePair,
    threads_alive_end: Option<u64>,
    kernel_end: KernelReading,
    /// Links up when the go was sent.
    links_up_at_go: u64,
    /// Links up just before the window's end, and the reasons the clients
    /// give for those down then (`None` when a client did not answer).
    links_up_end: Option<u64>,
    down_end: Vec<(String, u64)>,
}

impl Run<'_> {
    /// `--threads N` for an engine with worker threads to size.
    fn threads_args(&self, engine: &EngineKind) -> Vec<String> {
        match engine.threads.or(self.threads) {
            Some(t) if !engine.per_link() => vec!["--threads".into(), t.to_string()],
            _ => Vec::new(),
        }
    }

    /// The environment of `engine`'s processes: its own, then the setup's
    /// for servers.
    fn env(&self, engine: &EngineKind, server: bool) -> Vec<(String, String)> {
        let own = engine
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let extra = if server {
            &self.setup.server_env[..]
        } else {
            &[]
        };
        own.chain(extra.iter().cloned()).collect()
    }

    /// Starts a server per port and waits until each listens.
    fn start_servers(&mut self, server: &str, ports: &[u16]) -> Result<Vec<SocketAddr>, String> {
        let server = EngineKind::named(server);
        let program = self.bin.join(exe(server.program(true)));
        let env = self.env(server, true);
        let mut addrs = Vec::new();
        for (&port, &ip) in ports.iter().zip(&self.layout.server_ips) {
            let mut args = vec![
                "--config".into(),
                self.config_arg.clone(),
                "--ip".into(),
                ip.to_string(),
                "--port".into(),
                port.to_string(),
                "--supervised".into(),
            ];
            args.extend(self.threads_args(server));
            self.procs.spawn(&program, &args, &env, self.log)?;
            addrs.push(SocketAddr::from((ip, port)));
        }
        let servers: Vec<usize> = (0..self.layout.servers()).collect();
        for line in self.procs.answers(&servers, Instant::now() + self.slack)? {
            if control::parse_listening(&line).is_none() {
                return Err(format!("a server said {line:?}"));
            }
        }
        Ok(addrs)
    }

    /// Starts the clients: links packed into a few processes, spread over
    /// the servers (the first alone until its links are up, if the setup
    /// says so). Returns their places among the processes.
    fn start_clients(
        &mut self,
        client: &str,
        addrs: &[SocketAddr],
        started: Instant,
    ) -> Result<Vec<usize>, String> {
        let client = EngineKind::named(client);
        let program = self.bin.join(exe(client.program(false)));
        let env = self.env(client, false);
        let procs_n = self.layout.client_processes;
        let mut clients = Vec::new();
        for i in 0..procs_n {
            let mine = self.layout.links_of_client(i);
            // `--id`/`--clients` place each link's first update in the
            // interval (`schedule::Place::stagger`). A first client apart
            // is a group of its own: its links spread over the whole
            // interval, and so do the others', rather than holding its
            // tenth of it.
            let (id, of) = match (self.setup.first_client_alone, i) {
                (false, _) => (i, procs_n),
                (true, 0) => (0, 1),
                (true, _) => (i - 1, procs_n - 1),
            };
            let mut args = vec![
                "--config".into(),
                self.config_arg.clone(),
                "--supervised".into(),
                "--id".into(),
                id.to_string(),
                "--clients".into(),
                of.max(1).to_string(),
            ];
            for k in 0..mine {
                args.push("--server".into());
                args.push(addrs[self.layout.server_of(i, k)].to_string());
            }
            // The wall's source address per client; the product's client
            // (threads) has no `--source` and lets the OS choose.
            if let (Some(ip), true) = (self.layout.client_ips.get(i), client.binds_source()) {
                args.extend(["--source".into(), ip.to_string()]);
            }
            args.extend(self.threads_args(client));
            clients.push(self.procs.spawn(&program, &args, &env, self.log)?);
            if i == 0 && self.setup.first_client_alone {
                self.await_links(&clients, mine, started)?;
            }
        }
        Ok(clients)
    }

    /// Asks `clients` until their `links` are up; returns the seconds
    /// since `started` that took.
    fn await_links(
        &mut self,
        clients: &[usize],
        links: usize,
        started: Instant,
    ) -> Result<f64, String> {
        let connect_by = started + self.setup.connect_deadline.unwrap_or(self.slack);
        let mut said_at = Instant::now();
        // Handshakes a full accept queue dropped since the ramp began: a
        // dropped SYN waits for the kernel's retransmission timer, which
        // is what a pause in the progress lines usually is.
        let drops = |since: Option<u64>| {
            kernel::tcp_ext("ListenOverflows")
                .zip(since)
                .map(|(now, then)| now.saturating_sub(then))
        };
        let drops_before = kernel::tcp_ext("ListenOverflows");
        loop {
            // Clients busy connecting may answer slowly: past the deadline
            // too, they get the slack, so the step ends on what they say.
            let up = self
                .ask_ready(clients, connect_by.max(Instant::now() + self.slack))?
                .up;
            if up >= links as u64 {
                return Ok(started.elapsed().as_secs_f64());
            }
            if Instant::now() >= connect_by {
                let why = self.ask_ready(clients, Instant::now() + self.slack)?;
                return Err(format!(
                    "only {up} of {links} links connected in {:.0} s (down then: {})",
                    (connect_by - started).as_secs_f64(),
                    reasons_text(&why.down)
                ));
            }
            if self.setup.progress && said_at.elapsed() >= PROGRESS_EVERY {
                let dropped = match drops(drops_before) {
                    Some(n) if n > 0 => format!(", {n} handshakes dropped by full accept queues"),
                    _ => String::new(),
                };
                println!(
                    "  {:>6.1} s: links up {up} / {links}{dropped}",
                    started.elapsed().as_secs_f64()
                );
                said_at = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Asks `clients` for their status (`ready`, which any client answers
    /// at once, window or not): links up, updates acked, and the reasons
    /// for the links down, summed. The answer is read as plain JSON: the
    /// product keeps those fields to itself, but they are on the wire.
    fn ask_ready(&mut self, clients: &[usize], by: Instant) -> Result<Readiness, String> {
        for &c in clients {
            self.procs.tell(c, &Control::Ready.line())?;
        }
        let mut r = Readiness::default();
        for line in self.procs.answers(clients, by)? {
            let s: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| format!("bad ready answer: {e}"))?;
            let n = |key: &str| s[key].as_u64().unwrap_or(0);
            r.up += n("links_up");
            r.acked += n("acked");
            r.errors += n("errors");
            for down in s["down"].as_array().into_iter().flatten() {
                let reason = down["reason"].as_str().unwrap_or("unknown").to_string();
                match r.down.iter_mut().find(|(why, _)| *why == reason) {
                    Some((_, count)) => *count += 1,
                    None => r.down.push((reason, 1)),
                }
            }
        }
        Ok(r)
    }

    /// Tells the clients the window and waits it out; returns every
    /// process's usage before and after it, servers and clients apart.
    fn window(&mut self, clients: &[usize], duration: Duration) -> Result<Usage, String> {
        // Far enough ahead that the go's wakeups are over first.
        let lead = self.setup.go_lead.unwrap_or_else(|| {
            Duration::from_millis(200) + Duration::from_micros(50 * self.layout.links as u64)
        });
        let links_up_at_go = self.ask_ready(clients, Instant::now() + self.slack)?.up;
        let start = Instant::now() + lead;
        let window = Window {
            start,
            end: Some(start + duration),
        };
        let servers = self.layout.servers();
        let server_pids = self.procs.pids(0..servers);
        let client_pids = self.procs.pids(servers..self.procs.children.len());
        let servers_before = process::read_all(&server_pids);
        let clients_before = process::read_all(&client_pids);
        for &c in clients {
            self.procs.tell(c, &window.to_go().line())?;
        }
        let end = start + duration;
        // Links still up a moment before the end: at the end itself a
        // client may already be closing the links whose last update is in.
        let last_look = end - (duration / 20).min(Duration::from_secs(2));
        let mut at_end = None;
        if self.setup.progress {
            while Instant::now() + PROGRESS_EVERY < last_look {
                std::thread::sleep(PROGRESS_EVERY);
                let r = self.ask_ready(clients, Instant::now() + self.slack)?;
                let into = Instant::now()
                    .saturating_duration_since(start)
                    .as_secs_f64();
                println!(
                    "  window {into:>6.1} / {:.0} s: links up {} / {}, acked {}, errors {}",
                    duration.as_secs_f64(),
                    r.up,
                    self.layout.links,
                    r.acked,
                    r.errors
                );
            }
            std::thread::sleep(last_look.saturating_duration_since(Instant::now()));
            at_end = self.ask_ready(clients, end + self.slack).ok();
        }
        std::thread::sleep(
            end.saturating_duration_since(Instant::now()) + Duration::from_millis(100),
        );
        // The kernel first: reading every thread's files grows the slab.
        let kernel_end = KernelReading::now();
        let (servers_after, clients_after) = (
            process::read_all(&server_pids),
            process::read_all(&client_pids),
        );
        let threads_alive_end = servers_after
            .as_ref()
            .zip(clients_after.as_ref())
            .map(|(s, c)| s.threads + c.threads);
        Ok(Usage {
            servers: (servers_before, servers_after),
            clients: (clients_before, clients_after),
            threads_alive_end,
            kernel_end,
            links_up_at_go,
            links_up_end: at_end.as_ref().map(|r| r.up),
            down_end: at_end.map(|r| r.down).unwrap_or_default(),
        })
    }

    /// Stops the clients, reads their reports and the servers' counts.
    fn collect(&mut self, clients: &[usize], addrs: &[SocketAddr]) -> Result<Collected, String> {
        for &c in clients {
            self.procs.tell(c, &Control::Stop.line())?;
        }
        let mut got = Collected {
            keys: Vec::new(),
            histograms: Snapshot::default(),
            errors: 0,
            error_kinds: ErrorKinds::default(),
            reconnects: 0,
            dumps: Vec::new(),
            per_client: Vec::new(),
        };
        for line in self.procs.answers(clients, Instant::now() + self.slack)? {
            let r: ClientReport =
                serde_json::from_str(&line).map_err(|e| format!("bad client report: {e}"))?;
            got.errors += r.status.errors;
            got.error_kinds.add(&r.status.error_kinds);
            got.reconnects += r.status.reconnects;
            let h = r.histograms.decode().unwrap_or_default();
            got.histograms.add(&h);
            got.per_client.push(h);
            got.keys.extend(r.keys);
        }
        for &addr in addrs {
            let dump = OpsConnection::open(addr, "", Duration::from_secs(30))
                .and_then(|mut c| c.dump())
                .map_err(|e| format!("cannot read {addr}'s counts: {e}"))?;
            got.dumps.push(dump);
        }
        Ok(got)
    }
}

/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The clients' `ready` answers, summed.
#[derive(Default)]
struct Readiness {
    up: u64,
    acked: u64,
    errors: u64,
    /// Links down, by the reason their client gives.
    down: Vec<(String, u64)>,
}

/// `12 refused, 3 timed out`, or `none`.
pub fn reasons_text(down: &[(String, u64)]) -> String {
    if down.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = down.iter().map(|(why, n)| format!("{n} {why}")).collect();
    parts.join(", ")
}

/// Usage before and after a window.
type UsagePair = (Option<Figures>, Option<Figures>);

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}
