//! The `omclient` program: its options and usage, the one-shot command
//! or the prompt, and its exit status. `src/bin/omclient.rs` only calls
//! [`main`].

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::{self, Args};
use crate::ops::omclient::{self, COMMANDS, Command, Target};
use crate::{Config, Error, Result};

const USAGE: &str = "\
omclient: look inside a running mass_connect system, or stop it

USAGE:
    omclient [--config PATH] [COMMAND] [--server IP:PORT|HOST:PORT] [--json]
    omclient [--config PATH]            (interactive prompt, like the seed's)
    omclient verify --reports A.json B.json ... [--config PATH] [--json]
    omclient resolve NAME ...           (IPv4 address of each, like getent)

OPTIONS:
    --config PATH       config file [default: ./config.json; without one,
                        the built-in defaults]
    --server ADDR       one server only, IP:PORT or HOST:PORT (localhost:18677)
                        [default: every server in the config]
    --json              machine-readable output
    -h, --help          this text
    -V, --version       omclient's version

At the interactive prompt, `stop` (`s;`) asks `stop N servers? [y/N]` first
when the input is a terminal; commands piped in (`echo 's;' | omclient`) are
not asked about.

COMMAND runs against every server of every host in the config, all at once.

`verify` reads no server: it merges the startup reports of every host (each
written with `startup --report`) into one verdict. With --config, every server
of the config must have final counts in some report.

EXIT STATUS: 0 when every server answered (verify: the merged verdict is OK),
1 when some were down (verify: FAILED; resolve: a name has no IPv4 address),
2 on bad usage or unreadable reports.
";

/// The `omclient` program: answers, and exits with its status.
pub fn main() {
    let result = run();
    let all_up = cli::exit_on_error("omclient", result);
    std::process::exit(if all_up { 0 } else { 1 });
}

fn run() -> Result<bool> {
    let mut args = Args::from_env("omclient", &format!("{USAGE}\n{COMMANDS}"));
    let config_given = args.value("--config")?;
    let json = args.flag("--json");
    let mut reports: Vec<PathBuf> = args
        .values("--reports")?
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let server = args
        .value("--server")?
        .map(|s| args.server(&s))
        .transpose()?;
    // Parsed here, but an unknown word is reported further down, after the
    // options and the config: a mistake in those is named first.
    let command = args.positional().map(|word| Command::parse(&word));
    if let Some(Ok(Command::Verify)) = command {
        // Every other word is a report too: `--reports a.json b.json c.json`.
        while let Some(path) = args.positional() {
            reports.push(PathBuf::from(path));
        }
        args.finish()?;
        // The config is optional here: the reports carry what is needed.
        let expected: Vec<String> = match &config_given {
            Some(path) => Config::load(Path::new(path))?
                .all_servers()
                .iter()
                .map(|a| a.to_string())
                .collect(),
            None => Vec::new(),
        };
        let outcome = omclient::verify_reports(&reports, &expected, json)?;
        cli::say(outcome.text.trim_end());
        return Ok(outcome.all_up);
    }
    if let Some(Ok(Command::Resolve)) = command {
        // Needs no config: the names are the arguments.
        let mut names = Vec::new();
        while let Some(name) = args.positional() {
            names.push(name);
        }
        args.finish()?;
        let outcome = omclient::resolve(&names)?;
        cli::say(outcome.text.trim_end());
        return Ok(outcome.all_up);
    }
    if !reports.is_empty() {
        return Err(args.error("--reports goes with the verify command"));
    }
    args.finish()?;
    let config = Config::load_given(config_given.as_deref().map(Path::new))?;

    let Some(command) = command else {
        let stdin = std::io::stdin();
        // A person at a terminal is asked before `stop`; piped commands are
        // a script's, which must not hang on a question: `echo 's;' |
        // omclient` stops at once.
        let at_terminal = stdin.is_terminal();
        omclient::interactive(&config, stdin.lock(), std::io::stdout(), at_terminal)?;
        return Ok(true);
    };
    let command = command?;
    if command == Command::Quit {
        return Err(Error::msg(
            "`quit` only makes sense at the interactive prompt",
        ));
    }
    let outcome = omclient::run(
        command,
        &Target {
            config: &config,
            server,
        },
        json,
    )?;
    cli::say(outcome.text.trim_end());
    Ok(outcome.all_up)
}
