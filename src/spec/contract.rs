//! The validation contract and feature plan: the reference `contract.toml` of a mission, and the
//! same structure when an orchestrator writes it through its tools.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{parse_toml, SpecError, SpecErrors};
use super::findings::FindingGroup;
use super::ids::{check_id, AssertionId, FeatureId, MilestoneId};

/// How an assertion is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verify {
    /// The harness runs `command` after every round and checks exit code and stdout.
    Command,
    /// A user-testing validator judges it as a black box.
    Agent,
}

impl Verify {
    pub fn as_str(self) -> &'static str {
        match self {
            Verify::Command => "command",
            Verify::Agent => "agent",
        }
    }
}

// Milestones and assertions are what `write_contract` takes: their field doc comments are the
// descriptions in its schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    pub id: MilestoneId,
    pub title: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    pub id: AssertionId,
    pub milestone: MilestoneId,
    /// the observable behaviour
    pub description: String,
    pub verify: Verify,
    /// shell command run in the workspace root
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// expected exit code, default 0
    #[serde(default)]
    pub expect_exit: i32,
    /// a substring stdout must contain
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_stdout: Option<String>,
    /// what proves the assertion
    #[serde(default)]
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub id: FeatureId,
    pub milestone: MilestoneId,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub fulfils: Vec<AssertionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    /// Findings a fix feature resolves; empty for planned features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

impl Feature {
    pub fn is_fix(&self) -> bool {
        !self.addresses.is_empty()
    }
}

/// Milestones and their assertions (`.mission/contract.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    #[serde(default, rename = "milestone")]
    pub milestones: Vec<Milestone>,
    #[serde(default, rename = "assertion")]
    pub assertions: Vec<Assertion>,
}

/// The features of a plan (`.mission/features.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturePlan {
    #[serde(default, rename = "feature")]
    pub features: Vec<Feature>,
}

/// The hidden reference of a mission: contract, plan and library in one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceContract {
    #[serde(default)]
    pub library: String,
    #[serde(default, rename = "milestone")]
    pub milestones: Vec<Milestone>,
    #[serde(default, rename = "assertion")]
    pub assertions: Vec<Assertion>,
    #[serde(default, rename = "feature")]
    pub features: Vec<Feature>,
}

impl ReferenceContract {
    pub fn contract(&self) -> Contract {
        Contract {
            milestones: self.milestones.clone(),
            assertions: self.assertions.clone(),
        }
    }

    pub fn plan(&self) -> FeaturePlan {
        FeaturePlan {
            features: self.features.clone(),
        }
    }
}

impl Contract {
    pub fn milestone(&self, id: &MilestoneId) -> Option<&Milestone> {
        self.milestones.iter().find(|m| &m.id == id)
    }

    pub fn assertion(&self, id: &AssertionId) -> Option<&Assertion> {
        self.assertions.iter().find(|a| &a.id == id)
    }

    pub fn assertions_of<'a>(
        &'a self,
        milestone: &'a MilestoneId,
    ) -> impl Iterator<Item = &'a Assertion> + 'a {
        self.assertions
            .iter()
            .filter(move |a| &a.milestone == milestone)
    }

    /// Assertions of `milestone` and every milestone before it, in contract order.
    pub fn assertions_through(&self, milestone: &MilestoneId) -> Vec<&Assertion> {
        let Some(position) = self.milestones.iter().position(|m| &m.id == milestone) else {
            return Vec::new();
        };
        let earlier: BTreeSet<&MilestoneId> =
            self.milestones[..=position].iter().map(|m| &m.id).collect();
        self.assertions
            .iter()
            .filter(|a| earlier.contains(&a.milestone))
            .collect()
    }
}

/// Which table of a contract a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Milestone,
    Assertion,
    Feature,
}

impl Table {
    /// The name of the array of tables in TOML.
    pub fn toml_name(self) -> &'static str {
        match self {
            Table::Milestone => "milestone",
            Table::Assertion => "assertion",
            Table::Feature => "feature",
        }
    }

    /// The name of the array in the orchestrator's tool arguments.
    pub fn json_name(self) -> &'static str {
        match self {
            Table::Milestone => "milestones",
            Table::Assertion => "assertions",
            Table::Feature => "features",
        }
    }
}

/// A structural problem in a contract or plan, located by table, index and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub table: Table,
    pub index: Option<usize>,
    pub field: &'static str,
    pub message: String,
}

impl Violation {
    fn new(
        table: Table,
        index: Option<usize>,
        field: &'static str,
        message: impl Into<String>,
    ) -> Violation {
        Violation {
            table,
            index,
            field,
            message: message.into(),
        }
    }

    /// `assertions[2].milestone: ...`, the form an orchestrator sees in a tool error.
    pub fn json_path(&self) -> String {
        match self.index {
            Some(index) => format!("{}[{index}].{}", self.table.json_name(), self.field),
            None => self.table.json_name().to_string(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.json_path(), self.message)
    }
}

fn check_ids<'a>(table: Table, ids: impl Iterator<Item = &'a str>, out: &mut Vec<Violation>) {
    let mut seen = BTreeSet::new();
    for (index, id) in ids.enumerate() {
        if let Err(message) = check_id(id) {
            out.push(Violation::new(table, Some(index), "id", message));
        } else if !seen.insert(id) {
            out.push(Violation::new(
                table,
                Some(index),
                "id",
                format!("duplicate id `{id}`"),
            ));
        }
    }
}

/// Checks milestones and assertions on their own.
pub fn validate_contract(contract: &Contract) -> Vec<Violation> {
    let mut out = Vec::new();
    if contract.milestones.is_empty() {
        out.push(Violation::new(
            Table::Milestone,
            None,
            "id",
            "a contract needs at least one milestone",
        ));
    }
    check_ids(
        Table::Milestone,
        contract.milestones.iter().map(|m| m.id.as_str()),
        &mut out,
    );
    check_ids(
        Table::Assertion,
        contract.assertions.iter().map(|a| a.id.as_str()),
        &mut out,
    );
    for (index, milestone) in contract.milestones.iter().enumerate() {
        if milestone.title.trim().is_empty() {
            out.push(Violation::new(
                Table::Milestone,
                Some(index),
                "title",
                "title must not be empty",
            ));
        }
        if contract.assertions_of(&milestone.id).next().is_none() {
            out.push(Violation::new(
                Table::Milestone,
                Some(index),
                "id",
                format!("milestone `{}` has no assertions", milestone.id),
            ));
        }
    }
    let milestone_ids: BTreeSet<&MilestoneId> = contract.milestones.iter().map(|m| &m.id).collect();
    for (index, assertion) in contract.assertions.iter().enumerate() {
        if !milestone_ids.contains(&assertion.milestone) {
            out.push(Violation::new(
                Table::Assertion,
                Some(index),
                "milestone",
                format!("unknown milestone `{}`", assertion.milestone),
            ));
        }
        if assertion.description.trim().is_empty() {
            out.push(Violation::new(
                Table::Assertion,
                Some(index),
                "description",
                "description must not be empty",
            ));
        }
        let has_command = assertion
            .command
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty());
        if assertion.verify == Verify::Command && !has_command {
            out.push(Violation::new(
                Table::Assertion,
                Some(index),
                "command",
                "an assertion with verify = \"command\" needs a command",
            ));
        }
        if !(0..=255).contains(&assertion.expect_exit) {
            out.push(Violation::new(
                Table::Assertion,
                Some(index),
                "expect_exit",
                format!("exit code {} is outside 0..=255", assertion.expect_exit),
            ));
        }
    }
    out
}

/// Checks a feature plan against its contract: every assertion claimed by exactly one feature of
/// the same milestone.
pub fn validate_plan(contract: &Contract, plan: &FeaturePlan) -> Vec<Violation> {
    let mut out = Vec::new();
    if plan.features.is_empty() {
        out.push(Violation::new(
            Table::Feature,
            None,
            "id",
            "a plan needs at least one feature",
        ));
    }
    check_ids(
        Table::Feature,
        plan.features.iter().map(|f| f.id.as_str()),
        &mut out,
    );
    let mut claimed_by: BTreeMap<&AssertionId, &FeatureId> = BTreeMap::new();
    for (index, feature) in plan.features.iter().enumerate() {
        if contract.milestone(&feature.milestone).is_none() {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "milestone",
                format!("unknown milestone `{}`", feature.milestone),
            ));
        }
        if feature.title.trim().is_empty() {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "title",
                "title must not be empty",
            ));
        }
        if feature.is_fix() {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "addresses",
                "planned features address no findings; fix features are written after validation",
            ));
        }
        for assertion_id in &feature.fulfils {
            match contract.assertion(assertion_id) {
                None => out.push(Violation::new(
                    Table::Feature,
                    Some(index),
                    "fulfils",
                    format!("unknown assertion `{assertion_id}`"),
                )),
                Some(assertion) if assertion.milestone != feature.milestone => {
                    out.push(Violation::new(
                        Table::Feature,
                        Some(index),
                        "fulfils",
                        format!(
                        "assertion `{assertion_id}` belongs to milestone `{}`, the feature to `{}`",
                        assertion.milestone, feature.milestone
                    ),
                    ))
                }
                Some(_) => {
                    if let Some(other) = claimed_by.insert(assertion_id, &feature.id) {
                        out.push(Violation::new(
                            Table::Feature,
                            Some(index),
                            "fulfils",
                            format!("assertion `{assertion_id}` is already claimed by feature `{other}`"),
                        ));
                    }
                }
            }
        }
    }
    for milestone in &contract.milestones {
        if !plan.features.iter().any(|f| f.milestone == milestone.id) {
            out.push(Violation::new(
                Table::Feature,
                None,
                "milestone",
                format!("milestone `{}` has no features", milestone.id),
            ));
        }
    }
    for assertion in &contract.assertions {
        if !claimed_by.contains_key(&assertion.id) {
            out.push(Violation::new(
                Table::Feature,
                None,
                "fulfils",
                format!("assertion `{}` is not claimed by any feature", assertion.id),
            ));
        }
    }
    out
}

/// Checks fix features written after a failed round of `milestone`. `existing` is the plan so
/// far, `accepted` the fix features this planning run already had accepted, `groups` the open
/// blocking findings grouped by what they concern. Each fix feature addresses every finding of
/// exactly one group, and no group gets two fixes: fixes are planned per feature, not per
/// finding. A fix spanning the groups of two features is refused too, because it would leave
/// unclear which feature a fix that fails again is redone for.
pub fn validate_fix_features(
    contract: &Contract,
    existing: &[Feature],
    milestone: &MilestoneId,
    groups: &[FindingGroup],
    accepted: &[Feature],
    fixes: &[Feature],
) -> Vec<Violation> {
    let mut out = Vec::new();
    if fixes.is_empty() {
        out.push(Violation::new(
            Table::Feature,
            None,
            "id",
            "write at least one fix feature",
        ));
    }
    check_ids(
        Table::Feature,
        fixes.iter().map(|f| f.id.as_str()),
        &mut out,
    );
    // Which fix feature took each group, by the group's index.
    let mut taken: BTreeMap<usize, &FeatureId> = BTreeMap::new();
    for fix in accepted {
        if let Some(index) = group_of(groups, fix) {
            taken.insert(index, &fix.id);
        }
    }
    for (index, feature) in fixes.iter().enumerate() {
        if existing.iter().chain(accepted).any(|f| f.id == feature.id) {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "id",
                format!(
                    "feature `{}` already exists; fix features need new ids",
                    feature.id
                ),
            ));
        }
        if &feature.milestone != milestone {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "milestone",
                format!("fix features belong to the failing milestone `{milestone}`"),
            ));
        }
        if feature.title.trim().is_empty() {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "title",
                "title must not be empty",
            ));
        }
        if feature.addresses.is_empty() {
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "addresses",
                "a fix feature names the findings it resolves: every open finding of one group",
            ));
        }
        let mut touched: BTreeSet<usize> = BTreeSet::new();
        for finding in &feature.addresses {
            match groups
                .iter()
                .position(|g| g.ids().contains(finding.as_str()))
            {
                Some(group) => {
                    touched.insert(group);
                }
                None => out.push(Violation::new(
                    Table::Feature,
                    Some(index),
                    "addresses",
                    format!("`{finding}` is not an open finding"),
                )),
            }
        }
        if touched.len() > 1 {
            let names: Vec<String> = touched
                .iter()
                .map(|&g| groups[g].concern.to_string())
                .collect();
            out.push(Violation::new(
                Table::Feature,
                Some(index),
                "addresses",
                format!(
                    "the findings of {} are separate groups; write one fix feature per group",
                    names.join(" and ")
                ),
            ));
        }
        if let [group] = touched.iter().copied().collect::<Vec<_>>()[..] {
            let missing: Vec<&str> = groups[group]
                .findings
                .iter()
                .map(|f| f.id.as_str())
                .filter(|id| !feature.addresses.iter().any(|a| a == id))
                .collect();
            if !missing.is_empty() {
                out.push(Violation::new(
                    Table::Feature,
                    Some(index),
                    "addresses",
                    format!(
                        "a fix feature addresses every open finding of its group; the group of {} also has {}",
                        groups[group].concern,
                        missing.join(", ")
                    ),
                ));
            }
            if let Some(other) = taken.insert(group, &feature.id) {
                out.push(Violation::new(
                    Table::Feature,
                    Some(index),
                    "addresses",
                    format!(
                        "the findings of {} are already addressed by fix feature `{other}`",
                        groups[group].concern
                    ),
                ));
            }
        }
        for assertion_id in &feature.fulfils {
            if contract.assertion(assertion_id).is_none() {
                out.push(Violation::new(
                    Table::Feature,
                    Some(index),
                    "fulfils",
                    format!("unknown assertion `{assertion_id}`"),
                ));
            }
        }
    }
    out
}

/// The group a fix feature addresses (the first one it names a finding of).
fn group_of(groups: &[FindingGroup], fix: &Feature) -> Option<usize> {
    fix.addresses
        .iter()
        .find_map(|id| groups.iter().position(|g| g.ids().contains(id.as_str())))
}

/// The groups no fix feature in `fixes` addresses, in order.
pub fn unaddressed_groups<'a>(
    groups: &'a [FindingGroup],
    fixes: &[Feature],
) -> Vec<&'a FindingGroup> {
    let addressed: BTreeSet<usize> = fixes.iter().filter_map(|f| group_of(groups, f)).collect();
    groups
        .iter()
        .enumerate()
        .filter(|(index, _)| !addressed.contains(index))
        .map(|(_, group)| group)
        .collect()
}

/// Parses and validates a mission's reference `contract.toml`.
pub fn load_reference(path: &Path) -> Result<ReferenceContract, SpecErrors> {
    let source = super::error::read_file(path)?;
    parse_reference(path, &source)
}

pub fn parse_reference(path: &Path, source: &str) -> Result<ReferenceContract, SpecErrors> {
    let reference: ReferenceContract = parse_toml(path, source)?;
    let mut violations = validate_contract(&reference.contract());
    violations.extend(validate_plan(&reference.contract(), &reference.plan()));
    if violations.is_empty() {
        Ok(reference)
    } else {
        Err(SpecErrors(
            violations
                .iter()
                .map(|v| violation_in_toml(path, source, v))
                .collect(),
        ))
    }
}

/// Places a violation on the line of its field in a TOML file written with `[[table]]` headers.
pub fn violation_in_toml(path: &Path, source: &str, violation: &Violation) -> SpecError {
    let field = format!("{}.{}", violation.table.toml_name(), violation.field);
    let line = locate(
        source,
        violation.table.toml_name(),
        violation.index,
        violation.field,
    );
    SpecError {
        mission: None,
        path: path.to_path_buf(),
        line,
        field: Some(field),
        message: violation.message.clone(),
    }
}

/// Line of `field` inside the `index`-th `[[table]]` block (or of the block's header when the field
/// is absent; or of the first block when no index is given).
pub fn locate(source: &str, table: &str, index: Option<usize>, field: &str) -> Option<usize> {
    let header = format!("[[{table}]]");
    let lines: Vec<&str> = source.lines().collect();
    let headers: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == header)
        .map(|(i, _)| i)
        .collect();
    let start = *headers.get(index.unwrap_or(0))?;
    if index.is_none() {
        return Some(start + 1);
    }
    for (offset, line) in lines[start + 1..].iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            break;
        }
        if let Some((key, _)) = trimmed.split_once('=') {
            if key.trim() == field {
                return Some(start + 1 + offset + 1);
            }
        }
    }
    Some(start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
library = "use pytest"

[[milestone]]
id = "m1"
title = "First"

[[assertion]]
id = "A1"
milestone = "m1"
description = "it runs"
verify = "command"
command = "true"

[[assertion]]
id = "A2"
milestone = "m1"
description = "it looks right"
verify = "agent"

[[feature]]
id = "f1"
milestone = "m1"
title = "Build it"
fulfils = ["A1", "A2"]
"#;

    #[test]
    fn a_good_reference_parses() {
        let reference = parse_reference(Path::new("c.toml"), GOOD).unwrap();
        assert_eq!(reference.milestones.len(), 1);
        assert_eq!(reference.features[0].fulfils.len(), 2);
        assert_eq!(
            reference.contract().assertions_through(&"m1".into()).len(),
            2
        );
    }

    #[test]
    fn unknown_milestone_is_located() {
        let bad = GOOD.replace(
            "milestone = \"m1\"\ndescription = \"it looks right\"",
            "milestone = \"m9\"\ndescription = \"it looks right\"",
        );
        let errors = parse_reference(Path::new("c.toml"), &bad).unwrap_err();
        let error = errors.0.iter().find(|e| e.message.contains("m9")).unwrap();
        assert_eq!(error.field.as_deref(), Some("assertion.milestone"));
        assert_eq!(error.line, Some(17));
    }

    #[test]
    fn unclaimed_and_double_claims_are_reported() {
        let contract: Contract = toml::from_str(
            GOOD.split("[[feature]]")
                .next()
                .unwrap()
                .replace("library = \"use pytest\"", "")
                .as_str(),
        )
        .unwrap();
        let plan = FeaturePlan {
            features: vec![
                Feature {
                    id: "f1".into(),
                    milestone: "m1".into(),
                    title: "a".into(),
                    description: String::new(),
                    fulfils: vec!["A1".into()],
                    test_command: None,
                    addresses: vec![],
                },
                Feature {
                    id: "f2".into(),
                    milestone: "m1".into(),
                    title: "b".into(),
                    description: String::new(),
                    fulfils: vec!["A1".into()],
                    test_command: None,
                    addresses: vec![],
                },
            ],
        };
        let violations = validate_plan(&contract, &plan);
        let messages: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m
                    == "features[1].fulfils: assertion `A1` is already claimed by feature `f1`"),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("assertion `A2` is not claimed")),
            "{messages:?}"
        );
    }

    #[test]
    fn command_assertions_need_a_command() {
        let bad = GOOD.replace("command = \"true\"\n", "");
        let errors = parse_reference(Path::new("c.toml"), &bad).unwrap_err();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field.as_deref(), Some("assertion.command"));
        assert_eq!(errors.0[0].line, Some(8));
    }

    fn fix(id: &str, addresses: &[&str]) -> Feature {
        Feature {
            id: id.into(),
            milestone: "m1".into(),
            title: "fix".into(),
            description: String::new(),
            fulfils: vec![],
            test_command: None,
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn group(concern: crate::spec::Concern, ids: &[&str]) -> FindingGroup {
        FindingGroup {
            concern,
            findings: ids
                .iter()
                .map(|id| crate::spec::Finding {
                    id: id.to_string(),
                    milestone: "m1".into(),
                    round: 1,
                    feature: None,
                    assertion: None,
                    source: crate::spec::FindingSource::Scrutiny,
                    severity: crate::spec::Severity::Blocking,
                    title: "t".into(),
                    detail: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn fix_features_address_whole_groups_once() {
        use crate::spec::Concern;
        let reference = parse_reference(Path::new("c.toml"), GOOD).unwrap();
        let contract = reference.contract();
        let groups = vec![
            group(Concern::Feature("f1".into()), &["F1", "F2"]),
            group(Concern::Milestone("m1".into()), &["F3"]),
        ];
        let check = |accepted: &[Feature], fixes: &[Feature]| -> Vec<String> {
            validate_fix_features(
                &contract,
                &reference.features,
                &"m1".into(),
                &groups,
                accepted,
                fixes,
            )
            .iter()
            .map(ToString::to_string)
            .collect()
        };
        assert!(check(&[], &[fix("x1", &["F1", "F2"]), fix("x2", &["F3"])]).is_empty());
        assert_eq!(
            check(&[], &[fix("x1", &["F1"])]),
            vec!["features[0].addresses: a fix feature addresses every open finding of its group; the group of feature `f1` also has F2"]
        );
        assert_eq!(
            check(&[], &[fix("x1", &["F1", "F2", "F3"])]),
            vec!["features[0].addresses: the findings of feature `f1` and milestone `m1` are separate groups; write one fix feature per group"]
        );
        assert_eq!(
            check(&[fix("x1", &["F1", "F2"])], &[fix("x2", &["F2", "F1"])]),
            vec!["features[0].addresses: the findings of feature `f1` are already addressed by fix feature `x1`"]
        );
        assert_eq!(
            check(&[fix("x1", &["F3"])], &[fix("x1", &["F1", "F2"])]),
            vec!["features[0].id: feature `x1` already exists; fix features need new ids"]
        );
        assert_eq!(
            check(&[], &[fix("x1", &["F9"])]),
            vec!["features[0].addresses: `F9` is not an open finding"]
        );
        let accepted = [fix("x1", &["F3"])];
        let left: Vec<String> = unaddressed_groups(&groups, &accepted)
            .iter()
            .map(|g| g.concern.to_string())
            .collect();
        assert_eq!(left, vec!["feature `f1`"]);
    }
}
