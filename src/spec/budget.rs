//! A mission's budget: the limits it runs under, the overrides a suite, a mission or the
//! command line set, and their checks.

use std::time::Duration;

use serde::Deserialize;

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
