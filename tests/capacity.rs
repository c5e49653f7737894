//! The capacity search and its cache, on real processes on 127.0.0.1:
//! `startup --find-capacity` on a small layout ends with its sentence and
//! its JSON; `--load` reuses a cache measured on this machine and build,
//! and measures again, naming the field, when one differs; a run asking
//! more than the cached capacity hears it from the pre-flight. Each test
//! points the cache at its own folder (`MASS_CONNECT_CACHE_DIR`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;
use support::*;

/// `startup ARGS` with the capacity cache in `cache`, to its end.
fn startup_cached(cache: &Path, args: &[&str], limit: Duration) -> Output {
    run_command(
        Command::new(bin("startup"))
            .args(args)
            .env("MASS_CONNECT_CACHE_DIR", cache),
        limit,
    )
}

/// The cache file startup keeps for this host in `cache`.
fn cache_file(cache: &Path) -> PathBuf {
    #[cfg(target_os = "linux")]
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    #[cfg(not(target_os = "linux"))]
    let host = std::env::var("COMPUTERNAME").unwrap_or_default();
    let host = host.trim().replace(
        |c: char| !c.is_ascii_alphanumeric() && !"._-".contains(c),
        "_",
    );
    cache.join(format!("capacity-{host}.json"))
}

#[test]
fn the_search_finds_a_capacity_and_load_reuses_it() {
    let t = TestConfig::local("capacity-find", 1, 2, "");
    let cache = t.dir.path("cache");
    let json_path = t.dir.path("capacity.json");
    let find = [
        "--config",
        t.arg(),
        "--find-capacity",
        "--budget",
        "20s",
        "--report",
        json_path.to_str().unwrap(),
    ];
    let out = startup_cached(&cache, &find, Duration::from_secs(120));
    let text = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("capacity: step  1: closed loop"), "{text}");
    assert!(text.contains("capacity: step  2: interval "), "{text}");
    let sentence = text
        .lines()
        .find(|l| l.starts_with("capacity: about "))
        .unwrap_or_else(|| panic!("no capacity sentence:\n{text}"));
    assert!(
        sentence.contains("with 2 x 1 links (interval "),
        "{sentence}"
    );
    assert!(sentence.contains("this config asks 200"), "{sentence}");

    let c = read_json(&json_path);
    let capacity = c["capacity_per_s"].as_f64().unwrap();
    assert!(capacity > 0.0, "{c}");
    assert_eq!(c["layout"], json!({"clients": 2, "servers": 1, "links": 2}));
    for field in ["cpu_model", "cpus", "kernel", "commit"] {
        assert!(!c["measured_on"][field].is_null(), "{field}: {c}");
    }
    let steps = c["steps"].as_array().unwrap();
    assert!(steps.len() >= 2, "{c}");
    assert_eq!(steps[0]["schedule"], "closed-loop");
    assert!(steps[0]["holds"].is_null());
    for step in &steps[1..] {
        assert_eq!(step["schedule"], "fixed-rate", "{step}");
        assert!(step["holds"].is_boolean(), "{step}");
        assert!(step["asked_per_s"].as_f64().unwrap() > 0.0, "{step}");
    }
    // The interval it held is one of its steps, at the rate it reports.
    let interval = c["interval_ms"].as_u64().unwrap();
    // Within rounding: serde_json's default float parsing is not always
    // the nearest double (10.6951871657754 came back as ...5401).
    let expected = 2.0 * 1000.0 / interval as f64;
    assert!(
        (capacity - expected).abs() <= expected * 1e-12,
        "{capacity} vs {expected}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s["interval_ms"] == interval && s["holds"] == true)
    );

    // Cached on this machine and build: --load uses it without a search.
    let report = t.dir.path("load.json");
    let load = [
        "--config",
        t.arg(),
        "--load",
        "50%",
        "--duration",
        "1s",
        "--quiet",
        "--report",
        report.to_str().unwrap(),
    ];
    let out = startup_cached(&cache, &load, Duration::from_secs(60));
    let text = printed(&out);
    assert!(
        text.contains("startup: reusing the capacity cache"),
        "{text}"
    );
    assert!(!text.contains("capacity: step"), "{text}");
    let r = read_json(&report);
    assert_exit_passed(out.status.code(), &text, &r);
    // Half the capacity, rounded up to whole milliseconds.
    let half = (2.0 * 1000.0 / (capacity * 0.5) - 1e-9).ceil() as u64;
    assert_eq!(r["interval_ms"], half.max(1), "{text}");
    assert_eq!(r["schedule"], "fixed-rate");

    // A capacity below what the config asks: the pre-flight says so.
    let file = cache_file(&cache);
    let mut cached = read_json(&file);
    cached["capacities"][0]["capacity_per_s"] = json!(50.0);
    std::fs::write(&file, cached.to_string()).unwrap();
    let plain = ["--config", t.arg(), "--duration", "1s", "--quiet"];
    let out = startup_cached(&cache, &plain, Duration::from_secs(60));
    let text = printed(&out);
    assert!(
        text.contains(
            "this config asks 200 updates/s; this machine held about 50 with 2 x 1 links"
        ),
        "{text}"
    );
    assert!(text.contains("expect SATURATED"), "{text}");
}

#[test]
fn a_cache_measured_on_another_cpu_is_not_reused() {
    let t = TestConfig::local("capacity-stale", 1, 2, "");
    let cache = t.dir.path("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let stale = json!({"capacities": [{
        "capacity_per_s": 1000.0,
        "interval_ms": 2,
        "layout": {"clients": 2, "servers": 1, "links": 2},
        "measured_on": {
            "host": "elsewhere",
            "cpu_model": "Imaginary CPU @ 9.9GHz",
            "cpus": 64,
            "kernel": "0.0.1",
            "commit": "0000000"
        },
        "measured_utc": "2026-01-01T00:00:00Z",
        "rule": "",
        "config_path": "config.json",
        "config_asks_per_s": 200.0,
        "complete": true,
        "ended_early": null,
        "budget_s": 120.0,
        "wall_s": 60.0,
        "steps": []
    }]});
    std::fs::write(cache_file(&cache), stale.to_string()).unwrap();
    let args = [
        "--config",
        t.arg(),
        "--load",
        "50%",
        "--budget",
        "20s",
        "--duration",
        "1s",
        "--quiet",
    ];
    let out = startup_cached(&cache, &args, Duration::from_secs(120));
    let text = printed(&out);
    assert!(
        text.contains(
            "does not apply (CPU model differs: measured with \"Imaginary CPU @ 9.9GHz\""
        ),
        "{text}"
    );
    assert!(text.contains("measuring again"), "{text}");
    assert!(text.contains("capacity: step  1: closed loop"), "{text}");
    assert!(text.contains("startup: --load 50%: "), "{text}");
    // Measured again, the cache now holds this machine's figure.
    let cached = read_json(cache_file(&cache));
    assert_ne!(
        cached["capacities"][0]["measured_on"]["cpu_model"],
        "Imaginary CPU @ 9.9GHz"
    );
}

#[test]
fn capacity_options_are_listed_and_misuse_is_refused() {
    let t = TestConfig::local("capacity-cli", 1, 2, "");
    let cache = t.dir.path("cache");
    let help = startup_cached(&cache, &["--help"], Duration::from_secs(20));
    let text = printed(&help);
    for option in ["--find-capacity", "--budget D", "--load SHARE"] {
        assert!(text.contains(option), "{option} in --help:\n{text}");
    }
    let refused: [(&[&str], &str); 5] = [
        (&["--load", "170%"], "more than the machine holds"),
        (&["--load", "lots"], "is not a share"),
        (&["--load", "50%", "--find-capacity"], "give one of them"),
        (
            &["--budget", "1m"],
            "give it with --find-capacity or --load",
        ),
        (
            &["--find-capacity", "--duration", "10s"],
            "--duration does not apply",
        ),
    ];
    for (args, needle) in refused {
        let mut all = vec!["--config", t.arg()];
        all.extend_from_slice(args);
        let out = startup_cached(&cache, &all, Duration::from_secs(20));
        let text = printed(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains(needle), "{args:?}: {needle} in {text}");
        assert!(text.contains("--help"), "{args:?}: {text}");
    }
    // Too short a budget for even two steps: said before anything starts.
    let out = startup_cached(
        &cache,
        &["--config", t.arg(), "--find-capacity", "--budget", "5s"],
        Duration::from_secs(20),
    );
    let text = printed(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("--budget 5 s is too short"), "{text}");
    assert!(!cache_file(&cache).exists());
}
