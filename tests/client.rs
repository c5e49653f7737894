//! A standalone client against a real server; logging on and off.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

/// `client --config CONFIG --server SERVER --duration 500ms --json`, run
/// standalone to its end.
fn standalone(config: &str, server: &str) -> std::process::Output {
    let args = [
        "--config",
        config,
        "--server",
        server,
        "--duration",
        "500ms",
        "--json",
    ];
    run("client", &args, Duration::from_secs(30))
}

#[test]
fn standalone_client_reports_what_the_server_counted() {
    let (_dir, config, server) = server_with_config("");
    let out = standalone(config.to_str().unwrap(), &server.addr.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let report = parse_json(&stdout(&out));
    let keys = report["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let acked = keys[0]["acked"].as_u64().unwrap();
    assert!(acked > 0);

    let mut peer = Peer::connect(server.addr);
    let dump = ok_json(&peer.call("dump"));
    assert_eq!(dump["keys"][0][0], keys[0]["key"]);
    assert_eq!(dump["keys"][0][1].as_u64().unwrap(), acked);
}

#[test]
fn client_takes_a_host_name_for_its_server() {
    let (_dir, config, server) = server_with_config("");
    let config = config.to_str().unwrap();
    let out = standalone(config, &format!("localhost:{}", server.addr.port()));
    assert!(out.status.success(), "{}", stderr(&out));
    let report = parse_json(&stdout(&out));
    assert_eq!(report["keys"][0]["server"], server.addr.to_string());

    let out = standalone(config, "no-such-host.invalid:1");
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("cannot resolve host \"no-such-host.invalid\""),
        "{e}"
    );
}

#[test]
fn a_client_says_why_its_links_broke() {
    let dir = TempDir::new("error-kinds");
    let config = dir.write(
        "config.json",
        r#"{"request_timeout_ms": 200, "connect_timeout_ms": 500,
            "reconnect_initial_ms": 50, "reconnect_max_ms": 100}"#,
    );
    let config = config.to_str().unwrap();
    let kinds = |out: &std::process::Output| {
        let report = parse_json(&stdout(out));
        let status = report["status"].clone();
        let kinds = status["error_kinds"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let sum: u64 = kinds.values().filter_map(Value::as_u64).sum();
        // The kinds account for every error, no more.
        assert_eq!(Some(sum), status["errors"].as_u64(), "{status}");
        (status["errors"].as_u64().unwrap(), kinds)
    };

    // A server that takes the link and reads, but never acks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut peer in silent.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while matches!(std::io::Read::read(&mut peer, &mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    let (errors, k) = kinds(&standalone(config, &addr.to_string()));
    assert!(errors >= 1 && k["ack_timeout"].as_u64() >= Some(1), "{k:?}");

    // Nothing listens on 127.0.0.2: every error is a failed connect.
    let (errors, k) = kinds(&standalone(config, "127.0.0.2:9"));
    assert!(
        errors >= 1 && k["connect"].as_u64() == Some(errors),
        "{k:?}"
    );
}

#[test]
fn client_reconnects_when_its_server_returns() {
    let config = TestConfig::local(
        "reconnect",
        1,
        0,
        r#", "reconnect_initial_ms": 10, "reconnect_max_ms": 50"#,
    );
    // The client starts first and counts failed connects until the server is up.
    let mut client = start_process(
        std::process::Command::new(bin("client"))
            .args(["--config", config.arg(), "--duration", "3s", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    // Wait until its status line shows failed connects, then start the server.
    let mut status = LineWatch::new("client", client.stderr.take().unwrap());
    status.wait_until("failed connects", |line| {
        line.contains("links 0/1") && !line.contains("errors 0 ")
    });
    let server = TestServer::start(&config.path, config.ports[0]);
    let out = client.wait_with_output().unwrap();
    let report = parse_json(&stdout(&out));
    assert!(
        report["status"]["errors"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert!(
        report["status"]["acked"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    drop(server);
}

#[test]
fn logging_writes_a_file_per_process_only_when_switched_on() {
    let dir = TempDir::new("logs");
    let logs = dir.path("logs");
    let extra = format!(
        r#", "log_switch": true, "log_dir": {:?}"#,
        logs.to_str().unwrap()
    );
    let config = dir.write("on.json", &config_json(&[1], 0, &extra));
    let server = TestServer::start(&config, 0);
    let mut peer = Peer::connect(server.addr);
    assert_eq!(peer.call("update;k:1;1"), "ack;1");
    assert!(peer.call("bogus").starts_with("err;"));
    let pid = server.child.id();
    let file = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains("-server-"))
        .expect("a server log file");
    // Not under startup: `<UTC start>-server-<pid>.log`, in log_dir itself.
    let name = file.file_name().to_string_lossy().into_owned();
    assert!(
        name.ends_with(".log") && name.as_bytes()[8] == b'T',
        "{name}"
    );
    if cfg!(target_os = "linux") {
        // Under Wine the process id is Wine's own number, not the Linux PID.
        assert!(name.ends_with(&format!("Z-server-{pid}.log")), "{name}");
    }
    let text = std::fs::read_to_string(file.path()).unwrap();
    assert!(text.contains("listening on"), "{text}");
    assert!(text.contains("bad line from"), "{text}");

    // Off (the default): no log directory appears.
    let quiet_logs = dir.path("quiet");
    let extra = format!(r#", "log_dir": {:?}"#, quiet_logs.to_str().unwrap());
    let config = dir.write("off.json", &config_json(&[1], 0, &extra));
    let server = TestServer::start(&config, 0);
    assert_eq!(Peer::connect(server.addr).call("update;k:1;1"), "ack;1");
    assert!(!quiet_logs.exists());
}

/// A client run as startup runs it: `--supervised`, talked to on its
/// stdin and stdout.
struct Supervised {
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
    child: KillOnDrop,
}

impl Supervised {
    fn start(config: &std::path::Path, server: std::net::SocketAddr) -> Supervised {
        use std::process::{Command, Stdio};
        let child = start_process(
            Command::new(bin("client"))
                .args(["--config", config.to_str().unwrap()])
                .args(["--server", &server.to_string(), "--supervised"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        );
        let mut child = KillOnDrop(child);
        Supervised {
            input: child.0.stdin.take().unwrap(),
            output: std::io::BufReader::new(child.0.stdout.take().unwrap()),
            child,
        }
    }

    /// Sends a request that has no answer (`go`).
    fn tell(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.input, "{}", line.trim_end()).unwrap();
        self.input.flush().unwrap();
    }

    /// Gives the client its window, as startup's `go` line does.
    fn go(&mut self, start: std::time::Instant, end: std::time::Instant) {
        use mass_connect::client::schedule::Window;
        let window = Window {
            start,
            end: Some(end),
        };
        self.tell(&window.to_go().line());
    }

    /// Sends a request and reads its one-line JSON answer.
    fn ask(&mut self, word: &str) -> Value {
        use std::io::BufRead;
        self.tell(word);
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{word}: {e}: {line:?}"))
    }

    /// Asks `ready` as startup does, until every link is up (bounded: 5 s
    /// of asking every 10 ms), and returns that answer.
    fn ready(&mut self) -> Value {
        let mut answer = self.ask("ready");
        for _ in 0..500 {
            if answer["links_up"] == answer["links"] {
                assert!(answer.get("down").is_none(), "{answer}");
                return answer;
            }
            std::thread::sleep(Duration::from_millis(10));
            answer = self.ask("ready");
        }
        panic!("links not up after 5 s: {answer}");
    }
}

/// Under startup a client connects, says so, and sends nothing until `go`:
/// a large fleet is measured only once all of it is up.
#[test]
fn a_supervised_client_connects_first_and_sends_only_after_go() {
    let (_dir, config, server) = server_with_config("");
    let mut client = Supervised::start(&config, server.addr);

    let ready = client.ready();
    assert_eq!(ready["links_up"], 1, "{ready}");
    // Connected, but nothing is sent: watched over 20 intervals (10 ms by
    // default), in which an ungated client would send about 20 updates.
    assert_eq!(ready["sent"], 0, "{ready}");
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(client.ask("status")["status"]["sent"], 0);
    }
    assert_eq!(server_dump(server.addr).len(), 0);

    client.tell("go");
    // The default interval is 10 ms: within a few status rounds updates
    // are acked (bounded: 500 rounds).
    let acked = (0..500)
        .map(|_| client.ask("status")["status"]["acked"].as_u64().unwrap())
        .find(|&n| n > 0);
    assert!(acked.is_some(), "nothing acked after go");
    let final_report = client.ask("stop");
    let keys = final_report["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let dump = server_dump(server.addr);
    assert_eq!(
        dump[keys[0]["key"].as_str().unwrap()],
        keys[0]["acked"].as_u64().unwrap()
    );
}

/// A client's link threads are the load generator and run below the
/// servers' link threads (Linux: SCHED_IDLE against the normal rank), so a
/// saturated machine delays sends, not acks; its control thread stays
/// normal.
#[cfg(target_os = "linux")]
#[test]
fn link_threads_run_below_the_servers_link_threads() {
    const SCHED_OTHER: i64 = 0;
    const SCHED_IDLE: i64 = 5;
    let (_dir, config, server) = server_with_config("");
    let mut client = Supervised::start(&config, server.addr);
    // A link that is up is past its set-up, priority included.
    client.ready();
    let policies = thread_stat_field(client.child.0.id(), 38);
    assert_eq!(
        policies.iter().filter(|&&p| p == SCHED_IDLE).count(),
        1,
        "one link thread under SCHED_IDLE: {policies:?}"
    );
    assert!(
        policies.contains(&SCHED_OTHER),
        "the control thread stays normal: {policies:?}"
    );
}

/// startup's `go START END`: the link sends exactly the ticks inside the
/// window, then stays connected and quiet until the stop, and the client's
/// elapsed time is the window's length, not the time until the stop.
///
/// A link that falls behind sends nothing after the end (the run counts
/// what was sent inside its window), so "exactly" needs each round trip to
/// fit in an interval. A 50 ms interval leaves that room even under Wine on
/// a loaded host, where 10 ms did not (16 of 30 sent, every one late).
#[test]
fn a_window_with_an_end_sends_its_ticks_and_then_waits_connected() {
    use std::time::Instant;

    const INTERVAL_MS: u64 = 50;
    const TICKS: u64 = 10;
    let (_dir, config, server) =
        server_with_config(&format!(r#", "update_intervals": {INTERVAL_MS}"#));
    let mut client = Supervised::start(&config, server.addr);
    assert_eq!(client.ready()["links_up"], 1);

    // The start is a second ahead, far more than a pipe write takes, so no
    // tick falls before the client has its go.
    let start = Instant::now() + Duration::from_secs(1);
    let window = Duration::from_millis(INTERVAL_MS * TICKS);
    let end = start + window;
    client.go(start, end);

    // Bounded wait for the window to pass (the end is 1.5 s away).
    let mut status = client.ask("status");
    for _ in 0..1000 {
        if Instant::now() > end && status["status"]["acked"] == status["status"]["sent"] {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        status = client.ask("status");
    }
    assert_eq!(status["status"]["sent"], TICKS, "{status}");
    assert_eq!(status["status"]["acked"], TICKS, "{status}");
    // Two more intervals: nothing more is sent, and the link is still up.
    std::thread::sleep(Duration::from_millis(2 * INTERVAL_MS));
    let status = client.ask("status");
    assert_eq!(status["status"]["sent"], TICKS, "{status}");
    assert_eq!(status["status"]["links_up"], 1, "{status}");

    let report = client.ask("stop");
    let elapsed = report["status"]["elapsed_s"].as_f64().unwrap();
    let expected = window.as_secs_f64();
    assert!(
        (elapsed - expected).abs() < 1e-6,
        "elapsed {elapsed}, not {expected}"
    );
    let key = report["keys"][0]["key"].as_str().unwrap();
    assert_eq!(server_dump(server.addr)[key], TICKS);
}

/// A link whose server does not answer is named in `ready` with why: the
/// reason startup prints and the verdict uses. 127.0.0.2 is loopback with
/// nothing listening, so the connect is refused.
#[test]
fn ready_names_a_link_that_is_down_and_why() {
    let (_dir, config, _server) = server_with_config("");
    let nowhere: std::net::SocketAddr = format!("127.0.0.2:{}", free_ports(1)[0]).parse().unwrap();
    let mut client = Supervised::start(&config, nowhere);
    // The first answer may come before the first attempt failed
    // ("connecting"); the reason follows (bounded: 5 s).
    let mut answer = client.ask("ready");
    for _ in 0..500 {
        if answer["down"][0]["reason"] != "connecting" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        answer = client.ask("ready");
    }
    assert_eq!(answer["links"], 1, "{answer}");
    assert_eq!(answer["links_up"], 0, "{answer}");
    assert_eq!(answer["down"][0]["server"], nowhere.to_string(), "{answer}");
    assert_eq!(answer["down"][0]["reason"], "refused", "{answer}");
    // The final report names it as never connected.
    let report = client.ask("stop");
    assert_eq!(report["keys"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["status"]["down"][0]["reason"], "refused", "{report}");
}

/// A server that answers each update `delay` late, on one connection:
/// a link behind its schedule on every tick. Ends when the client closes.
fn slow_server(delay: Duration) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut lines = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        let mut line = String::new();
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            if let Some(count) = line.trim_end().strip_prefix("update;") {
                let count = count.rsplit(';').next().unwrap_or("0").to_string();
                std::thread::sleep(delay);
                if writeln!(out, "ack;{count}").is_err() {
                    return;
                }
            }
            line.clear();
        }
    });
    addr
}

/// A link whose round trip is twelve intervals long cannot keep a fixed
/// rate. With `max_lag_ms` the ticks too far behind are dropped and
/// counted, never sent; with 0 none are dropped and the link works
/// through its backlog.
#[test]
fn ticks_too_far_behind_are_dropped_and_counted() {
    use std::time::Instant;

    const TICKS: u64 = 120; // 1.2 s at 10 ms
    for max_lag_ms in [30, 0] {
        let dir = TempDir::new("dropped");
        let extra = format!(r#", "max_lag_ms": {max_lag_ms}"#);
        let config = dir.write("config.json", &config_json(&[1], 0, &extra));
        let server = slow_server(Duration::from_millis(120));
        let mut client = Supervised::start(&config, server);
        client.ready();
        let start = Instant::now() + Duration::from_millis(200);
        let end = start + Duration::from_millis(10 * TICKS);
        client.go(start, end);
        while Instant::now() < end + Duration::from_millis(300) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = client.ask("status")["status"].clone();
        let (sent, dropped) = (
            status["sent"].as_u64().unwrap(),
            status["dropped"].as_u64().unwrap(),
        );
        if max_lag_ms > 0 {
            // At most one tick in twelve can be sent; the rest of those that
            // came due were dropped, and none was both.
            assert!(dropped >= TICKS / 2, "{status}");
            assert!(sent + dropped <= TICKS, "{status}");
        } else {
            assert_eq!(dropped, 0, "{status}");
        }
        assert!(sent >= 2, "{status}");
        let report = client.ask("stop");
        assert_eq!(report["status"]["dropped"], status["dropped"], "{report}");
    }
}

// The same tests with the workspace's other engines' clients, each against
// its own engine's server (issue 15).
on_engines!(
    on_evloop: Engine::EVLOOP, on_tokio: Engine::TOKIO => [
        standalone_client_reports_what_the_server_counted,
        client_takes_a_host_name_for_its_server,
        a_client_says_why_its_links_broke,
        client_reconnects_when_its_server_returns,
        logging_writes_a_file_per_process_only_when_switched_on,
        a_supervised_client_connects_first_and_sends_only_after_go,
        a_window_with_an_end_sends_its_ticks_and_then_waits_connected,
        ready_names_a_link_that_is_down_and_why,
        ticks_too_far_behind_are_dropped_and_counted,
    ]
);
