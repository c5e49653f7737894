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
//! Under startup a client's schedule runs in a [`Window`] that startup picks
//! for the whole fleet: a start a moment in the future, so that telling a
//! thousand clients and waking ten thousand threads is over before anything
//! is measured, and an end, at which each link stops after its own last
//! update instead of being woken by a stop: a thousand clients stopping one
//! after another would otherwise load the CPU while the rest still measure.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Schedule;
use crate::wire::control::Control;

/// When a client's links send: from `start`, and before `end` if there is
/// one (no update is due at or after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When the schedule starts; each link's first update is due at an
    /// offset from it.
    pub start: Instant,
    /// The end of the run, if known in advance.
    pub end: Option<Instant>,
}

impl Window {
    /// A window that starts now and has no set end.
    pub fn now() -> Window {
        Window {
            start: Instant::now(),
            end: None,
        }
    }

    /// How long the window has run at `now`: no less than zero, and no more
    /// than its length once it has ended.
    pub(crate) fn elapsed(&self, now: Instant) -> Duration {
        let until = self.end.map_or(now, |end| now.min(end));
        until.saturating_duration_since(self.start)
    }

    /// True once `now` is at or past the end.
    pub fn is_over(&self, now: Instant) -> bool {
        self.end.is_some_and(|end| now >= end)
    }

    /// The `go` line that gives another process this window. Only the start
    /// goes through the wall clock; the end is the start plus the window's
    /// exact length, so every client sees the same number of ticks in it.
    pub fn to_go(&self) -> Control {
        let start = unix_micros(self.start);
        let end = self.end.map(|end| {
            let length = end.saturating_duration_since(self.start).as_micros();
            u64::try_from(u128::from(start).saturating_add(length)).unwrap_or(u64::MAX)
        });
        Control::Go {
            start_us: Some(start),
            end_us: end,
        }
    }

    /// The window of a `go` line's times: `start_us` `None` starts now, an
    /// end comes after the start by exactly their difference.
    pub(crate) fn from_go(start_us: Option<u64>, end_us: Option<u64>) -> Window {
        let start = start_us.map_or_else(Instant::now, from_unix_micros);
        let end = match (start_us, end_us) {
            (Some(s), Some(e)) => Some(start + Duration::from_micros(e.saturating_sub(s))),
            _ => None,
        };
        Window { start, end }
    }
}

/// `at` as microseconds since the Unix epoch on the wall clock.
pub fn unix_micros(at: Instant) -> u64 {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let wall_at = if at >= now {
        wall + (at - now)
    } else {
        wall - (now - at)
    };
    let since_epoch = wall_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX)
}

/// The `Instant` of a wall-clock time given as microseconds since the Unix
/// epoch (now, for a time too far back to be one).
pub fn from_unix_micros(micros: u64) -> Instant {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let wall_at = UNIX_EPOCH + Duration::from_micros(micros);
    match wall_at.duration_since(wall) {
        Ok(ahead) => now + ahead,
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    }
}

/// Where a link sits among its host's links: link `j` of the `links` of
/// client `id`, one of the `clients` on the host. Every engine places its
/// links the same way, so their first updates and first connects are
/// spread over the host alike.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    /// The client's index on the host.
    pub id: u32,
    /// Clients on the host.
    pub clients: u32,
    /// Links of each client.
    pub links: usize,
    /// The link's index in its client.
    pub j: usize,
}

impl Place {
    /// How long after the start this link sends its first update: the
    /// host's links spread evenly over one `interval`, so they do not all
    /// fire on one tick.
    pub fn stagger(&self, interval: Duration) -> Duration {
        let slots = (u64::from(self.clients.max(1)) * self.links as u64).max(1);
        let slot = (u64::from(self.id) * self.links as u64 + self.j as u64) % slots;
        interval.mul_f64(slot as f64 / slots as f64)
    }

    /// How long after its client starts this link makes its first connect,
    /// so the host's links come up `connect_rate` per second (0: at once).
    ///
    /// The host's order interleaves the clients (every client's first link,
    /// then every client's second...), so each client connects at its share
    /// of the rate and all of them come up together: a client spawned a
    /// little later only shifts its own links, it never adds a burst.
    pub fn ramp(&self, connect_rate: u32) -> Duration {
        if connect_rate == 0 {
            return Duration::ZERO;
        }
        let ordinal = self.j as u64 * u64::from(self.clients.max(1)) + u64::from(self.id);
        Duration::from_secs_f64(ordinal as f64 / f64::from(connect_rate))
    }
}

/// Decides due times for one link.
#[derive(Debug)]
pub(crate) struct Pacer {
    kind: Schedule,
    interval: Duration,
    next_due: Instant,
    end: Option<Instant>,
    /// Fixed rate: ticks more than this far behind are dropped, not sent
    /// (`max_lag_ms`; `None` catches up on the whole backlog).
    max_lag: Option<Duration>,
    /// Ticks dropped since [`Pacer::take_dropped`] last asked.
    dropped: u64,
}

impl Pacer {
    /// A pacer whose first update is due at `first_due`, and none at or
    /// after `end`.
    pub(crate) fn new(
        kind: Schedule,
        interval: Duration,
        first_due: Instant,
        end: Option<Instant>,
    ) -> Pacer {
        Pacer {
            kind,
            interval,
            next_due: first_due,
            end,
            max_lag: None,
            dropped: 0,
        }
    }

    /// Bounds a fixed-rate backlog: a tick more than `max_lag` behind when
    /// its turn comes is dropped and counted, as a load tool drops an
    /// iteration it cannot start on time (k6's dropped iterations), so a
    /// saturated run keeps its rate steady instead of coming in waves. The
    /// newest tick due by then is always sent, so a bound below one
    /// interval acts as one interval.
    pub(crate) fn with_max_lag(mut self, max_lag: Option<Duration>) -> Pacer {
        self.max_lag = max_lag;
        self
    }

    /// Waits until the next update is due and returns its due time, or
    /// `None` as soon as `stop` is set, or at once if the next update would
    /// be due at or after the end (so a link stops right after its last
    /// update, not at the end itself when every other link does too). The
    /// tests' shorthand for what a link thread does with [`Pacer::next_due`],
    /// [`sleep_until`] and [`Pacer::take`].
    #[cfg(test)]
    fn wait(&mut self, stop: &AtomicBool) -> Option<Instant> {
        let due = self.next_due()?;
        if !sleep_until(due, stop) {
            return None;
        }
        self.take(due, Instant::now())
    }

    /// The next update's due time without waiting for it (closed loop: now),
    /// or `None` when it would be due at or after the end. The caller waits
    /// its own way (a thread parks, an event loop keeps a timer heap, an
    /// async task awaits `sleep_until`), then calls [`Pacer::take`].
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let due = match self.kind {
            Schedule::ClosedLoop => Instant::now(),
            Schedule::FixedRate | Schedule::FixedDelay => self.next_due,
        };
        if self.end.is_some_and(|end| due >= end) {
            return None;
        }
        Some(due)
    }

    /// Takes the update due at `due` (from [`Pacer::next_due`]) for sending
    /// at `now`, and returns its due time: `due`, or under a lag bound the
    /// first tick not dropped; `None` (send nothing) once `now` is at or
    /// past the end.
    pub(crate) fn take(&mut self, due: Instant, now: Instant) -> Option<Instant> {
        // A link running behind sends nothing after the end either: the run
        // counts what was sent inside its window, over the window's length.
        if self.end.is_some_and(|end| now >= end) {
            return None;
        }
        let mut due = due;
        if self.kind == Schedule::FixedRate {
            due += self.interval * self.drop_behind(due, now);
            // A late tick is sent now and the next stays on the original
            // grid, so the link catches up instead of drifting.
            self.next_due = due + self.interval;
        }
        Some(due)
    }

    /// How many ticks from `due` on are more than the lag bound behind at
    /// `now` (none without a bound), short of the newest one due by `now`;
    /// counted as dropped.
    fn drop_behind(&mut self, due: Instant, now: Instant) -> u32 {
        let Some(max_lag) = self.max_lag else {
            return 0;
        };
        let behind = now.saturating_duration_since(due);
        if behind <= max_lag {
            return 0;
        }
        let step = self.interval.as_nanos().max(1);
        let beyond = (behind - max_lag).as_nanos().div_ceil(step);
        let newest = behind.as_nanos() / step;
        let ticks = u32::try_from(beyond.min(newest)).unwrap_or(u32::MAX);
        self.dropped += u64::from(ticks);
        ticks
    }

    /// The ticks dropped since the last call.
    pub(crate) fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// Tells the pacer the update's round trip ended at `at`; the seed's
    /// fixed-delay loop counts its pause from here.
    pub(crate) fn completed(&mut self, at: Instant) {
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
    pub(crate) fn restart(&mut self, at: Instant) {
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
pub(crate) fn sleep_until(deadline: Instant, stop: &AtomicBool) -> bool {
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

/// Waits until `window` is set (the client's go; the setter unparks every
/// link) and returns it, or `None` as soon as `stop` is set (the stopper
/// unparks too). An unpark that comes before the park is kept by the thread,
/// so none is missed; the timeout is only a backstop, and a long one: ten
/// thousand links waking ten times a second while a fleet connects cost
/// whole CPUs.
pub(crate) fn wait_for_start(window: &OnceLock<Window>, stop: &AtomicBool) -> Option<Window> {
    loop {
        if stop.load(Ordering::Acquire) {
            return None;
        }
        if let Some(&window) = window.get() {
            return Some(window);
        }
        thread::park_timeout(Duration::from_secs(5));
    }
}

/// Parks until `stop` is set (the stopper unparks).
pub(crate) fn wait_for_stop(stop: &AtomicBool) {
    while sleep_until(Instant::now() + Duration::from_secs(5), stop) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_ramp_brings_a_hosts_links_up_one_per_slot_with_the_clients_interleaved() {
        // 4 clients x 3 links at 100 links/s: the host's 12 first connects
        // take one slot of 10 ms each, clients interleaved.
        let at = |id, j| {
            Place {
                id,
                clients: 4,
                links: 3,
                j,
            }
            .ramp(100)
        };
        let mut all: Vec<Duration> = (0..4)
            .flat_map(|id| (0..3).map(move |j| at(id, j)))
            .collect();
        all.sort();
        let want: Vec<Duration> = (0..12).map(|k| ms(10 * k)).collect();
        for (got, want) in all.iter().zip(&want) {
            assert!(
                got.abs_diff(*want) < Duration::from_micros(1),
                "{got:?} vs {want:?}"
            );
        }
        assert!(
            at(1, 0).abs_diff(ms(10)) < Duration::from_micros(1),
            "client 1 goes second"
        );
        assert!(
            at(0, 1).abs_diff(ms(40)) < Duration::from_micros(1),
            "then every client's second link"
        );
        // Without a rate, every link connects at once.
        assert_eq!(
            Place {
                id: 3,
                clients: 4,
                links: 3,
                j: 2
            }
            .ramp(0),
            Duration::ZERO
        );
    }

    #[test]
    fn a_lag_bound_drops_the_ticks_too_far_behind_but_the_newest() {
        let start = Instant::now();
        let mut p = Pacer::new(Schedule::FixedRate, ms(10), start, None).with_max_lag(Some(ms(25)));
        // 53 ms late: ticks due at 0, 10 and 20 ms are over 25 ms behind,
        // the one due at 30 ms is not. It is sent; three are dropped.
        assert_eq!(p.take(start, start + ms(53)), Some(start + ms(30)));
        assert_eq!(p.take_dropped(), 3);
        assert_eq!(p.take_dropped(), 0, "a count is taken once");
        assert_eq!(p.next_due(), Some(start + ms(40)), "the grid is kept");
        // Within the bound nothing is dropped.
        assert_eq!(p.take(start + ms(40), start + ms(60)), Some(start + ms(40)));
        assert_eq!(p.take_dropped(), 0);
        // A bound below one interval still sends the newest tick due. 5 ms
        // late: the tick at 0 is the newest due; nothing later is due yet.
        let mut p = Pacer::new(Schedule::FixedRate, ms(10), start, None).with_max_lag(Some(ms(1)));
        assert_eq!(p.take(start, start + ms(5)), Some(start));
        assert_eq!(p.take_dropped(), 0);
        // 27 ms late for the tick at 10: the one at 30 is not due yet, so
        // the one at 30 - 10 = 20 is sent and the one at 10 dropped.
        assert_eq!(p.take(start + ms(10), start + ms(27)), Some(start + ms(20)));
        assert_eq!(p.take_dropped(), 1);
    }

    #[test]
    fn fixed_rate_keeps_the_grid_when_late() {
        let start = Instant::now() - ms(35);
        let mut p = Pacer::new(Schedule::FixedRate, ms(10), start, None);
        let stop = AtomicBool::new(false);
        // Four ticks are already due; each comes back at once, on the grid.
        for k in 0..4 {
            assert_eq!(p.wait(&stop), Some(start + ms(10 * k)));
        }
        // The fifth is in the future: the wait really waits.
        let fifth = p.wait(&stop).unwrap();
        assert_eq!(fifth, start + ms(40));
        assert!(Instant::now() >= fifth);
    }

    #[test]
    fn fixed_rate_skips_the_ticks_missed_while_disconnected() {
        let start = Instant::now() - ms(35);
        let mut p = Pacer::new(Schedule::FixedRate, ms(10), start, None);
        let stop = AtomicBool::new(false);
        assert_eq!(p.wait(&stop), Some(start));
        // Reconnected at start + 35 ms: the next tick is start + 40 ms, on
        // the same grid, not the three missed ones in a burst.
        p.restart(start + ms(35));
        assert_eq!(p.wait(&stop), Some(start + ms(40)));
        // A restart with no missed tick changes nothing.
        p.restart(start + ms(45));
        assert_eq!(p.wait(&stop), Some(start + ms(50)));
    }

    #[test]
    fn fixed_delay_counts_from_completion() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Schedule::FixedDelay, ms(5), t0, None);
        let stop = AtomicBool::new(false);
        assert_eq!(p.wait(&stop), Some(t0));
        let done = Instant::now() + ms(3);
        p.completed(done);
        assert_eq!(p.wait(&stop), Some(done + ms(5)));
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
        let at = Window::now();
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
    fn a_link_ends_after_its_last_update_before_the_end() {
        let start = Instant::now();
        let end = start + ms(30);
        let mut p = Pacer::new(Schedule::FixedRate, ms(10), start, Some(end));
        let stop = AtomicBool::new(false);
        for k in 0..3 {
            assert_eq!(p.wait(&stop), Some(start + ms(10 * k)));
        }
        // The fourth would be due exactly at the end: none is, and the link
        // is told so at once, not when the end comes.
        assert_eq!(p.wait(&stop), None);
        // A link that fell behind does not catch up after the end: two
        // ticks were due before it, but it is over now.
        let start = Instant::now() - ms(35);
        let mut p = Pacer::new(Schedule::FixedRate, ms(10), start, Some(start + ms(20)));
        assert_eq!(p.wait(&stop), None);
        // A window far in the future ends before its first tick: no wait.
        let later = Instant::now() + secs(600);
        let mut p = Pacer::new(Schedule::FixedRate, secs(1), later, Some(later));
        assert_eq!(p.wait(&stop), None);
    }

    #[test]
    fn a_window_counts_its_time_up_to_its_end() {
        let start = Instant::now();
        let w = Window {
            start,
            end: Some(start + secs(10)),
        };
        assert_eq!(w.elapsed(start - secs(1)), Duration::ZERO);
        assert_eq!(w.elapsed(start + secs(4)), secs(4));
        assert_eq!(w.elapsed(start + secs(99)), secs(10));
        assert!(!w.is_over(start + secs(9)));
        assert!(w.is_over(start + secs(10)));
        assert!(!Window::now().is_over(start + secs(99)));
    }

    #[test]
    fn a_go_line_carries_the_window_to_another_process() {
        let start = Instant::now() + ms(600);
        let w = Window {
            start,
            end: Some(start + secs(30)),
        };
        let Ok(Control::Go { start_us, end_us }) = Control::parse(&w.to_go().line()) else {
            panic!("not a go line: {:?}", w.to_go());
        };
        let back = Window::from_go(start_us, end_us);
        // Two clock readings on each side: equal to within a millisecond.
        let close = |a: Instant, b: Instant| a.max(b).duration_since(a.min(b)) < ms(1);
        assert!(close(back.start, w.start), "{back:?} vs {w:?}");
        // The length is exact, whatever the clocks did in between.
        assert_eq!(back.end.unwrap() - back.start, secs(30));
        // No end, and a bare `go`.
        let open = Window { start, end: None }.to_go();
        assert!(matches!(open, Control::Go { end_us: None, .. }));
        assert_eq!(Window::from_go(None, None).end, None);
    }

    #[test]
    fn stop_wakes_a_sleeper() {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let sleeper = thread::spawn(move || sleep_until(Instant::now() + secs(600), &s));
        stop.store(true, Ordering::Release);
        sleeper.thread().unpark();
        assert!(!sleeper.join().unwrap());
    }
}
