//! The operations & maintenance client behind the `omclient` program:
//! `help`, `config`, `servers`, `stats`, `dump` and `stop`, one-shot or at an
//! interactive prompt that also takes the seed's `h;` `q;` `s;` `d;`.
//!
//! Every command goes to every server of every host in the config (or one,
//! with `--server`), all at once, so that a host that is down or cut off
//! costs one timeout, not one per server. A server that does not answer is
//! shown as DOWN with the reason (unreachable, or nothing listening), and
//! the command goes on with the others. With several hosts, each command
//! adds a line per host.
//!
//! `verify --reports a.json b.json ...` reads no server: it merges the
//! reports of every host's startup into one verdict (see `verify::merge`).
//!
//! A typed word becomes a [`Command`] in one place (`command`, seed
//! shorthand included); the command then runs in two steps kept in separate
//! files, so that what is shown can be tested without a network:
//!
//! * gathering: `ask` puts the question to the servers and `reports` reads
//!   the report files; both return plain data (`data`, and the verdict).
//! * rendering: `render` and `render_verify` turn that data into text or
//!   JSON, and nothing else: no sockets, no files, no clock.
//!
//! This file joins the two steps, and runs the interactive prompt.

mod ask;
mod command;
mod data;
mod render;
mod render_verify;
mod reports;

use std::io::{BufRead, Write};
use std::path::PathBuf;

pub use ask::Target;
pub use command::{COMMANDS, Command, report_paths};

use crate::config::Config;
use crate::error::{Error, Result};

/// The output of one command and whether every server answered.
pub struct Outcome {
    /// What to print.
    pub text: String,
    /// False when some server was down.
    pub all_up: bool,
}

/// Runs one command against `target`; prints JSON instead of text when
/// `json`.
///
/// # Errors
/// `verify`, which needs report files (see [`verify_reports`]); a config
/// that cannot be shown. Servers that are down are part of the outcome.
pub fn run(command: Command, target: &Target<'_>, json: bool) -> Result<Outcome> {
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
pub fn verify_reports(paths: &[PathBuf], expected: &[String], json: bool) -> Result<Outcome> {
    let verdict = reports::read(paths, expected)?;
    Ok(Outcome {
        text: render_verify::render(&verdict, json),
        all_up: verdict.merged.ok,
    })
}

/// The interactive prompt, like the seed's: reads commands until `q` or
/// end of input. Each line may carry `--server` and `--json` too.
///
/// # Errors
/// The input cannot be read. A command that fails prints its error and
/// the prompt goes on.
pub fn interactive(config: &Config, input: impl BufRead, mut output: impl Write) -> Result<()> {
    // Writes are best effort, as `cli::say`'s are: a closed pipe
    // (`omclient | head`) must not end in a panic.
    let _ = writeln!(
        output,
        "mass_connect omclient: type 'h' for help, 'q' to quit ('h;' works too)"
    );
    let _ = write!(output, "omclient> ");
    let _ = output.flush();
    for line in input.lines() {
        let line = line.map_err(|e| Error::msg(format!("cannot read input: {e}")))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(first) = words.first() {
            let json = words.contains(&"--json");
            // At the prompt a `--server` that is not IP:PORT is ignored:
            // the command goes to every server.
            let server = words
                .iter()
                .position(|w| *w == "--server")
                .and_then(|i| words.get(i + 1))
                .and_then(|s| s.parse().ok());
            let result = match Command::parse(first) {
                Ok(Command::Quit) => break,
                Ok(Command::Verify) => verify_reports(&report_paths(&words[1..]), &[], json),
                Ok(command) => run(command, &Target { config, server }, json),
                Err(e) => Err(e),
            };
            match result {
                Ok(outcome) => {
                    let _ = writeln!(output, "{}", outcome.text.trim_end());
                }
                Err(e) => {
                    let _ = writeln!(output, "{e}");
                }
            }
        }
        let _ = write!(output, "omclient> ");
        let _ = output.flush();
    }
    let _ = writeln!(output);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prompt's loop on commands that ask no server: help, a typo, a
    /// `verify` without reports, then quit (what follows it is not run).
    #[test]
    fn the_prompt_answers_each_line_and_stops_at_quit() {
        let config = Config::default();
        let input = "h;\n\n  bogus  \nverify --json\nq;\nstop\n";
        let mut output = Vec::new();
        interactive(&config, input.as_bytes(), &mut output).unwrap();
        let expected = format!(
            "mass_connect omclient: type 'h' for help, 'q' to quit ('h;' works too)\n\
             omclient> {COMMANDS}\n\
             omclient> omclient> unknown command \"bogus\"; try `omclient help`\n\
             omclient> verify needs the reports of every host: \
             omclient verify --reports a.json b.json ...\n\
             omclient> \n"
        );
        assert_eq!(String::from_utf8(output).unwrap(), expected);
    }

    #[test]
    fn end_of_input_ends_the_prompt_on_a_new_line() {
        let mut output = Vec::new();
        interactive(&Config::default(), "help".as_bytes(), &mut output).unwrap();
        let text = String::from_utf8(output).unwrap();
        assert!(
            text.ends_with(&format!("omclient> {COMMANDS}\nomclient> \n")),
            "{text}"
        );
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
