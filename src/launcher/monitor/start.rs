//! The start of the run: every client connects its links, then all get one
//! window at once. Links measured while a thousand processes start would
//! carry that start in their latency tail, so startup asks every client
//! `ready` until its links are up (or `--connect-deadline` passes, and the
//! links still down are named with why), then sends one `go` to all; while
//! it waits, a progress line each second (docs/PERFORMANCE.md, "Status
//! against the targets", gives the figures).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use super::Monitor;
use crate::client::schedule::Window;
use crate::launcher::children::Fleet;
use crate::launcher::proxy::{Event, Kind, ToClient};
use crate::launcher::record::{Phase, Update};
use crate::messages::LinkDown;

/// How soon a client whose links are not all up is asked again.
const ASK_AGAIN: Duration = Duration::from_millis(100);

/// The least time the clients get to answer once all are spawned, however
/// much of the connect deadline the spawning took.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// How far ahead of the start the go goes out for a fleet of `links`:
/// 100 ms plus 50 us per link, so the go's wakeups (every client and link
/// thread) are over before the first tick; a link whose go still comes
/// late starts on its next tick, not with a burst.
fn go_ahead(links: u64) -> Duration {
    Duration::from_millis(100)
        + Duration::from_micros(50) * u32::try_from(links).unwrap_or(u32::MAX)
}

impl Monitor<'_> {
    /// Waits until every client has all its links up (asking each `ready`
    /// again, a moment after an answer with links still down) or the
    /// `deadline` passes, printing progress each second; then gives every
    /// client one window: a start `go_ahead` from now, and the end of
    /// `--duration` after it, at which each link stops after its last
    /// update. The run's clock starts at that start. Returns false if
    /// Ctrl-C came first; the clients then never start.
    pub(crate) fn start_together(
        &mut self,
        fleet: &mut Fleet,
        events: &Receiver<Event>,
        interrupts: &Receiver<()>,
        deadline: Instant,
    ) -> bool {
        match self.wait_ready(fleet, events, interrupts, deadline) {
            Some(ready) => {
                self.go(fleet, ready);
                true
            }
            None => false,
        }
    }

    /// Asks every client `ready` until all links are up, the deadline
    /// passes or every client answered; `None` on Ctrl-C.
    fn wait_ready(
        &mut self,
        fleet: &mut Fleet,
        events: &Receiver<Event>,
        interrupts: &Receiver<()>,
        deadline: Instant,
    ) -> Option<Ready> {
        let asked = Instant::now();
        // Each client's latest answer: links up and the links still down.
        let mut answers: HashMap<usize, (u64, Vec<LinkDown>)> = HashMap::new();
        let mut pending: HashSet<usize> = (0..fleet.clients.len()).collect();
        for client in &fleet.clients {
            client.request(ToClient::Ready(None));
        }
        let give_up = crossbeam_channel::at(deadline.max(asked + MIN_WAIT));
        let progress = crossbeam_channel::tick(Duration::from_secs(1));
        while !pending.is_empty() {
            select! {
                recv(events) -> event => match event {
                    Ok(Event::ClientReady { index, status }) => {
                        if status.down.is_empty() {
                            pending.remove(&index);
                        } else {
                            // Ask again shortly: a link may be a moment from
                            // connecting, or retrying after a refusal.
                            fleet.clients[index].request(ToClient::Ready(Some(Instant::now() + ASK_AGAIN)));
                        }
                        answers.insert(index, (status.links_up, status.down));
                    }
                    Ok(event) => {
                        if let Event::Gone { kind: Kind::Client, index, .. } = &event {
                            pending.remove(index);
                            answers.remove(index);
                        }
                        self.on_event(fleet, event);
                    }
                    Err(_) => break,
                },
                recv(progress) -> _ => {
                    let ramp = self.ramp_due();
                    let line = connecting_line(&answers, self.links, ramp, deadline);
                    self.status.finish();
                    self.feed.say(line);
                }
                recv(interrupts) -> _ => {
                    self.interrupted = true;
                    eprintln!("startup: interrupted before the clients started; stopping");
                    return None;
                }
                recv(give_up) -> _ => break,
            }
        }
        Some(Ready {
            asked,
            answers,
            pending,
        })
    }

    /// With `connect_rate`, the rate and how many of the host's links its
    /// ramp has made due since the first client's spawn.
    fn ramp_due(&self) -> Option<(u32, u64)> {
        let rate = self.options.config.connect_rate;
        let due = self.started.elapsed().as_secs_f64() * f64::from(rate);
        (rate > 0).then(|| (rate, (due as u64).min(self.links)))
    }

    /// Gives every live client the one window, starts the run's clock at
    /// its start, and says which links are still down.
    fn go(&mut self, fleet: &Fleet, ready: Ready) {
        let Ready {
            asked,
            answers,
            pending,
        } = ready;
        let links_up: u64 = answers.values().map(|(up, _)| up).sum();
        self.rounds
            .at_go(answers.iter().map(|(&i, (up, _))| (i, *up)));
        let down: Vec<LinkDown> = answers.into_values().flat_map(|(_, d)| d).collect();
        let start = Instant::now() + go_ahead(self.links);
        let window = Window {
            start,
            end: self.options.duration.map(|d| start + d),
        };
        for (i, client) in fleet.clients.iter().enumerate() {
            if !self.deaths.client_gone(i) {
                client.request(ToClient::Go(window));
            }
        }
        // From the first client's spawn (the monitor's `started` until now).
        let took = self.started.elapsed().as_secs_f64();
        self.connected = (took, links_up);
        self.started = start;
        self.rows.at_go();
        self.feed.send(Update::Go(start));
        let line = format!(
            "{links_up} of {} links connected in {took:.1} s; go",
            self.links
        );
        self.status.finish();
        self.feed.announce(Phase::Running, line);
        if !down.is_empty() {
            let line = format!(
                "{} links not up after {:.1} s: {}; they keep trying",
                down.len(),
                asked.elapsed().as_secs_f64(),
                summarize(&down)
            );
            log::warn!("{line}");
            eprintln!("startup: {line}");
        }
        let silent = pending
            .iter()
            .filter(|i| !self.deaths.client_gone(**i))
            .count();
        if silent > 0 && links_up + (down.len() as u64) < self.links {
            eprintln!(
                "startup: {silent} client(s) did not answer within {:.1} s; started without waiting for them",
                asked.elapsed().as_secs_f64()
            );
        }
    }
}

/// The clients' answers when the waiting ended.
struct Ready {
    /// When the first `ready` went out.
    asked: Instant,
    /// Each client's latest answer: links up and the links still down.
    answers: HashMap<usize, (u64, Vec<LinkDown>)>,
    /// The clients that never answered with every link up.
    pending: HashSet<usize>,
}

/// `connecting: links 9870/10000 up; 127.0.0.2:29101 refused (130 links);
/// deadline in 6 s`, from the clients' latest `ready` answers; with
/// `connect_rate`, `(ramp 1000/s: 9900 due)` after the count, so a slow
/// count reads as the ramp's pace, not as links failing.
fn connecting_line(
    answers: &HashMap<usize, (u64, Vec<LinkDown>)>,
    links: u64,
    ramp: Option<(u32, u64)>,
    deadline: Instant,
) -> String {
    let up: u64 = answers.values().map(|(up, _)| up).sum();
    // While a ramp runs, links that have not failed yet are mostly waiting
    // for their turn; only the ones that failed are news.
    let waiting_is_news = ramp.is_none_or(|(_, due)| due >= links);
    let down: Vec<LinkDown> = answers
        .values()
        .flat_map(|(_, d)| d.iter())
        .filter(|d| waiting_is_news || d.reason != "connecting")
        .cloned()
        .collect();
    let left = deadline.saturating_duration_since(Instant::now()).as_secs();
    let ramp = ramp
        .map(|(rate, due)| format!(" (ramp {rate}/s: {due} due)"))
        .unwrap_or_default();
    if down.is_empty() {
        format!("connecting: links {up}/{links} up{ramp}; deadline in {left} s")
    } else {
        format!(
            "connecting: links {up}/{links} up{ramp}; {}; deadline in {left} s",
            summarize(&down)
        )
    }
}

/// `127.0.0.2:18677 refused (10 links); 127.0.0.3:18677 timed out (1 link)`:
/// the links down, by server and reason, the most first, at most ten
/// servers named.
pub(super) fn summarize(down: &[LinkDown]) -> String {
    let mut by: BTreeMap<(SocketAddr, &str), usize> = BTreeMap::new();
    for d in down {
        *by.entry((d.server, &d.reason)).or_default() += 1;
    }
    let mut groups: Vec<_> = by.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut text = String::new();
    for (i, ((server, reason), n)) in groups.iter().enumerate() {
        if i == 10 {
            let _ = write!(text, "; and {} more", groups.len() - 10);
            break;
        }
        let sep = if i == 0 { "" } else { "; " };
        let plural = if *n == 1 { "" } else { "s" };
        let _ = write!(text, "{sep}{server} {reason} ({n} link{plural})");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_links_are_summed_by_server_and_reason_most_first() {
        let link = |server: &str, reason: &str| LinkDown {
            server: server.parse().unwrap(),
            reason: reason.into(),
        };
        let mut down = vec![link("127.0.0.3:18677", "timed out")];
        down.extend((0..10).map(|_| link("127.0.0.2:18677", "refused")));
        assert_eq!(
            summarize(&down),
            "127.0.0.2:18677 refused (10 links); 127.0.0.3:18677 timed out (1 link)"
        );
        let many: Vec<_> = (0..12)
            .map(|p| link(&format!("127.0.0.2:{}", 1000 + p), "refused"))
            .collect();
        assert!(summarize(&many).ends_with("; and 2 more"));
    }
}
