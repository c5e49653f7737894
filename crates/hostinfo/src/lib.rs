//! What this host allows and what its processes cost, read from the OS.
//!
//! The product's programs (startup's pre-flight and resource figures, a
//! server's `stats`, a client's report) and both benches read the same
//! figures; this crate is the one reader, so a field of `/proc` is parsed
//! in one place and means one thing everywhere.
//!
//! * [`process`]: one process's CPU time, memory, threads, context
//!   switches, run delay and descriptors.
//! * [`kernel`]: what the kernel holds that no process's RSS shows (kernel
//!   stacks, slab, page tables) and the TCP sockets' count and memory.
//! * [`machine`]: the whole machine's load and busy CPU time, its CPU
//!   model, kernel release and host name.
//! * [`limits`]: the OS limits a layout meets (open files, tasks, local
//!   ports), and raising the ones a process may raise itself.
//!
//! Linux is read through `/proc` and libc; Windows only for its dynamic
//! port range (the product reads Windows process figures through Win32 in
//! its own `sys` room); elsewhere every figure is `None`. The `unsafe`
//! blocks are single libc calls, each with a note on why it is sound.

#![deny(missing_docs)]

pub mod kernel;
pub mod limits;
pub mod machine;
pub mod process;
