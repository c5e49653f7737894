//! startup's dashboard, over real HTTP on loopback: the page, `/api/run`
//! from the start to the final report, and who may read it. Every wait is
//! on something startup says: the printed URL, a status line, or the long
//! poll (`/api/run?after=SEQ` answers when the run changes).
//! scripts/browser-test.sh checks the same page in a real browser.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use support::*;

/// One HTTP/1.1 request over a fresh connection: the status code and the
/// body. `headers` are extra lines (`Name: value`); `host` is the Host
/// header (the address itself unless given).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: Option<&str>,
    headers: &[&str],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    // A long poll waits up to 20 s for a change.
    stream
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    let host = host.map_or_else(|| addr.to_string(), str::to_string);
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, None, &[])
}

fn api(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    parse_json(&body)
}

/// The address in startup's `dashboard at http://IP:PORT/` line, with an
/// unspecified IP (0.0.0.0) replaced by loopback, where the test reaches it.
fn dashboard_addr(line: &str) -> SocketAddr {
    let url = line.split("http://").nth(1).expect("a URL");
    let mut addr: SocketAddr = url.split('/').next().unwrap().parse().unwrap();
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    addr
}

#[test]
fn the_dashboard_serves_the_run_from_its_start_to_its_verdict() {
    let config = TestConfig::local("dashboard", 2, 2, "");
    let (report, html) = (config.dir.path("r.json"), config.dir.path("r.html"));
    let mut run = StartupRun::start(&[
        "--config",
        config.arg(),
        "--duration",
        "3s",
        "--dashboard",
        "127.0.0.1:0",
        "--report",
        report.to_str().unwrap(),
        "--html-report",
        html.to_str().unwrap(),
    ]);
    let _watchdog = kill_after(run.pid(), Duration::from_secs(90));
    let addr = dashboard_addr(&run.wait_for("startup: dashboard at http://"));
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    // The page: one document, every asset in it.
    let (status, page) = get(addr, "/");
    assert_eq!(status, 200);
    assert!(page.starts_with("<!doctype html>"), "{:.80}", page);
    assert!(page.contains("var uPlot=") && page.contains("api/run"));

    // Once a status line is printed, its round is on /api/run.
    run.wait_for("updates/s of 400");
    let v = api(addr, "/api/run");
    assert_eq!(v["api"], 1);
    assert_eq!(v["phase"], "running", "{v:#}");
    // The header's word: running, or saturated on a machine too slow for
    // the schedule (the verdict's rule over the run so far).
    let state = v["state"].as_str().unwrap_or_default();
    assert!(matches!(state, "running" | "saturated"), "{v:#}");
    assert_eq!(state == "saturated", v["now"]["saturated"] == true, "{v:#}");
    assert_eq!(v["layout"]["links"], 4);
    assert_eq!(v["layout"]["clients"], 2);
    assert_eq!(v["layout"]["servers"].as_array().unwrap().len(), 2);
    assert_eq!(v["layout"]["target_per_s"], 400.0);
    assert_eq!(v["duration_s"], 3.0);
    assert_eq!(v["config"]["update_intervals"], 10);
    assert!(v["config"].get("ops_token").is_none(), "never the token");
    assert!(v["final"].is_null());
    let now = &v["now"];
    assert_eq!(now["links_up"], 4, "{now:#}");
    assert!(now["acked"].as_u64().unwrap() > 0, "{now:#}");
    // max_lag_ms 0 (the default) never drops a tick.
    assert_eq!(now["dropped"], 0, "{now:#}");
    assert_eq!(v["layout"]["max_lag_ms"], 0, "{v:#}");
    let points = v["series"]["t_s"].as_array().unwrap().len();
    assert!(points >= 1);
    for column in [
        "rate",
        "latency_p99_us",
        "lateness_p99_us",
        "links_up",
        "dropped",
        "server_cpu_percent",
        "client_rss_mb",
    ] {
        assert_eq!(
            v["series"][column].as_array().unwrap().len(),
            points,
            "{column}"
        );
    }
    // The last point of the series is the latest round.
    assert_eq!(v["series"]["t_s"][points - 1], now["t_s"]);

    // Long polls until the verdict: each answers when the run changes.
    let mut seq = v["seq"].as_u64().unwrap();
    let mut last = v;
    for _ in 0..100 {
        if last["phase"] == "done" {
            break;
        }
        last = api(addr, &format!("/api/run?after={seq}"));
        let next = last["seq"].as_u64().unwrap();
        assert!(
            next > seq || last["phase"] == "done",
            "a long poll answered with nothing new"
        );
        seq = next;
    }
    assert_eq!(last["phase"], "done", "{last:#}");
    assert_eq!(
        last["elapsed_s"], 3.0,
        "the clock stops at the window's end"
    );
    let (status, text) = run.finish();
    assert!(matches!(status.code(), Some(0 | 1)), "{text}");

    // The final view is the report, less the lists for omclient's merge.
    let mut written = read_json(&report);
    let fields = written.as_object_mut().unwrap();
    fields.remove("client_keys");
    fields.remove("server_dumps");
    assert_eq!(last["final"]["report"], written);
    assert!(
        last["final"]["text"]
            .as_str()
            .unwrap()
            .contains("mass_connect run report")
    );

    // The HTML report carries the same run, and opens without a server.
    let html = std::fs::read_to_string(&html).unwrap();
    let start = html
        .find(r#"<script id="run-data" type="application/json">"#)
        .unwrap();
    let data = &html[start..];
    let data = &data[data.find('>').unwrap() + 1..data.find("</script>").unwrap()];
    let embedded = parse_json(data);
    assert_eq!(embedded["final"], last["final"]);
    assert_eq!(embedded["series"]["t_s"], last["series"]["t_s"]);
    assert!(html.contains("var uPlot="));
}

#[test]
fn the_dashboard_only_reads_and_answers_only_to_loopback_names() {
    let config = TestConfig::local("dashboard-local", 1, 1, "");
    let mut run = StartupRun::start(&[
        "--config",
        config.arg(),
        "--duration",
        "2s",
        "--dashboard",
        "127.0.0.1:0",
    ]);
    let _watchdog = kill_after(run.pid(), Duration::from_secs(60));
    let addr = dashboard_addr(&run.wait_for("startup: dashboard at http://"));
    assert_eq!(
        http(addr, "GET", "/api/run", Some("localhost:1"), &[]).0,
        200
    );
    // A page elsewhere whose name points at 127.0.0.1 (DNS rebinding).
    let (status, body) = http(addr, "GET", "/api/run", Some("rebind.example:80"), &[]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(http(addr, "POST", "/api/run", None, &[]).0, 405);
    assert_eq!(http(addr, "DELETE", "/", None, &[]).0, 405);
    assert_eq!(get(addr, "/stop").0, 404);
    let (status, text) = run.finish();
    assert!(matches!(status.code(), Some(0 | 1)), "{text}");
}

#[test]
fn outside_loopback_the_dashboard_needs_the_ops_token() {
    // No token: startup refuses before it starts anything.
    let open = TestConfig::local("dashboard-open", 1, 1, "");
    let out = run(
        "startup",
        &[
            "--config",
            open.arg(),
            "--duration",
            "1s",
            "--dashboard",
            "0.0.0.0:0",
        ],
        Duration::from_secs(30),
    );
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("refusing to serve the dashboard") && said.contains("ops_token"),
        "{said}"
    );
    assert!(
        !said.contains("links connected"),
        "nothing should have started: {said}"
    );

    // With one, every request must carry it.
    let config = TestConfig::local("dashboard-token", 1, 1, r#", "ops_token": "s3cret""#);
    let mut startup = StartupRun::start(&[
        "--config",
        config.arg(),
        "--duration",
        "2s",
        "--dashboard",
        "0.0.0.0:0",
    ]);
    let _watchdog = kill_after(startup.pid(), Duration::from_secs(60));
    let line = startup.wait_for("startup: dashboard at http://");
    assert!(line.contains("needs the ops_token"), "{line}");
    assert!(
        !line.contains("s3cret"),
        "the token is never printed: {line}"
    );
    let addr = dashboard_addr(&line);
    let far = Some("203.0.113.7:28080"); // any name: the token decides
    for (path, headers, want) in [
        ("/api/run", &[][..], 401),
        ("/", &[][..], 401),
        ("/api/run", &["Authorization: Bearer wrong"][..], 401),
        ("/api/run?token=s3cre", &[][..], 401),
        ("/api/run", &["Authorization: Bearer s3cret"][..], 200),
        ("/api/run?token=s3cret", &[][..], 200),
        ("/?token=s3cret", &[][..], 200),
    ] {
        let (status, body) = http(addr, "GET", path, far, headers);
        assert_eq!(status, want, "{path} {headers:?}: {body:.200}");
        if want == 401 {
            assert!(
                !body.contains("layout"),
                "a refusal tells nothing of the run"
            );
        }
    }
    let (status, text) = startup.finish();
    assert!(matches!(status.code(), Some(0 | 1)), "{text}");
}
