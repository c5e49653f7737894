//! Keeping each process small: the seed's users run 100 clients and 10
//! servers on one PC, so every megabyte per process counts a hundred times.
//!
//! The largest avoidable cost on Linux is glibc's malloc: every thread that
//! allocates gets an arena of its own (up to 8 per CPU), each with pages of
//! its own. A client's link threads allocate almost nothing after they start
//! (no allocation per update), so they gain nothing from private arenas:
//! one shared arena saved about 1.1 MB per 10-link client here
//! (docs/PERFORMANCE.md, "Memory").

/// Makes every thread of this process share one malloc arena. Call it first
/// thing in `main`, before any thread starts. A no-op where the C library is
/// not glibc.
pub fn share_one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning value inside glibc's allocator; it
    // takes plain integers and is called before this process has threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
