//! Everything that talks to the operating system beyond what std offers:
//! process figures (`/proc`, Win32), thread placement and priority, the
//! malloc arena, socket options and OS-limit hints.
//!
//! This is the one room where `unsafe` is allowed (the crate denies it
//! everywhere else): each block is a single OS call std lacks, with a
//! `// SAFETY:` note on why it is sound. Platform code sits behind
//! `cfg(target_os = "linux")` / `cfg(windows)` here, so the rest of the
//! crate is the same on every platform.
//!
//! * `procstat`: a process's CPU time, memory, threads and context
//!   switches (Linux through the `hostinfo` crate, the workspace's one
//!   reader of `/proc`; Windows through `windows`).
//! * [`affinity`]: pinning a link's threads to a CPU, and their priority.
//! * [`footprint`]: one malloc arena per process, to keep memory small.
//! * `net`: socket options, the listen backlog, timeouts, locality of an
//!   address, limit hints.
//! * [`limits`]: the OS limits a layout meets (open files, tasks, local
//!   ports), read for startup's pre-flight: `hostinfo::limits`, re-exported.
//! * `windows`: the Win32 calls (process figures, thread placement, the job
//!   object that ties children to startup); Windows only.

#![allow(unsafe_code)]

pub mod affinity;
pub mod footprint;
pub(crate) mod net;
pub(crate) mod procstat;

/// The OS limits a layout meets, from the workspace's one reader.
pub(crate) use hostinfo::limits;
#[cfg(windows)]
pub(crate) mod windows;
