//! The engines bench's HTML reports open offline (issue 27): runs
//! `html_report.py` beside this file, which runs each plot script on a small
//! CSV from `fixtures/` as the bench does and checks the page it writes (no
//! http(s) address, one embedded PNG per chart, well-formed, the rows and
//! the header). The checks are in Python, beside the scripts that make the
//! pages, and parse them with its standard library's html.parser, so the
//! test needs no HTML crate.
//!
//! Unix only: the Windows check runs the suite under Wine, which has no
//! python3, and the report is the same file on every OS.
#![cfg(unix)]

use std::path::Path;
use std::process::Command;

#[test]
fn every_engines_report_is_one_self_contained_well_formed_page() {
    let check = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("html_report.py");
    // plotlib.py installs matplotlib with pip if it is missing, as the
    // bench's own plotting does; a machine with no python3 cannot make the
    // report at all, and the message says so.
    let out = Command::new("python3")
        .arg(&check)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", check.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}{}",
        check.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
