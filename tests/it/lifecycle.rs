//! The mission lifecycle on the shell-only tiny suite: the fix loop, budgets, false green and
//! false red, repeats in parallel, and an environment that cannot be built; and on a mission of
//! three milestones (`tests/fixtures/three-milestones`), whose later rounds check the earlier
//! milestones' assertions again: the milestones table counts those apart, and every count adds
//! up.

use missions_bench::metrics::{MilestoneRow, MissionRow};
use missions_bench::spec::config::Config;

use crate::common::{copy_suite, edit, run, settings, three_milestones_suite, tiny_suite};
use crate::table_invariants::violations;

fn pairing_with(role: &str, model: &str) -> missions_bench::spec::Pairing {
    let config = Config::default_config().unwrap();
    config
        .pairing("oracle")
        .unwrap()
        .with_overrides(&[(role.to_string(), model.to_string())])
        .unwrap()
}

fn mission<'a>(rows: &'a [MissionRow], id: &str) -> &'a MissionRow {
    rows.iter().find(|m| m.mission == id).unwrap()
}

fn milestone_rows<'a>(
    rows: &'a [MilestoneRow],
    mission: &str,
    milestone: &str,
) -> Vec<&'a MilestoneRow> {
    rows.iter()
        .filter(|m| m.mission == mission && m.milestone == milestone)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_become_fix_features_until_rounds_run_out() {
    let out = tempfile::tempdir().unwrap();
    let mut settings = settings(&tiny_suite(), &[], out.path());
    settings.pairings = vec![pairing_with("worker", "nop")];
    let report = run(&settings).await;
    let tables = &report.tables;

    let greet = mission(&tables.missions, "greet");
    assert_eq!(greet.pairing, "oracle+worker=nop");
    assert_eq!(
        (greet.status.as_str(), greet.halt_reason.as_deref()),
        ("halted", Some("max_rounds"))
    );
    assert!(
        greet
            .halt_detail
            .contains("milestone `m1` failed validation in round 2 of 2"),
        "{}",
        greet.halt_detail
    );
    assert_eq!(greet.acceptance_passed, 0);
    assert_eq!(greet.acceptance_total, 3);
    let rounds = milestone_rows(&tables.milestones, "greet", "m1");
    assert_eq!(
        rounds
            .iter()
            .map(|r| (r.round, r.passed))
            .collect::<Vec<_>>(),
        vec![(1, false), (2, false)]
    );
    assert!(rounds[0].fix_features_planned > 0);
    assert_eq!(
        rounds[0].mechanical_fail, 1,
        "A1 is a command assertion and fails without greet.sh"
    );
    assert_eq!(rounds[0].rounds_to_pass, None);
    assert!(
        milestone_rows(&tables.milestones, "greet", "m2").is_empty(),
        "m2 is never reached"
    );
    assert_eq!(greet.fix_features, rounds[0].fix_features_planned);
    let fix_runs: Vec<_> = tables
        .runs
        .iter()
        .filter(|r| r.mission == "greet" && r.task == "fix")
        .collect();
    assert_eq!(
        fix_runs.len(),
        1,
        "fixes are planned after every failed round but the last"
    );
    let fix_workers: Vec<_> = tables
        .runs
        .iter()
        .filter(|r| r.mission == "greet" && r.role == "worker" && r.round == Some(2))
        .collect();
    assert_eq!(fix_workers.len() as u64, greet.fix_features);
    assert!(fix_workers.iter().all(|r| r
        .feature
        .as_deref()
        .is_some_and(|f| f.starts_with("fix-m1-r1-"))));

    // The contract of `weak` cannot tell a missing file: validators pass what acceptance fails.
    let weak = mission(&tables.missions, "weak");
    assert_eq!(
        (weak.status.as_str(), weak.halt_reason.as_deref()),
        ("failed", None)
    );
    assert_eq!(
        (weak.milestones_passed, weak.false_green, weak.false_red),
        (1, 1, 0)
    );
    assert!(milestone_rows(&tables.milestones, "weak", "m1")[0].false_green);
    assert_eq!(violations(tables), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn validators_that_fail_working_code_are_false_red() {
    let out = tempfile::tempdir().unwrap();
    let mut settings = settings(&tiny_suite(), &[], out.path());
    settings.pairings = vec![pairing_with("user_testing", "nop")];
    settings.missions = vec!["greet".to_string()];
    let report = run(&settings).await;
    let greet = mission(&report.tables.missions, "greet");
    assert_eq!(greet.halt_reason.as_deref(), Some("max_rounds"));
    assert_eq!(
        (greet.acceptance_passed, greet.acceptance_total),
        (2, 3),
        "m1's tests pass, m2 was never built"
    );
    assert_eq!(greet.false_red, 1);
    let m1 = milestone_rows(&report.tables.milestones, "greet", "m1");
    assert!(m1
        .iter()
        .all(|r| r.false_red && r.acceptance_ok == Some(true) && r.verdicts_pass == 0));
    let assertions: Vec<_> = report
        .tables
        .assertions
        .iter()
        .filter(|a| a.assertion == "A1")
        .collect();
    assert_eq!(assertions.len(), 2);
    assert!(assertions
        .iter()
        .all(|a| a.validator_status.as_deref() == Some("fail")
            && a.mechanical_status == "pass"
            && !a.passed));
    assert!(assertions
        .iter()
        .all(|a| a.acceptance_status.as_deref() == Some("pass")));
    assert_eq!(violations(&report.tables), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_budget_halts_the_mission() {
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), dir.path());
    edit(
        &suite.join("suite.toml"),
        "max_turns = 40",
        "max_turns = 40\nmax_tokens = 3000",
    );
    let report = run(&settings(&suite, &["oracle"], &dir.path().join("out"))).await;
    for row in &report.tables.missions {
        assert_eq!(
            (row.status.as_str(), row.halt_reason.as_deref()),
            ("halted", Some("max_tokens")),
            "{}",
            row.mission
        );
        assert!(row.input_tokens.unwrap() + row.output_tokens.unwrap() >= 3000);
        assert!(
            row.acceptance_total > 0,
            "ground truth runs whatever the outcome"
        );
    }
    assert_eq!(violations(&report.tables), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn repeats_run_in_parallel_and_are_recorded_apart() {
    let out = tempfile::tempdir().unwrap();
    let mut settings = settings(&tiny_suite(), &["oracle"], out.path());
    settings.repeats = Some(2);
    settings.jobs = 3;
    let report = run(&settings).await;
    let mut keys: Vec<(String, u32)> = report
        .tables
        .missions
        .iter()
        .map(|m| (m.mission.clone(), m.repeat))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            ("greet".into(), 0),
            ("greet".into(), 1),
            ("weak".into(), 0),
            ("weak".into(), 1)
        ]
    );
    assert!(report.tables.missions.iter().all(|m| m.status == "passed"));
    let transcripts = std::fs::read_dir(report.dir.join("transcripts"))
        .unwrap()
        .count();
    assert_eq!(transcripts, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_environment_is_an_infrastructure_error_for_every_mission() {
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), dir.path());
    edit(
        &suite.join("suite.toml"),
        "[defaults]",
        "[environment]\nsetup = [\"echo cannot install >&2; exit 3\"]\n\n[defaults]",
    );
    let mut settings = settings(&suite, &["oracle"], &dir.path().join("out"));
    settings.cache_dir = dir.path().join("cache");
    let report = run(&settings).await;
    assert_eq!(report.tables.missions.len(), 2);
    for row in &report.tables.missions {
        assert_eq!(
            (row.status.as_str(), row.halt_reason.as_deref()),
            ("error", Some("environment_setup_failed"))
        );
        assert!(
            row.halt_detail.contains("cannot install"),
            "{}",
            row.halt_detail
        );
        assert_eq!(row.agent_runs, 0);
    }
}

/// Each round's (milestone, round, passed), own verdicts (pass, fail, assertions_total),
/// regression checks (pass, fail) and mechanical checks (pass, fail).
type RoundCounts<'a> = (&'a str, u32, bool, (u64, u64, u64), (u64, u64), (u64, u64));

fn round_counts(rows: &[MilestoneRow]) -> Vec<RoundCounts<'_>> {
    rows.iter()
        .map(|m| {
            (
                m.milestone.as_str(),
                m.round,
                m.passed,
                (m.verdicts_pass, m.verdicts_fail, m.assertions_total),
                (m.regression_pass.unwrap(), m.regression_fail.unwrap()),
                (m.mechanical_pass, m.mechanical_fail),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn later_milestones_count_their_own_verdicts_apart_from_their_regression_checks() {
    let out = tempfile::tempdir().unwrap();
    let report = run(&settings(
        &three_milestones_suite(),
        &["oracle"],
        out.path(),
    ))
    .await;
    let tables = &report.tables;
    assert_eq!(tables.missions[0].status, "passed");
    // m1 has one assertion, m2 and m3 two each; each milestone's round checks every earlier
    // assertion again, and the harness runs each milestone's own `command` assertion.
    assert_eq!(
        round_counts(&tables.milestones),
        vec![
            ("m1", 1, true, (1, 0, 1), (0, 0), (1, 0)),
            ("m2", 1, true, (2, 0, 2), (1, 0), (1, 0)),
            ("m3", 1, true, (2, 0, 2), (3, 0), (1, 0)),
        ]
    );
    let checked_in_m3: Vec<(&str, &str)> = tables
        .assertions
        .iter()
        .filter(|a| a.checked_in == "m3")
        .map(|a| (a.assertion.as_str(), a.milestone.as_str()))
        .collect();
    assert_eq!(
        checked_in_m3,
        vec![
            ("A1", "m1"),
            ("A2", "m2"),
            ("A3", "m2"),
            ("A4", "m3"),
            ("A5", "m3")
        ]
    );
    assert_eq!(violations(tables), Vec::<String>::new());
    // The Parquet tables read back the same.
    let read = missions_bench::report::read_tables(&report.dir).unwrap();
    assert_eq!(&read, tables);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_milestone_that_breaks_earlier_work_fails_its_regression_checks() {
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&three_milestones_suite(), dir.path());
    // m3's reference says `hi` where m1 and m2 say `hello`: A1 and A2 fail in m3's rounds.
    edit(
        &suite.join("greet/solution/f3/greet.sh"),
        "greeting=\"hello\"",
        "greeting=\"hi\"",
    );
    let report = run(&settings(&suite, &["oracle"], &dir.path().join("out"))).await;
    let tables = &report.tables;
    let mission = &tables.missions[0];
    assert_eq!(
        (mission.status.as_str(), mission.halt_reason.as_deref()),
        ("halted", Some("max_rounds"))
    );
    // A fix re-applies m3's reference, so its second round fails as its first.
    assert_eq!(
        round_counts(&tables.milestones),
        vec![
            ("m1", 1, true, (1, 0, 1), (0, 0), (1, 0)),
            ("m2", 1, true, (2, 0, 2), (1, 0), (1, 0)),
            ("m3", 1, false, (2, 0, 2), (1, 2), (1, 0)),
            ("m3", 2, false, (2, 0, 2), (1, 2), (1, 0)),
        ]
    );
    for m3 in tables.milestones.iter().filter(|m| m.milestone == "m3") {
        assert!(m3.findings_blocking >= 2 && m3.open_blocking >= 2);
    }
    // Acceptance agrees: m1 and m2 passed validation but fail now, m3 works.
    let flags: Vec<(&str, bool, bool)> = tables
        .milestones
        .iter()
        .map(|m| (m.milestone.as_str(), m.false_green, m.false_red))
        .collect();
    assert_eq!(
        flags,
        vec![
            ("m1", true, false),
            ("m2", true, false),
            ("m3", false, true),
            ("m3", false, true)
        ]
    );
    assert_eq!(violations(tables), Vec::<String>::new());
}
