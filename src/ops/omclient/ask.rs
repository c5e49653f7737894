//! Asking the servers: the only part of omclient that opens a socket. All
//! are asked at once (`connection::ask_each`), so a host that is down costs
//! one timeout, not one per server. A server that does not answer becomes a
//! [`Down`] value, its cause sorted out while the I/O error is at hand.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use super::command::Command;
use super::data::{Answer, Down, DownReason, Gathered};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ops::connection::{self, OpsConnection};

/// What a command runs against.
pub(crate) struct Target<'a> {
    /// The loaded config (servers, token).
    pub(crate) config: &'a Config,
    /// Only this server, instead of all in the config.
    pub(crate) server: Option<SocketAddr>,
}

impl Target<'_> {
    /// Asks the servers what `command` needs to know.
    ///
    /// # Errors
    /// `verify`, which reads report files, not servers (see
    /// `verify_reports`); the config cannot be turned into JSON. Servers
    /// that are down are part of what is gathered, not errors.
    pub(crate) fn gather(&self, command: Command) -> Result<Gathered> {
        Ok(match command {
            Command::Help => Gathered::Help,
            Command::Config => self.config()?,
            Command::Servers => Gathered::Servers(self.each(|c| c.ping())),
            Command::Stats => Gathered::Stats(self.each(|c| c.stats())),
            Command::Dump => Gathered::Dump(self.each(|c| c.dump())),
            Command::Stop => Gathered::Stop(self.each(|c| c.stop())),
            Command::Verify => {
                return Err(Error::msg(
                    "verify reads the hosts' reports: omclient verify --reports a.json b.json ...",
                ));
            }
            Command::Resolve => {
                return Err(Error::msg(
                    "resolve asks the resolver, not servers: omclient resolve NAME...",
                ));
            }
            Command::Quit => Gathered::Nothing,
        })
    }

    /// The servers a command goes to: the one of `--server`, or every
    /// server of the config.
    pub(crate) fn servers(&self) -> Vec<SocketAddr> {
        match self.server {
            Some(s) => vec![s],
            None => self.config.all_servers(),
        }
    }

    /// Runs `question` on every server at once; a failure becomes a
    /// [`Down`] answer.
    fn each<T: Send>(
        &self,
        question: impl Fn(&mut OpsConnection) -> Result<T> + Sync,
    ) -> Vec<Answer<T>> {
        let servers = self.servers();
        let timeout = self.config.ops_timeout();
        let replies = connection::ask_each(&servers, &self.config.ops_token, timeout, question);
        servers
            .into_iter()
            .zip(replies)
            .map(|(server, reply)| Answer {
                server,
                reply: reply.map_err(|e| Down::from_error(&e, timeout)),
            })
            .collect()
    }

    /// The config file as omclient loaded it, or with `--server`, the
    /// config that server actually runs with (they can differ: the server
    /// may have started from another file, or with overrides).
    fn config(&self) -> Result<Gathered> {
        // The file's config is turned into JSON first even when a server is
        // asked, as it always was: a config that cannot be shown (a log_dir
        // that is not UTF-8) is reported the same way either way.
        let mut value = serde_json::to_value(self.config).map_err(|e| Error::msg(e.to_string()))?;
        // Hidden here rather than when printing: the token never reaches
        // the data a renderer (or a test, or a log) could show.
        value["ops_token"] = json!(if self.config.ops_token.is_empty() {
            ""
        } else {
            "(set)"
        });
        let Some(server) = self.server else {
            return Ok(Gathered::Config(value));
        };
        let reply = OpsConnection::open(server, &self.config.ops_token, self.config.ops_timeout())
            .and_then(|mut c| c.config())
            .map_err(|e| Down::from_error(&e, self.config.ops_timeout()));
        Ok(Gathered::ServerConfig(Answer { server, reply }))
    }
}

impl Down {
    /// Sorts a failed question by its cause. Only the I/O error's kind is
    /// read; the message is kept whole for the JSON output and for causes
    /// with no kind of their own.
    pub(crate) fn from_error(e: &Error, timeout: Duration) -> Down {
        use std::io::ErrorKind;
        let reason = match e.io_error().map(|io| io.kind()) {
            Some(ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                DownReason::NoAnswer { within: timeout }
            }
            Some(ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable) => {
                DownReason::Unreachable
            }
            Some(ErrorKind::ConnectionRefused) => DownReason::Refused,
            _ => DownReason::Other,
        };
        Down {
            reason,
            error: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Context;

    fn io(kind: std::io::ErrorKind) -> Error {
        Err::<(), _>(std::io::Error::from(kind))
            .context("server 10.0.0.1:7001 is down")
            .unwrap_err()
    }

    #[test]
    fn causes_are_sorted_by_io_kind() {
        use std::io::ErrorKind;
        let t = Duration::from_millis(250);
        let no_answer = DownReason::NoAnswer { within: t };
        let cases = [
            (io(ErrorKind::TimedOut), no_answer),
            (io(ErrorKind::WouldBlock), no_answer),
            (io(ErrorKind::HostUnreachable), DownReason::Unreachable),
            (io(ErrorKind::NetworkUnreachable), DownReason::Unreachable),
            (io(ErrorKind::ConnectionRefused), DownReason::Refused),
            (io(ErrorKind::ConnectionReset), DownReason::Other),
            (Error::msg("refused the request: auth"), DownReason::Other),
        ];
        for (e, reason) in cases {
            let down = Down::from_error(&e, t);
            assert_eq!(down.reason, reason, "{e}");
            assert_eq!(down.error, e.to_string());
        }
    }
}
