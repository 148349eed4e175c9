//! Crash-safe runs: a run killed with SIGKILL (or stopped with Ctrl-C) and resumed ends with the
//! same tables as an uninterrupted run, and no mission that had finished runs again.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use missions_bench::events::{read_events, Event, EventRecord, MissionKey};
use missions_bench::report::read_tables;

use crate::common::{
    assert_input_error, assert_same_tables, missions_bench, run_tiny, shared_cache, text,
    tiny_suite, wait_for_finished,
};

const FLAGS: [&str; 4] = ["--repeats", "12", "--jobs", "1"];

/// Starts a run, waits until `finished` missions ended, then sends `signal`.
fn interrupted_run(cwd: &Path, out: &Path, finished: usize, signal: i32) -> std::path::PathBuf {
    let suite = tiny_suite();
    let mut args = vec![
        "run",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend(FLAGS);
    let mut child = Command::new(env!("CARGO_BIN_EXE_missions-bench"))
        .args(&args)
        .current_dir(cwd)
        .env("XDG_CACHE_HOME", shared_cache())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal = wait_for_finished(out, finished);
    // SAFETY: kill(2) on the child we started.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    child.wait().unwrap();
    journal.parent().unwrap().to_path_buf()
}

/// The records of each mission that had finished (with any status but interrupted).
fn finished_missions(records: &[EventRecord]) -> BTreeMap<MissionKey, Vec<EventRecord>> {
    let finished: Vec<MissionKey> = records
        .iter()
        .filter_map(|r| match (&r.mission, &r.event) {
            (Some(key), Event::MissionFinished { status, .. })
                if status.as_str() != "interrupted" =>
            {
                Some(key.clone())
            }
            _ => None,
        })
        .collect();
    finished
        .into_iter()
        .map(|key| {
            let own = records
                .iter()
                .filter(|r| r.mission.as_ref() == Some(&key))
                .cloned()
                .collect();
            (key, own)
        })
        .collect()
}

fn resume_and_compare(dir: &Path, report: &Path, whole: &missions_bench::metrics::Tables) {
    let before = finished_missions(&read_events(&report.join("events.jsonl")).unwrap());
    assert!(!before.is_empty());
    let suite = tiny_suite();
    let mut args = vec![
        "run",
        suite.to_str().unwrap(),
        "-q",
        "--resume",
        report.to_str().unwrap(),
    ];
    args.extend(FLAGS);
    let output = missions_bench(&args, dir);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let tables = read_tables(report).unwrap();
    assert_same_tables(&tables, whole);

    // Missions that had finished were not run again: their records are exactly as before.
    let records = read_events(&report.join("events.jsonl")).unwrap();
    for (key, own) in &before {
        let now: Vec<&EventRecord> = records
            .iter()
            .filter(|r| r.mission.as_ref() == Some(key))
            .collect();
        assert_eq!(now.len(), own.len(), "{key:?}");
        assert!(now.iter().zip(own).all(|(a, b)| *a == b), "{key:?} changed");
    }
    // Every mission started once in the final journal.
    let mut starts: BTreeMap<&MissionKey, usize> = BTreeMap::new();
    for record in &records {
        if let (Some(key), Event::MissionStarted { .. }) = (&record.mission, &record.event) {
            *starts.entry(key).or_default() += 1;
        }
    }
    assert_eq!(starts.len(), whole.missions.len());
    assert!(starts.values().all(|n| *n == 1), "{starts:?}");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["resumed_at"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_killed_run_resumes_to_the_uninterrupted_tables() {
    let dir = tempfile::tempdir().unwrap();
    let whole = run_tiny(dir.path(), &dir.path().join("whole"), &FLAGS);
    let whole = read_tables(Path::new(&whole)).unwrap();
    assert_eq!(whole.missions.len(), 24);
    // Killed at three different points: early, in the middle, near the end.
    for (i, finished) in [2usize, 9, 21].into_iter().enumerate() {
        let out = dir.path().join(format!("killed-{i}"));
        let report = interrupted_run(dir.path(), &out, finished, libc::SIGKILL);
        resume_and_compare(dir.path(), &report, &whole);
    }
}

#[test]
fn an_interrupted_run_resumes_and_a_changed_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let whole = run_tiny(dir.path(), &dir.path().join("whole"), &FLAGS);
    let whole = read_tables(Path::new(&whole)).unwrap();
    let out = dir.path().join("stopped");
    let report = interrupted_run(dir.path(), &out, 4, libc::SIGINT);
    let suite = tiny_suite();
    // Other flags, another fingerprint: refused, and the report is left as it was.
    let journal = std::fs::read(report.join("events.jsonl")).unwrap();
    let output = missions_bench(
        &[
            "run",
            suite.to_str().unwrap(),
            "-q",
            "--repeats",
            "13",
            "--resume",
            report.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_input_error(&output, "repeats: 13 vs 12");
    assert!(text(&output.stderr).contains("--force"));
    assert_eq!(std::fs::read(report.join("events.jsonl")).unwrap(), journal);
    resume_and_compare(dir.path(), &report, &whole);
}
