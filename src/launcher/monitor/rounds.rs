//! Status rounds: asking the clients for their status, collecting the
//! answers, and closing each round into one status line.
//!
//! Every round period (a second; longer for fleets of hundreds of clients,
//! see [`round_period`]) a round starts: one `status` request to every live
//! client, spread over the first half of the period so that a thousand
//! clients do not all answer in the same instant. The line is printed when
//! the round's last answer arrives (or when the next round starts, with
//! what came). CSV rows are written on their own ticker from the latest
//! answers (`rows.rs`), so a saturated machine that delays answers delays
//! nothing else. Answers carry cumulative counters, kept here, and the
//! histograms since the client's previous answer; a late answer counts in
//! the next round.
//!
//! [`Rounds`] owns every client's latest answer, who is still to answer,
//! and the histograms of the current round; [`RateMeter`] (also used by the
//! CSV rows) turns answers that arrive at uneven moments into an honest
//! rate. Nothing here prints: a closed round comes back to the monitor as a
//! [`Tick`], and the monitor puts it on the status line it shares with every
//! other message startup writes.
//!
//! Like the rest of the monitor, this runs on startup's main thread only:
//! the requests go out through each client's proxy thread (a channel send,
//! never a wait) and the answers come back as events on the one channel the
//! main thread reads, so none of this state needs a lock.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::launcher::children::Fleet;
use crate::launcher::proxy::ToClient;
use crate::launcher::report::run_verdict;
use crate::launcher::status::Tick;
use crate::messages::ClientStatus;
use crate::metrics::{Percentiles, Snapshot};

/// How often a status round starts for a fleet of `clients`: every second
/// up to 200 clients, then one more second per 200 (5 s at 1,000).
///
/// Each answer costs its client a pass over its histograms and a
/// serialization, and startup a decode and a merge: at 1,000 clients that
/// work, not the updates, was most of the clients' CPU (114 us per update
/// at 10 updates/s per client). A longer period changes only how often the
/// live line moves; every sample still reaches the report.
pub(super) fn round_period(clients: usize) -> Duration {
    Duration::from_secs(clients.div_ceil(200).max(1) as u64)
}

/// The saturation rule, the verdict's own (`run_verdict::saturated`),
/// applied to the run so far: `run` holds the histograms of every answer
/// in, and `sent` the updates sent as of the latest answers. Returns the
/// run's lateness p99 so far (us) when it breaks the rule.
///
/// The run so far, not the last round, because the verdict judges the
/// whole run: a line that said SATURATED for one slow second of a run
/// that then passed would cry wolf. The same holds the other way: a run
/// that fell behind early and caught up until its p99 is back within an
/// interval stops saying it, as its verdict would.
pub(super) fn saturated_so_far(config: &Config, sent: u64, run: &Snapshot) -> Option<u64> {
    let p99 = Percentiles::of(&run.lateness).p99;
    let (schedule, interval_ms) = (config.schedule.name(), config.update_intervals);
    run_verdict::saturated(schedule, sent, interval_ms, p99).then_some(p99)
}

/// An aggregate update rate that stays honest when clients answer late
/// (a saturated machine can delay a status answer by seconds): each client's
/// rate is its own acked delta over its own clock's delta, and a client that
/// has not answered since the last reading keeps its last rate. That suits
/// the status line and the dashboard, which show "now"; the CSV rows, whose
/// rates must add up to the run's total, take acked deltas (`rows.rs`).
#[derive(Default)]
pub(super) struct RateMeter {
    marks: HashMap<usize, (f64, u64)>,
    rates: HashMap<usize, f64>,
}

impl RateMeter {
    /// The summed rate as of the latest statuses.
    pub(super) fn update(&mut self, latest: &HashMap<usize, ClientStatus>) -> f64 {
        for (&i, s) in latest {
            // A client's first answer counts from its window's start (its
            // counters and `elapsed_s` both start there), so the first status
            // line has a rate too instead of a 0 that reads like a stall.
            let (elapsed, acked) = self.marks.get(&i).copied().unwrap_or((0.0, 0));
            if s.elapsed_s <= elapsed + 0.05 {
                continue;
            }
            let rate = s.acked.saturating_sub(acked) as f64 / (s.elapsed_s - elapsed);
            self.rates.insert(i, rate);
            self.marks.insert(i, (s.elapsed_s, s.acked));
        }
        // Not `.sum()`: an empty f64 sum is -0.0, which prints as "-0".
        self.rates.values().fold(0.0, |a, b| a + b)
    }

    /// Drops a client that is gone.
    pub(super) fn forget(&mut self, client: usize) {
        self.marks.remove(&client);
        self.rates.remove(&client);
    }
}

/// The status rounds: every client's latest answer and the round under way.
pub(super) struct Rounds {
    /// Links in all, on every line.
    links: u64,
    /// The schedule's target rate, on every line.
    target: f64,
    /// The run's length, if it has one (the line's progress).
    duration: Option<Duration>,
    /// Each live client's latest answer (cumulative counters).
    latest: HashMap<usize, ClientStatus>,
    /// Each live client's links up as last heard: its `ready` answer at the
    /// go, then its status answers. A client slow to answer (a loaded
    /// machine, Wine) still counts the links it last said were up; counting
    /// only the clients heard from this window made a 2 s run under Wine
    /// look a second short of links, and fail, when one status answer took
    /// over a second.
    heard_up: HashMap<usize, u64>,
    /// Clients asked for a status that have not answered yet. A client is
    /// never asked again before it answers: on a saturated machine requests
    /// would queue up in its stdin, and the final `stop` would wait behind
    /// all of them.
    awaiting: HashSet<usize>,
    /// The current round has not been printed yet.
    open: bool,
    /// When the last line was printed; `None` until the first round closed.
    last_print: Option<Instant>,
    /// The histograms of what happened since the last line.
    second: Snapshot,
    /// The status line's rate (the CSV rows keep their own meter: the two
    /// read at different moments).
    rate: RateMeter,
    /// Time between rounds that closed with fewer links up than planned:
    /// a verdict rule fails a run short of links for over a tenth of it.
    short: Duration,
    /// The counters of the clients that died, as of their last answers:
    /// `/metrics`' counters keep them, so they never go down.
    departed: ClientStatus,
}

impl Rounds {
    /// No round yet, for a run of `links` links aiming at `target` updates
    /// per second for `duration` (if it has one).
    pub(super) fn new(links: u64, target: f64, duration: Option<Duration>) -> Rounds {
        Rounds {
            links,
            target,
            duration,
            latest: HashMap::new(),
            heard_up: HashMap::new(),
            awaiting: HashSet::new(),
            open: false,
            last_print: None,
            second: Snapshot::default(),
            rate: RateMeter::default(),
            short: Duration::ZERO,
            departed: ClientStatus::default(),
        }
    }

    /// Starts a status round: one `status` request to every live client
    /// that has answered the previous one, client `i` of `n` asked at
    /// `i / n` of `spread` from now.
    ///
    /// Spreading matters at scale: every answer costs its client a merge
    /// and a serialization of three histograms, and startup a decode of
    /// them. Asked all at once, 1,000 clients do that work in the same
    /// instant, and every link thread runnable in that instant waits behind
    /// it: a latency spike once a second, right in the tail the run reports.
    pub(super) fn poll(&mut self, fleet: &Fleet, gone_clients: &[usize], spread: Duration) {
        self.open = true;
        let now = Instant::now();
        let n = fleet.clients.len().max(1) as u32;
        for (i, client) in fleet.clients.iter().enumerate() {
            if !gone_clients.contains(&i) && self.awaiting.insert(i) {
                let at = (spread > Duration::ZERO).then(|| now + spread * i as u32 / n);
                client.request(ToClient::Status(at));
            }
        }
    }

    /// Records each client's links up as its `ready` answer said at the go,
    /// before any status answer.
    pub(super) fn at_go(&mut self, links_up: impl IntoIterator<Item = (usize, u64)>) {
        self.heard_up.extend(links_up);
    }

    /// Adds the histograms of one answer to the round's.
    pub(super) fn add(&mut self, snapshot: &Snapshot) {
        self.second.add(snapshot);
    }

    /// Records client `index`'s answer. True if it was the last one the
    /// open round waited for: the round can be printed now.
    pub(super) fn answered(&mut self, index: usize, status: ClientStatus) -> bool {
        self.heard_up.insert(index, status.links_up);
        self.latest.insert(index, status);
        self.awaiting.remove(&index);
        self.awaiting.is_empty() && self.open
    }

    /// Records the totals of a client's final report (they close the last
    /// CSV row), outside any round.
    pub(super) fn set_final(&mut self, index: usize, status: ClientStatus) {
        self.heard_up.insert(index, status.links_up);
        self.latest.insert(index, status);
    }

    /// Forgets a client that died: it is no longer waited for, and its
    /// counters leave the totals and the rate.
    pub(super) fn forget(&mut self, index: usize) {
        self.awaiting.remove(&index);
        if let Some(last) = self.latest.remove(&index) {
            add_counters(&mut self.departed, &last);
        }
        self.heard_up.remove(&index);
        self.rate.forget(index);
    }

    /// True while a round has not been printed.
    pub(super) fn is_open(&self) -> bool {
        self.open
    }

    /// True while some client asked has not answered.
    pub(super) fn is_waiting(&self) -> bool {
        !self.awaiting.is_empty()
    }

    /// Marks the round as printed without printing it (the last round of
    /// the run, asked only for its totals).
    pub(super) fn silence(&mut self) {
        self.open = false;
    }

    /// Closes the round: its status line, on the run's clock `started`, and
    /// its histograms; or `None` for the first round (at the start), which
    /// only sets the rate's marks.
    pub(super) fn close(&mut self, started: Instant) -> Option<(Tick, Snapshot)> {
        self.open = false;
        let now = Instant::now();
        let t = self.totals();
        let second = std::mem::take(&mut self.second);
        let rate = self.rate.update(&self.latest);
        // The first round (at start) has no rate yet: it only sets the marks.
        let previous = self.last_print.replace(now)?;
        if t.links_up < self.links {
            self.short += now.duration_since(previous);
        }
        let tick = Tick {
            elapsed: started.elapsed(),
            duration: self.duration,
            links_up: t.links_up,
            links: self.links,
            rate,
            target: self.target,
            p99_us: (!second.latency.is_empty()).then(|| Percentiles::of(&second.latency).p99),
            late: t.late,
            errors: t.errors,
            reconnects: t.reconnects,
            dropped: t.dropped,
            // The monitor holds the run's histograms; it fills this in.
            saturated: None,
        };
        Some((tick, second))
    }

    /// How long the run has been short of links, as of the rounds so far.
    pub(super) fn short_of_links(&self) -> Duration {
        self.short
    }

    /// Each live client's latest answer.
    pub(super) fn latest(&self) -> &HashMap<usize, ClientStatus> {
        &self.latest
    }

    /// The fleet's cumulative counters as of the latest answers, and its
    /// links up as last heard.
    pub(super) fn totals(&self) -> ClientStatus {
        let mut t = ClientStatus {
            links_up: self.heard_up.values().sum(),
            ..ClientStatus::default()
        };
        for s in self.latest.values() {
            add_counters(&mut t, s);
        }
        t
    }

    /// [`Rounds::totals`] with the counters of the clients that died
    /// added: what the whole run did, for `/metrics`.
    pub(super) fn run_totals(&self) -> ClientStatus {
        let mut t = self.totals();
        add_counters(&mut t, &self.departed);
        t
    }
}

/// Adds `s`'s cumulative counters to `t`'s.
fn add_counters(t: &mut ClientStatus, s: &ClientStatus) {
    t.sent += s.sent;
    t.acked += s.acked;
    t.late += s.late;
    t.dropped += s.dropped;
    t.errors += s.errors;
    t.error_kinds.add(&s.error_kinds);
    t.reconnects += s.reconnects;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rounds_slow_down_only_for_large_fleets() {
        let secs = |clients| round_period(clients).as_secs();
        assert_eq!(secs(0), 1);
        assert_eq!(secs(1), 1);
        assert_eq!(secs(200), 1);
        assert_eq!(secs(201), 2);
        assert_eq!(secs(1000), 5);
    }

    fn status(links_up: u64) -> ClientStatus {
        ClientStatus {
            links_up,
            ..ClientStatus::default()
        }
    }

    #[test]
    fn the_status_says_saturated_once_the_run_so_far_breaks_the_verdicts_rule() {
        // Fixed rate, an update every 10 ms.
        let config = Config::from_json(r#"{"update_intervals": 10}"#).unwrap();
        let mut run = Snapshot::default();
        // 99 sends on time and one 50 ms late: p99 is on time.
        for _ in 0..99 {
            run.lateness.record(200).unwrap();
        }
        run.lateness.record(50_000).unwrap();
        assert_eq!(saturated_so_far(&config, 100, &run), None);
        // Whole intervals late for more than 1% of the run: saturated.
        for _ in 0..10 {
            run.lateness.record(50_000).unwrap();
        }
        let p99 = saturated_so_far(&config, 110, &run).expect("saturated");
        assert!((49_000..=51_000).contains(&p99), "{p99}");
        // Nothing sent yet says nothing; closed loop has no schedule.
        assert_eq!(saturated_so_far(&config, 0, &run), None);
        let closed = Config::from_json(r#"{"schedule": "closed-loop"}"#).unwrap();
        assert_eq!(saturated_so_far(&closed, 110, &run), None);
    }

    #[test]
    fn a_client_slow_to_answer_counts_the_links_it_last_said_were_up() {
        // Two clients of three links each, all up at the go.
        let mut rounds = Rounds::new(6, 600.0, None);
        rounds.at_go([(0, 3), (1, 3)]);
        let started = Instant::now();
        assert!(
            rounds.close(started).is_none(),
            "the first round only marks"
        );
        // Client 1 has not answered a status yet: its three links still count.
        rounds.answered(0, status(3));
        let (tick, _) = rounds.close(started).unwrap();
        assert_eq!(tick.links_up, 6);
        assert_eq!(rounds.short_of_links(), Duration::ZERO);
        // A link that is down by a client's own answer counts as down.
        rounds.answered(1, status(2));
        let (tick, _) = rounds.close(started).unwrap();
        assert_eq!(tick.links_up, 5);
        // A client that died takes its links with it, and leaves the
        // totals; the run's totals (`/metrics`' counters) keep its counts.
        rounds.answered(
            0,
            ClientStatus {
                acked: 7,
                ..status(3)
            },
        );
        rounds.forget(0);
        assert_eq!(rounds.totals().links_up, 2);
        assert_eq!(rounds.totals().acked, 0);
        assert_eq!(rounds.run_totals().acked, 7);
    }
}
