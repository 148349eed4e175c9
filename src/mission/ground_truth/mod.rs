//! Ground truth after a mission, whatever its outcome: the hidden acceptance tests on a sealed
//! copy of the final workspace (`seal.rs`), the coverage and mutation score of the mission's own
//! tests, and line counts.

pub mod coverage;
pub mod junit;
pub mod mutation;
pub mod seal;

pub use mutation::run_mutation;
pub use seal::{run_acceptance, Acceptance};

use std::path::Path;
use std::time::Duration;

use walkdir::WalkDir;

use crate::events::Event;
use crate::fsutil::{copy_tree, Skipped};
use crate::spec::MissionSpec;
use crate::tools::{run_shell, CommandEnv, Notice};

/// Folders of a workspace that are never part of the product.
const NOT_PRODUCT: [&str; 2] = [".git", ".mission"];

/// Runs the mission's coverage command over a copy of `workspace` under `root` (cleared first).
pub async fn run_coverage(
    mission: &MissionSpec,
    workspace: &Path,
    root: &Path,
    base: &CommandEnv,
    notices: &mut Vec<Notice>,
    skipped: &mut Vec<Skipped>,
) -> Option<Event> {
    let spec = mission.file.coverage.as_ref()?;
    let failure = |error: String| Event::CoverageMeasured {
        percent: None,
        covered_lines: None,
        total_lines: None,
        error: Some(error),
    };
    // A folder of its own with a fresh $HOME and $TMPDIR, and coverage's configuration the
    // harness's: the agents' own `.coveragerc` could leave the untested code out.
    let (scratch, env) = match seal::Layout::new(root).coverage_env(base) {
        Ok(prepared) => prepared,
        Err(e) => return Some(failure(format!("cannot prepare the coverage folder: {e}"))),
    };
    let scratch = scratch.as_path();
    match copy_tree(workspace, scratch, &[".git", ".mission"]) {
        Ok(left_out) => skipped.extend(left_out),
        Err(e) => return Some(failure(format!("cannot copy the workspace: {e}"))),
    }
    seal::leave_out_for_coverage(mission, scratch);
    let report_path = scratch.join(&spec.report);
    let _ = std::fs::remove_file(&report_path);
    let env = CommandEnv {
        timeout: Duration::from_secs(spec.timeout_s),
        max_output_bytes: 64 * 1024,
        ..env
    };
    let mut output = match run_shell(&spec.command, scratch, &env).await {
        Ok(output) => output,
        Err(e) => return Some(failure(format!("cannot start the coverage command: {e}"))),
    };
    notices.append(&mut output.notices);
    let text = match std::fs::read_to_string(&report_path) {
        Ok(text) => text,
        Err(e) => {
            let status = match (output.timed_out, output.exit_code) {
                (true, _) => "timed out".to_string(),
                (false, Some(code)) => format!("exit code {code}"),
                (false, None) => "killed by a signal".to_string(),
            };
            return Some(failure(format!(
                "the coverage command ({status}) wrote no report `{}`: {e}",
                spec.report
            )));
        }
    };
    Some(match coverage::parse_coverage(spec.format, &text) {
        Ok(coverage) => Event::CoverageMeasured {
            percent: Some(coverage.percent()),
            covered_lines: Some(coverage.covered),
            total_lines: Some(coverage.total),
            error: None,
        },
        Err(message) => failure(message),
    })
}

/// Counts non-blank lines of source and test files in the final workspace.
pub fn count_lines(mission: &MissionSpec, workspace: &Path) -> Event {
    let (mut source_files, mut source_lines, mut test_files, mut test_lines) = (0, 0, 0, 0);
    let walker = WalkDir::new(workspace)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let relative = e.path().strip_prefix(workspace).unwrap_or(e.path());
            (e.depth() != 1 || !NOT_PRODUCT.iter().any(|n| e.file_name() == *n))
                && !mission.record.leaves_out(
                    std::os::unix::ffi::OsStrExt::as_bytes(relative.as_os_str()),
                    e.file_type().is_dir(),
                )
        });
    for entry in walker.flatten().filter(|e| e.file_type().is_file()) {
        let Ok(relative) = entry.path().strip_prefix(workspace) else {
            continue;
        };
        let is_test = mission.is_test_path(relative);
        let is_source = mission.is_source_path(relative);
        if !is_test && !is_source {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
        if is_test {
            test_files += 1;
            test_lines += lines;
        } else {
            source_files += 1;
            source_lines += lines;
        }
    }
    Event::LinesCounted {
        source_files,
        source_lines,
        test_files,
        test_lines,
    }
}
