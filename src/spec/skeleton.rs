//! `suite new`: a commented mission skeleton that lints clean and cannot pass `suite check` until
//! it is filled in. Every place still to write holds [`FILL_IN`]; `suite check` reports those
//! places (`still_empty`) instead of running the mission.

use std::path::{Path, PathBuf};

use super::ids::check_id;
use super::mission::Difficulty;

/// The mark of a placeholder of the skeleton.
pub const FILL_IN: &str = "FILL IN:";

/// A language the skeleton has a layout for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Python,
    Javascript,
    Rust,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
            Language::Rust => "rust",
        }
    }

    /// The suite environment the language's missions ask for by name, when not the default.
    fn environment(self) -> Option<&'static str> {
        match self {
            Language::Python => None,
            Language::Javascript => Some("node"),
            Language::Rust => Some("rust"),
        }
    }
}

/// What `new_mission` wrote.
#[derive(Debug, Clone)]
pub struct NewMission {
    pub dir: PathBuf,
    /// Files written, relative to the suite folder.
    pub files: Vec<PathBuf>,
    /// Whether the suite folder and its `suite.toml` were created too.
    pub new_suite: bool,
    /// The environment the mission would ask for and the suite does not name (left as a
    /// comment in mission.toml).
    pub missing_environment: Option<&'static str>,
}

/// Writes the skeleton of mission `id` into `suite_dir/id/`, creating the suite (with a
/// `suite.toml`) when the folder has none. Refuses an id that is not one, and a folder that
/// exists.
pub fn new_mission(
    suite_dir: &Path,
    id: &str,
    language: Language,
    difficulty: Difficulty,
) -> Result<NewMission, String> {
    check_id(id).map_err(|message| format!("mission id: {message}"))?;
    let dir = suite_dir.join(id);
    if dir.exists() {
        return Err(format!(
            "{} exists already; `suite new` writes only a new mission folder",
            dir.display()
        ));
    }
    let suite_toml = suite_dir.join("suite.toml");
    let new_suite = !suite_toml.exists();
    let mut files = Vec::new();
    if new_suite {
        let name = suite_dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "suite".to_string());
        write(suite_dir, "suite.toml", &suite_file(&name), &mut files)?;
    }
    let environment = language.environment();
    let known = std::fs::read_to_string(&suite_toml).unwrap_or_default();
    let missing_environment =
        environment.filter(|name| !known.contains(&format!("[environments.{name}]")));
    let layout = layout(language, id);
    let mut mission = mission_file(id, language, difficulty, missing_environment);
    mission.push_str(layout.acceptance);
    let contract = contract_file(id, &layout);
    let written: Vec<(String, String)> = [
        ("mission.toml".to_string(), mission),
        ("contract.toml".to_string(), contract),
        ("goal.md".to_string(), GOAL.to_string()),
        ("answers.md".to_string(), ANSWERS.to_string()),
    ]
    .into_iter()
    .chain(
        layout
            .workspace
            .iter()
            .map(|(path, text)| (format!("workspace/{path}"), text.to_string())),
    )
    .chain(
        layout
            .tests
            .iter()
            .map(|(path, text)| (format!("acceptance/{path}"), text.to_string())),
    )
    .chain(
        layout
            .solution
            .iter()
            .map(|(path, text)| (format!("solution/f1/{path}"), text.to_string())),
    )
    .collect();
    for (path, text) in written {
        write(suite_dir, &format!("{id}/{path}"), &text, &mut files)?;
    }
    Ok(NewMission {
        dir,
        files,
        new_suite,
        missing_environment,
    })
}

fn write(
    suite_dir: &Path,
    relative: &str,
    text: &str,
    files: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let path = suite_dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    files.push(PathBuf::from(relative));
    Ok(())
}

/// Where a mission is still the skeleton's: each file (relative to the mission folder) and line
/// that holds [`FILL_IN`], in path order.
pub fn still_empty(mission_dir: &Path) -> Vec<(PathBuf, usize)> {
    let mut files = Vec::new();
    collect(mission_dir, &mut files);
    files.sort();
    let mut places = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let relative = path
            .strip_prefix(mission_dir)
            .unwrap_or(&path)
            .to_path_buf();
        if let Some(line) = text.lines().position(|l| l.contains(FILL_IN)) {
            places.push((relative, line + 1));
        }
    }
    places
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

fn suite_file(name: &str) -> String {
    format!(
        r#"# A suite: this file, and one folder per mission beside it (`missions-bench suite new`).
name = "{name}"
description = ""

[environment]
# Run once per suite, in order, with `{{env}}` replaced by a cache folder: what every mission's
# commands need (here pytest and coverage for Python missions).
setup = [
  "python3 -m venv {{env}}/venv",
  "{{env}}/venv/bin/python -m pip install --quiet pytest coverage",
]
path = ["{{env}}/venv/bin"]

# Missions with `environment = "node"`: Node's built-in test runner.
[environments.node]
setup = ["node --version > {{env}}/node-version"]

# Missions with `environment = "rust"`: the toolchain's cargo and rustc, offline; RUSTC_BOOTSTRAP
# lets libtest write JSON results.
[environments.rust]
setup = [
  "mkdir -p {{env}}/bin && for p in cargo rustc rustdoc; do ln -s \"$(rustc --print sysroot)/bin/$p\" {{env}}/bin/$p; done",
]
path = ["{{env}}/bin"]
vars = {{ CARGO_NET_OFFLINE = "true", RUSTC_BOOTSTRAP = "1" }}

[defaults]
repeats = 1
"#
    )
}

fn mission_file(
    id: &str,
    language: Language,
    difficulty: Difficulty,
    missing_environment: Option<&str>,
) -> String {
    let environment = match (language.environment(), missing_environment) {
        (None, _) => String::new(),
        (Some(name), None) => format!("environment = \"{name}\"\n"),
        (Some(name), Some(_)) => format!(
            "# The suite names no [environments.{name}] yet: add one to suite.toml that provides\n# {}, then uncomment this line.\n# environment = \"{name}\"\n",
            language.as_str()
        ),
    };
    format!(
        r#"# Mission `{id}`, written by `missions-bench suite new`. A FILL IN mark with its colon is a
# place still to write, and `suite check` refuses the mission while one is left. Check the format at any
# time with `missions-bench suite lint <suite>`; prove the mission with `suite check`.
id = "{id}"
title = "{FILL_IN} a one-line title"
# micro, small, medium or large.
difficulty = "{difficulty}"
language = "{language}"
tags = []
{environment}"#,
        difficulty = difficulty.as_str(),
        language = language.as_str(),
    )
}

/// The files of a language's skeleton.
struct Layout {
    /// `[acceptance]`, `[acceptance.milestones]` and `[lines]` of mission.toml.
    acceptance: &'static str,
    workspace: Vec<(&'static str, String)>,
    tests: Vec<(&'static str, &'static str)>,
    /// The reference solution of feature `f1`.
    solution: Vec<(&'static str, &'static str)>,
    /// What proves assertion A1 in the skeleton, and what runs the feature's tests.
    assertion_command: &'static str,
    test_command: &'static str,
}

fn layout(language: Language, id: &str) -> Layout {
    let readme =
        format!("# {id}\n\n{FILL_IN} what the user's repository holds when the mission starts.\n");
    match language {
        Language::Python => Layout {
            acceptance: PYTHON_ACCEPTANCE,
            workspace: vec![("README.md", readme)],
            tests: vec![("test_m1_example.py", PYTHON_TEST)],
            solution: vec![
                ("app.py", "# FILL IN: the reference solution of feature f1.\n"),
                (
                    "tests/test_app.py",
                    "# FILL IN: the feature's own tests, written test-first.\nimport app\n\n\ndef test_app_imports():\n    assert app is not None\n",
                ),
            ],
            assertion_command: "python -c 'import app'",
            test_command: "python -m pytest -q -p no:cacheprovider",
        },
        Language::Javascript => Layout {
            acceptance: JAVASCRIPT_ACCEPTANCE,
            workspace: vec![("README.md", readme)],
            tests: vec![("m1_example.test.js", JAVASCRIPT_TEST)],
            solution: vec![
                ("index.js", "'use strict';\n// FILL IN: the reference solution of feature f1.\nmodule.exports = {};\n"),
                (
                    "tests/index.test.js",
                    "'use strict';\n// FILL IN: the feature's own tests, written test-first.\nconst test = require('node:test');\nconst assert = require('node:assert/strict');\n\ntest('index loads', () => {\n  assert.ok(require('../index.js'));\n});\n",
                ),
            ],
            assertion_command: "node -e \"require('./index.js')\"",
            test_command: "node --test tests/",
        },
        Language::Rust => {
            let crate_name = id.replace(['-', '.'], "_");
            Layout {
                acceptance: RUST_ACCEPTANCE,
                workspace: vec![
                    ("README.md", readme),
                    (
                        "Cargo.toml",
                        format!("[package]\nname = \"{crate_name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n"),
                    ),
                    ("src/lib.rs", "//! The user's crate as the mission starts.\n".to_string()),
                ],
                tests: vec![("main.rs", RUST_TEST_MAIN), ("m1.rs", RUST_TEST_M1)],
                solution: vec![
                    ("src/lib.rs", "//! FILL IN: the reference solution of feature f1.\n"),
                    (
                        "tests/lib.rs",
                        "// FILL IN: the feature's own tests, written test-first.\n#[test]\nfn builds() {}\n",
                    ),
                ],
                assertion_command: "cargo build --offline --quiet",
                test_command: "cargo test --offline",
            }
        }
    }
}

fn contract_file(id: &str, layout: &Layout) -> String {
    let files: Vec<String> = layout
        .solution
        .iter()
        .map(|(path, _)| format!("`{path}`"))
        .collect();
    format!(
        r#"# The hidden reference of mission `{id}`: the contract and plan the oracle writes in
# `suite check`, and what the agents' own are measured against. The agents never see it.

# What every worker is told about the repository, besides its feature.
library = """
{FILL_IN} notes for workers: the layout, the API the user asked for, how to run the tests
(`{test_command}`).
"""

# One [[milestone]] per stage the user can check; each has its hidden tests in acceptance/ (see
# [acceptance.milestones] in mission.toml).
[[milestone]]
id = "m1"
title = "{FILL_IN} what the user can do once this milestone passes"

# What the validators check, each belonging to one milestone. verify = "command": the harness runs
# `command` after every round; "agent": a user-testing validator judges it (give the oracle a
# `command` that proves it all the same); "browser": steps in a headless browser.
[[assertion]]
id = "A1"
milestone = "m1"
description = "{FILL_IN} one behaviour the user can observe"
verify = "command"
command = "{assertion_command}"
expect_exit = 0

# The plan: features, each fulfilling assertions of its own milestone. Its reference solution is
# solution/<feature id>/ ({files}), copied over the workspace by the oracle.
[[feature]]
id = "f1"
milestone = "m1"
title = "{FILL_IN} the first feature"
fulfils = ["A1"]
test_command = "{test_command}"
"#,
        assertion_command = layout.assertion_command.replace('"', "\\\""),
        test_command = layout.test_command,
        files = files.join(", "),
    )
}

const GOAL: &str = "FILL IN: what the user asks for, in the user's words. The orchestrator reads this file\nfirst; it plans milestones and features from it.\n";

const ANSWERS: &str = "# What the simulated user answers\n\nThe orchestrator's questions (`ask_user`) are matched against the keywords of each `## `\nheading, separated by commas; the text under a heading is the answer. A question nothing\nmatches gets \"no preference\".\n\nFILL IN: a section per thing the user has a preference about, or delete this line if none.\n";

const PYTHON_ACCEPTANCE: &str = r#"
[acceptance]
# The hidden tests in acceptance/ are copied into the workspace's `into` folder when the mission
# ends and run with `command` (pytest runs sealed, with the harness's own configuration).
command = "python -m pytest -q -p no:cacheprovider acceptance --junitxml=.acceptance-junit.xml"
results = "junit"
report = ".acceptance-junit.xml"
into = "acceptance"
timeout_s = 300

[acceptance.milestones]
# Each milestone's tests, as globs over their ids (`acceptance.<file>::<test>`); a test belongs to
# exactly one milestone.
m1 = ["acceptance.test_m1_*"]

# Optional: coverage of the agents' own tests, and the mutation score of those tests.
# [coverage]
# command = "python -m coverage run --source=. --omit='tests/*' -m pytest -q -p no:cacheprovider && python -m coverage json -q -o .coverage.json"
# format = "coverage-json"
# report = ".coverage.json"
#
# [mutation]
# command = "python -m pytest -x -q -p no:cacheprovider"

[lines]
# What counts as source and as the agents' tests (globs over workspace paths).
source = ["**/*.py"]
tests = ["tests/**", "**/test_*.py"]
"#;

const PYTHON_TEST: &str = "\"\"\"Hidden acceptance tests of milestone m1: ids `acceptance.test_m1_example::<test>`.\"\"\"\n\n\ndef test_m1_example():\n    raise AssertionError(\"FILL IN: the hidden acceptance tests of milestone m1\")\n";

const JAVASCRIPT_ACCEPTANCE: &str = r#"
[acceptance]
# The hidden tests in acceptance/ are copied into the workspace's `into` folder when the mission
# ends and run with `command`.
command = "node --test --test-reporter=junit --test-reporter-destination=.acceptance-junit.xml acceptance/"
results = "junit"
report = ".acceptance-junit.xml"
into = "acceptance"
timeout_s = 300

[acceptance.milestones]
# Node's JUnit reporter names every case `test::<test name>`; a test belongs to exactly one
# milestone.
m1 = ["test::m1 *"]

# Optional: coverage of the agents' own tests.
# [coverage]
# command = "node --test --experimental-test-coverage --test-reporter=lcov --test-reporter-destination=lcov.info tests/"
# format = "lcov"
# report = "lcov.info"

[lines]
source = ["**/*.js"]
tests = ["tests/**"]
"#;

const JAVASCRIPT_TEST: &str = "'use strict';\n// Hidden acceptance tests of milestone m1: their names start with `m1 `.\nconst test = require('node:test');\nconst assert = require('node:assert/strict');\n\ntest('m1 example', () => {\n  assert.fail('FILL IN: the hidden acceptance tests of milestone m1');\n});\n";

const RUST_ACCEPTANCE: &str = r#"
[acceptance]
# cargo finds tests/acceptance/main.rs as the test target `acceptance`; libtest writes one JSON
# event per line (RUSTC_BOOTSTRAP=1 from the environment allows `-Z unstable-options`).
command = "cargo test --offline --test acceptance -- -Z unstable-options --format json > .acceptance.json"
results = "libtest-json"
report = ".acceptance.json"
into = "tests/acceptance"
timeout_s = 300

[acceptance.milestones]
# One module per milestone: ids are `<module>::<test>`.
m1 = ["m1::*"]

[lines]
source = ["**/*.rs"]
tests = ["tests/**"]
"#;

const RUST_TEST_MAIN: &str = "//! Hidden acceptance tests, one module per milestone.\n\nmod m1;\n";

const RUST_TEST_M1: &str = "//! Milestone m1.\n\n#[test]\nfn example() {\n    panic!(\"FILL IN: the hidden acceptance tests of milestone m1\");\n}\n";
