//! Property: any stream of valid updates interleaved with garbage, cut into
//! writes at arbitrary boundaries and sent to the real `server` on
//! 127.0.0.1, leaves exactly the valid updates in the store, and the server
//! answers every line, in order: `ack;<n>` for the n-th update of a key,
//! `err;<code>;...` for each garbage line, with the code the grammar in
//! docs/PROTOCOL.md gives it.
//!
//! Garbage mostly names the case's own keys, so a garbage line the server
//! wrongly took as an update would change a count the test checks. One
//! server serves every case; each case gets its own connection and keys
//! under a prefix no other case uses, and compares the whole `dump` before
//! and after, so a stray key anywhere fails the case.
//!
//! 64 cases by default (a few seconds); `PROPTEST_CASES=N` runs more. A
//! failure prints the smallest failing stream proptest could shrink to.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use mass_connect::wire::protocol::{MAX_KEY, MAX_LINE};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::*;

/// A valid `update;<key>;<count>` in one of the forms the grammar allows.
#[derive(Debug, Clone)]
struct Valid {
    /// Index into the case's keys.
    key: usize,
    /// Zeros before the count (`update;k;007`).
    zeros: usize,
    /// One `;` after the count, as the seed wrote its commands.
    semicolon: bool,
}

/// A line the server must refuse, and the code it must refuse it with.
#[derive(Debug, Clone)]
enum Garbage {
    /// Random bytes with at least one that is not printable ASCII.
    NotText {
        bytes: Vec<u8>,
        bad: u8,
        at: usize,
    },
    /// An update of a real key with non-ASCII bytes spliced in: invalid
    /// UTF-8, or valid UTF-8 outside ASCII.
    NonAscii {
        key: usize,
        bytes: Vec<u8>,
        at: usize,
    },
    /// More than `MAX_LINE` bytes before the newline.
    TooLong {
        bytes: Vec<u8>,
    },
    /// An update of a real key padded with spaces to exactly `MAX_LINE`:
    /// not too long (a `\r` after it does not count), but a bad count.
    PaddedToMax {
        key: usize,
    },
    /// An update of a real key padded to one byte over `MAX_LINE`.
    PaddedPastMax {
        key: usize,
    },
    /// An update of a real key with spaces where the grammar has none:
    /// before or after the line, or around a field. Nothing is trimmed.
    Spaced {
        key: usize,
        at: usize,
    },
    BadCount {
        key: usize,
        count: String,
    },
    BadKey {
        key: String,
    },
    WrongFields {
        key: usize,
        form: usize,
    },
    Unknown {
        word: String,
        key: Option<usize>,
    },
    /// Nothing at all.
    Empty,
}

#[derive(Debug, Clone)]
enum Item {
    Valid(Valid),
    Garbage(Garbage),
}

/// One generated case: its keys, its lines (each with `\r\n` or `\n`), and
/// the sizes its byte stream is written in, used in turn until it is sent.
#[derive(Debug, Clone)]
struct Case {
    keys: Vec<(String, bool)>,
    items: Vec<(Item, bool)>,
    writes: Vec<usize>,
}

/// Printable ASCII but the space and `;`: exactly the bytes a key may hold.
const KEY_CHARS: &str = "[!-:<-~]";

fn valid() -> impl Strategy<Value = Valid> {
    (0..4usize, 0..4usize, any::<bool>()).prop_map(|(key, zeros, semicolon)| Valid {
        key,
        zeros,
        semicolon,
    })
}

/// A byte that makes a line not text: not printable ASCII (TAB and DEL
/// included), and not `\r` or `\n`, which framing handles before the parser
/// sees the line.
fn not_text_byte() -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("printable or line end", |&b| {
        !(0x20..0x7f).contains(&b) && !matches!(b, b'\r' | b'\n')
    })
}

/// Random bytes as one line: a newline inside would end it early, and a
/// `\r` at its end would be taken for half of its line end.
fn no_line_end(mut bytes: Vec<u8>) -> Vec<u8> {
    for b in &mut bytes {
        if *b == b'\n' {
            *b = b' ';
        }
    }
    if let Some(last @ b'\r') = bytes.last_mut() {
        *last = b' ';
    }
    bytes
}

fn bad_count() -> impl Strategy<Value = String> {
    let re = |r: &str| proptest::string::string_regex(r).unwrap();
    prop_oneof![
        // The classic mistakes of a hand-written number parser, most often.
        3 => prop::sample::select(vec![
            "0",
            "00",
            "-1",
            "+1",
            "1.5",
            "1e3",
            "0x10",
            "18446744073709551616",
            "99999999999999999999",
        ])
        .prop_map(String::from),
        // Over 20 characters, even when the value would fit (leading zeros).
        1 => re("0{10,25}[0-9]{1,5}").prop_filter("20 characters or fewer", |s| s.len() > 20),
        1 => re("[-+][0-9]{1,5}"),
        // A non-digit inside, or a space anywhere: nothing is trimmed.
        1 => re("[0-9]{0,5}[a-zA-Z.+_-][0-9]{0,5}"),
        1 => re("[0-9]{0,5} [0-9]{0,5}"),
        1 => (u128::from(u64::MAX) + 1..=99_999_999_999_999_999_999u128)
            .prop_map(|n| n.to_string()),
    ]
}

fn bad_key() -> impl Strategy<Value = String> {
    let re = |r: &str| proptest::string::string_regex(r).unwrap();
    prop_oneof![
        Just(String::new()),
        re(&format!("{KEY_CHARS}{{0,10}} {KEY_CHARS}{{0,10}}")),
        re(&format!("{KEY_CHARS}{{{},{}}}", MAX_KEY + 1, MAX_KEY + 40)),
    ]
}

const COMMANDS: &[&str] = &["update", "ping", "stats", "dump", "config", "stop", "auth"];

fn garbage() -> impl Strategy<Value = Garbage> {
    let key = 0..4usize;
    prop_oneof![
        (vec(any::<u8>(), 0..200), not_text_byte(), any::<usize>()).prop_map(|(bytes, bad, at)| {
            Garbage::NotText {
                bytes: no_line_end(bytes),
                bad,
                at,
            }
        }),
        (
            key.clone(),
            prop::sample::select(vec![
                vec![0xff],
                vec![0xc3],
                vec![0xe2, 0x82],
                vec![0x80],
                "ключ".as_bytes().to_vec(),
            ]),
            any::<usize>()
        )
            .prop_map(|(key, bytes, at)| Garbage::NonAscii { key, bytes, at }),
        // One byte over the limit, or well over it.
        prop_oneof![Just(MAX_LINE + 1), MAX_LINE + 1..3 * MAX_LINE]
            .prop_flat_map(|len| vec(any::<u8>(), len))
            .prop_map(|bytes| Garbage::TooLong {
                bytes: no_line_end(bytes)
            }),
        key.clone().prop_map(|key| Garbage::PaddedToMax { key }),
        key.clone().prop_map(|key| Garbage::PaddedPastMax { key }),
        (key.clone(), 0..7usize).prop_map(|(key, at)| Garbage::Spaced { key, at }),
        (key.clone(), bad_count()).prop_map(|(key, count)| Garbage::BadCount { key, count }),
        bad_key().prop_map(|key| Garbage::BadKey { key }),
        (key.clone(), 0..9usize).prop_map(|(key, form)| Garbage::WrongFields { key, form }),
        (
            proptest::string::string_regex("[a-zA-Z_]{1,10}")
                .unwrap()
                .prop_filter("a real command", |w| !COMMANDS.contains(&w.as_str())),
            prop::option::of(key)
        )
            .prop_map(|(word, key)| Garbage::Unknown { word, key }),
        Just(Garbage::Empty),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let key = (
        proptest::string::string_regex(&format!("{KEY_CHARS}{{1,60}}")).unwrap(),
        // Sometimes pad the key to exactly MAX_KEY, the longest accepted.
        prop::bool::weighted(0.2),
    );
    let item = prop_oneof![
        valid().prop_map(Item::Valid),
        garbage().prop_map(Item::Garbage),
    ];
    (
        vec(key, 1..=4),
        vec((item, any::<bool>()), 1..60),
        vec(1..3000usize, 1..8),
    )
        .prop_map(|(keys, items, writes)| Case {
            keys,
            items,
            writes,
        })
}

/// Unique per run of a case (shrinking reruns too), so keys never collide
/// with what an earlier case left in the shared server.
static NEXT_CASE: AtomicU64 = AtomicU64::new(0);

/// The case's keys, made unique by a per-run prefix.
fn case_keys(keys: &[(String, bool)], prefix: &str) -> Vec<String> {
    keys.iter()
        .enumerate()
        .map(|(i, (suffix, to_max))| {
            let mut key = format!("{prefix}{i}.{suffix}");
            if *to_max {
                key.extend(std::iter::repeat_n('z', MAX_KEY.saturating_sub(key.len())));
            }
            key
        })
        .collect()
}

/// The bytes of a garbage line (without its line end) and the error code
/// its reply must carry.
fn render_garbage(g: &Garbage, keys: &[String]) -> (Vec<u8>, &'static str) {
    let key = |k: usize| keys[k % keys.len()].as_str();
    match g {
        Garbage::NotText { bytes, bad, at } => {
            let mut line = bytes.clone();
            line.insert(at % (line.len() + 1), *bad);
            (line, "not_text")
        }
        Garbage::NonAscii { key: k, bytes, at } => {
            let mut line = format!("update;{};1", key(*k)).into_bytes();
            let at = at % (line.len() + 1);
            line.splice(at..at, bytes.iter().copied());
            (line, "not_text")
        }
        Garbage::TooLong { bytes } => (bytes.clone(), "too_long"),
        Garbage::PaddedToMax { key: k } => {
            let body = format!("update;{};1", key(*k));
            let pad = " ".repeat(MAX_LINE - body.len());
            (format!("{body}{pad}").into_bytes(), "bad_count")
        }
        Garbage::Spaced { key: k, at } => {
            let k = key(*k);
            let (line, code) = match at {
                0 => (format!(" update;{k};1"), "unknown_command"),
                1 => (format!("update ;{k};1"), "unknown_command"),
                2 => (format!("update; {k};1"), "bad_key"),
                3 => (format!("update;{k} ;1"), "bad_key"),
                4 => (format!("update;{k}; 1"), "bad_count"),
                5 => (format!("update;{k};1 "), "bad_count"),
                _ => (format!("update;{k};1; "), "wrong_fields"),
            };
            (line.into_bytes(), code)
        }
        Garbage::PaddedPastMax { key: k } => {
            let body = format!("update;{};1", key(*k));
            let pad = " ".repeat(MAX_LINE + 1 - body.len());
            (format!("{pad}{body}").into_bytes(), "too_long")
        }
        Garbage::BadCount { key: k, count } => (
            format!("update;{};{count}", key(*k)).into_bytes(),
            "bad_count",
        ),
        Garbage::BadKey { key } => (format!("update;{key};1").into_bytes(), "bad_key"),
        Garbage::WrongFields { key: k, form } => {
            let k = key(*k);
            let line = match form {
                0 => format!("update;{k};1;2"),
                1 => format!("update;{k}"),
                2 => "update".to_string(),
                3 => format!("ping;{k}"),
                4 => format!("update;{k};1;;"),
                5 => "auth".to_string(),
                6 => format!("auth;{k};1"),
                7 => "stop;;".to_string(),
                _ => format!("dump;{k}"),
            };
            (line.into_bytes(), "wrong_fields")
        }
        Garbage::Unknown { word, key: k } => {
            let line = match k {
                Some(k) => format!("{word};{};1", key(*k)),
                None => word.clone(),
            };
            (line.into_bytes(), "unknown_command")
        }
        Garbage::Empty => (Vec::new(), "empty"),
    }
}

/// An update line for the `count`-th update of its key, in `v`'s form.
fn render_valid(v: &Valid, key: &str, count: u64) -> Vec<u8> {
    let zeros = "0".repeat(v.zeros);
    let semi = if v.semicolon { ";" } else { "" };
    format!("update;{key};{zeros}{count}{semi}").into_bytes()
}

/// Runs one case against the server; `Err` says what differed.
fn check(server: &TestServer, case: &Case) -> Result<(), TestCaseError> {
    let prefix = format!("p{}.", NEXT_CASE.fetch_add(1, Ordering::Relaxed));
    let keys = case_keys(&case.keys, &prefix);

    // Build the stream and, line by line, the reply each line must get.
    let mut stream = Vec::new();
    let mut expected_replies = Vec::new();
    let mut expected_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut garbage_lines = 0u64;
    for (item, crlf) in &case.items {
        let line = match item {
            Item::Valid(v) => {
                let key = &keys[v.key % keys.len()];
                let n = expected_counts.entry(key.clone()).or_default();
                *n += 1;
                expected_replies.push(format!("ack;{n}"));
                render_valid(v, key, *n)
            }
            Item::Garbage(g) => {
                let (line, code) = render_garbage(g, &keys);
                garbage_lines += 1;
                expected_replies.push(format!("err;{code};"));
                line
            }
        };
        stream.extend_from_slice(&line);
        stream.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
    }
    // The link still works after all of it.
    stream.extend_from_slice(b"ping\n");
    expected_replies.push("pong".to_string());

    let before = server_dump(server.addr);
    let stats_before = server_stats(server.addr);

    let mut peer = Peer::connect(server.addr);
    let mut writer = peer.stream.try_clone().expect("a second socket handle");
    // A server that stops reading fails the case instead of hanging it.
    writer
        .set_write_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("a write timeout");
    let sizes = case.writes.clone();
    // Written from another thread while this one reads the replies, so
    // neither side can stall on a full socket buffer.
    let (replies, sent) = std::thread::scope(|s| {
        let sender = s.spawn(move || -> std::io::Result<()> {
            let mut rest = stream.as_slice();
            for &size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                writer.write_all(chunk)?;
                writer.flush()?;
                rest = tail;
            }
            Ok(())
        });
        let replies: Vec<String> = expected_replies.iter().map(|_| peer.read_line()).collect();
        (replies, sender.join())
    });
    drop(peer);

    // Replies first: a server that closed the link early shows here as the
    // first missing reply, which says more than the broken pipe it causes.
    for (i, (got, want)) in replies.iter().zip(&expected_replies).enumerate() {
        let ok = if want.starts_with("err;") {
            got.starts_with(want.as_str())
        } else {
            got == want
        };
        prop_assert!(
            ok,
            "line {i}: expected {want:?}, got {got:?} (replies: {replies:?})"
        );
    }
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(TestCaseError::fail(format!("sending failed: {e}"))),
        Err(_) => return Err(TestCaseError::fail("the sending thread panicked")),
    }

    // Exactly the valid updates: this case's keys with their counts, every
    // other key untouched, nothing new besides.
    let after = server_dump(server.addr);
    let mine: BTreeMap<String, u64> = after
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    prop_assert_eq!(&mine, &expected_counts);
    let others: BTreeMap<String, u64> = after
        .into_iter()
        .filter(|(k, _)| !k.starts_with(&prefix))
        .collect();
    prop_assert_eq!(&others, &before);

    let stats_after = server_stats(server.addr);
    let delta = |name: &str| {
        stats_after[name].as_u64().unwrap_or(0) - stats_before[name].as_u64().unwrap_or(0)
    };
    prop_assert_eq!(delta("protocol_errors"), garbage_lines);
    // Counts were sent in order, so the server's count always matched.
    prop_assert_eq!(delta("anomalies"), 0);
    prop_assert_eq!(delta("updates"), expected_counts.values().sum::<u64>());
    Ok(())
}

#[test]
fn valid_updates_survive_any_garbage_in_any_write_pattern() {
    let (_dir, server) = server_with("");
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    let config = Config {
        cases,
        // Each shrink step talks to the server: keep a failure's report bounded.
        max_shrink_iters: 512,
        // No regression file in the source tree; a failure prints its input.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&case(), |case| check(&server, &case)) {
        panic!("{e}");
    }
}

// The same property against the workspace's other engines' servers (issue 15).
on_engines!(
    on_evloop: Engine::EVLOOP, on_tokio: Engine::TOKIO => [
        valid_updates_survive_any_garbage_in_any_write_pattern
    ]
);
