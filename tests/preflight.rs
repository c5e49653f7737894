//! startup's pre-flight against real limits: a layout that cannot fit stops
//! startup with exit status 2 before any child exists, and a soft limit with
//! room under its hard limit is raised for startup and inherited by its
//! children. The real programs; the limit is lowered by the shell's `ulimit`
//! before it becomes startup (Linux: the limits are read from /proc and
//! getrlimit there).
#![cfg(target_os = "linux")]

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use support::*;

/// Runs `startup --config CONFIG ARGS` from the config's folder, in a shell
/// that first runs `ulimit ULIMIT`.
fn startup_under(ulimit: &str, config: &TestConfig, args: &str, limit: Duration) -> Output {
    let script = format!(
        "ulimit {ulimit} && exec {} --config {} {args}",
        bin("startup"),
        config.arg()
    );
    run_command(
        Command::new("sh")
            .args(["-c", &script])
            .current_dir(&config.dir.0),
        limit,
    )
}

#[test]
fn a_layout_over_the_open_files_limit_stops_before_any_child_starts() {
    // 100 clients x 3 servers: startup alone holds two pipe ends per child.
    // Every process logs into startup's run folder under logs/, and a
    // process's first act after reading the config is to create its log
    // file: a server or client that ever ran would leave one.
    let config = TestConfig::local(
        "preflight-nofile",
        3,
        100,
        r#", "log_switch": true, "log_dir": "logs""#,
    );
    let out = startup_under("-n 64", &config, "--duration 1s", Duration::from_secs(30));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    for part in [
        "this host's limits cannot hold 100 clients x 3 servers (3 of them on this host), \
         so nothing was started",
        "open files per process: startup needs 225 \
         (2 pipes per child x 103 children + 3 ops connections + 16)",
        "above RLIMIT_NOFILE's hard limit 64 (soft 64)",
        "`ulimit -n 65536`",
    ] {
        assert!(err.contains(part), "{part:?} missing from:\n{err}");
    }
    // One run folder (`<UTC start>-startup-<pid>`), holding startup's own
    // log and no child's.
    let names = |dir: std::path::PathBuf| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let runs = names(config.dir.path("logs"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].contains("-startup-"), "{runs:?}");
    let files = names(config.dir.path("logs").join(&runs[0]));
    assert_eq!(files, ["startup.log"], "{files:?}");
    assert!(processes_mentioning(config.arg()).is_empty());
}

#[test]
fn a_soft_limit_under_the_need_is_raised_and_the_children_inherit_it() {
    // 20 clients x 1 server: startup holds 2 pipe ends per child, 59
    // descriptors with the pre-flight's spare, so under a soft limit of 40
    // it could not start every child unless it raised its own; the server
    // (1 per link plus a few) and the clients inherit the raised limit.
    let config = TestConfig::local("preflight-raise", 1, 20, "");
    let report = config.dir.path("r.json");
    let args = format!("--duration 1s --report {}", report.display());
    let out = startup_under("-Sn 40", &config, &args, Duration::from_secs(120));
    let err = stderr(&out);
    let r = read_json(&report);
    assert_passed(&out, &r);
    assert!(
        err.contains("raised its soft open-files limit (RLIMIT_NOFILE) from 40 to ")
            && err.contains("which its children inherit: startup needs 59"),
        "{err}"
    );
    assert!(err.contains("20 of 20 links connected"), "{err}");
    assert!(!err.contains("too many open files"), "{err}");
    assert_eq!(r["verify"]["ok"], true, "{r:#}");
    assert_eq!(r["links"], 20);
}
