//! How one key's JSON value is read and checked: the rules the key table in
//! `mod.rs` names beside each key (`Whole(1..=600_000)`, `Flag`, `IpList`).
//!
//! The table says *what* a key accepts; this file says *how*, once for
//! every key that shares a rule. Every refusal names the key, the value and
//! what is accepted, so the user fixes a config from the message alone.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde_json::Value;

use super::choices::{self, Choice};
use crate::error::{Error, Result};
use crate::wire::protocol::{MAX_LINE, MAX_TOKEN};

/// Reads a key's JSON value as a field of type `T`, or refuses it.
pub(super) trait Rule<T> {
    /// `v`, the value of `key`, as the field's value; the error names both.
    fn parse(&self, key: &str, v: &Value) -> Result<T>;
}

/// A whole number in the range (both ends included). The seed's Go config
/// wrote numbers; a quoted number (`"10"`) is a common slip worth taking.
pub(super) struct Whole(pub RangeInclusive<u64>);

impl Rule<u64> for Whole {
    fn parse(&self, key: &str, v: &Value) -> Result<u64> {
        let (min, max) = (*self.0.start(), *self.0.end());
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if self.0.contains(&n) => Ok(n),
            _ => Err(bad(key, v, &format!("a whole number from {min} to {max}"))),
        }
    }
}

impl Rule<u32> for Whole {
    fn parse(&self, key: &str, v: &Value) -> Result<u32> {
        let n: u64 = self.parse(key, v)?;
        // Every u32 key's range fits in a u32; a range that did not would
        // refuse the values above u32::MAX rather than wrap them.
        u32::try_from(n).map_err(|_| {
            let (min, max) = (self.0.start(), self.0.end());
            bad(key, v, &format!("a whole number from {min} to {max}"))
        })
    }
}

/// `true` or `false`, as JSON booleans or as those two strings.
pub(super) struct Flag;

impl Rule<bool> for Flag {
    fn parse(&self, key: &str, v: &Value) -> Result<bool> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            _ => Err(bad(key, v, "true or false")),
        }
    }
}

/// Any JSON string; the text says what is expected when the value is not one.
pub(super) struct Text(pub &'static str);

impl Rule<String> for Text {
    fn parse(&self, key: &str, v: &Value) -> Result<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(bad(key, v, self.0)),
        }
    }
}

impl Rule<PathBuf> for Text {
    fn parse(&self, key: &str, v: &Value) -> Result<PathBuf> {
        Rule::<String>::parse(self, key, v).map(PathBuf::from)
    }
}

/// The operations token (`ops_token`): empty for none, else text that
/// `auth;<token>` carries whole in one request line. A token the wire cannot
/// carry would lock every operator out of `dump` and `stop` with nothing but
/// `wrong token` to go on, so it is refused here, at load, with the rule it
/// breaks. The refusal never repeats the token: it is a secret.
pub(super) struct Token;

impl Token {
    /// What a token may be, for every refusal.
    fn accepted() -> String {
        format!(
            "a string of at most {MAX_TOKEN} printable ASCII characters (space to '~') \
             without ';', not starting or ending with a space, so that auth;<token> \
             fits one {MAX_LINE}-byte request line (empty for no token)"
        )
    }

    /// The first rule `token` breaks, or `None` when it may be used. Says
    /// where, never what: the token is a secret.
    fn problem(token: &str) -> Option<String> {
        if let Some(i) = token.bytes().position(|b| !b.is_ascii()) {
            return Some(format!("has a non-ASCII character at byte {i}"));
        }
        if let Some(i) = token.bytes().position(|b| b.is_ascii_control()) {
            return Some(format!(
                "has a control character (a TAB, a line end or another) at byte {i}"
            ));
        }
        if let Some(i) = token.find(';') {
            return Some(format!(
                "has a ';' at byte {i}, where the line would cut the token short"
            ));
        }
        if token.starts_with(' ') || token.ends_with(' ') {
            return Some("starts or ends with a space, which is too easily lost or added".into());
        }
        if token.len() > MAX_TOKEN {
            return Some(format!("is {} bytes long", token.len()));
        }
        None
    }
}

impl Rule<String> for Token {
    fn parse(&self, key: &str, v: &Value) -> Result<String> {
        let Value::String(token) = v else {
            return Err(bad(key, v, &Token::accepted()));
        };
        match Token::problem(token) {
            None => Ok(token.clone()),
            Some(why) => Err(Error::msg(format!(
                "key \"{key}\": the token {why}; expected {}",
                Token::accepted()
            ))),
        }
    }
}

/// One of a few words, kept as the word (`log_level`, which `log` reads).
pub(super) struct OneOf(pub &'static [&'static str]);

impl Rule<String> for OneOf {
    fn parse(&self, key: &str, v: &Value) -> Result<String> {
        match v {
            Value::String(s) if self.0.contains(&s.as_str()) => Ok(s.clone()),
            _ => Err(bad(key, v, &choices::one_of(self.0))),
        }
    }
}

/// One of a [`Choice`]'s names, read with its `FromStr` (`schedule`,
/// `cpu_affinity`).
pub(super) struct Named;

impl<T: Choice> Rule<T> for Named {
    fn parse(&self, key: &str, v: &Value) -> Result<T> {
        let refused = || bad(key, v, &choices::one_of(T::NAMES));
        match v {
            Value::String(s) => s.parse().map_err(|_| refused()),
            _ => Err(refused()),
        }
    }
}

/// A program's bare file name (`server`, `server.exe`): programs are found
/// next to startup, so a directory in the name is refused.
pub(super) struct ProgramName;

impl Rule<String> for ProgramName {
    fn parse(&self, key: &str, v: &Value) -> Result<String> {
        let text = Text("a program file name such as \"server\" or \"server.exe\"");
        let s: String = text.parse(key, v)?;
        if s.trim().is_empty() || s.contains(['/', '\\']) {
            return Err(bad(
                key,
                v,
                "a bare file name (no directory): programs are found next to startup",
            ));
        }
        Ok(s)
    }
}

/// Server addresses: no unspecified address (clients could not connect to
/// it) and none twice.
pub(super) struct IpList;

impl Rule<Vec<IpAddr>> for IpList {
    fn parse(&self, key: &str, v: &Value) -> Result<Vec<IpAddr>> {
        let accepted =
            "IP addresses separated by ';' (\"127.0.0.1;198.18.0.2\") or a JSON array of them";
        let mut ips = Vec::new();
        for item in items(key, v, accepted)? {
            let ip: IpAddr = item.parse().map_err(|_| {
                Error::msg(format!(
                    "key \"{key}\": \"{item}\" is not an IP address; expected {accepted}"
                ))
            })?;
            if ip.is_unspecified() {
                return Err(Error::msg(format!(
                    "key \"{key}\": \"{item}\" is not an address clients can connect to; \
                     list each server host's own address"
                )));
            }
            if ips.contains(&ip) {
                return Err(Error::msg(format!(
                    "key \"{key}\": \"{item}\" is listed twice"
                )));
            }
            ips.push(ip);
        }
        Ok(ips)
    }
}

/// Ports from 1 to 65535, none twice.
pub(super) struct PortList;

impl Rule<Vec<u16>> for PortList {
    fn parse(&self, key: &str, v: &Value) -> Result<Vec<u16>> {
        let accepted =
            "ports from 1 to 65535 separated by ';' (\"18677;18678\") or a JSON array of them";
        let mut ports = Vec::new();
        for item in items(key, v, accepted)? {
            let port = item
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    Error::msg(format!(
                        "key \"{key}\": \"{item}\" is not a port; expected {accepted}"
                    ))
                })?;
            if ports.contains(&port) {
                return Err(Error::msg(format!(
                    "key \"{key}\": port {port} is listed twice"
                )));
            }
            ports.push(port);
        }
        Ok(ports)
    }
}

/// The items of a list key: the seed's `"a;b;c"` string or a JSON array.
fn items(key: &str, v: &Value, accepted: &str) -> Result<Vec<String>> {
    let list: Vec<String> = match v {
        Value::String(s) => s
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Value::Array(a) => a
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.trim().to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(bad(key, item, accepted)),
            })
            .collect::<Result<_>>()?,
        Value::Number(n) => vec![n.to_string()],
        _ => return Err(bad(key, v, accepted)),
    };
    if list.is_empty() {
        return Err(bad(key, v, accepted));
    }
    Ok(list)
}

/// The refusal every rule ends in: key, value, and what is accepted.
fn bad(key: &str, v: &Value, accepted: &str) -> Error {
    Error::msg(format!(
        "key \"{key}\": {v} is not accepted; expected {accepted}"
    ))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::wire::protocol::MAX_TOKEN;

    /// The refusal of `"ops_token": token`, written as JSON.
    fn refusal(token: &str) -> String {
        let json = serde_json::json!({ "ops_token": token }).to_string();
        Config::from_json(&json).unwrap_err().to_string()
    }

    #[test]
    fn ops_token_is_what_auth_can_carry() {
        for good in [
            "",
            "s3cret",
            "two words",
            "!#$%&'()*+,-./:<=>?@[]^_`{|}~",
            &"t".repeat(MAX_TOKEN),
        ] {
            let json = serde_json::json!({ "ops_token": good }).to_string();
            let c = Config::from_json(&json).unwrap_or_else(|e| panic!("{good:?}: {e}"));
            assert_eq!(c.ops_token, good);
        }
    }

    #[test]
    fn ops_token_refusals_name_the_key_and_the_rule() {
        let cases = [
            ("a;b", "has a ';' at byte 1"),
            (";", "has a ';' at byte 0"),
            (" lead", "starts or ends with a space"),
            ("trail ", "starts or ends with a space"),
            ("\tlead", "control character"),
            ("trail\t", "control character"),
            (
                "in\tside",
                "control character (a TAB, a line end or another) at byte 2",
            ),
            ("new\nline", "control character"),
            ("nul\0", "control character"),
            ("del\u{7f}", "control character"),
            ("clé", "non-ASCII character at byte 2"),
            (&"t".repeat(MAX_TOKEN + 1), "is 1020 bytes long"),
        ];
        for (token, why) in cases {
            let e = refusal(token);
            assert!(e.contains("\"ops_token\""), "{token:?}: {e}");
            assert!(e.contains(why), "{token:?}: {e}");
            assert!(e.contains("at most 1019 printable ASCII characters"), "{e}");
            // The secret is never repeated.
            if token.len() > 1 {
                assert!(!e.contains(token), "{token:?}: {e}");
            }
        }
        let e = Config::from_json(r#"{"ops_token": 5}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"ops_token\": 5 is not accepted"), "{e}");
    }
}
