//! Arbitrary bytes against the wire protocol, the way a server meets them:
//! through `LineReader` with the real `MAX_LINE`, then `parse_request`. The
//! same bytes also go to `parse_reply`, which a client runs on a server's
//! lines.
//!
//! Beyond "no panic", each parse is checked against what the grammar in
//! docs/PROTOCOL.md promises, so a parser that accepts too much fails here:
//!
//! * a parsed request is printable ASCII, with no TAB or other control byte;
//! * a parsed update is a printable key of at most `MAX_KEY` bytes and a
//!   count of at least 1, and `encode_update` writes it back as the input's
//!   canonical form (one trailing `;` and leading zeros removed; nothing is
//!   trimmed);
//! * a `wrong_fields` refusal names the shape of the line's own command;
//! * every reply that parses re-encodes to a line that parses to the same reply;
//! * framing does not depend on read boundaries: the lines `LineReader` gives
//!   for bytes split into random reads (with `Interrupted` errors mixed in)
//!   equal the lines of a plain split on `\n` less one `\r` each, a line
//!   longer than `MAX_LINE` without that `\r` being one `TooLong`, and a
//!   stream cut mid-line ending in `UnexpectedEof`.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use mass_connect::wire::framing::{Line, LineReader};
use mass_connect::wire::protocol::{
    self, MAX_KEY, MAX_LINE, ParseError, Reply, Request, parse_reply, parse_request,
};

fuzz_target!(|data: &[u8]| {
    check_request(data);
    check_reply(data);
    // The first byte picks how the rest is cut into reads, so the fuzzer
    // steers the boundaries as well as the bytes.
    if let Some((&seed, stream)) = data.split_first() {
        check_framing(stream, seed);
    }
});

fn check_request(line: &[u8]) {
    match parse_request(line) {
        Ok(request) => {
            // Only printable ASCII ever makes a request.
            assert!(line.iter().all(|&b| (0x20..0x7f).contains(&b)));
            match request {
                Request::Update { key, count } => check_update(line, key, count),
                Request::Auth { token } => {
                    assert!(!token.contains(';'));
                    // The token is the line's second field, byte for byte.
                    let text = std::str::from_utf8(line).expect("a parsed line is text");
                    let rest = text.strip_prefix("auth;").expect("auth's token field");
                    assert_eq!(rest.strip_suffix(';').unwrap_or(rest), token);
                }
                _ => {}
            }
        }
        Err(e) => {
            // Every refusal names a code and says what was wrong.
            assert!(!e.code().is_empty() && !e.detail().is_empty());
            assert!(e.to_string().starts_with(e.code()));
            assert_ne!(e, ParseError::TooLong, "only framing reports too_long");
            if let ParseError::WrongFields(shape) = e {
                // `ping;x`: "ping takes no fields".
                let command = line.split(|&b| b == b';').next().unwrap_or_default();
                assert!(shape.as_bytes().starts_with(command), "{shape}");
                assert!(
                    shape.as_bytes().get(command.len()) == Some(&b' '),
                    "{shape}"
                );
            }
        }
    }
}

fn check_update(line: &[u8], key: &str, count: u64) {
    assert!(!key.is_empty() && key.len() <= MAX_KEY);
    assert!(key.bytes().all(|b| b.is_ascii_graphic() && b != b';'));
    assert!(count >= 1);

    let mut encoded = Vec::new();
    protocol::encode_update(&mut encoded, key, count);
    let canonical = encoded
        .strip_suffix(b"\n")
        .expect("an update ends in a newline");
    assert_eq!(parse_request(canonical), Ok(Request::Update { key, count }));

    // The input is the canonical line plus only what the grammar lets vary.
    let text = std::str::from_utf8(line).expect("a parsed line is text");
    let text = text.strip_suffix(';').unwrap_or(text);
    let (head, digits) = text.rsplit_once(';').expect("an update has three fields");
    let digits = digits.trim_start_matches('0');
    let rebuilt = format!("{head};{digits}");
    assert_eq!(rebuilt.as_bytes(), canonical);
}

fn check_reply(line: &[u8]) {
    let Some(reply) = parse_reply(line) else {
        return;
    };
    let mut encoded = Vec::new();
    match reply {
        Reply::Ack(n) => {
            assert!(n >= 1 && line.starts_with(b"ack;"));
            protocol::encode_ack(&mut encoded, n);
        }
        Reply::Ok(json) => {
            protocol::encode_ok(&mut encoded, json);
            // `ok;` carries its payload untouched.
            assert_eq!(&encoded[..encoded.len() - 1], line);
        }
        Reply::Err { code, detail } => {
            assert!(!code.contains(';'));
            // Replies are lines: a newline inside one cannot come back intact.
            if line.contains(&b'\n') {
                return;
            }
            protocol::encode_err(&mut encoded, code, detail);
        }
        Reply::Pong => {
            assert_eq!(line, b"pong");
            return;
        }
        Reply::Bye => {
            assert_eq!(line, b"bye");
            return;
        }
    }
    let again = encoded
        .strip_suffix(b"\n")
        .expect("a reply ends in a newline");
    assert_eq!(parse_reply(again), Some(reply));
}

/// What a reader of the stream should see, in order.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Complete(Vec<u8>),
    TooLong,
    /// Clean end between lines.
    End,
    /// The stream stopped in the middle of a line.
    Eof,
}

/// The framing rules stated directly on the whole stream.
fn expected_items(stream: &[u8]) -> Vec<Item> {
    let mut items = Vec::new();
    let mut pieces: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    // `split` always yields one piece more than there are newlines: the tail.
    let tail = pieces.pop().unwrap_or_default();
    // The limit counts a line without the one `\r` framing drops.
    let body = |piece: &'_ [u8]| -> Vec<u8> { piece.strip_suffix(b"\r").unwrap_or(piece).to_vec() };
    for piece in pieces {
        let line = body(piece);
        if line.len() > MAX_LINE {
            items.push(Item::TooLong);
        } else {
            items.push(Item::Complete(line));
        }
    }
    if tail.is_empty() {
        items.push(Item::End);
    } else {
        // Cut off, the tail was too long if it was so even were its last
        // byte the `\r` of a line end still to come.
        if body(tail).len() > MAX_LINE {
            items.push(Item::TooLong);
        }
        items.push(Item::Eof);
    }
    items
}

/// An in-memory socket whose reads return pseudo-random amounts, sometimes
/// failing with `Interrupted` as a signal would.
struct Chunked<'a> {
    data: &'a [u8],
    state: u32,
}

impl Chunked<'_> {
    fn next(&mut self) -> u32 {
        // xorshift32: cheap, and fully determined by the seed byte.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        self.state
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let r = self.next();
        if r.is_multiple_of(16) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        // Mostly small reads, sometimes one bigger than a whole line.
        let want = if r.is_multiple_of(4) {
            (r as usize >> 4) % (2 * MAX_LINE + 2) + 1
        } else {
            (r as usize >> 4) % 16 + 1
        };
        let n = want.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn check_framing(stream: &[u8], seed: u8) {
    let expected = expected_items(stream);
    let reader = Chunked {
        data: stream,
        state: u32::from(seed).wrapping_mul(0x9E37_79B9) | 1,
    };
    let mut lines = LineReader::new(reader, MAX_LINE);
    let mut got = Vec::new();
    loop {
        match lines.read_line() {
            Ok(Some(Line::Complete(line))) => {
                assert!(line.len() <= MAX_LINE && !line.contains(&b'\n'));
                // What the server does next with each line.
                check_request(line);
                got.push(Item::Complete(line.to_vec()));
            }
            Ok(Some(Line::TooLong)) => got.push(Item::TooLong),
            Ok(None) => {
                got.push(Item::End);
                break;
            }
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
                got.push(Item::Eof);
                break;
            }
        }
        // Every item consumes at least one byte, so the loop must end.
        assert!(got.len() <= stream.len() + 1);
    }
    assert_eq!(got, expected);
}
