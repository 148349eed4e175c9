//! The fix loop against a worker that never finishes: a scripted server on 127.0.0.1 answers
//! every worker turn with `blocked`, the oracle plays every other role on the tiny suite's
//! `greet`. Findings become one fix feature per feature and round, a feature never finished is
//! redone as one fix, and the fix budget halts the mission with its own reason.

use std::path::Path;

use serde_json::json;

use missions_bench::events::{read_events, Event};
use missions_bench::mission::RunReport;
use missions_bench::spec::config::Config;
use missions_bench::spec::Feature;

use crate::common::{copy_suite, edit, run, settings, tiny_suite};
use crate::http_server::{openai, ScriptedServer};

/// A server whose model declares itself blocked at its first turn, whatever it is asked.
async fn stuck_server() -> ScriptedServer {
    ScriptedServer::start(|_, _| {
        openai::tool_calls(
            "",
            &[("blocked", r#"{"reason": "I cannot make progress here"}"#)],
            json!({"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129}),
        )
    })
    .await
}

/// Runs `greet` with the stuck worker, three rounds per milestone and more budget lines.
async fn run_stuck(server: &ScriptedServer, dir: &Path, budget: &str) -> RunReport {
    let suite = copy_suite(&tiny_suite(), dir);
    edit(
        &suite.join("suite.toml"),
        "max_rounds = 2",
        &format!("max_rounds = 3\n{budget}"),
    );
    let text = format!(
        r#"default_pairing = "stuck"

[models.oracle]
provider = "oracle"

[models.stuck]
provider = "openai"
base_url = "{}"
model = "stuck-model"
max_retries = 0

[pairings.stuck]
orchestrator = "oracle"
worker = "stuck"
validator = "oracle"
"#,
        server.base_url()
    );
    let config = Config::parse(Path::new("stuck.toml"), &text).expect("config");
    let mut settings = settings(&suite, &[], &dir.join("out"));
    settings.pairings = vec![config.pairing("stuck").expect("pairing")];
    settings.config = config;
    settings.missions = vec!["greet".to_string()];
    run(&settings).await
}

/// Fix features planned after each round, from the journal.
fn fixes_by_round(report: &RunReport) -> Vec<(u32, Vec<Feature>)> {
    read_events(&report.dir.join("events.jsonl"))
        .expect("journal")
        .into_iter()
        .filter_map(|record| match record.event {
            Event::FeaturesPlanned {
                after_round: Some(round),
                features,
                ..
            } => Some((round, features)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_never_finishes_is_redone_as_one_fix_per_round() {
    let dir = tempfile::tempdir().unwrap();
    let server = stuck_server().await;
    let report = run_stuck(&server, dir.path(), "").await;
    let tables = &report.tables;
    let greet = &tables.missions[0];
    assert_eq!(
        (greet.status.as_str(), greet.halt_reason.as_deref()),
        ("halted", Some("max_rounds")),
        "{}",
        greet.halt_detail
    );

    // Round 1's findings all concern f1 (its worker did not finish, its tests fail, A1, which
    // it claims, fails both checks): one fix addresses all of them.
    let journal = read_events(&report.dir.join("events.jsonl")).expect("journal");
    let raised_in_round_one: Vec<String> = journal
        .iter()
        .filter_map(|record| match &record.event {
            Event::FindingRaised { finding, .. } if finding.round == 1 => Some(finding.id.clone()),
            _ => None,
        })
        .collect();
    assert!(raised_in_round_one.len() >= 3, "{raised_in_round_one:?}");
    let fixes = fixes_by_round(&report);
    assert_eq!(
        fixes
            .iter()
            .map(|(round, features)| (*round, features.len()))
            .collect::<Vec<_>>(),
        vec![(1, 1), (2, 1)],
        "one fix per round for the one feature, none after the last round"
    );
    let mut addressed = fixes[0].1[0].addresses.clone();
    addressed.sort();
    let mut expected = raised_in_round_one.clone();
    expected.sort();
    assert_eq!(addressed, expected);

    // Each new "did not finish" replaces the previous one.
    let superseded: Vec<(Vec<String>, String)> = journal
        .iter()
        .filter_map(|record| match &record.event {
            Event::FindingsClosed {
                ids,
                superseded_by: Some(by),
            } => Some((ids.clone(), by.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(superseded.len(), 2, "{superseded:?}");
    assert!(superseded.iter().all(|(ids, _)| ids.len() == 1));

    // The same counts in the tables.
    assert_eq!(greet.fix_features, 2);
    let planned: Vec<(u32, u64)> = tables
        .milestones
        .iter()
        .filter(|m| m.milestone == "m1")
        .map(|m| (m.round, m.fix_features_planned))
        .collect();
    assert_eq!(planned, vec![(1, 1), (2, 1), (3, 0)]);
    let workers = tables.runs.iter().filter(|r| r.role == "worker").count();
    assert_eq!(workers, 3, "one worker run per round");
    let fix_plans = tables.runs.iter().filter(|r| r.task == "fix").count();
    assert_eq!(fix_plans, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fix_budget_halts_the_mission() {
    let dir = tempfile::tempdir().unwrap();
    let server = stuck_server().await;
    let report = run_stuck(&server, dir.path(), "max_fix_features = 1").await;
    let greet = &report.tables.missions[0];
    assert_eq!(
        (greet.status.as_str(), greet.halt_reason.as_deref()),
        ("halted", Some("max_fix_features"))
    );
    assert_eq!(
        greet.halt_detail,
        "milestone `m1` would need 2 fix features after round 2 (1 planned before, 1 more for \
         its open findings); the budget is 1 per milestone"
    );
    assert_eq!(greet.fix_features, 1);
    assert_eq!(
        fixes_by_round(&report).len(),
        1,
        "the orchestrator is not asked for fixes the budget cannot take"
    );
    assert!(
        greet.acceptance_total > 0,
        "ground truth runs whatever the outcome"
    );
}
