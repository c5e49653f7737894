//! The search's arithmetic, apart from the runs: which interval to try
//! next, when the answer is close enough, and the interval that gives a
//! share of a capacity. Pure, so its tests need no process.
//!
//! The search bisects on `update_intervals` (whole milliseconds, as the
//! config takes it) between the fastest interval known to fail and the
//! slowest known to hold. A short run on a shared machine is noisy, so a
//! failure also overturns every hold at the same or a faster interval (the
//! search stays on the safe side), and the answer is run a second time
//! before it is given: it must hold twice.

use std::collections::BTreeMap;

/// The search's state: what failed, what held.
#[derive(Debug, Clone)]
pub(crate) struct Bisection {
    /// The slowest interval that failed, or the assumed one just faster
    /// than the closed-loop ceiling (0: nothing faster can be asked).
    fails_at: u64,
    /// Intervals that held, slower than `fails_at`, with how many times.
    holds: BTreeMap<u64, u32>,
    /// The first slow interval to try, expected to hold.
    slow: u64,
    /// The slowest interval the search will ask for.
    slowest: u64,
}

/// The first slow guess is never faster than this. A small layout's
/// closed loop is bound by round trips, not CPU, so its ceiling's interval
/// is a millisecond or two, and four times that is still within a busy
/// machine's timer jitter: seen on this project's 2-vCPU machine, 2 links
/// at 10 ms had a lateness p99 of 20 ms at 1% CPU with tests beside them.
/// At 50 ms half an interval is 25 ms, which such a machine keeps.
pub(crate) const SLOW_FLOOR_MS: u64 = 50;

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Run at this interval.
    Try(u64),
    /// The answer: this interval held twice, and the next faster one that
    /// the resolution allows failed (or is assumed to).
    Found(u64),
    /// Nothing held, even at the slowest interval the search asks for.
    NothingHolds,
}

/// How close a failing and a holding interval must be for the answer:
/// next to each other, or within 3% (whole milliseconds at 100 ms and
/// more are finer than a short run can tell apart).
fn close_enough(fails_at: u64, holds_at: u64) -> bool {
    holds_at <= fails_at + 1 || (holds_at - fails_at) * 100 <= fails_at * 3
}

impl Bisection {
    /// A search that starts below a closed-loop ceiling whose interval is
    /// `ceiling` ms (`links x 1000 / ceiling rate`, rounded up): that
    /// interval may hold, the next faster one is assumed not to. The first
    /// interval tried is four times slower, and at least [`SLOW_FLOOR_MS`];
    /// none is slower than `slowest`.
    pub(crate) fn below(ceiling: u64, slowest: u64) -> Bisection {
        let ceiling = ceiling.max(1);
        let slowest = slowest.max(ceiling);
        Bisection {
            fails_at: ceiling - 1,
            holds: BTreeMap::new(),
            slow: (ceiling * 4).max(SLOW_FLOOR_MS).min(slowest),
            slowest,
        }
    }

    /// Takes in the run at `interval`: it `held` or not.
    pub(crate) fn record(&mut self, interval: u64, held: bool) {
        if held {
            *self.holds.entry(interval).or_insert(0) += 1;
        } else {
            self.fails_at = self.fails_at.max(interval);
            // Holds at this interval or faster are overturned: the machine
            // just missed a rate no higher than theirs.
            self.holds.retain(|&at, _| at > interval);
        }
    }

    /// What to run next, or the answer.
    pub(crate) fn next(&self) -> Next {
        let Some((&holds_at, &times)) = self.holds.iter().next() else {
            // Nothing holds yet: slower, doubling from the first guess.
            let at = if self.fails_at < self.slow {
                self.slow
            } else {
                self.fails_at.saturating_mul(2)
            };
            return if self.fails_at >= self.slowest {
                Next::NothingHolds
            } else {
                Next::Try(at.min(self.slowest))
            };
        };
        if !close_enough(self.fails_at, holds_at) {
            Next::Try((self.fails_at + holds_at) / 2)
        } else if times >= 2 {
            Next::Found(holds_at)
        } else {
            Next::Try(holds_at)
        }
    }

    /// The fastest interval that holds so far, if any (the answer when
    /// the budget ends the search first).
    pub(crate) fn best(&self) -> Option<u64> {
        self.holds.keys().next().copied()
    }
}

/// The interval (whole ms, rounded up, so the rate stays at or below the
/// share) at which `links` links make `share` of `capacity` updates/s.
pub(crate) fn interval_for_share(links: u64, capacity_per_s: f64, share: f64) -> u64 {
    let wanted = capacity_per_s * share;
    if wanted <= 0.0 || !wanted.is_finite() {
        return u64::MAX;
    }
    let exact = links as f64 * 1000.0 / wanted;
    // A hair under a whole number is float noise, not a need for the next ms.
    let rounded = (exact - 1e-9).ceil();
    (rounded as u64).max(1)
}

/// Updates per second `links` links make at `interval` ms.
pub(crate) fn rate(links: u64, interval: u64) -> f64 {
    links as f64 * 1000.0 / interval.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a machine that holds every interval at or
    /// above `holds_from`: the intervals tried, and the end.
    fn against(mut b: Bisection, holds_from: u64) -> (Vec<u64>, Next) {
        let mut tried = Vec::new();
        for _ in 0..50 {
            match b.next() {
                Next::Try(at) => {
                    tried.push(at);
                    b.record(at, at >= holds_from);
                }
                end => return (tried, end),
            }
        }
        panic!("no end after 50 steps: {tried:?}");
    }

    #[test]
    fn it_finds_the_fastest_interval_that_holds_and_runs_it_twice() {
        // Ceiling at 5 ms: the slow guess, 50 ms, holds; bisect 4..50.
        let (tried, end) = against(Bisection::below(5, 500), 13);
        assert_eq!(end, Next::Found(13));
        assert_eq!(tried, [50, 27, 15, 9, 12, 13, 13]);
        // A big layout's ceiling: four times it.
        let (tried, _) = against(Bisection::below(20, 500), 30);
        assert_eq!(tried[0], 80);
    }

    #[test]
    fn the_ceiling_itself_may_hold() {
        // A latency-bound closed loop: its own interval holds.
        let (tried, end) = against(Bisection::below(3, 500), 1);
        assert_eq!(end, Next::Found(3));
        assert_eq!(tried, [50, 26, 14, 8, 5, 3, 3]);
        // At 1 ms nothing faster can be asked.
        let (_, end) = against(Bisection::below(1, 500), 1);
        assert_eq!(end, Next::Found(1));
    }

    #[test]
    fn when_the_slow_guess_fails_it_doubles_up_to_the_slowest() {
        // Within 3% is the answer: 71 ms when 70 would hold.
        let (tried, end) = against(Bisection::below(5, 500), 70);
        assert_eq!(end, Next::Found(71));
        assert_eq!(&tried[..2], [50, 100]);
        let (tried, end) = against(Bisection::below(5, 180), 1_000);
        assert_eq!(end, Next::NothingHolds);
        assert_eq!(tried, [50, 100, 180]);
    }

    #[test]
    fn a_failure_overturns_slower_holds_and_the_confirmation_counts() {
        let mut b = Bisection::below(10, 1_000);
        b.record(40, true);
        b.record(25, true);
        assert_eq!(b.best(), Some(25));
        // Noise: 30 fails after 40 and 25 held; only 40 survives.
        b.record(30, false);
        assert_eq!(b.best(), Some(40));
        assert_eq!(b.next(), Next::Try(35));
        // The answer's confirmation fails: the search moves slower.
        let mut b = Bisection::below(10, 1_000);
        b.record(40, true);
        for at in [24, 16, 20, 22, 23] {
            b.record(at, at >= 23);
        }
        assert_eq!(b.next(), Next::Try(23), "confirm 23 before answering");
        b.record(23, false);
        assert_eq!(b.next(), Next::Try(24));
    }

    #[test]
    fn three_percent_is_close_enough_at_slow_intervals() {
        assert!(close_enough(4, 5));
        assert!(!close_enough(4, 6));
        assert!(close_enough(100, 103));
        assert!(!close_enough(100, 104));
        assert!(close_enough(0, 1));
    }

    #[test]
    fn the_interval_for_a_share_rounds_up_to_whole_ms() {
        // 300 links, capacity 12,500/s (24 ms): 70% is 8,750/s, 34.29 ms.
        assert_eq!(interval_for_share(300, 12_500.0, 0.70), 35);
        assert!(rate(300, 35) <= 8_750.0);
        // Exact: 1,000 links at 50% of 100,000/s is 20 ms, not 21.
        assert_eq!(interval_for_share(1_000, 100_000.0, 0.5), 20);
        // Never below 1 ms, and a zero capacity asks for no rate.
        assert_eq!(interval_for_share(2, 1e9, 1.0), 1);
        assert_eq!(interval_for_share(2, 0.0, 0.5), u64::MAX);
        assert_eq!(rate(300, 24), 12_500.0);
    }
}
