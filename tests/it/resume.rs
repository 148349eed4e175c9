//! Crash-safe runs: a run killed with SIGKILL (or stopped with Ctrl-C) and resumed ends with the
//! same tables as an uninterrupted run, and no mission that had finished runs again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use missions_bench::events::{read_events, Event, EventRecord, MissionKey};
use missions_bench::report::read_tables;
use missions_bench::spec::Role;

use crate::common::{
    assert_input_error, assert_same_tables, missions_bench, run_tiny, shared_cache, text,
    tiny_suite, wait_for_finished,
};
use crate::http_server::ScriptedServer;
use crate::remote_mission::{greet, Hold, Relay};

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

/// A scripted server on 127.0.0.1 playing every role of `greet` over the OpenAI protocol; the
/// relay behind it is swapped between the runs of a test (the address, and so the config,
/// stays the same).
struct RelayServer {
    server: ScriptedServer,
    relay: Arc<Mutex<Arc<Relay>>>,
}

impl RelayServer {
    async fn start() -> RelayServer {
        let relay = Arc::new(Mutex::new(Arc::new(Relay::new(greet(), None))));
        let slot = relay.clone();
        let server = ScriptedServer::start(move |request, index| {
            let relay = slot.lock().unwrap().clone();
            relay.answer(request, index)
        })
        .await;
        RelayServer { server, relay }
    }

    /// A fresh relay with usage that depends on the request only, stopping at `hold`.
    fn next(&self, hold: Option<Hold>) -> Arc<Relay> {
        self.set(Relay::new(greet(), None).with_stable_usage().holding(hold))
    }

    fn set(&self, relay: Relay) -> Arc<Relay> {
        let relay = Arc::new(relay);
        *self.relay.lock().unwrap() = relay.clone();
        relay
    }

    fn config(&self, dir: &Path) -> PathBuf {
        let path = dir.join("relay.toml");
        std::fs::write(
            &path,
            format!(
                "default_pairing = \"relay\"\n[models.relay]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"relay-model\"\napi_key_env = \"MB_RESUME_RELAY_KEY\"\nidle_timeout_s = 120\nprice_per_mtok = {{ input = 3.0, output = 15.0 }}\n[pairings.relay]\norchestrator = \"relay\"\nworker = \"relay\"\nvalidator = \"relay\"\n",
                self.server.base_url()
            ),
        )
        .unwrap();
        path
    }
}

/// `missions-bench run SUITE -m greet --config CONFIG -q` plus `args`.
fn greet_run(dir: &Path, suite: &Path, config: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_missions-bench"));
    command
        .args([
            "run",
            suite.to_str().unwrap(),
            "-m",
            "greet",
            "-q",
            "--config",
        ])
        .arg(config)
        .args(args)
        .env("XDG_CACHE_HOME", shared_cache())
        .env("MB_RESUME_RELAY_KEY", "sk-resume-test")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs to the end; the report folder.
async fn finish(mut command: tokio::process::Command) -> PathBuf {
    let output = command.output().await.unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report line in {out}"));
    PathBuf::from(line.trim())
}

/// Runs until the relay reaches its hold, then kills the harness with SIGKILL.
async fn kill_at_hold(mut command: tokio::process::Command, relay: &Relay) {
    let mut child = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !relay.held() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before the relay's hold");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hold was never reached"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
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

/// Resumes `report` (without a hold) and checks it against the uninterrupted run: same tables,
/// the finished agent runs kept as they were and none started again.
async fn resume_greet(
    relays: &RelayServer,
    dir: &Path,
    suite: &Path,
    config: &Path,
    report: &Path,
    whole: (&Path, &[(Role, String)]),
) {
    let at_kill = read_events(&report.join("events.jsonl")).unwrap();
    let finished = finished_runs(&at_kill);
    let carried = at_kill
        .iter()
        .filter_map(|r| match &r.event {
            Event::AgentCheckpoint { elapsed_ms, .. } => Some(*elapsed_ms),
            _ => None,
        })
        .next_back();
    let relay = relays.next(None);
    let resumed = finish(greet_run(
        dir,
        suite,
        config,
        &["--resume", report.to_str().unwrap()],
    ))
    .await;
    assert_eq!(resumed, report);
    let (whole_dir, whole_started) = whole;
    let tables = read_tables(report).unwrap();
    assert_same_tables(&tables, &read_tables(whole_dir).unwrap());

    // The resumed run started exactly the agents the uninterrupted run started after the last
    // finished one: no finished agent run ran twice.
    assert_eq!(relay.started(), whole_started[finished.len()..].to_vec());
    let records = read_events(&report.join("events.jsonl")).unwrap();
    let started: Vec<(Role, String)> = records.iter().filter_map(|r| run_label(&r.event)).collect();
    assert_eq!(started, whole_started);
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
    // Spent time carried over; the checkpoints go once the mission finished.
    if let Some(carried) = carried {
        assert!(tables.missions[0].wall_ms >= carried);
    }
    assert!(!report.join("checkpoints").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mission_killed_mid_run_continues_from_its_last_finished_agent_run() {
    let dir = tempfile::tempdir().unwrap();
    let relays = RelayServer::start().await;
    let config = relays.config(dir.path());
    let suite = tiny_suite();
    let baseline = relays.next(None);
    let whole = finish(greet_run(
        dir.path(),
        &suite,
        &config,
        &["--out", dir.path().join("whole").to_str().unwrap()],
    ))
    .await;
    let whole_started = baseline.started();
    assert_eq!(read_tables(&whole).unwrap().missions[0].status, "passed");
    // The plan, its subagent, and per milestone a worker, a review and a user test.
    assert_eq!(whole_started.len(), 8, "{whole_started:?}");

    for (i, point) in KILL_POINTS.iter().enumerate() {
        let out = dir.path().join(format!("killed-{i}"));
        let relay = relays.next(Some(point.hold));
        kill_at_hold(
            greet_run(
                dir.path(),
                &suite,
                &config,
                &["--out", out.to_str().unwrap()],
            ),
            &relay,
        )
        .await;
        let report = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let records = read_events(&report.join("events.jsonl")).unwrap();
        (point.check)(&records);
        eprintln!("killed {}", point.name);
        resume_greet(
            &relays,
            dir.path(),
            &suite,
            &config,
            &report,
            (&whole, &whole_started),
        )
        .await;
    }
}

/// Kills `greet` where `hold` says; the report folder.
async fn killed_greet(
    relays: &RelayServer,
    dir: &Path,
    suite: &Path,
    config: &Path,
    args: &[&str],
    hold: Hold,
) {
    let relay = relays.next(Some(hold));
    kill_at_hold(greet_run(dir, suite, config, args), &relay).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_mission_carries_its_spend_over_and_resumes_again() {
    let dir = tempfile::tempdir().unwrap();
    let relays = RelayServer::start().await;
    let config = relays.config(dir.path());
    let suite = crate::common::copy_suite(&tiny_suite(), dir.path());
    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_string();

    // The tokens of the plan and milestone m1; a budget that ends the mission just after them.
    relays.next(None);
    let free = finish(greet_run(
        dir.path(),
        &suite,
        &config,
        &["--out", &out("free")],
    ))
    .await;
    let free = read_tables(&free).unwrap();
    let through_m1: u64 = free
        .turns
        .iter()
        .filter(|t| t.agent_run <= 5)
        .map(|t| t.input_tokens.unwrap() + t.output_tokens.unwrap())
        .sum();
    crate::common::edit(
        &suite.join("suite.toml"),
        "max_turns = 40",
        &format!("max_turns = 40\nmax_tokens = {}", through_m1 + 1),
    );
    let baseline = relays.next(None);
    let whole = finish(greet_run(
        dir.path(),
        &suite,
        &config,
        &["--out", &out("whole")],
    ))
    .await;
    let whole_started = baseline.started();
    let tables = read_tables(&whole).unwrap();
    let mission = &tables.missions[0];
    assert_eq!(
        (mission.status.as_str(), mission.halt_reason.as_deref()),
        ("halted", Some("max_tokens")),
        "{mission:?}"
    );

    // Killed in milestone m1's user test, resumed and killed again as milestone m2 starts,
    // resumed to the end: the budget ends the mission where it ended uninterrupted, so the
    // tokens spent before each kill were carried over.
    killed_greet(
        &relays,
        dir.path(),
        &suite,
        &config,
        &["--out", &out("killed")],
        Hold {
            role: Role::UserTesting,
            nth: 1,
            turn: 1,
        },
    )
    .await;
    let report = std::fs::read_dir(out("killed"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let resume = ["--resume", report.to_str().unwrap()];
    killed_greet(
        &relays,
        dir.path(),
        &suite,
        &config,
        &resume,
        Hold {
            role: Role::Worker,
            nth: 1,
            turn: 0,
        },
    )
    .await;
    resume_greet(
        &relays,
        dir.path(),
        &suite,
        &config,
        &report,
        (&whole, &whole_started),
    )
    .await;
    let resumed = read_tables(&report).unwrap();
    assert_eq!(resumed.missions[0].halt_detail, mission.halt_detail);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["resumed_at"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_of_a_killed_harness_end_when_the_next_one_starts() {
    use crate::process_tree::processes_with;
    let dir = tempfile::tempdir().unwrap();
    let relays = RelayServer::start().await;
    let config = relays.config(dir.path());
    // The first worker starts a long command; the harness is killed while it runs.
    let marker = "sleep 987123";
    let command = serde_json::json!({ "command": format!("{marker}; echo done") }).to_string();
    relays.set(
        Relay::new(greet(), None).with_hostile_worker(vec![vec![("run_command".into(), command)]]),
    );
    let out = dir.path().join("reports");
    let mut child = greet_run(
        dir.path(),
        &tiny_suite(),
        &config,
        &["--out", out.to_str().unwrap()],
    )
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while processes_with(marker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    // Nothing killed the command with the harness: it outlives it, in its control group.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!processes_with(marker).is_empty());

    // The next harness to build a sandbox ends it (here `missions-bench sandbox`; `run
    // --resume` does the same before any mission starts).
    let output = missions_bench(&["sandbox"], dir.path());
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
