//! Who may reach an operations surface (a server's `stop` and `dump`,
//! startup's dashboard): the one rule both apply, and the token check.
//!
//! On a loopback address only this machine can connect, so no token is
//! needed to listen there. Anywhere else an `ops_token` must be configured,
//! or anyone who can reach the address could stop the run or read it.
//! Tokens are compared in constant time, so a wrong guess's reply time says
//! nothing about how much of it was right.

use std::net::SocketAddr;

/// Listening on an address outside loopback without an `ops_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exposed;

/// The token callers must present to a surface listening on `addr`:
/// `None` on loopback, the configured `ops_token` elsewhere.
///
/// # Errors
/// [`Exposed`]: `addr` is not loopback and `ops_token` is empty. Each caller
/// words the refusal for its own surface.
pub(crate) fn required_token(addr: SocketAddr, ops_token: &str) -> Result<Option<&str>, Exposed> {
    match (addr.ip().is_loopback(), ops_token.is_empty()) {
        (true, _) => Ok(None),
        (false, true) => Err(Exposed),
        (false, false) => Ok(Some(ops_token)),
    }
}

/// True when `given` is `token`, in time that depends only on the lengths.
pub(crate) fn token_matches(given: &[u8], token: &[u8]) -> bool {
    given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(token_matches(b"abc", b"abc"));
        assert!(!token_matches(b"abc", b"abd"));
        assert!(!token_matches(b"abc", b"abcd"));
        assert!(token_matches(b"", b""));
    }

    #[test]
    fn loopback_or_a_token() {
        let at = |a: &str| a.parse::<SocketAddr>().unwrap();
        assert_eq!(required_token(at("127.0.0.1:1"), ""), Ok(None));
        assert_eq!(required_token(at("[::1]:1"), "t"), Ok(None));
        assert_eq!(required_token(at("0.0.0.0:1"), ""), Err(Exposed));
        assert_eq!(required_token(at("10.0.0.1:1"), "t"), Ok(Some("t")));
    }
}
