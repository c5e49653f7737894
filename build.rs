//! Build script: embeds the commit the programs were built from, as
//! `MASS_CONNECT_COMMIT`, for startup's capacity cache (a capacity
//! measured by one build is not trusted by another: a change to the client
//! or the server moves it).
//!
//! `git rev-parse HEAD` when git and a repository are there; otherwise (a
//! crate tarball, no git) `v` and the package version. No crate: one
//! command, and cargo is told to run this again when HEAD moves.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit =
        git(&["rev-parse", "HEAD"]).unwrap_or_else(|| format!("v{}", env!("CARGO_PKG_VERSION")));
    println!("cargo:rustc-env=MASS_CONNECT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // HEAD names the branch; the branch's file (or packed-refs) holds the
    // commit. Only files that exist: cargo reruns on a missing one every time.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        if Path::new(&path).is_file() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// What `git ARGS` prints, trimmed, if it ran and printed something.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
