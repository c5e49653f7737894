//! Newline framing over a byte stream, with a hard bound on line length.
//!
//! The seed read "up to 2048 bytes" and treated whatever arrived as one
//! message, so two updates in one TCP segment, or one update split across
//! two, were misread. TCP is a byte stream: messages need a frame. Ours is a
//! line ending in `\n` (a `\r` before it is dropped, so `nc -C` and telnet work).
//!
//! [`LineReader`] owns one fixed buffer for the life of the connection and
//! hands out borrowed slices of it, so reading a line allocates nothing. A
//! peer that sends more than the limit without a newline gets one
//! [`Line::TooLong`]; the rest of that line is skipped and framing resumes at
//! the next newline, so one bad line never costs the link.

use std::io::{self, Read};

/// One framed item read from the peer.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line without its `\n` (or `\r\n`).
    Complete(&'a [u8]),
    /// The peer passed the length limit; what follows, up to the next
    /// newline, is discarded.
    TooLong,
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
}

impl<R: Read> LineReader<R> {
    /// A reader whose buffer holds one maximal line plus room to read ahead.
    pub fn new(inner: R, max_line: usize) -> LineReader<R> {
        LineReader {
            inner,
            buf: vec![0; max_line + 1 + 512].into_boxed_slice(),
            start: 0,
            end: 0,
            max_line,
            discarding: false,
            scanned: 0,
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
        loop {
            // Look for the end of a line in what is buffered and not yet
            // searched.
            let from = self.start + self.scanned;
            if let Some(pos) = self.buf[from..self.end].iter().position(|&b| b == b'\n') {
                let (line_start, line_end) = (self.start, from + pos);
                self.start = line_end + 1;
                self.scanned = 0;
                if self.discarding {
                    self.discarding = false;
                    continue;
                }
                // A whole overlong line can arrive in one read.
                if line_end - line_start > self.max_line {
                    return Ok(Some(Line::TooLong));
                }
                let mut line = &self.buf[line_start..line_end];
                if let [rest @ .., b'\r'] = line {
                    line = rest;
                }
                return Ok(Some(Line::Complete(line)));
            }

            // No newline buffered. Too long already? Then say so once and
            // skip the rest of this line.
            self.scanned = self.end - self.start;
            if self.end - self.start > self.max_line {
                self.start = 0;
                self.end = 0;
                self.scanned = 0;
                if !self.discarding {
                    self.discarding = true;
                    return Ok(Some(Line::TooLong));
                }
            }
            if self.discarding {
                self.start = 0;
                self.end = 0;
                self.scanned = 0;
            }

            // Make room at the end, then read more.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
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
    fn two_lines_in_one_read_and_one_line_split() {
        let got = lines(&[b"a;1\nb;", b"2\r\n", b"c\n"], 16);
        assert_eq!(got, vec![some("a;1"), some("b;2"), some("c"), Ok(None)]);
    }

    #[test]
    fn byte_at_a_time() {
        let bytes = b"update;k;1\nping\n";
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        let got = lines(&chunks, 16);
        assert_eq!(got, vec![some("update;k;1"), some("ping"), Ok(None)]);
    }

    #[test]
    fn too_long_is_reported_once_and_framing_resumes() {
        let long = vec![b'x'; 100];
        let got = lines(&[&long, &long, b"tail\nok\n"], 16);
        assert_eq!(got, vec![some("<too long>"), some("ok"), Ok(None)]);
    }

    #[test]
    fn too_long_with_newline_in_same_read() {
        let mut data = vec![b'y'; 40];
        data.extend_from_slice(b"\nnext\n");
        let got = lines(&[&data], 16);
        assert_eq!(got, vec![some("<too long>"), some("next"), Ok(None)]);
    }

    #[test]
    fn line_of_exactly_max_is_accepted() {
        let mut data = vec![b'z'; 16];
        data.push(b'\n');
        let got = lines(&[&data], 16);
        assert_eq!(got, vec![some(&"z".repeat(16)), Ok(None)]);
    }

    #[test]
    fn eof_mid_line_is_an_error() {
        let got = lines(&[b"ok\nhalf"], 16);
        assert_eq!(got, vec![some("ok"), Err(io::ErrorKind::UnexpectedEof)]);
    }

    #[test]
    fn empty_lines_are_lines() {
        let got = lines(&[b"\n\r\n"], 16);
        assert_eq!(got, vec![some(""), some(""), Ok(None)]);
    }
}
