//! Ctrl-C: the first interrupt stops the run, kills what runs, writes the reports for what
//! finished and exits 130; a second one exits at once, and the run still resumes.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use missions_bench::events::{read_events, Event};
use missions_bench::report::read_tables;

use crate::common::{assert_same_tables, run_tiny, send_signal, spawn_tiny, wait_for_finished};

/// `run` of the tiny suite, one mission at a time, with `repeats`.
fn start(out: &Path, cwd: &Path, repeats: &str) -> Child {
    spawn_tiny(cwd, out, &["--repeats", repeats, "--jobs", "1"])
}

fn interrupt(child: &Child) {
    send_signal(child, libc::SIGINT);
}

#[test]
fn the_first_interrupt_writes_the_reports_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let child = start(&out, dir.path(), "40");
    let events = wait_for_finished(&out, 2);
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    let report = events.parent().unwrap();
    let tables = read_tables(report).unwrap();
    // Every planned mission run is in the table: 2 missions x 40 repeats.
    assert_eq!(tables.missions.len(), 80);
    let count = |status: &str| {
        tables
            .missions
            .iter()
            .filter(|m| m.status == status)
            .count()
    };
    assert!(count("passed") >= 2, "{}", count("passed"));
    assert!(count("interrupted") >= 60, "{}", count("interrupted"));
    assert_eq!(count("passed") + count("interrupted"), 80);
    for row in tables.missions.iter().filter(|m| m.status == "interrupted") {
        assert_eq!(row.halt_reason.as_deref(), Some("interrupted"));
    }
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("run.json")).unwrap()).unwrap();
    assert!(info["finished_at"].is_string());
    assert_eq!(
        info["outcome"]["interrupted"].as_u64(),
        Some(count("interrupted") as u64)
    );
}

#[test]
fn a_second_interrupt_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let child = start(&out, dir.path(), "4");
    let events = wait_for_finished(&out, 1);
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(30));
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // What finished is in the journal, whole lines only.
    let records = read_events(&events).unwrap();
    assert!(records
        .iter()
        .any(|r| matches!(r.event, Event::MissionFinished { .. })));

    // The run resumes to what an uninterrupted one records.
    let report = events.parent().unwrap();
    let resumed = run_tiny(
        dir.path(),
        &out,
        &[
            "--repeats",
            "4",
            "--jobs",
            "1",
            "--resume",
            report.to_str().unwrap(),
        ],
    );
    let whole = run_tiny(
        dir.path(),
        &dir.path().join("whole"),
        &["--repeats", "4", "--jobs", "1"],
    );
    assert_same_tables(
        &read_tables(Path::new(&resumed)).unwrap(),
        &read_tables(Path::new(&whole)).unwrap(),
    );
}
