//! Reward files (Harbor's verifier output): `reward.txt` holds one number, `reward.json` an
//! object of named numbers. Each number becomes one test case that passed when it is 1.

use crate::events::TestStatus;

use super::junit::JunitCase;

/// Why a reward file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RewardError {
    #[error("the reward file is empty")]
    Empty,
    #[error("the reward file holds `{text}`, neither a number nor a JSON object of numbers")]
    NotAReward { text: String },
    #[error("the reward `{name}` is `{value}`, not a number")]
    NotANumber { name: String, value: String },
}

/// The one case of a reward that is a single number.
pub const REWARD_CASE: &str = "reward";

/// The cases of a reward file: `reward` for a bare number, one per key for a JSON object. A
/// reward passes at 1 (Harbor's full reward); anything less, partial credit included, fails.
pub fn parse_reward(text: &str) -> Result<Vec<JunitCase>, RewardError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(RewardError::Empty);
    }
    if let Ok(value) = trimmed.parse::<f64>() {
        return Ok(vec![case(REWARD_CASE, value)]);
    }
    let shown = || trimmed.chars().take(80).collect::<String>();
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(trimmed).map_err(|_| RewardError::NotAReward { text: shown() })?;
    if object.is_empty() {
        return Err(RewardError::NotAReward { text: shown() });
    }
    object
        .iter()
        .map(|(name, value)| match value.as_f64() {
            Some(number) => Ok(case(name, number)),
            None => Err(RewardError::NotANumber {
                name: name.clone(),
                value: value.to_string(),
            }),
        })
        .collect()
}

fn case(name: &str, value: f64) -> JunitCase {
    let status = if value >= 1.0 {
        TestStatus::Passed
    } else {
        TestStatus::Failed
    };
    JunitCase {
        id: name.to_string(),
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(text: &str) -> Vec<(String, TestStatus)> {
        parse_reward(text)
            .unwrap()
            .into_iter()
            .map(|c| (c.id, c.status))
            .collect()
    }

    #[test]
    fn a_number_is_one_case_passed_only_at_one() {
        assert_eq!(
            statuses("1\n"),
            [("reward".to_string(), TestStatus::Passed)]
        );
        assert_eq!(
            statuses("1.0"),
            [("reward".to_string(), TestStatus::Passed)]
        );
        assert_eq!(statuses("0"), [("reward".to_string(), TestStatus::Failed)]);
        assert_eq!(
            statuses("0.5"),
            [("reward".to_string(), TestStatus::Failed)]
        );
    }

    #[test]
    fn a_json_object_is_one_case_per_key() {
        assert_eq!(
            statuses(r#"{"correctness": 1, "performance": 0}"#),
            [
                ("correctness".to_string(), TestStatus::Passed),
                ("performance".to_string(), TestStatus::Failed)
            ]
        );
    }

    #[test]
    fn anything_else_is_an_error() {
        assert!(matches!(parse_reward(" \n"), Err(RewardError::Empty)));
        assert!(matches!(
            parse_reward("yes"),
            Err(RewardError::NotAReward { .. })
        ));
        assert!(matches!(
            parse_reward("{}"),
            Err(RewardError::NotAReward { .. })
        ));
        assert!(matches!(
            parse_reward(r#"{"a": "x"}"#),
            Err(RewardError::NotANumber { .. })
        ));
    }
}
