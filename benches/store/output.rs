//! What the bench prints and writes: a point's record, grouped numbers,
//! the tables and `store.csv`.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use crate::worker::Mode;

pub struct Point {
    pub design: &'static str,
    pub mode: Mode,
    pub threads: usize,
    pub seconds: f64,
    pub updates: u64,
    pub updates_per_s: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub notes: String,
}

/// 1234567 -> "1,234,567".
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_row(p: &Point) -> String {
    format!(
        "{},{},{:.3},{},{:.0},{},{},{}\n",
        p.design,
        p.threads,
        p.seconds,
        p.updates,
        p.updates_per_s,
        p.p50_ns,
        p.p99_ns,
        csv_field(&p.notes)
    )
}

pub fn print_table(points: &[Point], designs: &[&'static str], threads: &[usize], mode: Mode) {
    let rows: Vec<&Point> = designs
        .iter()
        .flat_map(|d| {
            threads.iter().filter_map(move |t| {
                points
                    .iter()
                    .find(|p| p.design == *d && p.threads == *t && p.mode == mode)
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!("\n{}:", mode.name());
    println!(
        "{:<24} {:>7} {:>14} {:>10} {:>12}  notes",
        "design", "threads", "updates/s", "p50 ns", "p99 ns"
    );
    let mut last = "";
    for p in rows {
        if !last.is_empty() && last != p.design {
            println!();
        }
        last = p.design;
        println!(
            "{:<24} {:>7} {:>14} {:>10} {:>12}  {}",
            p.design,
            p.threads,
            group(p.updates_per_s as u64),
            group(p.p50_ns),
            group(p.p99_ns),
            p.notes
        );
    }
}

pub fn write_csv(path: &Path, points: &[Point]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(b"design,threads,seconds,updates,updates_per_s,p50_ns,p99_ns,notes\n")?;
    for p in points {
        f.write_all(csv_row(p).as_bytes())?;
    }
    f.flush()
}
