//! The capacity cache: one file per host under the user's cache folder,
//! holding the last capacity measured for each layout, each with what it
//! was measured on. A capacity is a fact about one machine, one build and
//! one layout, so it is reused only while every one of those matches; when
//! one does not, the caller is told which, and measures again.
//!
//! Where: `$MASS_CONNECT_CACHE_DIR` if set (tests point it at their own
//! folder), else `$XDG_CACHE_HOME/mass_connect` or `~/.cache/mass_connect`
//! on Unix and `%LOCALAPPDATA%\mass_connect` on Windows; the file is
//! `capacity-<host>.json`, so a home folder shared by many hosts keeps one
//! file each.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Capacity, LinkLayout};
use crate::error::{Error, Result};

/// The environment variable that moves the cache (tests use it).
pub(crate) const DIR_VAR: &str = "MASS_CONNECT_CACHE_DIR";

/// Entries kept per file: one per layout, the oldest dropped beyond this.
const KEPT: usize = 20;

/// What a capacity was measured on: it is reused only while all of it
/// matches (the host is the file's name, shown, not compared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MeasuredOn {
    /// The host's name.
    pub(crate) host: String,
    /// The CPU model (`/proc/cpuinfo`'s `model name`; Windows:
    /// `PROCESSOR_IDENTIFIER`).
    pub(crate) cpu_model: String,
    /// CPUs this process may use.
    pub(crate) cpus: u64,
    /// The kernel's release (`uname -r`; elsewhere the OS's name).
    pub(crate) kernel: String,
    /// The commit the programs were built from (`build.rs`), or `v` and
    /// the version where git was not at hand.
    pub(crate) commit: String,
}

impl MeasuredOn {
    /// This machine and this build, now.
    pub(crate) fn here() -> MeasuredOn {
        MeasuredOn {
            host: host_name(),
            cpu_model: cpu_model(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
            kernel: kernel(),
            commit: env!("MASS_CONNECT_COMMIT").to_string(),
        }
    }
}

#[cfg(target_os = "linux")]
fn host_name() -> String {
    hostinfo::machine::host_name().unwrap_or_else(|| "this-host".into())
}

#[cfg(target_os = "linux")]
fn cpu_model() -> String {
    hostinfo::machine::cpu_model().unwrap_or_else(|| "unknown".into())
}

#[cfg(target_os = "linux")]
fn kernel() -> String {
    hostinfo::machine::kernel_release().unwrap_or_else(|| "linux".into())
}

// Elsewhere, best effort from what the environment says (Windows sets
// COMPUTERNAME and PROCESSOR_IDENTIFIER for every process).
#[cfg(not(target_os = "linux"))]
fn host_name() -> String {
    std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "this-host".into())
}

#[cfg(not(target_os = "linux"))]
fn cpu_model() -> String {
    std::env::var("PROCESSOR_IDENTIFIER").unwrap_or_else(|_| "unknown".into())
}

#[cfg(not(target_os = "linux"))]
fn kernel() -> String {
    std::env::consts::OS.to_string()
}

/// The file: every layout's last capacity on this host.
#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    /// One per layout, oldest first.
    capacities: Vec<Capacity>,
}

/// What the cache holds for a layout on this machine.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A capacity measured on this machine, build and layout.
    Reuse(Box<Capacity>),
    /// One that does not apply; the text says which field differs.
    Stale(String),
    /// Nothing cached.
    Empty,
}

/// The cache file for this host, if a cache folder can be found.
pub(crate) fn path(host: &str) -> Option<PathBuf> {
    // Only what every file system takes in a name.
    let name = host.replace(
        |c: char| !c.is_ascii_alphanumeric() && !"._-".contains(c),
        "_",
    );
    Some(dir()?.join(format!("capacity-{name}.json")))
}

fn dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(DIR_VAR) {
        return Some(PathBuf::from(dir));
    }
    let base = if cfg!(windows) {
        var("LOCALAPPDATA").map(PathBuf::from)
    } else {
        var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
    };
    Some(base?.join("mass_connect"))
}

/// What the cache at `file` says about `layout` on `here`.
pub(crate) fn lookup(file: &Path, layout: &LinkLayout, here: &MeasuredOn) -> Lookup {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Lookup::Empty;
    };
    let Ok(cached) = serde_json::from_str::<File>(&text) else {
        return Lookup::Stale(format!("{} is not a capacity cache", file.display()));
    };
    let same_layout = cached.capacities.iter().rev().find(|c| c.layout == *layout);
    let Some(c) = same_layout.or(cached.capacities.last()) else {
        return Lookup::Empty;
    };
    match differs(c, layout, here) {
        None => Lookup::Reuse(Box::new(c.clone())),
        Some(why) => Lookup::Stale(why),
    }
}

/// The first field of what `c` was measured on that differs from `here`
/// with `layout`, said as the user reads it.
pub(crate) fn differs(c: &Capacity, layout: &LinkLayout, here: &MeasuredOn) -> Option<String> {
    let then = &c.measured_on;
    let fields = [
        ("layout", c.layout.to_string(), layout.to_string()),
        ("CPU model", then.cpu_model.clone(), here.cpu_model.clone()),
        ("CPU count", then.cpus.to_string(), here.cpus.to_string()),
        ("kernel", then.kernel.clone(), here.kernel.clone()),
        ("commit", then.commit.clone(), here.commit.clone()),
    ];
    fields
        .into_iter()
        .find(|(_, a, b)| a != b)
        .map(|(field, a, b)| format!("{field} differs: measured with {a:?}, now {b:?}"))
}

/// Stores `c` as its layout's capacity in the cache at `file`.
///
/// # Errors
/// The folder cannot be made or the file written.
pub(crate) fn store(file: &Path, c: &Capacity) -> Result<()> {
    let mut cached: File = std::fs::read_to_string(file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    cached.capacities.retain(|old| old.layout != c.layout);
    cached.capacities.push(c.clone());
    let oldest = cached.capacities.len().saturating_sub(KEPT);
    cached.capacities = cached.capacities.split_off(oldest);
    let cannot = |e: std::io::Error| {
        Error::msg(format!(
            "cannot write the capacity cache {}: {e}",
            file.display()
        ))
    };
    if let Some(folder) = file.parent() {
        std::fs::create_dir_all(folder).map_err(cannot)?;
    }
    let json = serde_json::to_string_pretty(&cached).unwrap_or_default() + "\n";
    // Written beside, then renamed: a reader never sees half a file.
    let partial = file.with_extension("json.partial");
    std::fs::write(&partial, json).map_err(cannot)?;
    std::fs::rename(&partial, file).map_err(cannot)
}
