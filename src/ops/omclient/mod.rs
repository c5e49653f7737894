//! The operations & maintenance client behind the `omclient` program:
//! `help`, `config`, `servers`, `stats`, `dump` and `stop`, one-shot or at an
//! interactive prompt that also takes the seed's `h;` `q;` `s;` `d;`; and
//! `verify --reports a.json b.json ...`, which reads no server but merges
//! every host's startup report into one verdict; and `resolve NAME...`,
//! which asks the resolver for names' addresses (a `getent` for images
//! without one).
//!
//! A typed word becomes a `Command` in one place (`command`); the command
//! then runs in two steps, so that what is shown can be tested without a
//! network. Gathering (`ask` asks the servers, all at once; `reports` reads
//! the report files) returns plain data (`data`); rendering (`render`,
//! `render_verify`) turns it into text or JSON, with no socket, file or
//! clock.
//!
//! [`program`] is the `omclient` program's command line and exit status.
//! This file joins the two steps, and runs the prompt. At a terminal the
//! prompt asks before `stop` (`stop 3 servers? [y/N]`): one stray `s;`
//! would otherwise end a load test. Commands piped in are not asked about,
//! so `echo 's;' | omclient` still stops at once.

mod ask;
mod command;
mod data;
pub mod program;
mod render;
mod render_verify;
mod reports;
mod resolve;

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

pub(crate) use ask::Target;
pub(crate) use command::{COMMANDS, Command, report_paths};
pub(crate) use resolve::resolve;

use crate::cli;
use crate::config::Config;
use crate::error::{Error, Result};

/// The output of one command and whether every server answered.
pub(crate) struct Outcome {
    /// What to print.
    pub(crate) text: String,
    /// False when some server was down.
    pub(crate) all_up: bool,
}

/// Runs one command against `target`; prints JSON instead of text when
/// `json`.
///
/// # Errors
/// `verify`, which needs report files (see [`verify_reports`]); a config
/// that cannot be shown. Servers that are down are part of the outcome.
pub(crate) fn run(command: Command, target: &Target<'_>, json: bool) -> Result<Outcome> {
    let gathered = target.gather(command)?;
    Ok(Outcome {
        text: render::render(&gathered, json),
        all_up: gathered.all_up(),
    })
}

/// `verify --reports`: reads every host's startup report and merges them
/// into one verdict. `expected` lists servers that must have final counts
/// (the config's, when one was given). `all_up` is the verdict.
///
/// # Errors
/// No report given; a report cannot be read or is not a startup report;
/// the same report is given twice; two reports carry final counts for one
/// server.
pub(crate) fn verify_reports(
    paths: &[PathBuf],
    expected: &[String],
    json: bool,
) -> Result<Outcome> {
    let verdict = reports::read(paths, expected)?;
    Ok(Outcome {
        text: render_verify::render(&verdict, json),
        all_up: verdict.merged.ok,
    })
}

/// The interactive prompt, like the seed's: reads commands until `q` or
/// end of input. Each line may carry `--server` and `--json` too.
///
/// With `confirm_stop` (omclient sets it when its input is a terminal),
/// `stop` first asks `stop N servers? [y/N]` and reads the answer from the
/// same input; only `y` or `yes`, in any case, stops anything.
///
/// # Errors
/// The input cannot be read. A command that fails prints its error and
/// the prompt goes on.
pub(crate) fn interactive(
    config: &Config,
    input: impl BufRead,
    mut output: impl Write,
    confirm_stop: bool,
) -> Result<()> {
    // Writes are best effort, as `cli::say`'s are: a closed pipe
    // (`omclient | head`) must not end in a panic.
    let _ = writeln!(
        output,
        "mass_connect omclient: type 'h' for help, 'q' to quit ('h;' works too)"
    );
    let _ = write!(output, "omclient> ");
    let _ = output.flush();
    let mut lines = input.lines();
    while let Some(line) = lines.next() {
        let line = line.map_err(|e| Error::msg(format!("cannot read input: {e}")))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(first) = words.first() {
            let json = words.contains(&"--json");
            let result = match (Command::parse(first), prompt_server(&words)) {
                (Ok(Command::Quit), _) => break,
                (Err(e), _) => Err(e),
                (Ok(Command::Verify), _) => verify_reports(&report_paths(&words[1..]), &[], json),
                (Ok(Command::Resolve), _) => {
                    resolve(&words[1..].iter().map(|w| w.to_string()).collect::<Vec<_>>())
                }
                (Ok(_), Err(e)) => Err(e),
                (Ok(command), Ok(server)) => {
                    let target = Target { config, server };
                    let go_ahead = !(command == Command::Stop && confirm_stop)
                        || confirm(&mut lines, &mut output, &stop_question(&target))?;
                    if go_ahead {
                        run(command, &target, json)
                    } else {
                        Ok(Outcome {
                            text: "nothing stopped".into(),
                            all_up: true,
                        })
                    }
                }
            };
            let _ = match result {
                Ok(outcome) => writeln!(output, "{}", outcome.text.trim_end()),
                Err(e) => writeln!(output, "{e}"),
            };
        }
        let _ = write!(output, "omclient> ");
        let _ = output.flush();
    }
    let _ = writeln!(output);
    Ok(())
}

/// The `--server` of a prompt line, if any. A value that is not a server
/// is an error, not ignored: `s; --server typo` must not stop every server.
fn prompt_server(words: &[&str]) -> Result<Option<SocketAddr>> {
    let Some(at) = words.iter().position(|w| *w == "--server") else {
        return Ok(None);
    };
    let text = words
        .get(at + 1)
        .ok_or_else(|| Error::msg("--server needs IP:PORT or HOST:PORT"))?;
    cli::server_address(text)
        .map(Some)
        .map_err(|e| Error::msg(format!("--server: {e}")))
}

/// `stop 1 server?` or `stop 3 servers?`: how many `stop` would end.
fn stop_question(target: &Target<'_>) -> String {
    match target.servers().len() {
        1 => "stop 1 server?".to_string(),
        n => format!("stop {n} servers?"),
    }
}

/// Asks `question` and reads the answer as the next line of the prompt's
/// input. Yes is `y` or `yes` in any case; anything else, end of input
/// included, is no: the safe answer to a question about stopping.
///
/// # Errors
/// The input cannot be read.
fn confirm(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    output: &mut impl Write,
    question: &str,
) -> Result<bool> {
    let _ = write!(output, "{question} [y/N] ");
    let _ = output.flush();
    match lines.next() {
        None => {
            let _ = writeln!(output);
            Ok(false)
        }
        Some(Err(e)) => Err(Error::msg(format!("cannot read the answer: {e}"))),
        Some(Ok(answer)) => Ok(is_yes(&answer)),
    }
}

/// `y` or `yes`, in any case, spaces around ignored.
fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// The prompt's loop on commands that ask no server: help, a typo, a
    /// `verify` without reports, then quit (what follows it is not run).
    #[test]
    fn the_prompt_answers_each_line_and_stops_at_quit() {
        let input = "h;\n\n  bogus  \nverify --json\nq;\nstop\n";
        let expected = format!(
            "mass_connect omclient: type 'h' for help, 'q' to quit ('h;' works too)\n\
             omclient> {COMMANDS}\n\
             omclient> omclient> unknown command \"bogus\"; try `omclient help`\n\
             omclient> verify needs the reports of every host: \
             omclient verify --reports a.json b.json ...\n\
             omclient> \n"
        );
        assert_eq!(prompt(&Config::default(), input, true), expected);
    }

    #[test]
    fn end_of_input_ends_the_prompt_on_a_new_line() {
        let text = prompt(&Config::default(), "help", true);
        assert!(
            text.ends_with(&format!("omclient> {COMMANDS}\nomclient> \n")),
            "{text}"
        );
    }

    /// A stand-in server: counts the `stop`s it is sent and answers each
    /// with `bye`, as a server does (before the answer, so the count is
    /// settled once omclient has its reply).
    fn stand_in_server() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stops = Arc::new(AtomicUsize::new(0));
        let counted = stops.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                if line.trim() == "stop" {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let _ = (&stream).write_all(b"bye\n");
                }
            }
        });
        (addr, stops)
    }

    /// A config listing `addr` and a second server that is never reached.
    fn config_with(addr: SocketAddr) -> Config {
        Config::from_json(&format!(
            r#"{{"server_ip_list": "127.0.0.1", "server_port_list": "{};1"}}"#,
            addr.port()
        ))
        .unwrap()
    }

    /// The prompt's whole output for `input`.
    fn prompt(config: &Config, input: &str, confirm_stop: bool) -> String {
        let mut output = Vec::new();
        interactive(config, input.as_bytes(), &mut output, confirm_stop).unwrap();
        String::from_utf8(output).unwrap()
    }

    #[test]
    fn at_a_terminal_stop_goes_ahead_only_on_yes() {
        let (addr, stops) = stand_in_server();
        let config = config_with(addr);
        let one = format!("s; --server {addr}\n");
        for no in ["n", "N", "no", "", "  ", "yes please", "ye", "q;", "s;"] {
            let text = prompt(&config, &format!("{one}{no}\n"), true);
            assert!(
                text.contains("omclient> stop 1 server? [y/N] nothing stopped\n"),
                "{no:?}: {text}"
            );
            assert_eq!(stops.load(Ordering::SeqCst), 0, "{no:?}");
        }
        for (n, yes) in ["y", "Y", "yes", "YES", " Yes "].into_iter().enumerate() {
            let text = prompt(&config, &format!("{one}{yes}\n"), true);
            assert!(
                text.contains(&format!("[y/N] {addr:<24} stopped\n")),
                "{yes:?}: {text}"
            );
            assert_eq!(stops.load(Ordering::SeqCst), n + 1, "{yes:?}");
        }
        // Without --server it counts every server of the config; end of
        // input at the question is a no, on a line of its own.
        let text = prompt(&config, "stop", true);
        assert!(
            text.ends_with("omclient> stop 2 servers? [y/N] \nnothing stopped\nomclient> \n"),
            "{text}"
        );
        assert_eq!(stops.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_bad_server_at_the_prompt_is_named_not_ignored() {
        let (addr, stops) = stand_in_server();
        let text = prompt(
            &config_with(addr),
            "s; --server typo\nstop --server\n",
            false,
        );
        assert!(
            text.contains("--server: \"typo\" is not IP:PORT or HOST:PORT\n"),
            "{text}"
        );
        assert!(
            text.contains("--server needs IP:PORT or HOST:PORT\n"),
            "{text}"
        );
        assert_eq!(stops.load(Ordering::SeqCst), 0, "nothing was stopped");
    }

    #[test]
    fn only_y_or_yes_is_yes() {
        for yes in ["y", "Y", "yes", "YeS", " y \r"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "n", "no", "yy", "yes!", "ja", "1", "true"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }

    #[test]
    fn verify_and_quit_are_not_server_commands() {
        let config = Config::default();
        let target = Target {
            config: &config,
            server: None,
        };
        let e = run(Command::Verify, &target, false).err().unwrap();
        assert_eq!(
            e.to_string(),
            "verify reads the hosts' reports: omclient verify --reports a.json b.json ..."
        );
        let quit = run(Command::Quit, &target, true).unwrap();
        assert!(quit.text.is_empty() && quit.all_up);
        let help = run(Command::Help, &target, true).unwrap();
        assert_eq!(help.text, COMMANDS);
    }
}
