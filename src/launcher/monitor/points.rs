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
//! building a point reads no file but startup's own figures.
//!
//! Each point comes with a [`MetricsSample`] for `/metrics`: the run's
//! counters and its whole histograms counted into fixed buckets (one pass
//! over their non-empty counters), and every kind's CPU seconds and memory.
//! One more sample follows the clients' final reports, so a last scrape
//! sees the run's final counts.

use std::time::Instant;

use super::Monitor;
use super::resources::Reader;
use super::rounds::saturated_so_far;
use crate::launcher::record::{BOUNDS_US, ByKind, MetricsSample, Point, Update};
use crate::launcher::status::Tick;
use crate::metrics::{Cumulative, Percentiles, Snapshot};
use crate::sys::procstat;

/// startup's own CPU time and memory, read at each point.
pub(super) struct OwnCpu {
    last: Option<(Instant, procstat::Sample)>,
}

impl OwnCpu {
    /// Starts counting from now.
    pub(super) fn new() -> OwnCpu {
        OwnCpu {
            last: procstat::own().map(|s| (Instant::now(), s)),
        }
    }

    /// startup's CPU since the previous call, percent of one core.
    fn percent(&mut self) -> f64 {
        let Some(now) = procstat::own().map(|s| (Instant::now(), s)) else {
            return 0.0;
        };
        let percent = match self.last {
            Some((t, before)) => {
                let span = now.0.duration_since(t).as_secs_f64();
                if span > 0.0 {
                    (now.1.cpu_s - before.cpu_s).max(0.0) / span * 100.0
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some(now);
        percent
    }

    /// startup's CPU seconds and resident memory at the latest call.
    fn latest(&self) -> (f64, u64) {
        self.last.map_or((0.0, 0), |(_, s)| (s.cpu_s, s.rss_bytes))
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
        // The sample first: whoever sees the point finds its figures on
        // `/metrics` too. Built only for a live copy: the record itself
        // (the HTML report) has no use for it.
        if self.feed.is_live() {
            let sample = self.metrics_sample(tick.rate, tick.links_up, tick.saturated.is_some());
            self.feed.send(Update::Metrics(Box::new(sample)));
        }
        self.feed.send(Update::Point(Box::new(point)));
    }

    /// The last sample for `/metrics`, once the clients have handed in
    /// their final reports: the counters end at the report's figures, and
    /// the rate is 0 (no client runs).
    pub(super) fn record_final_metrics(&mut self) {
        if !self.feed.is_live() {
            return;
        }
        self.own_cpu.percent(); // reads startup's figures afresh
        let totals = self.rounds.totals();
        let saturated = saturated_so_far(&self.options.config, totals.sent, &self.total);
        let sample = self.metrics_sample(0.0, totals.links_up, saturated.is_some());
        self.feed.send(Update::Metrics(Box::new(sample)));
    }

    /// The run's figures for `/metrics` as of now, with the round's `rate`,
    /// `links_up` and saturation (startup's own figures as of its latest
    /// reading).
    fn metrics_sample(&self, rate: f64, links_up: u64, saturated: bool) -> MetricsSample {
        let t = self.rounds.run_totals();
        let (cpu, rss) = self.resources.cumulative();
        let (own_cpu_s, own_rss) = self.own_cpu.latest();
        MetricsSample {
            rate,
            links_up,
            saturated,
            sent: t.sent,
            acked: t.acked,
            late: t.late,
            dropped: t.dropped,
            reconnects: t.reconnects,
            errors: t.error_kinds,
            latency: Cumulative::of(&self.total.latency, &BOUNDS_US),
            lateness: Cumulative::of(&self.total.lateness, &BOUNDS_US),
            cpu_s: ByKind {
                startup: own_cpu_s,
                ..cpu
            },
            rss_bytes: ByKind {
                startup: own_rss,
                ..rss
            },
        }
    }
}
