//! The lines the capacity search prints: a header, one line per step (the
//! rate asked and achieved, the lateness p99, the CPU), and the sentence
//! that ends it.

use std::time::Duration;

use super::step::Step;
use super::{Capacity, LinkLayout};

/// What "holds" means, as the JSON records it.
pub(crate) const RULE: &str = "a fixed-rate step holds when its lateness p99 is at most half the \
     interval (the verdict's saturation rule is one interval), it acked at least 99% of the \
     target (less one interval's worth for the run's edges), it had no errors and its verdict \
     is PASS; the answer held twice";

/// The search's first line: what it measures, and how long it may take.
pub(crate) fn header(layout: &LinkLayout, budget: Duration, window: Duration) -> String {
    format!(
        "capacity: searching the highest fixed rate this machine holds with {layout} links \
         ({} links), within {} s: a closed-loop step for the ceiling, then fixed-rate steps \
         of {} s each (CPU: percent of one core, all clients / all servers)",
        layout.links,
        budget.as_secs(),
        window.as_secs()
    )
}

/// One step's line.
pub(crate) fn step_line(n: usize, s: &Step) -> String {
    let (what, asked, lateness) = if s.interval_ms == 0 {
        (
            "closed loop".to_string(),
            "as fast as it goes".to_string(),
            "-".to_string(),
        )
    } else {
        (
            format!("interval {} ms", s.interval_ms),
            format!("{}/s", grouped(s.asked_per_s)),
            format!("{:.1} ms", s.lateness_p99_ms),
        )
    };
    let outcome = match (s.holds, &s.why_not) {
        (None, Some(why)) => why.clone(),
        (None, None) => "the ceiling".to_string(),
        (Some(true), _) => "holds".to_string(),
        (Some(false), Some(why)) => format!("does not hold: {why}"),
        (Some(false), None) => "does not hold".to_string(),
    };
    format!(
        "capacity: step {n:>2}: {what:<15} asked {asked:>18}, achieved {:>9}/s, lateness p99 \
         {lateness:>8}, CPU {:.0}% / {:.0}%: {outcome}",
        grouped(s.achieved_per_s),
        s.cpu_clients_percent,
        s.cpu_servers_percent,
    )
}

/// The search's last line: the capacity against what the config asks.
pub(crate) fn sentence(c: &Capacity) -> String {
    if c.capacity_per_s <= 0.0 {
        let before = match &c.ended_early {
            Some(what) => format!(" before {what} ended the search ({} steps)", c.steps.len()),
            None => String::new(),
        };
        return format!(
            "capacity: not found: no fixed rate held with {} links{before}; the steps above say \
             why",
            c.layout
        );
    }
    let early = match &c.ended_early {
        Some(what) => format!(
            " ({what} ended the search after {} steps: this is the fastest rate that held, \
             not bisected to the end)",
            c.steps.len()
        ),
        None => String::new(),
    };
    let asks = c.config_asks_per_s;
    let against = if asks <= 0.0 {
        "this config runs closed loop (as fast as acks come back)".to_string()
    } else if asks > c.capacity_per_s {
        format!(
            "this config asks {}, {:.1}x more",
            grouped(asks),
            asks / c.capacity_per_s
        )
    } else {
        format!(
            "this config asks {}, {:.0}% of it",
            grouped(asks),
            asks / c.capacity_per_s * 100.0
        )
    };
    format!(
        "capacity: about {} updates/s with {} links (interval {} ms); {against}{early}",
        about(c.capacity_per_s),
        c.layout,
        c.interval_ms
    )
}

/// A whole number with thousands separated: `41,667`.
pub(crate) fn grouped(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A measured rate as it is worth saying: three significant digits
/// (`41,666.7` is about `41,700`).
pub(crate) fn about(x: f64) -> String {
    if x < 1000.0 {
        return grouped(x);
    }
    let scale = 10f64.powi(x.log10().floor() as i32 - 2);
    grouped((x / scale).round() * scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::capacity::tests::capacity_of;

    #[test]
    fn numbers_read_as_a_person_writes_them() {
        assert_eq!(grouped(0.0), "0");
        assert_eq!(grouped(999.4), "999");
        assert_eq!(grouped(41_666.7), "41,667");
        assert_eq!(grouped(1_234_567.0), "1,234,567");
        assert_eq!(about(41_666.7), "41,700");
        assert_eq!(about(12_500.0), "12,500");
        assert_eq!(about(987.0), "987");
        assert_eq!(about(1_000.0), "1,000");
    }

    #[test]
    fn the_sentence_compares_the_capacity_with_the_config() {
        let mut c = capacity_of(41_666.7);
        c.interval_ms = 24;
        c.config_asks_per_s = 100_000.0;
        assert_eq!(
            sentence(&c),
            "capacity: about 41,700 updates/s with 100 x 10 links (interval 24 ms); this config \
             asks 100,000, 2.4x more"
        );
        c.config_asks_per_s = 30_000.0;
        assert!(sentence(&c).ends_with("this config asks 30,000, 72% of it"));
        c.ended_early = Some("the 20 s budget".into());
        assert!(sentence(&c).contains("(the 20 s budget ended the search after 0 steps"));
        c.capacity_per_s = 0.0;
        assert_eq!(
            sentence(&c),
            "capacity: not found: no fixed rate held with 100 x 10 links before the 20 s budget \
             ended the search (0 steps); the steps above say why"
        );
    }

    #[test]
    fn a_step_line_says_rate_lateness_cpu_and_the_outcome() {
        let step = Step {
            schedule: "fixed-rate".into(),
            interval_ms: 12,
            asked_per_s: 25_000.0,
            achieved_per_s: 24_100.0,
            lateness_p99_ms: 15.3,
            errors: 0,
            cpu_clients_percent: 120.4,
            cpu_servers_percent: 55.0,
            verdict: "fail".into(),
            holds: Some(false),
            why_not: Some("lateness p99 15.3 ms is above half the 12 ms interval".into()),
            run_s: 5.0,
            wall_s: 8.0,
        };
        let line = step_line(3, &step);
        assert!(
            line.starts_with("capacity: step  3: interval 12 ms "),
            "{line}"
        );
        for part in [
            "25,000/s",
            "24,100/s",
            "15.3 ms",
            "CPU 120% / 55%",
            "does not hold: lateness",
        ] {
            assert!(line.contains(part), "{part} in {line}");
        }
    }
}
