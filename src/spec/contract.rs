//! The validation contract and feature plan: the reference `contract.toml` of a mission, and the
//! same structure when an orchestrator writes it through its tools.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{parse_toml, SpecError, SpecErrors};
use super::ids::{check_id, AssertionId, FeatureId, MilestoneId};

/// How an assertion is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verify {
    /// The harness runs `command` after every round and checks exit code and stdout.
    Command,
    /// A user-testing validator judges it as a black box.
    Agent,
    /// The harness runs `steps` in a headless browser after every round, with `serve` running.
    Browser,
}

impl Verify {
    pub fn as_str(self) -> &'static str {
        match self {
            Verify::Command => "command",
            Verify::Agent => "agent",
            Verify::Browser => "browser",
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
    /// for verify = "browser": shell command that starts the server the steps visit
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve: Option<String>,
    /// for verify = "browser": what a person does and expects, in order
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<BrowserStep>,
}

/// One step of a browser check: exactly one of `open`, `click`, `type` (with `into`),
/// `expect_text` and `expect_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrowserStep {
    /// address to open, http://127.0.0.1:PORT/...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    /// visible text, label or CSS selector of what to click
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click: Option<String>,
    /// text to type into the field named by `into`
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_text: Option<String>,
    /// label, placeholder or CSS selector of the field to type into
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// text the page must show (waited for up to 5 s)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_text: Option<String>,
    /// text the page's address must contain
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_url: Option<String>,
}

/// What one browser step does, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction<'a> {
    Open(&'a str),
    Click(&'a str),
    Type { text: &'a str, into: &'a str },
    ExpectText(&'a str),
    ExpectUrl(&'a str),
}

impl BrowserStep {
    /// The step's one action, or what is wrong with it.
    pub fn action(&self) -> Result<StepAction<'_>, String> {
        let mut actions = Vec::new();
        if let Some(url) = &self.open {
            actions.push(StepAction::Open(url));
        }
        if let Some(target) = &self.click {
            actions.push(StepAction::Click(target));
        }
        match (&self.type_text, &self.into) {
            (Some(text), Some(into)) => actions.push(StepAction::Type { text, into }),
            (Some(_), None) => {
                return Err("`type` needs `into`, the field to type into".to_string())
            }
            (None, Some(_)) => return Err("`into` goes with `type`, the text to type".to_string()),
            (None, None) => {}
        }
        if let Some(text) = &self.expect_text {
            actions.push(StepAction::ExpectText(text));
        }
        if let Some(url) = &self.expect_url {
            actions.push(StepAction::ExpectUrl(url));
        }
        match actions.as_slice() {
            [one] => Ok(*one),
            [] => Err("a step needs one of open, click, type, expect_text or expect_url".to_string()),
            _ => Err("a step does one thing: write each of open, click, type, expect_text and expect_url as its own step".to_string()),
        }
    }
}

impl Assertion {
    /// The port a browser check's server listens on: that of its first `open` step.
    pub fn serve_port(&self) -> Option<u16> {
        self.steps.iter().find_map(|step| {
            let url = step.open.as_deref()?;
            let rest = url.split_once("://")?.1;
            let authority = rest.split(['/', '?', '#']).next()?;
            let port = authority.rsplit_once(':')?.1;
            port.parse().ok()
        })
    }
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
    pub(super) fn new(
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

pub(super) fn check_ids<'a>(
    table: Table,
    ids: impl Iterator<Item = &'a str>,
    out: &mut Vec<Violation>,
) {
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
        if assertion.verify == Verify::Browser {
            check_browser_assertion(assertion, index, &mut out);
        } else if !assertion.steps.is_empty() || assertion.serve.is_some() {
            out.push(Violation::new(
                Table::Assertion,
                Some(index),
                "steps",
                "steps and serve belong to assertions with verify = \"browser\"",
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

fn check_browser_assertion(assertion: &Assertion, index: usize, out: &mut Vec<Violation>) {
    let violation = |field: &'static str, message: String| {
        Violation::new(Table::Assertion, Some(index), field, message)
    };
    if assertion.steps.is_empty() {
        out.push(violation(
            "steps",
            "an assertion with verify = \"browser\" needs steps (open, click, type, expect_text, expect_url)".to_string(),
        ));
        return;
    }
    for (n, step) in assertion.steps.iter().enumerate() {
        if let Err(message) = step.action() {
            out.push(violation("steps", format!("step {}: {message}", n + 1)));
        }
    }
    if !matches!(assertion.steps[0].action(), Ok(StepAction::Open(_))) {
        out.push(violation(
            "steps",
            "the first step must open a page".to_string(),
        ));
    }
    if assertion
        .serve
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty())
        && assertion.serve_port().is_none()
    {
        out.push(violation(
            "serve",
            "the server's port comes from the first `open` address, which names none (write http://127.0.0.1:PORT/...)".to_string(),
        ));
    }
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
pub(crate) mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"
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
}
