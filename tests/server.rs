//! The real `server` binary on 127.0.0.1, spoken to in raw protocol lines.

mod support;

use support::*;

#[test]
fn updates_are_counted_and_acked_with_the_server_count() {
    let (_dir, server) = server_with("");
    let mut p = Peer::connect(server.addr);
    assert_eq!(p.call("update;127.0.0.1:5000;1"), "ack;1");
    assert_eq!(p.call("update;127.0.0.1:5000;2"), "ack;2");
    // Two updates in one segment, and one split across two writes: framing
    // is by newline, not by read() boundaries as in the seed.
    p.send(b"update;127.0.0.1:5000;3\nupdate;127.0.0.1:5000;4\nupdate;127.0.0.1:50");
    assert_eq!(p.read_line(), "ack;3");
    assert_eq!(p.read_line(), "ack;4");
    p.send(b"00;5\r\n");
    assert_eq!(p.read_line(), "ack;5");
    let dump = ok_json(&p.call("dump"));
    assert_eq!(dump["keys"][0][0], "127.0.0.1:5000");
    assert_eq!(dump["keys"][0][1], 5);
    assert_eq!(dump["total"], 5);
}

#[test]
fn a_lost_or_doubled_update_is_an_anomaly_on_both_sides() {
    let (_dir, server) = server_with("");
    let mut p = Peer::connect(server.addr);
    assert_eq!(p.call("update;k:1;1"), "ack;1");
    // The client claims #3: one update went missing. The server says #2.
    assert_eq!(p.call("update;k:1;3"), "ack;2");
    assert_eq!(server_stats(server.addr)["anomalies"], 1);
}

#[test]
fn garbage_is_answered_and_counted_while_other_links_keep_working() {
    let (_dir, server) = server_with("");
    let mut good = Peer::connect(server.addr);
    let mut bad = Peer::connect(server.addr);
    assert_eq!(good.call("update;good:1;1"), "ack;1");

    let cases: &[(&[u8], &str)] = &[
        (b"hello\n", "err;unknown_command;"),
        (b"update;k;notanumber\n", "err;bad_count;"),
        (b"update;k;-1\n", "err;bad_count;"),
        (b"update;k;18446744073709551616\n", "err;bad_count;"),
        (b"update;k\n", "err;wrong_fields;"),
        (b"\xff\xfe\xfd\n", "err;not_text;"),
        (b"upd\x00ate;k;1\n", "err;not_text;"),
        (b"\n", "err;empty;"),
    ];
    let mut n = 1;
    for (line, expected) in cases {
        bad.send(line);
        let reply = bad.read_line();
        assert!(
            reply.starts_with(expected),
            "{:?} -> {reply}",
            String::from_utf8_lossy(line)
        );
        // The good link is unaffected after each one.
        n += 1;
        assert_eq!(good.call(&format!("update;good:1;{n}")), format!("ack;{n}"));
    }
    // A line far past the limit: one error, then framing resumes.
    let mut long = vec![b'x'; 100_000];
    long.push(b'\n');
    bad.send(&long);
    assert!(bad.read_line().starts_with("err;too_long;"));
    assert_eq!(bad.call("ping"), "pong");
    let s = server_stats(server.addr);
    assert_eq!(s["protocol_errors"], cases.len() as u64 + 1);
    assert_eq!(s["anomalies"], 0);
}

#[test]
fn link_limit_refuses_extra_links_with_an_error_line() {
    let (_dir, server) = server_with(r#", "server_max_links": 2"#);
    let mut a = Peer::connect(server.addr);
    let mut b = Peer::connect(server.addr);
    assert_eq!(a.call("ping"), "pong");
    assert_eq!(b.call("ping"), "pong");
    let mut c = Peer::connect(server.addr);
    let refusal = c.read_line();
    assert!(refusal.starts_with("err;link_limit;"), "{refusal}");
    assert!(refusal.contains("server_max_links"), "{refusal}");
    assert!(c.is_closed());
    assert_eq!(a.call("update;a:1;1"), "ack;1");
    drop(b);
    // Once a link is gone a new one is accepted (the table is updated when
    // the link thread ends, so retry until then, within a bound).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut d = Peer::connect(server.addr);
        if d.call("ping") == "pong" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
    }
}

#[test]
fn token_guards_dump_and_stop() {
    let (_dir, mut server) = server_with(r#", "ops_token": "s3cret""#);
    let mut p = Peer::connect(server.addr);
    // Updates and stats need no token.
    assert_eq!(p.call("update;k:1;1"), "ack;1");
    assert!(p.call("stats").starts_with("ok;"));
    assert!(p.call("dump").starts_with("err;unauthorized;"));
    assert!(p.call("stop").starts_with("err;unauthorized;"));
    assert!(p.call("auth;wrong").starts_with("err;unauthorized;"));
    // The config never reveals the token.
    assert!(!p.call("config").contains("s3cret"));
    assert_eq!(server_stats(server.addr)["auth_failures"], 3);
    assert!(p.call("auth;s3cret").starts_with("ok;"));
    assert!(p.call("dump").starts_with("ok;"));
    assert_eq!(p.call("stop"), "bye");
    assert!(server.wait_exit().success());
}

#[test]
fn seed_positional_form_and_clear_errors() {
    let dir = TempDir::new("serverargs");
    let config = dir.write("config.json", &config_json(&[1, 2], 0, ""));
    let cfg = config.to_str().unwrap();
    // Two ports in the config and no --port: say so.
    let out = run(
        "server",
        &["--config", cfg, "--ip", "127.0.0.1"],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --port"), "{}", stderr(&out));
    // Port taken: the error names the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(
        "server",
        &["--config", cfg, "127.0.0.1", &port],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        stderr(&out)
    );
}

/// Link threads run at the lowest priority and control threads at the
/// normal one, so a saturated machine still serves status, stop and Ctrl-C.
#[cfg(target_os = "linux")]
#[test]
fn link_threads_run_below_the_control_threads() {
    let (_dir, server) = server_with("");
    let mut p = Peer::connect(server.addr);
    // An ack proves the link thread is past its set-up, priority included.
    assert_eq!(p.call("update;127.0.0.1:5000;1"), "ack;1");
    let mut nice_by_thread = Vec::new();
    let tasks = format!("/proc/{}/task", server.child.id());
    for task in std::fs::read_dir(&tasks).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        // Fields after the parenthesised name: state is field 3, nice field 19.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let nice: i32 = after_name.split(' ').nth(16).unwrap().parse().unwrap();
        nice_by_thread.push(nice);
    }
    nice_by_thread.sort_unstable();
    let lowered = nice_by_thread.iter().filter(|&&n| n == 19).count();
    assert_eq!(lowered, 1, "one link thread at nice 19: {nice_by_thread:?}");
    assert!(
        nice_by_thread.iter().filter(|&&n| n == 0).count() >= 2,
        "the control threads stay at nice 0: {nice_by_thread:?}"
    );
}

// The same tests against the workspace's other engines' servers (issue 15).
on_engines!(
    on_evloop: Engine::EVLOOP, on_tokio: Engine::TOKIO => [
        updates_are_counted_and_acked_with_the_server_count,
        a_lost_or_doubled_update_is_an_anomaly_on_both_sides,
        garbage_is_answered_and_counted_while_other_links_keep_working,
        link_limit_refuses_extra_links_with_an_error_line,
        token_guards_dump_and_stop,
        seed_positional_form_and_clear_errors,
    ]
);
