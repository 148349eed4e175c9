//! `import exercism` and `import harbor` on the fixtures (`tests/fixtures/exercism-python`, an
//! excerpt of the Python track; `tests/fixtures/harbor`, Harbor's example tasks): what is
//! imported, set aside and skipped, and the suite check of what was imported (the oracle passes
//! every milestone in round 1 and every acceptance test, nop fails acceptance).

use std::path::{Path, PathBuf};

use missions_bench::import::exercism::{import_exercism, ExercismImport};
use missions_bench::import::harbor::{import_harbor, HarborImport, SET_ASIDE_FOLDER};
use missions_bench::import::ImportError;
use missions_bench::mission::suite_check::check_suite;
use missions_bench::spec::suite::load_suite;

use crate::common::{assert_input_error, missions_bench, repo, settings, stdout_of};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn exercism_track() -> PathBuf {
    repo().join("tests/fixtures/exercism-python")
}

fn harbor_task(name: &str) -> PathBuf {
    repo().join("tests/fixtures/harbor").join(name)
}

async fn assert_suite_check_passes(suite: &Path, out: &Path, missions: usize) {
    let check = check_suite(&settings(suite, &["oracle"], out), Vec::new())
        .await
        .expect("suite check runs");
    let problems: Vec<_> = check
        .missions
        .iter()
        .filter(|m| !m.problems.is_empty())
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(check.missions.len(), missions);
}

#[tokio::test(flavor = "multi_thread")]
async fn exercism_exercises_import_and_pass_the_suite_check() {
    let out = tempfile::tempdir().unwrap();
    let suite = out.path().join("exercism-python");
    let request = ExercismImport {
        track: exercism_track(),
        out: suite.clone(),
        only: Vec::new(),
        revision: Some("9eb657d4507d91efef99f484e7f2a1f4074911b5".to_string()),
    };
    let report = import_exercism(&request).unwrap();
    let mut missions = report.missions.clone();
    missions.sort();
    assert_eq!(missions, ["grep", "leap", "raindrops", "two-fer"]);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);

    // The stub and the tests are the workspace, the tests also the hidden acceptance, the
    // example the solution; the goal holds the instructions; the license comes along.
    let upstream = exercism_track().join("exercises/practice/two-fer");
    let mission = suite.join("two-fer");
    let tests = read(&upstream.join("two_fer_test.py"));
    assert_eq!(read(&mission.join("acceptance/two_fer_test.py")), tests);
    assert_eq!(read(&mission.join("workspace/two_fer_test.py")), tests);
    assert_eq!(
        read(&mission.join("workspace/two_fer.py")),
        read(&upstream.join("two_fer.py"))
    );
    assert_eq!(
        read(&mission.join("solution/f1/two_fer.py")),
        read(&upstream.join(".meta/example.py"))
    );
    let goal = read(&mission.join("goal.md"));
    assert!(goal.starts_with("# Two Fer\n"), "{goal}");
    assert!(goal.contains(read(&upstream.join(".docs/instructions.md")).trim()));
    assert_eq!(
        read(&suite.join("LICENSE")),
        read(&exercism_track().join("LICENSE"))
    );
    let notice = read(&suite.join("NOTICE.md"));
    assert!(
        notice.contains("9eb657d4507d91efef99f484e7f2a1f4074911b5"),
        "{notice}"
    );
    assert!(notice.contains("`exercises/practice/two-fer`"), "{notice}");

    assert_suite_check_passes(&suite, out.path(), 4).await;
}

#[test]
fn an_unknown_exercise_is_refused_before_anything_is_written() {
    let out = tempfile::tempdir().unwrap();
    let suite = out.path().join("s");
    let request = ExercismImport {
        track: exercism_track(),
        out: suite.clone(),
        only: vec!["leap".to_string(), "no-such-exercise".to_string()],
        revision: None,
    };
    match import_exercism(&request) {
        Err(ImportError::Source { path, message }) => {
            assert!(path.ends_with("config.json"), "{}", path.display());
            assert!(message.contains("`no-such-exercise`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!suite.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn harbor_tasks_import_and_the_runnable_ones_pass_the_suite_check() {
    let out = tempfile::tempdir().unwrap();
    let suite = out.path().join("harbor");
    let tasks = [
        "simple-task",
        "skills",
        "multi-reward",
        "dns-blacklisting",
        "multi-step",
    ]
    .map(harbor_task)
    .to_vec();
    let report = import_harbor(&HarborImport {
        tasks,
        out: suite.clone(),
        origin: Some("harbor-framework/harbor-cookbook e093c9a".to_string()),
    })
    .unwrap();
    assert_eq!(report.missions, ["simple-task", "skills", "multi-reward"]);

    // A task whose image starts services and holds files elsewhere is written, set aside.
    assert_eq!(report.set_aside.len(), 1);
    let set_aside = &report.set_aside[0];
    assert_eq!(set_aside.mission, "dns-blacklisting");
    assert!(
        set_aside.needs.iter().any(|n| n.contains("ENTRYPOINT")),
        "{:?}",
        set_aside.needs
    );
    let aside = suite.join(SET_ASIDE_FOLDER);
    assert!(load_suite(&aside).is_ok());
    let aside_mission = read(&aside.join("dns-blacklisting/mission.toml"));
    assert!(
        aside_mission.contains("\"needs-environment\""),
        "{aside_mission}"
    );
    assert!(aside_mission.contains("# needs: "), "{aside_mission}");
    // A multi-step task is skipped, with its reason.
    assert_eq!(report.skipped.len(), 1);
    assert!(
        report.skipped[0].reason.contains("multi-step"),
        "{:?}",
        report.skipped
    );

    // The verifier runs here: no container paths, no installs, the environment's pytest.
    let test_sh = read(&suite.join("simple-task/acceptance/test.sh"));
    for gone in ["/app", "/tests", "/logs", "uvx", "curl", "apt-get"] {
        assert!(!test_sh.contains(gone), "{gone}: {test_sh}");
    }
    assert!(
        test_sh.contains("pytest acceptance/test_state.py"),
        "{test_sh}"
    );
    assert!(
        read(&suite.join("simple-task/acceptance/test_state.py")).contains("Path(\"hello.txt\")")
    );
    // The skills the image copies are in the workspace, and the goal says where.
    assert!(suite
        .join("skills/workspace/skills/generate-greeting/SKILL.md")
        .is_file());
    assert!(read(&suite.join("skills/goal.md")).contains("`skills/`"));
    // task.toml's timeouts are the acceptance timeout and the wall-time budget.
    let mission = read(&suite.join("multi-reward/mission.toml"));
    assert!(mission.contains("results = \"reward\""), "{mission}");
    assert!(
        mission.contains("report = \".harbor-logs/verifier/reward.json\""),
        "{mission}"
    );
    assert!(mission.contains("timeout_s = 120"), "{mission}");
    assert!(mission.contains("max_wall_time_s = 120"), "{mission}");
    assert_eq!(
        read(&suite.join("LICENSE")),
        read(&repo().join("tests/fixtures/harbor/LICENSE"))
    );

    assert_suite_check_passes(&suite, out.path(), 3).await;
}

#[test]
fn the_import_command_reports_what_it_did_and_refuses_bad_input() {
    let out = tempfile::tempdir().unwrap();
    let suite = out.path().join("h");
    let simple = harbor_task("simple-task");
    let multi_step = harbor_task("multi-step");
    let output = missions_bench(
        &[
            "import",
            "harbor",
            simple.to_str().unwrap(),
            multi_step.to_str().unwrap(),
            "--out",
            suite.to_str().unwrap(),
        ],
        out.path(),
    );
    let stdout = stdout_of(&output, 0);
    assert!(stdout.contains("imported 1 mission(s)"), "{stdout}");
    assert!(stdout.contains("skipped 1:"), "{stdout}");
    assert!(
        stdout.contains("next: missions-bench suite check"),
        "{stdout}"
    );

    // The folder now holds a suite: a second import into it is refused.
    let again = missions_bench(
        &[
            "import",
            "harbor",
            simple.to_str().unwrap(),
            "--out",
            suite.to_str().unwrap(),
        ],
        out.path(),
    );
    assert_input_error(&again, "already exists and is not empty");
    let nothing = missions_bench(
        &[
            "import",
            "harbor",
            multi_step.to_str().unwrap(),
            "--out",
            out.path().join("n").to_str().unwrap(),
        ],
        out.path(),
    );
    assert_input_error(&nothing, "nothing was imported");
}
