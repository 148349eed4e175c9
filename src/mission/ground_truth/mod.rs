//! Ground truth after a mission, whatever its outcome: the hidden acceptance tests overlaid on a
//! copy of the final workspace, the coverage and mutation score of the mission's own tests, and
//! line counts.

pub mod coverage;
pub mod junit;
pub mod mutation;

pub use mutation::run_mutation;

use std::path::Path;
use std::time::Duration;

use walkdir::WalkDir;

use crate::events::{Event, TestResult};
use crate::fsutil::copy_tree;
use crate::model::millis;
use crate::spec::mission::ResultsFormat;
use crate::spec::MissionSpec;
use crate::tools::{run_shell, CommandEnv, Notice};

/// Folders of a workspace that are never part of the product.
const NOT_PRODUCT: [&str; 2] = [".git", ".mission"];

/// Runs the acceptance tests in `scratch` (a fresh folder) over a copy of `workspace`.
pub async fn run_acceptance(
    mission: &MissionSpec,
    workspace: &Path,
    scratch: &Path,
    base: &CommandEnv,
    notices: &mut Vec<Notice>,
) -> Event {
    let spec = &mission.file.acceptance;
    let failure = |error: String| Event::AcceptanceFinished {
        tests: Vec::new(),
        exit_code: None,
        timed_out: false,
        duration_ms: 0.0,
        error: Some(error),
    };
    // Commands may write the mission's folder: whatever they left in the scratch folder goes.
    let _ = std::fs::remove_dir_all(scratch);
    if let Err(e) = copy_tree(workspace, scratch, &[".git"]) {
        return failure(format!("cannot copy the workspace: {e}"));
    }
    let report_path = scratch.join(&spec.report);
    // A report the agents left behind must not pass for the acceptance run's own.
    let _ = std::fs::remove_file(&report_path);
    if let Err(e) = copy_tree(&mission.acceptance_dir(), &scratch.join(&spec.into), &[]) {
        return failure(format!("cannot copy the acceptance tests: {e}"));
    }
    let env = CommandEnv {
        timeout: Duration::from_secs(spec.timeout_s),
        max_output_bytes: 64 * 1024,
        ..base.clone()
    };
    let mut output = match run_shell(&spec.command, scratch, &env).await {
        Ok(output) => output,
        Err(e) => return failure(format!("cannot start the acceptance command: {e}")),
    };
    notices.append(&mut output.notices);
    let parsed = match spec.results {
        ResultsFormat::Junit => std::fs::read_to_string(&report_path)
            .map_err(|e| {
                format!(
                    "the acceptance command wrote no report `{}` ({e})",
                    spec.report
                )
            })
            .and_then(|xml| junit::parse_junit(&xml)),
    };
    let (tests, error) = match parsed {
        Ok(cases) if cases.is_empty() => (
            Vec::new(),
            Some("the acceptance report lists no tests".to_string()),
        ),
        Ok(cases) => (
            cases
                .into_iter()
                .map(|case| TestResult {
                    milestone: mission.milestone_of_test(&case.id).ok().cloned(),
                    id: case.id,
                    status: case.status,
                })
                .collect(),
            None,
        ),
        Err(message) => {
            let tail: String = output
                .stdout
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            (Vec::new(), Some(format!("{message}\n{tail}")))
        }
    };
    Event::AcceptanceFinished {
        tests,
        exit_code: output.exit_code,
        timed_out: output.timed_out,
        duration_ms: millis(output.duration),
        error: if output.timed_out {
            Some("the acceptance command timed out".to_string())
        } else {
            error
        },
    }
}

/// Runs the mission's coverage command over a copy of `workspace` in `scratch`.
pub async fn run_coverage(
    mission: &MissionSpec,
    workspace: &Path,
    scratch: &Path,
    base: &CommandEnv,
    notices: &mut Vec<Notice>,
) -> Option<Event> {
    let spec = mission.file.coverage.as_ref()?;
    let failure = |error: String| Event::CoverageMeasured {
        percent: None,
        covered_lines: None,
        total_lines: None,
        error: Some(error),
    };
    let _ = std::fs::remove_dir_all(scratch);
    if let Err(e) = copy_tree(workspace, scratch, &[".git"]) {
        return Some(failure(format!("cannot copy the workspace: {e}")));
    }
    let report_path = scratch.join(&spec.report);
    let _ = std::fs::remove_file(&report_path);
    let env = CommandEnv {
        timeout: Duration::from_secs(spec.timeout_s),
        max_output_bytes: 64 * 1024,
        ..base.clone()
    };
    let mut output = match run_shell(&spec.command, scratch, &env).await {
        Ok(output) => output,
        Err(e) => return Some(failure(format!("cannot start the coverage command: {e}"))),
    };
    notices.append(&mut output.notices);
    let text = match std::fs::read_to_string(&report_path) {
        Ok(text) => text,
        Err(e) => {
            let status = if output.timed_out {
                "timed out".to_string()
            } else {
                format!("exit code {:?}", output.exit_code)
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
        .filter_entry(|e| e.depth() != 1 || !NOT_PRODUCT.iter().any(|n| e.file_name() == *n));
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
