//! What one point measured, and the figures made from the parts a run
//! brings back (reports, histograms, `/proc` readings).

use mass_connect::messages::KeyCount;
use mass_connect::metrics::Snapshot;

use hostinfo::process::Figures;

/// The quantiles of the CCDF data kept per point.
pub const CCDF_QUANTILES: [f64; 12] = [
    0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0,
];

/// One point's figures; `None` (a `-` in the table, an empty CSV cell)
/// where a figure does not apply or could not be read.
#[derive(Default, Clone)]
pub struct Measure {
    pub duration_s: f64,
    pub target_per_s: Option<f64>,
    pub achieved_per_s: f64,
    pub acked: u64,
    pub cpu_user_us_per_op: Option<f64>,
    pub cpu_sys_us_per_op: Option<f64>,
    pub ctx_per_op: Option<f64>,
    pub rss_bytes_per_link: Option<f64>,
    pub rss_mb: Option<f64>,
    pub threads: Option<u64>,
    pub processes: usize,
    pub connect_s: Option<f64>,
    pub latency_us: Option<[u64; 3]>,
    pub lateness_p99_us: Option<u64>,
    /// (quantile, latency us) pairs.
    pub ccdf: Vec<(f64, u64)>,
    /// Acked per link (key): min, median, max.
    pub acked_per_link: Option<[u64; 3]>,
    pub verify_ok: Option<bool>,
    /// The OS limit that stopped the point, if one did.
    pub limit: Option<String>,
    /// Why the point has no figures, if it has none.
    pub error: Option<String>,
    pub notes: Vec<String>,
}

impl Measure {
    /// A point that could not run, with the limit its messages name.
    pub fn failed(why: String, limit: Option<String>) -> Measure {
        Measure {
            error: Some(why),
            limit,
            ..Measure::default()
        }
    }

    /// The per-update CPU and switches of `used` over `acked` updates.
    pub fn set_usage(&mut self, used: &Figures, links: usize) {
        if self.acked > 0 {
            let n = self.acked as f64;
            self.cpu_user_us_per_op = Some(used.user_s * 1e6 / n);
            self.cpu_sys_us_per_op = Some(used.sys_s * 1e6 / n);
            self.ctx_per_op = Some(used.switches() as f64 / n);
        }
        if used.rss_bytes > 0 {
            self.rss_mb = Some(used.rss_bytes as f64 / 1e6);
            self.rss_bytes_per_link = Some(used.rss_bytes as f64 / links.max(1) as f64);
        }
        if used.threads > 0 {
            self.threads = Some(used.threads);
        }
    }

    /// Latency and lateness figures from the run's merged histograms.
    pub fn set_histograms(&mut self, h: &Snapshot, closed_loop: bool) {
        if h.latency.is_empty() {
            return;
        }
        let q = |hist: &hdrhistogram::Histogram<u64>, q: f64| hist.value_at_quantile(q);
        self.latency_us = Some([
            q(&h.latency, 0.5),
            q(&h.latency, 0.99),
            q(&h.latency, 0.999),
        ]);
        if !closed_loop {
            self.lateness_p99_us = Some(q(&h.lateness, 0.99));
        }
        self.ccdf = CCDF_QUANTILES
            .iter()
            .map(|&p| (p, q(&h.latency, p)))
            .collect();
    }

    /// Fairness: what each link (each key) had acked.
    pub fn set_fairness(&mut self, keys: &[KeyCount]) {
        let mut acked: Vec<u64> = keys.iter().map(|k| k.acked).collect();
        if acked.is_empty() {
            return;
        }
        acked.sort_unstable();
        self.acked_per_link = Some([acked[0], acked[acked.len() / 2], acked[acked.len() - 1]]);
    }

    /// The CCDF cell: `quantile:us` pairs separated by spaces.
    pub fn ccdf_cell(&self) -> String {
        self.ccdf
            .iter()
            .map(|(q, v)| format!("{q}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
