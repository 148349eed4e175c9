//! Ground truth after a mission, whatever its outcome: the hidden acceptance tests on a sealed
//! copy of the final workspace (`seal.rs`), the coverage and mutation score of the mission's own
//! tests, and line counts.

pub mod coverage;
pub mod junit;
pub mod libtest;
pub mod mutation;
pub mod reward;
pub mod seal;

pub use mutation::run_mutation;
pub use seal::{run_acceptance, Acceptance};

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::io::Read;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;

use crate::events::Event;
use crate::fsutil::{copy_tree, walk, Descend, Entry, EntryKind, Skipped, Visitor};
use crate::spec::mission::CoverageSpec;
use crate::spec::MissionSpec;
use crate::tools::{run_shell, CommandEnv, CommandOutput, Notice};

use coverage::{CoverageReportError, LineCoverage};
use junit::JunitError;

/// Folders of a workspace that are never part of the product.
const NOT_PRODUCT: [&str; 2] = [".git", ".mission"];

/// Which of the ground truth's measurements a command or folder belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measurement {
    Acceptance,
    Coverage,
    Mutation,
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Measurement::Acceptance => "acceptance",
            Measurement::Coverage => "coverage",
            Measurement::Mutation => "mutation",
        })
    }
}

/// How a command that did not succeed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    TimedOut,
    Exited(i32),
    Signalled,
}

impl Ending {
    pub fn of(output: &CommandOutput) -> Ending {
        match (output.timed_out, output.exit_code) {
            (true, _) => Ending::TimedOut,
            (false, Some(code)) => Ending::Exited(code),
            (false, None) => Ending::Signalled,
        }
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::TimedOut => f.write_str("timed out"),
            Ending::Exited(code) => write!(f, "exit code {code}"),
            Ending::Signalled => f.write_str("killed by a signal"),
        }
    }
}

/// Why a measurement of the ground truth has no result. Its text is the `error` of the
/// measurement's event, so it says what a person reading the report needs, the cause included.
#[derive(Debug, thiserror::Error)]
pub enum GroundTruthError {
    #[error("cannot prepare the {measurement} folder: {source}")]
    Prepare {
        measurement: Measurement,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot copy the workspace: {source}")]
    CopyWorkspace { to: PathBuf, source: io::Error },
    #[error("cannot write the runner's configuration: {source}")]
    RunnerConfig { path: PathBuf, source: io::Error },
    #[error("cannot copy the acceptance tests: {source}")]
    CopyAcceptanceTests { to: PathBuf, source: io::Error },
    /// Paths of the hidden tests the copy could not take.
    #[error("cannot copy the acceptance tests: {}", .paths.join(", "))]
    AcceptanceTestsMissed { paths: Vec<String> },
    #[error("cannot start the {measurement} command: {source}")]
    Command {
        measurement: Measurement,
        command: String,
        source: io::Error,
    },
    #[error("the acceptance command wrote no report `{report}` ({source})")]
    NoAcceptanceReport { report: String, source: io::Error },
    #[error("the coverage command ({ending}) wrote no report `{report}`: {source}")]
    NoCoverageReport {
        ending: Ending,
        report: String,
        source: io::Error,
    },
    #[error("{source}")]
    Junit { path: PathBuf, source: JunitError },
    #[error("the acceptance report `{report}` holds no libtest JSON lines (the tests did not build, or the command lacks `-- -Z unstable-options --format json` with RUSTC_BOOTSTRAP=1)")]
    NoLibtestJson { report: String },
    #[error("`{}`: {source}", .path.display())]
    Reward {
        path: PathBuf,
        source: reward::RewardError,
    },
    #[error("{source}")]
    CoverageReport {
        path: PathBuf,
        source: CoverageReportError,
    },
    #[error("no mutants: the product has no Python source the operators apply to")]
    NoMutants,
    #[error("the run was interrupted while mutants were tested")]
    Interrupted,
    #[error("the mission's own tests timed out after {timeout_s} s on the unmutated product, so no mutant can be judged")]
    BaselineTimedOut { timeout_s: u64 },
    /// `output_tail`: the last lines of the tests' output.
    #[error("the mission's own tests fail on the unmutated product ({ending}), so no mutant can be judged:\n{output_tail}")]
    BaselineFailed { ending: Ending, output_tail: String },
    #[error("cannot restore `{file}` after a mutant: {source}")]
    RestoreAfterMutant { file: String, source: io::Error },
}

/// Copies `workspace` to `to` but for the top-level folders `skip`; the paths it could not take.
fn copy_workspace(
    workspace: &Path,
    to: &Path,
    skip: &[&str],
) -> Result<Vec<Skipped>, GroundTruthError> {
    copy_tree(workspace, to, skip).map_err(|source| GroundTruthError::CopyWorkspace {
        to: to.to_path_buf(),
        source,
    })
}

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
    Some(
        match measure_coverage(mission, spec, workspace, root, base, notices, skipped).await {
            Ok(coverage) => Event::CoverageMeasured {
                percent: Some(coverage.percent()),
                covered_lines: Some(coverage.covered),
                total_lines: Some(coverage.total),
                error: None,
            },
            Err(error) => Event::CoverageMeasured {
                percent: None,
                covered_lines: None,
                total_lines: None,
                error: Some(error.to_string()),
            },
        },
    )
}

async fn measure_coverage(
    mission: &MissionSpec,
    spec: &CoverageSpec,
    workspace: &Path,
    root: &Path,
    base: &CommandEnv,
    notices: &mut Vec<Notice>,
    skipped: &mut Vec<Skipped>,
) -> Result<LineCoverage, GroundTruthError> {
    // A folder of its own with a fresh $HOME and $TMPDIR, and coverage's configuration the
    // harness's: the agents' own `.coveragerc` could leave the untested code out.
    let (scratch, env) = seal::Layout::new(root)
        .coverage_env(base)
        .map_err(|source| GroundTruthError::Prepare {
            measurement: Measurement::Coverage,
            path: root.to_path_buf(),
            source,
        })?;
    let scratch = scratch.as_path();
    skipped.extend(copy_workspace(workspace, scratch, &[".git", ".mission"])?);
    seal::leave_out_for_coverage(mission, scratch);
    let report_path = scratch.join(&spec.report);
    let _ = std::fs::remove_file(&report_path);
    let env = CommandEnv {
        timeout: Duration::from_secs(spec.timeout_s),
        max_output_bytes: 64 * 1024,
        ..env
    };
    let mut output = run_shell(&spec.command, scratch, &env)
        .await
        .map_err(|source| GroundTruthError::Command {
            measurement: Measurement::Coverage,
            command: spec.command.clone(),
            source,
        })?;
    notices.append(&mut output.notices);
    let text = std::fs::read_to_string(&report_path).map_err(|source| {
        GroundTruthError::NoCoverageReport {
            ending: Ending::of(&output),
            report: spec.report.clone(),
            source,
        }
    })?;
    // Test files and the hidden tests' folder are not the product, wherever the report lists them.
    let counts = |file: &str| {
        let path = Path::new(file);
        let relative = path.strip_prefix(scratch).unwrap_or(path);
        !mission.is_test_path(relative)
            && !relative.starts_with(&mission.file.acceptance.into)
            && !relative.starts_with("node_modules")
    };
    coverage::parse_coverage(spec.format, &text, &counts).map_err(|source| {
        GroundTruthError::CoverageReport {
            path: report_path,
            source,
        }
    })
}

/// Counts non-blank lines of source and test files in the final workspace, at any depth (the walk
/// goes by folder descriptors).
pub fn count_lines(mission: &MissionSpec, workspace: &Path) -> Event {
    #[derive(Default)]
    struct Count {
        files: u64,
        /// Non-blank lines.
        lines: u64,
    }
    struct Counter<'a> {
        mission: &'a MissionSpec,
        source: Count,
        tests: Count,
    }
    impl Visitor for Counter<'_> {
        fn dir(&mut self, entry: &Entry, _: Option<BorrowedFd>) -> Result<Descend, String> {
            let harness =
                entry.is_top_level() && NOT_PRODUCT.iter().any(|n| entry.path == n.as_bytes());
            Ok(
                if harness || self.mission.record.leaves_out(entry.path, true) {
                    Descend::Skip
                } else {
                    Descend::Into(None)
                },
            )
        }

        fn other(&mut self, entry: &Entry, _: Option<BorrowedFd>) -> Result<(), String> {
            if !matches!(entry.kind, EntryKind::File)
                || self.mission.record.leaves_out(entry.path, false)
            {
                return Ok(());
            }
            let relative = Path::new(std::ffi::OsStr::from_bytes(entry.path));
            let count = if self.mission.is_test_path(relative) {
                &mut self.tests
            } else if self.mission.is_source_path(relative) {
                &mut self.source
            } else {
                return Ok(());
            };
            let mut text = String::new();
            if entry
                .open_file()
                .and_then(|mut f| f.read_to_string(&mut text))
                .is_err()
            {
                return Ok(());
            }
            count.files += 1;
            count.lines += text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
            Ok(())
        }
    }
    let mut counter = Counter {
        mission,
        source: Count::default(),
        tests: Count::default(),
    };
    // What the walk cannot take is listed by the record and the copies already.
    let _ = walk(workspace, None, &mut counter);
    Event::LinesCounted {
        source_files: counter.source.files,
        source_lines: counter.source.lines,
        test_files: counter.tests.files,
        test_lines: counter.tests.lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_the_events_carry_them() {
        let missed = GroundTruthError::AcceptanceTestsMissed {
            paths: vec!["a/x.py".to_string(), "a/y.py".to_string()],
        };
        assert_eq!(
            missed.to_string(),
            "cannot copy the acceptance tests: a/x.py, a/y.py"
        );
        let failed = GroundTruthError::BaselineFailed {
            ending: Ending::Exited(5),
            output_tail: "no tests ran".to_string(),
        };
        assert_eq!(
            failed.to_string(),
            "the mission's own tests fail on the unmutated product (exit code 5), so no mutant can be judged:\nno tests ran"
        );
        let no_report = GroundTruthError::NoCoverageReport {
            ending: Ending::Signalled,
            report: "coverage.json".to_string(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(
            no_report.to_string(),
            "the coverage command (killed by a signal) wrote no report `coverage.json`: entity not found"
        );
        let start = GroundTruthError::Command {
            measurement: Measurement::Mutation,
            command: "pytest".to_string(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(
            start.to_string(),
            "cannot start the mutation command: entity not found"
        );
    }

    #[test]
    fn lines_are_counted_at_any_depth_and_by_the_record_rules() {
        let core = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("suites/core");
        let suite = crate::spec::suite::load_suite(&core).unwrap();
        let mission = suite
            .missions
            .iter()
            .find(|m| m.id().as_str() == "wordfreq")
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut writer = crate::fsutil::TreeWriter::new(dir.path()).unwrap();
        let deep = "deep/".repeat(1000);
        writer
            .file(
                format!("{deep}app.py").as_bytes(),
                b"a = 1\n\nb = 2\n",
                0o644,
            )
            .unwrap();
        writer
            .file(b"tests/test_app.py", b"def test():\n    pass\n", 0o644)
            .unwrap();
        writer
            .file(b"__pycache__/app.py", b"cached = 1\n", 0o644)
            .unwrap();
        writer
            .file(b".mission/x.py", b"state = 1\n", 0o644)
            .unwrap();
        drop(writer);
        let Event::LinesCounted {
            source_files,
            source_lines,
            test_files,
            test_lines,
        } = count_lines(mission, dir.path())
        else {
            panic!("not a line count");
        };
        assert_eq!((source_files, source_lines), (1, 2));
        assert_eq!((test_files, test_lines), (1, 2));
    }
}
