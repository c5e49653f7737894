//! `omclient`: operations & maintenance. See `omclient --help`.

use std::io::IsTerminal;

use mass_connect::cli::{self, Args};
use mass_connect::omclient::{self, COMMANDS, Target};
use mass_connect::{Error, Result};

const USAGE: &str = "\
omclient: look inside a running mass_connect system, or stop it

USAGE:
    omclient [--config PATH] [COMMAND] [--server IP:PORT] [--json]
    omclient [--config PATH]            (interactive prompt, like the seed's)

OPTIONS:
    --config PATH       config file [default: ./config.json]
    --server IP:PORT    one server only [default: every server in the config]
    --json              machine-readable output
    -h, --help          this text

EXIT STATUS: 0 when every server answered, 1 when some were down, 2 on bad usage.
";

fn main() {
    let result = run();
    let all_up = cli::exit_on_error("omclient", result);
    std::process::exit(if all_up { 0 } else { 1 });
}

fn run() -> Result<bool> {
    let mut args = Args::from_env("omclient", &format!("{USAGE}\n{COMMANDS}"));
    let (_, config) = args.config()?;
    let json = args.flag("--json");
    let server = match args.value("--server")? {
        Some(s) => Some(
            s.parse()
                .map_err(|_| args.error(&format!("--server {s:?} is not IP:PORT")))?,
        ),
        None => None,
    };
    let command = args.positional();
    args.finish()?;

    let Some(command) = command else {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            // Piped commands work as well: `echo 'd;' | omclient`.
        }
        omclient::interactive(&config, stdin.lock(), std::io::stdout())?;
        return Ok(true);
    };
    if omclient::command_name(&command) == Some("quit") {
        return Err(Error::msg(
            "`quit` only makes sense at the interactive prompt",
        ));
    }
    let outcome = omclient::run(
        &command,
        &Target {
            config: &config,
            server,
            json,
        },
    )?;
    cli::say(outcome.text.trim_end());
    Ok(outcome.all_up)
}
