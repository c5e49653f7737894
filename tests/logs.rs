//! A startup run with logging on leaves one folder of logs: startup's and
//! each child's file, every line with a UTC date-time to the millisecond,
//! and the report at the end of startup's.

mod support;

use std::path::Path;
use std::time::Duration;

use support::*;

/// True for `2026-11-30T05:12:34.567Z ` at the start of `line`.
fn starts_with_utc_millis(line: &str) -> bool {
    let b = line.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd.dddZ ";
    b.len() > shape.len()
        && shape.iter().zip(b).all(|(s, c)| match s {
            b'd' => c.is_ascii_digit(),
            _ => s == c,
        })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_logged_run_writes_one_folder_with_a_file_per_process() {
    let logs_dir = TempDir::new("logs-out");
    let logs = logs_dir.path("logs");
    let extra = format!(
        r#", "log_switch": true, "log_level": "debug", "log_dir": {:?}"#,
        logs.to_str().unwrap()
    );
    let config = TestConfig::local("logs", 2, 2, &extra);
    let (out, report) = startup_reported(
        &config.path,
        &config.dir.path("r.json"),
        &["--duration", "2s", "--quiet"],
        Duration::from_secs(60),
    );
    assert_eq!(report["verify"]["ok"], true, "{report:#}");

    // One folder for the run, named by its UTC start and startup's pid,
    // and said once on startup's stderr.
    let folders: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = folders[0].path();
    let name = folders[0].file_name().to_string_lossy().into_owned();
    let (stamp, pid) = name.split_once("-startup-").expect(&name);
    assert!(
        stamp.len() == 16 && stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z'),
        "{name}"
    );
    assert!(pid.parse::<u32>().is_ok(), "{name}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches(&name).count(), 1, "{stderr}");

    // startup's file, one per server and one per client, nothing else.
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected = vec![
        "client-0.log".to_string(),
        "client-1.log".to_string(),
        "startup.log".to_string(),
    ];
    expected.extend(
        config
            .ports
            .iter()
            .map(|p| format!("server-127.0.0.1-{p}.log")),
    );
    expected.sort();
    assert_eq!(files, expected);

    // Every line of every file starts with its UTC time to the millisecond.
    for file in &files {
        let text = read(&folder.join(file));
        assert!(!text.is_empty(), "{file} is empty");
        for line in text.lines() {
            assert!(starts_with_utc_millis(line), "{file}: {line:?}");
        }
    }

    // debug: each client link's connect, each operations command answered
    // (startup reads every server's dump at the end).
    for id in 0..2 {
        let text = read(&folder.join(format!("client-{id}.log")));
        for port in &config.ports {
            let connect = format!(" DEBUG link to 127.0.0.1:{port} connected, key ");
            assert!(text.contains(&connect), "client-{id}.log: {text}");
        }
    }
    for port in &config.ports {
        let text = read(&folder.join(format!("server-127.0.0.1-{port}.log")));
        assert!(text.contains(" INFO  server (pid "), "{text}");
        assert!(text.contains(" DEBUG server 127.0.0.1:"), "{text}");
        assert!(text.contains(": answering Dump from "), "{text}");
    }

    // startup's log ends with the report it printed, then its exit status.
    let text = read(&folder.join("startup.log"));
    let printed = String::from_utf8_lossy(&out.stdout);
    for line in printed.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            text.lines().any(|l| l.ends_with(line)),
            "startup.log lacks the report's line {line:?}:\n{text}"
        );
    }
    // Its verdict is in it (the report's first line), and the status it
    // exited with closes it: 0, or 1 on a machine too busy to keep the
    // schedule (the verdict then says so).
    let verdict = printed.lines().next().unwrap_or_default();
    assert!(
        verdict == "PASS" || verdict.starts_with("FAIL: "),
        "{printed}"
    );
    let code = out.status.code().unwrap_or(-1);
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(&format!(" INFO  startup exits with status {code}")),
        "{text}"
    );
}
