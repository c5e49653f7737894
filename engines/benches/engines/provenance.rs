//! Which code ran, and where: the commit and the machine, read once per
//! run and written on every CSV row, so a row carried into a document
//! still says what produced it.

use std::path::Path;
use std::process::Command;

/// What produced a run's rows.
pub struct Provenance {
    /// `git rev-parse --short HEAD`, with `-dirty` when what is built and
    /// measured (`src`, `engines`, `benches`, `crates`, the manifests)
    /// differs from HEAD; `unknown` outside a git checkout.
    pub commit: String,
    /// CPU model, CPU count and kernel, e.g. `Intel(R) Xeon(R) CPU @
    /// 2.20GHz; 2 CPUs; Linux 6.18.0`.
    pub machine: String,
}

/// The paths whose changes change what the bench measures.
const BUILT: [&str; 6] = [
    "src",
    "engines",
    "benches",
    "crates",
    "Cargo.toml",
    "Cargo.lock",
];

impl Provenance {
    /// Reads the commit of the workspace at `root` and this machine.
    pub fn read(root: &Path) -> Provenance {
        Provenance {
            commit: commit(root).unwrap_or_else(|| "unknown".into()),
            machine: machine(),
        }
    }
}

fn commit(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).filter(|o| o.status.success())?;
    let hash = String::from_utf8_lossy(&head.stdout).trim().to_string();
    // `diff --quiet` exits 1 when the tracked files differ.
    let mut diff = vec!["diff", "--quiet", "HEAD", "--"];
    diff.extend(BUILT);
    let dirty = git(&diff).is_some_and(|o| o.status.code() == Some(1));
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{}; {cpus} CPU{}; {} {}",
        hostinfo::machine::cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        if cpus == 1 { "" } else { "s" },
        std::env::consts::OS,
        hostinfo::machine::kernel_release().unwrap_or_else(|| "?".into())
    )
}
