//! `omclient resolve NAME...`: each name's IPv4 address, as the programs
//! themselves would resolve it (the C library's resolver: /etc/hosts, then
//! DNS with resolv.conf's search domains).
//!
//! It exists for the Kubernetes pods' init script (deploy/k8s/configmap.yaml,
//! resolve.sh), which turns the server pods' names into the addresses
//! `server_ip_list` wants. The image is `FROM scratch` (deploy/k8s/Containerfile):
//! no `getent`, and busybox's `nslookup` asks DNS only, skipping /etc/hosts.
//! The static (musl) omclient carries a resolver that reads both.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};

use super::Outcome;
use crate::error::{Error, Result};

/// Resolves every name; the outcome prints `ADDRESS NAME` per name that
/// has an IPv4 address (the layout of `getent hosts`), and is not `all_up`
/// when one has none.
///
/// # Errors
/// No name given.
pub(crate) fn resolve(names: &[String]) -> Result<Outcome> {
    if names.is_empty() {
        return Err(Error::msg(
            "resolve needs at least one name: omclient resolve NAME...",
        ));
    }
    let found: Vec<(&str, std::result::Result<Ipv4Addr, String>)> = names
        .iter()
        .map(|name| (name.as_str(), first_ipv4(name)))
        .collect();
    Ok(render(&found))
}

/// The first IPv4 address of `name`, in the resolver's order.
fn first_ipv4(name: &str) -> std::result::Result<Ipv4Addr, String> {
    let addrs = (name, 0).to_socket_addrs().map_err(|e| e.to_string())?;
    addrs
        .filter_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| "no IPv4 address".to_string())
}

/// One line per name: `ADDRESS NAME`, or `NAME: cannot resolve (why)`.
fn render(found: &[(&str, std::result::Result<Ipv4Addr, String>)]) -> Outcome {
    let lines: Vec<String> = found
        .iter()
        .map(|(name, ip)| match ip {
            Ok(ip) => format!("{ip} {name}"),
            Err(why) => format!("{name}: cannot resolve ({why})"),
        })
        .collect();
    Outcome {
        text: lines.join("\n"),
        all_up: found.iter().all(|(_, ip)| ip.is_ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_resolves_to_itself_and_a_failure_says_which_name() {
        // Literals only: no lookup leaves the machine.
        let out = resolve(&["127.0.0.7".to_string()]).unwrap();
        assert_eq!(out.text, "127.0.0.7 127.0.0.7");
        assert!(out.all_up);
        let out = render(&[
            ("a", Ok(Ipv4Addr::new(198, 18, 0, 1))),
            ("b", Err("no IPv4 address".into())),
        ]);
        assert_eq!(
            out.text,
            "198.18.0.1 a\nb: cannot resolve (no IPv4 address)"
        );
        assert!(!out.all_up);
        assert!(resolve(&[]).is_err());
    }
}
