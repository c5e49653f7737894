//! The wire protocol: newline-framed text, fields separated by `;` as in the
//! seed (`update;<key>;<value>` / `ack;`), but with the server's own count in
//! the ack so a lost or doubled update shows up at once. See docs/PROTOCOL.md.
//!
//! Parsing borrows from the line buffer and encoding appends to a reused
//! `Vec<u8>`, so an update and its ack cost no allocation and no `format!`.
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

/// Longest request line a server accepts, in bytes (an update is at most ~90).
pub const MAX_LINE: usize = 1024;

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
        /// The token as sent.
        token: &'a str,
    },
}

/// Why a request line was refused. Each has a stable code for the `err;` reply.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum ParseError {
    /// The line was longer than [`MAX_LINE`].
    TooLong,
    /// The line is not UTF-8 or holds control bytes.
    NotText,
    /// The line is empty.
    Empty,
    /// The first field names no command.
    UnknownCommand,
    /// The command has the wrong number of fields.
    WrongFields,
    /// The key is empty, too long, or holds characters outside printable ASCII.
    BadKey,
    /// The count is not a whole number from 1 to 2^64-1.
    BadCount,
}

impl ParseError {
    /// The code sent in `err;<code>;...`.
    pub fn code(self) -> &'static str {
        match self {
            ParseError::TooLong => "too_long",
            ParseError::NotText => "not_text",
            ParseError::Empty => "empty",
            ParseError::UnknownCommand => "unknown_command",
            ParseError::WrongFields => "wrong_fields",
            ParseError::BadKey => "bad_key",
            ParseError::BadCount => "bad_count",
        }
    }

    /// The human part of the reply.
    pub fn detail(self) -> &'static str {
        match self {
            ParseError::TooLong => "line longer than 1024 bytes",
            ParseError::NotText => "line is not printable UTF-8 text",
            ParseError::Empty => "empty line",
            ParseError::UnknownCommand => {
                "unknown command; expected update, ping, stats, dump, config, auth or stop"
            }
            ParseError::WrongFields => {
                "wrong number of fields; an update is update;<ip:port>;<count>"
            }
            ParseError::BadKey => "key must be 1 to 96 printable ASCII characters without ';'",
            ParseError::BadCount => "count must be a whole number from 1 to 18446744073709551615",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

/// Parses one request line (without its newline).
pub fn parse_request(line: &[u8]) -> Result<Request<'_>, ParseError> {
    // Only printable ASCII and tabs can appear in a valid request, so one
    // pass both rejects control bytes and proves the line is UTF-8.
    if line
        .iter()
        .any(|&b| !(0x20..0x7f).contains(&b) && b != b'\t')
    {
        return Err(ParseError::NotText);
    }
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
    let text = text.trim_matches([' ', '\t']);
    // The seed ended its commands with ';' ("stop;"): accept one trailing ';'.
    let text = text.strip_suffix(';').unwrap_or(text);
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut fields = text.split(';');
    let command = fields.next().unwrap_or_default();
    let request = match command {
        "update" => {
            let (Some(key), Some(count), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(ParseError::WrongFields);
            };
            return Ok(Request::Update {
                key: parse_key(key)?,
                count: parse_count(count)?,
            });
        }
        "auth" => {
            let (Some(token), None) = (fields.next(), fields.next()) else {
                return Err(ParseError::WrongFields);
            };
            return Ok(Request::Auth { token });
        }
        "ping" => Request::Ping,
        "stats" => Request::Stats,
        "dump" => Request::Dump,
        "config" => Request::Config,
        "stop" => Request::Stop,
        _ => return Err(ParseError::UnknownCommand),
    };
    match fields.next() {
        None => Ok(request),
        Some(_) => Err(ParseError::WrongFields),
    }
}

fn parse_key(key: &str) -> Result<&str, ParseError> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY
        && key.bytes().all(|b| b.is_ascii_graphic() && b != b';');
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
pub enum Reply<'a> {
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
pub fn parse_reply(line: &[u8]) -> Option<Reply<'_>> {
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
pub fn encode_update(out: &mut Vec<u8>, key: &str, count: u64) {
    out.extend_from_slice(b"update;");
    out.extend_from_slice(key.as_bytes());
    out.push(b';');
    push_u64(out, count);
    out.push(b'\n');
}

/// Appends `ack;<count>\n`.
pub fn encode_ack(out: &mut Vec<u8>, count: u64) {
    out.extend_from_slice(b"ack;");
    push_u64(out, count);
    out.push(b'\n');
}

/// Appends `err;<code>;<detail>\n` (newlines in `detail` become spaces).
pub fn encode_err(out: &mut Vec<u8>, code: &str, detail: &str) {
    out.extend_from_slice(b"err;");
    out.extend_from_slice(code.as_bytes());
    out.push(b';');
    out.extend(detail.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
    out.push(b'\n');
}

/// Appends `ok;<json>\n`; serde_json never writes a raw newline.
pub fn encode_ok(out: &mut Vec<u8>, json: &str) {
    out.extend_from_slice(b"ok;");
    out.extend_from_slice(json.as_bytes());
    out.push(b'\n');
}

/// Appends a u64 in decimal, without the `fmt` machinery.
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
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
        assert_eq!(parse_request(b" dump "), Ok(Request::Dump));
        assert_eq!(parse_request(b"config"), Ok(Request::Config));
        assert_eq!(parse_request(b"stop;"), Ok(Request::Stop));
        assert_eq!(
            parse_request(b"auth;s3cret"),
            Ok(Request::Auth { token: "s3cret" })
        );
    }

    #[test]
    fn refuses_bad_lines_with_codes() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"", ParseError::Empty),
            (b";", ParseError::Empty),
            (b"hello", ParseError::UnknownCommand),
            (b"UPDATE;k;1", ParseError::UnknownCommand),
            (b"update;k", ParseError::WrongFields),
            (b"update;k;1;2", ParseError::WrongFields),
            (b"ping;extra", ParseError::WrongFields),
            (b"update;;1", ParseError::BadKey),
            (b"update;a b;1", ParseError::BadKey),
            (b"update;k;0", ParseError::BadCount),
            (b"update;k;-1", ParseError::BadCount),
            (b"update;k;+1", ParseError::BadCount),
            (b"update;k;1x", ParseError::BadCount),
            (b"update;k;18446744073709551616", ParseError::BadCount),
            (b"update;k;999999999999999999999999", ParseError::BadCount),
            (b"update;k\0;1", ParseError::NotText),
            (b"upd\x1bate", ParseError::NotText),
            (b"\xff\xfe", ParseError::NotText),
            ("update;ключ;1".as_bytes(), ParseError::NotText),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_request(line),
                Err(*want),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let long_key = format!("update;{};1", "k".repeat(MAX_KEY + 1));
        assert_eq!(parse_request(long_key.as_bytes()), Err(ParseError::BadKey));
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
