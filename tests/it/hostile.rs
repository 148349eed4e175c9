//! The hostile-call corpus (`tests/fixtures/hostile/corpus.toml`): every case runs through the
//! real tools in a fresh sandboxed mission folder and gets a clear observation; afterwards the
//! host is as it was, no process outlives the cases, and the workspace still works. The
//! harness's words in every reply, and the hostile mission's journal and transcripts, hold no
//! Rust debug output.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use missions_bench::tools::sandbox::{Limits, Network, Sandbox, SandboxPaths, SandboxPolicy};
use missions_bench::tools::{CommandEnv, NoticeKind, ToolErrorKind, Workspace, WorkspaceTools};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::{harness_words, journal_messages, transcript_messages, MessageScan};

pub const CORPUS: &str = include_str!("../fixtures/hostile/corpus.toml");

/// The two tests below look for each other's marker processes; they take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    pub case: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub why: String,
    #[serde(default = "run_command")]
    pub tool: String,
    pub args: Value,
    pub setup: Option<String>,
    pub network: Option<Network>,
    pub timeout_s: Option<u64>,
    #[serde(default)]
    pub notices: Vec<NoticeKind>,
    pub error: Option<ToolErrorKind>,
    pub text: Option<String>,
    pub not_text: Option<String>,
    #[serde(default)]
    pub failed: bool,
}

fn run_command() -> String {
    "run_command".to_string()
}

/// The paths placeholders stand for.
pub struct Places {
    pub outside: PathBuf,
    pub real_home: PathBuf,
    pub config: PathBuf,
    pub reports: PathBuf,
}

impl Places {
    /// A canary folder and an old report folder under `root`, the real home and the config.
    pub fn create(root: &Path) -> Places {
        let outside = root.join("outside");
        let reports = root.join("old-reports");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(&reports).unwrap();
        std::fs::write(outside.join("canary.txt"), "canary-content").unwrap();
        std::fs::write(
            reports.join("run.json"),
            "{\"key\": \"secret-report-canary\"}",
        )
        .unwrap();
        Places {
            outside,
            real_home: PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())),
            config: Path::new(env!("CARGO_MANIFEST_DIR")).join("missions-bench.toml"),
            reports,
        }
    }

    pub fn fill(&self, text: &str) -> String {
        text.replace("{outside}", &self.outside.display().to_string())
            .replace("{real_home}", &self.real_home.display().to_string())
            .replace("{config}", &self.config.display().to_string())
            .replace("{reports}", &self.reports.display().to_string())
    }
}

pub fn load_corpus() -> Vec<Case> {
    let corpus: Corpus = toml::from_str(CORPUS).expect("corpus.toml parses");
    corpus.case
}

/// The limits the corpus's expectations are written for.
pub fn test_limits() -> Limits {
    Limits {
        memory_bytes: Some(256 << 20),
        processes: Some(64),
        file_size_bytes: Some(16 << 20),
        cpu_seconds: Some(3),
        disk_bytes: Some(64 << 20),
        files: Some(2000),
    }
}

fn host_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_string())
}

/// What the cases must not change.
#[derive(Debug, PartialEq)]
struct HostState {
    outside: BTreeMap<String, (Vec<u8>, u32, i64, u32)>,
    passwd: Vec<u8>,
    authorized_keys: Option<Vec<u8>>,
    real_home_ssh: bool,
    hostname: String,
    stray_files: Vec<String>,
    config: Vec<u8>,
}

fn host_state(places: &Places) -> HostState {
    let mut outside = BTreeMap::new();
    for entry in std::fs::read_dir(&places.outside).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        let content = std::fs::read(entry.path()).unwrap_or_default();
        outside.insert(
            entry.file_name().to_string_lossy().into_owned(),
            (content, meta.mode(), meta.mtime(), meta.uid()),
        );
    }
    let stray_files = [
        "/etc/missions-bench-canary",
        "/tmp/missions-bench-canary",
        "/dev/shm/missions-bench-canary",
    ]
    .iter()
    .filter(|p| Path::new(p).exists())
    .map(|p| p.to_string())
    .collect();
    HostState {
        outside,
        passwd: std::fs::read("/etc/passwd").unwrap_or_default(),
        authorized_keys: std::fs::read(places.real_home.join(".ssh/authorized_keys")).ok(),
        real_home_ssh: places.real_home.join(".ssh").exists(),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default(),
        stray_files,
        config: std::fs::read(&places.config).unwrap_or_default(),
    }
}

/// Processes the corpus's background commands would leave, by their marker arguments.
pub fn stray_processes() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let marked = args.iter().any(|a| {
            a == "10000" || a.contains("10007") || a.contains("10008") || a.contains("10009")
        });
        if marked
            && !args
                .iter()
                .any(|a| a.contains("cargo") || a.contains("it-"))
        {
            found.push(format!(
                "{}: {}",
                entry.file_name().to_string_lossy(),
                args.join(" ")
            ));
        }
    }
    found
}

/// A sandboxed mission folder for one case.
pub fn sandboxed_tools(root: &Path, network: Network, timeout: Duration) -> WorkspaceTools {
    let workspace = root.join("workspace");
    let home = root.join("home");
    let tmp = root.join("tmp");
    let state = [workspace.join(".git"), workspace.join(".mission")];
    for dir in [&workspace, &home, &tmp].into_iter().chain(&state) {
        std::fs::create_dir_all(dir).unwrap();
    }
    let path = host_path();
    let policy = SandboxPolicy {
        network,
        limits: test_limits(),
        read: Vec::new(),
    };
    let paths = SandboxPaths {
        writable: vec![root.to_path_buf()],
        read_only: state.to_vec(),
        counted: Vec::new(),
        read: Vec::new(),
        path_var: path.clone(),
    };
    let sandbox = Sandbox::new(policy, &paths).expect("sandbox");
    WorkspaceTools {
        workspace: Workspace::new(&workspace).unwrap(),
        command_env: CommandEnv {
            vars: vec![
                ("PATH".into(), path),
                ("HOME".into(), home.display().to_string()),
                ("TMPDIR".into(), tmp.display().to_string()),
                ("LANG".into(), "C.UTF-8".into()),
            ],
            timeout,
            max_output_bytes: 16 * 1024,
            sandbox: Some(Arc::new(sandbox)),
            stop: None,
        },
    }
}

/// Runs one case; returns what went wrong, if anything, and the harness's messages scanned for
/// debug output.
async fn run_case(case: Case, root: PathBuf, places: Arc<Places>) -> (Vec<String>, MessageScan) {
    let mut scan = MessageScan::default();
    let problems = run_case_scanned(case, root, places, &mut scan).await;
    (problems, scan)
}

async fn run_case_scanned(
    case: Case,
    root: PathBuf,
    places: Arc<Places>,
    scan: &mut MessageScan,
) -> Vec<String> {
    let mut problems = Vec::new();
    let timeout = Duration::from_secs(case.timeout_s.unwrap_or(10));
    let tools = sandboxed_tools(&root, case.network.unwrap_or_default(), timeout);
    if let Some(setup) = &case.setup {
        let reply = tools
            .call("run_command", json!({"command": places.fill(setup)}))
            .await
            .unwrap();
        if !reply.content.starts_with("exit_code: 0") {
            problems.push(format!("setup failed: {}", reply.content));
            return problems;
        }
    }
    let args: Value =
        serde_json::from_str(&places.fill(&serde_json::to_string(&case.args).unwrap())).unwrap();
    let Some(reply) = tools.call(&case.tool, args).await else {
        return vec![format!("unknown tool `{}`", case.tool)];
    };
    let observation = &reply.content;
    for words in harness_words(&case.tool, &reply) {
        scan.scan(&format!("{} ({})", case.name, case.tool), &words);
    }
    if reply.error != case.error {
        problems.push(format!(
            "error {:?}, expected {:?}",
            reply.error, case.error
        ));
    }
    let kinds: Vec<NoticeKind> = reply.notices.iter().map(|n| n.kind).collect();
    for kind in &case.notices {
        if !kinds.contains(kind) {
            problems.push(format!("no `{}` notice (got {kinds:?})", kind.as_str()));
        }
    }
    if let Some(pattern) = &case.text {
        if !regex::Regex::new(pattern).unwrap().is_match(observation) {
            problems.push(format!("observation does not match `{pattern}`"));
        }
    }
    if let Some(pattern) = &case.not_text {
        if regex::Regex::new(pattern).unwrap().is_match(observation) {
            problems.push(format!("observation matches `{pattern}`"));
        }
    }
    if case.failed && observation.starts_with("exit_code: 0\n") {
        problems.push("the command succeeded".to_string());
    }
    if case.tool == "run_command"
        && !(observation.starts_with("exit_code: ") || observation.starts_with("killed: "))
    {
        problems.push("the observation does not start with its status".to_string());
    }
    // The mission goes on: the same sandbox still runs commands and writes the workspace.
    let after = tools
        .call(
            "run_command",
            json!({"command": "rm -rf f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 big many; echo after > after.txt && cat after.txt"}),
        )
        .await
        .unwrap();
    if !after
        .content
        .starts_with("exit_code: 0\n--- stdout ---\nafter\n")
    {
        problems.push(format!("the workspace no longer works: {}", after.content));
    }
    if !problems.is_empty() {
        problems.push(format!("observation:\n{observation}"));
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_corpus_leaves_the_host_intact() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cases = load_corpus();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut names = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(
            names.insert(case.name.clone()),
            "duplicate case `{}`",
            case.name
        );
        assert!(!case.why.is_empty());
    }

    let root = tempfile::tempdir().unwrap();
    let places = Arc::new(Places::create(root.path()));

    // Every protection this test relies on must be active on the machine running it.
    let probe = sandboxed_tools(
        &root.path().join("probe"),
        Network::None,
        Duration::from_secs(5),
    );
    let protections = probe
        .command_env
        .sandbox
        .as_ref()
        .unwrap()
        .protections()
        .to_vec();
    for p in &protections {
        eprintln!(
            "{:<12} {} {}",
            p.name,
            if p.active { "on " } else { "OFF" },
            p.how
        );
    }
    let inactive: Vec<&str> = protections
        .iter()
        .filter(|p| !p.active)
        .map(|p| p.name.as_str())
        .collect();
    assert!(inactive.is_empty(), "inactive protections: {inactive:?}");
    drop(probe);

    let before = host_state(&places);
    let limit = Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for case in cases.clone() {
        let dir = root.path().join("cases").join(&case.name);
        let places = places.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let name = case.name.clone();
            (name, run_case(case, dir, places).await)
        });
    }
    let mut failures = Vec::new();
    let mut messages = MessageScan::default();
    while let Some(result) = tasks.join_next().await {
        let (name, (problems, scan)) = result.expect("a case panicked");
        if !problems.is_empty() {
            failures.push(format!("{name}:\n  {}", problems.join("\n  ")));
        }
        messages.scanned += scan.scanned;
        messages.found.extend(scan.found);
    }
    eprintln!(
        "{} harness messages of the corpus's replies scanned for debug output",
        messages.scanned
    );
    messages.assert_clean("the corpus's replies");
    // Killed processes are gone once their control groups are removed; give the kernel a moment
    // to reap what `kill -9 -1` and the fork bomb left.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stray = stray_processes();
    let after = host_state(&places);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(before, after, "the host changed");
    assert!(
        stray.is_empty(),
        "processes outlived their commands: {stray:?}"
    );
}

/// A hostile worker: before doing its feature, the first worker of a real mission (played over
/// the OpenAI protocol by a scripted server) works through the whole corpus. The harness keeps
/// running, the mission finishes, every report is written with the sandbox's notices counted,
/// and the host is untouched.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_worker_mission_ends_with_the_harness_intact() {
    let _turn = ONE_AT_A_TIME.lock().await;
    use crate::common::{copy_suite, edit, tiny_suite};
    use crate::http_server::ScriptedServer;
    use crate::remote_mission::{files_containing, greet, run_remote_with, Protocol, Relay};

    let root = tempfile::tempdir().unwrap();
    let places = Places::create(root.path());
    let cleanup = json!({"command": "rm -rf f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 many new.txt big huge.txt blob.bin pipe pw out c hl mnt stolen.txt small.txt"}).to_string();
    let cases = load_corpus();
    let turns: Vec<Vec<(String, String)>> = cases
        .iter()
        .map(|case| {
            let mut calls = Vec::new();
            if let Some(setup) = &case.setup {
                calls.push((
                    "run_command".to_string(),
                    json!({"command": places.fill(setup)}).to_string(),
                ));
            }
            let mut args = case.args.clone();
            if let (Some(seconds), Some(object)) = (case.timeout_s, args.as_object_mut()) {
                if case.tool == "run_command" {
                    object.insert("timeout_s".into(), json!(seconds));
                }
            }
            calls.push((
                case.tool.clone(),
                places.fill(&serde_json::to_string(&args).unwrap()),
            ));
            calls.push(("run_command".to_string(), cleanup.clone()));
            calls
        })
        .collect();
    let hostile_turns = turns.len();
    let relay = Arc::new(Relay::new(greet(), None).with_hostile_worker(turns));
    let handler = relay.clone();
    let server = ScriptedServer::start(move |request, index| handler.answer(request, index)).await;

    let suites = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), suites.path());
    edit(
        &suite.join("suite.toml"),
        "max_turns = 40",
        "max_turns = 200",
    );
    let before = host_state(&places);
    let out = root.path().join("out");
    let report = run_remote_with(
        &server,
        Protocol::OpenAi,
        0,
        &out,
        &suite,
        "[sandbox]\nmemory = \"256MiB\"\nprocesses = 64\nfile_size = \"16MiB\"\ncpu_s = 3\ndisk = \"64MiB\"\nfiles = 2000\n",
    )
    .await;

    let mission = &report.tables.missions[0];
    assert_eq!(mission.status, "passed", "{mission:?}");
    assert_eq!(mission.acceptance_passed, mission.acceptance_total);
    for table in ["missions", "milestones", "runs", "turns", "assertions"] {
        assert!(
            report.dir.join(format!("{table}.parquet")).is_file(),
            "{table}.parquet"
        );
    }
    assert!(report.dir.join("run.json").is_file());

    // The hostile worker's run: every refusal and limit is an event, counted in its row.
    let hostile = report
        .tables
        .runs
        .iter()
        .find(|r| r.role == "worker" && r.turns as usize > hostile_turns)
        .expect("the hostile worker's run");
    let events = missions_bench::events::read_events(&report.dir.join("events.jsonl")).unwrap();
    let notices: Vec<NoticeKind> = events
        .iter()
        .filter_map(|r| match &r.event {
            missions_bench::events::Event::Sandbox {
                run: Some(run),
                kind,
                ..
            } if *run == hostile.agent_run => Some(*kind),
            _ => None,
        })
        .collect();
    let count = |f: fn(NoticeKind) -> bool| notices.iter().filter(|k| f(**k)).count() as u64;
    assert_eq!(hostile.sandbox_denials, count(NoticeKind::is_denial));
    assert_eq!(hostile.limits_hit, count(NoticeKind::is_limit));
    assert_eq!(hostile.truncations, count(NoticeKind::is_truncation));
    for kind in [
        NoticeKind::PathRefused,
        NoticeKind::Denied,
        NoticeKind::NetworkDenied,
        NoticeKind::Timeout,
        NoticeKind::OutputTruncated,
        NoticeKind::ReadCapped,
        NoticeKind::MemoryLimit,
        NoticeKind::ProcessLimit,
        NoticeKind::FileSizeLimit,
        NoticeKind::CpuLimit,
        NoticeKind::DiskLimit,
        NoticeKind::FileCountLimit,
    ] {
        assert!(notices.contains(&kind), "no {kind:?} in {notices:?}");
    }
    assert!(hostile.commands_timed_out >= 2, "{hostile:?}");
    assert_eq!(mission.sandbox_denials, hostile.sandbox_denials);

    // run.json says which protections were active.
    let run_json: Value =
        serde_json::from_str(&std::fs::read_to_string(report.dir.join("run.json")).unwrap())
            .unwrap();
    let protections = run_json["sandbox"]["protections"]["none"]
        .as_array()
        .expect("protections for missions without network");
    assert!(
        protections.iter().all(|p| p["active"] == json!(true)),
        "{protections:?}"
    );

    // The journal's messages (findings, halts, notices, failures) hold no debug output.
    let mut messages = MessageScan::default();
    for (place, message) in journal_messages(&report.dir.join("events.jsonl"))
        .into_iter()
        .chain(transcript_messages(&report.dir))
    {
        messages.scan(&place, &message);
    }
    eprintln!(
        "{} messages of the hostile mission's journal and transcripts scanned for debug output",
        messages.scanned
    );
    assert!(messages.scanned >= hostile_turns, "{}", messages.scanned);
    messages.assert_clean("the hostile mission's journal and transcripts");

    // Nothing secret reached the reports, and the host is as it was.
    assert!(files_containing(&report.dir, "secret-report-canary").is_empty());
    assert!(files_containing(&report.dir, "default_pairing").is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(before, host_state(&places), "the host changed");
    let stray = stray_processes();
    assert!(
        stray.is_empty(),
        "processes outlived their commands: {stray:?}"
    );
}
