//! The blocking experiment (`--blocking`, issue 27 item 5): where a thread
//! per link wins for a structural reason. One link's handler now and then
//! makes a synchronous call (a slow disk write, a DNS lookup, a lock held
//! elsewhere); what does that do to the other links?
//!
//! Each engine runs one fixed-rate point all three hold with room to
//! spare (1,000 links at 100 ms, 10,000 updates/s) twice: without a block,
//! and with the servers' injected block (`mass_connect::server::block`)
//! on the links of the first client process, which starts alone so that
//! each server takes its links first (10 per server, 100 of the 1,000):
//! every update of theirs sleeps `--block-us` (default [`crate::options::BLOCK_US`]) on the
//! thread serving it.
//! The block sits in `ServerLink::apply`, the per-update code every
//! engine runs on the thread that serves the link, so the only difference
//! is what that thread is: the link's own (threads), a loop thread
//! holding half the server's links (evloop), a runtime worker (tokio).
//!
//! tokio runs a third variant, `on-block_in_place`: the same block, with
//! the server calling a slow link's handler inside
//! `tokio::task::block_in_place` (`MASS_CONNECT_BLOCK_IN_PLACE`), as a
//! tokio program does around a call it knows blocks.
//!
//! Rows: every round, engine and variant (`off`, `on`, ...), with latency and
//! lateness p50/p99/p99.9 of all links, of the first process's links
//! (`slow_*`: the blocked ones when on) and of the other processes'
//! (`others_*`: links that never block). `blocking.csv` in the output
//! folder, `blocking.png` beside it (scripts/plot_engines_blocking.py)
//! and `blocking.html`, the chart and the rows in one page that opens
//! offline; the table gives each figure's median over the rounds and its
//! range.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use mass_connect::server::block;
use mass_connect_engines::tokio_rt::server::BLOCK_IN_PLACE_ENV;

use crate::fleet::{Setup, run_pair_with};
use crate::measure::{Measure, Tails};
use crate::options::{Engine, Options, Point, points};
use crate::output::{plot_with, print_done, summary};
use crate::provenance::Provenance;

/// A slow link blocks on every update of its own (each block lasts
/// `--block-us`, default [`crate::options::BLOCK_US`]).
pub const BLOCK_EVERY: u64 = 1;

/// One run of the experiment.
struct BlockRow {
    round: usize,
    point: Point,
    variant: Variant,
    /// Slow links per server (the first client process's), 0 when off.
    slow_per_server: usize,
    m: Measure,
}

/// Runs the experiment's rounds; the exit status.
pub fn run(o: &Options, bin: &Path, out: &Path, provenance: &Provenance) -> i32 {
    let pts = points(o);
    let total = o.rounds * pts.iter().map(|p| variants_of(p).len()).sum::<usize>();
    let started = Instant::now();
    println!(
        "engines bench: blocking experiment, {} round(s) of {} point(s) without and with a \
         {} us block on every {BLOCK_EVERY} update(s) of the first client's links, \
         {:.1} s per run, output {}",
        o.rounds,
        pts.len(),
        o.block_us,
        o.duration.as_secs_f64(),
        out.display()
    );
    println!(
        "engines bench: commit {}, {}",
        provenance.commit, provenance.machine
    );
    let mut rows = Vec::new();
    for round in 1..=o.rounds {
        // Engines interleaved within a round; the variants' order turns
        // from round to round, so none always runs first or warmest.
        for point in &pts {
            let mut variants = variants_of(point);
            let turn = (round - 1) % variants.len();
            variants.rotate_left(turn);
            for variant in variants {
                print!(
                    "[{}/{total}] round {round} {} block {} ... ",
                    rows.len() + 1,
                    point.label(),
                    variant.label()
                );
                let _ = std::io::Write::flush(&mut std::io::stdout());
                let t = Instant::now();
                let slow = slow_per_server(point);
                let setup = Setup {
                    tag: format!("-block-{}-r{round}", variant.label()),
                    server_env: variant.env(slow, o.block_us),
                    first_client_alone: true,
                    ..Setup::default()
                };
                let m = run_pair_with(point, o.duration, o.engine_threads, bin, out, &setup);
                println!("{} ({:.1} s)", summary(&m), t.elapsed().as_secs_f64());
                rows.push(BlockRow {
                    round,
                    point: point.clone(),
                    variant,
                    slow_per_server: if variant == Variant::Off { 0 } else { slow },
                    m,
                });
                let csv = out.join("blocking.csv");
                if let Err(e) = std::fs::write(&csv, csv_text(&rows, o.block_us, provenance)) {
                    eprintln!("engines bench: cannot write {}: {e}", csv.display());
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    println!();
    print!("{}", table(&rows));
    let report = plot_with("plot_engines_blocking.py", &out.join("blocking.csv"));
    print_done(started, out, report.as_deref());
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.m.error.is_some() || r.m.verify_ok == Some(false))
        .map(|r| format!("round {} {}", r.round, r.point.label()))
        .collect();
    if failed.is_empty() {
        0
    } else {
        eprintln!(
            "engines bench: {} run(s) failed: {}",
            failed.len(),
            failed.join("; ")
        );
        1
    }
}

/// The first client process's links per server: its links are spread
/// evenly over the servers (`fleet::Run::start_clients`).
fn slow_per_server(p: &Point) -> usize {
    let first = p.links().div_ceil(p.client_processes());
    first.div_ceil(crate::SERVERS)
}

/// A run's variant: no block, the block, or (tokio) the block with the
/// blocking call inside `block_in_place`.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Off,
    On,
    InPlace,
}

impl Variant {
    /// The CSV's `block`.
    fn label(self) -> &'static str {
        match self {
            Variant::Off => "off",
            Variant::On => "on",
            Variant::InPlace => "on-block_in_place",
        }
    }

    /// The servers' environment for this variant, `slow` links each.
    fn env(self, slow: usize, us: u64) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if self != Variant::Off {
            env.push((block::EVERY_ENV.into(), BLOCK_EVERY.to_string()));
            env.push((block::MICROS_ENV.into(), us.to_string()));
            env.push((block::LINKS_ENV.into(), slow.to_string()));
        }
        if self == Variant::InPlace {
            env.push((BLOCK_IN_PLACE_ENV.into(), "1".into()));
        }
        env
    }
}

/// The variants a point runs: `block_in_place` only where the server is
/// tokio's.
fn variants_of(p: &Point) -> Vec<Variant> {
    let mut v = vec![Variant::Off, Variant::On];
    if matches!(&p.engine, Engine::Pair { server, .. } if server == "tokio") {
        v.push(Variant::InPlace);
    }
    v
}

const GROUPS: [&str; 3] = ["all", "others", "slow"];

fn group(m: &Measure, name: &str) -> Option<Tails> {
    let s = m.split?;
    Some(match name {
        "all" => s.all,
        "others" => s.others,
        _ => s.first,
    })
}

/// The CSV: a row per run. `slow_*` are the first client process's links
/// (blocked when `block` is `on`), `others_*` the rest, `all_*` both.
fn csv_text(rows: &[BlockRow], block_us: u64, run: &Provenance) -> String {
    let mut s = String::from(
        "round,engine,block,block_us,block_every,slow_links,links,schedule,duration_s,\
         target_per_s,achieved_per_s",
    );
    for g in GROUPS {
        for what in ["latency", "lateness"] {
            for q in ["p50", "p99", "p999"] {
                let _ = write!(s, ",{g}_{what}_{q}_us");
            }
        }
        let _ = write!(s, ",{g}_updates");
    }
    s.push_str(",errors,reconnects,verify_ok,error,commit,machine\n");
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "'"));
    for r in rows {
        let m = &r.m;
        let _ = write!(
            s,
            "{},{},{},{},{},{},{},{},{:.3},{},{:.1}",
            r.round,
            r.point.engine.label(),
            r.variant.label(),
            if r.variant == Variant::Off {
                0
            } else {
                block_us
            },
            if r.variant == Variant::Off {
                0
            } else {
                BLOCK_EVERY
            },
            r.slow_per_server * crate::SERVERS,
            r.point.links(),
            r.point.schedule.label(),
            m.duration_s,
            r.point
                .target_per_s()
                .map_or(String::new(), |t| format!("{t:.0}")),
            m.achieved_per_s,
        );
        for g in GROUPS {
            match group(m, g) {
                Some(t) => {
                    for v in t.latency_us.iter().chain(&t.lateness_us) {
                        let _ = write!(s, ",{v}");
                    }
                    let _ = write!(s, ",{}", t.updates);
                }
                None => s.push_str(",,,,,,,"),
            }
        }
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(
            s,
            ",{},{},{},{},{},{}",
            opt(m.errors),
            opt(m.reconnects),
            m.verify_ok.map(|b| b.to_string()).unwrap_or_default(),
            m.error.as_deref().map(quote).unwrap_or_default(),
            quote(&run.commit),
            quote(&run.machine),
        );
    }
    s
}

/// Median over the rounds with the range, in ms: `1.23 (1.10-1.40)`.
fn median_range(mut v: Vec<u64>) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    let median = if v.len() % 2 == 1 {
        ms(v[v.len() / 2])
    } else {
        (ms(v[v.len() / 2 - 1]) + ms(v[v.len() / 2])) / 2.0
    };
    if v.len() == 1 {
        return format!("{median:.2}");
    }
    format!("{median:.2} ({:.2}-{:.2})", ms(v[0]), ms(v[v.len() - 1]))
}

/// Per engine and variant, each group's latency p50/p99/p99.9 and
/// lateness p99: medians over the rounds, ranges beside them, in ms.
fn table(rows: &[BlockRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<8} {:<17} {:<6} | {:>22} {:>22} {:>22} | {:>22}",
        "engine", "block", "links", "latency p50 ms", "p99", "p99.9", "lateness p99"
    );
    let mut engines: Vec<String> = Vec::new();
    for r in rows {
        let e = r.point.engine.label();
        if !engines.contains(&e) {
            engines.push(e);
        }
    }
    for e in &engines {
        for variant in [Variant::Off, Variant::On, Variant::InPlace] {
            let mine: Vec<&BlockRow> = rows
                .iter()
                .filter(|r| r.point.engine.label() == *e && r.variant == variant)
                .collect();
            if mine.is_empty() {
                continue;
            }
            for g in ["all", "others"] {
                let col = |f: &dyn Fn(&Tails) -> u64| {
                    median_range(
                        mine.iter()
                            .filter_map(|r| group(&r.m, g))
                            .map(|t| f(&t))
                            .collect(),
                    )
                };
                let _ = writeln!(
                    s,
                    "{e:<8} {:<17} {g:<6} | {:>22} {:>22} {:>22} | {:>22}",
                    variant.label(),
                    col(&|t| t.latency_us[0]),
                    col(&|t| t.latency_us[1]),
                    col(&|t| t.latency_us[2]),
                    col(&|t| t.lateness_us[1]),
                );
            }
        }
    }
    s.push_str(
        "all: every link; others: the links of every client process but the first, which \
         never block; medians over the rounds, (min-max) beside them.\n",
    );
    s
}
