//! What one point measured, and the figures made from the parts a run
//! brings back (reports, histograms, `/proc` readings).

use mass_connect::messages::{ErrorKinds, KeyCount};
use mass_connect::metrics::Snapshot;

use hostinfo::kernel::{KernelMemory, TcpSockets};
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
    /// CPU per update from the scheduler's nanoseconds (schedstat), the
    /// live threads' only: precise where the ticks above read 0.
    pub cpu_sched_us_per_op: Option<f64>,
    pub ctx_per_op: Option<f64>,
    /// Voluntary switches per update: a thread blocked (read, futex, epoll).
    pub ctx_vol_per_op: Option<f64>,
    /// Involuntary switches per update: a runnable thread was preempted.
    pub ctx_invol_per_op: Option<f64>,
    /// Mean wait from runnable to running, per timeslice, over the window:
    /// the servers' threads and the clients' apart (schedstat run_delay).
    pub run_delay_us_per_slice_server: Option<f64>,
    pub run_delay_us_per_slice_client: Option<f64>,
    pub rss_bytes_per_link: Option<f64>,
    pub rss_mb: Option<f64>,
    pub threads: Option<u64>,
    /// What the engines' models say the point's processes run (see
    /// `fleet::threads_expected`), against what was alive at the end of
    /// the window, before the stop.
    pub threads_expected: Option<u64>,
    pub threads_alive_end: Option<u64>,
    /// The kernel's memory from before the point's processes started to
    /// the end of the window, machine-wide (other work is in it too).
    pub kernel_delta: Option<KernelMemory>,
    /// The TCP sockets' count and charged memory over the same span.
    pub tcp_delta: Option<TcpSockets>,
    /// Tasks the rest of the machine started (negative: ended) over the
    /// same span: the kernel deltas' noise gauge, near 0 when they are the
    /// point's own.
    pub other_tasks_delta: Option<i64>,
    /// Links of the point, for the per-link figures.
    pub links: usize,
    /// Links up when the go was sent, and a moment before the window's
    /// end (read only with progress on, as the wall runs), with the
    /// reasons the clients gave for the links down then.
    pub links_up_at_go: Option<u64>,
    pub links_up_end: Option<u64>,
    pub down_end: Vec<(String, u64)>,
    /// `/proc/meminfo`'s MemAvailable from before the processes started
    /// to the window's end (negative: memory taken).
    pub mem_available_delta: Option<i64>,
    /// `/proc/net/sockstat`'s TCP line at the window's end, absolute (its
    /// `mem` against `tcp_mem`'s limits).
    pub tcp_end: Option<TcpSockets>,
    /// The clients' errors and reconnects, summed from their reports.
    pub errors: Option<u64>,
    pub reconnects: Option<u64>,
    pub error_kinds: Option<ErrorKinds>,
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
    /// The blocking experiment's split (`fleet::Setup::first_client_alone`):
    /// every link, the first client process's links (the slow ones when a
    /// block is injected) and the other processes' (which never block).
    pub split: Option<Split>,
}

/// Latency and lateness tails of one group of links.
#[derive(Clone, Copy, Default)]
pub struct Tails {
    /// Latency (send to ack) p50, p99, p99.9, microseconds.
    pub latency_us: [u64; 3],
    /// Lateness (due to send) p50, p99, p99.9, microseconds.
    pub lateness_us: [u64; 3],
    /// Updates the latency histogram holds.
    pub updates: u64,
}

impl Tails {
    /// The tails of `h`; `None` when it holds nothing.
    pub fn of(h: &Snapshot) -> Option<Tails> {
        if h.latency.is_empty() {
            return None;
        }
        let q = |hist: &hdrhistogram::Histogram<u64>| {
            [0.5, 0.99, 0.999].map(|p| hist.value_at_quantile(p))
        };
        Some(Tails {
            latency_us: q(&h.latency),
            lateness_us: q(&h.lateness),
            updates: h.latency.len(),
        })
    }
}

/// The tails of every link and of the two groups apart.
#[derive(Clone, Copy)]
pub struct Split {
    pub all: Tails,
    pub first: Tails,
    pub others: Tails,
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
        self.links = links;
        if self.acked > 0 {
            let n = self.acked as f64;
            self.cpu_user_us_per_op = Some(used.user_s * 1e6 / n);
            self.cpu_sys_us_per_op = Some(used.sys_s * 1e6 / n);
            self.cpu_sched_us_per_op = used.on_cpu_ns.map(|ns| ns as f64 / 1e3 / n);
            self.ctx_per_op = Some(used.switches() as f64 / n);
            self.ctx_vol_per_op = used.voluntary_ctx.map(|v| v as f64 / n);
            self.ctx_invol_per_op = used.involuntary_ctx.map(|v| v as f64 / n);
        }
        if used.rss_bytes > 0 {
            self.rss_mb = Some(used.rss_bytes as f64 / 1e6);
            self.rss_bytes_per_link = Some(used.rss_bytes as f64 / links.max(1) as f64);
        }
        if used.threads > 0 {
            self.threads = Some(used.threads);
        }
    }

    /// Mean run delay per timeslice of the servers' and the clients'
    /// threads over the window (`None` where not read or nothing ran).
    pub fn set_run_delay(&mut self, servers: Option<&Figures>, clients: Option<&Figures>) {
        let per_slice = |f: Option<&Figures>| {
            let f = f?;
            let slices = f.timeslices.filter(|n| *n > 0)?;
            Some(f.run_delay_ns? as f64 / 1e3 / slices as f64)
        };
        self.run_delay_us_per_slice_server = per_slice(servers);
        self.run_delay_us_per_slice_client = per_slice(clients);
    }

    /// The kernel's part of the point's memory: kernel stacks, the slab
    /// it cannot reclaim, page tables and TCP's charged buffer memory, over
    /// the links (`None` when not read). Reclaimable slab is left out: it
    /// is mostly dentries and inodes, which the bench's own reads of
    /// `/proc` grow. Socket buffers partly live in slab too, so the sum
    /// may count some bytes twice; at these sizes the overlap is small.
    pub fn kernel_bytes_per_link(&self) -> Option<f64> {
        let (k, t) = (self.kernel_delta?, self.tcp_delta?);
        let bytes =
            k.kernel_stack_bytes + k.slab_unreclaimable_bytes + k.page_tables_bytes + t.mem_bytes;
        Some(bytes as f64 / self.links.max(1) as f64)
    }

    /// Resident memory and the kernel's part together, over the links.
    pub fn total_bytes_per_link(&self) -> Option<f64> {
        Some(self.rss_bytes_per_link? + self.kernel_bytes_per_link()?)
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
