//! The mission lifecycle on the shell-only tiny suite: the fix loop, budgets, false green and
//! false red, repeats in parallel, and an environment that cannot be built.

use missions_bench::metrics::{MilestoneRow, MissionRow};
use missions_bench::spec::config::Config;

use crate::common::{copy_suite, edit, run, settings, tiny_suite};

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
