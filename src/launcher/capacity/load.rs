//! `startup --load 70%`: a run sized to the machine. The capacity comes
//! from the cache when it was measured on this machine, build and layout;
//! otherwise the cache says which field differs and the search measures
//! it again. The run then goes at the share asked, as a fixed rate whose
//! interval is rounded up to whole milliseconds (so it stays at or below
//! the share), on a config file of its own that differs from the user's
//! in `update_intervals` alone.

use std::sync::Arc;

use super::cache::{self, Lookup, MeasuredOn};
use super::search::{interval_for_share, rate};
use super::{Budget, Capacity, LinkLayout, about, config_json, grouped, measure, remember, text};
use crate::cli;
use crate::config::{Config, Schedule};
use crate::error::{Error, Result};
use crate::launcher::config_source::ConfigFile;
use crate::launcher::monitor;
use crate::launcher::startup::{self, Options};

/// A run sized by `--load`: its options, on a config file of its own
/// (kept while the run lasts).
pub(crate) struct LoadRun {
    /// The run's options: the user's, at the share's interval.
    pub(crate) options: Options,
    /// The config file the run and its children read.
    pub(crate) _file: ConfigFile,
}

/// `--load SHARE`: the capacity (the cache's, when it matches this
/// machine, else measured and cached), then the user's run at `share` of
/// it, as a fixed rate at whole milliseconds.
///
/// # Errors
/// The config runs another schedule than fixed rate; no rate held; the
/// search failed to start.
pub(crate) fn sized(base: &Options, share: f64, budget: Budget) -> Result<LoadRun> {
    let config = &*base.watch.config;
    if config.schedule != Schedule::FixedRate {
        return Err(Error::msg(format!(
            "--load sizes a fixed-rate run, and this config's schedule is {}; set \"schedule\": \
             \"fixed-rate\" or leave --load out",
            config.schedule.name()
        )));
    }
    let known = known_or_measured(base, budget)?;
    let links = known.layout.links;
    let interval = interval_for_share(links, known.capacity_per_s, share);
    say(&format!(
        "startup: --load {:.0}%: {} updates/s (interval {interval} ms), {:.0}% of the {} this \
         machine holds with {} links",
        share * 100.0,
        grouped(rate(links, interval)),
        rate(links, interval) / known.capacity_per_s * 100.0,
        about(known.capacity_per_s),
        known.layout,
    ));
    let mut json = config_json(&base.config_path)?;
    json.insert("update_intervals".into(), interval.into());
    let file = ConfigFile::write("load", &serde_json::Value::Object(json))?;
    let config = Config::load(&file.path)?;
    let options = Options {
        config_path: file.path.clone(),
        config_shown: format!("{} with --load {:.0}%", base.config_shown, share * 100.0),
        watch: monitor::Settings {
            config: Arc::new(config),
            duration: base.watch.duration,
            quiet: base.watch.quiet,
            samples: base.watch.samples.clone(),
            sample_every: base.watch.sample_every,
            rss_baseline: base.watch.rss_baseline,
        },
        capacity_step: false,
        ..*base
    };
    Ok(LoadRun {
        options,
        _file: file,
    })
}

/// The cached capacity when it matches this machine, build and layout;
/// otherwise says why not, measures it and caches it.
fn known_or_measured(base: &Options, budget: Budget) -> Result<Capacity> {
    let here = MeasuredOn::here();
    let layout = LinkLayout::of(&base.watch.config);
    let file = cache::path(&here.host);
    let found = file
        .as_deref()
        .map_or(Lookup::Empty, |f| cache::lookup(f, &layout, &here));
    let shown = file
        .as_deref()
        .map_or("-".into(), |f| f.display().to_string());
    match found {
        Lookup::Reuse(c) => {
            say(&format!(
                "startup: reusing the capacity cache {shown}: about {} updates/s with {} links \
                 (interval {} ms), measured {} on this machine and build",
                about(c.capacity_per_s),
                c.layout,
                c.interval_ms,
                c.measured_utc
            ));
            return Ok(*c);
        }
        Lookup::Stale(why) => say(&format!(
            "startup: the capacity cache {shown} does not apply ({why}); measuring again"
        )),
        Lookup::Empty => say(&format!(
            "startup: no capacity cached for this machine and layout ({shown}); measuring it"
        )),
    }
    let c = measure(base, budget)?;
    cli::say(&text::sentence(&c));
    // Ctrl-C during the search asks for no run after it.
    if startup::interrupted() {
        return Err(Error::msg(
            "interrupted during the capacity search; no run started",
        ));
    }
    if c.capacity_per_s <= 0.0 {
        return Err(Error::msg(
            "--load: no rate held on this machine within the budget, so there is nothing to \
             take a share of (the steps above say why)",
        ));
    }
    cli::say(&format!("capacity: measured{}", remember(&c)));
    Ok(c)
}

/// A line of startup's own, on stderr (the search's lines and the report
/// are on stdout), and in the log.
fn say(line: &str) {
    log::info!("{line}");
    eprintln!("{line}");
}
