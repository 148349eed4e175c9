//! Sealed acceptance: the hidden tests run where the agents' test machinery cannot reach.
//!
//! The sealed tree is a copy of the final workspace without what could change how the tests run
//! rather than what they test: the runner's configuration files, its plugins (`conftest.py`,
//! package metadata whose entry points name plugins), interpreter start-up hooks, bytecode and
//! compiled modules that are imported before the source, top-level modules that shadow one of the
//! interpreter's, and whatever the agents put in the folder the hidden tests go to. The harness
//! writes its own runner configuration, runs the command with a fresh `$HOME` and `$TMPDIR`, and
//! for pytest reads the outcomes from its own plugin, loaded before any code of the tree and
//! writing to a file it opened itself; the plugin also reports code of the tree that replaced the
//! runner's or the interpreter's functions, registered plugins or import hooks, or swapped the
//! collected tests. When the sealed tree left out machinery, acceptance also runs on the workspace
//! as the agents left it, and tests that passed only there are the evidence of tampering.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use walkdir::WalkDir;

use crate::events::{Event, LeftOut, OutcomeChange, TamperEvidence, TestResult, TestStatus};
use crate::fsutil::{copy_tree, Skipped};
use crate::model::millis;
use crate::spec::mission::{AcceptanceSpec, ResultsFormat, Runner};
use crate::spec::MissionSpec;
use crate::tools::{run_shell, CommandEnv, Notice};

use super::junit::{self, JunitCase};
use super::libtest;
use super::reward;
use super::{copy_workspace, GroundTruthError, Measurement};

/// The harness's pytest plugin; the module name the command's `-p` loads.
const PLUGIN: &str = include_str!("seal_pytest.py");
const PLUGIN_MODULE: &str = "missions_bench_seal";

/// The runner's own configuration at the root of the sealed tree: pytest takes the first
/// `pytest.ini` it finds walking up from the tests, and its folder becomes the root (so no
/// `conftest.py` or configuration above it is read).
const PYTEST_INI: &str =
    "[pytest]\n# missions-bench: the sealed acceptance run's own configuration.\n";

/// Lists which of the names given (one per line in the file `argv[1]`) the interpreter would
/// import from somewhere other than the current folder. Run with `-I`, so neither the current
/// folder nor `PYTHONPATH` is on its path.
const SHADOW_PROBE: &str = "import importlib.util, sys\nfor name in open(sys.argv[1]).read().split():\n    try:\n        spec = importlib.util.find_spec(name)\n    except Exception:\n        spec = None\n    if spec is not None and spec.origin != 'namespace':\n        print(name)\n";

/// Shadowed when the interpreter cannot be asked: the runner's own modules.
const RUNNER_MODULES: [&str; 7] = [
    "pytest",
    "_pytest",
    "pluggy",
    "py",
    "iniconfig",
    "packaging",
    "coverage",
];

/// pytest's plugins and the files it reads its configuration from.
const RUNNER_FILES: [&str; 6] = [
    "conftest.py",
    "pytest.ini",
    ".pytest.ini",
    "tox.ini",
    "setup.cfg",
    "pyproject.toml",
];

/// The harness's own folders beside a mission's workspace: the agents' `$HOME` and `$TMPDIR`, and
/// the ground truth's (cleared before it is measured).
const HARNESS_FOLDERS: [&str; 3] = ["home", "tmp", "ground-truth"];

/// The folders of one mission's ground truth, under the mission folder (recreated each time).
pub struct Layout {
    pub root: PathBuf,
    sealed: PathBuf,
    as_is: PathBuf,
    channel: PathBuf,
    plugin: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            sealed: root.join("sealed"),
            as_is: root.join("as-is"),
            channel: root.join("channel"),
            plugin: root.join("plugin"),
            home: root.join("home"),
            tmp: root.join("tmp"),
        }
    }

    /// Clears whatever is there (commands may write the mission folder) and creates the folders.
    fn prepare(&self) -> std::io::Result<()> {
        if self.root.symlink_metadata().is_ok() {
            if self.root.is_dir() && !self.root.is_symlink() {
                std::fs::remove_dir_all(&self.root)?;
            } else {
                std::fs::remove_file(&self.root)?;
            }
        }
        for dir in [&self.channel, &self.plugin, &self.home, &self.tmp] {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(
            self.plugin.join(format!("{PLUGIN_MODULE}.py")),
            PLUGIN.as_bytes(),
        )?;
        std::fs::write(self.plugin.join("shadow_probe.py"), SHADOW_PROBE)?;
        std::fs::write(self.plugin.join("coveragerc"), "[run]\n")?;
        Ok(())
    }

    /// The coverage run's folder and the variables that keep it off the agents' configuration.
    pub fn coverage_env(&self, base: &CommandEnv) -> std::io::Result<(PathBuf, CommandEnv)> {
        self.prepare()?;
        let mut env = base.clone();
        set_var(&mut env.vars, "HOME", &self.home.display().to_string());
        set_var(&mut env.vars, "TMPDIR", &self.tmp.display().to_string());
        set_var(
            &mut env.vars,
            "COVERAGE_RCFILE",
            &self.plugin.join("coveragerc").display().to_string(),
        );
        Ok((self.root.join("coverage"), env))
    }
}

fn set_var(vars: &mut Vec<(String, String)>, key: &str, value: &str) {
    vars.retain(|(k, _)| k != key);
    vars.push((key.to_string(), value.to_string()));
}

fn var<'a>(vars: &'a [(String, String)], key: &str) -> Option<&'a str> {
    vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Single-quotes a word for `sh -c`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Why a path of a Python workspace is test-runner machinery, if it is: `(why, machinery)` where
/// `machinery` is false for caches that cannot change the sealed run's verdict.
fn python_machinery(relative: &Path, is_dir: bool) -> Option<(&'static str, bool)> {
    let name = relative.file_name()?.to_string_lossy();
    let top = relative.components().count() == 1;
    let extension = relative
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if is_dir {
        return match name.as_ref() {
            "__pycache__" => Some((
                "bytecode cache: bytecode that is not checked against its source runs instead of it",
                true,
            )),
            ".pytest_cache" => Some(("pytest's cache", false)),
            n if n.ends_with(".dist-info") || n.ends_with(".egg-info") => Some((
                "package metadata: pytest loads the plugins its entry points name",
                true,
            )),
            _ => None,
        };
    }
    match name.as_ref() {
        "conftest.py" => return Some(("a pytest plugin (conftest.py)", true)),
        "sitecustomize.py" | "usercustomize.py" => {
            return Some(("an interpreter start-up hook", true))
        }
        "pytest.ini" | ".pytest.ini" | "tox.ini" | "setup.cfg" | "pyproject.toml" if top => {
            return Some(("test-runner configuration", true))
        }
        _ => {}
    }
    match extension.as_deref() {
        Some("pth") => Some(("an interpreter start-up hook (.pth)", true)),
        Some("pyc" | "pyo") => Some((
            "bytecode: it can be imported in place of, or instead of, the source",
            true,
        )),
        Some("so" | "pyd") => Some((
            "a compiled module: it is imported before a .py file of the same name",
            true,
        )),
        Some("egg-link") => Some(("package metadata", true)),
        _ => None,
    }
}

/// Whether a path of the sealed tree is cargo's machinery, and why: what could run before the
/// hidden tests or change how they are built (`(why, machinery)`).
fn cargo_machinery(relative: &Path, is_dir: bool) -> Option<(&'static str, bool)> {
    let top = relative.components().count() == 1;
    let name = relative.file_name()?.to_str()?;
    match name {
        "build.rs" if top && !is_dir => Some((
            "a build script runs before the tests are built and could change them",
            true,
        )),
        ".cargo" if is_dir => Some(("cargo configuration (test runners, build flags)", true)),
        "rust-toolchain" | "rust-toolchain.toml" if top => {
            Some(("a toolchain file picks the compiler", true))
        }
        "target" if top && is_dir => Some((
            "the build folder: acceptance builds the product from its source",
            false,
        )),
        _ => None,
    }
}

/// Removes from `tree` what the sealed run leaves out; what was removed, sorted by path.
fn leave_out(mission: &MissionSpec, tree: &Path, runner: Runner) -> Vec<LeftOut> {
    let into = Path::new(&mission.file.acceptance.into);
    let report = Path::new(&mission.file.acceptance.report);
    remove_where(tree, |relative, is_dir| {
        if relative == into {
            Some((
                "the folder the hidden tests are copied to belongs to the harness",
                true,
            ))
        } else if relative == report {
            Some(("the acceptance report is written by the run itself", true))
        } else if mission.is_test_path(relative) {
            Some(("the agents' own tests are not part of the product", false))
        } else {
            match runner {
                Runner::Pytest => python_machinery(relative, is_dir),
                Runner::Cargo => cargo_machinery(relative, is_dir),
                Runner::Node | Runner::Command => None,
            }
        }
        .or_else(|| {
            mission
                .leave_out_globs
                .is_match(relative)
                .then_some(("the mission's `leave_out`", false))
        })
    })
}

/// Removes from `tree` each entry `decide` gives a reason for (`(why, machinery)`), a folder with
/// everything inside; what was removed, in path order.
fn remove_where(
    tree: &Path,
    mut decide: impl FnMut(&Path, bool) -> Option<(&'static str, bool)>,
) -> Vec<LeftOut> {
    let mut removed = Vec::new();
    let mut walker = WalkDir::new(tree)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walker.next() {
        let Ok(entry) = entry else { continue };
        let Ok(relative) = entry.path().strip_prefix(tree) else {
            continue;
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        let is_dir = entry.file_type().is_dir();
        let Some((why, machinery)) = decide(relative, is_dir) else {
            continue;
        };
        if is_dir {
            walker.skip_current_dir();
        }
        let result = if is_dir {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        let why = match result {
            Ok(()) => why.to_string(),
            Err(e) => format!("{why} (could not be removed: {e})"),
        };
        removed.push(LeftOut {
            path: format!(
                "{}{}",
                relative.to_string_lossy(),
                if is_dir { "/" } else { "" }
            ),
            why,
            machinery,
        });
    }
    removed
}

/// Whether a left-out path is an attempt on the verdict whatever its effect: something no honest
/// mission writes. Interpreter start-up hooks in the product, a file where the acceptance report
/// goes, and runner configuration, plugins or hooks written outside the workspace. (A
/// `conftest.py` or `pytest.ini` in the workspace is not: agents write them for their own tests,
/// and they count only when they changed the verdict.)
fn is_attempt(mission: &MissionSpec, left: &LeftOut) -> bool {
    let path = left.path.trim_end_matches('/');
    let name = path.rsplit('/').next().unwrap_or(path);
    let startup_hook =
        matches!(name, "sitecustomize.py" | "usercustomize.py") || name.ends_with(".pth");
    let runner_file = RUNNER_FILES.contains(&name);
    let outside = path.starts_with("../");
    let hidden_folder = outside && name == mission.file.acceptance.into;
    startup_hook
        || path == mission.file.acceptance.report
        || (outside && (runner_file || hidden_folder))
}

/// What the agents' commands wrote in the mission folder beside the workspace (it is writable to
/// them, and runners search the folders above a tree for configuration): listed, never copied.
fn outside_the_workspace(workspace: &Path) -> Vec<LeftOut> {
    let Some(mission_dir) = workspace.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(mission_dir) else {
        return Vec::new();
    };
    let mut found: Vec<LeftOut> = entries
        .flatten()
        .filter(|e| Some(e.file_name().as_os_str()) != workspace.file_name())
        .filter(|e| !HARNESS_FOLDERS.iter().any(|h| e.file_name() == *h))
        .map(|e| LeftOut {
            path: format!("../{}", e.file_name().to_string_lossy()),
            why: "written in the mission folder, outside the workspace".to_string(),
            machinery: true,
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// A top-level module or package of a tree that could be imported instead of one of the
/// interpreter's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ModuleCandidate {
    /// The module's name.
    name: String,
    /// Its file or folder in the tree.
    file_name: String,
}

/// Top-level modules and packages of `tree` that could be imported instead of one of the
/// interpreter's, by name.
fn module_candidates(mission: &MissionSpec, tree: &Path) -> Vec<ModuleCandidate> {
    let Ok(entries) = std::fs::read_dir(tree) else {
        return Vec::new();
    };
    let mut candidates = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let name = if file_type.is_dir() {
            if !entry.path().join("__init__.py").exists() {
                continue;
            }
            file_name.clone()
        } else {
            match file_name.strip_suffix(".py") {
                Some(stem) => stem.to_string(),
                None => continue,
            }
        };
        let identifier = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let declared = mission.product_globs.is_match(&file_name)
            || (file_type.is_dir()
                && mission
                    .product_globs
                    .is_match(format!("{file_name}/__init__.py")));
        if identifier && !declared && file_name != mission.file.acceptance.into {
            candidates.push(ModuleCandidate { name, file_name });
        }
    }
    candidates.sort();
    candidates
}

/// Removes the top-level modules of `tree` that shadow one of the interpreter's.
async fn leave_out_shadows(
    mission: &MissionSpec,
    layout: &Layout,
    tree: &Path,
    env: &CommandEnv,
    notices: &mut Vec<Notice>,
) -> Vec<LeftOut> {
    let candidates = module_candidates(mission, tree);
    if candidates.is_empty() {
        return Vec::new();
    }
    let list = layout.channel.join("candidates.txt");
    let names: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
    let asked = std::fs::write(&list, names.join("\n")).is_ok();
    let probe = format!(
        "python -I {} {}",
        quote(&layout.plugin.join("shadow_probe.py").display().to_string()),
        quote(&list.display().to_string())
    );
    let probe_env = CommandEnv {
        timeout: Duration::from_secs(60),
        max_output_bytes: 64 * 1024,
        ..env.clone()
    };
    let shadowed: Vec<String> = match run_shell(&probe, &layout.channel, &probe_env).await {
        Ok(mut output) if asked && output.exit_code == Some(0) => {
            notices.append(&mut output.notices);
            output
                .stdout
                .lines()
                .map(|l| l.trim().to_string())
                .collect()
        }
        _ => RUNNER_MODULES.iter().map(|m| m.to_string()).collect(),
    };
    let mut removed = Vec::new();
    for ModuleCandidate { name, file_name } in candidates {
        if !shadowed.contains(&name) {
            continue;
        }
        let path = tree.join(&file_name);
        let is_dir = path.is_dir();
        let result = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        let why = format!(
            "it shadows the interpreter's module `{name}` (declare it in `[acceptance] product` if it is the product){}",
            match result {
                Ok(()) => String::new(),
                Err(e) => format!(" (could not be removed: {e})"),
            }
        );
        removed.push(LeftOut {
            path: if is_dir {
                format!("{file_name}/")
            } else {
                file_name
            },
            why,
            machinery: true,
        });
    }
    removed
}

/// One acceptance run's outcome: the tests by id, the command's end, why it has no verdict.
struct RunResult {
    tests: BTreeMap<String, TestStatus>,
    exit_code: Option<i32>,
    timed_out: bool,
    duration: Duration,
    error: Option<String>,
    /// What the harness's plugin found (sealed pytest runs only).
    problems: Vec<String>,
    /// Whether a report file existed when the command ended.
    report_written: bool,
}

/// pytest's JUnit address of a node id (`acceptance/test_a.py::Class::test[1]` ->
/// `acceptance.test_a.Class::test[1]`), the id the JUnit report and the milestone globs use.
pub fn test_id(nodeid: &str) -> String {
    let (path, params) = match nodeid.find('[') {
        Some(i) => nodeid.split_at(i),
        None => (nodeid, ""),
    };
    let mut names: Vec<String> = path.split("::").map(str::to_string).collect();
    let first = names[0].replace('/', ".");
    names[0] = first.strip_suffix(".py").unwrap_or(&first).to_string();
    if let Some(last) = names.last_mut() {
        last.push_str(params);
    }
    match names.split_last() {
        Some((name, classes)) if !classes.is_empty() => format!("{}::{name}", classes.join(".")),
        _ => names.concat(),
    }
}

/// What the plugin wrote: the tests' outcomes, the problems it found, whether it saw the run
/// start and end.
#[derive(Default)]
struct Channel {
    started: bool,
    ended: bool,
    tests: BTreeMap<String, TestStatus>,
    problems: Vec<String>,
}

fn read_channel(text: &str) -> Channel {
    let mut channel = Channel::default();
    let mut phases: BTreeMap<String, Vec<TestStatus>> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            channel.problems.push(format!(
                "the results channel holds a line the harness's plugin did not write: {}",
                line.chars().take(120).collect::<String>()
            ));
            continue;
        };
        let field = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        if channel.ended {
            channel
                .problems
                .push("the results channel was written after the run ended".to_string());
            break;
        }
        match field("event") {
            "start" => channel.started = true,
            "end" => channel.ended = true,
            "problem" => channel.problems.push(field("text").to_string()),
            "collect" => phases
                .entry(test_id(field("nodeid")))
                .or_default()
                .push(TestStatus::Failed),
            "report" => {
                if !seen.insert((field("nodeid").to_string(), field("when").to_string())) {
                    channel.problems.push(format!(
                        "the results channel reports {} ({}) twice",
                        test_id(field("nodeid")),
                        field("when")
                    ));
                }
                let status = match (
                    field("outcome"),
                    value.get("xfail").and_then(|v| v.as_bool()),
                ) {
                    ("failed", _) => TestStatus::Failed,
                    ("skipped", _) => TestStatus::Skipped,
                    // Setup and teardown that passed say nothing of the test itself.
                    ("passed", _) if field("when") != "call" => continue,
                    _ => TestStatus::Passed,
                };
                phases
                    .entry(test_id(field("nodeid")))
                    .or_default()
                    .push(status);
            }
            _ => channel.problems.push(
                "the results channel holds an event the harness's plugin does not write"
                    .to_string(),
            ),
        }
    }
    for (id, statuses) in phases {
        let status = if statuses.contains(&TestStatus::Failed) {
            TestStatus::Failed
        } else if statuses.contains(&TestStatus::Skipped) {
            TestStatus::Skipped
        } else if statuses.contains(&TestStatus::Passed) {
            TestStatus::Passed
        } else {
            TestStatus::Failed
        };
        channel.tests.insert(id, status);
    }
    channel
}

/// The acceptance run's events: how it was sealed, then its outcome. A tampered verdict never
/// counts as passed.
pub struct Acceptance {
    pub sealed: Event,
    pub finished: Event,
    pub tampered: bool,
}

/// The error of a run whose report lists no tests; the run as-is tells it from a missing report.
const NO_TESTS_REPORTED: &str = "the acceptance report lists no tests";

/// Runs the hidden acceptance tests on a sealed copy of `workspace` under `root` (cleared first),
/// and again on the workspace as the agents left it when the copy left out machinery. The paths
/// the sealed copy could not take go to `skipped`.
pub async fn run_acceptance(
    mission: &MissionSpec,
    workspace: &Path,
    root: &Path,
    base: &CommandEnv,
    notices: &mut Vec<Notice>,
    skipped: &mut Vec<Skipped>,
) -> Acceptance {
    let runner = mission.runner();
    let layout = Layout::new(root);
    let sealed = match seal(mission, workspace, &layout, base, notices, skipped).await {
        Ok(sealed) => sealed,
        Err(NotRun { error, left_out }) => return not_run(runner, &error, left_out),
    };
    let mut run = match run_command(mission, &layout.sealed, &sealed.env, notices).await {
        Ok(run) => run,
        Err(error) => return not_run(runner, &error, sealed.left_out),
    };
    if runner == Runner::Pytest {
        let text = std::fs::read_to_string(&sealed.channel).unwrap_or_default();
        settle_with_channel(&mut run, read_channel(&text));
    } else {
        // No plugin watches these runners: the hidden tests must at least be what ran.
        let into = layout.sealed.join(&mission.file.acceptance.into);
        run.problems
            .extend(changed_hidden_tests(&mission.acceptance_dir(), &into));
        if matches!(runner, Runner::Node | Runner::Cargo) {
            run.problems.extend(exit_disagrees(&run));
        }
    }

    // The workspace as the agents left it, their machinery included: evidence only.
    let ran_as_is = sealed.left_out.iter().any(|l| l.machinery);
    let mut changes = Vec::new();
    if ran_as_is {
        if let Ok(as_is) = run_as_is(mission, workspace, &layout, base, notices).await {
            changes = raised_outcomes(&run.tests, &as_is);
        }
    }
    let tampered = tamper_evidence(&run, changes, &sealed.left_out, sealed.attempts);
    distrust_a_changed_runner(&mut run);
    verdict(mission, runner, run, sealed.left_out, ran_as_is, tampered)
}

/// The sealed tree (`Layout::sealed`), ready for the acceptance command.
struct SealedTree {
    /// The command's environment: a fresh `$HOME` and `$TMPDIR`, for pytest the harness's plugin.
    env: CommandEnv,
    /// The file the harness's plugin writes to (pytest only).
    channel: PathBuf,
    /// What the sealed tree left out and what the agents wrote beside the workspace, by path.
    left_out: Vec<LeftOut>,
    /// The left-out paths no honest mission writes, as the evidence lists them.
    attempts: Vec<String>,
}

/// Why the sealed tree is not ready, with what it had left out by then.
struct NotRun {
    error: GroundTruthError,
    left_out: Vec<LeftOut>,
}

/// Prepares the sealed tree under `layout`: a copy of `workspace` without the agents' machinery,
/// for pytest the runner's own configuration and the harness's plugin, and the hidden tests.
async fn seal(
    mission: &MissionSpec,
    workspace: &Path,
    layout: &Layout,
    base: &CommandEnv,
    notices: &mut Vec<Notice>,
    skipped: &mut Vec<Skipped>,
) -> Result<SealedTree, NotRun> {
    let runner = mission.runner();
    let nothing_left_out = |error| NotRun {
        error,
        left_out: Vec::new(),
    };
    layout.prepare().map_err(|source| {
        nothing_left_out(GroundTruthError::Prepare {
            measurement: Measurement::Acceptance,
            path: layout.root.clone(),
            source,
        })
    })?;
    let tree = layout.sealed.as_path();
    skipped
        .extend(copy_workspace(workspace, tree, &[".git", ".mission"]).map_err(nothing_left_out)?);
    let mut left_out = leave_out(mission, tree, runner);
    left_out.extend(outside_the_workspace(workspace));
    let mut env = acceptance_env(mission, base);
    set_var(&mut env.vars, "HOME", &layout.home.display().to_string());
    set_var(&mut env.vars, "TMPDIR", &layout.tmp.display().to_string());
    let into = tree.join(&mission.file.acceptance.into);
    let channel = layout.channel.join("results.jsonl");
    if runner == Runner::Pytest {
        let ini = tree.join("pytest.ini");
        if let Err(source) = std::fs::write(&ini, PYTEST_INI) {
            let error = GroundTruthError::RunnerConfig { path: ini, source };
            return Err(NotRun { error, left_out });
        }
        left_out.extend(leave_out_shadows(mission, layout, tree, &env, notices).await);
        load_the_plugin(&mut env, layout, &into, &channel);
    }
    left_out.sort_by(|a, b| a.path.cmp(&b.path));
    let attempts = left_out
        .iter()
        .filter(|l| is_attempt(mission, l))
        .map(|l| format!("{} ({})", l.path, l.why))
        .collect();
    let copied = copy_acceptance_tests(mission, &into).and_then(|missed| {
        if missed.is_empty() {
            Ok(())
        } else {
            Err(GroundTruthError::AcceptanceTestsMissed {
                paths: missed.into_iter().map(|m| m.path).collect(),
            })
        }
    });
    if let Err(error) = copied {
        return Err(NotRun { error, left_out });
    }
    Ok(SealedTree {
        env,
        channel,
        left_out,
        attempts,
    })
}

/// A runner that fails when a test fails (`node --test`, `cargo test`) and ended otherwise
/// than with 0, while its report lists no failed test: the report is not the run's. (A product
/// that kills the runner after writing an all-passed report where the real one goes.)
fn exit_disagrees(run: &RunResult) -> Option<String> {
    if run.timed_out || run.exit_code == Some(0) || run.tests.is_empty() {
        return None;
    }
    if run.tests.values().any(|s| *s == TestStatus::Failed) {
        return None;
    }
    let how = match run.exit_code {
        Some(code) => format!("with exit code {code}"),
        None => "by a signal".to_string(),
    };
    Some(format!(
        "the test runner ended {how}, yet its report lists no failed test"
    ))
}

/// The hidden tests that are not in `into` as the mission has them, after a run: a product or
/// build step that rewrote or removed them could have decided the verdict.
fn changed_hidden_tests(hidden: &Path, into: &Path) -> Vec<String> {
    let mut changed = Vec::new();
    for entry in WalkDir::new(hidden)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        let Ok(relative) = entry.path().strip_prefix(hidden) else {
            continue;
        };
        let expected = std::fs::read(entry.path()).ok();
        let found = std::fs::read(into.join(relative)).ok();
        let what = match (&expected, &found) {
            (Some(a), Some(b)) if a == b => continue,
            (_, None) => "removed",
            _ => "changed",
        };
        changed.push(format!(
            "the hidden test file `{}` was {what} during the run",
            relative.display()
        ));
    }
    changed
}

/// The acceptance command's limits over `base`.
fn acceptance_env(mission: &MissionSpec, base: &CommandEnv) -> CommandEnv {
    CommandEnv {
        timeout: Duration::from_secs(mission.file.acceptance.timeout_s),
        max_output_bytes: 64 * 1024,
        ..base.clone()
    }
}

/// Has pytest load the harness's plugin before any code of the sealed tree, and tells the plugin
/// where to write (`channel`) and what the tree and the hidden tests' folder (`into`) are.
fn load_the_plugin(env: &mut CommandEnv, layout: &Layout, into: &Path, channel: &Path) {
    let addopts = match var(&env.vars, "PYTEST_ADDOPTS") {
        Some(existing) => format!("-p {PLUGIN_MODULE} {existing}"),
        None => format!("-p {PLUGIN_MODULE}"),
    };
    let python_path = match var(&env.vars, "PYTHONPATH") {
        Some(existing) => format!("{}:{existing}", layout.plugin.display()),
        None => layout.plugin.display().to_string(),
    };
    set_var(&mut env.vars, "PYTEST_ADDOPTS", &addopts);
    set_var(&mut env.vars, "PYTHONPATH", &python_path);
    set_var(
        &mut env.vars,
        "MISSIONS_BENCH_SEAL",
        &channel.display().to_string(),
    );
    set_var(
        &mut env.vars,
        "MISSIONS_BENCH_SEAL_TREE",
        &layout.sealed.display().to_string(),
    );
    set_var(
        &mut env.vars,
        "MISSIONS_BENCH_SEAL_INTO",
        &into.display().to_string(),
    );
}

/// Copies the hidden tests to `into`; the paths the copy could not take.
fn copy_acceptance_tests(
    mission: &MissionSpec,
    into: &Path,
) -> Result<Vec<Skipped>, GroundTruthError> {
    copy_tree(&mission.acceptance_dir(), into, &[]).map_err(|source| {
        GroundTruthError::CopyAcceptanceTests {
            to: into.to_path_buf(),
            source,
        }
    })
}

/// The events of an acceptance run whose command never ran.
fn not_run(runner: Runner, error: &GroundTruthError, left_out: Vec<LeftOut>) -> Acceptance {
    Acceptance {
        sealed: Event::AcceptanceSealed {
            runner: runner.as_str().to_string(),
            left_out,
            ran_as_is: false,
            tampered: None,
        },
        finished: Event::AcceptanceFinished {
            tests: Vec::new(),
            exit_code: None,
            timed_out: false,
            duration_ms: 0.0,
            error: Some(error.to_string()),
        },
        tampered: false,
    }
}

/// The evidence of tampering, if there is any: what the harness's plugin found, the outcomes the
/// agents' machinery raised (with the machinery that was left out), and the attempts whatever
/// their effect.
fn tamper_evidence(
    run: &RunResult,
    changes: Vec<OutcomeChange>,
    left_out: &[LeftOut],
    attempts: Vec<String>,
) -> Option<TamperEvidence> {
    (!run.problems.is_empty() || !changes.is_empty() || !attempts.is_empty()).then(|| {
        TamperEvidence {
            files: if changes.is_empty() {
                Vec::new()
            } else {
                left_out
                    .iter()
                    .filter(|l| l.machinery)
                    .map(|l| l.path.clone())
                    .collect()
            },
            tests: changes,
            runner: run.problems.clone(),
            attempts,
        }
    })
}

/// Outcomes from a run whose runner was changed cannot be trusted: none of them passed.
fn distrust_a_changed_runner(run: &mut RunResult) {
    if !run.problems.is_empty() {
        for status in run.tests.values_mut() {
            *status = TestStatus::Failed;
        }
        run.error = Some(format!(
            "acceptance cannot be trusted: {}",
            run.problems.join("; ")
        ));
    }
}

/// The events of an acceptance run whose command ran: how the tree was sealed, then each test
/// with its milestone and the command's end.
fn verdict(
    mission: &MissionSpec,
    runner: Runner,
    run: RunResult,
    left_out: Vec<LeftOut>,
    ran_as_is: bool,
    tampered: Option<TamperEvidence>,
) -> Acceptance {
    let is_tampered = tampered.is_some();
    let tests = run
        .tests
        .into_iter()
        .map(|(id, status)| TestResult {
            milestone: mission.milestone_of_test(&id).ok().cloned(),
            id,
            status,
        })
        .collect();
    Acceptance {
        sealed: Event::AcceptanceSealed {
            runner: runner.as_str().to_string(),
            left_out,
            ran_as_is,
            tampered,
        },
        finished: Event::AcceptanceFinished {
            tests,
            exit_code: run.exit_code,
            timed_out: run.timed_out,
            duration_ms: millis(run.duration),
            error: if run.timed_out {
                Some("the acceptance command timed out".to_string())
            } else {
                run.error
            },
        },
        tampered: is_tampered,
    }
}

/// Runs the acceptance command in `tree` (hidden tests in place) and reads its report.
async fn run_command(
    mission: &MissionSpec,
    tree: &Path,
    env: &CommandEnv,
    notices: &mut Vec<Notice>,
) -> Result<RunResult, GroundTruthError> {
    let spec = &mission.file.acceptance;
    let report_path = tree.join(&spec.report);
    // A report the agents left behind must not pass for the run's own.
    let _ = std::fs::remove_file(&report_path);
    let mut output = run_shell(&spec.command, tree, env)
        .await
        .map_err(|source| GroundTruthError::Command {
            measurement: Measurement::Acceptance,
            command: spec.command.clone(),
            source,
        })?;
    notices.append(&mut output.notices);
    let report_written = report_path.symlink_metadata().is_ok();
    let mut problems = Vec::new();
    let (tests, error) = match read_report(spec, &report_path) {
        Ok((cases, _)) if cases.is_empty() => {
            (BTreeMap::new(), Some(NO_TESTS_REPORTED.to_string()))
        }
        Ok((cases, report_problems)) => {
            problems = report_problems;
            (cases.into_iter().map(|c| (c.id, c.status)).collect(), None)
        }
        Err(error) => {
            let text = if output.stdout.trim().is_empty() {
                &output.stderr
            } else {
                &output.stdout
            };
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            (BTreeMap::new(), Some(format!("{error}\n{tail}")))
        }
    };
    Ok(RunResult {
        tests,
        exit_code: output.exit_code,
        timed_out: output.timed_out,
        duration: output.duration,
        error,
        problems,
        report_written,
    })
}

/// The test cases of the acceptance report at `path`, and what does not add up in it.
fn read_report(
    spec: &AcceptanceSpec,
    path: &Path,
) -> Result<(Vec<JunitCase>, Vec<String>), GroundTruthError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| GroundTruthError::NoAcceptanceReport {
            report: spec.report.clone(),
            source,
        })?;
    match spec.results {
        ResultsFormat::Junit => junit::parse_junit(&text)
            .map(|cases| (cases, Vec::new()))
            .map_err(|source| GroundTruthError::Junit {
                path: path.to_path_buf(),
                source,
            }),
        ResultsFormat::LibtestJson => libtest::parse_libtest_json(&text)
            .map(|report| (report.cases, report.problems))
            .ok_or_else(|| GroundTruthError::NoLibtestJson {
                report: spec.report.clone(),
            }),
        ResultsFormat::Reward => reward::parse_reward(&text)
            .map(|cases| (cases, Vec::new()))
            .map_err(|source| GroundTruthError::Reward {
                path: path.to_path_buf(),
                source,
            }),
    }
}

/// Takes a sealed pytest run's outcomes from the plugin's channel, checked against the report.
fn settle_with_channel(run: &mut RunResult, channel: Channel) {
    run.problems.extend(channel.problems);
    if !channel.started {
        // pytest never started (the command failed first): a report can only be forged.
        if !run.tests.is_empty() {
            run.problems.push(
                "the acceptance report was not written by a test run the harness's plugin saw"
                    .to_string(),
            );
        }
        return;
    }
    let report = std::mem::replace(&mut run.tests, channel.tests);
    // The report's own problems (missing, no tests) are settled against the channel below.
    run.error = None;
    if !channel.ended {
        let how = match (run.timed_out, run.exit_code) {
            (true, _) => "it timed out".to_string(),
            (false, Some(code)) => format!("exit code {code}"),
            (false, None) => "killed by a signal".to_string(),
        };
        run.error = Some(format!(
            "the test process ended before pytest finished its session ({how}); tests that did not report count as not passed"
        ));
        // pytest writes its report after the session: one that exists was not written by it.
        if run.report_written {
            run.problems.push(
                "a report was written although the test process ended before pytest could write it"
                    .to_string(),
            );
        }
        return;
    }
    if run.tests.is_empty() {
        run.error = Some("the acceptance run collected no tests".to_string());
        if !report.is_empty() {
            run.problems
                .push("the acceptance report lists tests the runner never ran".to_string());
        }
        return;
    }
    if report.is_empty() {
        run.problems.push(if run.report_written {
            format!(
                "the acceptance report lists no tests although pytest ran {}",
                run.tests.len()
            )
        } else {
            "the acceptance report is missing although pytest finished".to_string()
        });
        return;
    }
    let disagree: Vec<String> = run
        .tests
        .iter()
        .filter(|(id, status)| report.get(*id) != Some(status))
        .map(|(id, status)| {
            format!(
                "{id} ({} by the runner, {} in the report)",
                status_name(Some(*status)),
                status_name(report.get(id).copied())
            )
        })
        .chain(
            report
                .keys()
                .filter(|id| !run.tests.contains_key(*id))
                .map(|id| format!("{id} (only in the report)")),
        )
        .collect();
    if !disagree.is_empty() {
        let shown: Vec<&str> = disagree.iter().take(3).map(String::as_str).collect();
        run.problems.push(format!(
            "the acceptance report disagrees with the runner on {} test{}: {}",
            disagree.len(),
            if disagree.len() == 1 { "" } else { "s" },
            shown.join(", ")
        ));
    }
}

fn status_name(status: Option<TestStatus>) -> &'static str {
    match status {
        Some(TestStatus::Passed) => "passed",
        Some(TestStatus::Failed) => "failed",
        Some(TestStatus::Skipped) => "skipped",
        None => "missing",
    }
}

/// The acceptance command on a plain copy of the workspace, the agents' machinery included, as
/// acceptance ran before it was sealed.
async fn run_as_is(
    mission: &MissionSpec,
    workspace: &Path,
    layout: &Layout,
    base: &CommandEnv,
    notices: &mut Vec<Notice>,
) -> Result<Option<BTreeMap<String, TestStatus>>, GroundTruthError> {
    let tree = &layout.as_is;
    // Paths this copy cannot take were listed by the sealed copy already.
    copy_workspace(workspace, tree, &[".git"])?;
    copy_acceptance_tests(mission, &tree.join(&mission.file.acceptance.into))?;
    let run = run_command(mission, tree, &acceptance_env(mission, base), notices).await?;
    // No report at all: the machinery made the run worse, not better.
    let reported =
        !run.tests.is_empty() || matches!(&run.error, Some(e) if e.starts_with(NO_TESTS_REPORTED));
    Ok(reported.then_some(run.tests))
}

/// Tests the agents' machinery made look better: passed only with it, hidden by it while not
/// passing, or added by it and passing.
fn raised_outcomes(
    sealed: &BTreeMap<String, TestStatus>,
    as_is: &Option<BTreeMap<String, TestStatus>>,
) -> Vec<OutcomeChange> {
    let Some(as_is) = as_is else {
        return Vec::new();
    };
    let ids: std::collections::BTreeSet<&String> = sealed.keys().chain(as_is.keys()).collect();
    ids.into_iter()
        .filter_map(|id| {
            let (s, a) = (sealed.get(id).copied(), as_is.get(id).copied());
            let raised = match (s, a) {
                (Some(s), Some(TestStatus::Passed)) => s != TestStatus::Passed,
                (Some(s), None) => s != TestStatus::Passed,
                (None, Some(TestStatus::Passed)) => true,
                _ => false,
            };
            raised.then(|| OutcomeChange {
                id: id.clone(),
                sealed: s,
                as_is: a,
            })
        })
        .collect()
}

/// Removes from a coverage copy what starts with the interpreter rather than the tests
/// (start-up hooks, bytecode, compiled modules), for pytest missions.
pub fn leave_out_for_coverage(mission: &MissionSpec, tree: &Path) -> Vec<LeftOut> {
    if mission.runner() != Runner::Pytest {
        return Vec::new();
    }
    remove_where(tree, |relative, is_dir| {
        let name = relative.file_name().map(|n| n.to_string_lossy());
        // The agents' own tests need their plugins and configuration.
        if name.is_some_and(|n| RUNNER_FILES.contains(&n.as_ref())) {
            return None;
        }
        python_machinery(relative, is_dir)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_become_junit_ids() {
        assert_eq!(
            test_id("acceptance/test_m1_counting.py::test_counts"),
            "acceptance.test_m1_counting::test_counts"
        );
        assert_eq!(
            test_id("acceptance/test_a.py::TestX::test_y[a/b::c]"),
            "acceptance.test_a.TestX::test_y[a/b::c]"
        );
        assert_eq!(test_id("acceptance/test_a.py"), "acceptance.test_a");
    }

    #[test]
    fn the_channel_settles_each_test_from_its_phases() {
        let text = [
            r#"{"event":"start","pid":1}"#,
            r#"{"event":"report","nodeid":"a/test_x.py::t1","when":"setup","outcome":"passed","xfail":false}"#,
            r#"{"event":"report","nodeid":"a/test_x.py::t1","when":"call","outcome":"passed","xfail":false}"#,
            r#"{"event":"report","nodeid":"a/test_x.py::t1","when":"teardown","outcome":"failed","xfail":false}"#,
            r#"{"event":"report","nodeid":"a/test_x.py::t2","when":"setup","outcome":"skipped","xfail":false}"#,
            r#"{"event":"report","nodeid":"a/test_x.py::t3","when":"call","outcome":"passed","xfail":false}"#,
            r#"{"event":"collect","nodeid":"a/test_y.py","outcome":"failed"}"#,
            r#"{"event":"problem","text":"replaced os.getcwd by code from x.py"}"#,
            r#"{"event":"end","exitstatus":1}"#,
        ]
        .join("\n");
        let channel = read_channel(&text);
        assert!(channel.started && channel.ended);
        assert_eq!(
            channel.tests.into_iter().collect::<Vec<_>>(),
            vec![
                ("a.test_x::t1".to_string(), TestStatus::Failed),
                ("a.test_x::t2".to_string(), TestStatus::Skipped),
                ("a.test_x::t3".to_string(), TestStatus::Passed),
                ("a.test_y".to_string(), TestStatus::Failed),
            ]
        );
        assert_eq!(
            channel.problems,
            vec!["replaced os.getcwd by code from x.py"]
        );
    }

    #[test]
    fn lines_after_the_end_or_not_from_the_plugin_are_problems() {
        let channel =
            read_channel("{\"event\":\"start\"}\nforged\n{\"event\":\"end\"}\n{\"event\":\"end\"}");
        assert_eq!(channel.problems.len(), 2, "{:?}", channel.problems);
    }

    #[test]
    fn a_report_that_disagrees_with_the_channel_is_a_problem() {
        let mut run = RunResult {
            tests: [("a::t1".to_string(), TestStatus::Passed)].into(),
            exit_code: Some(0),
            timed_out: false,
            duration: Duration::ZERO,
            error: None,
            problems: Vec::new(),
            report_written: true,
        };
        let channel = Channel {
            started: true,
            ended: true,
            tests: [("a::t1".to_string(), TestStatus::Failed)].into(),
            problems: Vec::new(),
        };
        settle_with_channel(&mut run, channel);
        assert_eq!(run.tests["a::t1"], TestStatus::Failed);
        assert_eq!(run.problems.len(), 1);
        assert!(run.problems[0].contains("a::t1 (failed by the runner, passed in the report)"));
    }

    #[test]
    fn only_outcomes_the_machinery_raised_are_evidence() {
        let sealed: BTreeMap<String, TestStatus> = [
            ("t1".to_string(), TestStatus::Failed),
            ("t2".to_string(), TestStatus::Passed),
            ("t3".to_string(), TestStatus::Failed),
            ("t4".to_string(), TestStatus::Passed),
        ]
        .into();
        let as_is: BTreeMap<String, TestStatus> = [
            ("t1".to_string(), TestStatus::Passed),
            ("t2".to_string(), TestStatus::Failed),
            ("t5".to_string(), TestStatus::Passed),
        ]
        .into();
        let ids: Vec<String> = raised_outcomes(&sealed, &Some(as_is))
            .into_iter()
            .map(|c| c.id)
            .collect();
        // t1 passed only as-is, t3 was hidden while failing, t5 was added; t2 got worse and t4
        // was hidden while passing: neither helps the agents.
        assert_eq!(ids, vec!["t1", "t3", "t5"]);
        assert!(raised_outcomes(&sealed, &None).is_empty());
    }

    #[test]
    fn what_no_honest_mission_writes_is_an_attempt() {
        let suite = crate::spec::suite::load_suite(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("suites/core"),
        )
        .unwrap();
        let mission = &suite.missions[0];
        let left = |path: &str| LeftOut {
            path: path.to_string(),
            why: String::new(),
            machinery: true,
        };
        for path in [
            "sitecustomize.py",
            "pkg/usercustomize.py",
            "rig.pth",
            ".acceptance-junit.xml",
            "../pytest.ini",
            "../conftest.py",
            "../acceptance/",
        ] {
            assert!(is_attempt(mission, &left(path)), "{path}");
        }
        for path in [
            "conftest.py",
            "pytest.ini",
            "pyproject.toml",
            "acceptance/",
            "../notes.txt",
        ] {
            assert!(!is_attempt(mission, &left(path)), "{path}");
        }
    }

    #[test]
    fn a_runner_that_failed_with_an_all_passed_report_is_a_problem() {
        let run = |exit_code: Option<i32>, statuses: &[TestStatus]| RunResult {
            tests: statuses
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("test::m1 t{i}"), *s))
                .collect(),
            exit_code,
            timed_out: false,
            duration: Duration::ZERO,
            error: None,
            problems: Vec::new(),
            report_written: true,
        };
        let passed = [TestStatus::Passed, TestStatus::Skipped];
        assert_eq!(
            exit_disagrees(&run(None, &passed)).as_deref(),
            Some("the test runner ended by a signal, yet its report lists no failed test")
        );
        assert_eq!(
            exit_disagrees(&run(Some(1), &passed)).as_deref(),
            Some("the test runner ended with exit code 1, yet its report lists no failed test")
        );
        assert_eq!(exit_disagrees(&run(Some(0), &passed)), None);
        assert_eq!(
            exit_disagrees(&run(Some(1), &[TestStatus::Passed, TestStatus::Failed])),
            None
        );
        assert_eq!(exit_disagrees(&run(Some(1), &[])), None);
    }

    #[test]
    fn cargo_machinery_is_named() {
        for (path, dir) in [
            ("build.rs", false),
            (".cargo", true),
            ("nested/.cargo", true),
            ("rust-toolchain", false),
            ("rust-toolchain.toml", false),
        ] {
            assert!(
                cargo_machinery(Path::new(path), dir).is_some_and(|(_, m)| m),
                "{path}"
            );
        }
        // The build folder is a cache, not machinery: left out, never evidence.
        assert!(cargo_machinery(Path::new("target"), true).is_some_and(|(_, m)| !m));
        for (path, dir) in [
            ("src/build.rs", false),
            ("src/main.rs", false),
            ("Cargo.toml", false),
            ("src/target", true),
            (".cargo", false),
        ] {
            assert_eq!(cargo_machinery(Path::new(path), dir), None, "{path}");
        }
    }

    #[test]
    fn hidden_tests_changed_or_removed_during_a_run_are_named() {
        let hidden = tempfile::tempdir().unwrap();
        let into = tempfile::tempdir().unwrap();
        for dir in [hidden.path(), into.path()] {
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            std::fs::write(dir.join("main.rs"), "mod m1;\n").unwrap();
            std::fs::write(dir.join("m1.rs"), "#[test] fn a() {}\n").unwrap();
            std::fs::write(dir.join("sub/data.txt"), "x").unwrap();
        }
        assert_eq!(
            changed_hidden_tests(hidden.path(), into.path()),
            Vec::<String>::new()
        );
        // New files (a runner's cache) are not the hidden tests: only theirs count.
        std::fs::write(into.path().join("cache.bin"), "c").unwrap();
        assert_eq!(
            changed_hidden_tests(hidden.path(), into.path()),
            Vec::<String>::new()
        );
        std::fs::write(
            into.path().join("m1.rs"),
            "#[test] fn a() { /* rigged */ }\n",
        )
        .unwrap();
        std::fs::remove_file(into.path().join("sub/data.txt")).unwrap();
        assert_eq!(
            changed_hidden_tests(hidden.path(), into.path()),
            vec![
                "the hidden test file `m1.rs` was changed during the run".to_string(),
                "the hidden test file `sub/data.txt` was removed during the run".to_string(),
            ]
        );
    }

    #[test]
    fn python_machinery_is_named() {
        for (path, dir) in [
            ("conftest.py", false),
            ("deep/down/conftest.py", false),
            ("pytest.ini", false),
            ("pyproject.toml", false),
            ("sitecustomize.py", false),
            ("x/usercustomize.py", false),
            ("hook.pth", false),
            ("wordfreq.pyc", false),
            ("wordfreq.cpython-311-x86_64-linux-gnu.so", false),
            ("__pycache__", true),
            ("rig-1.0.dist-info", true),
        ] {
            assert!(
                python_machinery(Path::new(path), dir).is_some_and(|(_, m)| m),
                "{path}"
            );
        }
        assert!(python_machinery(Path::new(".pytest_cache"), true).is_some_and(|(_, m)| !m));
        for path in [
            "wordfreq.py",
            "tests/test_count.py",
            "sub/pytest.ini",
            "data.json",
        ] {
            assert!(python_machinery(Path::new(path), false).is_none(), "{path}");
        }
    }
}
