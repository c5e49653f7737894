//! startup's once-a-second status line.
//!
//! On a terminal it redraws one line in place, with a progress bar when the
//! run has a duration; in a pipe or a log file it prints plain lines, one per
//! second, so `startup ... 2>&1 | tee run.log` stays readable.

use std::io::{IsTerminal, Write};
use std::time::Duration;

/// What one status line shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tick {
    /// Time since the clients started.
    pub(crate) elapsed: Duration,
    /// The run's length, when it has one.
    pub(crate) duration: Option<Duration>,
    /// Links connected now, and in all.
    pub(crate) links_up: u64,
    /// Links in all.
    pub(crate) links: u64,
    /// Acked updates per second over the last second.
    pub(crate) rate: f64,
    /// The schedule's target rate (0 for closed loop).
    pub(crate) target: f64,
    /// Latency p99 over the last second, in microseconds (`None` when no
    /// sample arrived: a saturated machine can delay clients' answers).
    pub(crate) p99_us: Option<u64>,
    /// Late sends, errors and reconnects so far.
    pub(crate) late: u64,
    /// Errors so far.
    pub(crate) errors: u64,
    /// Reconnects so far.
    pub(crate) reconnects: u64,
    /// Ticks dropped so far for being more than `max_lag_ms` behind.
    pub(crate) dropped: u64,
    /// The run so far breaks the saturation rule (`run_verdict::saturated`):
    /// its lateness p99, in microseconds. `None` while the clients keep
    /// their schedule.
    pub(crate) saturated: Option<u64>,
}

/// Formats one line. `bar` adds the progress bar (terminal mode).
pub(crate) fn render(t: &Tick, bar: bool) -> String {
    let secs = t.elapsed.as_secs();
    let time = match t.duration {
        Some(d) => format!("{} / {}", clock(secs), clock(d.as_secs())),
        None => clock(secs),
    };
    let progress = match (bar, t.duration) {
        (true, Some(d)) if !d.is_zero() => {
            let done = (t.elapsed.as_secs_f64() / d.as_secs_f64()).clamp(0.0, 1.0);
            let filled = (done * 20.0).round() as usize;
            format!("[{}{}] ", "#".repeat(filled), "-".repeat(20 - filled))
        }
        _ => String::new(),
    };
    let target = if t.target > 0.0 {
        format!(" of {:.0} ({:.1}%)", t.target, t.rate / t.target * 100.0)
    } else {
        String::new()
    };
    // Said the moment the run so far breaks the rule, not only in the
    // report at the end: a saturated run's rate measures this machine.
    let saturated = t.saturated.map_or_else(String::new, |p99| {
        format!("  SATURATED: lateness p99 {} so far", micros(p99))
    });
    format!(
        "{progress}{time}  links {}/{}  {:.0} updates/s{target}  p99 {}  late {}  dropped {}  errors {}  reconnects {}{saturated}",
        t.links_up,
        t.links,
        t.rate,
        t.p99_us.map_or_else(|| "-".to_string(), micros),
        t.late,
        t.dropped,
        t.errors,
        t.reconnects
    )
}

fn clock(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `850 us`, `12.3 ms`, `1.50 s`.
pub(crate) fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} us"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// Prints ticks to stderr in the mode that suits it.
pub(crate) struct StatusLine {
    quiet: bool,
    terminal: bool,
    drawn: bool,
}

impl StatusLine {
    /// A status line on stderr; `quiet` prints nothing.
    pub(crate) fn new(quiet: bool) -> StatusLine {
        StatusLine {
            quiet,
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Prints one tick.
    pub(crate) fn print(&mut self, tick: &Tick) {
        if self.quiet {
            return;
        }
        let line = render(tick, self.terminal);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r{line}\x1b[K");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Ends a redrawn line so the next message starts on its own line.
    pub(crate) fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick() -> Tick {
        Tick {
            elapsed: Duration::from_secs(75),
            duration: Some(Duration::from_secs(150)),
            links_up: 1000,
            links: 1000,
            rate: 99_512.4,
            target: 100_000.0,
            p99_us: Some(2_345),
            late: 7,
            errors: 1,
            reconnects: 2,
            dropped: 3,
            saturated: None,
        }
    }

    #[test]
    fn plain_line_for_pipes() {
        let line = render(&tick(), false);
        assert_eq!(
            line,
            "0:01:15 / 0:02:30  links 1000/1000  99512 updates/s of 100000 (99.5%)  p99 2.3 ms  late 7  dropped 3  errors 1  reconnects 2"
        );
        assert!(!line.contains('\r') && !line.contains('\x1b'));
    }

    #[test]
    fn a_saturated_run_says_so_on_every_line_while_it_is() {
        let mut t = tick();
        t.saturated = Some(33_800_000);
        let line = render(&t, false);
        assert!(
            line.ends_with("reconnects 2  SATURATED: lateness p99 33.80 s so far"),
            "{line}"
        );
        assert!(render(&t, true).contains("SATURATED"));
        t.saturated = None;
        assert!(!render(&t, false).contains("SATURATED"));
    }

    #[test]
    fn terminal_line_has_a_progress_bar() {
        let line = render(&tick(), true);
        assert!(line.starts_with("[##########----------] 0:01:15"), "{line}");
        let mut open = tick();
        open.duration = None;
        open.target = 0.0;
        open.p99_us = None;
        let line = render(&open, true);
        assert!(line.contains("p99 -"), "{line}");
        assert!(line.starts_with("0:01:15  links"), "{line}");
        assert!(!line.contains(" of "), "{line}");
    }

    #[test]
    fn micro_units() {
        assert_eq!(micros(850), "850 us");
        assert_eq!(micros(12_345), "12.3 ms");
        assert_eq!(micros(1_500_000), "1.50 s");
    }
}
