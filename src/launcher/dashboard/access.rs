//! Who may read the dashboard: the servers' rule for the operations
//! token (`crate::access`), applied to HTTP.
//!
//! On a loopback address anyone on this machine may read it (they could
//! run `omclient stats` as well), but only through a loopback or
//! `localhost` name in the `Host` header: a web page elsewhere that points
//! a host name of its own at 127.0.0.1 (DNS rebinding) gets 403, not the
//! run. On any other address startup refuses to serve without an
//! `ops_token`, and every request must carry it, as `Authorization: Bearer
//! <token>` or `?token=<token>`. Nothing the dashboard serves changes the
//! run: there is no stop button to protect.

use std::net::{IpAddr, SocketAddr};

use crate::access::{required_token, token_matches};
use crate::error::{Error, Result};

/// The rule for one listening address.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// The token every request must carry; `None` on loopback.
    token: Option<String>,
}

/// Why a request is refused: an HTTP status and a line for the body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// 401 (no or wrong token) or 403 (a foreign `Host`).
    pub(crate) status: u16,
    /// What to do about it.
    pub(crate) why: &'static str,
}

impl Access {
    /// The rule for serving `what` (`the dashboard`, `metrics`) on `addr`
    /// with the config's `ops_token`.
    ///
    /// # Errors
    /// `addr` is not loopback and `ops_token` is empty: the run's figures
    /// would be open to anyone who can reach the address.
    pub(crate) fn for_addr(addr: SocketAddr, ops_token: &str, what: &str) -> Result<Access> {
        let token = required_token(addr, ops_token).map_err(|_| {
            Error::msg(format!(
                "refusing to serve {what} on {addr}: outside loopback it would be open to \
                 anyone who can reach it. Set \"ops_token\" in the config (every request then \
                 needs it), or serve it on 127.0.0.1 and reach it through an SSH tunnel \
                 (docs/DASHBOARD.md: \"The dashboard\")"
            ))
        })?;
        Ok(Access {
            token: token.map(str::to_string),
        })
    }

    /// True when requests need the token.
    pub(crate) fn needs_token(&self) -> bool {
        self.token.is_some()
    }

    /// Checks one request: its `Host` header, its `Authorization` header
    /// and its query string (`url` is the path with the query).
    pub(crate) fn check(
        &self,
        host: Option<&str>,
        authorization: Option<&str>,
        url: &str,
    ) -> std::result::Result<(), Refusal> {
        let Some(token) = &self.token else {
            return match host {
                Some(host) if !is_local_name(host) => Err(Refusal {
                    status: 403,
                    why: "this dashboard answers only to a loopback address or localhost",
                }),
                _ => Ok(()),
            };
        };
        let bearer = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim);
        let given = bearer.map(str::to_string).or_else(|| query(url, "token"));
        match given {
            Some(given) if token_matches(given.as_bytes(), token.as_bytes()) => Ok(()),
            Some(_) => Err(Refusal {
                status: 401,
                why: "wrong token",
            }),
            None => Err(Refusal {
                status: 401,
                why: "this dashboard needs the ops_token: add ?token=<ops_token> to the address, \
                      or send Authorization: Bearer <ops_token>",
            }),
        }
    }
}

/// True for a `Host` header naming loopback: `localhost`, `127.x.y.z`,
/// `[::1]`, each with or without a port.
fn is_local_name(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]:8080` or `127.0.0.1:8080`; a bare `::1` is not valid here.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The value of `name` in `url`'s query string, percent-decoded.
pub(crate) fn query(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

/// `%41` is `A`, `+` is a space; a broken escape stays as it is.
fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn loopback_needs_no_token_but_a_local_host_name() {
        let a = Access::for_addr(addr("127.0.0.1:0"), "", "the dashboard").unwrap();
        assert!(!a.needs_token());
        for host in [
            "127.0.0.1:28080",
            "localhost:28080",
            "LOCALHOST",
            "[::1]:1",
            "127.3.2.1",
        ] {
            assert_eq!(a.check(Some(host), None, "/"), Ok(()), "{host}");
        }
        assert_eq!(a.check(None, None, "/"), Ok(()));
        let refused = a
            .check(Some("rebind.example:28080"), None, "/")
            .unwrap_err();
        assert_eq!(refused.status, 403);
        assert_eq!(
            a.check(Some("10.0.0.1"), None, "/").unwrap_err().status,
            403
        );
    }

    #[test]
    fn elsewhere_the_token_is_required_and_checked() {
        let e = Access::for_addr(addr("0.0.0.0:28080"), "", "metrics").unwrap_err();
        assert!(e.to_string().contains("ops_token"), "{e}");
        assert!(e.to_string().contains("serve metrics on"), "{e}");
        let a = Access::for_addr(addr("0.0.0.0:28080"), "s3 cret", "the dashboard").unwrap();
        assert!(a.needs_token());
        let host = Some("203.0.113.9:28080");
        assert_eq!(a.check(host, None, "/").unwrap_err().status, 401);
        assert_eq!(
            a.check(host, Some("Bearer nope"), "/").unwrap_err().status,
            401
        );
        assert_eq!(a.check(host, None, "/?token=s3").unwrap_err().status, 401);
        assert_eq!(a.check(host, Some("Bearer s3 cret"), "/api/run"), Ok(()));
        assert_eq!(
            a.check(host, None, "/api/run?after=3&token=s3%20cret"),
            Ok(())
        );
        assert_eq!(a.check(host, None, "/?token=s3+cret"), Ok(()));
    }

    #[test]
    fn query_values_are_found_and_decoded() {
        assert_eq!(query("/api/run?after=12", "after").as_deref(), Some("12"));
        assert_eq!(query("/api/run", "after"), None);
        assert_eq!(query("/?a=1&b=%41%zz%", "b").as_deref(), Some("A%zz%"));
    }
}
