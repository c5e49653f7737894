//! The proxy threads: one per child, in startup, owning that child's pipes.
//!
//! A proxy turns the control protocol into [`Event`]s on startup's event
//! channel, so startup's main thread never blocks on one child's pipe.
//! A server's proxy waits for its `listening on` line and then for
//! end-of-file, passing on the `stopped by operations stop` line a server
//! prints when an operator's `stop` ended it (so that exit is not taken for
//! a death); a client's proxy writes each [`ToClient`] request as a
//! control line and reads the one JSON line that answers it.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::client::schedule::Window;
use crate::messages::{ClientReport, ClientStatus, StatusReply};
use crate::wire::control::{self, Control};

/// What a proxy thread tells startup's main thread.
#[derive(Debug)]
pub(crate) enum Event {
    /// A server accepts connections at this address.
    ServerReady {
        /// The server's index in startup's list.
        index: usize,
        /// The address it printed.
        addr: String,
    },
    /// An operations `stop` ended this server (omclient's, or anyone's on
    /// the ops protocol): its `Gone` follows, and is not a death.
    ServerStoppedByOps {
        /// The server's index in startup's list.
        index: usize,
        /// The address the `stop` came from.
        by: String,
    },
    /// A client answered `ready`: its links are up (or it gave up waiting
    /// for some; `status.links_up` says how many are).
    ClientReady {
        /// The client's index.
        index: usize,
        /// Its totals, nothing sent yet.
        status: Box<ClientStatus>,
    },
    /// A client answered `status`.
    ClientStatus {
        /// The client's index.
        index: usize,
        /// Its totals and histograms.
        reply: Box<StatusReply>,
    },
    /// A client answered `stop` with its final report.
    ClientFinal {
        /// The client's index.
        index: usize,
        /// Its final report.
        report: Box<ClientReport>,
    },
    /// A child's stdout closed: it exited, or is exiting.
    Gone {
        /// Server or client.
        kind: Kind,
        /// Its index in startup's list of that kind.
        index: usize,
        /// What the proxy saw.
        detail: String,
    },
}

/// What a child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A server process.
    Server,
    /// A client process.
    Client,
}

/// A request to a client's proxy.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ToClient {
    /// Ask the client how many of its links are up and why the others
    /// are not, not before the given instant (`None`: now).
    Ready(Option<Instant>),
    /// Give the client its schedule's window (no answer).
    Go(Window),
    /// Ask for a status line, not before the given instant (`None`: now).
    Status(Option<Instant>),
    /// Ask the client to stop and report.
    Stop,
}

pub(super) fn server_proxy(index: usize, stdout: ChildStdout, events: Sender<Event>) {
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        if let Some(addr) = control::parse_listening(&line) {
            let _ = events.send(Event::ServerReady {
                index,
                addr: addr.to_string(),
            });
        } else if let Some(by) = control::parse_stopped(&line) {
            let _ = events.send(Event::ServerStoppedByOps {
                index,
                by: by.to_string(),
            });
        }
    }
    let _ = events.send(Event::Gone {
        kind: Kind::Server,
        index,
        detail: "its output closed".into(),
    });
}

pub(super) fn client_proxy(
    index: usize,
    mut stdin: ChildStdin,
    stdout: ChildStdout,
    requests: Receiver<ToClient>,
    events: Sender<Event>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    let detail = loop {
        // A closed request channel means startup is going down: stop.
        let mut request = requests.recv().unwrap_or(ToClient::Stop);
        if let ToClient::Status(Some(at)) | ToClient::Ready(Some(at)) = request {
            // Hold a staggered or repeated request until its turn, but let
            // a go or a stop (or startup going down) overtake it.
            match requests.recv_deadline(at) {
                Ok(next) => request = next,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => request = ToClient::Stop,
            }
        }
        let control = match request {
            ToClient::Ready(_) => Control::Ready,
            ToClient::Go(window) => window.to_go(),
            ToClient::Status(_) => Control::Status,
            ToClient::Stop => Control::Stop,
        };
        if stdin
            .write_all(control.line().as_bytes())
            .and_then(|_| stdin.flush())
            .is_err()
        {
            break "its input closed".to_string();
        }
        if let ToClient::Go(_) = request {
            continue; // the one request without an answer
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break "its output closed".to_string(),
            Ok(_) => {}
        }
        let event = match request {
            ToClient::Ready(_) => serde_json::from_str(&line).map(|status| Event::ClientReady {
                index,
                status: Box::new(status),
            }),
            ToClient::Go(_) => continue, // not reached: no answer was read
            ToClient::Status(_) => serde_json::from_str(&line).map(|reply| Event::ClientStatus {
                index,
                reply: Box::new(reply),
            }),
            ToClient::Stop => serde_json::from_str(&line).map(|report| Event::ClientFinal {
                index,
                report: Box::new(report),
            }),
        };
        match event {
            Ok(event) => {
                let _ = events.send(event);
            }
            Err(e) => {
                break format!(
                    "it sent a line startup cannot read ({e}): {:.120}",
                    line.trim_end()
                );
            }
        }
        if let ToClient::Stop = request {
            // Wait for end-of-file so `Gone` marks the real exit.
            let _ = reader.read_line(&mut line);
            break "stopped".to_string();
        }
    };
    let _ = events.send(Event::Gone {
        kind: Kind::Client,
        index,
        detail,
    });
}
