//! `/metrics`: the run in Prometheus' text exposition format (0.0.4), so
//! Prometheus, or anything that reads its format, can scrape a run as it
//! scrapes k6 or vegeta. docs/DASHBOARD.md ("Prometheus") lists every
//! metric.
//!
//! Rendered by the HTTP thread, only when scraped, from the state it owns:
//! the run's description ([`RunInfo`]), its phase and clock, and the latest
//! [`MetricsSample`] the monitor sent. startup's main thread only builds
//! the sample; no text is made while nobody scrapes.
//!
//! Names follow Prometheus' conventions: the `mass_connect_` prefix, base
//! units (seconds, bytes) in the name, `_total` on counters, and a `# HELP`
//! and `# TYPE` for each family. Before the first status round the
//! counters read 0 and the histograms are empty.

use std::fmt::Write as _;
use std::time::Instant;

use crate::launcher::record::{BOUNDS_US, MetricsSample, RunInfo, STATES, State};
use crate::metrics::Cumulative;

/// The `Content-Type` of the text format.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The run as of `at`, in the text format.
pub(super) fn render(state: &State, at: Instant) -> String {
    let empty = MetricsSample::default();
    let m = state.metrics().unwrap_or(&empty);
    let mut out = Exposition::default();
    run(
        &mut out,
        state.info(),
        state.state_word(),
        state.elapsed_s(at),
    );
    load(&mut out, state.info(), m);
    counters(&mut out, m);
    out.histogram(
        "mass_connect_latency_seconds",
        "Send to ack of every update acked so far; _sum is each bucket's middle \
         value times its count (hdrhistogram's mean times count), within 1%.",
        &m.latency,
    );
    out.histogram(
        "mass_connect_lateness_seconds",
        "Due time to send of every update sent so far (how far the schedule \
         slipped); _sum as for latency, within 1%.",
        &m.lateness,
    );
    processes(&mut out, m);
    out.text
}

/// What the run is and where it is.
fn run(out: &mut Exposition, info: &RunInfo, word: &str, elapsed_s: f64) {
    out.family(
        "mass_connect_run_info",
        "gauge",
        "Always 1; the labels say which startup runs which schedule.",
    );
    out.sample(
        "mass_connect_run_info",
        &[
            ("version", &info.version),
            ("schedule", &info.layout.schedule),
        ],
        1.0,
    );
    out.family_by(
        ("mass_connect_run_state", "gauge"),
        "1 for the state the run is in (the dashboard's header word), 0 for the others.",
        "state",
        STATES.map(|s| (s, if s == word { 1.0 } else { 0.0 })),
    );
    out.gauge(
        "mass_connect_run_elapsed_seconds",
        "Seconds on the run's clock: since the go, up to the window's end.",
        elapsed_s,
    );
    if let Some(d) = info.duration_s {
        out.gauge(
            "mass_connect_run_duration_seconds",
            "The run's window (--duration); absent when it runs until Ctrl-C.",
            d,
        );
    }
}

/// The load: its rate, its target, its links.
fn load(out: &mut Exposition, info: &RunInfo, m: &MetricsSample) {
    out.gauge(
        "mass_connect_updates_per_second",
        "Acked updates per second as of the latest status round (the status line's rate).",
        m.rate,
    );
    out.gauge(
        "mass_connect_target_updates_per_second",
        "Updates per second the schedule asks for (0: closed loop).",
        info.layout.target_per_s,
    );
    out.gauge(
        "mass_connect_links_up",
        "Links connected, as the clients last said.",
        m.links_up as f64,
    );
    out.gauge(
        "mass_connect_links_planned",
        "Links this host's clients open: clients times servers in the config.",
        info.layout.links as f64,
    );
    out.gauge(
        "mass_connect_saturated",
        "1 while the run so far breaks the saturation rule (lateness p99 above \
         one interval): the rate measures this machine, not the servers.",
        if m.saturated { 1.0 } else { 0.0 },
    );
}

/// The run's cumulative counters.
fn counters(out: &mut Exposition, m: &MetricsSample) {
    for (name, help, value) in [
        ("mass_connect_sent_total", "Updates sent.", m.sent),
        ("mass_connect_acked_total", "Updates acked.", m.acked),
        (
            "mass_connect_late_sends_total",
            "Updates sent after their due time (fixed rate).",
            m.late,
        ),
        (
            "mass_connect_dropped_ticks_total",
            "Ticks dropped, not sent, for falling more than max_lag_ms behind.",
            m.dropped,
        ),
        (
            "mass_connect_reconnects_total",
            "Times a link was established again after it was lost.",
            m.reconnects,
        ),
    ] {
        out.family(name, "counter", help);
        out.sample(name, &[], value as f64);
    }
    out.family_by(
        ("mass_connect_errors_total", "counter"),
        "Client errors, by what went wrong.",
        "kind",
        m.errors.all().map(|(kind, n)| (kind, n as f64)),
    );
}

/// CPU and memory by kind of process.
fn processes(out: &mut Exposition, m: &MetricsSample) {
    out.family_by(
        ("mass_connect_cpu_seconds_total", "counter"),
        "CPU seconds used by this host's processes of a kind, each since it started.",
        "kind",
        m.cpu_s.named(),
    );
    out.family_by(
        ("mass_connect_resident_memory_bytes", "gauge"),
        "Resident memory of this host's live processes of a kind.",
        "kind",
        m.rss_bytes.named().map(|(kind, b)| (kind, b as f64)),
    );
}

/// The text being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// A family's `# HELP` and `# TYPE` lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                let comma = if i > 0 { "," } else { "" };
                let _ = write!(self.text, "{comma}{label}=\"{}\"", escape(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// A family (its name and type) of one sample per value of `label`.
    fn family_by(
        &mut self,
        (name, kind): (&str, &str),
        help: &str,
        label: &str,
        samples: impl IntoIterator<Item = (&'static str, f64)>,
    ) {
        self.family(name, kind, help);
        for (value, n) in samples {
            self.sample(name, &[(label, value)], n);
        }
    }

    /// A family of one unlabelled gauge.
    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    /// A histogram in seconds from counts at [`BOUNDS_US`]: cumulative
    /// `_bucket`s ending in `+Inf` (every value), `_sum` and `_count`.
    fn histogram(&mut self, name: &str, help: &str, c: &Cumulative) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (i, bound) in BOUNDS_US.iter().enumerate() {
            let le = number(*bound as f64 / 1e6);
            let n = c.at_or_below.get(i).copied().unwrap_or(0);
            self.sample(&bucket, &[("le", &le)], n as f64);
        }
        self.sample(&bucket, &[("le", "+Inf")], c.count as f64);
        self.sample(&format!("{name}_sum"), &[], c.sum_us / 1e6);
        self.sample(&format!("{name}_count"), &[], c.count as f64);
    }
}

/// A label value with `\`, `"` and line feeds escaped, as the format asks.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value as the format spells it (Go's float syntax: `+Inf`,
/// `-Inf`, `NaN`; Rust's `inf` would not parse).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::record::{ByKind, Update};
    use crate::messages::ErrorKinds;
    use std::collections::HashMap;

    fn sample() -> MetricsSample {
        let h = {
            let mut h = crate::metrics::Snapshot::default().latency;
            for (v, n) in [(30, 5), (400, 3), (70_000, 2), (90_000_000, 1)] {
                h.record_n(v, n).unwrap();
            }
            h
        };
        MetricsSample {
            rate: 399.5,
            links_up: 4,
            saturated: true,
            sent: 12,
            acked: 11,
            errors: ErrorKinds {
                ack_timeout: 2,
                ..ErrorKinds::default()
            },
            latency: Cumulative::of(&h, &BOUNDS_US),
            cpu_s: ByKind {
                server: 1.5,
                client: 0.25,
                startup: 0.125,
            },
            ..MetricsSample::default()
        }
    }

    fn rendered(info: RunInfo, m: Option<MetricsSample>) -> String {
        let mut state = State::new(info);
        if let Some(m) = m {
            state.apply(Update::Metrics(Box::new(m)));
        }
        render(&state, Instant::now())
    }

    /// Each family's name: whether it has a HELP, and its TYPE.
    type Families = HashMap<String, (bool, String)>;

    /// The samples by their series (`name{labels}`), and each family's
    /// HELP and TYPE.
    fn parse(text: &str) -> (Vec<(String, f64)>, Families) {
        let (mut samples, mut families) = (Vec::new(), HashMap::new());
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                assert!(!help.is_empty(), "{line}");
                families
                    .entry(name.to_string())
                    .or_insert((false, String::new()))
                    .0 = true;
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                families
                    .entry(name.to_string())
                    .or_insert((false, String::new()))
                    .1 = kind.to_string();
            } else {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().unwrap_or_else(|_| panic!("{line}")),
                };
                samples.push((series.to_string(), value));
            }
        }
        (samples, families)
    }

    fn value(samples: &[(String, f64)], series: &str) -> f64 {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .unwrap_or_else(|| panic!("no {series}"))
            .1
    }

    #[test]
    fn every_metric_has_help_and_type_and_counters_end_in_total() {
        for m in [None, Some(sample())] {
            let text = rendered(RunInfo::default(), m);
            let (samples, families) = parse(&text);
            for (series, _) in &samples {
                let name = series.split('{').next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| {
                        let base = name.strip_suffix(s)?;
                        (families.get(base)?.1 == "histogram").then_some(base)
                    })
                    .unwrap_or(name);
                let (help, kind) = families.get(family).unwrap_or_else(|| panic!("{name}"));
                assert!(*help, "{family} has no HELP");
                assert!(
                    ["gauge", "counter", "histogram"].contains(&kind.as_str()),
                    "{family}: {kind}"
                );
                assert!(family.starts_with("mass_connect_"), "{family}");
                assert_eq!(kind == "counter", family.ends_with("_total"), "{family}");
            }
            for wanted in [
                "mass_connect_acked_total",
                "mass_connect_errors_total",
                "mass_connect_latency_seconds",
                "mass_connect_lateness_seconds",
                "mass_connect_cpu_seconds_total",
                "mass_connect_resident_memory_bytes",
                "mass_connect_updates_per_second",
                "mass_connect_run_state",
            ] {
                assert!(families.contains_key(wanted), "{wanted} missing");
            }
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_the_count() {
        let (samples, _) = parse(&rendered(RunInfo::default(), Some(sample())));
        let buckets: Vec<(String, f64)> = samples
            .iter()
            .filter(|(s, _)| s.starts_with("mass_connect_latency_seconds_bucket"))
            .cloned()
            .collect();
        assert_eq!(buckets.len(), BOUNDS_US.len() + 1);
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
        let last = buckets.last().unwrap();
        assert_eq!(last.0, r#"mass_connect_latency_seconds_bucket{le="+Inf"}"#);
        assert_eq!(
            last.1,
            value(&samples, "mass_connect_latency_seconds_count")
        );
        assert_eq!(last.1, 11.0);
        // 30 us at or below 50 us; 70 ms at or below 100 ms; 90 s only in +Inf.
        let at = |le: &str| {
            value(
                &samples,
                &format!("mass_connect_latency_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(
            (at("0.00005"), at("0.0005"), at("0.1"), at("60")),
            (5.0, 8.0, 10.0, 10.0)
        );
        let sum = value(&samples, "mass_connect_latency_seconds_sum");
        let exact = 30e-6 * 5.0 + 400e-6 * 3.0 + 0.07 * 2.0 + 90.0;
        assert!((sum - exact).abs() < exact * 0.01, "{sum}");
        // The figures themselves.
        for (series, want) in [
            ("mass_connect_acked_total", 11.0),
            (r#"mass_connect_errors_total{kind="ack_timeout"}"#, 2.0),
            (r#"mass_connect_errors_total{kind="connect"}"#, 0.0),
            (r#"mass_connect_cpu_seconds_total{kind="server"}"#, 1.5),
            ("mass_connect_saturated", 1.0),
            (r#"mass_connect_run_state{state="starting"}"#, 1.0),
            (r#"mass_connect_run_state{state="running"}"#, 0.0),
        ] {
            assert_eq!(value(&samples, series), want, "{series}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let info = RunInfo {
            version: "1.0\"x\\y\nz".into(),
            ..RunInfo::default()
        };
        let text = rendered(info, None);
        assert!(
            text.contains(r#"version="1.0\"x\\y\nz""#),
            "{}",
            text.lines()
                .find(|l| l.starts_with("mass_connect_run_info"))
                .unwrap()
        );
        // Every line is a comment or a sample: the line feed did not split one.
        parse(&text);
        assert_eq!(escape("a\\\"\n"), r#"a\\\"\n"#);
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.00005), "0.00005");
    }
}
