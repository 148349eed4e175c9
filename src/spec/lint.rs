//! `suite lint`: a suite checked without running a model, a command or a test. Every file is read
//! against the format (what `load_suite` checks), then cross-checked for what the format alone
//! cannot say:
//! - every hidden acceptance test maps to exactly one milestone, and every milestone pattern
//!   matches a test (the tests are listed by reading their files, `test_ids`);
//! - every assertion has what its verifier in `suite check` needs: the oracle judges an
//!   assertion by running its `command`;
//! - `answers.md` is present and each of its sections has keywords and an answer;
//! - each feature's reference solution holds files;
//! - every folder of the suite is a mission (has a `mission.toml`).
//!
//! `run` and `suite check` load their suite through `linted_suite`, so a broken suite fails before
//! anything runs, with the same words.

use std::path::{Path, PathBuf};

use super::contract::{locate, Verify};
use super::error::{find_key, SpecError, SpecErrors};
use super::mission::MissionSpec;
use super::suite::{loaded, read_suite, Suite, SuiteRead};
use super::test_ids::{discover, Discovery, FoundTest};

/// What `suite lint` found.
#[derive(Debug, Clone, Default)]
pub struct Lint {
    /// Mission folders (with a `mission.toml`).
    pub missions: usize,
    /// Hidden acceptance tests listed from their files.
    pub tests: usize,
    /// Every problem, each with its file and, where there is one, line and field.
    pub findings: Vec<SpecError>,
    /// What could not be checked without running something, and why; not a problem.
    pub unchecked: Vec<String>,
}

impl Lint {
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Lints the suite in `dir`. Fails only when `dir` is not a suite folder or cannot be read.
pub fn lint_suite(dir: &Path) -> Result<Lint, SpecErrors> {
    lint(dir).map(|(_, lint)| lint)
}

/// Loads the suite in `dir` once it lints clean; its findings otherwise.
pub fn linted_suite(dir: &Path) -> Result<Suite, SpecErrors> {
    let (read, lint) = lint(dir)?;
    match read.file {
        Some(file) if lint.is_clean() => loaded(dir, file, read.missions),
        _ => Err(SpecErrors(lint.findings)),
    }
}

fn lint(dir: &Path) -> Result<(SuiteRead, Lint), SpecErrors> {
    let mut read = read_suite(dir)?;
    let mut lint = Lint {
        missions: read.mission_folders,
        findings: std::mem::take(&mut read.errors),
        ..Lint::default()
    };
    for folder in &read.not_missions {
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        lint.findings.push(SpecError::new(
            folder,
            format!(
                "folder `{name}` has no mission.toml, so the suite would skip it: add one, or move the folder out of the suite (a folder whose name starts with a dot is skipped without a word)"
            ),
        ));
    }
    for mission in &read.missions {
        let mut findings = Vec::new();
        check_tests(mission, &mut lint, &mut findings);
        check_assertions(mission, &mut findings);
        check_answers(mission, &mut findings);
        check_solution_files(mission, &mut findings);
        let name = mission.id().to_string();
        lint.findings
            .extend(findings.into_iter().map(|e| SpecError {
                mission: Some(name.clone()),
                ..e
            }));
    }
    Ok((read, lint))
}

/// An error at a known line of a file.
fn at_line(path: &Path, line: usize, field: Option<&str>, message: String) -> SpecError {
    SpecError {
        mission: None,
        path: path.to_path_buf(),
        line: Some(line),
        field: field.map(str::to_string),
        message,
    }
}

/// The hidden tests against `[acceptance.milestones]`.
fn check_tests(mission: &MissionSpec, lint: &mut Lint, findings: &mut Vec<SpecError>) {
    let tests = match discover(mission) {
        Discovery::Found(tests) => tests,
        Discovery::NotListed(why) => {
            lint.unchecked.push(format!(
                "mission `{}`: which milestone each acceptance test belongs to is checked when it runs: {why}",
                mission.id()
            ));
            return;
        }
    };
    lint.tests += tests.len();
    let toml_path = mission.dir.join("mission.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap_or_default();
    if tests.is_empty() {
        findings.push(SpecError::new(
            &mission.acceptance_dir(),
            format!(
                "acceptance/ holds no test that {} would collect, so no milestone can be measured",
                runner_words(mission)
            ),
        ));
        return;
    }
    // Tests without a milestone and tests with several, one finding per file and kind.
    let mut unclaimed: Vec<&FoundTest> = Vec::new();
    let mut doubled: Vec<(&FoundTest, String)> = Vec::new();
    for test in &tests {
        match mission.milestone_of_test(&test.id) {
            Ok(_) => {}
            Err(milestones) if milestones.is_empty() => unclaimed.push(test),
            Err(milestones) => {
                let names: Vec<String> = milestones.iter().map(|m| format!("`{m}`")).collect();
                doubled.push((test, names.join(" and ")));
            }
        }
    }
    for (file, group) in by_file(&unclaimed, |t| t) {
        let message = match group.as_slice() {
            [one] => format!(
                "test `{}` belongs to no milestone: no pattern of [acceptance.milestones] in mission.toml matches it",
                one.id
            ),
            _ => format!(
                "{} tests of this file belong to no milestone (no pattern of [acceptance.milestones] in mission.toml matches them): {}",
                group.len(),
                some_ids(&group.iter().map(|t| **t).collect::<Vec<_>>())
            ),
        };
        findings.push(at_line(file, group[0].line, None, message));
    }
    for (file, group) in by_file(&doubled, |(t, _)| t) {
        let (first, milestones) = group[0];
        let message = match group.as_slice() {
            [_] => format!(
                "test `{}` matches the patterns of milestones {milestones}; a test belongs to exactly one",
                first.id
            ),
            _ => format!(
                "{} tests of this file match the patterns of several milestones ({milestones} for the first); a test belongs to exactly one: {}",
                group.len(),
                some_ids(&group.iter().map(|(t, _)| *t).collect::<Vec<_>>())
            ),
        };
        findings.push(at_line(file, first.line, None, message));
    }
    for entry in &mission.acceptance_map {
        for pattern in entry.tests.patterns() {
            let Ok(glob) = super::glob::Globs::for_ids(std::slice::from_ref(pattern)) else {
                continue;
            };
            if !tests.iter().any(|t| glob.is_match_str(&t.id)) {
                findings.push(SpecError::at(
                    &toml_path,
                    &toml,
                    find_key(&toml, entry.milestone.as_str()),
                    &format!("acceptance.milestones.{}", entry.milestone),
                    format!(
                        "pattern `{pattern}` matches none of the {} acceptance tests; their ids look like {}",
                        tests.len(),
                        examples(&tests)
                    ),
                ));
            }
        }
    }
}

/// `items` grouped by the file of their test, in the order of first appearance.
fn by_file<'a, T>(
    items: &'a [T],
    test: impl Fn(&'a T) -> &'a FoundTest,
) -> Vec<(&'a Path, Vec<&'a T>)> {
    let mut groups: Vec<(&Path, Vec<&T>)> = Vec::new();
    for item in items {
        let path = test(item).path.as_path();
        match groups.iter_mut().find(|(p, _)| *p == path) {
            Some((_, group)) => group.push(item),
            None => groups.push((path, vec![item])),
        }
    }
    groups
}

/// The ids of up to three tests, and how many more there are.
fn some_ids(tests: &[&FoundTest]) -> String {
    let mut ids: Vec<String> = tests
        .iter()
        .take(3)
        .map(|t| format!("`{}`", t.id))
        .collect();
    if tests.len() > 3 {
        ids.push(format!("and {} more", tests.len() - 3));
    }
    ids.join(", ")
}

/// A few test ids, for a message about patterns.
fn examples(tests: &[FoundTest]) -> String {
    let mut ids: Vec<String> = tests
        .iter()
        .take(2)
        .map(|t| format!("`{}`", t.id))
        .collect();
    if tests.len() > 2 {
        ids.push("...".to_string());
    }
    ids.join(", ")
}

fn runner_words(mission: &MissionSpec) -> String {
    match mission.runner() {
        super::mission::Runner::Pytest => "pytest (files test_*.py or *_test.py)".to_string(),
        super::mission::Runner::Node => "node --test (test(...) and it(...) calls)".to_string(),
        super::mission::Runner::Cargo => "cargo test (#[test] functions)".to_string(),
        super::mission::Runner::Command => "the acceptance command".to_string(),
    }
}

/// Assertions a validator judges must carry the command the oracle proves them with.
fn check_assertions(mission: &MissionSpec, findings: &mut Vec<SpecError>) {
    let path = mission.contract_path();
    let source = std::fs::read_to_string(&path).unwrap_or_default();
    for (index, assertion) in mission.reference.assertions.iter().enumerate() {
        let has_command = assertion
            .command
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty());
        if assertion.verify == Verify::Agent && !has_command {
            findings.push(SpecError {
                mission: None,
                path: path.clone(),
                line: locate(&source, "assertion", Some(index), "verify"),
                field: Some("assertion.command".to_string()),
                message: format!(
                    "assertion `{}` (verify = \"agent\") has no command: the oracle proves each assertion in `suite check` by running its command, so the mission can never be shown valid",
                    assertion.id
                ),
            });
        }
    }
}

/// `answers.md` must be there, and each `## ` section must name keywords and give an answer.
fn check_answers(mission: &MissionSpec, findings: &mut Vec<SpecError>) {
    let path = mission.dir.join("answers.md");
    let Ok(text) = std::fs::read_to_string(&path) else {
        findings.push(SpecError::new(
            &path,
            "the mission has no answers.md: the simulated user answers the orchestrator's questions from it; write one, with no `## ` section if the user has nothing to add to goal.md",
        ));
        return;
    };
    let mut heading: Option<(usize, String)> = None;
    let mut has_text = false;
    let mut close = |heading: &Option<(usize, String)>, has_text: bool| {
        if let Some((line, title)) = heading {
            if !has_text {
                findings.push(at_line(
                    &path,
                    *line,
                    None,
                    format!("section `## {title}` has no answer under it"),
                ));
            }
        }
    };
    let mut empty_headings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if let Some(title) = line.strip_prefix("## ") {
            close(&heading, has_text);
            if title.split(',').all(|k| k.trim().is_empty()) {
                empty_headings.push(number + 1);
            }
            heading = Some((number + 1, title.trim().to_string()));
            has_text = false;
        } else if heading.is_some() && !line.trim().is_empty() {
            has_text = true;
        }
    }
    close(&heading, has_text);
    for line in empty_headings {
        findings.push(at_line(
            &path,
            line,
            None,
            "a `## ` heading names the keywords a question must contain, separated by commas; this one names none".to_string(),
        ));
    }
}

/// Each feature's folder under `solution/` holds at least one file.
fn check_solution_files(mission: &MissionSpec, findings: &mut Vec<SpecError>) {
    for feature in &mission.reference.features {
        let folder = mission.solution_dir().join(feature.id.as_str());
        if folder.is_dir() && !holds_a_file(&folder) {
            findings.push(SpecError::new(
                &folder,
                format!(
                    "the reference solution of feature `{}` holds no file: the oracle writes these files as the feature's work",
                    feature.id
                ),
            ));
        }
    }
}

fn holds_a_file(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path: PathBuf = entry.path();
        path.is_file() || (path.is_dir() && holds_a_file(&path))
    })
}
