//! The core suite end to end: the oracle passes everything in round 1, nop fails acceptance,
//! and the Parquet tables hold what happened, readable by an independent reader.

use std::collections::BTreeMap;

use missions_bench::metrics::{MissionRow, RunRow};
use missions_bench::mission::env::prepare_environment;
use missions_bench::report::read_tables;
use missions_bench::spec::suite::{load_suite, EnvironmentSpec};

use crate::common::{core_suite, run, settings, setup_env, shared_cache};

#[tokio::test(flavor = "multi_thread")]
async fn oracle_passes_every_milestone_in_round_one() {
    let out = tempfile::tempdir().unwrap();
    let report = run(&settings(&core_suite(), &["oracle"], out.path())).await;
    let suite = load_suite(&core_suite()).unwrap();
    let tables = &report.tables;
    assert_eq!(tables.missions.len(), suite.missions.len());
    assert!(suite.missions.len() >= 3);

    for mission in &suite.missions {
        let id = mission.id().as_str();
        let row: &MissionRow = tables.missions.iter().find(|m| m.mission == id).unwrap();
        let reference = &mission.reference;
        assert_eq!(
            row.status,
            "passed",
            "{id}: {} {}",
            row.halt_detail,
            row.acceptance_error.clone().unwrap_or_default()
        );
        assert_eq!(row.halt_reason, None);
        assert!(row.acceptance_total > 0);
        assert_eq!(row.acceptance_passed, row.acceptance_total, "{id}");
        assert_eq!(row.acceptance_unmapped, 0, "{id}");
        assert_eq!(row.milestones_total, reference.milestones.len() as u64);
        assert_eq!(row.milestones_passed, row.milestones_total);
        assert_eq!(
            row.rounds,
            reference.milestones.len() as u64,
            "{id}: one round per milestone"
        );
        assert_eq!(row.rounds_to_pass_max, Some(1));
        assert_eq!(row.features, reference.features.len() as u64);
        assert_eq!(row.fix_features, 0);
        assert_eq!(row.findings_blocking, 0);
        assert_eq!((row.false_green, row.false_red), (0, 0));
        assert_eq!(row.usage_source, "estimate");
        assert_eq!(row.cache_read_tokens, None, "estimates claim no cache hits");
        assert!(row.input_tokens.unwrap() > 0 && row.output_tokens.unwrap() > 0);
        assert_eq!(
            row.difficulty.as_deref(),
            Some(mission.file.difficulty.as_str())
        );
        assert_eq!(
            row.language.as_deref(),
            Some(mission.file.language.as_str())
        );
        assert_eq!(row.tags, mission.file.tags.join(","));
        if mission.file.coverage.is_some() {
            assert!(
                row.coverage_pct.unwrap() > 50.0,
                "{id}: {:?} {:?}",
                row.coverage_pct,
                row.coverage_error
            );
        } else {
            // No coverage tool for the language here: unknown, never zero.
            assert_eq!(
                (row.coverage_pct, &row.coverage_error),
                (None, &None),
                "{id}"
            );
        }
        assert!(row.lines_src > 0 && row.lines_test > 0);
        if let Some(mutation) = mission.file.mutation.as_ref() {
            check_mutation(id, row, u64::from(mutation.max_mutants));
        } else {
            // The builtin operators are Python's: other languages have no mutation score.
            assert_eq!(
                (row.mutation_score, row.mutants_total),
                (None, None),
                "{id}"
            );
        }
        assert_eq!(
            row.tdd_share,
            Some(1.0),
            "{id}: the oracle writes tests first"
        );

        // One orchestrator, a worker and a scrutiny validator per feature, a user tester per milestone.
        let runs: Vec<&RunRow> = tables.runs.iter().filter(|r| r.mission == id).collect();
        let count = |role: &str| runs.iter().filter(|r| r.role == role).count();
        assert_eq!(count("orchestrator"), 1);
        assert_eq!(count("worker"), reference.features.len());
        assert_eq!(count("scrutiny"), reference.features.len());
        assert_eq!(count("user_testing"), reference.milestones.len());
        // The oracle orchestrator delegates one survey to a subagent.
        let orchestrator = runs.iter().find(|r| r.role == "orchestrator").unwrap();
        let subagent = runs.iter().find(|r| r.role == "subagent").unwrap();
        assert_eq!(subagent.parent_agent_run, Some(orchestrator.agent_run));
        assert_eq!(orchestrator.parent_agent_run, None);
        assert_eq!(runs.len() as u64, row.agent_runs);
        assert!(runs.iter().all(|r| r.outcome == "finished"
            && r.malformed_calls == 0
            && r.unknown_tool_calls == 0));
        for worker in runs.iter().filter(|r| r.role == "worker") {
            assert_eq!(worker.round, Some(1));
            assert!(worker.feature.is_some() && worker.milestone.is_some());
            assert_eq!(worker.tests_before_source, Some(true));
        }
        let turns: u64 = runs.iter().map(|r| u64::from(r.turns)).sum();
        assert_eq!(
            tables.turns.iter().filter(|t| t.mission == id).count() as u64,
            turns
        );

        for milestone in tables.milestones.iter().filter(|m| m.mission == id) {
            assert_eq!(
                (milestone.round, milestone.passed, milestone.rounds_to_pass),
                (1, true, Some(1))
            );
            assert_eq!(milestone.acceptance_ok, Some(true));
            assert_eq!(milestone.verdicts_fail + milestone.mechanical_fail, 0);
        }
        let assertions = tables.assertions.iter().filter(|a| a.mission == id);
        assert!(assertions.clone().count() >= reference.assertions.len());
        assert!(assertions
            .clone()
            .all(|a| a.passed && a.validator_status.as_deref() == Some("pass")));
        let mechanical = assertions
            .clone()
            .filter(|a| a.mechanical_status == "pass")
            .count();
        let checked = |a: &&missions_bench::spec::Assertion| {
            use missions_bench::spec::Verify;
            matches!(a.verify, Verify::Command | Verify::Browser)
        };
        let command_assertions = reference.assertions.iter().filter(checked).count();
        assert_eq!(mechanical, command_assertions, "{id}");
        // Each browser assertion cites the oracle user tester's screenshot and the harness's
        // check's, and both files are PNGs that open.
        for browser in reference
            .assertions
            .iter()
            .filter(|a| a.verify == missions_bench::spec::Verify::Browser)
        {
            let row = assertions
                .clone()
                .find(|a| a.assertion == browser.id.as_str())
                .unwrap();
            let cited: Vec<&str> = row.evidence.split(", ").collect();
            assert_eq!(cited.len(), 2, "{id} {}: {}", browser.id, row.evidence);
            for path in cited {
                let png = std::fs::read(report.dir.join(path)).unwrap();
                assert_eq!(&png[..4], b"\x89PNG", "{path}");
            }
        }

        let transcripts = report
            .dir
            .join("transcripts")
            .join(format!("{id}.oracle.r0"));
        assert_eq!(std::fs::read_dir(&transcripts).unwrap().count(), runs.len());
        assert!(report
            .dir
            .join("diffs")
            .join(format!("{id}.oracle.r0.patch"))
            .is_file());
    }

    for name in [
        "run.json",
        "events.jsonl",
        "missions.parquet",
        "milestones.parquet",
        "runs.parquet",
        "turns.parquet",
        "assertions.parquet",
    ] {
        assert!(report.dir.join(name).is_file(), "{name}");
    }
    let info = missions_bench::report::read_run_info(&report.dir).unwrap();
    assert_eq!(
        info.outcome.get("passed").copied(),
        Some(suite.missions.len() as u64)
    );
    assert_eq!(info.suite.hash, suite.hash);
    assert_eq!(info.prompts.len(), 6);
    assert!(info.finished_at.is_some());

    // What was written reads back the same.
    assert_eq!(&read_tables(&report.dir).unwrap(), tables);

    independent_reader_agrees(&report.dir, tables).await;
}

/// pyarrow, installed through the suite environment mechanism, reads every table.
async fn independent_reader_agrees(
    dir: &std::path::Path,
    tables: &missions_bench::metrics::Tables,
) {
    let spec = EnvironmentSpec {
        setup: vec![
            "python3 -m venv {env}/venv".to_string(),
            "{env}/venv/bin/python -m pip install --quiet pyarrow==18.1.0".to_string(),
        ],
        path: vec!["{env}/venv/bin".to_string()],
        vars: Default::default(),
    };
    let emitter = missions_bench::events::Emitter::new(Vec::new());
    let environment = prepare_environment(&spec, &shared_cache(), &setup_env(), &emitter)
        .await
        .unwrap();
    let python = environment.dir.unwrap().join("venv/bin/python");
    let script = r#"
import json, sys
import pyarrow.parquet as pq
out = {}
for name in ["missions", "milestones", "runs", "turns", "assertions"]:
    table = pq.read_table(f"{sys.argv[1]}/{name}.parquet")
    out[name] = {"rows": table.num_rows, "columns": table.column_names, "first": table.slice(0, 1).to_pylist()}
print(json.dumps(out))
"#;
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows: BTreeMap<&str, usize> = [
        ("missions", tables.missions.len()),
        ("milestones", tables.milestones.len()),
        ("runs", tables.runs.len()),
        ("turns", tables.turns.len()),
        ("assertions", tables.assertions.len()),
    ]
    .into_iter()
    .collect();
    for (name, count) in rows {
        assert_eq!(seen[name]["rows"], count, "{name}");
        let columns: Vec<&str> = seen[name]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(columns[0], "schema_version", "{name}");
        assert!(
            columns.contains(&"run_id")
                && columns.contains(&"mission")
                && columns.contains(&"pairing"),
            "{name}"
        );
    }
    let first = &seen["missions"]["first"][0];
    let row = &tables.missions[0];
    assert_eq!(first["mission"], row.mission.as_str());
    assert_eq!(first["status"], "passed");
    assert_eq!(first["acceptance_passed"], row.acceptance_passed);
    assert_eq!(first["cache_read_tokens"], serde_json::Value::Null);
    assert_eq!(first["input_tokens"], row.input_tokens.unwrap());
    assert_eq!(
        first["schema_version"],
        missions_bench::metrics::SCHEMA_VERSION
    );
}

/// The reference tests kill mutants of the reference product.
fn check_mutation(id: &str, row: &MissionRow, max_mutants: u64) {
    let killed = row.mutants_killed.unwrap();
    assert!(
        killed > 0 && row.mutation_score.is_some(),
        "{id}: {:?} {:?}",
        row.mutation_score,
        row.mutation_error
    );
    assert!(row.mutants_total.unwrap() <= max_mutants);
    assert_eq!(
        row.mutants_total,
        Some(killed + row.mutants_survived.unwrap()),
        "{id}: every mutant could be written and run"
    );
    assert_eq!(row.mutation_error, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn nop_fails_acceptance_and_says_why() {
    let out = tempfile::tempdir().unwrap();
    let report = run(&settings(&core_suite(), &["nop"], out.path())).await;
    let suite = load_suite(&core_suite()).unwrap();
    assert_eq!(report.tables.missions.len(), suite.missions.len());
    for row in &report.tables.missions {
        let mission = suite
            .missions
            .iter()
            .find(|m| m.id().as_str() == row.mission)
            .unwrap();
        assert_eq!(row.status, "halted", "{}", row.mission);
        assert_eq!(row.halt_reason.as_deref(), Some("no_plan"));
        assert!(
            row.halt_detail.contains("without a contract"),
            "{}",
            row.halt_detail
        );
        if mission.file.language == "rust" && row.acceptance_total == 0 {
            // Hidden tests that do not build without the product (`roman`): no test ran, and
            // it says so. Where the workspace's stub builds (`ledger`), they run and fail.
            let error = row.acceptance_error.as_deref().unwrap_or_default();
            assert!(
                error.contains("no libtest JSON"),
                "{}: {error}",
                row.mission
            );
        } else {
            assert!(
                row.acceptance_total > 0,
                "{}: {:?}",
                row.mission,
                row.acceptance_error
            );
            assert!(row.acceptance_passed < row.acceptance_total);
        }
        assert_eq!(row.agent_runs, 1);
        if mission.file.mutation.is_none() {
            assert_eq!((row.mutation_score, row.mutants_total), (None, None));
            continue;
        }
        // Nothing was written, so there is nothing to mutate: no score, and a reason.
        assert_eq!(row.mutation_score, None);
        assert_eq!(row.mutants_total, Some(0));
        assert!(
            row.mutation_error
                .as_deref()
                .is_some_and(|e| e.starts_with("no mutants")),
            "{}: {:?}",
            row.mission,
            row.mutation_error
        );
    }
    assert!(report.dir.join("missions.parquet").is_file());
}

/// A product without the agents' own tests has no mutation score, and says why: the tests
/// do not pass on the unmutated product, so no mutant can be judged.
#[tokio::test(flavor = "multi_thread")]
async fn a_product_without_its_own_tests_gets_no_mutation_score() {
    let dir = tempfile::tempdir().unwrap();
    let suite = crate::common::copy_suite(&core_suite(), dir.path());
    for feature in ["f1", "f2"] {
        std::fs::remove_dir_all(suite.join("wordfreq/solution").join(feature).join("tests"))
            .unwrap();
    }
    let mut settings = settings(&suite, &["oracle"], &dir.path().join("out"));
    settings.missions = vec!["wordfreq".to_string()];
    let report = run(&settings).await;
    let row = &report.tables.missions[0];
    assert_eq!(
        row.acceptance_passed, row.acceptance_total,
        "the product is whole"
    );
    assert_eq!(row.lines_test, 0);
    assert_eq!(row.mutation_score, None);
    assert_eq!((row.mutants_total, row.mutants_killed), (Some(0), Some(0)));
    let error = row.mutation_error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("the mission's own tests fail on the unmutated product (exit code 5)"),
        "{error}"
    );
}

/// A stop that comes as the mutants are about to run ends the mission as interrupted, with the
/// mutation unfinished.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_during_mutation_interrupts_the_mission() {
    struct StopAfterCoverage(std::sync::Arc<missions_bench::stop::StopSignal>);
    impl missions_bench::events::EventSink for StopAfterCoverage {
        fn record(&self, record: &missions_bench::events::EventRecord) {
            if matches!(
                record.event,
                missions_bench::events::Event::CoverageMeasured { .. }
            ) {
                self.0.stop();
            }
        }
    }
    let out = tempfile::tempdir().unwrap();
    let mut settings = settings(&core_suite(), &["oracle"], out.path());
    settings.missions = vec!["wordfreq".to_string()];
    let sink = std::sync::Arc::new(StopAfterCoverage(settings.stop.clone()));
    let report = missions_bench::mission::run_suite(&settings, vec![sink])
        .await
        .unwrap();
    let row = &report.tables.missions[0];
    assert_eq!(row.status, "interrupted", "{}", row.halt_detail);
    assert_eq!(row.mutation_score, None);
    assert_eq!(
        row.mutation_error.as_deref(),
        Some("the run was interrupted while mutants were tested")
    );
}
