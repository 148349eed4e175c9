//! Findings: what validators report against a milestone, and what fix features resolve. Open
//! findings are grouped by what they concern (a feature, or a milestone as a whole) before fixes
//! are planned, so that one feature's findings become one fix feature.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::contract::Feature;
use super::ids::{AssertionId, FeatureId, MilestoneId};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Must be fixed before the milestone can pass.
    Blocking,
    /// Worth fixing; the milestone can pass without it.
    NonBlocking,
    /// An idea for later.
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
    /// A worker that did not finish its feature (it declared itself blocked, or its run ended
    /// otherwise).
    Blocked,
}

impl FindingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingSource::Scrutiny => "scrutiny",
            FindingSource::UserTesting => "user_testing",
            FindingSource::Mechanical => "mechanical",
            FindingSource::Blocked => "blocked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// `F<n>-<milestone>-r<round>`, unique within a mission.
    pub id: String,
    pub milestone: MilestoneId,
    pub round: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<FeatureId>,
    /// The assertion a user-testing verdict or a command check failed (journals written before
    /// this field have none; such findings concern their milestone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<AssertionId>,
    pub source: FindingSource,
    pub severity: Severity,
    pub title: String,
    #[serde(default)]
    pub detail: String,
}

/// What a group of findings concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Concern {
    /// A planned feature: its own findings, those of the fixes written for it, and the failures
    /// of the assertions it claims.
    Feature(FeatureId),
    /// Findings that concern no feature (an assertion no feature claims, or a milestone's
    /// findings as a whole).
    Milestone(MilestoneId),
}

impl fmt::Display for Concern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Concern::Feature(id) => write!(f, "feature `{id}`"),
            Concern::Milestone(id) => write!(f, "milestone `{id}`"),
        }
    }
}

/// Open findings that one fix feature resolves together.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingGroup {
    pub concern: Concern,
    /// In the order they were raised.
    pub findings: Vec<Finding>,
}

impl FindingGroup {
    pub fn ids(&self) -> BTreeSet<&str> {
        self.findings.iter().map(|f| f.id.as_str()).collect()
    }
}

/// What `finding` concerns. A fix feature's findings concern what the fix was written for (the
/// group it addressed), so a fix that fails again is redone for the same feature rather than
/// for itself. `raised` is every finding of the mission so far, closed ones included: a fix's
/// addressed findings are usually closed by the time the fix's own findings are grouped.
pub fn concern_of(finding: &Finding, features: &[Feature], raised: &[Finding]) -> Concern {
    // Each step follows a fix to a finding raised before it, so the chain is at most as long as
    // the list of features; the bound only guards against a hand-edited plan with a cycle.
    let mut finding = finding;
    for _ in 0..=features.len() {
        let feature = match (&finding.feature, &finding.assertion) {
            (Some(feature), _) => feature.clone(),
            (None, Some(assertion)) => match features
                .iter()
                .find(|f| !f.is_fix() && f.fulfils.contains(assertion))
            {
                Some(claimant) => claimant.id.clone(),
                None => return Concern::Milestone(finding.milestone.clone()),
            },
            (None, None) => return Concern::Milestone(finding.milestone.clone()),
        };
        let fix = features.iter().find(|f| f.id == feature && f.is_fix());
        let addressed = fix.and_then(|fix| {
            fix.addresses
                .iter()
                .find_map(|id| raised.iter().find(|r| &r.id == id))
        });
        match addressed {
            Some(addressed) => finding = addressed,
            None => return Concern::Feature(feature),
        }
    }
    Concern::Milestone(finding.milestone.clone())
}

/// Groups `open` findings by what they concern, groups in the order their first finding was
/// raised. The only place that decides which findings one fix feature resolves.
pub fn group_findings(
    open: &[Finding],
    features: &[Feature],
    raised: &[Finding],
) -> Vec<FindingGroup> {
    let mut groups: Vec<FindingGroup> = Vec::new();
    for finding in open {
        let concern = concern_of(finding, features, raised);
        match groups.iter_mut().find(|g| g.concern == concern) {
            Some(group) => group.findings.push(finding.clone()),
            None => groups.push(FindingGroup {
                concern,
                findings: vec![finding.clone()],
            }),
        }
    }
    groups
}

/// The open findings that a new "did not finish" finding replaces: the earlier ones of the same
/// milestone and concern. A feature whose worker never finishes is then one open finding, and one
/// fix, however many rounds it fails.
pub fn superseded<'a>(
    new: &Finding,
    open: &'a [Finding],
    features: &[Feature],
    raised: &[Finding],
) -> Vec<&'a Finding> {
    if new.source != FindingSource::Blocked {
        return Vec::new();
    }
    let concern = concern_of(new, features, raised);
    open.iter()
        .filter(|f| {
            f.id != new.id
                && f.source == FindingSource::Blocked
                && f.milestone == new.milestone
                && concern_of(f, features, raised) == concern
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::contract::FeaturePlan;

    /// Two planned features of `m1` (f1 claims A1, f2 claims A2 and A3), a fix written for f1
    /// after round 1, and A4, which no feature claims.
    const PLAN: &str = r#"
[[feature]]
id = "f1"
milestone = "m1"
title = "one"
fulfils = ["A1"]

[[feature]]
id = "f2"
milestone = "m1"
title = "two"
fulfils = ["A2", "A3"]

[[feature]]
id = "fix-m1-r1-1"
milestone = "m1"
title = "Fix feature f1"
fulfils = ["A2"]
addresses = ["F1-m1-r1", "F2-m1-r1", "F3-m1-r1"]
"#;

    /// Round 1: f1's worker did not finish, its review found a problem, A1 failed its command
    /// check, f2's review found two problems, user testing failed A3 and A4. Round 2: the fix for
    /// f1 did not finish, A2 failed (claimed by f2; the fix's own `fulfils` does not count).
    const FINDINGS: &str = r#"
[[finding]]
id = "F1-m1-r1"
milestone = "m1"
round = 1
feature = "f1"
source = "blocked"
severity = "blocking"
title = "the worker did not finish feature `f1`"

[[finding]]
id = "F2-m1-r1"
milestone = "m1"
round = 1
feature = "f1"
source = "scrutiny"
severity = "blocking"
title = "the feature's tests fail"

[[finding]]
id = "F3-m1-r1"
milestone = "m1"
round = 1
assertion = "A1"
source = "mechanical"
severity = "blocking"
title = "assertion `A1` fails its command check"

[[finding]]
id = "F4-m1-r1"
milestone = "m1"
round = 1
feature = "f2"
source = "scrutiny"
severity = "blocking"
title = "no error on a missing name"

[[finding]]
id = "F5-m1-r1"
milestone = "m1"
round = 1
feature = "f2"
source = "scrutiny"
severity = "blocking"
title = "wrong capitals"

[[finding]]
id = "F6-m1-r1"
milestone = "m1"
round = 1
assertion = "A3"
source = "user_testing"
severity = "blocking"
title = "assertion `A3` fails"

[[finding]]
id = "F7-m1-r1"
milestone = "m1"
round = 1
assertion = "A4"
source = "user_testing"
severity = "blocking"
title = "assertion `A4` fails"

[[finding]]
id = "F8-m1-r2"
milestone = "m1"
round = 2
feature = "fix-m1-r1-1"
source = "blocked"
severity = "blocking"
title = "the worker did not finish feature `fix-m1-r1-1`"

[[finding]]
id = "F9-m1-r2"
milestone = "m1"
round = 2
assertion = "A2"
source = "user_testing"
severity = "blocking"
title = "assertion `A2` fails"

[[finding]]
id = "F10-m1-r2"
milestone = "m1"
round = 2
source = "scrutiny"
severity = "blocking"
title = "a finding of the milestone as a whole"
"#;

    #[derive(Deserialize)]
    struct Findings {
        finding: Vec<Finding>,
    }

    fn fixture() -> (Vec<Feature>, Vec<Finding>) {
        let plan: FeaturePlan = toml::from_str(PLAN).unwrap();
        let findings: Findings = toml::from_str(FINDINGS).unwrap();
        (plan.features, findings.finding)
    }

    fn pick(findings: &[Finding], ids: &[&str]) -> Vec<Finding> {
        ids.iter()
            .map(|id| findings.iter().find(|f| f.id == *id).unwrap().clone())
            .collect()
    }

    fn summary(groups: &[FindingGroup]) -> Vec<(String, Vec<&str>)> {
        groups
            .iter()
            .map(|g| {
                (
                    g.concern.to_string(),
                    g.findings.iter().map(|f| f.id.as_str()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn round_one_findings_form_one_group_per_feature() {
        let (features, raised) = fixture();
        // Before the fix exists: the plan of round 1.
        let planned: Vec<Feature> = features.into_iter().filter(|f| !f.is_fix()).collect();
        let open = &raised[..7];
        let groups = group_findings(open, &planned, &raised[..7]);
        assert_eq!(
            summary(&groups),
            vec![
                (
                    "feature `f1`".to_string(),
                    vec!["F1-m1-r1", "F2-m1-r1", "F3-m1-r1"]
                ),
                (
                    "feature `f2`".to_string(),
                    vec!["F4-m1-r1", "F5-m1-r1", "F6-m1-r1"]
                ),
                ("milestone `m1`".to_string(), vec!["F7-m1-r1"]),
            ]
        );
    }

    #[test]
    fn a_fix_feature_findings_belong_to_the_feature_it_fixes() {
        let (features, raised) = fixture();
        // Round 2: f1's fix did not finish (F8 replaced F1); f2's findings are still open.
        let open = pick(
            &raised,
            &[
                "F2-m1-r1",
                "F4-m1-r1",
                "F5-m1-r1",
                "F8-m1-r2",
                "F9-m1-r2",
                "F10-m1-r2",
            ],
        );
        let groups = group_findings(&open, &features, &raised);
        assert_eq!(
            summary(&groups),
            vec![
                ("feature `f1`".to_string(), vec!["F2-m1-r1", "F8-m1-r2"]),
                (
                    "feature `f2`".to_string(),
                    vec!["F4-m1-r1", "F5-m1-r1", "F9-m1-r2"]
                ),
                ("milestone `m1`".to_string(), vec!["F10-m1-r2"]),
            ]
        );
    }

    #[test]
    fn a_fix_whose_findings_are_unknown_is_its_own_concern() {
        let (features, raised) = fixture();
        // Without the findings the fix addressed, nothing leads back to f1.
        let unrelated = pick(&raised, &["F4-m1-r1"]);
        let fix_finding = pick(&raised, &["F8-m1-r2"]);
        assert_eq!(
            concern_of(&fix_finding[0], &features, &unrelated),
            Concern::Feature("fix-m1-r1-1".into())
        );
    }

    #[test]
    fn a_new_did_not_finish_finding_supersedes_the_open_one_of_its_feature() {
        let (features, raised) = fixture();
        let open = pick(&raised, &["F1-m1-r1", "F2-m1-r1", "F4-m1-r1"]);
        let new = &pick(&raised, &["F8-m1-r2"])[0];
        let replaced: Vec<&str> = superseded(new, &open, &features, &raised)
            .into_iter()
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(
            replaced,
            vec!["F1-m1-r1"],
            "only f1's did-not-finish finding"
        );
        // A review finding supersedes nothing.
        let review = &pick(&raised, &["F5-m1-r1"])[0];
        assert!(superseded(review, &open, &features, &raised).is_empty());
    }
}
