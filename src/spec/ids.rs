//! Identifier newtypes and the closed set of roles.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        /// In a tool's schema an id is a plain string.
        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string"})
            }
        }

        impl $name {
            pub fn new(value: impl Into<String>) -> $name {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> $name {
                $name(value.to_string())
            }
        }
    };
}

string_id!(
    /// A mission's id: the name of its folder in the suite.
    MissionId
);
string_id!(
    /// A milestone's id within one contract, e.g. `m1`.
    MilestoneId
);
string_id!(
    /// An assertion's id within one contract, e.g. `A3`.
    AssertionId
);
string_id!(
    /// A feature's id within one mission's plan, e.g. `f2` or `fix-m1-2-1`.
    FeatureId
);

/// Ids are used in file names and tables: letters, digits, `-`, `_` and `.`, at most 64 characters.
pub fn check_id(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("an id must not be empty".to_string());
    }
    if value.len() > 64 {
        return Err(format!("id `{value}` is longer than 64 characters"));
    }
    if value.starts_with('.') {
        return Err(format!("id `{value}` must not start with `.`"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "id `{value}` contains `{bad}`; use letters, digits, `-`, `_` or `.`"
        ));
    }
    Ok(())
}

/// What an agent does in a mission. Pairings bind each role to a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Orchestrator,
    Worker,
    Scrutiny,
    UserTesting,
    Subagent,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Orchestrator,
        Role::Worker,
        Role::Scrutiny,
        Role::UserTesting,
        Role::Subagent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Orchestrator => "orchestrator",
            Role::Worker => "worker",
            Role::Scrutiny => "scrutiny",
            Role::UserTesting => "user_testing",
            Role::Subagent => "subagent",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("m1").is_ok());
        assert!(check_id("VAL-cli_0.1").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a/b").is_err());
        assert!(check_id("..").is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }
}
