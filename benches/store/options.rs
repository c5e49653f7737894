//! The command line: flags, defaults and `--quick`.

use std::path::PathBuf;

use crate::designs::DESIGNS;

pub struct Options {
    pub threads: Vec<usize>,
    pub paced_threads: Vec<usize>,
    pub seconds: f64,
    pub designs: Vec<&'static str>,
    pub out: PathBuf,
}

pub const USAGE: &str = "usage: cargo bench --bench store -- [--quick] [--threads 1,10,100,1000] \
[--paced-threads 1000|none] [--seconds 2] [--designs NAME,...] [--out target/bench-store]";

fn thread_list(flag: &str, list: &str) -> Result<Vec<usize>, String> {
    if flag == "--paced-threads" && list == "none" {
        return Ok(Vec::new());
    }
    let parsed: Result<Vec<usize>, _> = list.split(',').map(|t| t.trim().parse()).collect();
    match parsed {
        Ok(v) if !v.is_empty() && v.iter().all(|t| (1..=100_000).contains(t)) => Ok(v),
        _ => Err(format!("{flag} {list}: want counts from 1 to 100000")),
    }
}

pub fn parse_args() -> Result<Options, String> {
    let mut quick = false;
    let mut threads = None;
    let mut paced_threads = None;
    let mut seconds = None;
    let mut designs: Vec<&'static str> = DESIGNS.to_vec();
    let mut out = PathBuf::from("target/bench-store");

    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs {what}"))
        };
        match flag.as_str() {
            // cargo passes --bench to every bench target.
            "--bench" => {}
            "--quick" => quick = true,
            "--threads" => threads = Some(thread_list(&flag, &value("a list like 1,10,100")?)?),
            "--paced-threads" => {
                paced_threads = Some(thread_list(
                    &flag,
                    &value("a list like 100,1000, or none")?,
                )?)
            }
            "--seconds" => {
                let s = value("a number of seconds")?;
                match s.parse::<f64>() {
                    Ok(x) if x > 0.0 && x <= 3600.0 => seconds = Some(x),
                    _ => {
                        return Err(format!(
                            "--seconds {s}: want a number above 0, at most 3600"
                        ));
                    }
                }
            }
            "--designs" => {
                let list = value("a list of design names")?;
                designs = Vec::new();
                for d in list.split(',') {
                    let known = DESIGNS.iter().find(|&&k| k == d.trim()).ok_or_else(|| {
                        format!(
                            "--designs: unknown design {d:?}; known: {}",
                            DESIGNS.join(",")
                        )
                    })?;
                    designs.push(known);
                }
            }
            "--out" => out = PathBuf::from(value("a directory")?),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let (default_threads, default_paced, default_seconds) = if quick {
        (vec![1, 10, 100], vec![], 0.2)
    } else {
        (vec![1, 10, 100, 1000], vec![1000], 2.0)
    };
    Ok(Options {
        threads: threads.unwrap_or(default_threads),
        paced_threads: paced_threads.unwrap_or(default_paced),
        seconds: seconds.unwrap_or(default_seconds),
        designs,
        out,
    })
}
