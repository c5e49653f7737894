//! `verify --reports`, the gathering half: reads every host's startup
//! report (its clients' keys and, on a server host, its servers' final
//! counts) and merges them with `verify::merge` into a [`ReportsVerdict`].
//! No server is asked: by the time the reports exist, they may be gone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::messages::{FinalDump, KeyCount};
use crate::verify::{self, HostPart, Merged};

/// The part of a startup report the merged verdict reads. Its own type
/// rather than `RunReport`, so that only these fields must be present and
/// a missing one is named.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct HostReport {
    /// The server host the report's startup ran as; none on a clients-only
    /// host.
    pub(crate) host: Option<String>,
    /// Every key this host's clients used.
    pub(crate) client_keys: Vec<KeyCount>,
    /// This host's servers' final counts.
    pub(crate) server_dumps: Vec<FinalDump>,
    /// Client processes.
    #[serde(default)]
    pub(crate) clients: u64,
    /// Server processes.
    #[serde(default)]
    pub(crate) servers: u64,
    /// How long the run lasted.
    #[serde(default)]
    pub(crate) duration_s: f64,
    /// Updates per second achieved.
    #[serde(default)]
    pub(crate) achieved_ops_per_s: f64,
    /// Updates per second aimed at.
    #[serde(default)]
    pub(crate) target_ops_per_s: f64,
    /// Updates acknowledged.
    #[serde(default)]
    pub(crate) acked: u64,
    /// Updates sent whose ack never came.
    #[serde(default)]
    pub(crate) unacked: u64,
    /// Failed connects, broken links and error replies.
    #[serde(default)]
    pub(crate) errors: u64,
    /// Links re-established.
    #[serde(default)]
    pub(crate) reconnects: u64,
    /// Unacked updates per server.
    #[serde(default)]
    pub(crate) unacked_by_server: BTreeMap<String, u64>,
    /// Children that died during the run; only their number is shown.
    #[serde(default)]
    pub(crate) children_died: Vec<Value>,
    /// Only `verify.ok` is read: the host's own verdict.
    #[serde(default)]
    pub(crate) verify: Value,
    /// How long startup waited for the links to leave before reading the
    /// final counts.
    #[serde(default)]
    pub(crate) drain_s: f64,
}

impl HostReport {
    /// The host's own verdict on its run.
    pub(crate) fn verified(&self) -> bool {
        self.verify["ok"] == true
    }

    /// `198.18.0.1` for a server host; `clients only (198.18.0.3)` otherwise,
    /// the address taken from its clients' keys.
    pub(crate) fn role(&self) -> String {
        match &self.host {
            Some(ip) => ip.clone(),
            None => {
                let ip = self
                    .client_keys
                    .first()
                    .and_then(|k| k.key.rsplit_once(':'))
                    .map_or("", |(ip, _)| ip);
                format!("clients only ({ip})")
            }
        }
    }
}

/// Every report, named by its file, and what merging them found.
#[derive(Debug, Clone)]
pub(crate) struct ReportsVerdict {
    /// Each report as given on the command line, with its file name.
    pub(crate) hosts: Vec<(String, HostReport)>,
    /// The merged verdict.
    pub(crate) merged: Merged,
}

/// Reads the reports at `paths` and merges them. `expected` lists servers
/// that must have final counts (the config's, when one was given).
///
/// # Errors
/// No report given; a report cannot be read or is not a startup report; the
/// same report is given twice; two reports carry final counts for one
/// server.
pub(crate) fn read(paths: &[PathBuf], expected: &[String]) -> Result<ReportsVerdict> {
    if paths.is_empty() {
        return Err(Error::msg(
            "verify needs the reports of every host: omclient verify --reports a.json b.json ...",
        ));
    }
    // Every file is read before any is parsed, so that a report given
    // twice is named as such rather than merged twice.
    let mut texts: Vec<(String, String)> = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::msg(format!("cannot read report {name}: {e}")))?;
        if let Some((first, _)) = texts.iter().find(|(_, t)| *t == text) {
            return Err(Error::msg(format!(
                "{name} is the same report as {first}: give each host's report once"
            )));
        }
        texts.push((name, text));
    }
    let mut hosts = Vec::new();
    for (name, text) in texts {
        let report: HostReport = serde_json::from_str(&text).map_err(|e| {
            let hint = if e.to_string().contains("missing field") {
                " (reports written before multi-host support lack client_keys and \
                 server_dumps: run startup again with this version)"
            } else {
                ""
            };
            Error::msg(format!(
                "report {name} is not a startup report omclient can merge: {e}{hint}"
            ))
        })?;
        hosts.push((name, report));
    }
    let parts: Vec<HostPart<'_>> = hosts
        .iter()
        .map(|(name, r)| HostPart {
            name,
            keys: &r.client_keys,
            dumps: &r.server_dumps,
        })
        .collect();
    let merged = verify::merge(&parts, expected)?;
    Ok(ReportsVerdict { hosts, merged })
}
