//! The file-count quota through whole missions played over the OpenAI protocol: a worker that
//! floods the mission folder with files is stopped with a clear observation, the stop is counted
//! in the tables, and the mission is still judged; a worker that leaves thousands of files under
//! the quota (the "slowed" case) gets a judged mission with a complete record.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use missions_bench::events::{read_events, Event};
use missions_bench::mission::RunReport;
use missions_bench::tools::NoticeKind;

use crate::common::{copy_suite, edit, tiny_suite};
use crate::http_server::ScriptedServer;
use crate::remote_mission::{files_containing, greet, run_remote_with, Protocol, Relay};

/// A command that creates `n` empty files in `dir` without a process per file.
fn flood(dir: &str, n: usize) -> String {
    format!("mkdir -p {dir} && cd {dir} && seq 1 {n} | sed 's/^/f/' | xargs touch")
}

/// Runs the tiny suite's greet mission with every role on a relay whose first worker makes
/// `turns` of calls first, with `sandbox` added to the config.
async fn mission_with(root: &Path, turns: Vec<Vec<(&str, Value)>>, sandbox: &str) -> RunReport {
    let turns = turns
        .into_iter()
        .map(|calls| {
            calls
                .into_iter()
                .map(|(tool, args)| (tool.to_string(), args.to_string()))
                .collect()
        })
        .collect();
    let relay = Arc::new(Relay::new(greet(), None).with_hostile_worker(turns));
    let handler = relay.clone();
    let server = ScriptedServer::start(move |request, index| handler.answer(request, index)).await;
    let suites = root.join("suites");
    std::fs::create_dir_all(&suites).unwrap();
    let suite = copy_suite(&tiny_suite(), &suites);
    edit(
        &suite.join("suite.toml"),
        "max_turns = 40",
        "max_turns = 200",
    );
    run_remote_with(
        &server,
        Protocol::OpenAi,
        0,
        &root.join("out"),
        &suite,
        sandbox,
    )
    .await
}

/// The sandbox notices of a run: (run, tool, kind, detail).
fn notices(report: &RunReport) -> Vec<(Option<u32>, String, NoticeKind, String)> {
    read_events(&report.dir.join("events.jsonl"))
        .unwrap()
        .into_iter()
        .filter_map(|record| match record.event {
            Event::Sandbox {
                run,
                tool,
                kind,
                detail,
                ..
            } => Some((run, tool, kind, detail)),
            _ => None,
        })
        .collect()
}

/// The mission finished with its acceptance tests run and its tables written.
fn assert_judged(report: &RunReport) {
    let mission = &report.tables.missions[0];
    assert_eq!(mission.status, "passed", "{mission:?}");
    assert!(mission.acceptance_total > 0, "{mission:?}");
    assert_eq!(mission.acceptance_passed, mission.acceptance_total);
    assert_eq!(mission.acceptance_error, None);
    for table in ["missions", "milestones", "runs", "turns", "assertions"] {
        assert!(
            report.dir.join(format!("{table}.parquet")).is_file(),
            "{table}.parquet"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_flooding_the_mission_with_files_is_stopped_and_the_mission_judged() {
    let root = tempfile::tempdir().unwrap();
    let turns = vec![
        // 2,000 files against a quota of 500, then a command that would run on: the watcher
        // stops it.
        vec![(
            "run_command",
            json!({"command": format!("{}; sleep 15; echo finished", flood("many", 2000))}),
        )],
        // A file tool may not add one more.
        vec![(
            "write_file",
            json!({"path": "one-more.txt", "content": "x"}),
        )],
        // Deleting the files lets the worker go on.
        vec![("run_command", json!({"command": "rm -rf many"}))],
        vec![(
            "write_file",
            json!({"path": "after.txt", "content": "room again"}),
        )],
    ];
    let report = mission_with(root.path(), turns, "[sandbox]\nfiles = 500\n").await;
    assert_judged(&report);

    let run_json: Value =
        serde_json::from_str(&std::fs::read_to_string(report.dir.join("run.json")).unwrap())
            .unwrap();
    assert_eq!(run_json["sandbox"]["limits"]["files"], json!(500));
    let protections = run_json["sandbox"]["protections"]["none"]
        .as_array()
        .expect("protections for missions without network");
    let files = protections
        .iter()
        .find(|p| p["name"] == json!("files"))
        .expect("a files protection");
    assert_eq!(files["active"], json!(true), "{files}");
    assert!(files["how"].as_str().unwrap().contains("500"), "{files}");

    let all = notices(&report);
    let hits: Vec<_> = all
        .iter()
        .filter(|(_, _, kind, _)| *kind == NoticeKind::FileCountLimit)
        .collect();
    assert_eq!(hits.len(), 2, "{all:?}");
    let (run, command, _, killed) = hits[0];
    assert_eq!(command, "run_command");
    assert!(
        killed
            .starts_with("killed: file limit 500 exceeded (the workspace, $HOME and $TMPDIR hold ")
            && killed.ends_with(" files); delete files to go on"),
        "{killed}"
    );
    let held: u64 = killed
        .split("hold ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a file count");
    assert!(held > 500, "{killed}");
    let (_, tool, _, refused) = hits[1];
    assert_eq!(tool, "write_file");
    assert!(
        refused.starts_with("refused: file limit 500 reached"),
        "{refused}"
    );

    // The command was stopped, not left to finish; the refused file was not written; after the
    // clean-up the worker wrote again.
    let events = read_events(&report.dir.join("events.jsonl")).unwrap();
    let stopped = events.iter().any(|r| {
        matches!(&r.event, Event::ToolCalled { tool, command: Some(command), exit_code: None, .. }
            if tool == "run_command" && command.contains("sleep 15"))
    });
    assert!(stopped, "no stopped command among the tool calls");
    // The model read why, in the observation of its call.
    let seen = files_containing(
        &report.dir.join("transcripts"),
        "killed: file limit 500 exceeded",
    );
    assert!(!seen.is_empty(), "no transcript shows the observation");
    let patch = std::fs::read_to_string(
        report.dir.join("diffs").join(
            std::fs::read_dir(report.dir.join("diffs"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .file_name(),
        ),
    )
    .unwrap();
    assert!(patch.contains("after.txt"), "the write after the clean-up");
    assert!(!patch.contains("one-more.txt"), "the refused write");

    // Counted as limits hit, in the worker's row and the mission's.
    let worker = report
        .tables
        .runs
        .iter()
        .find(|r| Some(r.agent_run) == *run)
        .expect("the flooding worker's run");
    assert_eq!(worker.role, "worker");
    let limits = all
        .iter()
        .filter(|(r, _, kind, _)| r == run && kind.is_limit())
        .count() as u64;
    assert_eq!(worker.limits_hit, limits);
    assert!(worker.limits_hit >= 2, "{worker:?}");
    let mission = &report.tables.missions[0];
    assert!(mission.limits_hit >= worker.limits_hit, "{mission:?}");
}

/// The "slowed" case under the quota: thousands of empty files left in the workspace cost the
/// mission time (see `benches/sandbox.rs` for how much) but not its verdict or its record.
#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_files_under_the_quota_leave_the_mission_judged_and_recorded() {
    let root = tempfile::tempdir().unwrap();
    let turns = vec![vec![(
        "run_command",
        json!({"command": flood("junk", 5000)}),
    )]];
    let report = mission_with(root.path(), turns, "").await;
    assert_judged(&report);
    let all = notices(&report);
    assert!(
        all.iter().all(|(_, _, kind, _)| !kind.is_limit()),
        "{all:?}"
    );
    let diffs: Vec<_> = std::fs::read_dir(report.dir.join("diffs"))
        .unwrap()
        .flatten()
        .collect();
    let patch = std::fs::read_to_string(diffs[0].path()).unwrap();
    assert!(
        patch.contains("junk/f1\n") || patch.contains("junk/f1 "),
        "the flood is in the final diff"
    );
    assert!(
        patch.contains("junk/f5000"),
        "the whole flood is in the final diff"
    );
}
