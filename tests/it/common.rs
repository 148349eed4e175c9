//! Helpers shared by the integration tests: settings for real runs, and suite copies to break.

use std::path::{Path, PathBuf};

use missions_bench::fsutil::copy_tree;
use missions_bench::mission::{run_suite, RunReport, RunSettings};
use missions_bench::report::HarnessInfo;
use missions_bench::spec::config::Config;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn tiny_suite() -> PathBuf {
    repo().join("tests/fixtures/tiny")
}

pub fn three_milestones_suite() -> PathBuf {
    repo().join("tests/fixtures/three-milestones")
}

pub fn core_suite() -> PathBuf {
    repo().join("suites/core")
}

/// Suite environments are cached across tests and test runs, as users' are across runs.
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("env-cache")
}

/// What setup commands may see: enough to find python3 and reach the package index.
pub fn setup_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(name, _)| {
            [
                "PATH",
                "HOME",
                "LANG",
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
                "REQUESTS_CA_BUNDLE",
            ]
            .contains(&name.as_str())
                || name.starts_with("PIP_")
                || name.starts_with("PYENV")
                || name.to_lowercase().ends_with("_proxy")
        })
        .collect()
}

pub fn settings(suite: &Path, pairings: &[&str], out: &Path) -> RunSettings {
    let config = Config::default_config().expect("embedded config");
    let pairings = pairings
        .iter()
        .map(|name| config.pairing(name).expect("pairing"))
        .collect();
    RunSettings {
        budget: Default::default(),
        suite_dir: suite.to_path_buf(),
        config,
        pairings,
        missions: Vec::new(),
        repeats: None,
        jobs: 2,
        out_dir: out.to_path_buf(),
        shard: None,
        stop: Default::default(),
        resume: false,
        force: false,
        run_id: "test-run".to_string(),
        work_dir: out.join("work"),
        cache_dir: shared_cache(),
        setup_env: setup_env(),
        base_path: std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_string()),
        keep_workspaces: false,
        command_line: vec!["test".to_string()],
        harness: HarnessInfo {
            version: "test".to_string(),
            git_commit: "test".to_string(),
        },
        seed: None,
        model_env: Default::default(),
    }
}

pub async fn run(settings: &RunSettings) -> RunReport {
    match run_suite(settings, Vec::new()).await {
        Ok(report) => report,
        Err(error) => panic!("run failed: {error}"),
    }
}

/// A writable copy of a suite.
pub fn copy_suite(suite: &Path, into: &Path) -> PathBuf {
    let target = into.join(suite.file_name().expect("suite folder name"));
    let skipped = copy_tree(suite, &target, &[]).expect("copy suite");
    assert!(skipped.is_empty(), "{skipped:?}");
    target
}

/// Replaces `from` by `to` in a file, which must contain it.
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read file to edit");
    assert!(
        text.contains(from),
        "{} does not contain {from:?}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).expect("write edited file");
}

/// Runs the binary in `cwd` with the shared environment cache.
pub fn missions_bench(args: &[&str], cwd: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_missions-bench"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_CACHE_HOME", shared_cache())
        .output()
        .expect("run missions-bench")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `run SUITE --out OUT -q` of the tiny suite with more flags.
fn tiny_args(out: &Path, flags: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["run", tiny_suite().to_str().expect("path"), "--out"]
        .into_iter()
        .map(str::to_string)
        .collect();
    args.push(out.to_str().expect("path").to_string());
    args.push("-q".to_string());
    args.extend(flags.iter().map(|f| f.to_string()));
    args
}

/// `missions-bench run` of the tiny suite into `out` with more flags; it must exit 0. Returns
/// the report folder.
pub fn run_tiny(cwd: &Path, out: &Path, flags: &[&str]) -> String {
    let args = tiny_args(out, flags);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    report_of(&missions_bench(&args, cwd))
}

/// Starts `missions-bench run` of the tiny suite into `out` with more flags, its output piped.
pub fn spawn_tiny(cwd: &Path, out: &Path, flags: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_missions-bench"))
        .args(tiny_args(out, flags))
        .current_dir(cwd)
        .env("XDG_CACHE_HOME", shared_cache())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start missions-bench")
}

/// Sends `signal` to a child the test started.
pub fn send_signal(child: &std::process::Child, signal: i32) {
    // SAFETY: kill(2) on the pid of a child this process started and has not reaped.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// The report folder a successful `run` or `merge` printed; the command must have exited 0.
pub fn report_of(output: &std::process::Output) -> String {
    stdout_of(output, 0)
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .expect("report line")
        .to_string()
}

/// A table's columns that do not depend on when or under which id the run happened (times,
/// the process's memory and local models' raw usage, which holds timings, are measurements).
pub fn stable_columns<R: missions_bench::metrics::table::TableRow>(
    rows: &[R],
) -> Vec<(&'static str, missions_bench::metrics::table::ColumnData)> {
    R::to_columns(rows)
        .into_iter()
        .filter(|(name, _)| {
            *name != "run_id"
                && !name.contains("_ms")
                && !name.contains("per_s")
                && !name.contains("wall")
                && !name.contains("resident_bytes")
                && *name != "raw_usage"
        })
        .collect()
}

/// Waits until a run writing into `out` has finished `missions` missions; returns its journal.
pub fn wait_for_finished(out: &Path, missions: usize) -> PathBuf {
    use missions_bench::events::{read_events, Event};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the run made no progress"
        );
        let journal = std::fs::read_dir(out)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("events.jsonl"))
            .find(|p| p.is_file());
        if let Some(path) = journal {
            let finished = read_events(&path)
                .map(|records| {
                    records
                        .iter()
                        .filter(|r| matches!(r.event, Event::MissionFinished { .. }))
                        .count()
                })
                .unwrap_or(0);
            if finished >= missions {
                return path;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Asserts that a command exited 2 (bad input) and said `needle` on stderr.
pub fn assert_input_error(output: &std::process::Output, needle: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
}

/// A command's stdout, once it is known to have exited with `code` (both streams shown if not).
pub fn stdout_of(output: &std::process::Output, code: i32) -> String {
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{stdout}{}",
        text(&output.stderr)
    );
    stdout
}

/// The workspace tools on `dir` without a sandbox: system PATH, 5 s commands, 4 KiB output.
pub fn plain_tools(dir: &Path) -> missions_bench::tools::WorkspaceTools {
    use missions_bench::tools::{CommandEnv, Workspace, WorkspaceTools};
    WorkspaceTools {
        workspace: Workspace::new(dir).expect("workspace"),
        command_env: CommandEnv {
            vars: vec![("PATH".into(), "/usr/bin:/bin".into())],
            timeout: std::time::Duration::from_secs(5),
            max_output_bytes: 4096,
            sandbox: None,
            stop: None,
        },
    }
}

/// Two runs' five tables agree in every column but run ids and times.
pub fn assert_same_tables(
    a: &missions_bench::metrics::Tables,
    b: &missions_bench::metrics::Tables,
) {
    assert_eq!(
        stable_columns(&a.missions),
        stable_columns(&b.missions),
        "missions"
    );
    assert_eq!(
        stable_columns(&a.milestones),
        stable_columns(&b.milestones),
        "milestones"
    );
    assert_eq!(stable_columns(&a.runs), stable_columns(&b.runs), "runs");
    assert_eq!(stable_columns(&a.turns), stable_columns(&b.turns), "turns");
    assert_eq!(
        stable_columns(&a.assertions),
        stable_columns(&b.assertions),
        "assertions"
    );
}

/// The real model `name` as `../shared/models/fetch.sh` assembles it
/// (`$MISSIONS_BENCH_MODELS/<name>/model.gguf`, else `~/.cache/missions-bench/models/<name>/model.gguf`),
/// when it has been fetched; otherwise the test's output says the step was not run.
pub fn real_model(name: &str) -> Option<PathBuf> {
    let root = match std::env::var_os("MISSIONS_BENCH_MODELS") {
        Some(root) => PathBuf::from(root),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/missions-bench/models"),
    };
    let path = root.join(name).join("model.gguf");
    if path.is_file() {
        Some(path)
    } else {
        println!(
            "step not run: no real model at {} (fetch it with ../shared/models/fetch.sh)",
            path.display()
        );
        None
    }
}

/// The shapes Rust's `{:?}` leaves in text, where a person or a model reads a message:
/// `Some(`, `Ok(`, `Err(`, a bare `None`, quotes escaped by a string's Debug (`\"`), a struct's
/// Debug (`Name { field: `), a vector of strings (`["`), `PathBuf` and `OsString`. Returns each
/// one found with the text around it.
pub fn debug_shapes(text: &str) -> Vec<String> {
    debug_shapes_beyond(text, "")
}

/// [`debug_shapes`], less those that are `input`'s own words quoted (a message quoting the
/// line of a file it refuses): the shape with a few characters either side found in `input`.
pub fn debug_shapes_beyond(text: &str, input: &str) -> Vec<String> {
    static SHAPES: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(concat!(
            r"\b(?:Some|Ok|Err)\(",
            r"|\bNone\b(?:[^ \w]|$| [^a-z])",
            r#"|\\""#,
            r"|\b[A-Z][A-Za-z0-9]* \{ [a-z_][a-z0-9_]*: ",
            r#"|\[""#,
            r"|\b(?:PathBuf|OsString)\b",
        ))
        .expect("shapes")
    });
    let around = |start: usize, end: usize, before: usize, after: usize| {
        let mut start = start.saturating_sub(before);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (end + after).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        &text[start..end]
    };
    // Quoted when the shape with what precedes it, or with what follows it, is in the input.
    let quoted = |start: usize, end: usize| {
        !input.is_empty()
            && (input.contains(around(start, end, 8, 0))
                || input.contains(around(start, end, 0, 8)))
    };
    SHAPES
        .find_iter(text)
        .filter(|found| !quoted(found.start(), found.end()))
        .map(|found| {
            format!(
                "`{}` in …{}…",
                found.as_str(),
                around(found.start(), found.end(), 40, 40)
            )
        })
        .collect()
}

/// Fails when `message` (what `context` produced for a person or a model) holds Rust debug
/// output.
pub fn assert_no_debug_output(context: &str, message: &str) {
    let found = debug_shapes(message);
    assert!(
        found.is_empty(),
        "{context}: debug output in a message:\n{}\n--- message ---\n{message}",
        found.join("\n")
    );
}

/// Counts the messages scanned and gathers the debug output found in them, so a test can
/// name every offender at once.
#[derive(Default)]
pub struct MessageScan {
    pub scanned: usize,
    pub found: Vec<String>,
}

impl MessageScan {
    pub fn scan(&mut self, context: &str, message: &str) {
        self.scan_quoting(context, message, "");
    }

    /// [`MessageScan::scan`] of a message about `input`, whose own words it may quote.
    pub fn scan_quoting(&mut self, context: &str, message: &str, input: &str) {
        self.scanned += 1;
        for shape in debug_shapes_beyond(message, input) {
            self.found.push(format!("{context}: {shape}"));
        }
    }

    /// Fails naming every message with debug output.
    pub fn assert_clean(&self, what: &str) {
        assert!(
            self.found.is_empty(),
            "{what}: debug output in {} of {} messages:\n{}",
            self.found.len(),
            self.scanned,
            self.found.join("\n")
        );
    }
}

#[test]
fn the_debug_output_checker_finds_debug_shapes_and_passes_prose() {
    for debug in [
        "exit code Some(5)",
        "result: Ok(())",
        "failed: Err(\"no\")",
        "exit code: None",
        "the exit code was None.",
        "(None)",
        "None",
        "cannot read \"a\\\"b\"",
        "finding: Finding { id: \"F1\", milestone: m1 }",
        "paths [\"a\", \"b\"]",
        "at PathBuf",
        "source: OsString",
    ] {
        assert!(!debug_shapes(debug).is_empty(), "not caught: {debug}");
    }
    let input = "command = \"printf '[\\\"a\\\"]' | grep Some(x)\"";
    let quoting = format!("line 3: command `{input}` is refused");
    assert_eq!(debug_shapes(&quoting).len(), 3, "{quoting}");
    assert_eq!(debug_shapes_beyond(&quoting, input), Vec::<String>::new());
    assert_eq!(
        debug_shapes_beyond("expected Some(5)", input).len(),
        1,
        "a shape not quoted from the input"
    );
    for prose in [
        "missing field `id`",
        "exit code 5",
        "None of the tests ran",
        "`a.toml` line 3: expected value at column 1",
        "Something went wrong: the command ended (exit code 1)",
        "{ \"v\": 1 }",
        "SomeOther(thing)",
        "a Okay( joke",
        "if x { y: 1 }",
        "the task is done [not really]",
    ] {
        assert_eq!(debug_shapes(prose), Vec::<String>::new(), "{prose}");
    }
}

/// The words of a tool reply the harness wrote, for [`MessageScan`]: every notice, an error
/// reply whole, and a command's status lines. A command's own output (after `--- stdout ---`)
/// and what a file tool read from the workspace are the workspace's words, not the harness's.
pub fn harness_words(tool: &str, reply: &missions_bench::tools::ToolReply) -> Vec<String> {
    let mut words: Vec<String> = reply.notices.iter().map(|n| n.detail.clone()).collect();
    if reply.error.is_some() {
        words.push(reply.content.clone());
    } else if tool == "run_command" {
        let head = reply.content.split("--- stdout ---\n").next().unwrap_or("");
        words.push(head.to_string());
    }
    words
}

/// The messages of a report's journal a person reads: every `detail`, `message`, `reason`,
/// `title` and `error` of its events (findings, halts, notices, failed measurements, skipped
/// paths), each with its journal line.
pub fn journal_messages(journal: &Path) -> Vec<(String, String)> {
    fn walk(value: &serde_json::Value, line: usize, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(object) => {
                for (key, value) in object {
                    match value {
                        serde_json::Value::String(text)
                            if ["detail", "message", "reason", "title", "error"]
                                .contains(&key.as_str()) =>
                        {
                            out.push((format!("events.jsonl line {line}: {key}"), text.clone()));
                        }
                        _ => walk(value, line, out),
                    }
                }
            }
            serde_json::Value::Array(values) => {
                for value in values {
                    walk(value, line, out);
                }
            }
            _ => {}
        }
    }
    let text = std::fs::read_to_string(journal).expect("read the journal");
    let mut messages = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a journal line");
        walk(&value["event"], index + 1, &mut messages);
    }
    messages
}

/// The messages of a report's transcripts the harness wrote: each agent run's first message
/// (its task, with the findings and handoffs it carries) and the replies of its tools, a
/// command's status lines only and nothing a file tool read from the workspace.
pub fn transcript_messages(report: &Path) -> Vec<(String, String)> {
    let mut messages = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut folders = vec![report.join("transcripts")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read a transcript");
        let name = file
            .strip_prefix(report)
            .unwrap_or(&file)
            .display()
            .to_string();
        let mut first_user = true;
        for (index, line) in text.lines().enumerate() {
            let value: serde_json::Value = serde_json::from_str(line).expect("a transcript line");
            let content = value["content"].as_str().unwrap_or_default();
            let place = format!("{name} line {}", index + 1);
            match (value["role"].as_str(), value["tool_name"].as_str()) {
                (Some("user"), _) if first_user => {
                    first_user = false;
                    messages.push((place, content.to_string()));
                }
                (Some("tool"), Some("read_file" | "list_files" | "search_files")) => {}
                (Some("tool"), Some(_)) => {
                    let head = content.split("--- stdout ---\n").next().unwrap_or("");
                    messages.push((place, head.to_string()));
                }
                _ => {}
            }
        }
    }
    messages
}
