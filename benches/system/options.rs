//! The command line, and what it asks for: the sweep's points, the floors
//! run beside the system, and the rows of figures each point gives.

use std::path::PathBuf;
use std::time::Duration;

use mass_connect::cli::Args;

use crate::{AFFINITIES, CLIENT_COUNTS, INTERVAL_MS, SCHEDULES, SERVERS};

pub struct Options {
    clients: Vec<usize>,
    schedules: Vec<String>,
    affinities: Vec<String>,
    /// True when `--links` was given: 1000x10 then runs under every schedule.
    links_given: bool,
    /// The ping-pong layouts to run beside the system, in `Floor::ALL` order.
    pub floors: Vec<Floor>,
    pub duration: Duration,
    pub out: Option<PathBuf>,
}

/// Reads the command line with the product's own parser (`cli::Args`):
/// `--help` prints [`crate::USAGE`] and exits; a mistake names the option.
pub fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut args = Args::new(
        "cargo bench --bench system --",
        crate::USAGE,
        args.iter().cloned(),
    );
    let options = read(&mut args).map_err(|e| e.to_string())?;
    args.finish().map_err(|e| e.to_string())?;
    Ok(options)
}

fn read(args: &mut Args) -> mass_connect::error::Result<Options> {
    args.flag("--bench"); // cargo bench passes it to every bench
    let quick = args.flag("--quick");
    let links = args.list("--links", |s| s.parse::<usize>().ok().filter(|n| *n > 0))?;
    let schedules = args.list("--schedules", |s| {
        SCHEDULES.contains(&s).then(|| s.to_string())
    })?;
    let affinities = args.list("--affinity", |s| {
        AFFINITIES.contains(&s).then(|| s.to_string())
    })?;
    let floors = args.list("--floors", |s| {
        Floor::ALL.into_iter().find(|f| f.option_name() == s)
    })?;
    let duration = args.duration("--duration")?;
    let out = args.value("--out")?.map(PathBuf::from);

    let mut o = Options {
        links_given: links.is_some(),
        clients: links.unwrap_or_else(|| CLIENT_COUNTS.to_vec()),
        schedules: SCHEDULES.iter().map(|s| s.to_string()).collect(),
        affinities: AFFINITIES.iter().map(|s| s.to_string()).collect(),
        // Always in the same order, whatever order they were given in.
        floors: match floors {
            Some(asked) => Floor::ALL
                .into_iter()
                .filter(|f| asked.contains(f))
                .collect(),
            None => Floor::ALL.to_vec(),
        },
        duration: Duration::from_secs(10),
        out,
    };
    // --quick sets the small point; options given beside it still win.
    if quick {
        if !o.links_given {
            o.clients = vec![10];
            o.links_given = true;
        }
        o.schedules = vec!["fixed-rate".into()];
        o.affinities = vec!["off".into()];
        o.duration = Duration::from_secs(2);
    }
    if let Some(s) = schedules {
        o.schedules = s;
    }
    if let Some(a) = affinities {
        o.affinities = a;
    }
    if let Some(d) = duration {
        o.duration = d;
    }
    Ok(o)
}

// ---------------------------------------------------------------- points and results

/// One point of the sweep: `clients x SERVERS`, a schedule, an affinity.
#[derive(Clone)]
pub struct Point {
    pub clients: usize,
    pub schedule: String,
    pub affinity: String,
}

impl Point {
    pub fn links(&self) -> usize {
        self.clients * SERVERS
    }

    pub fn label(&self) -> String {
        format!(
            "{}x{} {} affinity={}",
            self.clients, SERVERS, self.schedule, self.affinity
        )
    }

    pub fn file_stem(&self) -> String {
        format!(
            "{}x{}-{}-{}",
            self.clients, SERVERS, self.schedule, self.affinity
        )
    }

    /// Target updates per second, `None` for closed loop.
    pub fn target_per_s(&self) -> Option<f64> {
        (self.schedule != "closed-loop").then(|| self.links() as f64 * 1000.0 / INTERVAL_MS as f64)
    }

    /// Descriptors the busiest process of the point needs (startup holds
    /// pipes to every child; a server holds one socket per client).
    pub fn fds_needed(&self) -> u64 {
        4 * (self.clients + SERVERS) as u64 + 256
    }

    /// Descriptors of the one-process ping-pong: both ends of every link,
    /// the listeners, stdio and pipes.
    pub fn fds_needed_one_process(&self) -> u64 {
        2 * self.links() as u64 + SERVERS as u64 + 64
    }
}

pub fn points(o: &Options) -> Vec<Point> {
    let mut v = Vec::new();
    for &clients in &o.clients {
        for schedule in &o.schedules {
            if clients >= 1000 && !o.links_given && schedule != "fixed-rate" {
                continue;
            }
            for affinity in &o.affinities {
                v.push(Point {
                    clients,
                    schedule: schedule.clone(),
                    affinity: affinity.clone(),
                });
            }
        }
    }
    v
}

/// What one run of one kind (system, pingpong or pingpong-1p) measured.
#[derive(Default, Clone)]
pub struct Measure {
    pub duration_s: f64,
    pub target_per_s: Option<f64>,
    pub achieved_per_s: f64,
    pub achieved_ratio: Option<f64>,
    pub cpu_us_per_op: Option<f64>,
    pub ctx_per_op: Option<f64>,
    pub latency_p99_us: Option<f64>,
    pub lateness_p99_us: Option<f64>,
    pub server_rss_mb: Option<f64>,
    pub client_rss_mb: Option<f64>,
    pub verify_ok: Option<bool>,
    /// Anything that makes the figures less than clean, shown under the table.
    pub notes: Vec<String>,
}

pub struct Row {
    pub point: Point,
    pub system: Result<Measure, String>,
    /// One run per layout `--floors` asked for, in `Floor::ALL` order.
    pub floors: Vec<(Floor, Result<Measure, String>)>,
}

impl Row {
    /// `floor`'s run, if it was asked for.
    pub fn floor(&self, floor: Floor) -> Option<&Result<Measure, String>> {
        self.floors
            .iter()
            .find(|(f, _)| *f == floor)
            .map(|(_, m)| m)
    }

    /// Every run of the point with its CSV kind: the system, then the floors.
    pub fn runs(&self) -> impl Iterator<Item = (&'static str, &Result<Measure, String>)> {
        std::iter::once(("system", &self.system))
            .chain(self.floors.iter().map(|(f, m)| (f.kind(), m)))
    }
}

/// The two layouts of the ping-pong floor (`--floors`).
#[derive(Clone, Copy, PartialEq)]
pub enum Floor {
    /// The system's layout: 10 server processes and N client processes.
    Processes,
    /// Every listener and link thread in one process.
    OneProcess,
}

impl Floor {
    const ALL: [Floor; 2] = [Floor::Processes, Floor::OneProcess];

    /// The CSV's `kind`.
    pub fn kind(self) -> &'static str {
        match self {
            Floor::Processes => "pingpong",
            Floor::OneProcess => "pingpong-1p",
        }
    }

    /// As `--floors` spells it.
    fn option_name(self) -> &'static str {
        match self {
            Floor::Processes => "processes",
            Floor::OneProcess => "one-process",
        }
    }
}
