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

/// The edges of the grammar in docs/PROTOCOL.md, each sent as raw bytes on
/// one link and answered with exactly this line.
#[test]
fn protocol_edges_get_exactly_the_documented_reply() {
    const NOT_TEXT: &str = "err;not_text;line must be printable ASCII: no TAB or other control character, no non-ASCII";
    const UNKNOWN: &str = "err;unknown_command;unknown command; expected update, ping, stats, dump, config, auth or stop";
    const BAD_COUNT: &str =
        "err;bad_count;count must be a whole number from 1 to 18446744073709551615";
    const BAD_KEY: &str = "err;bad_key;key must be 1 to 96 printable ASCII characters, no space";
    const UPDATE_SHAPE: &str = "err;wrong_fields;update takes two fields: update;<key>;<count>";
    const AUTH_SHAPE: &str = "err;wrong_fields;auth takes one field: auth;<token>";
    const TOO_LONG: &str = "err;too_long;line longer than 1024 bytes before its line end";
    // An update padded with spaces to exactly the limit: too long it is not,
    // and its count, `1` and the spaces, is bad.
    let at_limit = format!("update;k:1;1{}", " ".repeat(1024 - "update;k:1;1".len()));
    let over_limit = format!("{at_limit} ");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // Nothing is trimmed: a blank is a byte of its field.
        (b"update;k:1;2 \n".to_vec(), BAD_COUNT),
        (b"update;k:1; 2\n".to_vec(), BAD_COUNT),
        (b"update; k:1;1\n".to_vec(), BAD_KEY),
        (b"update;k :1;1\n".to_vec(), BAD_KEY),
        (b" ping\n".to_vec(), UNKNOWN),
        (b"ping \n".to_vec(), UNKNOWN),
        (b"   \n".to_vec(), UNKNOWN),
        // A control byte anywhere is not text, whatever field it is in.
        (b"update;k\t1;1\n".to_vec(), NOT_TEXT),
        (b"update;k:1;1\t\n".to_vec(), NOT_TEXT),
        (b"\tping\n".to_vec(), NOT_TEXT),
        (b"update;k:1;1\x7f\n".to_vec(), NOT_TEXT),
        (b"up\x01date;k:1;1\n".to_vec(), NOT_TEXT),
        (b"ping\x00\n".to_vec(), NOT_TEXT),
        ("update;ключ;1\n".as_bytes().to_vec(), NOT_TEXT),
        // One `\r` before the `\n` is dropped, and only one.
        (b"ping\r\n".to_vec(), "pong"),
        (b"ping\r\r\n".to_vec(), NOT_TEXT),
        (b"pi\rng\n".to_vec(), NOT_TEXT),
        // The limit counts the line without its line end.
        (format!("{at_limit}\r\n").into_bytes(), BAD_COUNT),
        (format!("{at_limit}\n").into_bytes(), BAD_COUNT),
        (format!("{over_limit}\r\n").into_bytes(), TOO_LONG),
        (format!("{over_limit}\n").into_bytes(), TOO_LONG),
        // One trailing `;` after the last field, no more.
        (b"ping;\n".to_vec(), "pong"),
        (
            b"ping;;\n".to_vec(),
            "err;wrong_fields;ping takes no fields",
        ),
        (b"update;k:1;1;\n".to_vec(), "ack;1"),
        (b"update;k:1;2;;\n".to_vec(), UPDATE_SHAPE),
        // `wrong_fields` gives the command's own shape.
        (b"update;k:1\n".to_vec(), UPDATE_SHAPE),
        (b"update\n".to_vec(), UPDATE_SHAPE),
        (b"update;k:1;2;3\n".to_vec(), UPDATE_SHAPE),
        (b"auth\n".to_vec(), AUTH_SHAPE),
        (b"auth;a;b\n".to_vec(), AUTH_SHAPE),
        (
            b"ping;x\n".to_vec(),
            "err;wrong_fields;ping takes no fields",
        ),
        (
            b"stats;x\n".to_vec(),
            "err;wrong_fields;stats takes no fields",
        ),
        (
            b"dump;x\n".to_vec(),
            "err;wrong_fields;dump takes no fields",
        ),
        (
            b"config;x\n".to_vec(),
            "err;wrong_fields;config takes no fields",
        ),
        (
            b"stop;x\n".to_vec(),
            "err;wrong_fields;stop takes no fields",
        ),
        // Empty is empty; a lone `;` names no command.
        (b"\n".to_vec(), "err;empty;empty line"),
        (b"\r\n".to_vec(), "err;empty;empty line"),
        (b";\n".to_vec(), UNKNOWN),
    ];
    let (_dir, server) = server_with("");
    let mut p = Peer::connect(server.addr);
    for (line, reply) in &cases {
        p.send(line);
        assert_eq!(p.read_line(), *reply, "{:?}", String::from_utf8_lossy(line));
    }
    // Every refusal is one protocol error; the pongs and the ack are not.
    let errors = cases.iter().filter(|(_, r)| r.starts_with("err;")).count();
    let s = server_stats(server.addr);
    assert_eq!(s["protocol_errors"], errors as u64);
    assert_eq!(s["updates"], 1);
    assert_eq!(s["auth_failures"], 0);
}

#[test]
fn an_empty_token_is_a_wrong_token() {
    let (_dir, server) = server_with(r#", "ops_token": "s3cret""#);
    let mut p = Peer::connect(server.addr);
    // `auth;` presents the empty token: refused like any wrong one, and
    // counted with them, not as a malformed line.
    assert_eq!(p.call("auth;"), "err;unauthorized;wrong token");
    // Nothing is trimmed from a token either.
    assert_eq!(p.call("auth; s3cret"), "err;unauthorized;wrong token");
    assert_eq!(p.call("auth;s3cret "), "err;unauthorized;wrong token");
    // A bare `auth` has no token field at all: malformed.
    assert_eq!(
        p.call("auth"),
        "err;wrong_fields;auth takes one field: auth;<token>"
    );
    assert!(p.call("dump").starts_with("err;unauthorized;"));
    let s = server_stats(server.addr);
    assert_eq!(s["auth_failures"], 4);
    assert_eq!(s["protocol_errors"], 1);
    // The trailing `;` of the seed's style is not part of the token.
    assert_eq!(p.call("auth;s3cret;"), r#"ok;{"auth":true}"#);
    assert!(p.call("dump").starts_with("ok;"));
}

#[test]
fn every_program_refuses_a_token_auth_cannot_carry() {
    let dir = TempDir::new("badtoken");
    for (token, rule) in [
        ("a;b", "has a ';' at byte 1"),
        (" padded", "starts or ends with a space"),
        ("tab\there", "has a control character"),
        ("clé", "has a non-ASCII character"),
    ] {
        let json = config_json(
            &[1],
            0,
            &format!(r#", "ops_token": {}"#, serde_json::json!(token)),
        );
        let config = dir.write("config.json", &json);
        let config = config.to_str().unwrap();
        for (program, args) in [
            ("server", vec!["--config", config, "--ip", "127.0.0.1"]),
            ("client", vec!["--config", config]),
            ("startup", vec!["--config", config]),
            ("omclient", vec!["--config", config, "stats"]),
        ] {
            let out = run(program, &args, std::time::Duration::from_secs(20));
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{program} {token:?}: {err}");
            assert!(err.contains("\"ops_token\""), "{program}: {err}");
            assert!(err.contains(rule), "{program}: {err}");
            assert!(!err.contains(token), "{program} repeated the token: {err}");
        }
    }
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
    // Port taken: the error names the address, whether the address and
    // port come positionally or as `--port` alone (the address then from
    // server_ip_list, and the port not mistaken for the missing `--ip`'s
    // positional form).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for form in [&["127.0.0.1", &port][..], &["--port", &port][..]] {
        let args: Vec<&str> = ["--config", cfg].iter().chain(form).copied().collect();
        let out = run("server", &args, std::time::Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(2), "{form:?}");
        assert!(
            stderr(&out).contains(&format!("cannot listen on 127.0.0.1:{port}")),
            "{form:?}: {}",
            stderr(&out)
        );
    }
}

/// A server's link threads run at the normal rank, as its control threads
/// do: only the load generator ranks lower (tests/client.rs). A lowered
/// server link thread waited behind a thousand runnable client threads under
/// saturation, now and then past `request_timeout_ms` (docs/PERFORMANCE.md).
#[cfg(target_os = "linux")]
#[test]
fn link_threads_run_at_the_rank_of_the_control_threads() {
    const SCHED_OTHER: i64 = 0;
    let (_dir, server) = server_with("");
    let mut p = Peer::connect(server.addr);
    // An ack proves the link thread is past its set-up, priority included.
    assert_eq!(p.call("update;127.0.0.1:5000;1"), "ack;1");
    let nice_by_thread = thread_stat_field(server.child.id(), 16);
    let policies = thread_stat_field(server.child.id(), 38);
    // The main thread, the acceptor, the store thread and this link's.
    assert!(nice_by_thread.len() >= 4, "{nice_by_thread:?}");
    // Compared with each other, not with 0: the test may itself run niced.
    assert!(
        nice_by_thread.iter().all(|&n| n == nice_by_thread[0]),
        "every thread at one nice value: {nice_by_thread:?}"
    );
    assert!(
        policies.iter().all(|&p| p == SCHED_OTHER),
        "every thread under SCHED_OTHER: {policies:?}"
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
