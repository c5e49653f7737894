//! Durations as a user types them: `500ms`, `30s`, `10m`, `1h30m`, `1.5s`.
//!
//! Every duration needs its unit. A bare `10` reads as seconds to one user
//! and as milliseconds to the next (`--max-p99 10`), and a load tool that
//! guesses measures the wrong thing for a whole run; so a bare number is
//! an error that shows both readings. Parts add up as in Go, k6 and
//! vegeta (`1h30m`, `2m30s`, `1s500ms`).

use std::time::Duration;

/// The units a part may carry, longest first so `ms` is not read as `m`.
const UNITS: [(&str, f64); 5] = [
    ("ms", 0.001),
    ("us", 0.000_001),
    ("h", 3600.0),
    ("m", 60.0),
    ("s", 1.0),
];

/// `text` as a positive duration, or why it is not one (a sentence to put
/// after the option's name).
///
/// # Errors
/// No unit (`10`: the message suggests `10s` and `10ms`), an unknown unit,
/// a part without a number, or a total of zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.parse::<f64>().is_ok() {
        return Err(format!(
            "{text:?} has no unit: write {trimmed}s for seconds or {trimmed}ms for milliseconds"
        ));
    }
    let mut rest = trimmed;
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().map_err(|_| not_a_duration(text))?;
        let after = &rest[digits..];
        let (unit, scale) = UNITS
            .iter()
            .find(|(unit, _)| after.starts_with(unit))
            .ok_or_else(|| not_a_duration(text))?;
        seconds += number * scale;
        rest = &after[unit.len()..];
    }
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(if trimmed.is_empty() {
            not_a_duration(text)
        } else {
            format!("{text:?} is no time at all; give a duration above zero")
        });
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn not_a_duration(text: &str) -> String {
    format!("{text:?} is not a duration; use a number with a unit: 500ms, 30s, 10m, 3h or 1h30m")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn single_units() {
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("10m"), Duration::from_secs(600));
        assert_eq!(ok("3h"), Duration::from_secs(10_800));
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("750us"), Duration::from_micros(750));
        assert_eq!(ok(" 2m "), Duration::from_secs(120));
    }

    #[test]
    fn parts_add_up() {
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("2m30s"), Duration::from_secs(150));
        assert_eq!(ok("1s500ms"), Duration::from_millis(1500));
        assert_eq!(ok("1m0s"), Duration::from_secs(60));
    }

    #[test]
    fn a_bare_number_is_refused_with_both_readings() {
        let e = parse_duration("10").unwrap_err();
        assert!(
            e.contains("has no unit") && e.contains("10s") && e.contains("10ms"),
            "{e}"
        );
        let e = parse_duration("1.5").unwrap_err();
        assert!(e.contains("1.5s") && e.contains("1.5ms"), "{e}");
    }

    #[test]
    fn what_is_not_a_duration_is_named() {
        for bad in ["", "s", "5d", "soon", "1h30", "m5", "1..5s", "-3s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("is not a duration"), "{bad:?}: {e}");
        }
        for zero in ["0s", "0ms", "0h0m"] {
            let e = parse_duration(zero).unwrap_err();
            assert!(e.contains("above zero"), "{zero:?}: {e}");
        }
    }
}
