//! The control protocol: the lines startup and its children exchange over
//! the child's stdin and stdout: `ready`, `go START [END]`, `status` and
//! `stop` one way, a server's `listening on` and `stopped by operations
//! stop` lines the other, and the `crate::messages` types as JSON answers.
//! Both sides import this one module, so a word is spelled in one place;
//! docs/PROTOCOL.md has the table of lines and answers.
//!
//! `listening on` is startup's readiness signal, so nothing polls; `stopped
//! by` tells startup that an operator ended the server on purpose, not a
//! death to report and restart. End-of-file on stdin means startup is gone,
//! and a child then stops by itself. Times in `go` are microseconds since
//! the Unix epoch because an `Instant` means nothing in another process;
//! `client::schedule::Window` converts.

use std::fmt;
use std::net::SocketAddr;

/// One line from startup to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Answer at once with the links up and those down, with why.
    Ready,
    /// Run the schedule from `start_us` (now, if `None`) and, if given,
    /// until `end_us`, both wall-clock microseconds since 1970.
    Go {
        /// When the schedule starts.
        start_us: Option<u64>,
        /// When it ends; never before `start_us`.
        end_us: Option<u64>,
    },
    /// Answer with the totals and the histograms since the last answer.
    Status,
    /// Stop (a client answers with its final report first).
    Stop,
}

/// Why a line is not a [`Control`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ControlError {
    /// A `go` line whose times cannot be read; the text says which word.
    BadGo(String),
    /// Not a word of the protocol.
    Unknown(String),
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::BadGo(why) => f.write_str(why),
            ControlError::Unknown(line) => write!(f, "{line:?} is not a control line"),
        }
    }
}

impl std::error::Error for ControlError {}

impl Control {
    /// Reads one line (surrounding whitespace and the newline ignored).
    ///
    /// # Errors
    /// [`ControlError::BadGo`] names the word that is not a number of
    /// microseconds, an end before the start, or a word too many;
    /// [`ControlError::Unknown`] is any other line.
    pub(crate) fn parse(line: &str) -> Result<Control, ControlError> {
        let line = line.trim();
        let mut words = line.split_whitespace();
        let control = match (words.next(), words.next()) {
            (Some("ready"), None) => Control::Ready,
            (Some("status"), None) => Control::Status,
            (Some("stop"), None) => Control::Stop,
            (Some("go"), first) => {
                let micros = |word: Option<&str>| -> Result<Option<u64>, ControlError> {
                    word.map(|w| {
                        w.parse::<u64>().map_err(|_| {
                            ControlError::BadGo(format!(
                                "{w:?} in {line:?} is not microseconds since 1970"
                            ))
                        })
                    })
                    .transpose()
                };
                let start_us = micros(first)?;
                let end_us = micros(words.next())?;
                if let Some(extra) = words.next() {
                    return Err(ControlError::BadGo(format!(
                        "unexpected {extra:?} in {line:?} (go START [END])"
                    )));
                }
                if matches!((start_us, end_us), (Some(s), Some(e)) if e < s) {
                    return Err(ControlError::BadGo(format!(
                        "the end comes before the start in {line:?}"
                    )));
                }
                Control::Go { start_us, end_us }
            }
            _ => return Err(ControlError::Unknown(line.to_string())),
        };
        Ok(control)
    }

    /// The line as written to a child's stdin, newline included.
    pub fn line(&self) -> String {
        format!("{self}\n")
    }
}

impl fmt::Display for Control {
    /// The line without its newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Control::Ready => f.write_str("ready"),
            Control::Status => f.write_str("status"),
            Control::Stop => f.write_str("stop"),
            Control::Go { start_us, end_us } => {
                f.write_str("go")?;
                // An end without a start cannot be written: `go END` would
                // read as a start. `Window` never makes one.
                if let Some(start) = start_us {
                    write!(f, " {start}")?;
                    if let Some(end) = end_us {
                        write!(f, " {end}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// What a server prints before the address it accepts connections on.
const LISTENING_PREFIX: &str = "mass_connect server listening on ";

/// The line a server prints once it accepts connections (no newline).
pub(crate) fn listening_line(addr: SocketAddr) -> String {
    format!("{LISTENING_PREFIX}{addr}")
}

/// The address in a server's `listening_line`, or `None` for any other
/// line it prints.
pub fn parse_listening(line: &str) -> Option<&str> {
    line.strip_prefix(LISTENING_PREFIX).map(str::trim)
}

/// What a server prints before the address an operations `stop` came from.
const STOPPED_PREFIX: &str = "mass_connect server stopped by operations stop from ";

/// The line a server prints when an operations `stop` from `peer` ended it,
/// just before it exits (no newline).
pub(crate) fn stopped_line(peer: SocketAddr) -> String {
    format!("{STOPPED_PREFIX}{peer}")
}

/// The address in a server's [`stopped_line`], or `None` for any other
/// line it prints.
pub(crate) fn parse_stopped(line: &str) -> Option<&str> {
    line.strip_prefix(STOPPED_PREFIX).map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_line_reads_back_as_itself() {
        let go = |start_us, end_us| Control::Go { start_us, end_us };
        let at = Some(1_764_480_000_000_000);
        for control in [
            Control::Ready,
            Control::Status,
            Control::Stop,
            go(None, None),
            go(at, None),
            go(Some(5), Some(5)),
            go(at, Some(1_764_480_030_000_000)),
        ] {
            let line = control.line();
            assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
            assert_eq!(Control::parse(&line), Ok(control), "{line:?}");
        }
        assert_eq!(
            Control::parse("  status \r\n"),
            Ok(Control::Status),
            "whitespace and CRLF are ignored"
        );
    }

    #[test]
    fn bad_lines_name_what_is_wrong() {
        let bad_go = |line: &str| match Control::parse(line) {
            Err(ControlError::BadGo(why)) => why,
            other => panic!("{line:?} gave {other:?}"),
        };
        assert!(bad_go("go soon").contains("\"soon\""));
        assert!(bad_go("go 1 2 3").contains("\"3\""));
        assert!(bad_go("go 5 4").contains("before the start"));
        for line in ["", "stat", "stop now", "ready 1", "GO 1"] {
            assert!(
                matches!(Control::parse(line), Err(ControlError::Unknown(_))),
                "{line:?}"
            );
        }
        assert!(
            ControlError::Unknown("x".into())
                .to_string()
                .contains("not a control line")
        );
    }

    #[test]
    fn a_servers_lines_carry_the_address_and_read_only_as_themselves() {
        for peer in ["127.0.0.1:18677", "[::1]:6"] {
            let addr: SocketAddr = peer.parse().unwrap();
            let (listening, stopped) = (listening_line(addr), stopped_line(addr));
            for line in [listening.clone(), format!("{listening}\r\n")] {
                assert_eq!(parse_listening(&line), Some(peer), "{line}");
                assert_eq!(parse_stopped(&line), None, "{line}");
            }
            for line in [stopped.clone(), format!("{stopped}\r\n")] {
                assert_eq!(parse_stopped(&line), Some(peer), "{line}");
                assert_eq!(parse_listening(&line), None, "{line}");
            }
        }
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (listening, stopped) = (listening_line(addr), stopped_line(addr));
        assert_eq!(listening, "mass_connect server listening on 127.0.0.1:1");
        assert_eq!(
            stopped,
            "mass_connect server stopped by operations stop from 127.0.0.1:1"
        );
        assert_eq!(parse_listening("server 127.0.0.1:1 stopped"), None);
        assert_eq!(parse_stopped("server 127.0.0.1:1 stopped"), None);
    }
}
