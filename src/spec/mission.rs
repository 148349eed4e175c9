//! `mission.toml` and everything else in a mission folder: goal, answers, workspace, hidden
//! acceptance tests, reference solution and contract.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::answers::Answers;
use super::budget::{check_budget, Budget, BudgetOverrides};
use super::contract::{load_reference, ReferenceContract};
use super::error::{find_key, find_key_in_table};
use super::error::{parse_toml, read_file, SpecError, SpecErrors};
use super::glob::Globs;
use super::hash::hash_tree;
use super::ids::{check_id, MilestoneId, MissionId, Role};
use super::record::RecordRules;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Difficulty {
    /// One feature, one milestone, a few functions: within reach of a small local model.
    Micro,
    Small,
    Medium,
    Large,
}

impl Difficulty {
    pub fn as_str(self) -> &'static str {
        match self {
            Difficulty::Micro => "micro",
            Difficulty::Small => "small",
            Difficulty::Medium => "medium",
            Difficulty::Large => "large",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissionFile {
    pub id: MissionId,
    pub title: String,
    pub difficulty: Difficulty,
    pub language: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The name of one of suite.toml's `[environments.<name>]`; the default `[environment]`
    /// when absent.
    #[serde(default)]
    pub environment: Option<String>,
    pub acceptance: AcceptanceSpec,
    pub coverage: Option<CoverageSpec>,
    /// Mutation score of the agents' own tests; none is measured without it.
    pub mutation: Option<MutationSpec>,
    pub lines: LinesSpec,
    #[serde(default)]
    pub budget: BudgetOverrides,
    #[serde(default)]
    pub sandbox: MissionSandbox,
    /// `[browser]`: the mission needs a Chromium; its user-testing validators get the browser
    /// tools, and so do the roles it names.
    #[serde(default)]
    pub browser: Option<BrowserSpec>,
}

/// `[browser]` of a mission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserSpec {
    /// Roles that get the browser tools besides the user-testing validators (`worker`,
    /// `scrutiny`).
    #[serde(default)]
    pub roles: Vec<Role>,
}

impl BrowserSpec {
    /// Whether `role` gets the browser tools.
    pub fn gives(&self, role: Role) -> bool {
        role == Role::UserTesting || self.roles.contains(&role)
    }
}

/// `[sandbox]` of a mission: what its commands may reach beyond the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissionSandbox {
    #[serde(default)]
    pub network: NetworkAccess,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkAccess {
    /// No network, not even loopback.
    #[default]
    None,
    /// Loopback only: the mission tests a server of its own.
    Loopback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultsFormat {
    /// JUnit XML (pytest `--junitxml`, Node's `--test-reporter=junit`, most runners).
    Junit,
    /// libtest's JSON lines (`cargo test -- -Z unstable-options --format json`).
    LibtestJson,
    /// A reward file as Harbor's verifiers write it: one number (one test case `reward`) or a
    /// JSON object of named numbers (one case per name); a case passes at 1.
    Reward,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptanceSpec {
    pub command: String,
    pub results: ResultsFormat,
    /// Where the command writes its results, relative to the workspace copy.
    pub report: String,
    /// Folder of the workspace copy that `acceptance/` is copied to.
    #[serde(default = "default_into")]
    pub into: String,
    #[serde(default = "default_check_timeout_s")]
    pub timeout_s: u64,
    /// Milestone id -> globs over test ids (`classname::name`).
    pub milestones: BTreeMap<String, Vec<String>>,
    /// Workspace paths that are the product: kept in the sealed acceptance tree even where their
    /// name is also a module of the interpreter. Test-runner configuration, plugins and start-up
    /// hooks are left out whatever this says.
    #[serde(default)]
    pub product: Vec<String>,
    /// More workspace paths to leave out of the sealed acceptance tree.
    #[serde(default)]
    pub leave_out: Vec<String>,
    /// The test runner the command starts; inferred from the command when absent.
    #[serde(default)]
    pub runner: Option<Runner>,
}

/// The runner an acceptance command starts, which decides how its run is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    /// pytest: its configuration, plugins, start-up hooks and shadowing modules are left out,
    /// the harness's own `pytest.ini` is used, and results come through the harness's plugin.
    Pytest,
    /// Node's built-in test runner (`node --test`): sealed as a command; the hidden tests must
    /// come out of the run unchanged.
    Node,
    /// `cargo test`: sealed as a command, and the agents' build scripts, cargo configuration,
    /// toolchain files and build folder are left out.
    Cargo,
    /// Any other command: the hidden-test folder and the report are the harness's; the
    /// `leave_out` globs are left out; the hidden tests must come out of the run unchanged.
    Command,
}

impl Runner {
    pub fn as_str(self) -> &'static str {
        match self {
            Runner::Pytest => "pytest",
            Runner::Node => "node",
            Runner::Cargo => "cargo",
            Runner::Command => "command",
        }
    }
}

fn default_into() -> String {
    "acceptance".to_string()
}

fn default_check_timeout_s() -> u64 {
    600
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoverageFormat {
    CoverageJson,
    Lcov,
    Cobertura,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageSpec {
    pub command: String,
    pub format: CoverageFormat,
    pub report: String,
    #[serde(default = "default_check_timeout_s")]
    pub timeout_s: u64,
}

/// `[mutation]`: mutants of the product's source (`[lines] source` minus `[lines] tests`),
/// each judged by the mission's own test command.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutationSpec {
    /// Who makes the mutants: `builtin` (the harness's own Python operators) is the only one
    /// so far; a name is a string so that another tool is a clear spec error, not a parse error.
    #[serde(default = "default_mutation_tool")]
    pub tool: String,
    /// The agents' own tests: passes (exit 0) on the product, fails on a killed mutant.
    pub command: String,
    /// The most mutants tested, a seeded sample of every mutant the operators can make.
    #[serde(default = "default_max_mutants")]
    pub max_mutants: u32,
    /// The limit of the unmutated run; each mutant gets a multiple of that run's time.
    #[serde(default = "default_check_timeout_s")]
    pub timeout_s: u64,
    /// Product files never mutated (globs over workspace paths): helpers the tests do not
    /// exercise by design.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// The mutation tools a mission may name.
pub const MUTATION_TOOLS: [&str; 1] = ["builtin"];

fn default_mutation_tool() -> String {
    "builtin".to_string()
}

/// Two mutants keep each core mission's ground truth (acceptance, coverage, mutants, line
/// counts) under twice its time without them: each mutant costs about one run of the mission's
/// own tests, and the unmutated run one more (measured in suites/README.md).
pub const DEFAULT_MAX_MUTANTS: u32 = 2;

fn default_max_mutants() -> u32 {
    DEFAULT_MAX_MUTANTS
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinesSpec {
    pub source: Vec<String>,
    #[serde(default)]
    pub tests: Vec<String>,
}

/// A loaded, validated mission.
#[derive(Debug, Clone)]
pub struct MissionSpec {
    pub dir: PathBuf,
    pub file: MissionFile,
    pub goal: String,
    pub answers: Answers,
    pub reference: ReferenceContract,
    pub budget: Budget,
    pub source_globs: Globs,
    pub test_globs: Globs,
    /// `[acceptance] product` and `leave_out`.
    pub product_globs: Globs,
    pub leave_out_globs: Globs,
    /// `[mutation] exclude` (empty without `[mutation]`).
    pub mutation_exclude: Globs,
    /// The acceptance test ids of each milestone, in contract order.
    pub acceptance_map: Vec<MilestoneTests>,
    /// Hash of the mission folder, hidden files included.
    pub hash: String,
    /// What the record of its workspace leaves out (the suite's `[record]`).
    pub record: RecordRules,
}

impl MissionSpec {
    pub fn id(&self) -> &MissionId {
        &self.file.id
    }

    pub fn workspace_dir(&self) -> PathBuf {
        self.dir.join("workspace")
    }

    pub fn acceptance_dir(&self) -> PathBuf {
        self.dir.join("acceptance")
    }

    pub fn solution_dir(&self) -> PathBuf {
        self.dir.join("solution")
    }

    pub fn contract_path(&self) -> PathBuf {
        self.dir.join("contract.toml")
    }

    pub fn acceptance_timeout(&self) -> Duration {
        Duration::from_secs(self.file.acceptance.timeout_s)
    }

    /// Whether a workspace-relative path is a test file (`[lines] tests`).
    pub fn is_test_path(&self, relative: &Path) -> bool {
        self.test_globs.is_match(relative)
    }

    /// The acceptance command's runner: as declared, else the one the command names (`pytest`,
    /// `node --test`, `cargo test`).
    pub fn runner(&self) -> Runner {
        let acceptance = &self.file.acceptance;
        acceptance.runner.unwrap_or_else(|| {
            let command = &acceptance.command;
            if command.contains("pytest") {
                Runner::Pytest
            } else if command.contains("node --test") {
                Runner::Node
            } else if command.contains("cargo test") {
                Runner::Cargo
            } else {
                Runner::Command
            }
        })
    }

    /// Whether a workspace-relative path is a source file (`[lines] source` and not a test).
    pub fn is_source_path(&self, relative: &Path) -> bool {
        self.source_globs.is_match(relative) && !self.test_globs.is_match(relative)
    }

    /// Whether a workspace-relative path is a source file that `[mutation]` may mutate.
    pub fn is_mutation_path(&self, relative: &Path) -> bool {
        self.is_source_path(relative) && !self.mutation_exclude.is_match(relative)
    }

    /// The milestone an acceptance test id belongs to; `Err` lists every match when there are several.
    pub fn milestone_of_test(&self, test_id: &str) -> Result<&MilestoneId, Vec<&MilestoneId>> {
        let matches: Vec<&MilestoneId> = self
            .acceptance_map
            .iter()
            .filter(|entry| entry.tests.is_match_str(test_id))
            .map(|entry| &entry.milestone)
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            _ => Err(matches),
        }
    }
}

/// Loads one mission folder, collecting every problem across its files.
pub fn load_mission(
    dir: &Path,
    default_budget: &Budget,
    record: &RecordRules,
) -> Result<MissionSpec, SpecErrors> {
    let path = dir.join("mission.toml");
    let source = read_file(&path)?;
    let file: MissionFile = parse_toml(&path, &source)?;
    let toml = MissionToml {
        path: &path,
        source: &source,
    };
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut errors = check_mission_file(&file, &folder, &toml);
    let budget = default_budget.apply(&file.budget);
    if let Some(message) = check_budget(&budget) {
        errors.push(toml.at("budget", "budget", message));
    }
    let goal = read_goal(dir, &mut errors);
    let answers = read_answers(dir, &mut errors);
    for folder in ["workspace", "acceptance", "solution"] {
        if !dir.join(folder).is_dir() {
            errors.push(SpecError::new(
                &dir.join(folder),
                format!("the mission has no {folder}/ folder"),
            ));
        }
    }
    let reference = match load_reference(&dir.join("contract.toml")) {
        Ok(reference) => Some(reference),
        Err(contract_errors) => {
            errors.extend(contract_errors.0);
            None
        }
    };
    let mut acceptance_map = Vec::new();
    if let Some(reference) = &reference {
        acceptance_map = milestone_tests(&file, reference, &toml, &mut errors);
        check_solution(dir, reference, &mut errors);
        if file.browser.is_none() {
            if let Some(assertion) = reference
                .assertions
                .iter()
                .find(|a| a.verify == super::contract::Verify::Browser)
            {
                errors.push(toml.at(
                    "id",
                    "browser",
                    format!(
                        "contract.toml's assertion `{}` is checked in a browser, so mission.toml needs a [browser] table (and `network = \"loopback\"` in [sandbox])",
                        assertion.id
                    ),
                ));
            }
        }
    }
    let globs = match MissionGlobs::compile(&file, &toml) {
        Ok(globs) => globs,
        Err(glob_errors) => {
            errors.extend(glob_errors);
            return Err(SpecErrors(errors));
        }
    };
    match (reference, errors.is_empty()) {
        (Some(reference), true) => {
            let hash = hash_tree(dir)
                .map_err(|e| SpecError::new(dir, format!("cannot hash mission: {e}")))?;
            Ok(MissionSpec {
                dir: dir.to_path_buf(),
                file,
                goal,
                answers,
                reference,
                budget,
                source_globs: globs.source,
                test_globs: globs.tests,
                product_globs: globs.product,
                leave_out_globs: globs.leave_out,
                mutation_exclude: globs.mutation_exclude,
                acceptance_map,
                hash,
                record: record.clone(),
            })
        }
        _ => Err(SpecErrors(errors)),
    }
}

/// `mission.toml` as read, to point errors at the line of a key.
struct MissionToml<'a> {
    path: &'a Path,
    source: &'a str,
}

impl MissionToml<'_> {
    /// An error about `field`, at the first line that sets `key`.
    fn at(&self, key: &str, field: &str, message: String) -> SpecError {
        SpecError::at(
            self.path,
            self.source,
            find_key(self.source, key),
            field,
            message,
        )
    }

    /// An error about `[mutation] key`.
    fn at_mutation(&self, key: &str, message: String) -> SpecError {
        SpecError::at(
            self.path,
            self.source,
            find_key_in_table(self.source, "mutation", key),
            &format!("mutation.{key}"),
            message,
        )
    }
}

/// What is wrong in `mission.toml` on its own: the id (against the mission's `folder` name),
/// the title, the acceptance command and paths, the coverage report and the `[mutation]` table.
fn check_mission_file(file: &MissionFile, folder: &str, toml: &MissionToml) -> Vec<SpecError> {
    let mut errors = Vec::new();
    if let Err(message) = check_id(file.id.as_str()) {
        errors.push(toml.at("id", "id", message));
    } else if file.id.as_str() != folder {
        errors.push(toml.at(
            "id",
            "id",
            format!("id `{}` must equal the folder name `{folder}`", file.id),
        ));
    }
    if file.title.trim().is_empty() {
        errors.push(toml.at("title", "title", "title must not be empty".to_string()));
    }
    for (key, field, value) in [
        (
            "report",
            "acceptance.report",
            file.acceptance.report.as_str(),
        ),
        ("into", "acceptance.into", file.acceptance.into.as_str()),
    ] {
        if let Err(message) = check_relative(value) {
            errors.push(toml.at(key, field, message));
        }
    }
    if file.acceptance.command.trim().is_empty() {
        errors.push(toml.at(
            "command",
            "acceptance.command",
            "command must not be empty".to_string(),
        ));
    }
    if let Some(coverage) = &file.coverage {
        if let Err(message) = check_relative(&coverage.report) {
            errors.push(toml.at("report", "coverage.report", message));
        }
    }
    if let Some(browser) = &file.browser {
        if file.sandbox.network != NetworkAccess::Loopback {
            errors.push(toml.at(
                "browser",
                "browser",
                "a mission with [browser] needs `network = \"loopback\"` in its [sandbox]: the browser visits the product on 127.0.0.1".to_string(),
            ));
        }
        for role in &browser.roles {
            if !matches!(role, Role::Worker | Role::Scrutiny | Role::UserTesting) {
                errors.push(toml.at(
                    "roles",
                    "browser.roles",
                    format!(
                        "`{}` cannot get the browser tools; the roles that can are worker, scrutiny and user_testing",
                        role.as_str()
                    ),
                ));
            }
        }
    }
    if let Some(mutation) = &file.mutation {
        let at_mutation = |key: &str, message: String| toml.at_mutation(key, message);
        errors.extend(check_mutation(mutation, &file.language, &at_mutation));
    }
    errors
}

/// `goal.md`, which must not be empty; empty when it cannot be read.
fn read_goal(dir: &Path, errors: &mut Vec<SpecError>) -> String {
    let goal_path = dir.join("goal.md");
    match read_file(&goal_path) {
        Ok(goal) if goal.trim().is_empty() => {
            errors.push(SpecError::new(&goal_path, "goal.md is empty"));
            goal
        }
        Ok(goal) => goal,
        Err(error) => {
            errors.push(error);
            String::new()
        }
    }
}

/// `answers.md`, when the mission has one.
fn read_answers(dir: &Path, errors: &mut Vec<SpecError>) -> Answers {
    let answers_path = dir.join("answers.md");
    if !answers_path.exists() {
        return Answers::default();
    }
    match read_file(&answers_path) {
        Ok(text) => Answers::parse(&text),
        Err(error) => {
            errors.push(error);
            Answers::default()
        }
    }
}

/// The acceptance test ids of one milestone.
#[derive(Debug, Clone)]
pub struct MilestoneTests {
    pub milestone: MilestoneId,
    /// Globs over acceptance test ids.
    pub tests: Globs,
}

/// `[acceptance.milestones]` against the contract's milestones: every pattern list names a
/// milestone of the contract and holds a pattern, and every milestone has one. The milestones'
/// test globs, in contract order.
fn milestone_tests(
    file: &MissionFile,
    reference: &ReferenceContract,
    toml: &MissionToml,
    errors: &mut Vec<SpecError>,
) -> Vec<MilestoneTests> {
    for (milestone, patterns) in &file.acceptance.milestones {
        let field = format!("acceptance.milestones.{milestone}");
        if reference
            .milestones
            .iter()
            .all(|m| m.id.as_str() != milestone)
        {
            errors.push(toml.at(
                milestone,
                &field,
                format!("`{milestone}` is not a milestone of contract.toml"),
            ));
        }
        if patterns.is_empty() {
            errors.push(toml.at(
                milestone,
                &field,
                "give at least one test-id pattern".to_string(),
            ));
        }
    }
    let mut acceptance_map = Vec::new();
    for milestone in &reference.milestones {
        match file.acceptance.milestones.get(milestone.id.as_str()) {
            None => errors.push(toml.at(
                "milestones",
                "acceptance.milestones",
                format!(
                    "milestone `{}` of contract.toml has no acceptance test patterns",
                    milestone.id
                ),
            )),
            Some(patterns) => match Globs::for_ids(patterns) {
                Ok(tests) => acceptance_map.push(MilestoneTests {
                    milestone: milestone.id.clone(),
                    tests,
                }),
                Err(message) => errors.push(toml.at(
                    milestone.id.as_str(),
                    &format!("acceptance.milestones.{}", milestone.id),
                    message,
                )),
            },
        }
    }
    acceptance_map
}

/// `solution/` against the contract's features: a folder per feature, and no other folder.
fn check_solution(dir: &Path, reference: &ReferenceContract, errors: &mut Vec<SpecError>) {
    let solution = dir.join("solution");
    if !solution.is_dir() {
        return;
    }
    for feature in &reference.features {
        if !solution.join(feature.id.as_str()).is_dir() {
            errors.push(SpecError {
                mission: None,
                path: dir.join("contract.toml"),
                line: super::contract::locate(
                    &std::fs::read_to_string(dir.join("contract.toml")).unwrap_or_default(),
                    "feature",
                    reference.features.iter().position(|f| f.id == feature.id),
                    "id",
                ),
                field: Some("feature.id".to_string()),
                message: format!(
                    "feature `{}` has no solution/{}/ folder",
                    feature.id, feature.id
                ),
            });
        }
    }
    if let Ok(entries) = std::fs::read_dir(&solution) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if entry.path().is_dir() && !reference.features.iter().any(|f| f.id.as_str() == name) {
                errors.push(SpecError::new(
                    &entry.path(),
                    format!("solution folder `{name}` is not a feature of contract.toml"),
                ));
            }
        }
    }
}

/// The path globs of `mission.toml`.
struct MissionGlobs {
    source: Globs,
    tests: Globs,
    product: Globs,
    leave_out: Globs,
    mutation_exclude: Globs,
}

impl MissionGlobs {
    /// Compiles every glob list; the errors of all that do not compile.
    fn compile(file: &MissionFile, toml: &MissionToml) -> Result<MissionGlobs, Vec<SpecError>> {
        let mutation_exclude = match &file.mutation {
            Some(mutation) => {
                Globs::for_paths(&mutation.exclude).map_err(|m| toml.at_mutation("exclude", m))
            }
            None => Globs::for_paths(&[]).map_err(|m| SpecError::new(toml.path, m)),
        };
        let source =
            Globs::for_paths(&file.lines.source).map_err(|m| toml.at("source", "lines.source", m));
        let tests =
            Globs::for_paths(&file.lines.tests).map_err(|m| toml.at("tests", "lines.tests", m));
        let product = Globs::for_paths(&file.acceptance.product)
            .map_err(|m| toml.at("product", "acceptance.product", m));
        let leave_out = Globs::for_paths(&file.acceptance.leave_out)
            .map_err(|m| toml.at("leave_out", "acceptance.leave_out", m));
        match (source, tests, product, leave_out, mutation_exclude) {
            (Ok(source), Ok(tests), Ok(product), Ok(leave_out), Ok(mutation_exclude)) => {
                Ok(MissionGlobs {
                    source,
                    tests,
                    product,
                    leave_out,
                    mutation_exclude,
                })
            }
            (source, tests, product, leave_out, mutation_exclude) => Err([
                source.err(),
                tests.err(),
                product.err(),
                leave_out.err(),
                mutation_exclude.err(),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}

/// What is wrong with a `[mutation]` table: a tool the harness does not run, a language the
/// builtin tool does not mutate, an empty command or sample.
fn check_mutation(
    mutation: &MutationSpec,
    language: &str,
    at: &dyn Fn(&str, String) -> SpecError,
) -> Vec<SpecError> {
    let mut errors = Vec::new();
    if !MUTATION_TOOLS.contains(&mutation.tool.as_str()) {
        errors.push(at(
            "tool",
            format!(
                "mutation tool `{}` is not supported yet: the only one is `builtin` (Python)",
                mutation.tool
            ),
        ));
    } else if language != "python" {
        errors.push(at(
            "tool",
            format!(
                "the builtin mutation tool mutates Python only, and this mission's language is `{language}`"
            ),
        ));
    }
    if mutation.command.trim().is_empty() {
        errors.push(at("command", "command must not be empty".to_string()));
    }
    if mutation.max_mutants == 0 {
        errors.push(at(
            "max_mutants",
            "max_mutants must be at least 1 (leave out [mutation] to measure none)".to_string(),
        ));
    }
    if mutation.timeout_s == 0 {
        errors.push(at("timeout_s", "timeout_s must be at least 1".to_string()));
    }
    errors
}

/// A path inside the workspace: relative, without `..`.
fn check_relative(value: &str) -> Result<(), String> {
    let path = Path::new(value);
    if value.trim().is_empty() {
        return Err("path must not be empty".to_string());
    }
    if path.is_absolute()
        || path.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        })
    {
        return Err(format!(
            "`{value}` must be a relative path inside the workspace"
        ));
    }
    Ok(())
}
