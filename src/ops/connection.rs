//! The operations client: `ping`, `stats`, `dump`, `config` and `stop` over
//! the same line protocol the updates use. omclient is a thin shell over
//! this module, and startup uses it to read every server's data at the end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};
use crate::messages::{ServerDump, ServerStats};
use crate::sys::net;
use crate::wire::protocol::{self, Reply};

/// Largest reply accepted: a dump of a million keys fits.
const MAX_REPLY: u64 = 128 * 1024 * 1024;

/// One connection to one server's operations interface.
pub struct OpsConnection {
    addr: SocketAddr,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    line: String,
}

impl OpsConnection {
    /// Connects, and presents `token` first when it is not empty.
    ///
    /// # Errors
    /// The server cannot be reached in `timeout`, or refuses the token.
    pub fn open(addr: SocketAddr, token: &str, timeout: Duration) -> Result<OpsConnection> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| format!("server {addr} is down"))?;
        net::tune(&stream, timeout, timeout).with_context(|| format!("server {addr}"))?;
        let reader = BufReader::new(
            stream
                .try_clone()
                .with_context(|| format!("server {addr}"))?,
        );
        let mut conn = OpsConnection {
            addr,
            stream,
            reader,
            line: String::new(),
        };
        if !token.is_empty() {
            conn.call_raw(format!("auth;{token}\n").as_bytes())?;
        }
        Ok(conn)
    }

    /// Sends one request line and returns the JSON of its `ok;` reply (or
    /// the bare reply word for `pong` and `bye`).
    fn call_raw(&mut self, request: &[u8]) -> Result<String> {
        let addr = self.addr;
        (&self.stream)
            .write_all(request)
            .with_context(|| format!("server {addr}: cannot send request"))?;
        self.line.clear();
        let n = (&mut self.reader)
            .take(MAX_REPLY)
            .read_line(&mut self.line)
            .with_context(|| format!("server {addr}: no reply"))?;
        if n == 0 {
            return Err(Error::msg(format!(
                "server {addr} closed the connection without a reply"
            )));
        }
        let line = self.line.trim_end_matches(['\r', '\n']);
        match protocol::parse_reply(line.as_bytes()) {
            Some(Reply::Ok(json)) => Ok(json.to_string()),
            Some(Reply::Pong) => Ok("pong".into()),
            Some(Reply::Bye) => Ok("bye".into()),
            Some(Reply::Err { code, detail }) => Err(Error::msg(format!(
                "server {addr} refused the request: {code}: {detail}"
            ))),
            Some(Reply::Ack(_)) | None => Err(Error::msg(format!(
                "server {addr} sent an unexpected reply: {:.80}",
                line
            ))),
        }
    }

    fn call_json<T: serde::de::DeserializeOwned>(&mut self, request: &[u8]) -> Result<T> {
        let json = self.call_raw(request)?;
        serde_json::from_str(&json)
            .with_context(|| format!("server {}: reply is not the expected JSON", self.addr))
    }

    /// Round trip time of one `ping`.
    pub(crate) fn ping(&mut self) -> Result<Duration> {
        let t = Instant::now();
        self.call_raw(b"ping\n")?;
        Ok(t.elapsed())
    }

    /// The server's counters.
    pub(crate) fn stats(&mut self) -> Result<ServerStats> {
        self.call_json(b"stats\n")
    }

    /// Every key and count.
    pub fn dump(&mut self) -> Result<ServerDump> {
        self.call_json(b"dump\n")
    }

    /// The server's effective configuration.
    pub(crate) fn config(&mut self) -> Result<serde_json::Value> {
        self.call_json(b"config\n")
    }

    /// Asks the server to stop; returns once it has said `bye`.
    pub(crate) fn stop(&mut self) -> Result<()> {
        self.call_raw(b"stop\n").map(|_| ())
    }
}

/// Asks every server in `addrs` the same question, several at once, and
/// returns the answers in the same order.
///
/// Across hosts, a server can be unreachable (its host is down or cut off):
/// each question then costs a whole `timeout`. Asked one after another,
/// ten hosts' worth of such servers would take minutes; asked at once, one
/// timeout per batch of `AT_ONCE`. Scoped threads, because each question
/// is one blocking connection and the answers are needed together.
pub(crate) fn ask_each<T: Send>(
    addrs: &[SocketAddr],
    token: &str,
    timeout: Duration,
    question: impl Fn(&mut OpsConnection) -> Result<T> + Sync,
) -> Vec<Result<T>> {
    let ask = |addr: SocketAddr| {
        OpsConnection::open(addr, token, timeout).and_then(|mut conn| question(&mut conn))
    };
    let ask = &ask;
    let mut answers = Vec::with_capacity(addrs.len());
    for batch in addrs.chunks(AT_ONCE) {
        std::thread::scope(|scope| {
            let threads: Vec<_> = batch
                .iter()
                .map(|&addr| {
                    std::thread::Builder::new()
                        .name(format!("ask {addr}"))
                        .stack_size(256 * 1024)
                        .spawn_scoped(scope, move || ask(addr))
                })
                .collect();
            for (thread, &addr) in threads.into_iter().zip(batch) {
                answers.push(match thread {
                    Ok(thread) => thread.join().unwrap_or_else(|_| {
                        Err(Error::msg(format!(
                            "server {addr}: the query thread panicked"
                        )))
                    }),
                    // No thread to spare (an OS limit): ask from this one.
                    Err(_) => ask(addr),
                });
            }
        });
    }
    answers
}

/// Servers asked at once by [`ask_each`].
const AT_ONCE: usize = 32;
