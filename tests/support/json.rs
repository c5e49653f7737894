//! Reports and replies, parsed.

use std::path::Path;

use serde_json::Value;

/// A JSON file (a report), parsed.
pub fn read_json(path: impl AsRef<Path>) -> Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A program's JSON output, parsed.
pub fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}: {text:?}"))
}

/// The JSON of an `ok;{...}` reply (`stats`, `dump`).
pub fn ok_json(reply: &str) -> Value {
    parse_json(
        reply
            .strip_prefix("ok;")
            .unwrap_or_else(|| panic!("not an ok reply: {reply:?}")),
    )
}
