//! What the bench shows and writes: the progress summary, the table and
//! its notes, `engines.csv`, the plots and the default output folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::measure::Measure;
use crate::options::Point;
use crate::provenance::Provenance;

pub struct Row {
    pub point: Point,
    pub m: Measure,
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or("-".into(), |x| format!("{x:.prec$}"))
}

fn cell(v: Option<f64>, prec: usize) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.prec$}"))
        .unwrap_or_default()
}

/// `ERROR: why [limit: which]` for a point that could not run.
fn error_text(m: &Measure) -> Option<String> {
    let e = m.error.as_ref()?;
    let limit = m.limit.as_ref().map(|l| format!(" [limit: {l}]"));
    Some(format!("ERROR: {e}{}", limit.unwrap_or_default()))
}

pub fn summary(m: &Measure) -> String {
    if let Some(e) = error_text(m) {
        return e;
    }
    let mut s = format!("{:.0}/s", m.achieved_per_s);
    if let Some(t) = m.target_per_s {
        let _ = write!(s, " of {t:.0} ({:.1}%)", m.achieved_per_s / t * 100.0);
    }
    if let (Some(u), Some(k)) = (m.cpu_user_us_per_op, m.cpu_sys_us_per_op) {
        let _ = write!(s, ", {:.1} us CPU/op ({u:.1} user)", u + k);
    }
    if let Some([_, p99, _]) = m.latency_us {
        let _ = write!(s, ", p99 {p99} us");
    }
    match m.verify_ok {
        Some(true) => s.push_str(", verify ok"),
        Some(false) => s.push_str(", verify FAILED"),
        None => {}
    }
    s
}

/// The columns; main.rs's "How to read it" says what each holds. The
/// issue-27 columns follow `error`, and `latency_ccdf`, the one cell that
/// is a list, stays last.
const CSV_HEADER: &str = "engine,client_engine,server_engine,links,clients,servers,processes,\
schedule,duration_s,target_per_s,achieved_per_s,achieved_ratio,cpu_user_us_per_op,cpu_sys_us_per_op,\
ctx_per_op,rss_mb,rss_bytes_per_link,threads,connect_s,latency_p50_us,latency_p99_us,\
latency_p999_us,lateness_p99_us,acked_min,acked_median,acked_max,verify_ok,limit,error,\
commit,machine,errors,reconnects,errors_connect,errors_write,errors_refused,errors_ack_timeout,\
errors_closed,errors_other,threads_expected,threads_alive_end,kernel_stack_delta_bytes,\
slab_delta_bytes,slab_unreclaimable_delta_bytes,page_tables_delta_bytes,tcp_inuse_delta,\
tcp_orphan_delta,tcp_mem_delta_bytes,other_tasks_delta,kernel_bytes_per_link,total_bytes_per_link,\
ctx_vol_per_op,ctx_invol_per_op,run_delay_us_per_slice_server,run_delay_us_per_slice_client,\
cpu_sched_us_per_op,latency_ccdf";

/// The issue-27 cells of one row, in the header's order.
fn provenance_cells(m: &Measure, run: &Provenance) -> Vec<String> {
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "'"));
    let int = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let uint = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut cells = vec![quote(&run.commit), quote(&run.machine)];
    cells.push(uint(m.errors));
    cells.push(uint(m.reconnects));
    for (_, n) in m.error_kinds.unwrap_or_default().all() {
        cells.push(uint(m.error_kinds.map(|_| n)));
    }
    cells.push(uint(m.threads_expected));
    cells.push(uint(m.threads_alive_end));
    let k = m.kernel_delta;
    cells.push(int(k.map(|k| k.kernel_stack_bytes)));
    cells.push(int(k.map(|k| k.slab_bytes)));
    cells.push(int(k.map(|k| k.slab_unreclaimable_bytes)));
    cells.push(int(k.map(|k| k.page_tables_bytes)));
    let t = m.tcp_delta;
    cells.push(int(t.map(|t| t.in_use)));
    cells.push(int(t.map(|t| t.orphans)));
    cells.push(int(t.map(|t| t.mem_bytes)));
    cells.push(int(m.other_tasks_delta));
    cells.push(cell(m.kernel_bytes_per_link(), 0));
    cells.push(cell(m.total_bytes_per_link(), 0));
    cells.push(cell(m.ctx_vol_per_op, 3));
    cells.push(cell(m.ctx_invol_per_op, 3));
    cells.push(cell(m.run_delay_us_per_slice_server, 1));
    cells.push(cell(m.run_delay_us_per_slice_client, 1));
    cells.push(cell(m.cpu_sched_us_per_op, 3));
    cells
}

pub fn write_csv(path: &Path, rows: &[Row], run: &Provenance) -> std::io::Result<()> {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for Row { point: p, m } in rows {
        let (client, server) = match &p.engine {
            crate::options::Engine::Pair { client, server } => (client.clone(), server.clone()),
            crate::options::Engine::Redis(_) => ("redis-benchmark".into(), "redis-server".into()),
        };
        let lat = |i: usize| m.latency_us.map(|l| l[i] as f64);
        let fair = |i: usize| m.acked_per_link.map(|a| a[i] as f64);
        let quote = |t: &str| format!("\"{}\"", t.replace('"', "'"));
        let _ = writeln!(
            s,
            "{},{client},{server},{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            p.engine.label(),
            p.links(),
            p.clients,
            crate::SERVERS,
            m.processes,
            p.schedule.label(),
            m.duration_s,
            cell(m.target_per_s, 0),
            if m.error.is_some() {
                String::new()
            } else {
                cell(Some(m.achieved_per_s), 1)
            },
            cell(m.target_per_s.map(|t| m.achieved_per_s / t), 4),
            cell(m.cpu_user_us_per_op, 3),
            cell(m.cpu_sys_us_per_op, 3),
            cell(m.ctx_per_op, 3),
            cell(m.rss_mb, 1),
            cell(m.rss_bytes_per_link, 0),
            m.threads.map(|t| t.to_string()).unwrap_or_default(),
            cell(m.connect_s, 2),
            cell(lat(0), 0),
            cell(lat(1), 0),
            cell(lat(2), 0),
            cell(m.lateness_p99_us.map(|v| v as f64), 0),
            cell(fair(0), 0),
            cell(fair(1), 0),
            cell(fair(2), 0),
            m.verify_ok.map(|b| b.to_string()).unwrap_or_default(),
            m.limit.as_deref().map(quote).unwrap_or_default(),
            m.error.as_deref().map(quote).unwrap_or_default(),
            provenance_cells(m, run).join(","),
            m.ccdf_cell(),
        );
    }
    std::fs::write(path, s)
}

pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<40} | {:>9} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8} {:>6} {:>6} {:>8} {:>8} {:>9} {:>16} {:>6}",
        "point",
        "updates/s",
        "%tgt",
        "usr/op",
        "sys/op",
        "ctx/op",
        "B/link",
        "kern B/l",
        "threads",
        "conn s",
        "p50",
        "p99",
        "p99.9",
        "late p99",
        "acked min/med/max",
        "verify"
    );
    for Row { point, m } in rows {
        let _ = write!(s, "{:<40} |", point.label());
        if let Some(e) = error_text(m) {
            let _ = writeln!(s, " {e}");
            continue;
        }
        let lat = |i: usize| m.latency_us.map(|l| l[i] as f64);
        let fair = m
            .acked_per_link
            .map_or("-".into(), |[a, b, c]| format!("{a}/{b}/{c}"));
        let _ = writeln!(
            s,
            " {:>9} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8} {:>6} {:>6} {:>8} {:>8} {:>9} {:>16} {:>6}",
            opt(Some(m.achieved_per_s), 0),
            opt(m.target_per_s.map(|t| m.achieved_per_s / t * 100.0), 1),
            opt(m.cpu_user_us_per_op, 1),
            opt(m.cpu_sys_us_per_op, 1),
            opt(m.ctx_per_op, 2),
            opt(m.rss_bytes_per_link, 0),
            opt(m.kernel_bytes_per_link(), 0),
            m.threads.map_or("-".into(), |t| t.to_string()),
            opt(m.connect_s, 1),
            opt(lat(0), 0),
            opt(lat(1), 0),
            opt(lat(2), 0),
            opt(m.lateness_p99_us.map(|v| v as f64), 0),
            fair,
            match m.verify_ok {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "-",
            }
        );
    }
    for line in memory_slopes(rows) {
        let _ = writeln!(s, "{line}");
    }
    for Row { point, m } in rows {
        for note in &m.notes {
            let _ = writeln!(s, "note: {}: {note}", point.label());
        }
    }
    s.push_str(
        "usr/op, sys/op: user and system CPU microseconds per acked update, all processes of \
         the point; ctx/op: their context switches per update; B/link: their resident memory \
         over the links; kern B/l: what the kernel's own memory grew by over the links \
         (kernel stacks, unreclaimable slab, page tables, TCP buffers; machine-wide, so \
         other work is in it); threads: theirs, summed; conn s: \
         spawning the clients until every link is up; p50/p99/p99.9: latency, send to ack, us; \
         late p99: due to send, us (fixed rate); acked min/med/max: per link.\n",
    );
    s
}

/// Memory's slope over the sweep, per engine and schedule: the resident
/// bytes each added link cost between the smallest and the largest point
/// measured, which the fixed cost of the processes does not blur.
fn memory_slopes(rows: &[Row]) -> Vec<String> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut lines = Vec::new();
    for r in rows {
        let key = (r.point.engine.label(), r.point.schedule.label());
        if seen.contains(&key) {
            continue;
        }
        let mut pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|o| (o.point.engine.label(), o.point.schedule.label()) == key)
            .filter_map(|o| Some((o.point.links() as f64, o.m.rss_mb? * 1e6)))
            .collect();
        seen.push(key.clone());
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let (Some(first), Some(last)) = (pts.first(), pts.last()) {
            if last.0 > first.0 {
                lines.push(format!(
                    "memory slope: {} {}: {:.0} bytes per added link ({:.0} to {:.0} links)",
                    key.0,
                    key.1,
                    (last.1 - first.1) / (last.0 - first.0),
                    first.0,
                    last.0
                ));
            }
        }
    }
    lines
}

/// Renders the CSV with scripts/plot_engines.py: PNGs and `engines.html`
/// beside it. Returns the page's path when it was written; a failure is a
/// warning.
pub fn plot(csv: &Path) -> Option<PathBuf> {
    plot_with("plot_engines.py", csv)
}

/// Renders `csv` with the plot script `name` in scripts/: the PNGs beside
/// it, and the same charts with the rows in one page that opens offline,
/// `<csv stem>.html`. Returns the page's path when it was written; a
/// failure is a warning and the CSV is kept.
pub fn plot_with(name: &str, csv: &Path) -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join(name);
    let html = csv.with_extension("html");
    for python in ["python3", "python"] {
        let Ok(mut child) = Command::new(python)
            .arg(&script)
            .arg(csv)
            .arg("--html")
            .arg(&html)
            .spawn()
        else {
            continue;
        };
        // A first run may pip-install matplotlib; never wait forever.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Some(html),
                Ok(Some(status)) => {
                    eprintln!(
                        "engines bench: warning: plotting failed ({status}); the CSV is kept: {}",
                        csv.display()
                    );
                    return None;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                _ => {
                    let _ = child.kill();
                    eprintln!("engines bench: warning: plotting took too long and was stopped");
                    return None;
                }
            }
        }
    }
    eprintln!("engines bench: warning: no python3 to plot with; the CSV is kept");
    None
}

/// The run's last lines: how long it took, where its files are, and the
/// HTML report's path when one was written.
pub fn print_done(started: Instant, out: &Path, report: Option<&Path>) {
    println!(
        "engines bench: done in {:.1} s; results in {}",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    if let Some(page) = report {
        println!("engines bench: report (opens offline): {}", page.display());
    }
}

/// target/bench-engines/<UTC YYYYmmdd-HHMMSS>, beside the programs.
pub fn default_out_dir(bin: &Path) -> PathBuf {
    let target = bin
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    let stamp = mass_connect::utc::compact(SystemTime::now())
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_string();
    target.join("bench-engines").join(stamp)
}
