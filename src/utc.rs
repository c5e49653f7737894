//! UTC timestamps (ISO 8601) without a date-time crate.
//!
//! Reports and logs need one thing from a calendar: turning a `SystemTime`
//! into `2026-11-30T05:12:34.567Z`. That is a division and Howard Hinnant's
//! days-to-civil algorithm (public domain, exact for the proleptic
//! Gregorian calendar), not worth a dependency. UTC, so a 3-hour soak that
//! crosses midnight or a daylight-saving change still reads in order, and
//! hosts in different time zones write comparable reports.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2026-11-30T05:12:34Z` (seconds), or with `.567` milliseconds when
/// `millis` is set. Times before 1970 print as the epoch.
pub(crate) fn iso8601(at: SystemTime, millis: bool) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days(secs / 86_400);
    let s = secs % 86_400;
    let (hh, mm, ss) = (s / 3600, s % 3600 / 60, s % 60);
    if millis {
        let ms = since.subsec_millis();
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// The compact form for file and folder names: `20261130T051234Z`.
pub fn compact(at: SystemTime) -> String {
    iso8601(at, false).replace(['-', ':'], "")
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so a leap day ends its 400-year era's
    // year instead of sitting in the middle of it.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms)
    }

    #[test]
    fn known_instants() {
        let cases = [
            (at(0, 0), "1970-01-01T00:00:00.000Z"),
            (at(0, 7), "1970-01-01T00:00:00.007Z"),
            // Leap days (2000 is divisible by 400), and a time on one.
            (at(951_782_400, 0), "2000-02-29T00:00:00.000Z"),
            (at(1_709_210_096, 789), "2024-02-29T12:34:56.789Z"),
            // 2100 is not a leap year: Feb 28 is followed by Mar 1.
            (at(4_107_456_000, 0), "2100-02-28T00:00:00.000Z"),
            (at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z"),
            // The last millisecond of a year and the first of the next.
            (at(946_684_799, 999), "1999-12-31T23:59:59.999Z"),
            (at(946_684_800, 0), "2000-01-01T00:00:00.000Z"),
            // Across midnight into the last day of a month, and out of it.
            (at(1_795_996_799, 999), "2026-11-29T23:59:59.999Z"),
            (at(1_795_996_800, 0), "2026-11-30T00:00:00.000Z"),
            (at(1_796_083_199, 999), "2026-11-30T23:59:59.999Z"),
            (at(1_796_083_200, 1), "2026-12-01T00:00:00.001Z"),
        ];
        for (t, text) in cases {
            assert_eq!(iso8601(t, true), text);
        }
        // Whole seconds, and the compact form of file names.
        assert_eq!(iso8601(at(1_796_083_200, 0), false), "2026-12-01T00:00:00Z");
        assert_eq!(compact(at(1_796_016_754, 0)), "20261130T053234Z");
        // Sub-millisecond parts are cut, not rounded up into the next second.
        let t = at(1_795_996_799, 0) + Duration::from_micros(999_999);
        assert_eq!(iso8601(t, true), "2026-11-29T23:59:59.999Z");
        // Before 1970 (a badly set clock) reads as 1970, not as a panic.
        let early = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(iso8601(early, true), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn every_day_follows_the_last() {
        // 1970 to 2100: the day after each day is the next calendar day.
        let mut last = civil_from_days(0);
        for day in 1..47_482 {
            let next = civil_from_days(day);
            let (y, m, d) = last;
            let expected = if next.2 == 1 {
                if m == 12 {
                    (y + 1, 1, 1)
                } else {
                    (y, m + 1, 1)
                }
            } else {
                (y, m, d + 1)
            };
            assert_eq!(next, expected, "day {day}");
            assert!(next.2 <= 31);
            last = next;
        }
        assert_eq!(last, (2099, 12, 31));
    }
}
