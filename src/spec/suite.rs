//! `suite.toml` and loading a whole suite: its environment, defaults and missions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::budget::check_budget;
pub use super::budget::{budget_override_map, parse_budget_overrides, Budget, BudgetOverrides};
use super::error::{find_key, find_key_in_table, parse_toml, read_file, SpecError, SpecErrors};
use super::hash::hash_tree;
use super::mission::{load_mission, MissionSpec};
use super::record::{RecordRules, RecordSpec};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub environment: EnvironmentSpec,
    /// Named environments (`[environments.node]`) that missions choose with `environment`.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentSpec>,
    #[serde(default)]
    pub defaults: Defaults,
    /// What the record of a workspace leaves out besides the harness's own `.git/`.
    #[serde(default)]
    pub record: RecordSpec,
}

/// Setup commands run once per suite into a cache directory; `{env}` stands for that directory.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    #[serde(default)]
    pub setup: Vec<String>,
    #[serde(default)]
    pub path: Vec<String>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default = "default_repeats")]
    pub repeats: u32,
    #[serde(default = "default_command_timeout_s")]
    pub command_timeout_s: u64,
    #[serde(default = "default_max_output_bytes")]
    pub max_output_bytes: usize,
    #[serde(default)]
    pub budget: BudgetOverrides,
}

impl Default for Defaults {
    fn default() -> Defaults {
        Defaults {
            repeats: default_repeats(),
            command_timeout_s: default_command_timeout_s(),
            max_output_bytes: default_max_output_bytes(),
            budget: BudgetOverrides::default(),
        }
    }
}

fn default_repeats() -> u32 {
    1
}
fn default_command_timeout_s() -> u64 {
    120
}
fn default_max_output_bytes() -> usize {
    32 * 1024
}

/// A loaded, validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub dir: PathBuf,
    pub file: SuiteFile,
    pub missions: Vec<MissionSpec>,
    /// Hash of every file of the suite, hidden ones included.
    pub hash: String,
}

impl Suite {
    pub fn name(&self) -> &str {
        &self.file.name
    }

    pub fn command_timeout(&self) -> Duration {
        Duration::from_secs(self.file.defaults.command_timeout_s)
    }
}

/// A suite as far as it could be read: every problem found, and what did load.
#[derive(Debug)]
pub struct SuiteRead {
    /// `suite.toml`, when it parsed.
    pub file: Option<SuiteFile>,
    /// The missions that loaded without a problem.
    pub missions: Vec<MissionSpec>,
    /// Every problem of `suite.toml` and of the missions.
    pub errors: Vec<SpecError>,
    /// Folders with a `mission.toml`, whether or not they loaded.
    pub mission_folders: usize,
    /// Folders beside the missions without a `mission.toml`; hidden ones and suites of their
    /// own (with a `suite.toml`, as an import's `needs-environment/`) left out.
    pub not_missions: Vec<PathBuf>,
}

/// Loads `dir/suite.toml` and every mission folder beside it, collecting every error found.
pub fn load_suite(dir: &Path) -> Result<Suite, SpecErrors> {
    let read = read_suite(dir)?;
    match read.file {
        Some(file) if read.errors.is_empty() => loaded(dir, file, read.missions),
        _ => Err(SpecErrors(read.errors)),
    }
}

/// The suite in `dir` once its files are read without a problem: hashed as it is on disk.
pub(super) fn loaded(
    dir: &Path,
    file: SuiteFile,
    missions: Vec<MissionSpec>,
) -> Result<Suite, SpecErrors> {
    let hash =
        hash_tree(dir).map_err(|e| SpecError::new(dir, format!("cannot hash suite: {e}")))?;
    Ok(Suite {
        dir: dir.to_path_buf(),
        file,
        missions,
        hash,
    })
}

/// Reads a suite folder as far as it goes. Fails only when `dir` is not a suite folder or
/// cannot be read; every other problem is in the result's `errors`.
pub fn read_suite(dir: &Path) -> Result<SuiteRead, SpecErrors> {
    let suite_path = dir.join("suite.toml");
    if !suite_path.is_file() {
        return Err(SpecError::new(
            &suite_path,
            "no suite.toml here; a suite is a folder with suite.toml and one folder per mission",
        )
        .into());
    }
    let source = read_file(&suite_path)?;
    let mut errors = Vec::new();
    let file: Option<SuiteFile> = match parse_toml(&suite_path, &source) {
        Ok(file) => Some(file),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    if let Some(file) = &file {
        errors.extend(check_suite_file(file, &suite_path, &source));
    }
    let record = file
        .as_ref()
        .and_then(|f| RecordRules::new(&f.record.caches).ok())
        .unwrap_or_default();
    let budget = Budget::default().apply(
        &file
            .as_ref()
            .map(|f| f.defaults.budget.clone())
            .unwrap_or_default(),
    );
    let mut mission_dirs = Vec::new();
    let mut not_missions = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| SpecError::new(dir, format!("cannot list suite folder: {e}")))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| SpecError::new(dir, format!("cannot list suite folder: {e}")))?;
        let path = entry.path();
        if path.join("mission.toml").is_file() {
            mission_dirs.push(path);
        } else if path.is_dir()
            && !entry.file_name().to_string_lossy().starts_with('.')
            && !path.join("suite.toml").is_file()
        {
            not_missions.push(path);
        }
    }
    mission_dirs.sort();
    not_missions.sort();
    let mission_folders = mission_dirs.len();
    if mission_dirs.is_empty() {
        errors.push(SpecError::new(
            dir,
            "the suite has no missions (folders with a mission.toml)",
        ));
    }
    let environments: Vec<&str> = file
        .as_ref()
        .map(|f| f.environments.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut missions = Vec::new();
    for mission_dir in mission_dirs {
        match load_mission(&mission_dir, &budget, &record) {
            Ok(mission) => {
                if let Some(name) = &mission.file.environment {
                    if file.is_some() && !environments.contains(&name.as_str()) {
                        let path = mission_dir.join("mission.toml");
                        let text = std::fs::read_to_string(&path).unwrap_or_default();
                        let known = &environments;
                        errors.push(SpecError {
                            mission: Some(mission.file.id.to_string()),
                            ..SpecError::at(
                                &path,
                                &text,
                                find_key(&text, "environment"),
                                "environment",
                                if known.is_empty() {
                                    format!("the mission asks for the environment `{name}`, and suite.toml names none (add `[environments.{name}]` to it)")
                                } else {
                                    format!(
                                        "the mission asks for the environment `{name}`, and suite.toml names only {}",
                                        known.join(", ")
                                    )
                                },
                            )
                        });
                    }
                }
                missions.push(mission)
            }
            Err(mission_errors) => {
                let name = mission_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string());
                errors.extend(mission_errors.0.into_iter().map(|e| SpecError {
                    mission: name.clone(),
                    ..e
                }));
            }
        }
    }
    Ok(SuiteRead {
        file,
        missions,
        errors,
        mission_folders,
        not_missions,
    })
}

/// What is wrong in `suite.toml` on its own.
fn check_suite_file(file: &SuiteFile, suite_path: &Path, source: &str) -> Vec<SpecError> {
    let mut errors = Vec::new();
    if file.name.trim().is_empty() {
        errors.push(SpecError::at(
            suite_path,
            source,
            find_key(source, "name"),
            "name",
            "name must not be empty",
        ));
    }
    if file.defaults.repeats == 0 {
        errors.push(SpecError::at(
            suite_path,
            source,
            find_key(source, "repeats"),
            "defaults.repeats",
            "repeats must be at least 1",
        ));
    }
    if file.defaults.command_timeout_s == 0 {
        errors.push(SpecError::at(
            suite_path,
            source,
            find_key(source, "command_timeout_s"),
            "defaults.command_timeout_s",
            "the command timeout must be at least 1 second",
        ));
    }
    if let Err(message) = RecordRules::new(&file.record.caches) {
        errors.push(SpecError::at(
            suite_path,
            source,
            find_key_in_table(source, "record", "caches"),
            "record.caches",
            message,
        ));
    }
    let budget = Budget::default().apply(&file.defaults.budget);
    if let Some(message) = check_budget(&budget) {
        errors.push(SpecError::at(
            suite_path,
            source,
            find_key(source, "budget"),
            "defaults.budget",
            message,
        ));
    }
    for name in file.environments.keys() {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            errors.push(SpecError::at(
                suite_path,
                source,
                find_key(source, "environments"),
                "environments",
                format!(
                    "`{name}` is not a usable environment name: use letters, digits, `_` and `-`"
                ),
            ));
        }
    }
    errors
}
