//! (b) The real system: one run of `startup` on a written config, its JSON
//! report read into a `Measure`, with notes on what makes it less than clean.

use std::ffi::OsStr;
use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hostinfo::process::cpu_with_children_s;
use serde_json::{Value, json};

use crate::fleet::{free_ports, wait_until};
use crate::machine::cpus;
use crate::options::{Measure, Point};
use crate::{INTERVAL_MS, SERVERS};

pub fn run_system(p: &Point, duration: Duration, out: &Path) -> Result<Measure, String> {
    let ports = free_ports(SERVERS)?;
    let stem = p.file_stem();
    let config = json!({
        "server_ip_list": "127.0.0.1",
        "server_port_list": ports.iter().map(u16::to_string).collect::<Vec<_>>().join(";"),
        "client_num_per_host": p.clients,
        "update_intervals": INTERVAL_MS,
        "schedule": p.schedule,
        "cpu_affinity": p.affinity,
    });
    let config_path = out.join(format!("{stem}.config.json"));
    let report_path = out.join(format!("{stem}.report.json"));
    let log_path = out.join(format!("{stem}.startup.log"));
    let _ = std::fs::remove_file(&report_path);
    std::fs::write(&config_path, format!("{config:#}\n"))
        .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    // Starting, stopping and verifying 1,000 clients takes a while on a small
    // machine, and an overloaded system is slow to stop.
    let limit =
        duration * 2 + Duration::from_secs(120) + Duration::from_millis(500 * p.clients as u64);
    let millis = format!("{}ms", duration.as_millis().max(1));
    let args = [
        "--config".as_ref(),
        config_path.as_os_str(),
        "--duration".as_ref(),
        millis.as_ref(),
        "--report".as_ref(),
        report_path.as_os_str(),
        "--quiet".as_ref(),
    ];
    let cpu_before = cpu_with_children_s();
    let status = run_startup(&args, &log_path, limit)?;
    // startup, and every child it reaped, as a cross-check of the report.
    let whole_cpu_s = cpu_before.zip(cpu_with_children_s()).map(|(a, b)| b - a);
    let text = std::fs::read_to_string(&report_path).map_err(|_| {
        format!(
            "startup exited ({status}) without a report; see {}",
            log_path.display()
        )
    })?;
    let r: Value = serde_json::from_str(&text).map_err(|e| format!("bad report: {e}"))?;
    Ok(measure(&r, duration, status, whole_cpu_s))
}

/// Runs startup with `args`, its output to `log_path`, for at most `limit`.
fn run_startup(args: &[&OsStr], log_path: &Path, limit: Duration) -> Result<ExitStatus, String> {
    let log = File::create(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_startup"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start startup: {e}"))?;
    wait_until(&mut child, Instant::now() + limit).ok_or_else(|| {
        format!(
            "startup did not finish within {:.0} s: killed; see {}",
            limit.as_secs_f64(),
            log_path.display()
        )
    })
}

/// The report `r` as a `Measure`, with notes on what makes it less than
/// clean.
fn measure(r: &Value, duration: Duration, status: ExitStatus, whole_cpu_s: Option<f64>) -> Measure {
    let f = |ptr: &str| r.pointer(ptr).and_then(Value::as_f64);
    let sum = |a: Option<f64>, b: Option<f64>| Some(a? + b?);
    let target = f("/target_ops_per_s").filter(|t| *t > 0.0);
    let cpu_us = sum(
        f("/processes/server/cpu_us_per_op"),
        f("/processes/client/cpu_us_per_op"),
    );
    let mut notes = cpu_notes(r, cpu_us, whole_cpu_s);
    let ran = f("/duration_s").unwrap_or(0.0);
    let asked = duration.as_secs_f64();
    if ran > asked * 1.2 + 1.0 {
        notes.insert(
            0,
            format!("clients ran {ran:.1} s of a {asked:.1} s run: slow to stop"),
        );
    }
    let count = |ptr: &str| r.pointer(ptr).and_then(Value::as_u64).unwrap_or(0);
    let (errors, reconnects) = (count("/errors"), count("/reconnects"));
    if errors + reconnects > 0 {
        notes.push(format!("{errors} error(s), {reconnects} reconnect(s)"));
    }
    if let Some(died) = r
        .pointer("/children_died")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
    {
        notes.push(format!("{} child process(es) died", died.len()));
    }
    if !status.success() {
        notes.push(format!("startup exited with {status}"));
    }
    Measure {
        notes,
        duration_s: ran,
        target_per_s: target,
        achieved_per_s: f("/achieved_ops_per_s").unwrap_or(0.0),
        achieved_ratio: target.and(f("/achieved_ratio")),
        cpu_us_per_op: cpu_us,
        ctx_per_op: sum(
            f("/processes/server/ctx_switches_per_op"),
            f("/processes/client/ctx_switches_per_op"),
        ),
        latency_p99_us: f("/latency_us/p99"),
        lateness_p99_us: f("/lateness_us/p99"),
        server_rss_mb: f("/processes/server/rss_mb_max"),
        client_rss_mb: f("/processes/client/rss_mb_max"),
        verify_ok: Some(r.pointer("/verify/ok").and_then(Value::as_bool) == Some(true)),
    }
}

/// Notes on a CPU/op figure that cannot be right: more cores than the
/// machine has, or far from what rusage says the whole run took.
fn cpu_notes(r: &Value, cpu_us: Option<f64>, whole_cpu_s: Option<f64>) -> Vec<String> {
    let mut notes = Vec::new();
    let achieved = r.pointer("/achieved_ops_per_s").and_then(Value::as_f64);
    if let Some(cores) = cpu_us.map(|c| c * achieved.unwrap_or(0.0) / 1e6) {
        let machine = cpus() as f64;
        if cores > machine * 1.05 {
            // More CPU per update than the machine has time for at this rate.
            notes.push(format!(
                "CPU/op x updates/s = {cores:.1} cores on a {machine:.0}-CPU machine: \
                 the report's CPU/op (and likely ctx/op) cannot be right"
            ));
        }
    }
    let acked = r.pointer("/acked").and_then(Value::as_u64).unwrap_or(0);
    if let (Some(whole), Some(reported), true) = (whole_cpu_s, cpu_us, acked > 0) {
        let whole_us = whole * 1e6 / acked as f64;
        if (whole_us - reported).abs() > 0.3 * reported.max(whole_us) {
            notes.push(format!(
                "whole run, startup and all its children (rusage) / acked: \
                 {whole_us:.1} us CPU/op against the report's {reported:.1}"
            ));
        }
    }
    notes
}
