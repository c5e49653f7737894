//! The report phase: the run's record built in one place
//! (`launcher::report::assemble`), its verdict and the report on the
//! dashboard, which then closes.

use super::plan::Plan;
use super::{Finished, Stage};
use crate::launcher::dashboard::Dashboard;
use crate::launcher::hosts::EndCounts;
use crate::launcher::monitor::Monitor;
use crate::launcher::record::Update;
use crate::launcher::report::{self, About};
use crate::messages::ClientReport;

/// The run's report from every phase's part: the plan's, the monitor's,
/// the clients' `finals` and the `servers`' side.
pub(super) fn report(
    plan: &Plan,
    mut run: Monitor,
    finals: &[ClientReport],
    servers: EndCounts,
    stage: Stage,
) -> Finished {
    let about = About {
        info: &plan.info,
        began: plan.began,
        config_path: &plan.options.config_path,
        thresholds: plan.options.thresholds,
        all_servers: &plan.all,
        local_servers: &plan.local,
    };
    let watched = run.watched(finals);
    let report = report::assemble(&about, watched, finals, servers);
    let feed = run.feed();
    feed.send(Update::Message(report.verdict_line()));
    feed.send(Update::Final(Box::new(report.for_page())));
    let view = feed.view();
    Dashboard::close_all([stage.dashboard, stage.metrics].into_iter().flatten());
    Finished { report, view }
}
