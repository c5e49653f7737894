//! Logging that costs nothing when it is off.
//!
//! With `log_switch: false` (the default) no logger is installed and the
//! `log` crate's maximum level stays `Off`: every `log::info!` is then one
//! relaxed atomic load and a branch, and its message is never formatted.
//! The seed, by contrast, built every message string and opened, appended
//! and closed its log file for every line. The per-update path logs nothing
//! at all except anomalies, which should not happen.
//!
//! With `log_switch: true` each process writes its own file,
//! `<log_dir>/<program>-<pid>-<YYYYMMDD-HHMMSS>.log`, as the seed named them,
//! through one line-buffered writer.

use std::fs::{self, File};
use std::io::LineWriter;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::error::{Context, Result};

/// Installs the file logger if the config asks for it; returns the log path.
///
/// # Errors
/// The log directory or file cannot be created.
pub fn init(config: &Config, program: &str) -> Result<Option<PathBuf>> {
    if !config.log_switch || config.log_level == "off" {
        return Ok(None);
    }
    let level = match config.log_level.as_str() {
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => log::LevelFilter::Info,
    };
    fs::create_dir_all(&config.log_dir).with_context(|| {
        format!(
            "cannot create log directory {} (log_dir)",
            config.log_dir.display()
        )
    })?;
    let path = config.log_dir.join(format!(
        "{program}-{}-{}.log",
        std::process::id(),
        timestamp(SystemTime::now())
    ));
    let file = File::create(&path)
        .with_context(|| format!("cannot create log file {}", path.display()))?;
    let log_config = simplelog::ConfigBuilder::new()
        .set_thread_level(log::LevelFilter::Off)
        .set_target_level(log::LevelFilter::Off)
        .build();
    // simplelog writes a record in several pieces and never flushes; a
    // LineWriter turns the pieces into one write per line, and a line is on
    // disk even if the process is killed a moment later.
    simplelog::WriteLogger::init(level, log_config, LineWriter::new(file))
        .context("a logger was already installed")?;
    Ok(Some(path))
}

/// `YYYYMMDD-HHMMSS` in UTC, without pulling in a date crate.
fn timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil-date algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101-000000");
        // 2026-11-25 21:30:45 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_795_642_245);
        assert_eq!(timestamp(t), "20261125-213045");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(timestamp(t), "20000229-000000");
    }
}
