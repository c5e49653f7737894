//! What a kind of process (servers, clients) cost over a run, from the
//! samples `sys::procstat` reads: CPU time and percent, peak and last
//! resident memory, the leak check's growth since a baseline, threads and
//! context switches, and per acked update.
//!
//! Plain arithmetic over samples, kept apart from the OS calls that take
//! them: the monitor feeds one [`Usage`] per child, and the report carries
//! one [`KindUsage`] per kind.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::messages::ProcessSample as Sample;

/// One process's usage over a run, built from its samples.
#[derive(Debug, Clone)]
pub(crate) struct Usage {
    first: Option<(Instant, Sample)>,
    last: Option<(Instant, Sample)>,
    /// The first and last samples that counted context switches.
    ctx_first: Option<(u64, u64)>,
    ctx_last: Option<(u64, u64)>,
    /// Highest CPU percent (of one core) between two consecutive samples.
    pub(crate) cpu_percent_max: f64,
    /// Highest resident memory seen, in bytes.
    pub(crate) rss_max: u64,
    /// Most threads seen.
    pub(crate) threads_max: u64,
    /// Resident memory when the run's baseline time passed (the leak check
    /// compares the last sample with it).
    rss_baseline: Option<u64>,
}

impl Default for Usage {
    fn default() -> Self {
        Usage {
            first: None,
            last: None,
            ctx_first: None,
            ctx_last: None,
            cpu_percent_max: 0.0,
            rss_max: 0,
            threads_max: 0,
            rss_baseline: None,
        }
    }
}

impl Usage {
    /// Adds a sample taken at `at`.
    pub(crate) fn add(&mut self, at: Instant, s: Sample) {
        if let Some((t, prev)) = self.last {
            let dt = at.duration_since(t).as_secs_f64();
            if dt > 0.0 {
                let pct = (s.cpu_s - prev.cpu_s).max(0.0) / dt * 100.0;
                self.cpu_percent_max = self.cpu_percent_max.max(pct);
            }
        }
        self.first.get_or_insert((at, s));
        self.last = Some((at, s));
        if let (Some(v), Some(i)) = (s.voluntary_ctx, s.involuntary_ctx) {
            self.ctx_first.get_or_insert((v, i));
            self.ctx_last = Some((v, i));
        }
        self.rss_max = self.rss_max.max(s.rss_bytes);
        self.threads_max = self.threads_max.max(s.threads);
    }

    /// CPU seconds used between the first and last sample.
    pub(crate) fn cpu_s(&self) -> f64 {
        match (self.first, self.last) {
            (Some((_, a)), Some((_, b))) => (b.cpu_s - a.cpu_s).max(0.0),
            _ => 0.0,
        }
    }

    /// Seconds between the first and last sample.
    pub(crate) fn span_s(&self) -> f64 {
        match (self.first, self.last) {
            (Some((a, _)), Some((b, _))) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// Mean CPU percent (of one core) over the samples' span.
    pub(crate) fn cpu_percent_avg(&self) -> f64 {
        let span = self.span_s();
        if span > 0.0 {
            self.cpu_s() / span * 100.0
        } else {
            0.0
        }
    }

    /// Resident memory at the last sample, in bytes.
    pub(crate) fn rss_last(&self) -> u64 {
        self.last.map(|(_, s)| s.rss_bytes).unwrap_or(0)
    }

    /// The latest sample and when it was taken, if any.
    pub(crate) fn last_timed(&self) -> Option<(Instant, Sample)> {
        self.last
    }

    /// Takes the latest sample's memory as the baseline for
    /// [`Usage::rss_growth_percent`].
    pub(crate) fn mark_baseline(&mut self) {
        self.rss_baseline = self.last.map(|(_, s)| s.rss_bytes).filter(|b| *b > 0);
    }

    /// How much resident memory grew from the baseline to the last sample,
    /// in percent; `None` without a baseline.
    pub(crate) fn rss_growth_percent(&self) -> Option<f64> {
        let base = self.rss_baseline? as f64;
        Some((self.rss_last() as f64 - base) / base * 100.0)
    }

    /// Context switches (voluntary, involuntary) between first and last sample.
    pub(crate) fn ctx_switches(&self) -> Option<(u64, u64)> {
        let (a, b) = (self.ctx_first?, self.ctx_last?);
        Some((b.0.saturating_sub(a.0), b.1.saturating_sub(a.1)))
    }
}

/// The report's per-kind figures (`processes.server`, `processes.client`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct KindUsage {
    /// Processes of this kind.
    pub(crate) count: u64,
    /// Mean over processes of each one's CPU percent (of one core) over the run.
    pub(crate) cpu_percent_avg: f64,
    /// The same on Task Manager's scale: percent of the whole machine.
    pub(crate) cpu_percent_of_machine_avg: f64,
    /// Highest CPU percent (of one core) of any process over any sample.
    pub(crate) cpu_percent_max: f64,
    /// All processes of this kind together, percent of one core, over the run.
    pub(crate) cpu_percent_total_avg: f64,
    /// Highest resident memory of any process, MB (10^6 bytes).
    pub(crate) rss_mb_max: f64,
    /// Largest last-sample resident memory of any process, MB.
    pub(crate) rss_mb_last: f64,
    /// Most threads of any process.
    pub(crate) threads_max: u64,
    /// The largest growth of any process's resident memory from the
    /// baseline (`processes.rss_baseline_s` into the run) to its last
    /// sample, percent; `null` if the run ended before the baseline.
    pub(crate) rss_growth_percent_max: Option<f64>,
    /// CPU microseconds this kind spent per acked update.
    pub(crate) cpu_us_per_op: f64,
    /// Context switches (voluntary + involuntary) per acked update; absent
    /// where the OS does not count them.
    pub(crate) ctx_switches_per_op: Option<f64>,
    /// Voluntary context switches over the run (Linux).
    pub(crate) voluntary_ctx_switches: Option<u64>,
    /// Involuntary context switches over the run (Linux).
    pub(crate) involuntary_ctx_switches: Option<u64>,
    /// Where the per-update figures come from: `self-reported` (each process's
    /// whole life, read by the process itself when its links had ended,
    /// divided by every acked update) or `sampled` (startup's own samples
    /// over the run, used when a process could not report, e.g. it died).
    pub(crate) accounting: String,
}

impl KindUsage {
    /// Aggregates processes of one kind; `ops` is the run's acked updates.
    pub(crate) fn of(usages: &[&Usage], ops: u64, cpus: usize) -> KindUsage {
        let measured: Vec<&&Usage> = usages.iter().filter(|u| u.last.is_some()).collect();
        let n = measured.len().max(1) as f64;
        // Not `.sum()`: an empty f64 sum is -0.0, which prints as "-0.0" for a
        // kind with no process (the servers of a clients-only host).
        let cpu_s: f64 = measured.iter().map(|u| u.cpu_s()).fold(0.0, |a, b| a + b);
        let avg = measured
            .iter()
            .map(|u| u.cpu_percent_avg())
            .fold(0.0, |a, b| a + b)
            / n;
        let ctx: Option<(u64, u64)> = measured.iter().try_fold((0, 0), |acc, u| {
            let (v, i) = u.ctx_switches()?;
            Some((acc.0 + v, acc.1 + i))
        });
        let per_op = |x: f64| if ops > 0 { x / ops as f64 } else { 0.0 };
        KindUsage {
            count: usages.len() as u64,
            cpu_percent_avg: avg,
            cpu_percent_of_machine_avg: avg / cpus.max(1) as f64,
            cpu_percent_max: measured
                .iter()
                .map(|u| u.cpu_percent_max)
                .fold(0.0, f64::max),
            cpu_percent_total_avg: avg * measured.len() as f64,
            rss_mb_max: measured.iter().map(|u| u.rss_max).max().unwrap_or(0) as f64 / 1e6,
            rss_mb_last: measured.iter().map(|u| u.rss_last()).max().unwrap_or(0) as f64 / 1e6,
            threads_max: measured.iter().map(|u| u.threads_max).max().unwrap_or(0),
            rss_growth_percent_max: measured
                .iter()
                .filter_map(|u| u.rss_growth_percent())
                .reduce(f64::max),
            cpu_us_per_op: per_op(cpu_s * 1e6),
            ctx_switches_per_op: ctx
                .filter(|_| !measured.is_empty())
                .map(|(v, i)| per_op((v + i) as f64)),
            voluntary_ctx_switches: ctx.map(|c| c.0),
            involuntary_ctx_switches: ctx.map(|c| c.1),
            accounting: "sampled".to_string(),
        }
    }

    /// Replaces the per-update figures with the processes' own whole-life
    /// accounting (`sys::procstat::own`), when every process of the kind gave one.
    ///
    /// startup's samples are taken once a round while the load runs, and a
    /// saturated machine delays the status answers that say how many
    /// updates those samples cover; the processes' own figures, read after
    /// their links ended, cover exactly the updates acked.
    pub(crate) fn use_own_accounting(&mut self, own: &[Option<Sample>], ops: u64) {
        let Some(own) = own.iter().copied().collect::<Option<Vec<Sample>>>() else {
            return;
        };
        if own.is_empty() || own.len() as u64 != self.count || ops == 0 {
            return;
        }
        let cpu_s: f64 = own.iter().map(|s| s.cpu_s).sum();
        let ctx: Option<(u64, u64)> = own.iter().try_fold((0, 0), |acc, s| {
            Some((acc.0 + s.voluntary_ctx?, acc.1 + s.involuntary_ctx?))
        });
        self.cpu_us_per_op = cpu_s * 1e6 / ops as f64;
        self.ctx_switches_per_op = ctx.map(|(v, i)| (v + i) as f64 / ops as f64);
        self.voluntary_ctx_switches = ctx.map(|c| c.0);
        self.involuntary_ctx_switches = ctx.map(|c| c.1);
        self.accounting = "self-reported".to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn usage_from_samples() {
        let t0 = Instant::now();
        let s = |cpu: f64, rss: u64, v: u64| Sample {
            cpu_s: cpu,
            rss_bytes: rss,
            threads: 3,
            voluntary_ctx: Some(v),
            involuntary_ctx: Some(v / 2),
            fds: None,
        };
        let mut u = Usage::default();
        u.add(t0, s(1.0, 1_000_000, 100));
        u.add(t0 + Duration::from_secs(1), s(1.5, 3_000_000, 200));
        u.add(t0 + Duration::from_secs(2), s(1.6, 2_000_000, 300));
        assert!((u.cpu_s() - 0.6).abs() < 1e-9);
        assert!((u.cpu_percent_avg() - 30.0).abs() < 1e-6);
        assert!((u.cpu_percent_max - 50.0).abs() < 1e-6);
        assert_eq!(
            (u.rss_max, u.rss_last(), u.threads_max),
            (3_000_000, 2_000_000, 3)
        );
        assert_eq!(u.ctx_switches(), Some((200, 100)));
        let k = KindUsage::of(&[&u, &u], 1_000, 2);
        assert_eq!(k.count, 2);
        assert!((k.cpu_percent_total_avg - 60.0).abs() < 1e-6);
        assert!((k.cpu_percent_of_machine_avg - 15.0).abs() < 1e-6);
        assert!((k.cpu_us_per_op - 1200.0).abs() < 1e-6);
        assert_eq!(k.ctx_switches_per_op, Some(0.6));
        assert_eq!(k.rss_mb_max, 3.0);
    }
}
