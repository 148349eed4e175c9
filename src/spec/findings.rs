//! Findings: what validators report against a milestone, and what fix features resolve.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::{FeatureId, MilestoneId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Must be fixed before the milestone can pass.
    Blocking,
    NonBlocking,
    Suggestion,
}

impl Severity {
    pub const ALL: [Severity; 3] = [
        Severity::Blocking,
        Severity::NonBlocking,
        Severity::Suggestion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocking => "blocking",
            Severity::NonBlocking => "non_blocking",
            Severity::Suggestion => "suggestion",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who raised a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingSource {
    Scrutiny,
    UserTesting,
    /// The harness's own mechanical check of a `command` assertion.
    Mechanical,
    /// A worker that declared itself blocked.
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// `F<n>-<milestone>-r<round>`, unique within a mission.
    pub id: String,
    pub milestone: MilestoneId,
    pub round: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<FeatureId>,
    pub source: FindingSource,
    pub severity: Severity,
    pub title: String,
    #[serde(default)]
    pub detail: String,
}
