//! The async client: a task per link on tokio's multi-thread runtime, and
//! the main thread, which answers startup (`client::program`).
//!
//! Each task drives the product's `ClientLink` as the threads engine's
//! link thread does, with `.await`s where a thread blocks: connect (at most `CONNECTING` at once per worker, so ten
//! thousand tasks do not flood a listen backlog), wait for the go, then per
//! update `sleep_until` the due time, write, await the ack within
//! `request_timeout_ms`; reconnect with backoff. The go and the stop reach
//! the tasks through a `watch` channel; the counters and histograms are
//! the same atomics the threads engine's main thread reads.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mass_connect::client::link::{ClientLink, Outcome, final_report, refuse_self_connect};
use mass_connect::client::program::{ClientArgs, Node};
use mass_connect::client::schedule::{Place, Window};
use mass_connect::client::{LinkCounters, LinkError, status_of};
use mass_connect::config::Config;
use mass_connect::error::{Context, Result};
use mass_connect::messages::{ClientReport, ClientStatus, KeyCount};
use mass_connect::metrics::{AtomicHistograms, Snapshot};
use mass_connect::wire::framing::LineReader;
use mass_connect::wire::protocol::MAX_LINE;
use tokio::net::TcpStream;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinHandle;

use super::{Flavor, TaskSock, write_all};
use crate::program::EngineArgs;
use crate::source::tokio_connect;

/// The client's runtime. A multi-thread runtime runs the tasks on its
/// workers by itself; a current-thread one runs them only inside
/// `Runtime::block_on`, and the main thread is busy answering startup, so
/// it gets one thread of its own that drives it until the stop.
enum ClientRuntime {
    Workers(Runtime),
    OneThread {
        handle: Handle,
        done: oneshot::Sender<()>,
        driver: std::thread::JoinHandle<()>,
    },
}

impl ClientRuntime {
    fn start(flavor: Flavor, workers: usize) -> Result<ClientRuntime> {
        let runtime =
            super::runtime(flavor, workers, true).context("cannot start the tokio runtime")?;
        if flavor == Flavor::MultiThread {
            return Ok(ClientRuntime::Workers(runtime));
        }
        let handle = runtime.handle().clone();
        let (done, until_done) = oneshot::channel::<()>();
        let driver = std::thread::Builder::new()
            .name("tokio driver".into())
            .spawn(move || {
                mass_connect::sys::affinity::lower_current_thread_below_servers();
                let _ = runtime.block_on(until_done);
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .context("cannot start the tokio runtime's thread")?;
        Ok(ClientRuntime::OneThread {
            handle,
            done,
            driver,
        })
    }

    fn handle(&self) -> &Handle {
        match self {
            ClientRuntime::Workers(runtime) => runtime.handle(),
            ClientRuntime::OneThread { handle, .. } => handle,
        }
    }

    /// Runs `f` to its end from the calling thread. On a current-thread
    /// runtime the driver thread keeps the sockets and timers going
    /// meanwhile, which `Handle::block_on` needs.
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle().block_on(f)
    }

    fn shutdown(self) {
        match self {
            ClientRuntime::Workers(runtime) => runtime.shutdown_timeout(Duration::from_secs(1)),
            ClientRuntime::OneThread { done, driver, .. } => {
                let _ = done.send(());
                let _ = driver.join();
            }
        }
    }
}

/// Connects in flight at once, per worker.
const CONNECTING: usize = 256;

/// What the tasks are told: the window once the go came, and the stop.
#[derive(Clone, Copy, Default)]
struct Told {
    window: Option<Window>,
    stop: bool,
}

struct Shared {
    config: Arc<Config>,
    histograms: AtomicHistograms,
    stop: AtomicBool,
    connecting: Semaphore,
    /// The local address the links connect from (`--source`).
    source: Option<IpAddr>,
}

/// A running async client node.
pub struct TokioClient {
    id: u32,
    window: Window,
    runtime: ClientRuntime,
    shared: Arc<Shared>,
    tell: watch::Sender<Told>,
    tasks: Vec<JoinHandle<(SocketAddr, Vec<KeyCount>)>>,
    links: Vec<(SocketAddr, Arc<LinkCounters>)>,
}

impl TokioClient {
    /// Starts a runtime of `e.threads` workers and a task per server of
    /// `args`, connecting from `e.source`, with the threads engine's
    /// stagger and gating.
    ///
    /// # Errors
    /// The OS refuses the runtime.
    pub fn start(args: &ClientArgs, e: EngineArgs) -> Result<TokioClient> {
        let workers = e.threads;
        let config = Arc::new(args.config.clone());
        let (servers, id, gated) = (&args.servers, args.id, args.supervised);
        let flavor = Flavor::from_env().context("cannot choose the tokio runtime")?;
        let runtime = ClientRuntime::start(flavor, workers)?;
        let window = Window::now();
        let (tell, told) = watch::channel(Told {
            window: (!gated).then_some(window),
            stop: false,
        });
        let shared = Arc::new(Shared {
            config: config.clone(),
            histograms: AtomicHistograms::default(),
            stop: AtomicBool::new(false),
            connecting: Semaphore::new(CONNECTING * workers.max(1)),
            source: e.source,
        });
        let mut links = Vec::with_capacity(servers.len());
        let mut tasks = Vec::with_capacity(servers.len());
        for (j, &server) in servers.iter().enumerate() {
            let place = Place {
                id,
                clients: args.clients,
                links: servers.len(),
                j,
            };
            let link = ClientLink::new(server, place, &config);
            links.push((server, link.counters.clone()));
            tasks.push(
                runtime
                    .handle()
                    .spawn(run_link(shared.clone(), link, told.clone())),
            );
        }
        log::info!(
            "client {id}: started {} link tasks on {workers} worker(s) ({} every {} ms)",
            links.len(),
            config.schedule.name(),
            config.update_intervals
        );
        Ok(TokioClient {
            id,
            window,
            runtime,
            shared,
            tell,
            tasks,
            links,
        })
    }
}

impl Node for TokioClient {
    fn status(&self) -> ClientStatus {
        status_of(
            self.id,
            &self.window,
            self.links.iter().map(|(s, c)| (*s, &**c)),
        )
    }

    fn take_histograms(&self) -> Snapshot {
        let mut all = Snapshot::default();
        all.add(&self.shared.histograms.take());
        all
    }

    fn go(&mut self, window: Window) {
        let mut told = *self.tell.borrow();
        if told.window.is_none() {
            told.window = Some(window);
            self.window = window;
            let _ = self.tell.send(told);
        }
    }

    fn stop(self) -> ClientReport {
        self.shared.stop.store(true, Ordering::Release);
        let mut told = *self.tell.borrow();
        told.stop = true;
        let _ = self.tell.send(told);
        let id = self.id;
        let tasks = self.tasks;
        let finished = self.runtime.block_on(async {
            let mut finished = Vec::with_capacity(tasks.len());
            for task in tasks {
                match task.await {
                    Ok(link) => finished.push(link),
                    Err(_) => eprintln!("client {id}: a link task failed"),
                }
            }
            finished
        });
        self.runtime.shutdown();
        let histograms = self.shared.histograms.take().encode();
        final_report(id, &self.window, &self.links, finished, histograms)
    }
}

/// One link's task: connect, run, reconnect, until the run is over.
async fn run_link(
    shared: Arc<Shared>,
    mut link: ClientLink,
    mut told: watch::Receiver<Told>,
) -> (SocketAddr, Vec<KeyCount>) {
    let config = shared.config.clone();
    let over = |told: &watch::Receiver<Told>| {
        let t = *told.borrow();
        t.stop || t.window.is_some_and(|w| w.is_over(Instant::now()))
    };
    // `connect_rate`'s ramp: the first connect waits for its turn.
    let first = tokio::time::Instant::from_std(link.first_connect());
    tokio::select! {
        _ = tokio::time::sleep_until(first) => {}
        _ = told.wait_for(|t| t.stop) => return (link.server, link.keys),
    }
    while !over(&told) {
        let stream = match connect(&shared, &link, &config).await {
            Ok(stream) => stream,
            Err(e) => {
                let wait = link.connect_failed(&e, &config);
                let deadline = tokio::time::Instant::now() + wait;
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = told.wait_for(|t| t.stop) => break,
                }
                continue;
            }
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        if !link.connected(local, &config) {
            continue; // a used local port: a key is one connection's life
        }
        // Connected and counted as up, the first connection waits for the go.
        let window = match told.wait_for(|t| t.stop || t.window.is_some()).await {
            Ok(t) if !t.stop => t.window,
            _ => None,
        };
        let Some(window) = window else { break };
        link.run(&window, &config, Instant::now());
        let stopped = run_connection(&shared, &mut link, stream, &mut told).await;
        link.down();
        if stopped {
            break;
        }
    }
    link.down();
    (link.server, link.keys)
}

async fn connect(
    shared: &Shared,
    link: &ClientLink,
    config: &Config,
) -> std::io::Result<TcpStream> {
    let _permit = shared.connecting.acquire().await;
    let limit = config.connect_timeout();
    let stream = match tokio::time::timeout(limit, tokio_connect(link.server, shared.source)).await
    {
        Ok(connected) => connected?,
        Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
    };
    refuse_self_connect(link.server, stream.local_addr()?)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends updates on one connection until it breaks (false) or the run is
/// over (true: then it stays connected, idle, until the stop).
async fn run_connection(
    shared: &Shared,
    link: &mut ClientLink,
    stream: TcpStream,
    told: &mut watch::Receiver<Told>,
) -> bool {
    let ack_limit = shared.config.request_timeout();
    let mut reader = LineReader::new(TaskSock { stream }, MAX_LINE);
    let mut out = Vec::with_capacity(128);
    loop {
        let Some(due) = link.next_due() else {
            // Past the window's end: stay connected and idle until the stop.
            let _ = told.wait_for(|t| t.stop).await;
            return true;
        };
        if shared.stop.load(Ordering::Acquire) {
            return true;
        }
        if due > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = told.wait_for(|t| t.stop) => return true,
            }
        }
        if !link.send(due, Instant::now(), &mut out) {
            let _ = told.wait_for(|t| t.stop).await;
            return true;
        }
        if let Err(e) = write_all(&reader.get_ref().stream, &out).await {
            link.broken(LinkError::Write, &format!("write failed: {e}"));
            return false;
        }
        let outcome =
            match tokio::time::timeout(ack_limit, read_reply(&mut reader, link, shared)).await {
                Ok(outcome) => outcome,
                Err(_) => link.broken(LinkError::AckTimeout, "no ack within request_timeout_ms"),
            };
        if let Outcome::Broken = outcome {
            return false;
        }
    }
}

/// Reads one reply line, awaiting the socket as needed.
async fn read_reply(
    reader: &mut LineReader<TaskSock>,
    link: &mut ClientLink,
    shared: &Shared,
) -> Outcome {
    loop {
        match reader.read_line() {
            Ok(Some(line)) => return link.reply(line, Instant::now(), &shared.histograms),
            Ok(None) => return link.broken(LinkError::Closed, "the server closed the link"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Err(e) = reader.get_ref().stream.readable().await {
                    return link.broken(LinkError::of_read(&e), &e.to_string());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return link.broken(LinkError::of_read(&e), &e.to_string()),
        }
    }
}
