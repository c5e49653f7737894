//! Every omclient command, one-shot and interactive, against real servers.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

const LIMIT: Duration = Duration::from_secs(30);

/// Two running servers with a few updates each, and a config that also
/// lists a third port (`ports[2]`) where nothing listens.
fn system() -> (TestConfig, Vec<TestServer>) {
    let config = TestConfig::local("om", 3, 0, "");
    let servers = servers_on(&config.path, &config.ports[..2]);
    for (i, s) in servers.iter().enumerate() {
        let mut peer = Peer::connect(s.addr);
        for n in 1..=(i as u64 + 2) {
            assert_eq!(
                peer.call(&format!("update;10.0.0.{i}:1;{n}")),
                format!("ack;{n}")
            );
        }
    }
    (config, servers)
}

/// `omclient --config CONFIG ARGS`: exit code and output.
fn om(config: &TestConfig, args: &[&str]) -> (Option<i32>, String) {
    let all = [&["--config", config.arg()], args].concat();
    omclient(&config.dir.0, &all, LIMIT)
}

#[test]
fn one_shot_commands_cover_every_server_and_mark_the_down_one() {
    let (config, servers) = system();
    let down = format!("127.0.0.1:{}", config.ports[2]);

    let (code, text) = om(&config, &["servers"]);
    assert_eq!(code, Some(1), "a server is down: {text}");
    assert!(
        text.contains(&format!("{}", servers[0].addr)) && text.contains(" up "),
        "{text}"
    );
    assert!(text.contains(&down) && text.contains("DOWN"), "{text}");
    assert!(text.contains("2 of 3 servers up"), "{text}");

    let (_, text) = om(&config, &["stats", "--json"]);
    let v = parse_json(&text);
    assert_eq!(v["totals"]["updates"], 5);
    assert_eq!(v["totals"]["servers_up"], 2);
    assert_eq!(v["totals"]["servers_down"], 1);
    assert_eq!(v["servers"][2]["up"], false);

    let (_, text) = om(&config, &["stats"]);
    assert!(
        text.contains("total (2 up)") && text.contains("DOWN"),
        "{text}"
    );

    let (_, text) = om(&config, &["dump", "--json"]);
    let v = parse_json(&text);
    assert_eq!(v["total"], 5);
    assert_eq!(v["servers"][0]["keys"][0][0], "10.0.0.0:1");
    assert_eq!(v["servers"][1]["keys"][0][1], 3);

    let (_, text) = om(&config, &["dump", "--server", &servers[1].addr.to_string()]);
    assert!(
        text.contains("10.0.0.1:1") && !text.contains("10.0.0.0:1"),
        "{text}"
    );
    assert!(text.contains("total: 1 keys, 3 updates"), "{text}");

    let (code, text) = om(&config, &["config"]);
    assert_eq!(code, Some(0));
    let v = parse_json(&text);
    assert_eq!(v["update_intervals"], 10);

    let (code, text) = om(&config, &["help"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("dump") && text.contains("stop"), "{text}");

    let (code, text) = om(&config, &["frobnicate"]);
    assert_eq!(code, Some(2));
    assert!(text.contains("unknown command \"frobnicate\""), "{text}");
}

#[test]
fn stop_ends_the_servers_cleanly() {
    let (config, mut servers) = system();
    let (_, text) = om(&config, &["stop", "--server", &servers[0].addr.to_string()]);
    assert!(text.contains("stopped"), "{text}");
    assert!(servers[0].wait_exit().success());
    let (code, text) = om(&config, &["stop"]);
    assert_eq!(code, Some(1), "one server was already down: {text}");
    assert!(servers[1].wait_exit().success());
}

#[test]
fn interactive_prompt_takes_seed_shorthand() {
    let (config, mut servers) = system();
    let mut child = start_process(
        Command::new(bin("omclient"))
            .args(["--config", config.arg()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"h;\nstats\nd;\nservers\nbogus\ns;\nq;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("commands (one-shot"), "help: {text}");
    assert!(text.contains("updates/s"), "stats: {text}");
    assert!(text.contains("10.0.0.1:1"), "dump: {text}");
    assert!(text.contains("unknown command \"bogus\""), "{text}");
    assert!(text.contains("stopped"), "stop: {text}");
    assert!(servers[0].wait_exit().success());
    assert!(servers[1].wait_exit().success());
}

#[test]
fn near_misses_host_names_and_the_version() {
    let (config, servers) = system();
    let (code, text) = om(&config, &["stat"]);
    assert_eq!(code, Some(2));
    assert!(
        text.contains("unknown command \"stat\"; did you mean \"stats\"?"),
        "{text}"
    );

    // A host name works where an address does, and is shown resolved.
    let by_name = format!("localhost:{}", servers[1].addr.port());
    let (code, text) = om(&config, &["dump", "--server", &by_name]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&servers[1].addr.to_string()) && text.contains("10.0.0.1:1"),
        "{text}"
    );
    let (code, text) = om(&config, &["stats", "--server", "no-such-host.invalid:1"]);
    assert_eq!(code, Some(2));
    assert!(
        text.contains("cannot resolve host \"no-such-host.invalid\""),
        "{text}"
    );

    let (code, text) = omclient(&config.dir.0, &["--version"], LIMIT);
    assert_eq!(code, Some(0));
    assert_eq!(text, format!("omclient {}\n", env!("CARGO_PKG_VERSION")));
}

/// An operator stops one server of a run (`omclient stop`, by host name,
/// with the token): startup names the stop, its server and its sender,
/// neither reports a death nor restarts the server, lists it in the
/// report's `stopped_by_ops`, and its verdict says so.
#[test]
fn startup_names_an_operations_stop_and_leaves_the_server_down() {
    let config = TestConfig::local("ops-stop", 2, 1, r#", "ops_token": "s3cret""#);
    let report = config.dir.path("r.json");
    let mut run = StartupRun::start(&[
        "--config",
        config.arg(),
        "--report",
        report.to_str().unwrap(),
        "--duration",
        "8s",
    ]);
    let _bound = kill_after(run.pid(), Duration::from_secs(90));
    // Readiness: the first status line comes once both links run.
    run.wait_for("links 2/2");
    let victim = format!("127.0.0.1:{}", config.ports[0]);
    let by_name = format!("localhost:{}", config.ports[0]);
    let (code, text) = om(&config, &["stop", "--server", &by_name]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("{victim:<24} stopped")), "{text}");

    let named = run.wait_for("operations stop");
    let expected =
        format!("startup: server {victim} stopped by an operations stop from 127.0.0.1:");
    assert!(named.starts_with(&expected), "{named}");
    let by = named.strip_prefix(&expected).unwrap();
    assert!(by.parse::<u16>().is_ok(), "the sender's port: {named}");

    let (status, text) = run.finish();
    assert!(!text.contains("died"), "{text}");
    // startup's restart messages: "restarting it in 1 s", "restarted server".
    assert!(
        !text.contains("restarting") && !text.contains("restarted"),
        "{text}"
    );
    assert!(
        !text.contains("DIED") && !text.contains("RESTARTED"),
        "{text}"
    );
    let r = read_json(&report);
    let stops = r["stopped_by_ops"].as_array().unwrap();
    assert_eq!(stops.len(), 1, "{r:#}");
    assert_eq!(stops[0]["name"], format!("server {victim}"));
    assert_eq!(stops[0]["by"], format!("127.0.0.1:{by}"));
    assert!(stops[0]["at_s"].as_f64().unwrap() > 0.0, "{r:#}");
    assert!(r["children_died"].as_array().unwrap().is_empty(), "{r:#}");
    assert!(r["server_restarts"].as_array().unwrap().is_empty(), "{r:#}");
    // The stopped server cannot be read at the end; the other verifies.
    assert_eq!(r["verify"]["servers_down"][0], victim, "{r:#}");
    assert_eq!(r["verify"]["ok"], true, "{r:#}");
    // The verdict names the stop (once: not again as a server down at the
    // end, nor as a death), and the run fails: a configured server was
    // down for the rest of it.
    assert_eq!(r["verdict"], "fail", "{r:#}");
    let reasons: Vec<&str> = r["verdict_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let stop = format!("server {victim} was stopped by an operations stop from 127.0.0.1:{by}");
    assert!(reasons.iter().any(|r| r.starts_with(&stop)), "{reasons:?}");
    assert!(
        !reasons
            .iter()
            .any(|r| r.contains("did not answer") || r.contains("died")),
        "{reasons:?}"
    );
    assert_eq!(status.code(), Some(1), "{text}");
}

// The same operations commands against the workspace's other engines'
// servers (issue 15).
on_engines!(
    on_evloop: Engine::EVLOOP, on_tokio: Engine::TOKIO => [
        one_shot_commands_cover_every_server_and_mark_the_down_one,
        stop_ends_the_servers_cleanly,
        startup_names_an_operations_stop_and_leaves_the_server_down,
    ]
);
