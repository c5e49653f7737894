//! Newline framing over a byte stream, with a hard bound on line length and,
//! for a server, on the time a line may take.
//!
//! TCP is a byte stream, so messages need a frame (the seed read "up to 2048
//! bytes" as one message, and misread two updates in one segment or one
//! split across two). Ours is a line ending in `\n`; one `\r` before it is
//! dropped, so `nc -C` and telnet work, and the length limit counts the line
//! without that line end. [`LineReader`] owns one fixed buffer for the life
//! of the connection and hands out borrowed slices of it, so reading a line
//! allocates nothing. A line past the limit is one [`Line::TooLong`], and
//! framing resumes at the next newline: one bad line never costs the link.
//!
//! A peer that sends one byte a second never reaches the limit, and a plain
//! read timeout never fires, so `LineReader::read_line_within` gives each
//! line a deadline from its first byte, as nginx's `client_header_timeout`
//! does. It costs nothing while lines arrive whole: the read timeout stays
//! armed at the full limit, and is shortened only while part of a line
//! waits for the rest.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// One framed item read from the peer.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line without its `\n` (or `\r\n`).
    Complete(&'a [u8]),
    /// The peer passed the length limit; what follows, up to the next
    /// newline, is discarded.
    TooLong,
}

/// A byte source whose reads can be given a time limit: a socket
/// (`sys::net` implements it for `&TcpStream`).
pub(crate) trait TimedRead: Read {
    /// Limits each following read to `limit`; a read that runs out of time
    /// fails with `WouldBlock` or `TimedOut`, as a socket's does.
    fn limit_reads(&mut self, limit: Duration) -> io::Result<()>;
}

/// Reads `\n`-terminated lines of at most `max_line` bytes.
pub struct LineReader<R> {
    inner: R,
    /// Bytes read from the socket; `buf[start..end]` is not yet consumed.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    max_line: usize,
    /// True while skipping the tail of a line that was too long.
    discarding: bool,
    /// Bytes after `start` already searched and known to hold no newline,
    /// so a peer that sends a line one byte at a time costs one scan per
    /// byte, not a rescan of the whole partial line on every read.
    scanned: usize,
    /// When the line now pending was first seen waiting for its rest
    /// (`read_line_within` only); cleared by every newline.
    line_began: Option<Instant>,
    /// The read limit `read_line_within` last gave `inner`, so that it is
    /// set again only when it changes.
    armed: Option<Duration>,
}

impl<R: Read> LineReader<R> {
    /// A reader whose buffer holds one maximal line and its `\r`, and room
    /// to read ahead.
    pub fn new(inner: R, max_line: usize) -> LineReader<R> {
        LineReader {
            inner,
            buf: vec![0; max_line + 1 + 512].into_boxed_slice(),
            start: 0,
            end: 0,
            max_line,
            discarding: false,
            scanned: 0,
            line_began: None,
            armed: None,
        }
    }

    /// The underlying reader (to set timeouts, or shut the socket down).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// True when part of a line has arrived but not its end.
    pub fn has_partial_line(&self) -> bool {
        self.end > self.start || self.discarding
    }

    /// The next line, or `Ok(None)` when the peer closed the stream cleanly
    /// between lines.
    ///
    /// # Errors
    /// Read errors (including timeouts) are passed through; a stream that
    /// ends in the middle of a line is `UnexpectedEof`.
    pub fn read_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.next_line(|_| Ok(()))
    }

    /// [`LineReader::read_line`] with a deadline: no line may take longer
    /// than `limit` to arrive, counted from its first byte (or, when none
    /// has come, from the call). Give every call on one reader the same
    /// `limit`; the reader owns `inner`'s read timeout from the first call.
    ///
    /// # Errors
    /// As `read_line`; a line out of time is a `WouldBlock` or `TimedOut`
    /// error (`sys::net::is_timeout`).
    pub(crate) fn read_line_within(&mut self, limit: Duration) -> io::Result<Option<Line<'_>>>
    where
        R: TimedRead,
    {
        self.next_line(|reader| reader.limit_next_read(limit))
    }

    /// The framing loop; `before_read` runs before each read of `inner`.
    fn next_line(
        &mut self,
        mut before_read: impl FnMut(&mut Self) -> io::Result<()>,
    ) -> io::Result<Option<Line<'_>>> {
        loop {
            // Look for the end of a line in what is buffered and not yet
            // searched.
            let from = self.start + self.scanned;
            if let Some(pos) = self.buf[from..self.end].iter().position(|&b| b == b'\n') {
                let (line_start, mut line_end) = (self.start, from + pos);
                self.start = line_end + 1;
                self.scanned = 0;
                self.line_began = None;
                if self.discarding {
                    self.discarding = false;
                    continue;
                }
                if line_end > line_start && self.buf[line_end - 1] == b'\r' {
                    line_end -= 1;
                }
                // A whole overlong line can arrive in one read.
                if line_end - line_start > self.max_line {
                    return Ok(Some(Line::TooLong));
                }
                return Ok(Some(Line::Complete(&self.buf[line_start..line_end])));
            }

            // No newline buffered. Too long already? Then say so once and
            // skip the rest of this line. One byte past the limit is not
            // too long yet when it is a `\r`: the `\n` may follow.
            self.scanned = self.end - self.start;
            let pending = self.end - self.start;
            let too_long = pending > self.max_line + 1
                || (pending == self.max_line + 1 && self.buf[self.end - 1] != b'\r');
            if too_long || self.discarding {
                (self.start, self.end, self.scanned) = (0, 0, 0);
                if !self.discarding {
                    self.discarding = true;
                    return Ok(Some(Line::TooLong));
                }
            }

            // Make room at the end, then read more.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            before_read(self)?;
            let n = loop {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                if self.has_partial_line() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed in the middle of a line",
                    ));
                }
                return Ok(None);
            }
            self.end += n;
        }
    }

    /// Before a read: the whole `limit` when no line is pending, else what
    /// is left of the pending line's. `inner`'s timeout is set only when
    /// that differs from what it has: never while lines arrive whole, since
    /// a line's first wait is the whole limit too.
    fn limit_next_read(&mut self, limit: Duration) -> io::Result<()>
    where
        R: TimedRead,
    {
        let wanted = if self.has_partial_line() {
            let now = Instant::now();
            let began = *self.line_began.get_or_insert(now);
            match (began + limit).checked_duration_since(now) {
                Some(left) if !left.is_zero() => left,
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "a line was not complete within its time limit",
                    ));
                }
            }
        } else {
            limit
        };
        if self.armed != Some(wanted) {
            self.inner.limit_reads(wanted)?;
            self.armed = Some(wanted);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns its chunks one read at a time, like a socket.
    struct Chunks(Vec<Vec<u8>>);

    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let mut chunk = self.0.remove(0);
            let n = chunk.len().min(out.len());
            out[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.0.insert(0, chunk.split_off(n));
            }
            Ok(n)
        }
    }

    fn lines(chunks: &[&[u8]], max: usize) -> Vec<Result<Option<String>, io::ErrorKind>> {
        let mut r = LineReader::new(Chunks(chunks.iter().map(|c| c.to_vec()).collect()), max);
        let mut out = Vec::new();
        loop {
            match r.read_line() {
                Ok(Some(Line::Complete(l))) => {
                    out.push(Ok(Some(String::from_utf8_lossy(l).into_owned())))
                }
                Ok(Some(Line::TooLong)) => out.push(Ok(Some("<too long>".into()))),
                Ok(None) => {
                    out.push(Ok(None));
                    return out;
                }
                Err(e) => {
                    out.push(Err(e.kind()));
                    return out;
                }
            }
        }
    }

    fn some(s: &str) -> Result<Option<String>, io::ErrorKind> {
        Ok(Some(s.to_string()))
    }

    #[test]
    fn lines_are_framed_whatever_the_reads_cut() {
        // Two lines in one read, and one line split across two.
        let got = lines(&[b"a;1\nb;", b"2\r\n", b"c\n"], 16);
        assert_eq!(got, vec![some("a;1"), some("b;2"), some("c"), Ok(None)]);
        // A byte at a time.
        let chunks: Vec<&[u8]> = b"update;k;1\nping\n".chunks(1).collect();
        let got = lines(&chunks, 16);
        assert_eq!(got, vec![some("update;k;1"), some("ping"), Ok(None)]);
        // Empty lines are lines.
        let got = lines(&[b"\n\r\n"], 16);
        assert_eq!(got, vec![some(""), some(""), Ok(None)]);
        // A stream that ends in the middle of a line is an error.
        let got = lines(&[b"ok\nhalf"], 16);
        assert_eq!(got, vec![some("ok"), Err(io::ErrorKind::UnexpectedEof)]);
    }

    #[test]
    fn too_long_is_reported_once_and_framing_resumes() {
        let long = vec![b'x'; 100];
        let got = lines(&[&long, &long, b"tail\nok\n"], 16);
        assert_eq!(got, vec![some("<too long>"), some("ok"), Ok(None)]);
        // The same when the newline comes in the same read.
        let got = lines(&[&[&long[..40], b"\nnext\n".as_slice()].concat()], 16);
        assert_eq!(got, vec![some("<too long>"), some("next"), Ok(None)]);
    }

    #[test]
    fn the_limit_does_not_count_the_line_end() {
        // A line of exactly the limit is accepted, with its `\r` or not.
        let max = "z".repeat(16);
        let got = lines(&[format!("{max}\n").as_bytes()], 16);
        assert_eq!(got, vec![some(&max), Ok(None)]);
        let got = lines(&[format!("{max}\r\n").as_bytes()], 16);
        assert_eq!(got, vec![some(&max), Ok(None)]);
        // The `\r` arrives one read before its `\n`: one byte over the limit
        // is not too long yet.
        let got = lines(&[max.as_bytes(), b"\r", b"\n"], 16);
        assert_eq!(got, vec![some(&max), Ok(None)]);
        // Seventeen bytes before the `\r` are.
        let got = lines(&[format!("{max}z\r\n").as_bytes()], 16);
        assert_eq!(got, vec![some("<too long>"), Ok(None)]);
        let got = lines(&[format!("{max}\r").as_bytes(), b"x\nok\n"], 16);
        assert_eq!(got, vec![some("<too long>"), some("ok"), Ok(None)]);
        // Only one `\r` is dropped; a second one stays in the line.
        let got = lines(&[b"ping\r\r\n"], 16);
        assert_eq!(got, vec![some("ping\r"), Ok(None)]);
    }

    /// A socket stand-in: each chunk is returned by one read after its
    /// delay, and every read limit the reader sets is recorded.
    struct Timed {
        chunks: Vec<(Duration, Vec<u8>)>,
        limits: Vec<Duration>,
    }

    impl Timed {
        fn new(delay: Duration, chunks: &[&[u8]]) -> Timed {
            Timed {
                chunks: chunks.iter().map(|c| (delay, c.to_vec())).collect(),
                limits: Vec::new(),
            }
        }
    }

    impl Read for Timed {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.chunks.is_empty() {
                return Ok(0);
            }
            let (delay, chunk) = self.chunks.remove(0);
            std::thread::sleep(delay);
            out[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    impl TimedRead for Timed {
        fn limit_reads(&mut self, limit: Duration) -> io::Result<()> {
            self.limits.push(limit);
            Ok(())
        }
    }

    /// Lines until the end or an error, and the limits the reader set.
    fn timed_lines(timed: Timed, limit: Duration) -> (Vec<String>, io::Result<()>, Vec<Duration>) {
        let mut r = LineReader::new(timed, 64);
        let mut got = Vec::new();
        let end = loop {
            match r.read_line_within(limit) {
                Ok(Some(Line::Complete(l))) => got.push(String::from_utf8_lossy(l).into_owned()),
                Ok(Some(Line::TooLong)) => got.push("<too long>".into()),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        (got, end, r.inner.limits)
    }

    #[test]
    fn whole_lines_arm_the_limit_once() {
        // The hot path: a line per read sets the read timeout once for the
        // link and never again.
        let limit = Duration::from_secs(60);
        let chunks = vec![b"update;k;1\n".as_slice(); 1000];
        let (got, end, limits) = timed_lines(Timed::new(Duration::ZERO, &chunks), limit);
        assert_eq!(got.len(), 1000);
        assert!(end.is_ok());
        assert_eq!(limits, vec![limit]);
    }

    #[test]
    fn a_partial_line_shortens_the_limit_until_it_is_complete() {
        let limit = Duration::from_secs(60);
        let chunks: &[&[u8]] = &[b"up", b"da", b"te;k;1\n", b"ping\n", b"ping\n"];
        let (got, end, limits) = timed_lines(Timed::new(Duration::from_millis(2), chunks), limit);
        assert_eq!(got, ["update;k;1", "ping", "ping"]);
        assert!(end.is_ok());
        // Armed; the line's first wait is the whole limit, so unchanged;
        // then what is left of it; then the whole limit again.
        assert_eq!(limits.len(), 3, "{limits:?}");
        assert_eq!(limits[0], limit);
        assert!(limits[1] < limit, "{limits:?}");
        assert_eq!(limits[2], limit);
    }
}
