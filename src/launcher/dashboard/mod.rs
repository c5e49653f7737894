//! Watching a run in a browser: `startup --dashboard [ADDR]` serves a live
//! page, `/api/run` (the same figures as JSON) and `/metrics` (for
//! Prometheus); `startup --metrics ADDR` serves `/metrics` alone; and
//! `--html-report PATH` writes the run as one self-contained HTML file at
//! the end.
//!
//! What it serves is the run's record (`launcher::record`): this side only
//! reads it, from a live copy the run's feed sends over a channel.
//!
//! # The room
//!
//! * `mod.rs` (here): the [`Dashboard`] handle that starts and stops the
//!   serving threads (one per address: `--dashboard`'s, `--metrics`').
//! * `http.rs`: the HTTP thread (tiny_http): the page, `/api/run` and its
//!   long poll, `/metrics`.
//! * `prometheus.rs`: `/metrics`' text, rendered when scraped.
//! * `access.rs`: loopback, or the `ops_token` on every request.
//! * `servers.rs`: the servers table, from their `stats`, polled only while
//!   a page is open.
//! * `page.rs`: the page, assets inlined (`assets/`: the HTML, script and
//!   style, and uPlot, vendored with its license).
//! * `html_report.rs`: `--html-report`.
//!
//! # Threads, and who owns what
//!
//! The feed sends the page's copy of every update over an unbounded
//! channel: a send never waits, so startup's main thread, which paces the
//! status rounds and reads every child's figures, never waits for a
//! browser.
//!
//! The HTTP thread owns the dashboard's `State`, built from those copies,
//! and answers requests from it. The poller thread asks this host's
//! servers for `stats` every few seconds while a page is open, and sends
//! the answers on the same channel. Both run at the link threads' low
//! priority. Nothing is shared between the threads but the channel and
//! one atomic (when the page was last asked for).

mod access;
mod html_report;
mod http;
mod page;
mod prometheus;
mod servers;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::error::{Context, Error, Result};
use crate::launcher::record::{Feed, Msg, RunInfo, State};
use access::Access;
pub(crate) use http::Serves;
use http::{Serving, Watch};
use servers::{Poller, Polling};

pub(crate) use html_report::write as write_html_report;

/// Where `--dashboard` serves when given no address: loopback, on a port
/// below both Linux's (32768-60999) and Windows' (49152-65535) ephemeral
/// ranges, so no outgoing connection of the run can hold it.
pub(crate) const DEFAULT_ADDR: &str = "127.0.0.1:28080";

/// The dashboard's threads, while they run.
pub(crate) struct Dashboard {
    url: String,
    needs_token: bool,
    updates: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    poller: Option<Poller>,
    watch: Arc<Watch>,
    since: Instant,
}

impl Dashboard {
    /// Starts serving what `serves` says if `addr` asks for it and says
    /// where, whatever `--quiet` says: the address is what the user asked
    /// for. `feed`'s copy of the record goes to it from then on.
    ///
    /// # Errors
    /// `addr` is outside loopback and `ops_token` is empty (see
    /// `access.rs`), the address cannot be listened on, or no thread can
    /// be started.
    pub(crate) fn open(
        addr: Option<SocketAddr>,
        serves: Serves,
        ops_token: &str,
        info: RunInfo,
        feed: &mut Feed,
    ) -> Result<Option<Dashboard>> {
        let Some(addr) = addr else {
            return Ok(None);
        };
        let d = Dashboard::start(addr, serves, ops_token, info)?;
        let note = if d.needs_token {
            " (every request needs the ops_token: add ?token=<ops_token>, or send \
             Authorization: Bearer <ops_token>)"
        } else {
            ""
        };
        let name = serves.name();
        log::info!("{name} at {}", d.url);
        eprintln!("startup: {name} at {}{note}", d.url);
        feed.go_live(d.updates.clone());
        Ok(Some(d))
    }

    /// Listens on `addr` and starts the HTTP thread, whose state begins
    /// as the run `info` describes.
    fn start(
        addr: SocketAddr,
        serves: Serves,
        ops_token: &str,
        info: RunInfo,
    ) -> Result<Dashboard> {
        let (what, flag) = (serves.what(), serves.flag());
        let access = Access::for_addr(addr, ops_token, what)?;
        // Bound here, so a taken port fails the run before anything starts.
        let listener = TcpListener::bind(addr).map_err(|e| {
            Error::msg(format!(
                "cannot serve {what} on {addr}: {e}; pick another with {flag} \
                 127.0.0.1:PORT (127.0.0.1:0: any free port)"
            ))
        })?;
        let local = listener
            .local_addr()
            .with_context(|| format!("dashboard on {addr}"))?;
        let (updates, received) = crossbeam_channel::unbounded();
        let watch = Arc::new(Watch::default());
        let since = Instant::now();
        let needs_token = access.needs_token();
        let serving_watch = watch.clone();
        let thread = std::thread::Builder::new()
            .name("dashboard http".into())
            .spawn(move || {
                // At the background rank, below startup's main thread; the
                // threads tiny_http starts from here inherit it (Linux).
                crate::sys::affinity::lower_current_thread_priority();
                let server = match tiny_http::Server::from_listener(listener, None) {
                    Ok(server) => server,
                    Err(e) => {
                        log::warn!("dashboard: cannot serve: {e}");
                        return;
                    }
                };
                Serving {
                    server,
                    updates: received,
                    state: State::new(info),
                    access,
                    serves,
                    // A metrics-only address has no page to assemble.
                    page: match serves {
                        Serves::Page => page::render(None),
                        Serves::Metrics => String::new(),
                    },
                    watch: serving_watch,
                    since,
                }
                .run();
            })
            .context("cannot start the dashboard's thread")?;
        Ok(Dashboard {
            url: format!("http://{local}{}", serves.path()),
            needs_token,
            updates,
            thread: Some(thread),
            poller: None,
            watch,
            since,
        })
    }

    /// Asks `servers` for `stats` every [`SERVERS_EVERY`] while a page is
    /// open, each question at most `timeout`, with `token` first if set.
    pub(crate) fn poll_servers(
        &mut self,
        servers: Vec<SocketAddr>,
        token: String,
        timeout: Duration,
    ) {
        if servers.is_empty() || self.poller.is_some() {
            return;
        }
        self.poller = Poller::start(Polling {
            servers,
            token,
            timeout,
            updates: self.updates.clone(),
            watch: self.watch.clone(),
            since: self.since,
        });
    }

    /// Stops the server polls (before the clients stop: the drain and the
    /// final reads count the links on each server).
    pub(crate) fn stop_polls(&mut self) {
        if let Some(poller) = self.poller.take() {
            poller.stop();
        }
    }

    /// Ends the dashboards once the run is over, all at once: each one
    /// that was watched (a page open, a scraper) gets the final state
    /// first (startup waits at most 3 s for it to ask).
    pub(crate) fn close_all(dashboards: impl IntoIterator<Item = Dashboard>) {
        let mut closing: Vec<Dashboard> = dashboards.into_iter().collect();
        for d in &mut closing {
            d.stop_polls();
            let _ = d.updates.send(Msg::Close);
        }
        for mut d in closing {
            if let Some(thread) = d.thread.take() {
                let _ = thread.join();
            }
        }
    }
}
