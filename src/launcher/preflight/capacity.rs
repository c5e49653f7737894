//! The pre-flight's word on the rate: a run that asks more updates per
//! second than this machine held when the capacity search measured it
//! (`launcher::capacity`) will be SATURATED, and the user hears it before
//! the run, not after. Only a cached capacity that matches this machine,
//! build and layout counts; without one nothing is said.

use std::net::SocketAddr;

use crate::config::Config;
use crate::launcher::capacity::{self, Capacity, Lookup};

/// Says on stderr (and in the log) when the config asks more than this
/// host's cached capacity for its layout.
pub(crate) fn check_capacity(config: &Config, local: &[SocketAddr]) {
    if local.is_empty() || config.client_num_per_host == 0 {
        return;
    }
    let Lookup::Reuse(known) = capacity::cached(config) else {
        return;
    };
    let asks = capacity::LinkLayout::of(config).links as f64 * config.per_link_rate();
    if let Some(line) = above(asks, &known) {
        log::warn!("{line}");
        eprintln!("startup: warning: {line}");
    }
}

/// The line for a run asking `asks` updates/s against `known`, if that is
/// above it.
pub(crate) fn above(asks: f64, known: &Capacity) -> Option<String> {
    (asks > known.capacity_per_s && known.capacity_per_s > 0.0).then(|| {
        format!(
            "this config asks {} updates/s; this machine held about {} with {} links \
             (measured {}, capacity cache): expect SATURATED (`startup --load 70%` runs at \
             a share of what it holds)",
            capacity::grouped(asks),
            capacity::about(known.capacity_per_s),
            known.layout,
            known.measured_utc.get(..10).unwrap_or(&known.measured_utc),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::capacity::tests::capacity_of;

    #[test]
    fn a_target_above_the_capacity_is_said_with_both_numbers() {
        let known = capacity_of(41_234.0);
        let line = above(100_000.0, &known).unwrap();
        assert_eq!(
            line,
            "this config asks 100,000 updates/s; this machine held about 41,200 with 100 x 10 \
             links (measured 2026-12-07, capacity cache): expect SATURATED (`startup --load \
             70%` runs at a share of what it holds)"
        );
        assert_eq!(above(41_000.0, &known), None);
        assert_eq!(above(10.0, &capacity_of(0.0)), None);
    }
}
