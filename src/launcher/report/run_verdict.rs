//! The run's verdict: `PASS`, or `FAIL` with every reason, each naming the
//! server, client or threshold concerned.
//!
//! A load tool's worst failure is a run that looks fine and is not: a run
//! whose servers were never reached used to end "verify OK" (nothing was
//! acked, so nothing mismatched), and a run whose clients could not keep
//! their schedule reported the rate *this machine* managed as if it were the
//! servers'. So the verdict is a list of rules over the finished report,
//! applied in one place, and startup exits 1 on any of them:
//!
//! 1. verification failed (an acked update is missing or counted twice);
//! 2. a child died;
//! 3. a configured server was never reached (no link to it ever connected),
//!    or did not answer at the end;
//! 4. no update was acked (on a host that runs clients);
//! 5. fewer links than planned were up for more than a tenth of the window;
//! 6. the load generator was saturated (see [`saturation`]);
//! 7. a threshold given on the command line was breached (`--min-rate`,
//!    `--max-p99`, `--max-late-p99`), as k6 does with its thresholds;
//! 8. a server was stopped by an operations `stop` during the run;
//! 9. ticks were dropped for being more than `max_lag_ms` behind (see
//!    [`dropped`]).
//!
//! The rules read only the report, so the verdict a JSON report carries can
//! be checked against its own figures.
//!
//! Beside PASS and FAIL there is a third verdict, INCOMPLETE: a run with a
//! `--duration` that Ctrl-C or SIGTERM cut short ([`verdict`]). Its figures
//! may all be fine, but they cover less than was asked, so it must not read
//! as a PASS. A run that also broke a rule is a FAIL: what went wrong
//! matters more than how long it ran, and the report still says it was cut
//! short. startup's exit status follows the verdict ([`exit_code`]).

use super::{RunReport, Thresholds};

/// Why the load generator (this host's clients) could not keep its
/// schedule, or `None` if it could.
///
/// The rule: under a paced schedule (fixed rate or fixed delay), the
/// whole run's lateness p99 (due time to send) is above one interval: more
/// than 1% of the updates went out over a whole interval late, so the
/// clients, not the servers, set the pace, and the achieved rate measures
/// the machine that ran them. Closed loop has no schedule to miss.
///
/// Why not "more than 1% of sends late" (`late_sends`, over 1 ms late)
/// alone: on a shared two-core machine, scheduling jitter makes several
/// percent of sends a millisecond late while every update still goes out
/// well within its interval (7% late at a lateness p99 of 4.3 ms against
/// 10 ms, seen with compilers running beside a test). That is a noisy
/// machine, which the lateness figures show; a generator that cannot keep
/// up falls whole intervals behind.
pub(crate) fn saturation(r: &RunReport) -> Option<String> {
    if !saturated(&r.schedule, r.sent, r.interval_ms, r.lateness_us.p99) {
        return None;
    }
    let late_share = r.late_sends as f64 / r.sent as f64;
    Some(format!(
        "the load generator was saturated: lateness p99 {} against a {} ms interval, {:.1}% of sends late; \
         the achieved rate measures this machine, not the servers",
        show_us(r.lateness_us.p99),
        r.interval_ms,
        late_share * 100.0
    ))
}

/// The saturation rule itself, on the figures it reads: `sent` updates on a
/// `schedule` (`fixed-rate`, `fixed-delay`, `closed-loop`) of one update
/// per `interval_ms`, whose lateness p99 is `lateness_p99_us`.
///
/// Its one home: the report applies it to the whole run ([`saturation`]),
/// and the monitor to the run so far, each status round, so the status
/// line and the dashboard say `SATURATED` as soon as the verdict would.
pub(crate) fn saturated(schedule: &str, sent: u64, interval_ms: u64, lateness_p99_us: u64) -> bool {
    schedule != "closed-loop" && sent > 0 && lateness_p99_us > interval_ms.saturating_mul(1000)
}

/// Why ticks were dropped, or `None` if none was.
///
/// With `max_lag_ms` set, a fixed-rate link that falls more than that far
/// behind drops the ticks it cannot catch up on instead of sending them in
/// a burst (k6's dropped iterations). A dropped tick is an update the
/// schedule asked for and the servers never saw: the generator could not
/// keep up, a form of saturation, and the run fails even when the lateness
/// of what was sent stays within an interval.
pub(crate) fn dropped(r: &RunReport) -> Option<String> {
    (r.dropped > 0).then(|| {
        format!(
            "{} ticks dropped: the clients fell more than max_lag_ms ({} ms) behind their schedule",
            r.dropped, r.max_lag_ms
        )
    })
}

/// `stopped at 2.8 s of 30 s` for a run with a `--duration` that an
/// interrupt cut short; `None` for any other run.
pub(crate) fn cut_short(r: &RunReport) -> Option<String> {
    let planned = r.planned_s.filter(|_| r.interrupted)?;
    Some(format!(
        "stopped at {:.1} s of {} s",
        r.duration_s,
        show_s(planned)
    ))
}

/// The verdict: `fail` when any rule broke, else `incomplete` when the run
/// was cut short, else `pass`. Reads the reasons, so they come first.
pub(crate) fn verdict(r: &RunReport) -> &'static str {
    if !r.verdict_reasons.is_empty() {
        "fail"
    } else if cut_short(r).is_some() {
        "incomplete"
    } else {
        "pass"
    }
}

/// startup's exit status for the report's verdict: 0 PASS, 1 FAIL, 3
/// INCOMPLETE. (2 is a run that could not start: `cli::exit_on_error`.)
pub(crate) fn exit_code(r: &RunReport) -> i32 {
    match r.verdict.as_str() {
        "pass" => 0,
        "incomplete" => 3,
        _ => 1,
    }
}

/// Every reason this run fails; empty means PASS.
pub(crate) fn reasons(r: &RunReport, limits: &Thresholds) -> Vec<String> {
    let mut why = Vec::new();
    let v = &r.verify;
    if !v.ok {
        why.push(format!(
            "verification failed: {} mismatched, {} unverifiable, {} lost with restarted servers, {} unclaimed keys",
            v.mismatched_keys, v.unverifiable_keys, v.lost_keys, v.unclaimed_keys
        ));
    }
    for dead in &r.children_died {
        why.push(format!(
            "{} (pid {}) died: it {} at {:.1} s",
            dead.name, dead.pid, dead.status, dead.at_s
        ));
    }
    for s in &r.servers_never_reached {
        why.push(format!(
            "server {} was never reached by {} links ({})",
            s.server, s.links, s.reason
        ));
    }
    for s in &r.stopped_by_ops {
        why.push(format!(
            "{} was stopped by an operations stop from {} at {:.1} s",
            s.name, s.by, s.at_s
        ));
    }
    // A server never reached, or stopped by an operator, is named once,
    // not again as down at the end.
    let named = |server: &str| {
        r.servers_never_reached.iter().any(|u| u.server == server)
            || r.stopped_by_ops
                .iter()
                .any(|s| s.name.strip_prefix("server ") == Some(server))
    };
    for server in v.servers_down.iter().filter(|s| !named(s)) {
        why.push(format!("server {server} did not answer at the end"));
    }
    if r.clients > 0 && r.acked == 0 {
        why.push("no update was acked".into());
    }
    if r.duration_s > 0.0 && r.links_short_s > r.duration_s / 10.0 {
        why.push(format!(
            "fewer links than planned were up for {:.1} s of the {:.1} s window (more than a tenth)",
            r.links_short_s, r.duration_s
        ));
    }
    why.extend(saturation(r));
    why.extend(dropped(r));
    let breached = |limit: Option<u64>, value: u64| limit.filter(|&max| value > max);
    if let Some(min) = limits
        .min_rate
        .filter(|&min| r.target_ops_per_s > 0.0 && r.achieved_ratio < min)
    {
        why.push(format!(
            "threshold --min-rate {min}: achieved {:.4} of the target",
            r.achieved_ratio
        ));
    }
    if let Some(max) = breached(limits.max_p99_us, r.latency_us.p99) {
        why.push(format!(
            "threshold --max-p99 {}: latency p99 was {}",
            show_us(max),
            show_us(r.latency_us.p99)
        ));
    }
    if let Some(max) = breached(limits.max_late_p99_us, r.lateness_us.p99) {
        why.push(format!(
            "threshold --max-late-p99 {}: lateness p99 was {}",
            show_us(max),
            show_us(r.lateness_us.p99)
        ));
    }
    why
}

/// Whole seconds as `30`, others as `2.5`: `--duration` as it was given.
fn show_s(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

/// Microseconds as the report shows them: `850 us`, `12.3 ms`.
fn show_us(us: u64) -> String {
    if us < 1000 {
        format!("{us} us")
    } else {
        format!("{:.1} ms", us as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::report::{DeadChild, OpsStop, UnreachedServer};
    use crate::metrics::Percentiles;

    /// A clean 10-second run of 20 links at 10 ms.
    fn clean() -> RunReport {
        RunReport {
            schedule: "fixed-rate".into(),
            interval_ms: 10,
            clients: 10,
            links: 20,
            duration_s: 10.0,
            sent: 20_000,
            acked: 20_000,
            target_ops_per_s: 2000.0,
            achieved_ops_per_s: 2000.0,
            achieved_ratio: 1.0,
            latency_us: Percentiles {
                p99: 300,
                ..Percentiles::default()
            },
            lateness_us: Percentiles {
                p99: 200,
                ..Percentiles::default()
            },
            verify: crate::verify::Verify {
                ok: true,
                ..Default::default()
            },
            ..RunReport::default()
        }
    }

    #[test]
    fn a_clean_run_passes() {
        assert_eq!(
            reasons(&clean(), &Thresholds::default()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_rule_fails_with_a_reason_that_names_its_subject() {
        let fails = |edit: &dyn Fn(&mut RunReport)| {
            let mut r = clean();
            edit(&mut r);
            let why = reasons(&r, &Thresholds::default());
            assert_eq!(why.len(), 1, "{why:?}");
            why[0].clone()
        };
        assert!(fails(&|r| r.verify.ok = false).starts_with("verification failed"));
        assert!(
            fails(&|r| r.children_died.push(DeadChild {
                name: "client 7".into(),
                pid: 42,
                status: "was killed by signal 9".into(),
                at_s: 3.0,
            }))
            .contains("client 7 (pid 42) died")
        );
        let unreached = fails(&|r| {
            r.servers_never_reached.push(UnreachedServer {
                server: "127.0.0.2:18677".into(),
                links: 10,
                reason: "refused".into(),
            })
        });
        assert!(unreached.contains("127.0.0.2:18677") && unreached.contains("refused"));
        assert!(
            fails(&|r| r.verify.servers_down.push("127.0.0.1:18678".into()))
                .contains("127.0.0.1:18678 did not answer")
        );
        assert_eq!(
            fails(&|r| {
                r.acked = 0;
                r.sent = 0;
            }),
            "no update was acked"
        );
        assert!(fails(&|r| r.links_short_s = 1.5).contains("fewer links than planned"));
        let stopped = fails(&|r| {
            r.stopped_by_ops.push(OpsStop {
                name: "server 127.0.0.1:18678".into(),
                by: "127.0.0.1:51234".into(),
                at_s: 2.5,
            });
            // Down at the end too, but named once.
            r.verify.servers_down.push("127.0.0.1:18678".into());
        });
        assert_eq!(
            stopped,
            "server 127.0.0.1:18678 was stopped by an operations stop from 127.0.0.1:51234 at 2.5 s"
        );
        assert!(fails(&|r| r.lateness_us.p99 = 10_001).contains("saturated"));
        let dropped = fails(&|r| {
            r.dropped = 42;
            r.max_lag_ms = 250;
        });
        assert_eq!(
            dropped,
            "42 ticks dropped: the clients fell more than max_lag_ms (250 ms) behind their schedule"
        );
    }

    #[test]
    fn dropped_ticks_fail_even_when_what_was_sent_kept_its_schedule() {
        // The bound keeps lateness low by dropping what it cannot send:
        // lateness p99 within an interval, so not saturated by that rule,
        // and still a FAIL, for the updates the servers never saw.
        let mut r = clean();
        (r.dropped, r.max_lag_ms) = (1, 50);
        assert_eq!(saturation(&r), None);
        let why = reasons(&r, &Thresholds::default());
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].starts_with("1 ticks dropped:"), "{why:?}");
        assert!(why[0].contains("max_lag_ms (50 ms)"), "{why:?}");
        r.dropped = 0;
        assert_eq!(dropped(&r), None);
    }

    /// `r` judged as `assemble` judges it: the reasons, then the verdict.
    fn judged(mut r: RunReport) -> RunReport {
        r.verdict_reasons = reasons(&r, &Thresholds::default());
        r.verdict = verdict(&r).into();
        r
    }

    #[test]
    fn a_run_cut_short_is_incomplete_and_a_failing_one_still_fails() {
        let mut r = clean();
        r.planned_s = Some(30.0);
        r.duration_s = 2.8;
        let done = judged(r.clone());
        assert_eq!((done.verdict.as_str(), exit_code(&done)), ("pass", 0));
        assert_eq!(cut_short(&done), None, "not interrupted: the window ran");
        r.interrupted = true;
        let cut = judged(r.clone());
        assert_eq!((cut.verdict.as_str(), exit_code(&cut)), ("incomplete", 3));
        assert!(cut.verdict_reasons.is_empty(), "no rule broke");
        assert_eq!(cut_short(&cut).unwrap(), "stopped at 2.8 s of 30 s");
        r.verify.ok = false;
        let failed = judged(r.clone());
        assert_eq!((failed.verdict.as_str(), exit_code(&failed)), ("fail", 1));
        assert!(cut_short(&failed).is_some(), "and it still says so");
        // Without --duration, Ctrl-C is how a run ends: today's verdict.
        (r.verify.ok, r.planned_s) = (true, None);
        let open = judged(r);
        assert_eq!((open.verdict.as_str(), exit_code(&open)), ("pass", 0));
        assert_eq!(show_s(1.5), "1.5");
    }

    #[test]
    fn a_servers_only_host_acks_nothing_and_passes() {
        let mut r = clean();
        (r.clients, r.links, r.sent, r.acked, r.duration_s) = (0, 0, 0, 0, 0.0);
        assert!(reasons(&r, &Thresholds::default()).is_empty());
    }

    #[test]
    fn saturation_is_a_lateness_p99_above_one_interval() {
        let mut r = clean();
        assert_eq!(saturation(&r), None);
        r.lateness_us.p99 = 10_000; // exactly one interval: still keeping up
        assert_eq!(saturation(&r), None);
        // Jitter: many sends a millisecond late, none an interval late.
        r.late_sends = 1_400;
        r.lateness_us.p99 = 4_300;
        assert_eq!(saturation(&r), None);
        r.lateness_us.p99 = 276_000;
        let s = saturation(&r).unwrap();
        assert!(
            s.contains("276.0 ms") && s.contains("7.0% of sends late"),
            "{s}"
        );
        assert!(s.contains("this machine, not the servers"), "{s}");
        r.schedule = "closed-loop".into();
        assert_eq!(saturation(&r), None, "closed loop has no schedule to miss");
    }

    #[test]
    fn thresholds_fail_only_when_breached() {
        let r = clean();
        let limits = Thresholds {
            min_rate: Some(0.99),
            max_p99_us: Some(300),
            max_late_p99_us: Some(200),
        };
        assert!(reasons(&r, &limits).is_empty());
        let strict = Thresholds {
            min_rate: Some(1.01),
            max_p99_us: Some(299),
            max_late_p99_us: Some(199),
        };
        let why = reasons(&r, &strict);
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].contains("--min-rate 1.01"));
        assert!(why[1].contains("--max-p99 299 us") && why[1].contains("300 us"));
        assert!(why[2].contains("--max-late-p99 199 us"));
    }
}
