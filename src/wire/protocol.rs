//! The wire protocol: newline-framed text, fields separated by `;` as in the
//! seed (`update;<key>;<value>` / `ack;`), but with the server's own count in
//! the ack so a lost or doubled update shows up at once. See docs/PROTOCOL.md.
//!
//! Parsing borrows from the line buffer and encoding appends to a reused
//! `Vec<u8>`, so an update and its ack cost no allocation and no `format!`.
//!
//! A request is printable ASCII cut into fields at each `;`, byte for byte
//! (nothing is trimmed), and may end in one `;` after its last field
//! (`stop;`, the seed's style); docs/PROTOCOL.md has the whole rule.
//!
//! ```text
//! update;127.0.0.1:50312;41   ->  ack;41
//! ping                        ->  pong
//! stats | dump | config       ->  ok;<one line of JSON>
//! auth;<token>                ->  ok;{"auth":true}
//! stop                        ->  bye
//! anything else               ->  err;<code>;<what was wrong>
//! ```

use std::fmt;

/// Longest request line a server accepts, in bytes, not counting its line
/// end (`\n` or `\r\n`). An update is at most 125.
pub const MAX_LINE: usize = 1024;

/// Longest operations token `auth;<token>` can carry in one line: what
/// `ops_token` is held to when the config is loaded.
pub(crate) const MAX_TOKEN: usize = MAX_LINE - "auth;".len();

/// Longest key accepted: `[ffff:...:ffff%scope]:65535` fits with room.
pub const MAX_KEY: usize = 96;

/// A request, borrowing its text from the line it was parsed from.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Apply one update: `key` is the client link's `IP:PORT`, `count` the
    /// client's own count for that key including this update.
    Update {
        /// The client link's local `IP:PORT`.
        key: &'a str,
        /// The client's count for this key, this update included.
        count: u64,
    },
    /// Liveness check.
    Ping,
    /// The server's counters as JSON.
    Stats,
    /// Every key and count, sorted, as JSON (needs the token if one is set).
    Dump,
    /// The server's effective configuration as JSON (never the token).
    Config,
    /// Stop the server (needs the token if one is set).
    Stop,
    /// Present the operations token for the rest of this connection.
    Auth {
        /// The token as sent, byte for byte; empty for `auth;` (a wrong token
        /// whenever one is set).
        token: &'a str,
    },
}

/// Why a request line was refused. Each has a stable code for the `err;` reply.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum ParseError {
    /// The line was longer than [`MAX_LINE`].
    TooLong,
    /// The line holds a byte outside printable ASCII: TAB or another
    /// control byte, DEL, or any byte of non-ASCII text.
    NotText,
    /// The line is empty.
    Empty,
    /// The first field names no command.
    UnknownCommand,
    /// The command has the wrong number of fields; the text is the detail
    /// sent back, which gives that command's own shape.
    WrongFields(&'static str),
    /// The key is empty, too long, or holds a space.
    BadKey,
    /// The count is not a whole number from 1 to 2^64-1.
    BadCount,
}

impl ParseError {
    /// The code sent in `err;<code>;...`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            ParseError::TooLong => "too_long",
            ParseError::NotText => "not_text",
            ParseError::Empty => "empty",
            ParseError::UnknownCommand => "unknown_command",
            ParseError::WrongFields(_) => "wrong_fields",
            ParseError::BadKey => "bad_key",
            ParseError::BadCount => "bad_count",
        }
    }

    /// The human part of the reply.
    pub(crate) fn detail(self) -> &'static str {
        match self {
            ParseError::TooLong => "line longer than 1024 bytes before its line end",
            ParseError::NotText => {
                "line must be printable ASCII: no TAB or other control character, no non-ASCII"
            }
            ParseError::Empty => "empty line",
            ParseError::UnknownCommand => {
                "unknown command; expected update, ping, stats, dump, config, auth or stop"
            }
            ParseError::WrongFields(shape) => shape,
            ParseError::BadKey => "key must be 1 to 96 printable ASCII characters, no space",
            ParseError::BadCount => "count must be a whole number from 1 to 18446744073709551615",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

/// Parses one request line (as framing gives it: without its `\n` and the
/// one `\r` before it). The grammar is in the module doc.
pub(crate) fn parse_request(line: &[u8]) -> Result<Request<'_>, ParseError> {
    // Only printable ASCII can appear in a request, so one pass both refuses
    // every control byte (TAB and DEL included) and proves the line is UTF-8.
    if !line.iter().all(|&b| (b' '..=b'~').contains(&b)) {
        return Err(ParseError::NotText);
    }
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut fields = text.split(';');
    let command = fields.next().unwrap_or_default();
    match command {
        "update" => match (fields.next(), fields.next()) {
            (Some(key), Some(count)) if at_end(&mut fields) => Ok(Request::Update {
                key: parse_key(key)?,
                count: parse_count(count)?,
            }),
            _ => Err(ParseError::WrongFields(
                "update takes two fields: update;<key>;<count>",
            )),
        },
        // `auth;` is a token, the empty one; only a bare `auth` lacks one.
        "auth" => match fields.next() {
            Some(token) if at_end(&mut fields) => Ok(Request::Auth { token }),
            _ => Err(ParseError::WrongFields(
                "auth takes one field: auth;<token>",
            )),
        },
        _ => {
            let (request, shape) = match command {
                "ping" => (Request::Ping, "ping takes no fields"),
                "stats" => (Request::Stats, "stats takes no fields"),
                "dump" => (Request::Dump, "dump takes no fields"),
                "config" => (Request::Config, "config takes no fields"),
                "stop" => (Request::Stop, "stop takes no fields"),
                _ => return Err(ParseError::UnknownCommand),
            };
            if at_end(&mut fields) {
                Ok(request)
            } else {
                Err(ParseError::WrongFields(shape))
            }
        }
    }
}

/// True when no field is left, or only the empty one a trailing `;` makes
/// (`stop;`, `update;k;1;`): the seed ended its commands with `;`.
fn at_end(fields: &mut std::str::Split<'_, char>) -> bool {
    matches!((fields.next(), fields.next()), (None, _) | (Some(""), None))
}

fn parse_key(key: &str) -> Result<&str, ParseError> {
    // The line is printable ASCII and split at every `;`, so a space is the
    // one byte left for a key to refuse.
    let ok = !key.is_empty() && key.len() <= MAX_KEY && !key.as_bytes().contains(&b' ');
    if ok { Ok(key) } else { Err(ParseError::BadKey) }
}

/// Parses a decimal count without `str::parse`'s acceptance of a leading `+`.
fn parse_count(s: &str) -> Result<u64, ParseError> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadCount);
    }
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ParseError::BadCount),
    }
}

/// A server's reply, as a client reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply<'a> {
    /// The update was applied; the server's count for the key is now this.
    Ack(u64),
    /// Answer to `ping`.
    Pong,
    /// Answer to `stats`, `dump`, `config`, `auth`: one line of JSON.
    Ok(&'a str),
    /// Answer to `stop`: the server is stopping.
    Bye,
    /// The request was refused.
    Err {
        /// A stable code such as `bad_count`.
        code: &'a str,
        /// What was wrong, for people.
        detail: &'a str,
    },
}

/// Parses one reply line. `None` when the line is not a reply at all.
pub(crate) fn parse_reply(line: &[u8]) -> Option<Reply<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    if let Some(n) = text.strip_prefix("ack;") {
        return parse_count(n).ok().map(Reply::Ack);
    }
    if let Some(json) = text.strip_prefix("ok;") {
        return Some(Reply::Ok(json));
    }
    if let Some(rest) = text.strip_prefix("err;") {
        let (code, detail) = rest.split_once(';').unwrap_or((rest, ""));
        return Some(Reply::Err { code, detail });
    }
    match text {
        "pong" => Some(Reply::Pong),
        "bye" => Some(Reply::Bye),
        _ => None,
    }
}

/// Appends `update;<key>;<count>\n`.
pub(crate) fn encode_update(out: &mut Vec<u8>, key: &str, count: u64) {
    out.extend_from_slice(b"update;");
    out.extend_from_slice(key.as_bytes());
    out.push(b';');
    push_u64(out, count);
    out.push(b'\n');
}

/// Appends `ack;<count>\n`.
pub(crate) fn encode_ack(out: &mut Vec<u8>, count: u64) {
    out.extend_from_slice(b"ack;");
    push_u64(out, count);
    out.push(b'\n');
}

/// Appends `err;<code>;<detail>\n` (newlines in `detail` become spaces).
pub(crate) fn encode_err(out: &mut Vec<u8>, code: &str, detail: &str) {
    out.extend_from_slice(b"err;");
    out.extend_from_slice(code.as_bytes());
    out.push(b';');
    out.extend(detail.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
    out.push(b'\n');
}

/// Appends `ok;<json>\n`; serde_json never writes a raw newline.
pub(crate) fn encode_ok(out: &mut Vec<u8>, json: &str) {
    out.extend_from_slice(b"ok;");
    out.extend_from_slice(json.as_bytes());
    out.push(b'\n');
}

/// Appends a u64 in decimal, without the `fmt` machinery.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        assert_eq!(
            parse_request(b"update;127.0.0.1:5000;7"),
            Ok(Request::Update {
                key: "127.0.0.1:5000",
                count: 7
            })
        );
        assert_eq!(
            parse_request(b"update;[::1]:5000;18446744073709551615"),
            Ok(Request::Update {
                key: "[::1]:5000",
                count: u64::MAX
            })
        );
        assert_eq!(parse_request(b"ping"), Ok(Request::Ping));
        assert_eq!(parse_request(b"stats"), Ok(Request::Stats));
        assert_eq!(parse_request(b"dump"), Ok(Request::Dump));
        assert_eq!(parse_request(b"config"), Ok(Request::Config));
        assert_eq!(
            parse_request(b"auth;s3cret"),
            Ok(Request::Auth { token: "s3cret" })
        );
        // A space inside a token is a byte of it like any other.
        assert_eq!(
            parse_request(b"auth;two words"),
            Ok(Request::Auth { token: "two words" })
        );
    }

    #[test]
    fn one_trailing_semicolon_is_accepted() {
        assert_eq!(parse_request(b"stop;"), Ok(Request::Stop));
        assert_eq!(
            parse_request(b"update;k;1;"),
            Ok(Request::Update { key: "k", count: 1 })
        );
        assert_eq!(
            parse_request(b"auth;s3cret;"),
            Ok(Request::Auth { token: "s3cret" })
        );
        // `auth;` presents the empty token (refused by the server); it is
        // not a bare `auth` with a trailing `;`.
        assert_eq!(parse_request(b"auth;"), Ok(Request::Auth { token: "" }));
        assert_eq!(parse_request(b"auth;;"), Ok(Request::Auth { token: "" }));
        assert_eq!(
            parse_request(b"stop;;"),
            Err(ParseError::WrongFields("stop takes no fields"))
        );
    }

    #[test]
    fn a_control_byte_anywhere_is_not_text() {
        // Checked before the fields, so a TAB in a key or a count is
        // `not_text`, never `bad_key` or `bad_count`.
        for bad in (0u8..0x20).chain([0x7f]) {
            for line in [
                [b"update;k".as_slice(), &[bad], b";1"].concat(),
                [b"update;k;1".as_slice(), &[bad]].concat(),
                [&[bad], b"ping".as_slice()].concat(),
                vec![bad],
            ] {
                assert_eq!(parse_request(&line), Err(ParseError::NotText), "{line:?}");
            }
        }
    }

    #[test]
    fn refuses_bad_lines_with_codes() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"", ParseError::Empty),
            (b";", ParseError::UnknownCommand),
            (b"hello", ParseError::UnknownCommand),
            (b"UPDATE;k;1", ParseError::UnknownCommand),
            (b"update;;1", ParseError::BadKey),
            (b"update;k;", ParseError::BadCount),
            (b"update;k;0", ParseError::BadCount),
            (b"update;k;-1", ParseError::BadCount),
            (b"update;k;+1", ParseError::BadCount),
            (b"update;k;1x", ParseError::BadCount),
            (b"update;k;18446744073709551616", ParseError::BadCount),
            (b"update;k;999999999999999999999999", ParseError::BadCount),
            (b"\xff\xfe", ParseError::NotText),
            ("update;ключ;1".as_bytes(), ParseError::NotText),
        ];
        for (line, want) in cases {
            let shown = String::from_utf8_lossy(line);
            assert_eq!(parse_request(line), Err(*want), "{shown}");
        }
        let long_key = format!("update;{};1", "k".repeat(MAX_KEY + 1));
        assert_eq!(parse_request(long_key.as_bytes()), Err(ParseError::BadKey));
        let max_key = format!("update;{};1", "k".repeat(MAX_KEY));
        assert!(parse_request(max_key.as_bytes()).is_ok());
    }

    #[test]
    fn the_longest_token_fills_the_longest_line() {
        let line = format!("auth;{}", "t".repeat(MAX_TOKEN));
        assert_eq!(line.len(), MAX_LINE);
        assert!(matches!(
            parse_request(line.as_bytes()),
            Ok(Request::Auth { token }) if token.len() == MAX_TOKEN
        ));
    }

    #[test]
    fn encodes_and_reparses() {
        let mut buf = Vec::new();
        encode_update(&mut buf, "127.0.0.1:1", 0);
        encode_update(&mut buf, "127.0.0.1:1", 1234567890);
        assert_eq!(
            buf,
            b"update;127.0.0.1:1;0\nupdate;127.0.0.1:1;1234567890\n"
        );
        buf.clear();
        encode_ack(&mut buf, u64::MAX);
        assert_eq!(buf, b"ack;18446744073709551615\n");
        assert_eq!(
            parse_reply(&buf[..buf.len() - 1]),
            Some(Reply::Ack(u64::MAX))
        );
        buf.clear();
        encode_err(&mut buf, "bad_count", "two\nlines");
        assert_eq!(buf, b"err;bad_count;two lines\n");
        assert_eq!(
            parse_reply(b"err;bad_count;two lines"),
            Some(Reply::Err {
                code: "bad_count",
                detail: "two lines"
            })
        );
        assert_eq!(parse_reply(b"ok;{}"), Some(Reply::Ok("{}")));
        assert_eq!(parse_reply(b"pong"), Some(Reply::Pong));
        assert_eq!(parse_reply(b"bye"), Some(Reply::Bye));
        assert_eq!(parse_reply(b"ack;x"), None);
        assert_eq!(parse_reply(b"what"), None);
    }

    #[test]
    fn push_u64_matches_display() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX / 3, u64::MAX] {
            let mut buf = Vec::new();
            push_u64(&mut buf, n);
            assert_eq!(buf, n.to_string().as_bytes());
        }
    }
}
