//! Counterfactual replay (`run --replay`) on the tiny suite: replaying every role reproduces the
//! recorded tables without a model; a live validator that always fails leaves the record at the
//! fix round the record does not have (recorded as `replay_diverged`), then halts or goes on
//! live; `compare` marks replays and sets validators side by side on identical work; `check`
//! refuses to gate a replay against a live run; bad input is refused by name.

use std::path::Path;

use missions_bench::events::{read_events, Event};
use missions_bench::metrics::table::{ColumnData, TableRow};
use missions_bench::metrics::Tables;
use missions_bench::report::{read_run_info, read_tables};

use crate::common::{
    assert_input_error, missions_bench, report_of, run_tiny, stable_columns, stdout_of, text,
    tiny_suite,
};

/// `run` of the tiny suite into `out` replaying `recording`, with more flags.
fn replay(cwd: &Path, out: &Path, recording: &str, flags: &[&str]) -> std::process::Output {
    let suite = tiny_suite();
    let mut args = vec![
        "run",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
        "--replay",
        recording,
    ];
    args.extend_from_slice(flags);
    missions_bench(&args, cwd)
}

/// A table's stable columns but the one a replay adds: which record each run was served from.
fn comparable<R: TableRow>(rows: &[R]) -> Vec<(&'static str, ColumnData)> {
    stable_columns(rows)
        .into_iter()
        .filter(|(name, _)| *name != "replayed_from")
        .collect()
}

fn assert_comparable(a: &Tables, b: &Tables) {
    assert_eq!(comparable(&a.missions), comparable(&b.missions), "missions");
    assert_eq!(
        comparable(&a.milestones),
        comparable(&b.milestones),
        "milestones"
    );
    assert_eq!(comparable(&a.runs), comparable(&b.runs), "runs");
    assert_eq!(comparable(&a.turns), comparable(&b.turns), "turns");
    assert_eq!(
        comparable(&a.assertions),
        comparable(&b.assertions),
        "assertions"
    );
}

fn run_id(report: &str) -> String {
    Path::new(report)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn replaying_every_role_reproduces_the_recorded_tables_without_calling_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = run_tiny(dir.path(), &dir.path().join("recorded"), &[]);
    let output = replay(dir.path(), &dir.path().join("replayed"), &recorded, &[]);
    let replayed = report_of(&output);
    let (a, b) = (
        read_tables(Path::new(&recorded)).unwrap(),
        read_tables(Path::new(&replayed)).unwrap(),
    );
    assert!(!a.runs.is_empty());
    assert_comparable(&a, &b);
    // Every agent run, subagents' included, was served from the record under its own number.
    let id = run_id(&recorded);
    for run in &b.runs {
        assert_eq!(
            run.replayed_from.as_deref(),
            Some(format!("{id} run {}", run.agent_run).as_str()),
            "{} run {}",
            run.mission,
            run.agent_run
        );
    }
    assert!(b.missions.iter().all(|m| m.replay_diverged.is_none()));
    // No model was called: the only model loaded is the replay, which answers no call.
    let records = read_events(&Path::new(&replayed).join("events.jsonl")).unwrap();
    let loaded: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ModelLoaded { provider, .. } => Some(provider.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(loaded, ["replay"]);
    // Each role's recorded model, served by the replay.
    let providers: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::MissionStarted { models, .. } => Some(models.values()),
            _ => None,
        })
        .flatten()
        .map(|m| m.provider.as_str())
        .collect();
    assert!(providers.len() == 10 && providers.iter().all(|p| *p == "replay"));
    let info = read_run_info(Path::new(&replayed)).unwrap();
    assert_eq!(info.replays.len(), 1);
    assert_eq!(info.replays[0].recording, id);
    assert_eq!(info.replays[0].on_divergence, "halt");
    // The transcripts and the final diffs are the record's.
    for folder in ["transcripts", "diffs"] {
        for entry in walkdir::WalkDir::new(Path::new(&recorded).join(folder)) {
            let entry = entry.unwrap();
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(Path::new(&recorded)).unwrap();
            assert_eq!(
                std::fs::read(entry.path()).unwrap(),
                std::fs::read(Path::new(&replayed).join(relative)).unwrap(),
                "{}",
                relative.display()
            );
        }
    }
    // A replay is itself a record: it kept its checkpoints and replays again.
    let again = report_of(&replay(
        dir.path(),
        &dir.path().join("again"),
        &replayed,
        &[],
    ));
    assert_comparable(&a, &read_tables(Path::new(&again)).unwrap());
}

#[test]
fn a_live_validator_that_always_fails_diverges_into_a_fix_round_and_counts_false_reds() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = run_tiny(dir.path(), &dir.path().join("recorded"), &[]);
    let id = run_id(&recorded);
    let recorded_tables = read_tables(Path::new(&recorded)).unwrap();
    assert!(recorded_tables
        .missions
        .iter()
        .all(|m| m.status == "passed" && m.false_red == 0));

    // `nop` validators fail every milestone; the recorded (oracle) ones passed them.
    let output = replay(
        dir.path(),
        &dir.path().join("live"),
        &recorded,
        &["--live", "validator=nop", "--on-divergence", "live"],
    );
    let live = report_of(&output);
    let tables = read_tables(Path::new(&live)).unwrap();
    assert_eq!(tables.missions.len(), 2);
    for mission in &tables.missions {
        assert_eq!(mission.pairing, "oracle+validator=nop");
        assert_eq!(mission.halt_reason.as_deref(), Some("max_rounds"));
        // The oracle's work on m1 passes acceptance; the validators failed it: a false red.
        assert!(mission.acceptance_passed > 0);
        assert_eq!(mission.false_red, 1, "{}", mission.mission);
        let diverged = mission.replay_diverged.as_deref().unwrap();
        assert!(diverged.starts_with(&format!("run 6 ({id}")), "{diverged}");
    }
    let records = read_events(&Path::new(&live).join("events.jsonl")).unwrap();
    let divergences: Vec<(&str, u32, Option<u32>, &str, &str)> = records
        .iter()
        .filter_map(|r| match (&r.mission, &r.event) {
            (
                Some(key),
                Event::ReplayDiverged {
                    run,
                    recorded_run,
                    detail,
                    then,
                    recording,
                    ..
                },
            ) => {
                assert_eq!(recording, &id);
                Some((
                    key.mission.as_str(),
                    *run,
                    *recorded_run,
                    detail.as_str(),
                    then.as_str(),
                ))
            }
            _ => None,
        })
        .collect();
    assert_eq!(divergences.len(), 2, "{divergences:?}");
    let greet = divergences.iter().find(|d| d.0 == "greet").unwrap();
    assert_eq!((greet.1, greet.2, greet.4), (6, Some(6), "live"));
    assert_eq!(
        greet.3,
        "the record's run 6 is worker of milestone m2 feature f2 round 1, but the mission now starts orchestrator of milestone m1 round 1"
    );
    let weak = divergences.iter().find(|d| d.0 == "weak").unwrap();
    assert_eq!((weak.1, weak.2), (6, None));
    assert!(weak
        .3
        .contains("after the last finished run of the record (it ended passed)"));

    // The fix round the record does not have ran live, on the recorded models.
    let greet_runs: Vec<_> = tables
        .runs
        .iter()
        .filter(|r| r.mission == "greet")
        .collect();
    let fix_worker = greet_runs
        .iter()
        .find(|r| r.role == "worker" && r.round == Some(2))
        .expect("a fix round");
    assert_eq!(fix_worker.model, "oracle");
    assert_eq!(fix_worker.replayed_from, None);
    let served: Vec<u32> = greet_runs
        .iter()
        .filter(|r| r.replayed_from.is_some())
        .map(|r| r.agent_run)
        .collect();
    assert_eq!(
        served,
        [1, 2, 3],
        "the plan, its subagent and the first worker"
    );
    assert!(greet_runs
        .iter()
        .filter(|r| r.role == "scrutiny" || r.role == "user_testing")
        .all(|r| r.model == "nop" && r.replayed_from.is_none()));
    let m1_rounds: Vec<(u32, bool)> = tables
        .milestones
        .iter()
        .filter(|m| m.mission == "greet" && m.milestone == "m1")
        .map(|m| (m.round, m.passed))
        .collect();
    assert_eq!(m1_rounds, [(1, false), (2, false)]);

    // The viewer shows which runs were served and where the replay left its record.
    let site = dir.path().join("site");
    stdout_of(
        &missions_bench(
            &["view", &live, "--static", site.to_str().unwrap()],
            dir.path(),
        ),
        0,
    );
    let page = std::fs::read_to_string(site.join("r/0/m/greet.oracle_validator_nop.r0/index.html"))
        .unwrap();
    assert!(
        page.contains(&format!("(served from {id} run 3)")),
        "{page}"
    );
    assert!(page.contains("replay diverged"), "{page}");
    assert!(
        page.contains(&format!("from {id} run 6: the record")),
        "{page}"
    );

    // Told to halt, the mission stops where it leaves the record; the ground truth is still
    // measured on the work served until then.
    let halted = report_of(&replay(
        dir.path(),
        &dir.path().join("halted"),
        &recorded,
        &["--live", "validator=nop"],
    ));
    let halted_tables = read_tables(Path::new(&halted)).unwrap();
    for mission in &halted_tables.missions {
        assert_eq!(mission.status, "halted");
        assert_eq!(mission.halt_reason.as_deref(), Some("replay_diverged"));
        assert!(
            mission
                .halt_detail
                .contains(&format!("the replay of {id} left its record at run 6")),
            "{}",
            mission.halt_detail
        );
        assert!(mission.acceptance_total > 0);
    }
    assert!(halted_tables.runs.iter().all(|r| r.agent_run <= 5));

    // Validators side by side on the same recorded work: the oracle's against nop's.
    let oracle = report_of(&replay(
        dir.path(),
        &dir.path().join("oracle"),
        &recorded,
        &["--live", "validator=oracle"],
    ));
    let output = missions_bench(
        &[
            "compare",
            &live,
            &oracle,
            "--baseline",
            "oracle+validator=oracle",
            "--format",
            "json",
        ],
        dir.path(),
    );
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&output, 0)).unwrap();
    let validators = &json["validators"][0];
    assert_eq!(validators["candidate"], "oracle+validator=nop");
    // The first round of each milestone both judged: greet m1 and weak m1.
    assert_eq!(validators["rounds"], 2);
    assert_eq!(validators["only_baseline_right"], 2);
    assert_eq!(validators["candidate_false_red"], 2);
    assert_eq!(validators["baseline_false_red"], 0);
    assert_eq!(validators["mcnemar_p"], 0.5);
    let nop = json["pairings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pairing"] == "oracle+validator=nop")
        .unwrap();
    assert_eq!(nop["false_red"], 2);
    assert_eq!(nop["false_red_rate"], 1.0);
    assert_eq!(nop["replay_diverged"], 2);
    let table = stdout_of(&missions_bench(&["compare", &live, &oracle], dir.path()), 0);
    assert!(table.contains("validators on identical work"), "{table}");
    assert!(
        table.contains("pairing `oracle+validator=nop` is a replay: 6 of 18 agent runs were served from recorded run"),
        "{table}"
    );
}

#[test]
fn check_refuses_to_gate_a_replay_against_a_live_run_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = run_tiny(dir.path(), &dir.path().join("recorded"), &[]);
    let replayed = report_of(&replay(
        dir.path(),
        &dir.path().join("replayed"),
        &recorded,
        &[],
    ));
    let gate = |extra: &[&str]| {
        let mut args = vec![
            "check",
            replayed.as_str(),
            "--baseline",
            recorded.as_str(),
            "--max-drop",
            "pass_rate=0.05",
        ];
        args.extend_from_slice(extra);
        missions_bench(&args, dir.path())
    };
    assert_input_error(
        &gate(&[]),
        "a replay serves recorded work instead of its models",
    );
    let allowed = gate(&["--allow-replay"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed.stderr));
}

#[test]
fn a_replay_model_in_the_config_serves_its_roles_and_bad_replays_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = run_tiny(dir.path(), &dir.path().join("recorded"), &[]);
    let config = dir.path().join("replay.toml");
    std::fs::write(
        &config,
        format!(
            "default_pairing = \"held\"\n\n[models.oracle]\nprovider = \"oracle\"\n\n[models.recorded]\nprovider = \"replay\"\nreport = \"{recorded}\"\n\n[pairings.held]\norchestrator = \"recorded\"\nworker = \"recorded\"\nvalidator = \"oracle\"\n"
        ),
    )
    .unwrap();
    let report = run_tiny(
        dir.path(),
        &dir.path().join("config"),
        &["--config", config.to_str().unwrap()],
    );
    let tables = read_tables(Path::new(&report)).unwrap();
    assert!(tables.missions.iter().all(|m| m.status == "passed"));
    for run in &tables.runs {
        let served = matches!(run.role.as_str(), "orchestrator" | "subagent" | "worker");
        assert_eq!(
            run.replayed_from.is_some(),
            served,
            "{} {}",
            run.mission,
            run.role
        );
    }
    // A replay is not resumed: it is run again.
    let suite = tiny_suite();
    assert_input_error(
        &missions_bench(
            &[
                "run",
                suite.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
                "--resume",
                &report,
            ],
            dir.path(),
        ),
        "a counterfactual replay (a pairing with a `replay` model) cannot be resumed",
    );

    // A replay model without its recording is refused with file, line and field.
    std::fs::write(
        &config,
        "default_pairing = \"held\"\n\n[models.recorded]\nprovider = \"replay\"\non_divergence = \"maybe\"\n\n[pairings.held]\norchestrator = \"recorded\"\n",
    )
    .unwrap();
    let output = missions_bench(
        &[
            "run",
            tiny_suite().to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_input_error(&output, "a replay model needs `report`");
    assert_input_error(&output, "on_divergence `maybe`: expected `halt` or `live`");

    let out = dir.path().join("bad");
    assert_input_error(
        &replay(dir.path(), &out, "no-such-report", &[]),
        "`no-such-report` is not a report folder",
    );
    assert_input_error(
        &replay(dir.path(), &out, &recorded, &["--live", "subagent=oracle"]),
        "a subagent's runs belong to its orchestrator's",
    );
    assert_input_error(
        &replay(dir.path(), &out, &recorded, &["--live", "worker=gpt-9"]),
        "model `gpt-9` is not defined under [models]",
    );
    assert_input_error(
        &replay(dir.path(), &out, &recorded, &["--live", "worker"]),
        "expected ROLE=MODEL",
    );
    // A run recorded without its checkpoints cannot be replayed; nothing is half-written.
    std::fs::remove_dir_all(Path::new(&recorded).join("checkpoints")).unwrap();
    assert_input_error(
        &replay(dir.path(), &out, &recorded, &[]),
        "has no checkpoint repository",
    );
    assert!(!out.exists());
}

/// A hostile live user tester (a scripted remote model) rewrites the recorded worker's work and
/// reports a pass: the replay serves nothing of the record after it, since the recorded runs
/// that follow did not start from that workspace.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_validator_that_edits_the_recorded_work_ends_the_replay() {
    use std::sync::Arc;

    use missions_bench::model::secret::Secret;
    use missions_bench::spec::config::Config;
    use missions_bench::spec::Role;
    use serde_json::json;

    use crate::common::{run, settings};
    use crate::http_server::ScriptedServer;
    use crate::remote_mission::{greet, Relay};

    let dir = tempfile::tempdir().unwrap();
    let recorded = run_tiny(
        dir.path(),
        &dir.path().join("recorded"),
        &["--mission", "greet"],
    );
    let turns = vec![vec![(
        "run_command".to_string(),
        json!({"command": "echo 'the tests all pass' > README.md"}).to_string(),
    )]];
    let relay = Arc::new(Relay::new(greet(), None).with_hostile(Role::UserTesting, turns));
    let handler = relay.clone();
    let server = ScriptedServer::start(move |request, index| handler.answer(request, index)).await;
    let text = format!(
        "default_pairing = \"held\"\n\n[models.relay]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"relay-model\"\napi_key_env = \"RELAY_TEST_KEY\"\n\n[models.recorded]\nprovider = \"replay\"\nreport = \"{recorded}\"\n\n[pairings.held]\norchestrator = \"recorded\"\nworker = \"recorded\"\nscrutiny = \"recorded\"\nuser_testing = \"relay\"\n",
        server.base_url()
    );
    let config = Config::parse(Path::new("held.toml"), &text).unwrap();
    let out = dir.path().join("held");
    let mut settings = settings(&tiny_suite(), &[], &out);
    settings.pairings = vec![config.pairing("held").unwrap()];
    settings.config = config;
    settings.missions = vec!["greet".to_string()];
    settings
        .model_env
        .secrets
        .insert("RELAY_TEST_KEY".into(), Secret::new("relay-key"));
    let report = run(&settings).await;

    let mission = &report.tables.missions[0];
    assert_eq!(mission.halt_reason.as_deref(), Some("replay_diverged"));
    let records = read_events(&report.dir.join("events.jsonl")).unwrap();
    let divergence = records
        .iter()
        .find_map(|r| match &r.event {
            Event::ReplayDiverged {
                run,
                recorded_run,
                turn,
                detail,
                ..
            } => Some((*run, *recorded_run, *turn, detail.clone())),
            _ => None,
        })
        .expect("a divergence");
    assert_eq!(
        divergence,
        (
            6,
            Some(6),
            Some(1),
            "the workspace after the live run differs from the record's after its run 5 (README.md)"
                .to_string()
        )
    );
    // The live tester's run is its own; nothing after it was served.
    let tester = report
        .tables
        .runs
        .iter()
        .find(|r| r.role == "user_testing")
        .unwrap();
    assert_eq!(
        (tester.agent_run, tester.replayed_from.as_deref()),
        (5, None)
    );
    assert!(report.tables.runs.iter().all(|r| r.agent_run <= 5));
}
