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

use std::io::Read;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;

use crate::events::Event;
use crate::fsutil::{copy_tree, walk, Descend, Entry, EntryKind, Skipped, Visitor};
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

/// Counts non-blank lines of source and test files in the final workspace, at any depth (the walk
/// goes by folder descriptors).
pub fn count_lines(mission: &MissionSpec, workspace: &Path) -> Event {
    struct Counter<'a> {
        mission: &'a MissionSpec,
        /// Files and non-blank lines: source, then tests.
        counts: [(u64, u64); 2],
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
            let slot = if self.mission.is_test_path(relative) {
                1
            } else if self.mission.is_source_path(relative) {
                0
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
            self.counts[slot].0 += 1;
            self.counts[slot].1 += text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
            Ok(())
        }
    }
    let mut counter = Counter {
        mission,
        counts: [(0, 0); 2],
    };
    // What the walk cannot take is listed by the record and the copies already.
    let _ = walk(workspace, None, &mut counter);
    let [(source_files, source_lines), (test_files, test_lines)] = counter.counts;
    Event::LinesCounted {
        source_files,
        source_lines,
        test_files,
        test_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
