//! The redis rows: redis-server and redis-benchmark (`INCR`, as many
//! connections as the point has links, closed loop), the best-known
//! event-loop server there is, on the same machine in the same run.
//! Three shapes (`options::REDIS`), because a one-thread redis-benchmark
//! can be what limits the row rather than the server: `redis` (both on
//! one thread), `redis-t2` (`--threads 2` benchmark) and `redis-io2`
//! (that, and a server with `--io-threads 2`). The lesson quotes the best.
//!
//! Install them with `apt-get install redis-server redis-tools` (Debian,
//! Ubuntu); without them the row says so and the bench goes on.
//!
//! redis-benchmark has no fixed rate and no duration: it runs a number of
//! requests. The bench asks for 100,000 x `--duration` seconds of them,
//! reads the rate and the latency distribution it prints, and reads the
//! CPU of both processes (the server's from `/proc`, the benchmark's from
//! its rusage at exit). Per-link fairness and the time to connect it does
//! not report.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hostinfo::process::{self, Figures};

use crate::measure::{CCDF_QUANTILES, Measure};
use crate::options::{Point, RedisKind};

/// Where a program is on PATH, if it is.
fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

pub fn run_redis(p: &Point, kind: RedisKind, duration: Duration, out: &Path) -> Measure {
    match run(p, kind, duration, out) {
        Ok(m) => m,
        Err(why) => {
            let limit = crate::machine::limit_named(&why).map(str::to_string);
            Measure::failed(why, limit)
        }
    }
}

fn run(p: &Point, kind: RedisKind, duration: Duration, out: &Path) -> Result<Measure, String> {
    let (Some(server), Some(bench)) = (which("redis-server"), which("redis-benchmark")) else {
        return Err(
            "redis-server / redis-benchmark not installed (apt-get install redis-server redis-tools)"
                .into(),
        );
    };
    let links = p.links();
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let log_path = out.join(format!("{}.log", p.file_stem()));
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let mut redis = Command::new(server)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args([
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
        ])
        .args([
            "--maxclients",
            &(links + 64).to_string(),
            "--loglevel",
            "warning",
        ])
        // Without `do-reads` the I/O threads only write.
        .args(["--io-threads", &kind.io_threads.to_string()])
        .args(["--io-threads-do-reads", "yes"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log.try_clone().map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot start redis-server: {e}"))?;
    let result = measure(p, kind, duration, port, &bench, redis.id());
    let _ = redis.kill();
    let _ = redis.wait();
    result.map_err(|e| {
        let said = std::fs::read_to_string(&log_path).unwrap_or_default();
        format!(
            "{e}{}",
            said.lines()
                .next()
                .map(|l| format!("; redis said: {l}"))
                .unwrap_or_default()
        )
    })
}

fn measure(
    p: &Point,
    kind: RedisKind,
    duration: Duration,
    port: u16,
    bench: &Path,
    server_pid: u32,
) -> Result<Measure, String> {
    await_pong(port)?;
    let requests = (100_000.0 * duration.as_secs_f64()).max(10_000.0) as u64;
    let before = process::read_all(&[server_pid]);
    let ran = run_benchmark(bench, kind, port, p.links(), requests, duration, server_pid)?;
    let rps = ran
        .text
        .lines()
        .find_map(|l| l.split("throughput summary:").nth(1))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| {
            format!(
                "redis-benchmark ({}) printed no throughput: {}",
                ran.status,
                ran.errors
                    .lines()
                    .chain(ran.text.lines().rev())
                    .next()
                    .unwrap_or("")
            )
        })?;
    let mut m = Measure {
        duration_s: requests as f64 / rps,
        achieved_per_s: rps,
        acked: requests,
        processes: 2,
        ..Measure::default()
    };
    if let (Some(b), Some(a), Some(bench)) = (before, ran.server_after, ran.usage) {
        m.set_usage(&a.since(&b).plus(&bench), p.links());
        // redis-benchmark is reaped before it can be read: the server's only.
        m.set_run_delay(Some(&a.since(&b)), None);
    }
    set_latency(&mut m, &ran.text);
    m.notes
        .push("redis: latency from redis-benchmark's own distribution (ms, 3 decimals)".into());
    Ok(m)
}

/// Waits until redis-server answers PING (bounded: 10 s).
fn await_pong(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pong = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(1)))?;
            s.write_all(b"PING\r\n")?;
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf)?;
            Ok(buf.starts_with(b"+PONG"))
        });
        if pong.unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("redis-server did not answer PING within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What redis-benchmark printed, how it ended and what it cost.
struct Ran {
    text: String,
    errors: String,
    status: std::process::ExitStatus,
    usage: Option<Figures>,
    /// The server's usage as the benchmark ended.
    server_after: Option<Figures>,
}

/// Runs redis-benchmark's `INCR` over `links` connections, `requests` in
/// all; killed if it runs far past what `duration` leads to expect.
fn run_benchmark(
    bench: &Path,
    kind: RedisKind,
    port: u16,
    links: usize,
    requests: u64,
    duration: Duration,
    server_pid: u32,
) -> Result<Ran, String> {
    let mut child = Command::new(bench)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "incr"])
        .args(["-c", &links.to_string(), "-n", &requests.to_string()])
        .args(["--threads", &kind.bench_threads.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start redis-benchmark: {e}"))?;
    // Its output is read on threads so a full pipe never stalls it.
    let read_all = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = from.read_to_string(&mut s);
            s
        })
    };
    let read_out = read_all(Box::new(child.stdout.take().expect("piped")));
    let read_err = read_all(Box::new(child.stderr.take().expect("piped")));
    let limit = duration * 6 + Duration::from_secs(60);
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let t = Instant::now();
        while t.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(200));
            if hostinfo::process::read(pid, false).is_none() {
                return;
            }
        }
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let waited = wait(&mut child);
    let server_after = process::read_all(&[server_pid]);
    let text = read_out.join().unwrap_or_default();
    let errors = read_err.join().unwrap_or_default();
    let _ = watchdog.join();
    let (status, usage) = waited.ok_or("cannot wait for redis-benchmark")?;
    Ok(Ran {
        text,
        errors,
        status,
        usage,
        server_after,
    })
}

/// The latency figures from redis-benchmark's cumulative distribution,
/// lines like "99.900% <= 1.231 milliseconds (cumulative count 99903)".
fn set_latency(m: &mut Measure, text: &str) {
    let dist: Vec<(f64, u64)> = text
        .lines()
        .filter_map(|l| {
            let (pct, rest) = l.trim().split_once("% <= ")?;
            let ms: f64 = rest.split_whitespace().next()?.parse().ok()?;
            Some((
                pct.parse::<f64>().ok()? / 100.0,
                (ms * 1000.0).round() as u64,
            ))
        })
        .collect();
    if dist.is_empty() {
        return;
    }
    let at = |q: f64| {
        dist.iter()
            .find(|(p, _)| *p >= q)
            .or(dist.last())
            .map_or(0, |(_, v)| *v)
    };
    m.latency_us = Some([at(0.5), at(0.99), at(0.999)]);
    m.ccdf = CCDF_QUANTILES.iter().map(|&q| (q, at(q))).collect();
}

#[cfg(target_os = "linux")]
fn wait(child: &mut std::process::Child) -> Option<(std::process::ExitStatus, Option<Figures>)> {
    process::wait(child).map(|(s, u)| (s, Some(u)))
}

#[cfg(not(target_os = "linux"))]
fn wait(child: &mut std::process::Child) -> Option<(std::process::ExitStatus, Option<Figures>)> {
    child.wait().ok().map(|s| (s, None))
}
