//! The run's record: what happened, phase by phase and round by round, as
//! plain data. The monitor and startup write it through a [`Feed`]; the
//! HTML report renders it at the end, and the dashboard serves a live copy.
//!
//! It knows nothing of HTTP: a live copy is only a channel of [`Msg`]s that
//! the dashboard hands to [`Feed::go_live`], so the side that writes the record
//! and the side that serves it meet in these plain types alone.
//!
//! * `mod.rs` (here): the [`Feed`], and its announcer: one call puts a
//!   phase or a progress line on the terminal, in the log and in the record.
//! * `series.rs`: [`Point`] (one status round's figures) and [`History`]
//!   (every point of the run, at most 2,000, halving as the run grows).
//! * `snapshot.rs`: the [`Update`]s a feed records, the [`State`] they
//!   build, and the [`RunView`] that `/api/run` serves and the HTML report
//!   embeds.
//! * `metrics.rs`: [`MetricsSample`], the figures `/metrics` serves, one
//!   per status round.

mod metrics;
mod series;
mod snapshot;

use std::time::Instant;

use crossbeam_channel::Sender;

pub(crate) use metrics::{BOUNDS_US, ByKind, MetricsSample};
pub(crate) use series::Point;
pub(crate) use snapshot::{
    FinalReport, Layout, Phase, RunInfo, RunView, STATES, ServerRow, State, Update,
};

/// What a live copy of the record hears.
pub(crate) enum Msg {
    /// Something changed.
    Update(Update),
    /// The run is over: serve the final state to the open pages, then end.
    Close,
}

/// What startup reports the run to: its own record, and a live copy when
/// a dashboard runs. Owned by startup's main thread (inside the monitor
/// once the clients run).
pub(crate) struct Feed {
    state: State,
    /// The live copies: the dashboard's and `--metrics`' HTTP threads.
    live: Vec<Sender<Msg>>,
    /// No lines on the terminal (`--quiet`); the log and the record still
    /// get every one.
    quiet: bool,
}

impl Feed {
    /// A record of the run `info` describes; `quiet` keeps its lines off
    /// the terminal.
    pub(crate) fn new(info: RunInfo, quiet: bool) -> Feed {
        Feed {
            state: State::new(info),
            live: Vec::new(),
            quiet,
        }
    }

    /// From now on, a copy of every update goes to `live` too (a
    /// dashboard, whose own record starts from the same [`RunInfo`]).
    pub(crate) fn go_live(&mut self, live: Sender<Msg>) {
        self.live.push(live);
    }

    /// True when some live copy hears the updates (a dashboard, or
    /// `--metrics`): what only they serve need not be built otherwise.
    pub(crate) fn is_live(&self) -> bool {
        !self.live.is_empty()
    }

    /// Records one update (and sends it to the live copies, never waiting).
    pub(crate) fn send(&mut self, update: Update) {
        // An ended dashboard is no reason to stop the run: it is dropped.
        self.live
            .retain(|live| live.send(Msg::Update(update.clone())).is_ok());
        self.state.apply(update);
    }

    /// Announces that the run moves on to `phase`: the one place a phase
    /// goes to the terminal, the log and the record together.
    pub(crate) fn announce(&mut self, phase: Phase, line: impl Into<String>) {
        let line = line.into();
        self.tell(&line);
        self.send(Update::Phase(phase, line));
    }

    /// A progress line within the phase, told as [`Feed::announce`] tells
    /// a phase.
    pub(crate) fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.tell(&line);
        self.send(Update::Message(line));
    }

    /// The terminal's and the log's copy of a line.
    fn tell(&self, line: &str) {
        log::info!("{line}");
        if !self.quiet {
            eprintln!("startup: {line}");
        }
    }

    /// The run as recorded so far: at the end, the HTML report's data.
    pub(crate) fn view(&self) -> RunView {
        self.state.view(Instant::now())
    }
}
