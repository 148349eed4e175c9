//! `suite.toml` and loading a whole suite: its environment, defaults and missions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::{parse_toml, read_file, SpecError, SpecErrors};
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

/// Budget keys as written in `suite.toml` (`[defaults.budget]`) or `mission.toml` (`[budget]`).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetOverrides {
    pub max_rounds: Option<u32>,
    pub max_turns: Option<u32>,
    pub max_tokens: Option<u64>,
    pub max_wall_time_s: Option<u64>,
    pub max_cost_usd: Option<f64>,
    pub max_fix_features: Option<u32>,
}

/// The limits one mission runs under.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Validation rounds per milestone.
    pub max_rounds: u32,
    /// Model calls per agent run.
    pub max_turns: u32,
    /// Input plus output tokens per mission.
    pub max_tokens: u64,
    pub max_wall_time: Duration,
    pub max_cost_usd: Option<f64>,
    /// Fix features per milestone, over all its rounds.
    pub max_fix_features: u32,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            max_rounds: 3,
            max_turns: 80,
            max_tokens: 4_000_000,
            max_wall_time: Duration::from_secs(3600),
            max_cost_usd: None,
            max_fix_features: 6,
        }
    }
}

impl Budget {
    pub fn apply(&self, overrides: &BudgetOverrides) -> Budget {
        Budget {
            max_rounds: overrides.max_rounds.unwrap_or(self.max_rounds),
            max_turns: overrides.max_turns.unwrap_or(self.max_turns),
            max_tokens: overrides.max_tokens.unwrap_or(self.max_tokens),
            max_wall_time: overrides
                .max_wall_time_s
                .map(Duration::from_secs)
                .unwrap_or(self.max_wall_time),
            max_cost_usd: overrides.max_cost_usd.or(self.max_cost_usd),
            max_fix_features: overrides.max_fix_features.unwrap_or(self.max_fix_features),
        }
    }
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

/// Loads `dir/suite.toml` and every mission folder beside it, collecting every error found.
pub fn load_suite(dir: &Path) -> Result<Suite, SpecErrors> {
    let suite_path = dir.join("suite.toml");
    if !suite_path.is_file() {
        return Err(SpecError::new(
            &suite_path,
            "no suite.toml here; a suite is a folder with suite.toml and one folder per mission",
        )
        .into());
    }
    let source = read_file(&suite_path)?;
    let file: SuiteFile = parse_toml(&suite_path, &source)?;
    let mut errors = Vec::new();
    if file.name.trim().is_empty() {
        errors.push(SpecError::at(
            &suite_path,
            &source,
            find_key(&source, "name"),
            "name",
            "name must not be empty",
        ));
    }
    if file.defaults.repeats == 0 {
        errors.push(SpecError::at(
            &suite_path,
            &source,
            find_key(&source, "repeats"),
            "defaults.repeats",
            "repeats must be at least 1",
        ));
    }
    if file.defaults.command_timeout_s == 0 {
        errors.push(SpecError::at(
            &suite_path,
            &source,
            find_key(&source, "command_timeout_s"),
            "defaults.command_timeout_s",
            "the command timeout must be at least 1 second",
        ));
    }
    let record = match RecordRules::new(&file.record.caches) {
        Ok(rules) => rules,
        Err(message) => {
            errors.push(SpecError::at(
                &suite_path,
                &source,
                find_key_in_table(&source, "record", "caches"),
                "record.caches",
                message,
            ));
            RecordRules::default()
        }
    };
    let budget = Budget::default().apply(&file.defaults.budget);
    if let Some(message) = check_budget(&budget) {
        errors.push(SpecError::at(
            &suite_path,
            &source,
            find_key(&source, "budget"),
            "defaults.budget",
            message,
        ));
    }

    let mut mission_dirs = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| SpecError::new(dir, format!("cannot list suite folder: {e}")))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| SpecError::new(dir, format!("cannot list suite folder: {e}")))?;
        if entry.path().join("mission.toml").is_file() {
            mission_dirs.push(entry.path());
        }
    }
    mission_dirs.sort();
    if mission_dirs.is_empty() {
        errors.push(SpecError::new(
            dir,
            "the suite has no missions (folders with a mission.toml)",
        ));
    }
    let mut missions = Vec::new();
    for mission_dir in mission_dirs {
        match load_mission(&mission_dir, &budget, &record) {
            Ok(mission) => missions.push(mission),
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
    if !errors.is_empty() {
        return Err(SpecErrors(errors));
    }
    let hash =
        hash_tree(dir).map_err(|e| SpecError::new(dir, format!("cannot hash suite: {e}")))?;
    Ok(Suite {
        dir: dir.to_path_buf(),
        file,
        missions,
        hash,
    })
}

/// Budget overrides given as `KEY=VALUE` pairs (the command line's `--budget`), read with the
/// same keys, types and checks as `[defaults.budget]`.
pub fn parse_budget_overrides(pairs: &[String]) -> Result<BudgetOverrides, String> {
    let mut text = String::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("`{pair}`: write KEY=VALUE, e.g. max_turns=20"));
        };
        text.push_str(&format!("{} = {}\n", key.trim(), value.trim()));
    }
    let overrides: BudgetOverrides =
        toml::from_str(&text).map_err(|e| e.message().trim_end().to_string())?;
    if let Some(message) = check_budget(&Budget::default().apply(&overrides)) {
        return Err(message);
    }
    Ok(overrides)
}

/// The keys of `overrides` that are set, with their values as written in TOML.
pub fn budget_override_map(
    overrides: &BudgetOverrides,
) -> std::collections::BTreeMap<String, String> {
    let value = toml::Value::try_from(overrides).ok();
    value
        .and_then(|v| v.as_table().cloned())
        .map(|table| table.into_iter().map(|(k, v)| (k, v.to_string())).collect())
        .unwrap_or_default()
}

pub(crate) fn check_budget(budget: &Budget) -> Option<String> {
    if budget.max_rounds == 0 {
        return Some("max_rounds must be at least 1".to_string());
    }
    if budget.max_turns == 0 {
        return Some("max_turns must be at least 1".to_string());
    }
    if budget.max_tokens == 0 {
        return Some("max_tokens must be at least 1".to_string());
    }
    if budget.max_wall_time.is_zero() {
        return Some("max_wall_time_s must be at least 1".to_string());
    }
    if budget.max_fix_features == 0 {
        return Some(
            "max_fix_features must be at least 1 (max_rounds = 1 runs no fixes at all)".to_string(),
        );
    }
    if budget
        .max_cost_usd
        .is_some_and(|c| !(c.is_finite() && c >= 0.0))
    {
        return Some("max_cost_usd must be a non-negative number".to_string());
    }
    None
}

/// Finds `key` inside the table `table` (`[models.a]` then `key = ...`), or written as a
/// dotted key (`a.key = ...` under `[models]`, `models.a.key = ...` at the top). Falls back to
/// the table's own header.
pub(crate) fn find_key_in_table(
    source: &str,
    table: &str,
    key: &str,
) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    let mut current = String::new();
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let start = offset + (line.len() - trimmed.len());
        offset += line.len();
        if trimmed.starts_with('[') {
            current = trimmed
                .split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            continue;
        }
        let Some((name, _)) = trimmed.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let full = if current.is_empty() {
            name.to_string()
        } else {
            format!("{current}.{name}")
        };
        if full == format!("{table}.{key}") {
            return Some(start..start + name.len());
        }
    }
    find_key(source, table)
}

/// Span of the first line that sets `key` (for errors found after parsing).
pub(crate) fn find_key(source: &str, key: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let is_key = trimmed.strip_prefix(key).is_some_and(|rest| {
            rest.trim_start().starts_with('=') || rest.trim_start().starts_with('.')
        });
        let is_table = trimmed.starts_with('[')
            && trimmed
                .trim_matches(|c| c == '[' || c == ']' || c == ' ' || c == '\n')
                .ends_with(key);
        if is_key || is_table {
            let start = offset + (line.len() - trimmed.len());
            return Some(start..start + key.len());
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn budget_overrides_from_the_command_line() {
        let overrides =
            parse_budget_overrides(&pairs(&["max_turns=20", " max_rounds = 2"])).unwrap();
        assert_eq!(overrides.max_turns, Some(20));
        assert_eq!(overrides.max_rounds, Some(2));
        assert_eq!(overrides.max_tokens, None);
        let map = budget_override_map(&overrides);
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            vec![
                ("max_rounds".to_string(), "2".to_string()),
                ("max_turns".to_string(), "20".to_string())
            ]
        );
        assert!(budget_override_map(&BudgetOverrides::default()).is_empty());
    }

    #[test]
    fn bad_budget_overrides_name_the_problem() {
        let unknown = parse_budget_overrides(&pairs(&["max_turn=20"])).unwrap_err();
        assert!(unknown.contains("max_turn"), "{unknown}");
        let no_equals = parse_budget_overrides(&pairs(&["max_turns"])).unwrap_err();
        assert!(no_equals.contains("KEY=VALUE"), "{no_equals}");
        let zero = parse_budget_overrides(&pairs(&["max_rounds=0"])).unwrap_err();
        assert!(zero.contains("max_rounds must be at least 1"), "{zero}");
        let text = parse_budget_overrides(&pairs(&["max_turns=many"])).unwrap_err();
        assert!(!text.is_empty());
    }
}
