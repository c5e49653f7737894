//! The command line, the points it asks for, and the engines it names.

use std::path::PathBuf;
use std::time::Duration;

use mass_connect::cli::Args;

use crate::SERVERS;

/// Client counts N of the full sweep's N x 10 points: 100 to 100,000 links.
const CLIENT_COUNTS: [usize; 5] = [10, 100, 1_000, 3_000, 10_000];
/// The full sweep's schedules: fixed rate at 10 ms and at 1 s, closed loop.
const SCHEDULES: [&str; 3] = ["10ms", "1s", "closed-loop"];
/// Closed loop "where it means something": up to this many links. Beyond
/// it every engine is saturated at any fixed rate already, and the
/// closed-loop point would only repeat the 10 ms one.
const CLOSED_LOOP_MAX_LINKS: usize = 10_000;
/// The blocking experiment's point (`blocking.rs`): N = 100 clients x 10
/// servers, 1,000 links, at 100 ms, a rate all three engines hold with
/// room to spare, so that what changes is the block's doing.
const BLOCKING_CLIENTS: usize = 100;
const BLOCKING_INTERVAL_MS: u64 = 100;
/// Each injected block: 1 ms unless `--block-us` says otherwise.
pub const BLOCK_US: u64 = 1_000;
/// The wall's ladder of link counts (`wall.rs`), stopping at the first
/// step that fails.
const WALL_LINKS: [usize; 3] = [100_000, 300_000, 1_000_000];
/// The wall's interval: at a million links one update a minute per link
/// is about 17,000 updates/s, a load the event loop carries on a fraction
/// of this machine's two CPUs, so what the wall finds is what holding
/// links costs, not what serving updates costs.
const WALL_INTERVAL_MS: u64 = 60_000;
/// The wall's first connects per second over all its links: a million in
/// 100 s, a few hundred per second per server, far below what one
/// listen backlog (net.core.somaxconn) takes.
const WALL_CONNECT_RATE: u32 = 10_000;

pub struct Options {
    pub clients: Vec<usize>,
    pub schedules: Vec<Schedule>,
    pub engines: Vec<Engine>,
    pub duration: Duration,
    pub out: Option<PathBuf>,
    /// Loop threads / workers per engine process (`--threads`), if given.
    pub engine_threads: Option<usize>,
    /// `--blocking`: the blocking experiment (`blocking.rs`) instead of
    /// the sweep, `rounds` times over.
    pub blocking: bool,
    pub rounds: usize,
    /// Microseconds of each injected block (`--block-us`).
    pub block_us: u64,
    /// `--wall`: the wall (`wall.rs`) instead of the sweep.
    pub wall: Option<Wall>,
    links_given: bool,
}

/// What the wall runs: its ladder and its pace.
pub struct Wall {
    /// Link counts, in order; the wall stops at the first that fails.
    pub links: Vec<usize>,
    /// Destination addresses 127.0.0.1 to 127.0.0.K (`None`: one per
    /// server).
    pub addrs: Option<usize>,
    /// Milliseconds between two updates of one link.
    pub interval_ms: u64,
    /// First connects per second over all the links (`connect_rate`).
    pub connect_rate: u32,
}

/// How a point paces its links.
#[derive(Clone, Copy, PartialEq)]
pub enum Schedule {
    FixedRate { interval_ms: u64 },
    ClosedLoop,
}

impl Schedule {
    fn parse(text: &str) -> Option<Schedule> {
        if text == "closed-loop" {
            return Some(Schedule::ClosedLoop);
        }
        let d = mass_connect::cli::parse_duration(text.strip_prefix("fixed-rate@").unwrap_or(text))
            .ok()?;
        let interval_ms = u64::try_from(d.as_millis()).ok().filter(|ms| *ms >= 1)?;
        Some(Schedule::FixedRate { interval_ms })
    }

    pub fn label(self) -> String {
        match self {
            Schedule::ClosedLoop => "closed-loop".into(),
            Schedule::FixedRate { interval_ms } if interval_ms % 1000 == 0 => {
                format!("{}s", interval_ms / 1000)
            }
            Schedule::FixedRate { interval_ms } => format!("{interval_ms}ms"),
        }
    }

    /// The config's `schedule` and `update_intervals`.
    pub fn config(self) -> (&'static str, u64) {
        match self {
            Schedule::ClosedLoop => ("closed-loop", 10),
            Schedule::FixedRate { interval_ms } => ("fixed-rate", interval_ms),
        }
    }
}

/// What runs a point: a client engine and a server engine, or redis.
#[derive(Clone, PartialEq)]
pub enum Engine {
    Pair { client: String, server: String },
    Redis(RedisKind),
}

/// redis as the outside anchor, in the shapes that may be its best here:
/// redis-benchmark with one thread or two (one may be the bottleneck,
/// not the server), and redis-server with I/O threads (reads and writes
/// on two threads, commands still on one).
#[derive(Clone, Copy, PartialEq)]
pub struct RedisKind {
    pub name: &'static str,
    /// redis-benchmark's `--threads`.
    pub bench_threads: u32,
    /// redis-server's `--io-threads` (1: its classic single thread).
    pub io_threads: u32,
}

/// `redis`: both single-threaded; `redis-t2`: a two-thread benchmark;
/// `redis-io2`: that and a server with two I/O threads.
pub const REDIS: [RedisKind; 3] = [
    RedisKind {
        name: "redis",
        bench_threads: 1,
        io_threads: 1,
    },
    RedisKind {
        name: "redis-t2",
        bench_threads: 2,
        io_threads: 1,
    },
    RedisKind {
        name: "redis-io2",
        bench_threads: 2,
        io_threads: 2,
    },
];

/// An engine the bench can run on one side of a pair: its short name,
/// its programs, and what its processes are started with.
pub struct EngineKind {
    pub name: &'static str,
    pub client: &'static str,
    pub server: &'static str,
    /// Loop threads / runtime workers per process this variant fixes
    /// (`--threads`); `None`: the bench's `--threads`, else one per CPU.
    pub threads: Option<usize>,
    /// Environment variables of its processes.
    pub env: &'static [(&'static str, &'static str)],
    /// Its server runs its loop on the main thread (a current-thread
    /// runtime inside `block_on`), so it has no loop thread of its own.
    pub server_loop_on_main: bool,
}

/// The engines: the three models, and the thread-per-core shapes of the
/// two loop engines (issue 27 item 5): one loop thread per process, and
/// tokio's current-thread runtime, its building block for thread per core.
pub const ENGINES: [EngineKind; 6] = [
    EngineKind::new("threads", "client", "server"),
    EngineKind::new("evloop", "client-evloop", "server-evloop"),
    EngineKind::new("tokio", "client-tokio", "server-tokio"),
    EngineKind {
        threads: Some(1),
        ..EngineKind::new("evloop-1t", "client-evloop", "server-evloop")
    },
    EngineKind {
        threads: Some(1),
        ..EngineKind::new("tokio-1t", "client-tokio", "server-tokio")
    },
    EngineKind {
        threads: Some(1),
        env: &[("MASS_CONNECT_TOKIO_FLAVOR", "current_thread")],
        server_loop_on_main: true,
        ..EngineKind::new("tokio-ct", "client-tokio", "server-tokio")
    },
];

impl EngineKind {
    const fn new(name: &'static str, client: &'static str, server: &'static str) -> EngineKind {
        EngineKind {
            name,
            client,
            server,
            threads: None,
            env: &[],
            server_loop_on_main: false,
        }
    }

    /// The engine called `name` (one of [`ENGINES`]).
    pub fn named(name: &str) -> &'static EngineKind {
        ENGINES
            .iter()
            .find(|k| k.name == name)
            .expect("a known engine")
    }

    /// Its program on one side.
    pub fn program(&self, server: bool) -> &'static str {
        if server { self.server } else { self.client }
    }

    /// Whether it runs a thread per link.
    pub fn per_link(&self) -> bool {
        self.name == "threads"
    }

    /// Whether its client takes `--source IP` (the engines' clients do;
    /// the product's has no such option).
    pub fn binds_source(&self) -> bool {
        self.client != "client"
    }
}

impl Engine {
    fn parse(text: &str) -> Option<Engine> {
        if let Some(r) = REDIS.iter().find(|r| r.name == text) {
            return Some(Engine::Redis(*r));
        }
        let known = |e: &str| ENGINES.iter().any(|k| k.name == e).then(|| e.to_string());
        if let Some(e) = known(text) {
            return Some(Engine::Pair {
                client: e.clone(),
                server: e,
            });
        }
        let (c, s) = text.split_once('+')?;
        Some(Engine::Pair {
            client: known(c.strip_prefix("client:")?)?,
            server: known(s.strip_prefix("server:")?)?,
        })
    }

    pub fn is_redis(&self) -> bool {
        matches!(self, Engine::Redis(_))
    }

    /// The CSV's `engine`: `evloop`, `client:threads+server:evloop`, `redis`.
    pub fn label(&self) -> String {
        match self {
            Engine::Redis(r) => r.name.into(),
            Engine::Pair { client, server } if client == server => client.clone(),
            Engine::Pair { client, server } => format!("client:{client}+server:{server}"),
        }
    }
}

pub const USAGE: &str = "\
cargo bench --bench engines -- [OPTIONS]

    --quick              one small point (10 x 10 links, closed loop), every engine, 2 s (CI)
    --links 10,1000      client counts N of the N x 10 points [10,100,1000,3000,10000]:
                         100 to 100,000 links
    --schedules LIST     10ms, 1s (fixed rate at that interval; also fixed-rate@50ms),
                         closed-loop [10ms,1s,closed-loop; closed loop up to 10,000 links]
    --engines LIST       threads, evloop, tokio (the same engine on both sides),
                         client:E+server:E (a mixed pair); the thread-per-core
                         shapes: evloop-1t and tokio-1t (one loop thread /
                         worker per process), tokio-ct (tokio's current-thread
                         runtime); redis, redis-t2 (2 benchmark threads),
                         redis-io2 (and 2 server I/O threads)
                         [threads,evloop,tokio,redis,redis-t2,redis-io2]
    --threads N          loop threads / runtime workers of every evloop and tokio
                         process but the -1t/-ct ones [default: one per CPU]
    --duration D         length of every run: 500ms, 10s, 2m [10s]
    --out DIR            output directory [target/bench-engines/<UTC YYYYmmdd-HHMMSS>/]
    --blocking           the blocking experiment instead of the sweep: each engine at
                         1,000 links at 100 ms without and with an injected 1 ms block
                         in one client's links, engines interleaved (--links,
                         --schedules, --engines, --duration still apply)
    --rounds N           rounds of the blocking experiment [3]
    --block-us US        length of each injected block, microseconds [1000]
    --wall               an engine's wall instead of the sweep: a ladder of link
                         counts on one engine, processes and loopback addresses sized
                         from the open-files limit and the port range (each client
                         on a source address of its own), stopping at the first step
                         that fails and naming the limit (--engines picks the engine
                         [evloop]; --duration the window [2 x the interval])
    --wall-links LIST    the ladder's link counts [100000,300000,1000000]
    --wall-addrs K       servers' destination addresses 127.0.0.1..127.0.0.K
                         [one per server]
    --wall-interval D    time between two updates of one link [60s]
    --connect-rate N     first connects per second over all links [10000]";

/// Reads the command line with the product's own parser (`cli::Args`):
/// `--help` prints [`USAGE`] and exits; a mistake names the option.
pub fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut args = Args::new(
        "cargo bench --bench engines --",
        USAGE,
        args.iter().cloned(),
    );
    let options = read(&mut args).map_err(|e| e.to_string())?;
    args.finish().map_err(|e| e.to_string())?;
    Ok(options)
}

fn read(args: &mut Args) -> mass_connect::error::Result<Options> {
    let positive = |s: &str| s.parse::<usize>().ok().filter(|n| *n > 0);
    args.flag("--bench"); // cargo bench passes it to every bench
    let quick = args.flag("--quick");
    let links = args.list("--links", positive)?;
    let schedules = args.list("--schedules", Schedule::parse)?;
    let engines = args.list("--engines", Engine::parse)?;
    let engine_threads = match args.value("--threads")? {
        None => None,
        Some(text) => Some(positive(&text).ok_or_else(|| {
            args.error(&format!("--threads {text:?}: expected a number above 0"))
        })?),
    };
    let duration = args.duration("--duration")?;
    let out = args.value("--out")?.map(PathBuf::from);
    let blocking = args.flag("--blocking");
    let engines_given = engines.is_some();
    let block_us = match args.value("--block-us")? {
        None => BLOCK_US,
        Some(text) => positive(&text)
            .ok_or_else(|| args.error(&format!("--block-us {text:?}: expected a number above 0")))?
            as u64,
    };
    let wall = read_wall(args)?;
    let rounds = match args.value("--rounds")? {
        None => 3,
        Some(text) => positive(&text)
            .ok_or_else(|| args.error(&format!("--rounds {text:?}: expected a number above 0")))?,
    };

    let mut o = Options {
        links_given: links.is_some(),
        clients: links.unwrap_or_else(|| CLIENT_COUNTS.to_vec()),
        schedules: SCHEDULES
            .iter()
            .filter_map(|s| Schedule::parse(s))
            .collect(),
        engines: engines.unwrap_or_else(|| {
            [
                "threads",
                "evloop",
                "tokio",
                "redis",
                "redis-t2",
                "redis-io2",
            ]
            .iter()
            .filter_map(|e| Engine::parse(e))
            .collect()
        }),
        duration: Duration::from_secs(10),
        out,
        engine_threads,
        blocking,
        rounds,
        block_us,
        wall,
    };
    if blocking {
        // One fixed-rate point all three engines hold with room to spare,
        // so that what changes is the block's doing; redis has no part.
        if !o.links_given {
            o.clients = vec![BLOCKING_CLIENTS];
        }
        o.schedules = vec![Schedule::FixedRate {
            interval_ms: BLOCKING_INTERVAL_MS,
        }];
        if !engines_given {
            o.engines.retain(|e| !e.is_redis());
        }
    }
    if let Some(w) = &o.wall {
        if !engines_given {
            o.engines = vec![Engine::parse("evloop").expect("a known engine")];
        }
        if o.engines.iter().any(Engine::is_redis) {
            return Err(args.error("--wall runs the engines' pairs, not redis"));
        }
        o.duration = Duration::from_millis(2 * w.interval_ms);
    }
    // --quick sets the small point; options given beside it still win.
    if quick {
        if !o.links_given {
            o.clients = vec![10];
        }
        o.schedules = vec![Schedule::ClosedLoop];
        o.duration = Duration::from_secs(2);
    }
    if let Some(s) = schedules {
        o.schedules = s;
    }
    if let Some(d) = duration {
        o.duration = d;
    }
    Ok(o)
}

/// The wall's options, when `--wall` is given.
fn read_wall(args: &mut Args) -> mass_connect::error::Result<Option<Wall>> {
    let positive = |s: &str| s.parse::<usize>().ok().filter(|n| *n > 0);
    let wall = args.flag("--wall");
    let links = args.list("--wall-links", positive)?;
    let addrs = args.value("--wall-addrs")?;
    let interval = args.duration("--wall-interval")?;
    let rate = args.value("--connect-rate")?;
    if !wall {
        return match (&links, &addrs, &interval, &rate) {
            (None, None, None, None) => Ok(None),
            _ => Err(args.error(
                "--wall-links, --wall-addrs, --wall-interval and --connect-rate go with --wall",
            )),
        };
    }
    let addrs = match addrs {
        None => None,
        Some(text) => Some(
            positive(&text)
                .filter(|k| *k <= crate::layout::MAX_ADDRS)
                .ok_or_else(|| {
                    args.error(&format!(
                        "--wall-addrs {text:?}: expected 1 to {}",
                        crate::layout::MAX_ADDRS
                    ))
                })?,
        ),
    };
    let interval_ms = match interval {
        None => WALL_INTERVAL_MS,
        Some(d) => u64::try_from(d.as_millis())
            .ok()
            .filter(|ms| (1..=3_600_000).contains(ms))
            .ok_or_else(|| args.error("--wall-interval: expected 1ms to 1h"))?,
    };
    let connect_rate = match rate {
        None => WALL_CONNECT_RATE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| {
                args.error(&format!("--connect-rate {text:?}: expected 1 to 1000000"))
            })?,
    };
    Ok(Some(Wall {
        links: links.unwrap_or_else(|| WALL_LINKS.to_vec()),
        addrs,
        interval_ms,
        connect_rate,
    }))
}

/// One point: N x 10 links, a schedule, an engine.
#[derive(Clone)]
pub struct Point {
    pub clients: usize,
    pub schedule: Schedule,
    pub engine: Engine,
}

impl Point {
    pub fn links(&self) -> usize {
        self.clients * SERVERS
    }

    /// Client processes: the N clients' links packed into at most ten
    /// processes (startup's one process per client would be 10,000
    /// processes at 100,000 links; see main.rs).
    pub fn client_processes(&self) -> usize {
        self.clients.min(SERVERS)
    }

    pub fn label(&self) -> String {
        format!(
            "{} links {} {}",
            self.links(),
            self.schedule.label(),
            self.engine.label()
        )
    }

    pub fn file_stem(&self) -> String {
        format!(
            "{}-{}-{}",
            self.links(),
            self.schedule.label(),
            self.engine.label().replace([':', '+'], "_")
        )
    }

    /// Target updates per second, `None` for closed loop.
    pub fn target_per_s(&self) -> Option<f64> {
        match self.schedule {
            Schedule::FixedRate { interval_ms } => {
                Some(self.links() as f64 * 1000.0 / interval_ms as f64)
            }
            Schedule::ClosedLoop => None,
        }
    }
}

pub fn points(o: &Options) -> Vec<Point> {
    let mut v = Vec::new();
    for &clients in &o.clients {
        for &schedule in &o.schedules {
            let links = clients * SERVERS;
            if schedule == Schedule::ClosedLoop && links > CLOSED_LOOP_MAX_LINKS && !o.links_given {
                continue;
            }
            for engine in &o.engines {
                // redis-benchmark has no fixed rate: closed loop only.
                if engine.is_redis() && schedule != Schedule::ClosedLoop {
                    continue;
                }
                v.push(Point {
                    clients,
                    schedule,
                    engine: engine.clone(),
                });
            }
        }
    }
    v
}
