//! The commands omclient knows, and the one place a typed word becomes one.
//!
//! The same words work one-shot (`omclient dump`) and at the prompt (`d;`),
//! so the two cannot disagree about a word, and every `match` on a
//! [`Command`] is checked by the compiler.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::suggest;

/// The command list, for `help` and the interactive prompt.
pub(crate) const COMMANDS: &str = "\
commands (one-shot: omclient COMMAND; interactive: type them at the prompt):
    help      (h)   this list
    config    (c)   the configuration in use (token hidden)
    servers         every server in the config: up (with round trip) or down
    stats           per server: links, updates, updates/s, anomalies, uptime;
                    totals
    dump      (d)   every key and count on each server, sorted, with totals
    stop      (s)   stop the servers (all, or --server IP:PORT); the prompt
                    asks first when its input is a terminal
    verify --reports A.json B.json ...
                    merge every host's startup report into one verdict: each
                    server's final count == the acked updates of every host
    resolve NAME ...
                    each name's IPv4 address, as the programs resolve it
                    (/etc/hosts, then DNS): getent for images without one
    quit      (q)   leave the interactive prompt
options: --server IP:PORT or HOST:PORT (one server only),
         --json (machine-readable output)";

/// One omclient command.
///
/// Every spelling below is accepted with or without the seed's trailing
/// `;` (`d;`), and with spaces around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// `help`, `h`, `?`: the command list.
    Help,
    /// `config`, `c`: the configuration in use, token hidden.
    Config,
    /// `servers`: every server, up (with its round trip) or down.
    Servers,
    /// `stats`, `t`: each server's counters, with per-host and grand totals.
    Stats,
    /// `dump`, `d`, `display`: every key and count on each server.
    Dump,
    /// `stop`, `s`: stop the servers.
    Stop,
    /// `verify`: merge the hosts' startup reports into one verdict; reads
    /// report files, not servers.
    Verify,
    /// `resolve`: each name's IPv4 address; asks the resolver, not servers.
    Resolve,
    /// `quit`, `q`, `exit`: leave the interactive prompt.
    Quit,
}

impl Command {
    /// Every command, in the order `help` lists them.
    pub(crate) const ALL: [Command; 9] = [
        Command::Help,
        Command::Config,
        Command::Servers,
        Command::Stats,
        Command::Dump,
        Command::Stop,
        Command::Verify,
        Command::Resolve,
        Command::Quit,
    ];

    /// The command a typed word names: its full name or a seed shorthand,
    /// with or without a trailing `;`.
    ///
    /// # Errors
    /// No command has that name. The message quotes the word as typed, so
    /// a stray `;` or space shows, and names the command it most likely
    /// meant (`stat`: `did you mean "stats"?`), or else points at `help`.
    pub(crate) fn parse(word: &str) -> Result<Command> {
        Command::from_word(word).ok_or_else(|| {
            // Only full names are suggested: one letter away from a
            // one-letter shorthand is any word of two letters.
            let typed = word.trim().trim_end_matches(';').trim().to_lowercase();
            let hint = match suggest::closest(&typed, Command::ALL.map(Command::name)) {
                Some(name) => format!("did you mean {name:?}?"),
                None => "try `omclient help`".to_string(),
            };
            Error::msg(format!("unknown command {word:?}; {hint}"))
        })
    }

    /// The table of spellings. Trimming on both sides of the `;` lets
    /// `d ;` and ` d; ` through too: at a prompt, stray spaces are typos,
    /// not a different command.
    fn from_word(word: &str) -> Option<Command> {
        let word = word.trim().trim_end_matches(';').trim();
        Some(match word {
            "h" | "help" | "?" => Command::Help,
            "c" | "config" => Command::Config,
            "servers" => Command::Servers,
            "stats" | "t" => Command::Stats,
            "d" | "dump" | "display" => Command::Dump,
            "s" | "stop" => Command::Stop,
            "verify" => Command::Verify,
            "resolve" => Command::Resolve,
            "q" | "quit" | "exit" => Command::Quit,
            _ => return None,
        })
    }

    /// The command's full name, as `help` lists it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Command::Help => "help",
            Command::Config => "config",
            Command::Servers => "servers",
            Command::Stats => "stats",
            Command::Dump => "dump",
            Command::Stop => "stop",
            Command::Verify => "verify",
            Command::Resolve => "resolve",
            Command::Quit => "quit",
        }
    }
}

impl FromStr for Command {
    type Err = Error;

    fn from_str(word: &str) -> Result<Command> {
        Command::parse(word)
    }
}

/// Report paths of a `verify` line at the prompt: every word that is not
/// an option, so `verify --reports a.json b.json` and `verify a.json b.json`
/// mean the same.
pub(crate) fn report_paths(words: &[&str]) -> Vec<PathBuf> {
    words
        .iter()
        .filter(|w| !w.starts_with("--"))
        .map(|w| Path::new(w).to_path_buf())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_every_command() {
        let spellings: [(&[&str], Command); 9] = [
            (&["h", "help", "?"], Command::Help),
            (&["c", "config"], Command::Config),
            (&["servers"], Command::Servers),
            (&["t", "stats"], Command::Stats),
            (&["d", "dump", "display"], Command::Dump),
            (&["s", "stop"], Command::Stop),
            (&["verify"], Command::Verify),
            (&["resolve"], Command::Resolve),
            (&["q", "quit", "exit"], Command::Quit),
        ];
        for (words, command) in spellings {
            for word in words {
                for typed in [word.to_string(), format!("{word};"), format!(" {word} ; ")] {
                    assert_eq!(typed.parse::<Command>().unwrap(), command, "{typed:?}");
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for command in Command::ALL {
            assert_eq!(Command::parse(command.name()).unwrap(), command);
            assert!(COMMANDS.contains(command.name()), "{command:?}");
        }
    }

    #[test]
    fn an_unknown_word_is_quoted_as_typed_with_the_likely_command() {
        let said = |word: &str| Command::parse(word).unwrap_err().to_string();
        for word in ["bogus", "dd;", "xyzzy"] {
            assert_eq!(
                said(word),
                format!("unknown command {word:?}; try `omclient help`")
            );
        }
        // Words the seed never had are not guessed at: a near miss is an
        // error that names the likely command, never that command run.
        let near = [
            ("stat", "stats"),
            ("stat;", "stats"),
            ("STOP", "stop"),
            (" dupm ", "dump"),
            ("sever", "servers"),
            ("verfy", "verify"),
        ];
        for (word, meant) in near {
            assert_eq!(
                said(word),
                format!("unknown command {word:?}; did you mean {meant:?}?")
            );
        }
        assert!(Command::parse("").is_err());
        assert!(Command::parse("st").is_err());
    }

    #[test]
    fn report_paths_skip_options() {
        let paths = report_paths(&["--reports", "a.json", "b.json", "--json"]);
        assert_eq!(paths, [PathBuf::from("a.json"), PathBuf::from("b.json")]);
    }
}
