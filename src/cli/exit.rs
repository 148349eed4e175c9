//! Exit codes, defined here only and documented in the README.

use std::process::ExitCode;

/// The command did what was asked (a run finished and its reports are written; a suite is valid).
pub const OK: u8 = 0;
/// `suite lint` found problems, `suite check` found invalid missions, or `check` found a regression.
pub const CHECK_FAILED: u8 = 1;
/// Bad usage or bad input: flags, config, suite, mission or contract files, and report folders
/// a command reads (a damaged journal, a folder where a file belongs).
pub const INPUT_ERROR: u8 = 2;
/// The run finished, but at least one mission ended in an infrastructure error (status `error`).
pub const INFRA_ERRORS: u8 = 3;
/// The harness itself failed (cannot write reports, cannot start).
pub const HARNESS_ERROR: u8 = 4;
/// The run was interrupted (Ctrl-C): after the first, once the reports are written; at once
/// after the second.
pub const INTERRUPTED: u8 = 130;

pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}
