//! startup's command line: one-line runs without a config file, flags over a
//! config's keys, and flag mistakes named before any config is read.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use support::*;

/// `startup ARGS` run from `dir`, to its end within a minute.
fn startup_in(dir: &TempDir, args: &[&str]) -> Output {
    run_command(
        Command::new(bin("startup"))
            .args(args)
            .current_dir(dir.path("")),
        Duration::from_secs(60),
    )
}

/// The one-line run of issue 26: no config.json anywhere, the layout from
/// short flags, the rest from the built-in defaults (whose ports lie outside
/// every ephemeral range, so the pre-flight has nothing to say about them).
#[test]
fn a_one_line_run_needs_no_config_file() {
    let dir = TempDir::new("oneline");
    let out = startup_in(
        &dir,
        &[
            "-c", "2", "-s", "2", "-i", "20ms", "-d", "2s", "-q", "-o", "r.json",
        ],
    );
    let report = read_json(dir.path("r.json"));
    assert_passed(&out, &report);
    assert_eq!(report["links"], 4, "{report:#}");
    assert_eq!(report["config"]["update_intervals"], 20);
    assert_eq!(
        report["config"]["server_port_list"],
        serde_json::json!([18677, 18678])
    );
    let shown = report["config_path"].as_str().unwrap();
    assert_eq!(
        shown,
        "built-in defaults (no ./config.json) with --clients 2, --servers 2, --interval 20ms"
    );
    assert!(stdout(&out).contains(shown), "{}", printed(&out));
    assert!(!printed(&out).contains("ephemeral"), "{}", printed(&out));
    assert!(
        !dir.path("config.json").exists(),
        "nothing was written beside the user's files"
    );
}

/// Flags win over the file's keys, and the report says which.
#[test]
fn flags_win_over_the_config_file() {
    let config = TestConfig::local("flags-over", 2, 3, "");
    let report = config.dir.path("r.json");
    let (_, r) = startup_reported(
        &config.path,
        &report,
        &[
            "--clients",
            "1",
            "--interval",
            "50ms",
            "--duration",
            "2s",
            "--quiet",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(r["clients"], 1, "{r:#}");
    assert_eq!(r["links"], 2);
    assert_eq!(r["config"]["update_intervals"], 50);
    assert_eq!(
        r["config_path"],
        format!("{} with --clients 1, --interval 50ms", config.arg())
    );
    assert_eq!(r["verify"]["ok"], true, "{r:#}");
}

/// `--connect-rate` paces the host's first connects: 2 clients x 3 servers
/// at 2 links/s put the last first connect 2.5 s after its client starts
/// (the ramp's slots are 0.5 s apart, the clients interleaved), so the go
/// cannot come sooner, however fast the machine. The deadline is stretched
/// by the ramp: with `--connect-deadline 1s` every link still comes up
/// before the go. The status line says the ramp's pace.
#[test]
fn connect_rate_ramps_the_links_up_within_a_stretched_deadline() {
    let config = TestConfig::local("ramp", 3, 2, "");
    let report = config.dir.path("r.json");
    let (out, r) = startup_reported(
        &config.path,
        &report,
        &[
            "--connect-rate",
            "2",
            "--connect-deadline",
            "1s",
            "-i",
            "50ms",
            "-d",
            "1s",
        ],
        Duration::from_secs(60),
    );
    let text = printed(&out);
    assert_eq!(r["links"], 6, "{r:#}");
    assert_eq!(r["config"]["connect_rate"], 2, "{r:#}");
    assert!(
        text.contains("(ramp 2/s: "),
        "the connecting line names the ramp:\n{text}"
    );
    assert_eq!(r["links_up_at_go"], 6, "{r:#}");
    let took = r["connect_s"].as_f64().unwrap();
    assert!(
        took >= 2.4,
        "the ramp cannot end before 2.5 s: {took} s\n{text}"
    );
}

/// In a folder without config.json, a mistyped option or a bad value is
/// what startup says, not the missing file; and durations need units.
#[test]
fn flag_mistakes_come_before_the_config() {
    let dir = TempDir::new("flags-first");
    let cases: [(&[&str], &str); 7] = [
        (&["--durration", "1s"], "unknown option --durration"),
        (
            &["-d", "10"],
            "--duration \"10\" has no unit: write 10s for seconds or 10ms",
        ),
        (&["--max-p99", "10"], "--max-p99 \"10\" has no unit"),
        (&["--min-rate", "1.5"], "--min-rate \"1.5\" is above 1"),
        (&["-i", "2.5ms"], "not a whole number of milliseconds"),
        (
            &["--connect-rate", "fast"],
            "--connect-rate \"fast\" is not a whole number",
        ),
        (
            &["--config", "nowhere.json", "-d", "1m30s"],
            "cannot read config file nowhere.json",
        ),
    ];
    for (args, expected) in cases {
        let out = startup_in(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", printed(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    for program in ["server", "client", "omclient"] {
        let out = run_command(
            Command::new(bin(program))
                .args(["--bogus"])
                .current_dir(dir.path("")),
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(2), "{program}");
        assert!(
            stderr(&out).contains("unknown option --bogus"),
            "{program}: {}",
            stderr(&out)
        );
    }
}

on_engines!(on_evloop: Engine::EVLOOP, on_tokio: Engine::TOKIO => [
    connect_rate_ramps_the_links_up_within_a_stretched_deadline,
]);
