//! The dashboard's HTTP thread: it owns the dashboard's [`State`], applies
//! the updates startup sends, and answers `/` (the page), `/api/run` (the
//! run as JSON) and `/metrics` (Prometheus' text) with tiny_http, a
//! synchronous server. With `--metrics`, a second such thread serves
//! `/metrics` alone ([`Serves::Metrics`]).
//!
//! # Threads
//!
//! This thread, and tiny_http's own (an accept thread and a small pool
//! that reads requests), run at the background rank (`sys::affinity`),
//! below the servers' link threads and startup's main thread: building a
//! response is never a burst above the servers whose answers the run
//! measures, and never anything startup's main thread waits for. Updates
//! arrive on an unbounded channel (startup sends and goes on); this thread
//! applies them whenever it wakes: at a request, or every [`WAKE`].
//!
//! `/api/run?after=SEQ` is a long poll: answered as soon as the run has
//! changed past `SEQ` (or after [`HOLD`]), so the page shows each status
//! round as it closes and builds no JSON while nothing changed. At most
//! [`MAX_HELD`] requests wait at once; more are answered at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use tiny_http::{Header, Method, Request, Response, Server};

use super::access::{Access, query};
use super::prometheus;
use crate::launcher::record::{Msg, State};

/// How often the thread wakes to apply updates when no request comes.
const WAKE: Duration = Duration::from_millis(250);

/// The longest a long poll waits for a change.
const HOLD: Duration = Duration::from_secs(20);

/// The most long polls waiting at once.
const MAX_HELD: usize = 32;

/// After the final report, how long startup waits for a page that was
/// open to fetch it before it exits.
const LINGER: Duration = Duration::from_secs(3);

/// A page counts as open if it asked within this long.
const WATCHED: Duration = Duration::from_secs(30);

/// When the page was last asked for, shared with the servers' poller
/// (which polls only while someone watches).
#[derive(Default)]
pub(super) struct Watch {
    /// Milliseconds from `since` to the last request; 0: none yet.
    last_ms: AtomicU64,
}

impl Watch {
    fn saw_request(&self, since: Instant) {
        let ms = since.elapsed().as_millis().max(1);
        self.last_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// True if a request came within [`WATCHED`] before now.
    pub(super) fn is_watched(&self, since: Instant) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        last > 0 && since.elapsed().as_millis() <= u128::from(last) + WATCHED.as_millis()
    }
}

/// What an address serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serves {
    /// `--dashboard`: the page, `/api/run` and `/metrics`.
    Page,
    /// `--metrics`: `/metrics` alone.
    Metrics,
}

impl Serves {
    /// What startup's line calls it (`dashboard at URL`).
    pub(super) fn name(self) -> &'static str {
        match self {
            Serves::Page => "dashboard",
            Serves::Metrics => "metrics",
        }
    }

    /// What its errors call it (`cannot serve metrics on ADDR`).
    pub(super) fn what(self) -> &'static str {
        match self {
            Serves::Page => "the dashboard",
            Serves::Metrics => "metrics",
        }
    }

    /// The flag that asks for it.
    pub(super) fn flag(self) -> &'static str {
        match self {
            Serves::Page => "--dashboard",
            Serves::Metrics => "--metrics",
        }
    }

    /// The path the printed URL names.
    pub(super) fn path(self) -> &'static str {
        match self {
            Serves::Page => "/",
            Serves::Metrics => "/metrics",
        }
    }
}

/// A long poll waiting for the run to change.
struct Held {
    request: Request,
    after: u64,
    until: Instant,
}

/// The HTTP thread's state.
pub(super) struct Serving {
    pub(super) server: Server,
    pub(super) updates: Receiver<Msg>,
    pub(super) state: State,
    pub(super) access: Access,
    /// The page and `/api/run` too, or `/metrics` alone.
    pub(super) serves: Serves,
    /// The live page, assembled once.
    pub(super) page: String,
    pub(super) watch: Arc<Watch>,
    /// The instant `watch` counts from.
    pub(super) since: Instant,
}

impl Serving {
    /// Serves until startup says the run is over and the open pages have
    /// the final state (or [`LINGER`] passed), or the listener fails.
    pub(super) fn run(mut self) {
        let mut held: Vec<Held> = Vec::new();
        let mut closing: Option<Instant> = None;
        // The highest `seq` a response carried: the final one, once sent,
        // lets startup exit without waiting out the linger (`/api/run`'s
        // on the page's address, `/metrics`' on a metrics-only one, so a
        // scraper that was watching gets the final counts).
        let mut served = 0u64;
        loop {
            let now = Instant::now();
            let next = held.iter().map(|h| h.until).chain(closing).min();
            let wait = next.map_or(WAKE, |t| t.saturating_duration_since(now).min(WAKE));
            let request = match self.server.recv_timeout(wait) {
                Ok(r) => r,
                Err(e) => {
                    log::warn!("dashboard: the listener failed ({e}); no more pages");
                    break;
                }
            };
            if self.apply_updates() && closing.is_none() {
                let watched = self.watch.is_watched(self.since);
                closing = Some(Instant::now() + if watched { LINGER } else { Duration::ZERO });
            }
            if let Some(request) = request {
                // A scrape on the page's address is no open page: it starts
                // no polls of the servers (whose table only the page shows).
                if self.serves == Serves::Metrics || !request.url().starts_with("/metrics") {
                    self.watch.saw_request(self.since);
                }
                if let Some(h) = self.answer(request, &mut served, held.len(), closing.is_some()) {
                    held.push(h);
                }
            }
            let now = Instant::now();
            let seq = self.state.seq();
            let (due, waiting): (Vec<Held>, Vec<Held>) = held
                .into_iter()
                .partition(|h| seq > h.after || now >= h.until || closing.is_some());
            held = waiting;
            for h in due {
                served = served.max(seq);
                self.respond_run(h.request);
            }
            if let Some(deadline) = closing {
                if (self.state.is_final() && served >= seq) || now >= deadline {
                    break;
                }
            }
        }
        for h in held {
            self.respond_run(h.request);
        }
    }

    /// Applies every update waiting; true once startup said the run is over.
    fn apply_updates(&mut self) -> bool {
        let mut close = false;
        loop {
            match self.updates.try_recv() {
                Ok(Msg::Update(u)) => self.state.apply(u),
                Ok(Msg::Close) | Err(TryRecvError::Disconnected) => {
                    close = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        close
    }

    /// Answers one request, or returns it to be held (a long poll for a
    /// change that has not come).
    fn answer(
        &self,
        request: Request,
        served: &mut u64,
        held: usize,
        closing: bool,
    ) -> Option<Held> {
        if !matches!(request.method(), Method::Get | Method::Head) {
            respond(
                request,
                405,
                "text/plain",
                b"read-only: GET only\n".to_vec(),
            );
            return None;
        }
        let find = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_string())
        };
        let (host, auth) = (find("Host"), find("Authorization"));
        let url = request.url().to_string();
        if let Err(refused) = self.access.check(host.as_deref(), auth.as_deref(), &url) {
            let body = format!("{}\n", refused.why).into_bytes();
            respond(request, refused.status, "text/plain", body);
            return None;
        }
        let page = self.serves == Serves::Page;
        match url.split('?').next().unwrap_or("") {
            "/metrics" => {
                if !page {
                    *served = (*served).max(self.state.seq());
                }
                let text = prometheus::render(&self.state, Instant::now());
                respond(request, 200, prometheus::CONTENT_TYPE, text.into_bytes());
            }
            "/" | "/index.html" if page => {
                let page = self.page.clone().into_bytes();
                respond(request, 200, "text/html; charset=utf-8", page);
            }
            "/api/run" if page => {
                let after = query(&url, "after").and_then(|a| a.parse::<u64>().ok());
                match after {
                    Some(after) if after >= self.state.seq() && held < MAX_HELD && !closing => {
                        return Some(Held {
                            request,
                            after,
                            until: Instant::now() + HOLD,
                        });
                    }
                    _ => {
                        *served = (*served).max(self.state.seq());
                        self.respond_run(request);
                    }
                }
            }
            _ if page => respond(
                request,
                404,
                "text/plain",
                b"not found: try /, /api/run or /metrics\n".to_vec(),
            ),
            _ => respond(
                request,
                404,
                "text/plain",
                b"not found: this address serves /metrics alone (startup --metrics); \
                  the page is served with --dashboard\n"
                    .to_vec(),
            ),
        }
        None
    }

    /// Answers with the run as JSON.
    fn respond_run(&self, request: Request) {
        let view = self.state.view(Instant::now());
        let body = serde_json::to_vec(&view).unwrap_or_default();
        respond(request, 200, "application/json", body);
    }
}

/// Sends one response. A browser that went away is no error of the run's.
fn respond(request: Request, status: u16, content_type: &str, body: Vec<u8>) {
    // A Content-Length, never chunks: the body is whole already, and the
    // simplest client (a shell's `curl`, a test's TcpStream) reads it.
    let mut response = Response::from_data(body)
        .with_status_code(status)
        .with_chunked_threshold(usize::MAX);
    for (name, value) in [
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        // Everything the page needs is in it; it may only fetch its own JSON.
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src data:",
        ),
    ] {
        if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    if status == 401 {
        if let Ok(h) = Header::from_bytes(&b"WWW-Authenticate"[..], &b"Bearer"[..]) {
            response.add_header(h);
        }
    }
    if let Err(e) = request.respond(response) {
        log::debug!("dashboard: a response was not delivered: {e}");
    }
}
