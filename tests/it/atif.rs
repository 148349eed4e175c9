//! `export atif`: the tiny suite's report as ATIF trajectories, each checked against the RFC's
//! rules, their tokens against the turns table and their subagent links against the files; the
//! RFC's own example through our reader; a folder that is no report and damaged lines named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use missions_bench::events::{Event, EventRecord};
use missions_bench::fsutil::copy_tree;
use missions_bench::metrics::{RunRow, TurnRow};
use missions_bench::report::atif::schema::{
    read_trajectory, validate, ReadTrajectoryError, StepSource, Trajectory, SCHEMA_VERSION,
};
use missions_bench::report::atif::{export_atif, trajectory_path, AtifError};
use missions_bench::report::parquet::read_table;

use crate::common::{assert_input_error, missions_bench, repo, run_tiny, stdout_of};

/// One oracle and one nop run of the tiny suite, shared by the tests of this file.
fn tiny_report() -> &'static Path {
    static REPORT: OnceLock<PathBuf> = OnceLock::new();
    REPORT.get_or_init(|| {
        // Kept for the whole test binary's life, in the target folder; each run starts afresh.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("atif-tiny");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("reports");
        PathBuf::from(run_tiny(
            &dir,
            &out,
            &["--pairing", "oracle", "--pairing", "nop"],
        ))
    })
}

/// The mission run's folder name, as the report and the export write it.
fn slug(mission: &str, pairing: &str, repeat: u32) -> String {
    missions_bench::events::MissionKey {
        suite: String::new(),
        mission: missions_bench::spec::MissionId::new(mission),
        pairing: pairing.to_string(),
        repeat,
    }
    .slug()
}

fn extra<'a>(trajectory: &'a Trajectory, key: &str) -> &'a Value {
    trajectory
        .extra
        .as_ref()
        .and_then(|extra| extra.get(key))
        .unwrap_or(&Value::Null)
}

/// Sums a column over rows, `None` when any row's value is unknown.
fn sum_known(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.sum()
}

/// Exports `report` into `out` and checks the result against the report's own tables: one valid
/// trajectory per agent run of the runs table, where the layout says; each agent step's metrics
/// equal to its row of the turns table; totals per agent run and over the report equal to the
/// table's sums (absent where any part is unknown); every subagent linked once, from the
/// `spawn_subagent` call that started it, by a path to its own trajectory. Returns the
/// trajectories by path.
fn check_export(report: &Path, out: &Path) -> BTreeMap<PathBuf, Trajectory> {
    let export = export_atif(report, out).unwrap();
    assert!(export.skipped.is_empty(), "{:?}", export.skipped);
    let runs: Vec<RunRow> = read_table(report).unwrap();
    assert_eq!(
        export.trajectories.len(),
        runs.len(),
        "{}",
        report.display()
    );
    let turns: Vec<TurnRow> = read_table(report).unwrap();
    let mut turns_by_run: BTreeMap<(String, u32), Vec<&TurnRow>> = BTreeMap::new();
    for row in &turns {
        turns_by_run
            .entry((slug(&row.mission, &row.pairing, row.repeat), row.agent_run))
            .or_default()
            .push(row);
    }

    let mut trajectories = BTreeMap::new();
    let (mut prompt_total, mut completion_total, mut cached_total) = (0u64, 0u64, 0u64);
    for exported in &export.trajectories {
        assert_eq!(
            exported.path,
            trajectory_path(out, &exported.mission_run, exported.run, exported.role)
        );
        assert_eq!(
            exported.path,
            out.join(&exported.mission_run)
                .join(format!("{:03}-{}", exported.run, exported.role))
                .join("trajectory.json")
        );
        let trajectory = read_trajectory(&exported.path).unwrap();
        assert_eq!(trajectory.schema_version, SCHEMA_VERSION);
        assert_eq!(trajectory.steps.len(), exported.steps);
        assert_eq!(trajectory.steps[0].source, StepSource::System);
        assert_eq!(trajectory.steps[1].source, StepSource::User);
        assert_eq!(extra(&trajectory, "run"), &Value::from(exported.run));
        assert_eq!(extra(&trajectory, "role"), exported.role.as_str());

        let rows = turns_by_run
            .get(&(exported.mission_run.clone(), exported.run))
            .cloned()
            .unwrap_or_default();
        let agent_steps: Vec<_> = trajectory
            .steps
            .iter()
            .filter(|s| s.source == StepSource::Agent)
            .collect();
        assert_eq!(agent_steps.len(), rows.len(), "{}", exported.path.display());
        for (step, row) in agent_steps.iter().zip(&rows) {
            let metrics = step.metrics.as_ref().unwrap();
            assert_eq!(metrics.prompt_tokens, row.input_tokens);
            assert_eq!(metrics.completion_tokens, row.output_tokens);
            assert_eq!(metrics.cached_tokens, row.cache_read_tokens);
            assert_eq!(metrics.cost_usd, row.cost_usd);
            assert_eq!(
                metrics.extra.as_ref().unwrap()["usage_source"],
                row.usage_source.as_str()
            );
            assert_eq!(step.llm_call_count, Some(1));
        }
        let totals = trajectory.final_metrics.as_ref().unwrap();
        let known = |column: fn(&TurnRow) -> Option<u64>| {
            if rows.is_empty() {
                None
            } else {
                sum_known(rows.iter().map(|r| column(r)))
            }
        };
        assert_eq!(totals.total_prompt_tokens, known(|r| r.input_tokens));
        assert_eq!(totals.total_completion_tokens, known(|r| r.output_tokens));
        assert_eq!(totals.total_cached_tokens, known(|r| r.cache_read_tokens));
        assert_eq!(totals.total_steps, Some(trajectory.steps.len() as u64));
        prompt_total += totals.total_prompt_tokens.unwrap_or(0);
        completion_total += totals.total_completion_tokens.unwrap_or(0);
        cached_total += totals.total_cached_tokens.unwrap_or(0);
        trajectories.insert(exported.path.clone(), trajectory);
    }
    let column_total =
        |column: fn(&TurnRow) -> Option<u64>| -> u64 { turns.iter().filter_map(column).sum() };
    assert_eq!(prompt_total, column_total(|r| r.input_tokens));
    assert_eq!(completion_total, column_total(|r| r.output_tokens));
    assert_eq!(cached_total, column_total(|r| r.cache_read_tokens));

    let mut linked = Vec::new();
    for (path, trajectory) in &trajectories {
        for step in &trajectory.steps {
            let results = step.observation.iter().flat_map(|o| &o.results);
            for result in results {
                for reference in result.subagent_trajectory_ref.iter().flatten() {
                    let call = result.source_call_id.as_deref().unwrap();
                    let spawn = step
                        .tool_calls
                        .iter()
                        .flatten()
                        .find(|c| c.tool_call_id == call)
                        .unwrap();
                    assert_eq!(spawn.function_name, "spawn_subagent");
                    let target = path
                        .parent()
                        .unwrap()
                        .join(reference.trajectory_path.as_deref().unwrap());
                    assert!(target.is_file(), "{}", target.display());
                    let target = target.canonicalize().unwrap();
                    let child = trajectories
                        .iter()
                        .find(|(p, _)| p.canonicalize().unwrap() == target)
                        .map(|(_, t)| t)
                        .unwrap();
                    assert_eq!(extra(child, "role"), "subagent");
                    assert_eq!(extra(child, "parent_run"), extra(trajectory, "run"));
                    assert_eq!(reference.session_id, child.session_id);
                    linked.push(target);
                }
            }
        }
    }
    let subagents = export
        .trajectories
        .iter()
        .filter(|t| t.role.as_str() == "subagent")
        .count();
    assert_eq!(linked.len(), subagents);
    linked.sort();
    linked.dedup();
    assert_eq!(linked.len(), subagents, "each subagent is linked once");
    trajectories
}

#[test]
fn tiny_run_exports_valid_trajectories_whose_tokens_match_the_turns_table() {
    let out = tempfile::tempdir().unwrap();
    let trajectories = check_export(tiny_report(), out.path());
    let mission_runs: std::collections::BTreeSet<_> = trajectories
        .values()
        .map(|t| {
            (
                extra(t, "mission").to_string(),
                extra(t, "pairing").to_string(),
            )
        })
        .collect();
    assert_eq!(mission_runs.len(), 4, "greet and weak, oracle and nop");
    let subagents = trajectories
        .values()
        .filter(|t| extra(t, "role") == "subagent")
        .count();
    assert!(subagents > 0, "the oracle's plans delegate to subagents");
    for trajectory in trajectories.values() {
        let totals = trajectory.final_metrics.as_ref().unwrap();
        assert!(totals.total_prompt_tokens.is_some_and(|n| n > 0));
        // Unknown stays unknown: the oracle's and nop's estimates know nothing of caches or
        // prices, so neither a step nor a total says 0.
        assert_eq!(totals.total_cached_tokens, None);
        assert_eq!(totals.total_cost_usd, None);
        for step in &trajectory.steps {
            if let Some(metrics) = &step.metrics {
                assert_eq!((metrics.cached_tokens, metrics.cost_usd), (None, None));
            }
        }
    }
}

/// The committed result folders (local models: engine usage, with cache reads) export as well.
#[test]
fn committed_results_export_and_match_their_turns_tables() {
    let mut reports = Vec::new();
    for suite in std::fs::read_dir(repo().join("docs/results")).unwrap() {
        for run in std::fs::read_dir(suite.unwrap().path())
            .into_iter()
            .flatten()
        {
            let run = run.unwrap().path();
            if run.join("events.jsonl").is_file() {
                reports.push(run);
            }
        }
    }
    assert!(!reports.is_empty());
    let mut engine_steps_with_cache = 0;
    for report in &reports {
        let out = tempfile::tempdir().unwrap();
        for trajectory in check_export(report, out.path()).values() {
            engine_steps_with_cache += trajectory
                .steps
                .iter()
                .filter_map(|s| s.metrics.as_ref())
                .filter(|m| {
                    m.cached_tokens.is_some_and(|n| n > 0)
                        && m.extra.as_ref().unwrap()["usage_source"] == "engine"
                })
                .count();
        }
    }
    assert!(engine_steps_with_cache > 0);
}

#[test]
fn the_rfc_example_round_trips_through_the_reader() {
    let fixtures = repo().join("tests/fixtures/atif");
    let rfc = std::fs::read_to_string(fixtures.join("0001-trajectory-format.md")).unwrap();
    assert!(rfc.lines().next().unwrap().contains("harbor"));
    assert!(rfc.contains("**v1.7 (Current)**"));
    let text = std::fs::read_to_string(fixtures.join("rfc-example.json")).unwrap();
    // The example file is the RFC's own, character for character.
    assert!(rfc.contains(text.trim_end()));

    let original: Value = serde_json::from_str(&text).unwrap();
    let trajectory = Trajectory::from_json(&text).unwrap();
    assert_eq!(validate(&trajectory), Vec::new());
    assert_eq!(trajectory.steps.len(), 3);
    let written = serde_json::to_value(&trajectory).unwrap();
    assert_eq!(written, original);
    let again = Trajectory::from_json(&serde_json::to_string_pretty(&trajectory).unwrap()).unwrap();
    assert_eq!(again, trajectory);
}

#[test]
fn a_broken_example_is_refused_with_every_violation_named() {
    let text =
        std::fs::read_to_string(repo().join("tests/fixtures/atif/rfc-example.json")).unwrap();
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value["steps"][1]["observation"]["results"][1]["source_call_id"] = "call_volume_9".into();
    value["steps"][0]["tool_calls"] = value["steps"][1]["tool_calls"].clone();
    value["final_metrics"]["total_completion_tokens"] = 125.into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trajectory.json");
    std::fs::write(&path, value.to_string()).unwrap();
    let error = read_trajectory(&path).unwrap_err();
    let ReadTrajectoryError::Invalid { violations, .. } = &error else {
        panic!("{error}");
    };
    let violations: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert_eq!(
        violations,
        [
            "steps[0].tool_calls: only agent steps (`source: \"agent\"`) may carry it",
            "steps[1].observation.results[1].source_call_id: `call_volume_9` names no tool call of this step",
            "final_metrics.total_completion_tokens: is 125, but the steps' completion_tokens sum to 124",
        ]
    );
    assert!(error.to_string().contains(&path.display().to_string()));

    value["steps"][2]["metrics"]["cached"] = 1.into();
    std::fs::write(&path, value.to_string()).unwrap();
    let error = read_trajectory(&path).unwrap_err().to_string();
    assert!(
        error.contains("is not an ATIF trajectory") && error.contains("unknown field `cached`"),
        "{error}"
    );
}

#[test]
fn a_folder_that_is_no_report_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("not-a-report");
    std::fs::create_dir(&folder).unwrap();
    let error = export_atif(&folder, &dir.path().join("out")).unwrap_err();
    assert!(matches!(error, AtifError::NotAReport { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "`{}` is not a report folder: it has no `events.jsonl` (report folders are what `missions-bench run` writes, reports/<run-id>)",
            folder.display()
        )
    );
    assert!(!dir.path().join("out").exists());
    let error = export_atif(&dir.path().join("gone"), &dir.path().join("out")).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "`{}` is not a report folder: there is no such folder",
            dir.path().join("gone").display()
        )
    );

    let output = missions_bench(
        &["export", "atif", "not-a-report", "--out", "out"],
        dir.path(),
    );
    assert_input_error(&output, "`not-a-report` is not a report folder");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("NotAReport"));
}

#[test]
fn damaged_journal_and_transcript_lines_are_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("report");
    let skipped = copy_tree(tiny_report(), &copy, &[]).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");

    // A transcript line broken in the middle (a torn last line is what a crash leaves, and
    // is ignored).
    let transcript = copy.join("transcripts/greet.oracle.r0/001-orchestrator.jsonl");
    let text = std::fs::read_to_string(&transcript).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"type\":\"message\",\"role\":";
    std::fs::write(&transcript, lines.join("\n") + "\n").unwrap();
    let error = export_atif(&copy, &dir.path().join("out")).unwrap_err();
    assert!(
        matches!(error, AtifError::Transcript { line: 3, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("`{}` line 3: ", transcript.display())),
        "{error}"
    );

    let journal = copy.join("events.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let records: Vec<EventRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records
        .iter()
        .any(|r| matches!(r.event, Event::AgentStarted { .. })));
    let mut lines: Vec<&str> = text.lines().collect();
    lines[4] = "{\"v\":1,\"seq\":4,";
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let output = missions_bench(
        &[
            "export",
            "atif",
            copy.to_str().unwrap(),
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_input_error(&output, &format!("error: `{}` line 5: ", journal.display()));
}

#[test]
fn export_atif_prints_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("atif");
    let output = missions_bench(
        &[
            "export",
            "atif",
            tiny_report().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    let stdout = stdout_of(&output, 0);
    let runs: Vec<RunRow> = read_table(tiny_report()).unwrap();
    assert_eq!(
        stdout,
        format!(
            "exported {} agent run(s) of 4 mission run(s) as ATIF-v1.7 trajectories to {}\n",
            runs.len(),
            out.display()
        )
    );
    let mut files = 0;
    for mission_run in std::fs::read_dir(&out).unwrap() {
        for run in std::fs::read_dir(mission_run.unwrap().path()).unwrap() {
            let path = run.unwrap().path().join("trajectory.json");
            read_trajectory(&path).unwrap();
            files += 1;
        }
    }
    assert_eq!(files, runs.len());
}
