//! When a link sends its next update, and how it waits for that moment.
//!
//! Fixed rate is what a load tool must do (wrk2 calls it a constant
//! throughput model): the k-th update is due at `first + k * interval` no
//! matter how long earlier round trips took, so a slow ack makes the next
//! send *late*, and lateness is measured, instead of making every later send
//! silently later. The seed's fixed-delay loop (`send; wait ack; sleep`) is
//! kept for reproducing its numbers: its rate is `1 / (interval + rtt +
//! sleep overshoot)`, below the target by construction.
//!
//! Waiting uses `thread::park_timeout`, so a stop request can wake a sleeping
//! link at once (by `Thread::unpark`) instead of after up to one interval.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::Schedule;

/// Decides due times for one link.
#[derive(Debug)]
pub struct Pacer {
    kind: Schedule,
    interval: Duration,
    next_due: Instant,
}

impl Pacer {
    /// A pacer whose first update is due at `first_due`.
    pub fn new(kind: Schedule, interval: Duration, first_due: Instant) -> Pacer {
        Pacer {
            kind,
            interval,
            next_due: first_due,
        }
    }

    /// Waits until the next update is due and returns its due time, or
    /// `None` as soon as `stop` is set.
    pub fn wait(&mut self, stop: &AtomicBool) -> Option<Instant> {
        let due = match self.kind {
            Schedule::ClosedLoop => Instant::now(),
            Schedule::FixedRate | Schedule::FixedDelay => self.next_due,
        };
        if !sleep_until(due, stop) {
            return None;
        }
        if self.kind == Schedule::FixedRate {
            // Never skip a tick: a late one is sent now and the next stays on
            // the original grid, so the link catches up instead of drifting.
            self.next_due = due + self.interval;
        }
        Some(due)
    }

    /// Tells the pacer the update's round trip ended at `at`; the seed's
    /// fixed-delay loop counts its pause from here.
    pub fn completed(&mut self, at: Instant) {
        if self.kind == Schedule::FixedDelay {
            self.next_due = at + self.interval;
        }
    }

    /// Called when a link (re)connects at `at`. Ticks that fell while the
    /// link was down are not a backlog: there was no link to send them on,
    /// and sending them in a burst would show a rate above the target. Fixed
    /// rate moves to the first tick of its grid at or after `at` (keeping
    /// its phase, so links stay spread over the interval); fixed delay
    /// starts at once.
    pub fn restart(&mut self, at: Instant) {
        match self.kind {
            Schedule::FixedDelay => self.next_due = at,
            Schedule::FixedRate if self.next_due < at => {
                let behind = (at - self.next_due).as_nanos();
                let step = self.interval.as_nanos().max(1);
                let ticks = behind.div_ceil(step);
                self.next_due += self.interval * u32::try_from(ticks).unwrap_or(u32::MAX);
            }
            _ => {}
        }
    }
}

/// Sleeps until `deadline` unless `stop` is set first. Returns false if
/// stopped. Spurious wakeups of `park_timeout` just loop.
pub fn sleep_until(deadline: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Acquire) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::park_timeout(deadline - now);
    }
}

/// Waits until `start` is set (the client's go; the setter unparks every
/// link) and returns it, or `None` as soon as `stop` is set (the stopper
/// unparks too). An unpark that comes before the park is kept by the thread,
/// so none is missed; the timeout is only a backstop, and a long one: ten
/// thousand links waking ten times a second while a fleet connects cost
/// whole CPUs.
pub fn wait_for_start(start: &OnceLock<Instant>, stop: &AtomicBool) -> Option<Instant> {
    loop {
        if stop.load(Ordering::Acquire) {
            return None;
        }
        if let Some(&at) = start.get() {
            return Some(at);
        }
        thread::park_timeout(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn fixed_rate_keeps_the_grid_when_late() {
        let start = Instant::now() - Duration::from_millis(35);
        let mut p = Pacer::new(Schedule::FixedRate, Duration::from_millis(10), start);
        let stop = AtomicBool::new(false);
        // Four ticks are already due; each comes back at once, on the grid.
        for k in 0..4 {
            assert_eq!(p.wait(&stop), Some(start + Duration::from_millis(10 * k)));
        }
        // The fifth is in the future: the wait really waits.
        let fifth = p.wait(&stop).unwrap();
        assert_eq!(fifth, start + Duration::from_millis(40));
        assert!(Instant::now() >= fifth);
    }

    #[test]
    fn fixed_rate_skips_the_ticks_missed_while_disconnected() {
        let start = Instant::now() - Duration::from_millis(35);
        let mut p = Pacer::new(Schedule::FixedRate, Duration::from_millis(10), start);
        let stop = AtomicBool::new(false);
        assert_eq!(p.wait(&stop), Some(start));
        // Reconnected at start + 35 ms: the next tick is start + 40 ms, on
        // the same grid, not the three missed ones in a burst.
        p.restart(start + Duration::from_millis(35));
        assert_eq!(p.wait(&stop), Some(start + Duration::from_millis(40)));
        // A restart with no missed tick changes nothing.
        p.restart(start + Duration::from_millis(45));
        assert_eq!(p.wait(&stop), Some(start + Duration::from_millis(50)));
    }

    #[test]
    fn fixed_delay_counts_from_completion() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Schedule::FixedDelay, Duration::from_millis(5), t0);
        let stop = AtomicBool::new(false);
        assert_eq!(p.wait(&stop), Some(t0));
        let done = Instant::now() + Duration::from_millis(3);
        p.completed(done);
        assert_eq!(p.wait(&stop), Some(done + Duration::from_millis(5)));
    }

    #[test]
    fn the_start_releases_every_waiting_link_with_one_instant() {
        let start = Arc::new(OnceLock::new());
        let stop = Arc::new(AtomicBool::new(false));
        let links: Vec<_> = (0..3)
            .map(|_| {
                let (start, stop) = (start.clone(), stop.clone());
                thread::spawn(move || wait_for_start(&start, &stop))
            })
            .collect();
        let at = Instant::now();
        start.set(at).unwrap();
        for link in &links {
            link.thread().unpark();
        }
        for link in links {
            assert_eq!(link.join().unwrap(), Some(at));
        }
        // A stop releases a link that never got its start.
        let never = OnceLock::new();
        stop.store(true, Ordering::Release);
        assert_eq!(wait_for_start(&never, &stop), None);
    }

    #[test]
    fn stop_wakes_a_sleeper() {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let sleeper =
            thread::spawn(move || sleep_until(Instant::now() + Duration::from_secs(600), &s));
        stop.store(true, Ordering::Release);
        sleeper.thread().unpark();
        assert!(!sleeper.join().unwrap());
    }
}
