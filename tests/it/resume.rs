//! Crash-safe runs: a run killed with SIGKILL (or stopped with Ctrl-C) and resumed ends with the
//! same tables as an uninterrupted run, and no mission that had finished runs again. A mission
//! killed in the middle (mid plan, mid validator, between milestones, mid worker: a relay playing
//! a remote model holds its reply there) continues from its last finished agent run: none of
//! those runs starts again, the workspace is the one after it, and its spend is carried over.
//! Commands a killed harness left running end when the next one starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use missions_bench::events::{read_events, Event, EventRecord, MissionKey};
use missions_bench::report::read_tables;
use missions_bench::spec::Role;

use crate::common::{
    assert_input_error, assert_same_tables, missions_bench, report_of, run_tiny, send_signal,
    shared_cache, spawn_tiny, text, tiny_suite, wait_for_finished,
};
use crate::http_server::ScriptedServer;
use crate::remote_mission::{greet, write_relay_config, Hold, Relay};

const FLAGS: [&str; 4] = ["--repeats", "12", "--jobs", "1"];

/// Starts a run, waits until `finished` missions ended, then sends `signal`.
fn interrupted_run(cwd: &Path, out: &Path, finished: usize, signal: i32) -> std::path::PathBuf {
    let child = spawn_tiny(cwd, out, &FLAGS);
    let journal = wait_for_finished(out, finished);
    send_signal(&child, signal);
    child.wait_with_output().unwrap();
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

/// `greet` of the tiny suite (or a copy) through the binary, every role played by a relay
/// behind a scripted server on 127.0.0.1 over the OpenAI protocol. The relay is swapped between
/// runs; the server's address, and so the config, stays the same.
pub(crate) struct Greet {
    /// Serves until the test ends.
    _server: ScriptedServer,
    relay: Arc<Mutex<Arc<Relay>>>,
    dir: tempfile::TempDir,
    suite: PathBuf,
    config: PathBuf,
}

impl Greet {
    pub(crate) async fn start() -> Greet {
        let relay = Arc::new(Mutex::new(Arc::new(Relay::new(greet(), None))));
        let slot = relay.clone();
        let server = ScriptedServer::start(move |request, index| {
            let relay = slot.lock().unwrap().clone();
            relay.answer(request, index)
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("relay.toml");
        write_relay_config(
            &config,
            &server,
            "openai",
            "MB_RESUME_RELAY_KEY",
            "idle_timeout_s = 120\nprice_per_mtok = { input = 3.0, output = 15.0 }",
        );
        Greet {
            _server: server,
            relay,
            dir,
            suite: tiny_suite(),
            config,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Plays the next run with `relay`.
    pub(crate) fn set(&self, relay: Relay) -> Arc<Relay> {
        let relay = Arc::new(relay);
        *self.relay.lock().unwrap() = relay.clone();
        relay
    }

    /// A fresh relay with usage that depends on the request only, stopping at `hold`.
    fn next(&self, hold: Option<Hold>) -> Arc<Relay> {
        self.set(Relay::new(greet(), None).with_stable_usage().holding(hold))
    }

    /// `missions-bench run SUITE -m greet --config CONFIG -q` plus `args`.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_missions-bench"));
        command
            .args(["run", self.suite.to_str().unwrap(), "-m", "greet", "-q"])
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("XDG_CACHE_HOME", shared_cache())
            .env("MB_RESUME_RELAY_KEY", "sk-resume-test")
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs to the end on a fresh relay; the report folder and the agents the relay played.
    pub(crate) async fn run(&self, args: &[&str]) -> (PathBuf, Vec<(Role, String)>) {
        let relay = self.next(None);
        let output = self.command(args).output().await.unwrap();
        let report = report_of(&output);
        (PathBuf::from(report), relay.started())
    }

    /// Runs until the relay reaches `hold`, then kills the harness with SIGKILL.
    async fn kill(&self, hold: Hold, args: &[&str]) {
        let relay = self.next(Some(hold));
        self.kill_when(args, || relay.held()).await;
    }

    /// Runs with the current relay until `ready`, then kills the harness with SIGKILL.
    pub(crate) async fn kill_when(&self, args: &[&str], ready: impl Fn() -> bool) {
        let mut child = self.command(args).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !ready() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the run ended ({status}) before the point to kill it");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the point to kill the run was never reached"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }

    /// A new run killed at `hold`; its report folder.
    async fn killed(&self, hold: Hold, name: &str) -> PathBuf {
        let out = self.path(name);
        self.kill(hold, &["--out", out.to_str().unwrap()]).await;
        let mut reports = std::fs::read_dir(&out).unwrap();
        reports.next().unwrap().unwrap().path()
    }

    /// Resumes `report` and checks it against the uninterrupted run `whole` (its report folder
    /// and the agents it played): same tables and final diff, the finished agent runs kept as
    /// they were, and none started again.
    async fn resume(&self, report: &Path, whole: &(PathBuf, Vec<(Role, String)>)) {
        let at_kill = read_events(&report.join("events.jsonl")).unwrap();
        let finished = finished_runs(&at_kill);
        let carried = at_kill
            .iter()
            .filter_map(|r| match &r.event {
                Event::AgentCheckpoint { elapsed_ms, .. } => Some(*elapsed_ms),
                _ => None,
            })
            .next_back();
        let (resumed, started) = self.run(&["--resume", report.to_str().unwrap()]).await;
        assert_eq!(resumed, report);
        let (whole_dir, whole_started) = whole;
        let tables = read_tables(report).unwrap();
        assert_same_tables(&tables, &read_tables(whole_dir).unwrap());

        // The resumed run started exactly the agents the uninterrupted run started after the
        // last finished one: no finished agent run ran twice.
        assert_eq!(started, whole_started[finished.len()..].to_vec());
        let records = read_events(&report.join("events.jsonl")).unwrap();
        let labels: Vec<(Role, String)> =
            records.iter().filter_map(|r| run_label(&r.event)).collect();
        assert_eq!(&labels, whole_started);
        for (run, (start, end)) in &finished {
            assert!(
                records.contains(start) && records.contains(end),
                "run {run} changed"
            );
        }
        // The same work: the final diff of the workspace is the uninterrupted run's.
        let diff = |dir: &Path| {
            let diffs: Vec<_> = std::fs::read_dir(dir.join("diffs"))
                .unwrap()
                .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect();
            assert_eq!(diffs.len(), 1);
            diffs[0].clone()
        };
        assert_eq!(diff(report), diff(whole_dir));
        // Spent time carried over; the checkpoints stay in the report (a replay serves from
        // them), each finished run's workspace under its own ref.
        if let Some(carried) = carried {
            assert!(tables.missions[0].wall_ms >= carried);
        }
        let repositories: Vec<_> = std::fs::read_dir(report.join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(repositories.len(), 1);
        let refs = std::process::Command::new("git")
            .args([
                "--git-dir",
                repositories[0].to_str().unwrap(),
                "for-each-ref",
            ])
            .output()
            .unwrap();
        assert!(
            text(&refs.stdout).contains("refs/runs/0001"),
            "{}",
            text(&refs.stdout)
        );
    }
}

/// What an agent run worked on, as the relay names it.
fn run_label(event: &Event) -> Option<(Role, String)> {
    let Event::AgentStarted {
        role,
        task,
        milestone,
        feature,
        round,
        ..
    } = event
    else {
        return None;
    };
    let label = match (task.as_str(), feature, milestone) {
        ("plan", _, _) => "plan".to_string(),
        ("fix", _, Some(milestone)) => format!("fix {milestone} {}", round.unwrap_or(0)),
        (_, Some(feature), _) => feature.to_string(),
        (_, None, Some(milestone)) => milestone.to_string(),
        _ => task.clone(),
    };
    Some((*role, label))
}

/// The agent runs a resume keeps from `records`: those through the last checkpoint (a
/// top-level run and the subagents it started), run number -> its start and end records.
fn finished_runs(records: &[EventRecord]) -> BTreeMap<u32, (EventRecord, EventRecord)> {
    let next_run = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::AgentCheckpoint { next_run, .. } => Some(*next_run),
            _ => None,
        })
        .next_back()
        .unwrap_or(1);
    let record_of = |wanted: &dyn Fn(&Event) -> bool| {
        records
            .iter()
            .find(|r| wanted(&r.event))
            .expect("a kept run started and ended")
            .clone()
    };
    (1..next_run)
        .map(|run| {
            let start =
                record_of(&|e| matches!(e, Event::AgentStarted { run: r, .. } if *r == run));
            let end = record_of(&|e| matches!(e, Event::AgentFinished { run: r, .. } if *r == run));
            (run, (start, end))
        })
        .collect()
}

/// One way to interrupt `greet`: where the relay holds, and what the journal shows then.
struct KillPoint {
    name: &'static str,
    hold: Hold,
    check: fn(&[EventRecord]),
}

fn last_started(records: &[EventRecord]) -> (Role, bool) {
    let (run, role) = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::AgentStarted { run, role, .. } => Some((*run, *role)),
            _ => None,
        })
        .next_back()
        .expect("an agent run started");
    let ended = records
        .iter()
        .any(|r| matches!(&r.event, Event::AgentFinished { run: done, .. } if *done == run));
    (role, ended)
}

const KILL_POINTS: [KillPoint; 4] = [
    KillPoint {
        name: "mid plan (no agent run finished)",
        hold: Hold {
            role: Role::Orchestrator,
            nth: 1,
            turn: 1,
        },
        check: |records| {
            // Its subagent finished; the plan did not.
            assert_eq!(last_started(records), (Role::Subagent, true));
            assert!(!records
                .iter()
                .any(|r| matches!(r.event, Event::AgentFinished { run: 1, .. })));
            assert!(finished_runs(records).is_empty());
        },
    },
    KillPoint {
        name: "mid validator",
        hold: Hold {
            role: Role::UserTesting,
            nth: 1,
            turn: 1,
        },
        check: |records| {
            assert_eq!(last_started(records), (Role::UserTesting, false));
            // The plan (with its subagent), the worker and the review of milestone m1.
            assert_eq!(finished_runs(records).len(), 4);
        },
    },
    KillPoint {
        name: "between milestones",
        hold: Hold {
            role: Role::Worker,
            nth: 2,
            turn: 0,
        },
        check: |records| {
            let rounds: Vec<(String, bool)> = records
                .iter()
                .filter_map(|r| match &r.event {
                    Event::MilestoneRound {
                        milestone, passed, ..
                    } => Some((milestone.to_string(), *passed)),
                    _ => None,
                })
                .collect();
            assert_eq!(rounds, [("m1".to_string(), true)]);
            assert_eq!(finished_runs(records).len(), 5);
        },
    },
    KillPoint {
        name: "mid worker (after it wrote files)",
        hold: Hold {
            role: Role::Worker,
            nth: 2,
            turn: 1,
        },
        check: |records| {
            assert_eq!(last_started(records), (Role::Worker, false));
            let worker = finished_runs(records).len() as u32 + 1;
            let writes = records
                .iter()
                .filter(|r| matches!(&r.event, Event::ToolCalled { run, tool, .. } if *run == worker && tool == "write_file"))
                .count();
            assert!(writes > 0, "the worker wrote nothing before the kill");
        },
    },
];

#[tokio::test(flavor = "multi_thread")]
async fn a_mission_killed_mid_run_continues_from_its_last_finished_agent_run() {
    let greet = Greet::start().await;
    let whole = greet
        .run(&["--out", greet.path("whole").to_str().unwrap()])
        .await;
    assert_eq!(read_tables(&whole.0).unwrap().missions[0].status, "passed");
    // The plan, its subagent, and per milestone a worker, a review and a user test.
    assert_eq!(whole.1.len(), 8, "{:?}", whole.1);

    for (i, point) in KILL_POINTS.iter().enumerate() {
        let report = greet.killed(point.hold, &format!("killed-{i}")).await;
        (point.check)(&read_events(&report.join("events.jsonl")).unwrap());
        eprintln!("killed {}", point.name);
        greet.resume(&report, &whole).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_mission_carries_its_spend_over_and_resumes_again() {
    let mut greet = Greet::start().await;
    greet.suite = crate::common::copy_suite(&tiny_suite(), greet.dir.path());

    // The tokens of the plan and milestone m1; a budget that ends the mission just after them.
    let (free, _) = greet
        .run(&["--out", greet.path("free").to_str().unwrap()])
        .await;
    let through_m1: u64 = read_tables(&free)
        .unwrap()
        .turns
        .iter()
        .filter(|t| t.agent_run <= 5)
        .map(|t| t.input_tokens.unwrap() + t.output_tokens.unwrap())
        .sum();
    crate::common::edit(
        &greet.suite.join("suite.toml"),
        "max_turns = 40",
        &format!("max_turns = 40\nmax_tokens = {}", through_m1 + 1),
    );
    let whole = greet
        .run(&["--out", greet.path("whole").to_str().unwrap()])
        .await;
    let tables = read_tables(&whole.0).unwrap();
    let mission = &tables.missions[0];
    assert_eq!(
        (mission.status.as_str(), mission.halt_reason.as_deref()),
        ("halted", Some("max_tokens")),
        "{mission:?}"
    );

    // Killed in milestone m1's user test, resumed and killed again as milestone m2 starts,
    // resumed to the end: the budget ends the mission where it ended uninterrupted, so the
    // tokens spent before each kill were carried over.
    let in_m1 = Hold {
        role: Role::UserTesting,
        nth: 1,
        turn: 1,
    };
    let report = greet.killed(in_m1, "killed").await;
    // The resumed run's first worker is milestone m2's.
    let m2_starts = Hold {
        role: Role::Worker,
        nth: 1,
        turn: 0,
    };
    greet
        .kill(m2_starts, &["--resume", report.to_str().unwrap()])
        .await;
    greet.resume(&report, &whole).await;
    let resumed = read_tables(&report).unwrap();
    assert_eq!(resumed.missions[0].halt_detail, mission.halt_detail);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["resumed_at"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_of_a_killed_harness_end_when_the_next_one_starts() {
    use crate::process_tree::processes_with;
    let greet = Greet::start().await;
    // The first worker starts a long command; the harness is killed while it runs.
    let marker = "sleep 987123";
    let command = serde_json::json!({ "command": format!("{marker}; echo done") }).to_string();
    greet.set(
        Relay::new(crate::remote_mission::greet(), None)
            .with_hostile_worker(vec![vec![("run_command".into(), command)]]),
    );
    let out = greet.path("reports");
    greet
        .kill_when(&["--out", out.to_str().unwrap()], || {
            !processes_with(marker).is_empty()
        })
        .await;

    // Nothing killed the command with the harness: it would sleep on for minutes in its control
    // group. The next harness to build a sandbox ends it (here `missions-bench sandbox`; `run
    // --resume` does the same before any mission starts; so may another test's harness).
    let output = missions_bench(&["sandbox"], greet.dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !processes_with(marker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "still running: {:?}",
            processes_with(marker)
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// `--resume` on a journal with a damaged line (not JSON, not UTF-8 text) names the file, the
/// line and the cause, exits 2 (bad input), and leaves the report folder as it was.
#[test]
fn a_damaged_journal_is_named_by_line_and_cause_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let report = PathBuf::from(run_tiny(
        dir.path(),
        &out,
        &["--pairing", "oracle", "--mission", "greet"],
    ));
    let run_id = report.file_name().unwrap().to_str().unwrap().to_string();
    let journal = report.join("events.jsonl");
    let original = std::fs::read(&journal).unwrap();
    let suite = tiny_suite();
    let damages: [(&[u8], &str); 2] = [
        (b"{\"v\": 1, oops", "key must be a string at column 10"),
        (
            b"{\"v\": 1, \"x\": \"\xff\"}",
            "not UTF-8 text (byte 16 of the line)",
        ),
    ];
    for (damage, cause) in damages {
        let mut lines: Vec<&[u8]> = original.split(|b| *b == b'\n').collect();
        lines.insert(16, damage);
        let damaged = lines.join(&b'\n');
        std::fs::write(&journal, &damaged).unwrap();
        let listing = |dir: &Path| {
            let mut names: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            names
        };
        let before = listing(&report);
        // The report folder named relative to the current one, as users type it.
        let args = [
            "run",
            suite.to_str().unwrap(),
            "-q",
            "--pairing",
            "oracle",
            "--mission",
            "greet",
            "--resume",
            &run_id,
        ];
        let output = missions_bench(&args, &out);
        assert_input_error(&output, &format!("{run_id}/events.jsonl` line 17: {cause}"));
        assert_eq!(
            std::fs::read(&journal).unwrap(),
            damaged,
            "the journal changed"
        );
        assert_eq!(listing(&report), before);
    }
}
