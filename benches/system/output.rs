//! What the bench shows and writes: the progress line's summary, the
//! tables and their notes, `system.csv`, the plotting call and the default
//! output directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::SERVERS;
use crate::fleet::wait_until;
use crate::options::{Floor, Measure, Row};

pub fn summary(m: &Measure) -> String {
    let mut s = format!("{:.0}/s", m.achieved_per_s);
    if let (Some(t), Some(r)) = (m.target_per_s, m.achieved_ratio) {
        let _ = write!(s, " of {t:.0} ({:.1}%)", r * 100.0);
    }
    if let Some(c) = m.cpu_us_per_op {
        let _ = write!(s, ", {c:.1} us CPU/op");
    }
    if let Some(c) = m.ctx_per_op {
        let _ = write!(s, ", {c:.2} ctx/op");
    }
    if let Some(p) = m.latency_p99_us {
        let _ = write!(s, ", p99 {p:.0} us");
    }
    match m.verify_ok {
        Some(true) => s.push_str(", verify ok"),
        Some(false) => s.push_str(", verify FAILED"),
        None => {}
    }
    s
}

const CSV_HEADER: &str = "links,clients,servers,schedule,affinity,kind,duration_s,target_per_s,\
achieved_per_s,achieved_ratio,cpu_us_per_op,ctx_per_op,latency_p99_us,lateness_p99_us,\
server_rss_mb,client_rss_mb,verify_ok";

fn cell(v: Option<f64>, decimals: usize) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.decimals$}"))
        .unwrap_or_default()
}

pub fn write_csv(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for row in rows {
        let p = &row.point;
        for (kind, m) in row.runs() {
            let Ok(m) = m else { continue };
            let _ = writeln!(
                s,
                "{},{},{},{},{},{kind},{:.3},{},{},{},{},{},{},{},{},{},{}",
                p.links(),
                p.clients,
                SERVERS,
                p.schedule,
                p.affinity,
                m.duration_s,
                cell(m.target_per_s, 0),
                cell(Some(m.achieved_per_s), 1),
                cell(m.achieved_ratio, 4),
                cell(m.cpu_us_per_op, 3),
                cell(m.ctx_per_op, 3),
                cell(m.latency_p99_us, 0),
                cell(m.lateness_p99_us, 0),
                cell(m.server_rss_mb, 2),
                cell(m.client_rss_mb, 2),
                m.verify_ok.map(|b| b.to_string()).unwrap_or_default(),
            );
        }
    }
    std::fs::write(path, s)
}

pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<38} | {:>10} {:>6} {:>9} {:>7} {:>7} {:>8} {:>11} {:>6} | {:>10} {:>6} {:>9} {:>7} | {:>7}",
        "", "system", "", "", "", "", "", "", "", "pingpong", "", "", "", "CPU"
    );
    let _ = writeln!(
        s,
        "{:<38} | {:>10} {:>6} {:>9} {:>7} {:>7} {:>8} {:>11} {:>6} | {:>10} {:>6} {:>9} {:>7} | {:>7}",
        "point",
        "updates/s",
        "%tgt",
        "CPU us/op",
        "ctx/op",
        "p99 us",
        "late p99",
        "RSS MB s/c",
        "verify",
        "trips/s",
        "%tgt",
        "CPU us/op",
        "ctx/op",
        "sys/pp"
    );
    for row in rows {
        let _ = write!(s, "{:<38} |", row.point.label());
        s.push_str(&system_cells(&row.system));
        let pp = row.floor(Floor::Processes);
        s.push_str(&floor_cells(pp));
        let sys_pp = ratio(Some(&row.system), pp, |m| m.cpu_us_per_op);
        let _ = writeln!(s, " {:>7}", opt(sys_pp, 2));
    }
    // The one-process floor gets a table of its own, row for row, rather
    // than 40 more columns on a line already 160 wide.
    if rows.iter().any(|r| r.floor(Floor::OneProcess).is_some()) {
        s.push_str(&one_process_table(rows));
    }
    for row in rows {
        for (kind, m) in row.runs() {
            for note in m.iter().flat_map(|m| &m.notes) {
                let _ = writeln!(s, "note: {} {kind}: {note}", row.point.label());
            }
        }
    }
    s.push_str(
        "CPU us/op and ctx/op: all processes' CPU microseconds and context switches per acked \
         update (system) or per round trip (pingpong: 10 server + N client processes; \
         pingpong-1p: the same threads in one process).\n\
         sys/pp: system CPU over pingpong's. 1p/pp: pingpong-1p's over pingpong's; near 1, \
         the process layout costs nothing and the floor is loopback TCP and thread wakeups; \
         well below 1, switching between processes is part of the floor.\n",
    );
    s
}

/// A figure to `prec` decimals, or `-`.
fn opt(v: Option<f64>, prec: usize) -> String {
    match v.filter(|x| x.is_finite()) {
        Some(x) => format!("{x:.prec$}"),
        None => "-".to_string(),
    }
}

/// A ratio as a percentage, one decimal.
fn pct(v: Option<f64>) -> String {
    opt(v.map(|r| r * 100.0), 1)
}

/// The system run's eight cells (72 columns with the bar), or its error.
fn system_cells(run: &Result<Measure, String>) -> String {
    let m = match run {
        Ok(m) => m,
        Err(e) => return format!(" {:<71} |", format!("ERROR: {e}")),
    };
    let rss = format!("{}/{}", opt(m.server_rss_mb, 1), opt(m.client_rss_mb, 1));
    let verify = match m.verify_ok {
        Some(true) => "ok",
        Some(false) => "FAILED",
        None => "-",
    };
    format!(
        " {:>10} {:>6} {:>9} {:>7} {:>7} {:>8} {:>11} {:>6} |",
        opt(Some(m.achieved_per_s), 0),
        pct(m.achieved_ratio),
        opt(m.cpu_us_per_op, 1),
        opt(m.ctx_per_op, 2),
        opt(m.latency_p99_us, 0),
        opt(m.lateness_p99_us, 0),
        rss,
        verify
    )
}

/// A floor's four cells (38 columns with the bar), or why it has none.
fn floor_cells(run: Option<&Result<Measure, String>>) -> String {
    match run {
        Some(Ok(m)) => format!(
            " {:>10} {:>6} {:>9} {:>7} |",
            opt(Some(m.achieved_per_s), 0),
            pct(m.achieved_ratio),
            opt(m.cpu_us_per_op, 1),
            opt(m.ctx_per_op, 2)
        ),
        Some(Err(e)) => format!(" {:<35} |", format!("ERROR: {e}")),
        None => format!(" {:<35} |", "not run (--floors)"),
    }
}

/// The one-process floor, row for row, against the processes floor.
fn one_process_table(rows: &[Row]) -> String {
    let mut s = String::from("\n");
    let _ = writeln!(
        s,
        "{:<38} | {:<35} | 1p/pp",
        "", "pingpong-1p (one process)"
    );
    let _ = writeln!(
        s,
        "{:<38} | {:>10} {:>6} {:>9} {:>7} | {:>7} {:>7}",
        "point", "trips/s", "%tgt", "CPU us/op", "ctx/op", "CPU", "ctx"
    );
    for row in rows {
        let one = row.floor(Floor::OneProcess);
        let pp = row.floor(Floor::Processes);
        let _ = writeln!(
            s,
            "{:<38} |{} {:>7} {:>7}",
            row.point.label(),
            floor_cells(one),
            opt(ratio(one, pp, |m| m.cpu_us_per_op), 2),
            opt(ratio(one, pp, |m| m.ctx_per_op), 2)
        );
    }
    s
}

/// `num`'s figure over `den`'s, when both runs measured it.
fn ratio(
    num: Option<&Result<Measure, String>>,
    den: Option<&Result<Measure, String>>,
    figure: impl Fn(&Measure) -> Option<f64>,
) -> Option<f64> {
    let n = figure(num?.as_ref().ok()?)?;
    let d = figure(den?.as_ref().ok()?)?;
    (d > 0.0).then(|| n / d)
}

/// Renders the CSV to PNGs with scripts/plot_bench.py; a failure is only a warning.
pub fn plot(csv: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("plot_bench.py");
    for python in ["python3", "python"] {
        let Ok(mut child) = Command::new(python).arg(&script).arg(csv).spawn() else {
            continue;
        };
        // A first run may pip-install matplotlib; never wait forever.
        match wait_until(&mut child, Instant::now() + Duration::from_secs(600)) {
            Some(status) if status.success() => {}
            Some(status) => eprintln!(
                "system bench: warning: plotting failed ({status}); the CSV is kept: {}",
                csv.display()
            ),
            None => eprintln!("system bench: warning: plotting took too long and was stopped"),
        }
        return;
    }
    eprintln!("system bench: warning: no python3 to plot with; the CSV is kept");
}

/// target/bench-system/<UTC YYYYmmdd-HHMMSS>, next to the profile directory
/// the programs were built in.
pub fn default_out_dir() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_startup"));
    let target = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench-system").join(utc_stamp())
}

/// `YYYYmmdd-HHMMSS` in UTC (std has no local time zone).
fn utc_stamp() -> String {
    // `20261130T051234Z` -> `20261130-051234`, the folders' old shape.
    mass_connect::utc::compact(SystemTime::now())
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_string()
}
