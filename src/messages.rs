//! The messages that cross a process boundary: what a client tells startup,
//! what a server answers to the operations commands, and what a run report
//! carries to another host's `omclient verify --reports`.
//!
//! Plain data with serde derives and nothing else, so that every program
//! that writes or reads one imports this module and no other program's
//! runtime; what fills a message (`metrics`, `sys::procstat`) imports it,
//! never the other way round. Changing a field here changes a wire format:
//! the report's field set is pinned by a test in `launcher::report`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Totals over a client's links, at one moment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientStatus {
    /// The client's id (its index among this host's clients).
    pub(crate) id: u32,
    /// Links this client runs (one per server).
    pub(crate) links: u64,
    /// Links connected now.
    pub links_up: u64,
    /// Updates written.
    pub(crate) sent: u64,
    /// Updates acknowledged.
    pub(crate) acked: u64,
    /// Updates sent after their due time (fixed-rate only).
    pub(crate) late: u64,
    /// Ticks dropped, not sent, for being more than `max_lag_ms` behind.
    #[serde(default)]
    pub(crate) dropped: u64,
    /// Failed connects, broken links and error replies.
    pub errors: u64,
    /// `errors` by what went wrong.
    #[serde(default)]
    pub error_kinds: ErrorKinds,
    /// Times a link was re-established after being lost.
    pub reconnects: u64,
    /// Acks whose server count differed from ours.
    pub(crate) anomalies: u64,
    /// Seconds since the client's schedule started.
    pub(crate) elapsed_s: f64,
    /// The links not connected now, and why (empty when all are up, and
    /// then not sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) down: Vec<LinkDown>,
}

/// A client's errors by what went wrong; they add up to its `errors`. With
/// logging off (a soak) this is the only word on why links broke. Read
/// outside the crate (the engines bench) by [`ErrorKinds::all`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorKinds {
    /// A connect failed (refused, timed out, unreachable, reset).
    pub(crate) connect: u64,
    /// An update could not be written.
    pub(crate) write: u64,
    /// The server answered an update with an error line.
    pub(crate) refused: u64,
    /// No ack within `request_timeout_ms`.
    pub(crate) ack_timeout: u64,
    /// The server closed the link before it acked.
    pub(crate) closed: u64,
    /// Anything else: a reply that was not an ack, a read error.
    pub(crate) other: u64,
}

impl ErrorKinds {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &ErrorKinds) {
        self.connect += other.connect;
        self.write += other.write;
        self.refused += other.refused;
        self.ack_timeout += other.ack_timeout;
        self.closed += other.closed;
        self.other += other.other;
    }

    /// Every kind by name, zeros included, in a fixed order.
    pub fn all(&self) -> [(&'static str, u64); 6] {
        [
            ("connect", self.connect),
            ("write", self.write),
            ("refused", self.refused),
            ("ack_timeout", self.ack_timeout),
            ("closed", self.closed),
            ("other", self.other),
        ]
    }

    /// The nonzero kinds by name, e.g. `[("ack_timeout", 3)]`.
    pub(crate) fn nonzero(&self) -> Vec<(&'static str, u64)> {
        self.all().into_iter().filter(|(_, n)| *n > 0).collect()
    }
}

/// A link that is not connected, and the last reason it could not be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LinkDown {
    /// The server it links to.
    pub(crate) server: SocketAddr,
    /// `refused`, `timed out`, `unreachable`, `reset`, `failed` or
    /// `connecting` (no attempt has failed yet).
    pub(crate) reason: String,
}

/// What one key of one link ended with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyCount {
    /// The server this key was sent to.
    pub(crate) server: SocketAddr,
    /// The link's local `IP:PORT` while it used this key.
    pub(crate) key: String,
    /// Updates the server acknowledged for this key.
    pub acked: u64,
    /// Updates written for this key whose ack never came (0 or 1: a link
    /// has one update in flight at most, and a broken link gets a new key).
    pub(crate) unacked: u64,
}

/// A client's answer to `status`: totals so far, and the histograms of
/// what happened since the previous answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatusReply {
    /// Totals since the client started.
    pub(crate) status: ClientStatus,
    /// Latency, lateness and corrected latency since the last reply.
    pub(crate) histograms: WireSnapshot,
}

/// A client's final word: its totals and every key it used.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientReport {
    /// Totals at the moment every link had stopped; its `down` lists only
    /// the links that never connected, with the last reason.
    pub status: ClientStatus,
    /// Every key of every link.
    pub keys: Vec<KeyCount>,
    /// What was recorded since the last status reply.
    pub histograms: WireSnapshot,
    /// The client process's whole-life CPU and context switches, read once
    /// every link had ended (read by `sys::procstat::own`).
    #[serde(default)]
    pub(crate) process: Option<ProcessSample>,
}

/// A server's answer to `stats`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ServerStats {
    /// The address it listens on.
    pub(crate) server: String,
    /// Links open now.
    pub(crate) links: u64,
    /// Links accepted since start.
    pub(crate) links_accepted: u64,
    /// Connections refused (link limit, or no thread could be started).
    pub(crate) links_refused: u64,
    /// Updates applied since start.
    pub updates: u64,
    /// Updates applied over the last second.
    pub(crate) updates_per_s: f64,
    /// Distinct keys in the store.
    pub keys: u64,
    /// Updates whose client count differed from the server's count.
    pub anomalies: u64,
    /// Lines refused as malformed.
    pub(crate) protocol_errors: u64,
    /// Links closed for sending nothing for `idle_timeout_ms`.
    pub(crate) idle_closed: u64,
    /// Links dropped for not reading their replies within `write_timeout_ms`.
    pub(crate) write_timeouts: u64,
    /// Privileged commands refused for a missing or wrong token.
    pub(crate) auth_failures: u64,
    /// Seconds since the server started.
    pub(crate) uptime_s: f64,
    /// The server process's whole-life CPU, memory and context switches
    /// (read by `sys::procstat::own`).
    #[serde(default)]
    pub(crate) process: Option<ProcessSample>,
}

/// A server's answer to `dump`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ServerDump {
    /// The address it listens on.
    pub(crate) server: String,
    /// Sum of all counts.
    pub(crate) total: u64,
    /// Every key and its count, sorted by key.
    pub(crate) keys: Vec<(String, u64)>,
}

/// One of this host's servers' final counts, as the report carries it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FinalDump {
    /// The server, its total and every key's count.
    #[serde(flatten)]
    pub(crate) dump: ServerDump,
    /// Client links still open on it when the counts were read: 0 when the
    /// counts are final; more when the drain gave up (`--drain-timeout`).
    pub(crate) links_open: u64,
}

/// A histogram snapshot (`metrics::Snapshot`) as text, each histogram its
/// non-empty counters; `metrics` encodes and decodes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireSnapshot {
    /// Send to ack.
    pub(crate) latency: String,
    /// Due to send.
    pub(crate) lateness: String,
    /// Due to ack.
    pub(crate) corrected: String,
}

/// One reading of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProcessSample {
    /// User + system CPU time since the process started, in seconds.
    pub(crate) cpu_s: f64,
    /// Resident memory, in bytes (Windows: the working set).
    pub(crate) rss_bytes: u64,
    /// Threads now.
    pub(crate) threads: u64,
    /// Voluntary context switches since start (Linux: the thread blocked).
    pub(crate) voluntary_ctx: Option<u64>,
    /// Involuntary context switches since start (Linux: it was preempted).
    pub(crate) involuntary_ctx: Option<u64>,
    /// Open file descriptors now (Linux: the entries of `/proc/<pid>/fd`;
    /// Windows: open handles). `None` where the OS does not say, and in
    /// figures written before this field existed.
    #[serde(default)]
    pub(crate) fds: Option<u64>,
}
