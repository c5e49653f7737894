//! The status rounds' points: when a round closes, its figures become one
//! [`Point`] for the run's [`Feed`](crate::launcher::record::Feed), which
//! keeps the whole run's series (the HTML report's charts) and, with
//! `--dashboard`, sends it to the page.
//!
//! A point is what the status line shows plus what a chart needs: the
//! round's latency p50 and lateness p99, the running totals, every child's
//! CPU and memory since the previous point (the resources' own marks for
//! points, apart from the CSV rows'), and startup's own CPU, which is what
//! watching the run costs. All of it is at hand on startup's main thread;
//! building a point reads no file but startup's own CPU time (one
//! `getrusage` on Linux).

use std::time::Instant;

use super::Monitor;
use super::resources::Reader;
use crate::launcher::record::{Point, Update};
use crate::launcher::status::Tick;
use crate::metrics::{Percentiles, Snapshot};
use crate::sys::procstat;

/// startup's own CPU time, read at each point.
pub(super) struct OwnCpu {
    last: Option<(Instant, f64)>,
}

impl OwnCpu {
    /// Starts counting from now.
    pub(super) fn new() -> OwnCpu {
        OwnCpu {
            last: procstat::own().map(|s| (Instant::now(), s.cpu_s)),
        }
    }

    /// startup's CPU since the previous call, percent of one core.
    fn percent(&mut self) -> f64 {
        let Some(now) = procstat::own().map(|s| (Instant::now(), s.cpu_s)) else {
            return 0.0;
        };
        let percent = match self.last {
            Some((t, cpu)) => {
                let span = now.0.duration_since(t).as_secs_f64();
                if span > 0.0 {
                    (now.1 - cpu).max(0.0) / span * 100.0
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some(now);
        percent
    }
}

impl Monitor<'_> {
    /// Records the round that `tick` closed, whose histograms are `round`.
    pub(super) fn record_point(&mut self, tick: &Tick, round: &Snapshot) {
        let usage = self.resources.since(Reader::Point);
        let totals = self.rounds.totals();
        let latency = (!round.latency.is_empty()).then(|| Percentiles::of(&round.latency));
        let lateness = (!round.lateness.is_empty()).then(|| Percentiles::of(&round.lateness));
        let point = Point {
            t_s: tick.elapsed.as_secs_f64(),
            rate: tick.rate,
            target: tick.target,
            latency_p50_us: latency.map(|p| p.p50),
            latency_p99_us: latency.map(|p| p.p99),
            lateness_p99_us: lateness.map(|p| p.p99),
            links_up: tick.links_up,
            links: tick.links,
            acked: totals.acked,
            late_sends: tick.late,
            errors: tick.errors,
            reconnects: tick.reconnects,
            dropped: tick.dropped,
            saturated: tick.saturated.is_some(),
            server_cpu_percent: usage.server_cpu_percent,
            client_cpu_percent: usage.client_cpu_percent,
            startup_cpu_percent: self.own_cpu.percent(),
            server_rss_mb: usage.server_rss_mb,
            client_rss_mb: usage.client_rss_mb,
            rounds: 1,
        };
        self.feed.send(Update::Point(Box::new(point)));
    }
}
