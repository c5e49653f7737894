//! The soak CSV: one row per `--sample-every`, appended as the run goes, so
//! a 3-hour run can be plotted (scripts/plot_samples.py) or watched with
//! `tail -f` while it runs, and a crash loses at most one row.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Context, Result};

/// The columns, in order. docs/DASHBOARD.md ("Samples") documents each. New columns go at
/// the end, so a reader that picks columns by position keeps working.
pub(crate) const HEADER: &str = "time_s,updates_per_s,target_per_s,latency_p50_us,latency_p99_us,\
lateness_p50_us,lateness_p99_us,corrected_p99_us,late_sends,errors,reconnects,links_up,\
server_cpu_percent,client_cpu_percent,server_rss_mb,client_rss_mb,\
server_fds,client_fds,server_threads,client_threads,dropped";

/// One row.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    /// Seconds since the clients started, at the end of the sample.
    pub(crate) time_s: f64,
    /// Acked updates per second over the sample.
    pub(crate) updates_per_s: f64,
    /// The schedule's target.
    pub(crate) target_per_s: f64,
    /// Latency percentiles over the sample, us.
    pub(crate) latency_p50_us: u64,
    /// Latency p99 over the sample, us.
    pub(crate) latency_p99_us: u64,
    /// Lateness p50 over the sample, us.
    pub(crate) lateness_p50_us: u64,
    /// Lateness p99 over the sample, us.
    pub(crate) lateness_p99_us: u64,
    /// Corrected latency p99 over the sample, us.
    pub(crate) corrected_p99_us: u64,
    /// Late sends during the sample.
    pub(crate) late_sends: u64,
    /// Errors during the sample.
    pub(crate) errors: u64,
    /// Reconnects during the sample.
    pub(crate) reconnects: u64,
    /// Links up at the end of the sample.
    pub(crate) links_up: u64,
    /// All servers' CPU over the sample, percent of one core.
    pub(crate) server_cpu_percent: f64,
    /// All clients' CPU over the sample, percent of one core.
    pub(crate) client_cpu_percent: f64,
    /// All servers' resident memory at the end of the sample, MB.
    pub(crate) server_rss_mb: f64,
    /// All clients' resident memory at the end of the sample, MB.
    pub(crate) client_rss_mb: f64,
    /// All servers' open descriptors at the end of the sample; empty in
    /// the CSV where the OS does not count them.
    pub(crate) server_fds: Option<u64>,
    /// All clients' open descriptors at the end of the sample.
    pub(crate) client_fds: Option<u64>,
    /// All servers' threads at the end of the sample.
    pub(crate) server_threads: u64,
    /// All clients' threads at the end of the sample.
    pub(crate) client_threads: u64,
    /// Ticks dropped during the sample for being more than `max_lag_ms`
    /// behind.
    pub(crate) dropped: u64,
}

/// Appends rows to a CSV file.
pub(crate) struct SampleWriter {
    file: File,
}

impl SampleWriter {
    /// Opens `path` for appending; writes the header if the file is new or empty.
    ///
    /// # Errors
    /// The file cannot be opened, or holds a different header (another
    /// program's CSV must not be appended to).
    pub(crate) fn open(path: &Path) -> Result<SampleWriter> {
        let existing = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(first) = existing.lines().next() {
            if first != HEADER {
                return Err(crate::error::Error::msg(format!(
                    "{} exists with other columns; pass a new file to --samples",
                    path.display()
                )));
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open samples file {}", path.display()))?;
        if existing.is_empty() {
            writeln!(file, "{HEADER}")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(SampleWriter { file })
    }

    /// Appends one row.
    pub(crate) fn write(&mut self, r: &Row) -> Result<()> {
        let count = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        writeln!(
            self.file,
            "{:.3},{:.1},{:.0},{},{},{},{},{},{},{},{},{},{:.1},{:.1},{:.2},{:.2},{},{},{},{},{}",
            r.time_s,
            r.updates_per_s,
            r.target_per_s,
            r.latency_p50_us,
            r.latency_p99_us,
            r.lateness_p50_us,
            r.lateness_p99_us,
            r.corrected_p99_us,
            r.late_sends,
            r.errors,
            r.reconnects,
            r.links_up,
            r.server_cpu_percent,
            r.client_cpu_percent,
            r.server_rss_mb,
            r.client_rss_mb,
            count(r.server_fds),
            count(r.client_fds),
            r.server_threads,
            r.client_threads,
            r.dropped
        )
        .context("cannot append to the samples file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_once_then_rows_appended() {
        let path = std::env::temp_dir().join(format!("mc-samples-{}.csv", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut w = SampleWriter::open(&path).unwrap();
        w.write(&Row {
            time_s: 1.0,
            updates_per_s: 10.0,
            server_fds: Some(26),
            server_threads: 13,
            client_threads: 7,
            dropped: 4,
            ..Row::default()
        })
        .unwrap();
        drop(w);
        let mut w = SampleWriter::open(&path).unwrap();
        w.write(&Row {
            time_s: 2.0,
            ..Row::default()
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], HEADER);
        assert_eq!(lines[1].split(',').count(), HEADER.split(',').count());
        // Newer columns come last; an unknown count is empty.
        assert!(lines[1].ends_with(",26,,13,7,4"), "{}", lines[1]);
        assert!(lines[2].starts_with("2.000,"));
        std::fs::write(&path, "a,b\n").unwrap();
        assert!(SampleWriter::open(&path).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
