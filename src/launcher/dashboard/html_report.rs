//! `--html-report PATH`: the run in one HTML file that opens anywhere,
//! offline: the dashboard's page with the run's final view inside it (the
//! charts of every status round, the report's tables, the verdict), so a
//! soak's result can be sent as one file and read without Python or
//! network.

use std::path::Path;

use super::page;
use crate::error::{Context, Result};
use crate::launcher::record::RunView;

/// Writes the report of the run `view` describes to `path`.
///
/// # Errors
/// The file cannot be written.
pub(crate) fn write(path: &Path, view: &RunView) -> Result<()> {
    std::fs::write(path, page::render(Some(view)))
        .with_context(|| format!("cannot write the HTML report {}", path.display()))
}
