//! The run's figures over time: one [`Point`] per status round, kept for
//! the whole run in at most [`MAX_POINTS`] points, so a 3-hour soak's shape
//! fits in a chart (and in the HTML report) as well as a 30-second run's.
//!
//! [`History`] halves its resolution when it fills: every two stored points
//! become one, and from then on each stored point covers twice as many
//! rounds. A point that stands for several rounds keeps what a soak is
//! watched for: the worst latency and lateness p99 and the fewest links up
//! of the rounds it covers (a spike never averages away), the mean of the
//! rates and CPU, the most memory, and the running totals at its end; it
//! is saturated if any of them was.
//!
//! Plain data and arithmetic: startup's main thread fills one (the run's
//! record), and the dashboard's thread another from the same points.

use serde::{Deserialize, Serialize};

/// The most points a [`History`] keeps; past it, resolution halves.
pub(crate) const MAX_POINTS: usize = 2_000;

/// The run's figures as of one status round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Point {
    /// Seconds since the go (the run's clock), at the round's close.
    pub(crate) t_s: f64,
    /// Acked updates per second, as of the round's answers.
    pub(crate) rate: f64,
    /// The schedule's target rate.
    pub(crate) target: f64,
    /// Latency (send to ack) p50 over the round, us; `None` when no
    /// update was recorded.
    pub(crate) latency_p50_us: Option<u64>,
    /// Latency p99 over the round, us.
    pub(crate) latency_p99_us: Option<u64>,
    /// Lateness (due to send) p99 over the round, us.
    pub(crate) lateness_p99_us: Option<u64>,
    /// Links connected.
    pub(crate) links_up: u64,
    /// Links in all.
    pub(crate) links: u64,
    /// Updates acked so far.
    pub(crate) acked: u64,
    /// Late sends so far.
    pub(crate) late_sends: u64,
    /// Errors so far.
    pub(crate) errors: u64,
    /// Reconnects so far.
    pub(crate) reconnects: u64,
    /// Ticks dropped so far for being more than `max_lag_ms` behind.
    #[serde(default)]
    pub(crate) dropped: u64,
    /// The run so far broke the saturation rule (lateness p99 above one
    /// interval) as of this round: the dashboard then says `SATURATED`.
    #[serde(default)]
    pub(crate) saturated: bool,
    /// All servers' CPU since the previous point, percent of one core.
    pub(crate) server_cpu_percent: f64,
    /// All clients' CPU since the previous point, percent of one core.
    pub(crate) client_cpu_percent: f64,
    /// startup's own CPU since the previous point, percent of one core:
    /// what watching the run costs, the dashboard included.
    pub(crate) startup_cpu_percent: f64,
    /// All servers' resident memory, MB.
    pub(crate) server_rss_mb: f64,
    /// All clients' resident memory, MB.
    pub(crate) client_rss_mb: f64,
    /// Rounds this point stands for (1 until the history halves).
    #[serde(skip)]
    pub(crate) rounds: u32,
}

impl Point {
    /// The point as the page shows it: rates and CPU to 0.1, memory to
    /// 0.01 MB (shorter JSON; no figure claims more than a sample has).
    pub(crate) fn rounded(&self) -> Point {
        Point {
            t_s: round_to(self.t_s, 10.0),
            rate: round_to(self.rate, 10.0),
            server_cpu_percent: round_to(self.server_cpu_percent, 10.0),
            client_cpu_percent: round_to(self.client_cpu_percent, 10.0),
            startup_cpu_percent: round_to(self.startup_cpu_percent, 100.0),
            server_rss_mb: round_to(self.server_rss_mb, 100.0),
            client_rss_mb: round_to(self.client_rss_mb, 100.0),
            ..self.clone()
        }
    }

    /// Folds `later` (the next rounds) into this point; see the module
    /// documentation for what each figure keeps.
    fn absorb(&mut self, later: &Point) {
        let (a, b) = (
            f64::from(self.rounds.max(1)),
            f64::from(later.rounds.max(1)),
        );
        let mean = |x: f64, y: f64| (x * a + y * b) / (a + b);
        let worst = |x: Option<u64>, y: Option<u64>| x.max(y);
        self.rate = mean(self.rate, later.rate);
        self.server_cpu_percent = mean(self.server_cpu_percent, later.server_cpu_percent);
        self.client_cpu_percent = mean(self.client_cpu_percent, later.client_cpu_percent);
        self.startup_cpu_percent = mean(self.startup_cpu_percent, later.startup_cpu_percent);
        // p50 has no "worst": the mean of the rounds' medians.
        self.latency_p50_us = match (self.latency_p50_us, later.latency_p50_us) {
            (Some(x), Some(y)) => Some(mean(x as f64, y as f64).round() as u64),
            (x, y) => x.or(y),
        };
        self.latency_p99_us = worst(self.latency_p99_us, later.latency_p99_us);
        self.lateness_p99_us = worst(self.lateness_p99_us, later.lateness_p99_us);
        self.links_up = self.links_up.min(later.links_up);
        self.server_rss_mb = self.server_rss_mb.max(later.server_rss_mb);
        self.client_rss_mb = self.client_rss_mb.max(later.client_rss_mb);
        // Running totals and the clock: as of the later rounds' end.
        self.t_s = later.t_s;
        self.target = later.target;
        self.links = later.links;
        self.acked = later.acked;
        self.late_sends = later.late_sends;
        self.errors = later.errors;
        self.reconnects = later.reconnects;
        self.dropped = later.dropped;
        self.saturated |= later.saturated;
        self.rounds = self.rounds.max(1) + later.rounds.max(1);
    }
}

/// The whole run's points, at most [`MAX_POINTS`] of them.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    /// Stored points, each covering `per_point` rounds.
    points: Vec<Point>,
    /// Rounds per stored point: 1, then 2, 4, ... after each halving.
    per_point: u32,
    /// Rounds not yet making a whole stored point (fewer than
    /// `per_point`), shown as the last point so the chart reaches now.
    pending: Option<Point>,
}

impl History {
    /// Adds one round's point.
    pub(crate) fn push(&mut self, mut point: Point) {
        point.rounds = 1;
        self.per_point = self.per_point.max(1);
        let pending = match self.pending.take() {
            Some(mut p) => {
                p.absorb(&point);
                p
            }
            None => point,
        };
        if pending.rounds < self.per_point {
            self.pending = Some(pending);
            return;
        }
        self.points.push(pending);
        if self.points.len() >= MAX_POINTS {
            self.halve();
        }
    }

    /// Every two stored points become one (an odd last one waits as the
    /// pending point), and each point from now on covers twice the rounds.
    fn halve(&mut self) {
        let old = std::mem::take(&mut self.points);
        let mut pairs = old.chunks_exact(2);
        for pair in &mut pairs {
            let mut p = pair[0].clone();
            p.absorb(&pair[1]);
            self.points.push(p);
        }
        self.per_point *= 2;
        if let [odd] = pairs.remainder() {
            self.pending = Some(odd.clone());
        }
    }

    /// The points to draw: the stored ones, then the pending one.
    pub(crate) fn points(&self) -> impl Iterator<Item = &Point> {
        self.points.iter().chain(self.pending.as_ref())
    }

    /// Rounds per stored point (1 until the history first halves).
    pub(crate) fn rounds_per_point(&self) -> u32 {
        self.per_point.max(1)
    }

    /// The points as columns, one array per figure, as charts take them.
    pub(crate) fn columns(&self) -> Columns {
        let mut c = Columns {
            rounds_per_point: self.rounds_per_point(),
            ..Columns::default()
        };
        for p in self.points().map(Point::rounded) {
            c.t_s.push(p.t_s);
            c.rate.push(p.rate);
            c.target.push(p.target);
            c.latency_p50_us.push(p.latency_p50_us);
            c.latency_p99_us.push(p.latency_p99_us);
            c.lateness_p99_us.push(p.lateness_p99_us);
            c.links_up.push(p.links_up);
            c.late_sends.push(p.late_sends);
            c.errors.push(p.errors);
            c.reconnects.push(p.reconnects);
            c.dropped.push(p.dropped);
            c.server_cpu_percent.push(p.server_cpu_percent);
            c.client_cpu_percent.push(p.client_cpu_percent);
            c.startup_cpu_percent.push(p.startup_cpu_percent);
            c.server_rss_mb.push(p.server_rss_mb);
            c.client_rss_mb.push(p.client_rss_mb);
        }
        c
    }
}

/// `x` to `1 / per` (10: one decimal): shorter JSON, and no figure on the
/// page claims more precision than a sample has.
fn round_to(x: f64, per: f64) -> f64 {
    (x * per).round() / per
}

/// A [`History`] as columns: `t_s[i]` is the time of every other
/// column's `[i]`. Each figure is as in [`Point`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[allow(missing_docs)] // each column is the Point field of its name
pub(crate) struct Columns {
    /// Rounds each point stands for: 1, then 2, 4, ... as the run grows.
    pub(crate) rounds_per_point: u32,
    pub(crate) t_s: Vec<f64>,
    pub(crate) rate: Vec<f64>,
    pub(crate) target: Vec<f64>,
    pub(crate) latency_p50_us: Vec<Option<u64>>,
    pub(crate) latency_p99_us: Vec<Option<u64>>,
    pub(crate) lateness_p99_us: Vec<Option<u64>>,
    pub(crate) links_up: Vec<u64>,
    pub(crate) late_sends: Vec<u64>,
    pub(crate) errors: Vec<u64>,
    pub(crate) reconnects: Vec<u64>,
    #[serde(default)]
    pub(crate) dropped: Vec<u64>,
    pub(crate) server_cpu_percent: Vec<f64>,
    pub(crate) client_cpu_percent: Vec<f64>,
    pub(crate) startup_cpu_percent: Vec<f64>,
    pub(crate) server_rss_mb: Vec<f64>,
    pub(crate) client_rss_mb: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, p99: u64, links_up: u64) -> Point {
        Point {
            t_s: t,
            rate: t,
            latency_p99_us: Some(p99),
            links_up,
            acked: t as u64 * 10,
            server_rss_mb: t,
            ..Point::default()
        }
    }

    #[test]
    fn a_long_run_keeps_its_whole_shape_in_bounded_points() {
        let mut h = History::default();
        // A 3-hour soak at one round a second, with one spike and one dip.
        let rounds = 3 * 3600;
        for i in 1..=rounds {
            let p99 = if i == 5_000 { 900_000 } else { 400 };
            let up = if i == 7_777 { 990 } else { 1000 };
            h.push(at(f64::from(i), p99, up));
        }
        let points: Vec<&Point> = h.points().collect();
        assert!(points.len() <= MAX_POINTS, "{}", points.len());
        assert!(points.len() > MAX_POINTS / 4, "{}", points.len());
        // The whole run: from its first seconds to its last round.
        assert!(points[0].t_s < 20.0, "{}", points[0].t_s);
        assert_eq!(points.last().unwrap().t_s, f64::from(rounds));
        assert_eq!(points.last().unwrap().acked, u64::from(rounds) * 10);
        // The spike and the dip survive every halving, exactly once.
        let spikes = points
            .iter()
            .filter(|p| p.latency_p99_us == Some(900_000))
            .count();
        assert_eq!(spikes, 1);
        assert_eq!(points.iter().filter(|p| p.links_up == 990).count(), 1);
        // Every round is counted once: the points' rounds add up.
        let covered: u32 = points.iter().map(|p| p.rounds).sum();
        assert_eq!(covered, rounds);
        // Time only goes forward.
        assert!(points.windows(2).all(|w| w[0].t_s < w[1].t_s));
    }

    #[test]
    fn a_merged_point_means_rates_and_keeps_the_worst() {
        let mut a = at(1.0, 100, 10);
        a.rounds = 1;
        a.latency_p50_us = Some(10);
        let mut b = at(3.0, 50, 8);
        b.rounds = 3;
        b.latency_p50_us = None;
        a.absorb(&b);
        assert_eq!(a.rate, (1.0 + 3.0 * 3.0) / 4.0);
        assert_eq!((a.latency_p99_us, a.latency_p50_us), (Some(100), Some(10)));
        assert_eq!((a.links_up, a.t_s, a.rounds), (8, 3.0, 4));
        assert_eq!(a.server_rss_mb, 3.0);
    }

    #[test]
    fn columns_line_up_with_time() {
        let mut h = History::default();
        for i in 1..=5 {
            h.push(at(f64::from(i), 7, 1));
        }
        let c = h.columns();
        assert_eq!(c.t_s, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(c.latency_p99_us.len(), 5);
        assert_eq!(c.rounds_per_point, 1);
    }
}
