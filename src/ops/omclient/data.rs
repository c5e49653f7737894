//! What a command gathers, as plain data: each server's answer or why it
//! gave none. The seam between asking and rendering: a server that is down
//! is a value a test builds by hand, not a closed port it has to arrange.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use crate::messages::{ServerDump, ServerStats};

/// One server's answer to one question, or why there was none.
#[derive(Debug, Clone)]
pub(crate) struct Answer<T> {
    /// The server asked.
    pub(crate) server: SocketAddr,
    /// What it said, or why it said nothing.
    pub(crate) reply: Result<T, Down>,
}

/// Why a server did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Down {
    /// The cause, sorted into what an operator would do about it.
    pub(crate) reason: DownReason,
    /// The error as it came (`server 127.0.0.1:7001 is down: ...`).
    pub(crate) error: String,
}

/// Why a server did not answer, sorted by the fix it calls for: across
/// hosts, "its host cannot be reached" and "nothing listens there" send the
/// operator to different places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DownReason {
    /// Nothing came back in time: the host is down, cut off, firewalled,
    /// or the server hangs. Carries the wait, to say how long was given.
    NoAnswer {
        /// How long omclient waited.
        within: Duration,
    },
    /// The network said the host cannot be reached.
    Unreachable,
    /// The host answered, but nothing listens on that port.
    Refused,
    /// Anything else (a wrong token, a reply that made no sense).
    Other,
}

/// Everything one command gathered, ready to render.
#[derive(Debug, Clone)]
pub(crate) enum Gathered {
    /// `help`: nothing to ask.
    Help,
    /// `config` without `--server`: the config file, token hidden.
    Config(Value),
    /// `config --server`: the config that one server runs with.
    ServerConfig(Answer<Value>),
    /// `servers`: each server's round trip.
    Servers(Vec<Answer<Duration>>),
    /// `stats`: each server's counters.
    Stats(Vec<Answer<ServerStats>>),
    /// `dump`: each server's keys and counts.
    Dump(Vec<Answer<ServerDump>>),
    /// `stop`: whether each server said goodbye.
    Stop(Vec<Answer<()>>),
    /// `quit` run as a command: nothing to say.
    Nothing,
}

impl Gathered {
    /// Whether every server asked answered: the program's exit status.
    pub(crate) fn all_up(&self) -> bool {
        match self {
            Gathered::Help | Gathered::Config(_) | Gathered::Nothing => true,
            Gathered::ServerConfig(answer) => answer.reply.is_ok(),
            Gathered::Servers(answers) => all_up(answers),
            Gathered::Stats(answers) => all_up(answers),
            Gathered::Dump(answers) => all_up(answers),
            Gathered::Stop(answers) => all_up(answers),
        }
    }
}

/// Whether every server answered.
pub(crate) fn all_up<T>(answers: &[Answer<T>]) -> bool {
    answers.iter().all(|a| a.reply.is_ok())
}

/// The replies of the servers that answered, in order.
pub(crate) fn replies<T>(answers: &[Answer<T>]) -> Vec<&T> {
    answers
        .iter()
        .filter_map(|a| a.reply.as_ref().ok())
        .collect()
}

/// The replies of one host's servers that answered.
pub(crate) fn replies_on<T>(answers: &[Answer<T>], ip: IpAddr) -> Vec<&T> {
    answers
        .iter()
        .filter(|a| a.server.ip() == ip)
        .filter_map(|a| a.reply.as_ref().ok())
        .collect()
}

/// The hosts to summarise, in the config's order: none when there is only
/// one, since its line would repeat the grand total.
pub(crate) fn hosts<T>(answers: &[Answer<T>]) -> Vec<IpAddr> {
    let mut hosts: Vec<IpAddr> = Vec::new();
    for answer in answers {
        if !hosts.contains(&answer.server.ip()) {
            hosts.push(answer.server.ip());
        }
    }
    if hosts.len() > 1 { hosts } else { Vec::new() }
}

/// Servers of one host that answered, and how many it has.
pub(crate) fn host_up<T>(answers: &[Answer<T>], ip: IpAddr) -> (usize, usize) {
    let of_host = answers.iter().filter(|a| a.server.ip() == ip);
    let of = of_host.clone().count();
    (of_host.filter(|a| a.reply.is_ok()).count(), of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(server: &str, up: bool) -> Answer<u32> {
        Answer {
            server: server.parse().unwrap(),
            reply: if up {
                Ok(1)
            } else {
                Err(Down {
                    reason: DownReason::Refused,
                    error: "no".into(),
                })
            },
        }
    }

    #[test]
    fn hosts_in_order_and_only_when_several() {
        let one = [answer("10.0.0.1:1", true), answer("10.0.0.1:2", false)];
        assert!(hosts(&one).is_empty());
        let three = [
            answer("10.0.0.2:1", true),
            answer("10.0.0.1:1", false),
            answer("10.0.0.2:2", false),
        ];
        let ips: Vec<String> = hosts(&three).iter().map(|ip| ip.to_string()).collect();
        assert_eq!(ips, ["10.0.0.2", "10.0.0.1"]);
        assert_eq!(host_up(&three, "10.0.0.2".parse().unwrap()), (1, 2));
        assert_eq!(replies_on(&three, "10.0.0.1".parse().unwrap()).len(), 0);
        assert!(!all_up(&three));
        assert_eq!(replies(&three), [&1]);
    }
}
