//! startup's dashboard, over real HTTP on loopback: the page, `/api/run`
//! from the start to the final report, `/metrics` (and `--metrics`), and
//! who may read them. Every wait is on something startup says: the printed
//! URL, a status line, or the long poll (`/api/run?after=SEQ` answers when
//! the run changes). scripts/browser-test.sh checks the same page in a
//! real browser; scripts/prometheus-test.sh has a real Prometheus scrape
//! `/metrics`.

mod support;

use std::collections::HashMap;
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
    let (status, _, body) = http_with_head(addr, method, path, host, headers);
    (status, body)
}

/// [`http`], with the response's head (status line and headers) too.
fn http_with_head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: Option<&str>,
    headers: &[&str],
) -> (u16, String, String) {
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
    (status, head.to_string(), body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, None, &[])
}

fn api(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    parse_json(&body)
}

/// `/metrics` on `addr`, as a map from each series (`name{labels}`, as
/// written) to its value, after checking the answer's type.
fn scrape(addr: SocketAddr, headers: &[&str]) -> HashMap<String, f64> {
    let (status, head, body) = http_with_head(addr, "GET", "/metrics", None, headers);
    assert_eq!(status, 200, "{body}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            let value = if value == "+Inf" {
                f64::INFINITY
            } else {
                value.parse().unwrap_or_else(|_| panic!("{l}"))
            };
            (series.to_string(), value)
        })
        .collect()
}

/// One series of a scrape; it must be there.
fn series(m: &HashMap<String, f64>, name: &str) -> f64 {
    *m.get(name).unwrap_or_else(|| panic!("no {name} in {m:?}"))
}

/// Runs startup on `config` with `args`, which it must refuse at the start
/// (status 2) saying `why`, before any link connects; what it printed.
fn refused_at_start(config: &TestConfig, args: &[&str], why: &str) -> String {
    let mut all = vec!["--config", config.arg()];
    all.extend_from_slice(args);
    let out = run("startup", &all, Duration::from_secs(30));
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
    assert!(said.contains(why), "{args:?}: {why} in {said}");
    assert!(
        !said.contains("links connected"),
        "nothing should have started: {said}"
    );
    said
}

/// A 2-second run whose config has the ops_token `s3cret`, serving `what`
/// (`dashboard` or `metrics`, as its flag) on 0.0.0.0:0: its config (kept
/// while it runs), the run, its watchdog, and the line naming the URL.
fn served_with_token(what: &str) -> (TestConfig, StartupRun, Watchdog, String) {
    let token = r#", "ops_token": "s3cret""#;
    let config = TestConfig::local(&format!("{what}-token"), 1, 1, token);
    let flag = format!("--{what}");
    let args = ["--config", config.arg(), "-d", "2s", &flag, "0.0.0.0:0"];
    let mut startup = StartupRun::start(&args);
    let watchdog = kill_after(startup.pid(), Duration::from_secs(60));
    let line = startup.wait_for(&format!("startup: {what} at http://"));
    (config, startup, watchdog, line)
}

/// Asks `addr` each `(path, extra headers, status wanted)` with `host` as
/// the Host header; a refusal must tell nothing of the run (no `secret`).
fn check_access(
    addr: SocketAddr,
    host: Option<&str>,
    cases: &[(&str, &[&str], u16)],
    secret: &str,
) {
    for &(path, headers, want) in cases {
        let (status, body) = http(addr, "GET", path, host, headers);
        assert_eq!(status, want, "{path} {headers:?}: {body:.200}");
        if want == 401 {
            assert!(!body.contains(secret), "a refusal tells nothing: {body}");
        }
    }
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
    let args = ["-d", "1s", "--dashboard", "0.0.0.0:0"];
    let said = refused_at_start(&open, &args, "refusing to serve the dashboard");
    assert!(said.contains("ops_token"), "{said}");

    // With one, every request must carry it.
    let (_config, startup, _watchdog, line) = served_with_token("dashboard");
    assert!(line.contains("needs the ops_token"), "{line}");
    assert!(
        !line.contains("s3cret"),
        "the token is never printed: {line}"
    );
    let addr = dashboard_addr(&line);
    let far = Some("203.0.113.7:28080"); // any name: the token decides
    let cases: [(&str, &[&str], u16); 7] = [
        ("/api/run", &[], 401),
        ("/", &[], 401),
        ("/api/run", &["Authorization: Bearer wrong"], 401),
        ("/api/run?token=s3cre", &[], 401),
        ("/api/run", &["Authorization: Bearer s3cret"], 200),
        ("/api/run?token=s3cret", &[], 200),
        ("/?token=s3cret", &[], 200),
    ];
    check_access(addr, far, &cases, "layout");
    let (status, text) = startup.finish();
    assert!(matches!(status.code(), Some(0 | 1)), "{text}");
}

#[test]
fn metrics_follow_the_live_run_and_end_at_its_report() {
    let config = TestConfig::local("metrics", 2, 2, "");
    let report = config.dir.path("r.json");
    let mut run = StartupRun::start(&[
        "--config",
        config.arg(),
        "--duration",
        "3s",
        "--dashboard",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--report",
        report.to_str().unwrap(),
    ]);
    let _watchdog = kill_after(run.pid(), Duration::from_secs(90));
    let page = dashboard_addr(&run.wait_for("startup: dashboard at http://"));
    let line = run.wait_for("startup: metrics at http://");
    assert!(line.trim_end().ends_with("/metrics"), "{line}");
    let addr = dashboard_addr(&line);
    assert_ne!(addr, page);

    // `--metrics` serves nothing of the page.
    for path in ["/", "/api/run"] {
        let (status, body) = get(addr, path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains("--dashboard"), "{path}: {body}");
    }

    // Each status round's figures, as the line that prints them.
    run.wait_for("updates/s of 400");
    let first = scrape(addr, &[]);
    assert_eq!(series(&first, "mass_connect_links_up"), 4.0);
    assert_eq!(series(&first, "mass_connect_links_planned"), 4.0);
    assert_eq!(
        series(&first, "mass_connect_target_updates_per_second"),
        400.0
    );
    let running = series(&first, r#"mass_connect_run_state{state="running"}"#)
        + series(&first, r#"mass_connect_run_state{state="saturated"}"#);
    assert_eq!(running, 1.0, "{first:?}");
    let acked = series(&first, "mass_connect_acked_total");
    assert!(acked > 0.0, "{first:?}");
    assert!(series(&first, "mass_connect_updates_per_second") > 0.0);
    let count = series(&first, "mass_connect_latency_seconds_count");
    assert_eq!(
        series(&first, r#"mass_connect_latency_seconds_bucket{le="+Inf"}"#),
        count
    );
    assert!(count > 0.0 && series(&first, "mass_connect_latency_seconds_sum") > 0.0);
    // Memory by kind; CPU is read in clock ticks, so a second in it may
    // still read 0 (checked at the end).
    for kind in ["server", "client", "startup"] {
        let rss = format!("mass_connect_resident_memory_bytes{{kind=\"{kind}\"}}");
        assert!(series(&first, &rss) > 0.0, "{rss}: {first:?}");
    }

    run.wait_for("updates/s of 400");
    let second = scrape(addr, &[]);
    assert!(
        series(&second, "mass_connect_acked_total") > acked,
        "acked did not grow: {acked} then {second:?}"
    );
    // The page's address serves the same figures.
    let on_page = scrape(page, &[]);
    assert!(
        series(&on_page, "mass_connect_acked_total") >= series(&second, "mass_connect_acked_total")
    );

    // Until the verdict, on the page's long poll.
    let mut view = api(page, "/api/run");
    for _ in 0..100 {
        if view["phase"] == "done" {
            break;
        }
        let seq = view["seq"].as_u64().unwrap();
        view = api(page, &format!("/api/run?after={seq}"));
    }
    assert_eq!(view["phase"], "done", "{view:#}");
    // A scraper that was watching gets the final figures before startup
    // exits (it waits up to 3 s for one).
    let last = scrape(addr, &[]);
    let (status, text) = run.finish();
    assert!(matches!(status.code(), Some(0 | 1)), "{text}");
    let written = read_json(&report);
    assert_eq!(
        series(&last, "mass_connect_acked_total"),
        written["acked"].as_u64().unwrap() as f64,
        "{last:?}"
    );
    assert_eq!(
        series(&last, r#"mass_connect_run_state{state="done"}"#),
        1.0
    );
    assert_eq!(series(&last, "mass_connect_updates_per_second"), 0.0);
    assert!(series(&last, "mass_connect_sent_total") >= series(&last, "mass_connect_acked_total"));
    // CPU seconds are counters: none went down, and the run used some.
    let cpu = |m: &HashMap<String, f64>, kind: &str| {
        series(
            m,
            &format!("mass_connect_cpu_seconds_total{{kind=\"{kind}\"}}"),
        )
    };
    for kind in ["server", "client", "startup"] {
        assert!(cpu(&last, kind) >= cpu(&first, kind), "{kind}: {last:?}");
    }
    assert!(
        cpu(&last, "server") + cpu(&last, "client") > 0.0,
        "{last:?}"
    );
}

#[test]
fn metrics_outside_loopback_need_the_ops_token() {
    // No token: refused before anything starts, as the dashboard is.
    let open = TestConfig::local("metrics-open", 1, 1, "");
    let args = ["-d", "1s", "--metrics", "0.0.0.0:0"];
    let said = refused_at_start(&open, &args, "refusing to serve metrics");
    assert!(said.contains("ops_token"), "{said}");
    // The capacity search runs its own steps, with no metrics.
    let args = ["--find-capacity", "--metrics", "127.0.0.1:0"];
    refused_at_start(&open, &args, "--metrics does not apply");

    // With one, every request must carry it.
    let (_config, startup, _watchdog, line) = served_with_token("metrics");
    assert!(
        line.contains("needs the ops_token") && !line.contains("s3cret"),
        "{line}"
    );
    let addr = dashboard_addr(&line);
    let far = Some("203.0.113.7:9090"); // Prometheus elsewhere
    let cases: [(&str, &[&str], u16); 4] = [
        ("/metrics", &[], 401),
        ("/metrics", &["Authorization: Bearer wrong"], 401),
        ("/metrics", &["Authorization: Bearer s3cret"], 200),
        ("/metrics?token=s3cret", &[], 200),
    ];
    check_access(addr, far, &cases, "mass_connect_");
    let m = scrape(addr, &["Authorization: Bearer s3cret"]);
    assert!(m.contains_key("mass_connect_acked_total"), "{m:?}");
    let (status, text) = startup.finish();
    assert!(matches!(status.code(), Some(0 | 1)), "{text}");
}
