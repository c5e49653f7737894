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
    let mut child = Command::new(bin("omclient"))
        .args(["--config", config.arg()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
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
