//! `mission.toml` and everything else in a mission folder: goal, answers, workspace, hidden
//! acceptance tests, reference solution and contract.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::answers::Answers;
use super::contract::{load_reference, ReferenceContract};
use super::error::{parse_toml, read_file, SpecError, SpecErrors};
use super::glob::Globs;
use super::hash::hash_tree;
use super::ids::{check_id, MilestoneId, MissionId};
use super::record::RecordRules;
use super::suite::{check_budget, find_key, find_key_in_table, Budget, BudgetOverrides};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Difficulty {
    Small,
    Medium,
    Large,
}

impl Difficulty {
    pub fn as_str(self) -> &'static str {
        match self {
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
    pub acceptance: AcceptanceSpec,
    pub coverage: Option<CoverageSpec>,
    /// Mutation score of the agents' own tests; none is measured without it.
    pub mutation: Option<MutationSpec>,
    pub lines: LinesSpec,
    #[serde(default)]
    pub budget: BudgetOverrides,
    #[serde(default)]
    pub sandbox: MissionSandbox,
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
#[serde(rename_all = "snake_case")]
pub enum ResultsFormat {
    Junit,
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
    /// Any other command: the hidden-test folder and the report are the harness's; the
    /// `leave_out` globs are left out.
    Command,
}

impl Runner {
    pub fn as_str(self) -> &'static str {
        match self {
            Runner::Pytest => "pytest",
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
    /// Milestone -> globs over acceptance test ids, in contract order.
    pub acceptance_map: Vec<(MilestoneId, Globs)>,
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

    /// The acceptance command's runner: as declared, else `pytest` when the command names it.
    pub fn runner(&self) -> Runner {
        let acceptance = &self.file.acceptance;
        acceptance.runner.unwrap_or_else(|| {
            if acceptance.command.contains("pytest") {
                Runner::Pytest
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
            .filter(|(_, globs)| globs.is_match_str(test_id))
            .map(|(m, _)| m)
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
    let mut errors = Vec::new();
    let at = |key: &str, field: &str, message: String| {
        SpecError::at(&path, &source, find_key(&source, key), field, message)
    };

    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if let Err(message) = check_id(file.id.as_str()) {
        errors.push(at("id", "id", message));
    } else if file.id.as_str() != folder {
        errors.push(at(
            "id",
            "id",
            format!("id `{}` must equal the folder name `{folder}`", file.id),
        ));
    }
    if file.title.trim().is_empty() {
        errors.push(at("title", "title", "title must not be empty".to_string()));
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
            errors.push(at(key, field, message));
        }
    }
    if file.acceptance.command.trim().is_empty() {
        errors.push(at(
            "command",
            "acceptance.command",
            "command must not be empty".to_string(),
        ));
    }
    if let Some(coverage) = &file.coverage {
        if let Err(message) = check_relative(&coverage.report) {
            errors.push(at("report", "coverage.report", message));
        }
    }
    let mutation_exclude = match &file.mutation {
        Some(mutation) => {
            let at_mutation = |key: &str, message: String| {
                SpecError::at(
                    &path,
                    &source,
                    find_key_in_table(&source, "mutation", key),
                    &format!("mutation.{key}"),
                    message,
                )
            };
            errors.extend(check_mutation(mutation, &file.language, &at_mutation));
            Globs::for_paths(&mutation.exclude).map_err(|m| at_mutation("exclude", m))
        }
        None => Globs::for_paths(&[]).map_err(|m| SpecError::new(&path, m)),
    };
    let source_globs =
        Globs::for_paths(&file.lines.source).map_err(|m| at("source", "lines.source", m));
    let test_globs = Globs::for_paths(&file.lines.tests).map_err(|m| at("tests", "lines.tests", m));
    let product_globs = Globs::for_paths(&file.acceptance.product)
        .map_err(|m| at("product", "acceptance.product", m));
    let leave_out_globs = Globs::for_paths(&file.acceptance.leave_out)
        .map_err(|m| at("leave_out", "acceptance.leave_out", m));
    let budget = default_budget.apply(&file.budget);
    if let Some(message) = check_budget(&budget) {
        errors.push(at("budget", "budget", message));
    }

    let goal_path = dir.join("goal.md");
    let goal = match read_file(&goal_path) {
        Ok(goal) if goal.trim().is_empty() => {
            errors.push(SpecError::new(&goal_path, "goal.md is empty"));
            goal
        }
        Ok(goal) => goal,
        Err(error) => {
            errors.push(error);
            String::new()
        }
    };
    let answers_path = dir.join("answers.md");
    let answers = if answers_path.exists() {
        match read_file(&answers_path) {
            Ok(text) => Answers::parse(&text),
            Err(error) => {
                errors.push(error);
                Answers::default()
            }
        }
    } else {
        Answers::default()
    };
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
        for (milestone, patterns) in &file.acceptance.milestones {
            let field = format!("acceptance.milestones.{milestone}");
            if reference
                .milestones
                .iter()
                .all(|m| m.id.as_str() != milestone)
            {
                errors.push(at(
                    milestone,
                    &field,
                    format!("`{milestone}` is not a milestone of contract.toml"),
                ));
            }
            if patterns.is_empty() {
                errors.push(at(
                    milestone,
                    &field,
                    "give at least one test-id pattern".to_string(),
                ));
            }
        }
        for milestone in &reference.milestones {
            match file.acceptance.milestones.get(milestone.id.as_str()) {
                None => errors.push(at(
                    "milestones",
                    "acceptance.milestones",
                    format!(
                        "milestone `{}` of contract.toml has no acceptance test patterns",
                        milestone.id
                    ),
                )),
                Some(patterns) => match Globs::for_ids(patterns) {
                    Ok(globs) => acceptance_map.push((milestone.id.clone(), globs)),
                    Err(message) => errors.push(at(
                        milestone.id.as_str(),
                        &format!("acceptance.milestones.{}", milestone.id),
                        message,
                    )),
                },
            }
        }
        let solution = dir.join("solution");
        if solution.is_dir() {
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
                    if entry.path().is_dir()
                        && !reference.features.iter().any(|f| f.id.as_str() == name)
                    {
                        errors.push(SpecError::new(
                            &entry.path(),
                            format!("solution folder `{name}` is not a feature of contract.toml"),
                        ));
                    }
                }
            }
        }
    }

    let (source_globs, test_globs, product_globs, leave_out_globs, mutation_exclude) = match (
        source_globs,
        test_globs,
        product_globs,
        leave_out_globs,
        mutation_exclude,
    ) {
        (Ok(s), Ok(t), Ok(p), Ok(l), Ok(m)) => (s, t, p, l, m),
        (s, t, p, l, m) => {
            errors.extend(s.err());
            errors.extend(t.err());
            errors.extend(p.err());
            errors.extend(l.err());
            errors.extend(m.err());
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
                source_globs,
                test_globs,
                product_globs,
                leave_out_globs,
                mutation_exclude,
                acceptance_map,
                hash,
                record: record.clone(),
            })
        }
        _ => Err(SpecErrors(errors)),
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
