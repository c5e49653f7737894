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

use hostinfo::process::{self, Figures};
use mass_connect::client::schedule::Window;
use mass_connect::messages::{ClientReport, ClientStatus, KeyCount, ServerDump};
use mass_connect::metrics::Snapshot;
use mass_connect::ops::connection::OpsConnection;
use mass_connect::wire::control::{self, Control};

use crate::SERVERS;
use crate::measure::Measure;
use crate::options::{Engine, Point, Schedule};
use crate::procs::Procs;

/// Free ports on 127.0.0.1 (bound together, then released).
fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let ls = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("cannot find free ports: {e}"))?;
    ls.iter()
        .map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string()))
        .collect()
}

/// Runs `p` (an engine pair) for `duration`; the programs lie in `bin`.
pub fn run_pair(
    p: &Point,
    duration: Duration,
    threads: Option<usize>,
    bin: &Path,
    out: &Path,
) -> Measure {
    let stem = p.file_stem();
    let log_path = out.join(format!("{stem}.log"));
    let result = File::create(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))
        .and_then(|log| run(p, duration, threads, bin, out, &log));
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
            Measure::failed(format!("{why}{}", first.unwrap_or_default()), limit)
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
) -> Result<Measure, String> {
    let Engine::Pair { client, server } = &p.engine else {
        return Err("not an engine pair".into());
    };
    let ports = free_ports(SERVERS)?;
    let mut run = Run {
        p,
        bin,
        log,
        threads,
        config_arg: write_config(p, &ports, out)?,
        // Generous, but bounded: spawning and connecting 100,000 links takes
        // a while, and an overloaded engine is slow to stop.
        slack: Duration::from_secs(30) + Duration::from_millis(p.links() as u64 / 2),
        procs: Procs::new(),
    };
    let addrs = run.start_servers(server, &ports)?;
    let started = Instant::now();
    let clients = run.start_clients(client, &addrs)?;
    let connect_s = run.await_links(&clients, started)?;
    let (before, after) = run.window(&clients, duration)?;
    let got = run.collect(&clients, &addrs)?;
    run.procs.end(Instant::now() + Duration::from_secs(20));

    let verify = mass_connect::verify::verify(&got.keys, &got.dumps, &[], &[]);
    let acked: u64 = got.keys.iter().map(|k| k.acked).sum();
    let mut m = Measure {
        duration_s: duration.as_secs_f64(),
        target_per_s: p.target_per_s(),
        achieved_per_s: acked as f64 / duration.as_secs_f64(),
        acked,
        processes: SERVERS + p.client_processes(),
        connect_s: Some(connect_s),
        verify_ok: Some(verify.ok),
        ..Measure::default()
    };
    if let (Some(b), Some(a)) = (before, after) {
        m.set_usage(&a.since(&b), p.links());
    }
    m.set_histograms(&got.histograms, p.schedule == Schedule::ClosedLoop);
    m.set_fairness(&got.keys);
    if got.errors > 0 {
        m.notes
            .push(format!("{} error(s) and reconnect(s)", got.errors));
    }
    if !verify.ok {
        m.notes.push(format!(
            "verify FAILED: {} mismatched keys, servers {} vs clients {}",
            verify.mismatched_keys, verify.server_total, verify.client_acked
        ));
    }
    Ok(m)
}

/// Writes the point's config beside its log; returns its path as an argument.
fn write_config(p: &Point, ports: &[u16], out: &Path) -> Result<String, String> {
    let (schedule, interval) = p.schedule.config();
    let config = serde_json::json!({
        "server_ip_list": "127.0.0.1",
        "server_port_list": ports.iter().map(u16::to_string).collect::<Vec<_>>().join(";"),
        "client_num_per_host": p.clients,
        "update_intervals": interval,
        "schedule": schedule,
        "server_max_links": 1_000_000,
        // A hundred thousand connects at once may wait for SYN retries.
        "connect_timeout_ms": 20_000,
    });
    let config_path = out.join(format!("{}.config.json", p.file_stem()));
    std::fs::write(&config_path, format!("{config:#}\n")).map_err(|e| e.to_string())?;
    Ok(config_path.to_string_lossy().into_owned())
}

/// One engine pair's run: its processes and what each is started with.
struct Run<'a> {
    p: &'a Point,
    bin: &'a Path,
    log: &'a File,
    threads: Option<usize>,
    config_arg: String,
    /// How long starting, connecting or stopping may take.
    slack: Duration,
    procs: Procs,
}

/// What the clients and servers said at the end.
struct Collected {
    keys: Vec<KeyCount>,
    histograms: Snapshot,
    /// Errors and reconnects, summed.
    errors: u64,
    dumps: Vec<ServerDump>,
}

impl Run<'_> {
    /// `--threads N` for an engine with worker threads to size.
    fn threads_args(&self, engine: &str) -> Vec<String> {
        match self.threads {
            Some(t) if engine != "threads" => vec!["--threads".into(), t.to_string()],
            _ => Vec::new(),
        }
    }

    /// Starts a server per port and waits until each listens.
    fn start_servers(&mut self, server: &str, ports: &[u16]) -> Result<Vec<SocketAddr>, String> {
        let program = self.bin.join(exe(Engine::program(server, true)));
        let mut addrs = Vec::new();
        for &port in ports {
            let mut args = vec![
                "--config".into(),
                self.config_arg.clone(),
                "--ip".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--supervised".into(),
            ];
            args.extend(self.threads_args(server));
            self.procs.spawn(&program, &args, self.log)?;
            addrs.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        }
        let servers: Vec<usize> = (0..SERVERS).collect();
        for line in self.procs.answers(&servers, Instant::now() + self.slack)? {
            if control::parse_listening(&line).is_none() {
                return Err(format!("a server said {line:?}"));
            }
        }
        Ok(addrs)
    }

    /// Starts the clients: links packed into a few processes, spread over
    /// the servers. Returns their places among the processes.
    fn start_clients(&mut self, client: &str, addrs: &[SocketAddr]) -> Result<Vec<usize>, String> {
        let program = self.bin.join(exe(Engine::program(client, false)));
        let (links, procs_n) = (self.p.links(), self.p.client_processes());
        let mut clients = Vec::new();
        for i in 0..procs_n {
            let mine = links / procs_n + usize::from(i < links % procs_n);
            let mut args = vec![
                "--config".into(),
                self.config_arg.clone(),
                "--supervised".into(),
                "--id".into(),
                i.to_string(),
                "--clients".into(),
                procs_n.to_string(),
            ];
            for k in 0..mine {
                args.push("--server".into());
                args.push(addrs[(i + k) % SERVERS].to_string());
            }
            args.extend(self.threads_args(client));
            clients.push(self.procs.spawn(&program, &args, self.log)?);
        }
        Ok(clients)
    }

    /// Asks the clients until every link is up; returns the seconds since
    /// `started` that took.
    fn await_links(&mut self, clients: &[usize], started: Instant) -> Result<f64, String> {
        let links = self.p.links();
        let connect_by = started + self.slack;
        loop {
            let mut up = 0;
            for &c in clients {
                self.procs.tell(c, &Control::Ready.line())?;
            }
            for line in self.procs.answers(clients, connect_by)? {
                let s: ClientStatus =
                    serde_json::from_str(&line).map_err(|e| format!("bad ready answer: {e}"))?;
                up += s.links_up as usize;
            }
            if up >= links {
                return Ok(started.elapsed().as_secs_f64());
            }
            if Instant::now() >= connect_by {
                return Err(format!(
                    "only {up} of {links} links connected in {:.0} s",
                    self.slack.as_secs_f64()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Tells the clients the window and waits it out; returns every
    /// process's usage before and after it.
    fn window(&mut self, clients: &[usize], duration: Duration) -> Result<UsagePair, String> {
        // Far enough ahead that the go's wakeups are over first.
        let lead = Duration::from_millis(200) + Duration::from_micros(50 * self.p.links() as u64);
        let start = Instant::now() + lead;
        let window = Window {
            start,
            end: Some(start + duration),
        };
        let all = self.procs.pids(0..self.procs.children.len());
        let before = process::read_all(&all);
        for &c in clients {
            self.procs.tell(c, &window.to_go().line())?;
        }
        let end = start + duration;
        std::thread::sleep(
            end.saturating_duration_since(Instant::now()) + Duration::from_millis(100),
        );
        Ok((before, process::read_all(&all)))
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
            dumps: Vec::new(),
        };
        for line in self.procs.answers(clients, Instant::now() + self.slack)? {
            let r: ClientReport =
                serde_json::from_str(&line).map_err(|e| format!("bad client report: {e}"))?;
            got.errors += r.status.errors + r.status.reconnects;
            if let Some(h) = r.histograms.decode() {
                got.histograms.add(&h);
            }
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

/// Usage before and after a window.
type UsagePair = (Option<Figures>, Option<Figures>);

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}
